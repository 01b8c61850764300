/*
 * cmd_org.c: organizations.
 *   huddle org create NAME [--fullname X]
 *   huddle org add-member ORG USER [--role read|write|admin]   (default read)
 *   huddle org remove-member ORG USER
 */
#include "auth/auth.h"
#include "cmd/cmd.h"
#include "core/core.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

#define ORG_USAGE                                                                 \
	"huddle org create NAME | add-member ORG USER --role read|write|admin | " \
	"remove-member ORG USER"

int cmd_org(const struct cmd_env *env, int argc, char **argv)
{
	const char *pos[2] = {NULL, NULL}, *role_s = NULL, *fullname = NULL;
	int n_pos = 0, rc;
	char err[512] = "";
	struct store *st;

	if (argc < 2)
		return cmd_usage("org", "usage: " ORG_USAGE);
	const char *sub = argv[1];
	if (strcmp(sub, "create") && strcmp(sub, "add-member") && strcmp(sub, "remove-member"))
		return cmd_usage("org", "unknown subcommand '%s'; usage: " ORG_USAGE, sub);
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--role") || !strcmp(argv[i], "--fullname")) {
			if (i + 1 >= argc)
				return cmd_usage("org", "%s needs a value", argv[i]);
			if (!strcmp(argv[i], "--role"))
				role_s = argv[++i];
			else
				fullname = argv[++i];
		} else if (!strncmp(argv[i], "--role=", 7)) {
			role_s = argv[i] + 7;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cmd_usage("org", "unknown option %s", argv[i]);
		} else if (n_pos < 2) {
			pos[n_pos++] = argv[i];
		} else {
			return cmd_usage("org", "unexpected argument '%s'", argv[i]);
		}
	}
	int want = !strcmp(sub, "create") ? 1 : 2;
	if (n_pos != want)
		return cmd_usage("org", "usage: " ORG_USAGE);
	enum auth_role role = AUTH_ROLE_READ;
	if (role_s && (auth_role_parse(role_s, &role) || role == AUTH_ROLE_NONE))
		return cmd_usage("org", "--role must be read, write or admin");
	if (store_open(env->data_dir, &st, err, sizeof(err)))
		return cmd_fail("org", "%s", err);
	if (!strcmp(sub, "create"))
		rc = auth_org_create(st, pos[0], fullname, err, sizeof(err));
	else if (!strcmp(sub, "add-member"))
		rc = auth_member_set(st, pos[0], pos[1], role, err, sizeof(err));
	else
		rc = auth_member_remove(st, pos[0], pos[1], err, sizeof(err));
	store_close(st);
	if (rc)
		return cmd_fail("org", "%s", err);
	if (!strcmp(sub, "create"))
		printf("created organization %s\n", pos[0]);
	else if (!strcmp(sub, "add-member"))
		printf("added %s to %s as %s\n", pos[1], pos[0], auth_role_name(role));
	else
		printf("removed %s from %s\n", pos[1], pos[0]);
	return 0;
}

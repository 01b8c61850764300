/*
 * cmd_user.c: `huddle user create NAME [--admin] [--fullname X] [--email X]`.
 * Works while `huddle serve` runs on the same data dir (SQLite WAL with a
 * busy timeout).
 */
#include "auth/auth.h"
#include "cmd/cmd.h"
#include "core/core.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

#define USER_USAGE "huddle user create NAME [--admin] [--fullname X] [--email X]"

int cmd_user(const struct cmd_env *env, int argc, char **argv)
{
	const char *name = NULL, *fullname = NULL, *email = NULL;
	int admin = 0;
	char err[512] = "";
	struct store *st;

	if (argc < 2 || strcmp(argv[1], "create"))
		return cmd_usage("user", "usage: " USER_USAGE);
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--admin")) {
			admin = 1;
		} else if (!strcmp(argv[i], "--fullname") || !strcmp(argv[i], "--email")) {
			if (i + 1 >= argc)
				return cmd_usage("user", "%s needs a value", argv[i]);
			if (!strcmp(argv[i], "--fullname"))
				fullname = argv[++i];
			else
				email = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cmd_usage("user", "unknown option %s; usage: " USER_USAGE, argv[i]);
		} else if (!name) {
			name = argv[i];
		} else {
			return cmd_usage("user", "unexpected argument '%s'", argv[i]);
		}
	}
	if (!name)
		return cmd_usage("user", "usage: " USER_USAGE);
	if (store_open(env->data_dir, &st, err, sizeof(err)))
		return cmd_fail("user", "%s", err);
	int rc = auth_user_create(st, name, fullname, email, admin, err, sizeof(err));
	store_close(st);
	if (rc)
		return cmd_fail("user", "%s", err);
	printf("created user %s%s\n", name, admin ? " (admin)" : "");
	return 0;
}

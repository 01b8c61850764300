/*
 * cmd_token.c: access tokens.
 *   huddle token create --user NAME [--role read|write] [--repo TYPE/NS/NAME ...]
 *                       [--expires-days N] [--name X]
 *       prints only the token and a newline (the secret is never shown again);
 *       the role defaults to read
 *   huddle token list --user NAME      (never shows secrets)
 *   huddle token revoke PREFIX_OR_ID
 */
#include "auth/auth.h"
#include "cmd/cmd.h"
#include "core/core.h"
#include "store/store.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_USAGE                                                                      \
	"huddle token create --user NAME [--role read|write] [--repo TYPE/NS/NAME ...] " \
	"[--expires-days N] [--name X] | list --user NAME | revoke PREFIX_OR_ID"

static void fmt_time(char out[32], int64_t ms)
{
	if (ms <= 0)
		snprintf(out, 32, "-");
	else
		time_iso8601(out, ms);
}

static int token_list(struct store *st, const char *user)
{
	struct auth_token_info *list;
	size_t n;
	char err[512] = "";
	int64_t now = time_now_ms();

	if (auth_token_list(st, user, &list, &n, err, sizeof(err)))
		return cmd_fail("token", "%s", err);
	printf("%-6s %-8s %-6s %-24s %-24s %-24s %-8s %s\n", "ID", "PREFIX", "ROLE", "CREATED",
	       "EXPIRES", "LAST-USED", "STATUS", "SCOPE");
	for (size_t i = 0; i < n; i++) {
		const struct auth_token_info *t = &list[i];
		char created[32], expires[32], used[32];
		const char *status = t->revoked_ms                           ? "revoked"
		                     : t->expires_ms && t->expires_ms <= now ? "expired"
		                                                             : "active";
		fmt_time(created, t->created_ms);
		fmt_time(expires, t->expires_ms);
		fmt_time(used, t->last_used_ms);
		printf("%-6lld %-8s %-6s %-24s %-24s %-24s %-8s %s\n", (long long)t->id, t->prefix,
		       auth_role_name(t->role), created, expires, used, status,
		       t->scopes ? t->scopes : "all");
	}
	auth_token_list_free(list, n);
	return 0;
}

int cmd_token(const struct cmd_env *env, int argc, char **argv)
{
	const char *user = NULL, *role_s = NULL, *expires_s = NULL, *name = NULL, *target = NULL;
	const char **repos = NULL;
	size_t n_repos = 0;
	char err[512] = "";
	struct store *st;
	int rc = 0;

	if (argc < 2)
		return cmd_usage("token", "usage: " TOKEN_USAGE);
	const char *sub = argv[1];
	if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "revoke"))
		return cmd_usage("token", "unknown subcommand '%s'; usage: " TOKEN_USAGE, sub);
	repos = xcalloc((size_t)argc, sizeof(char *));
	for (int i = 2; i < argc; i++) {
		const char *opt = argv[i];
		const char **dst = NULL;
		if (!strcmp(opt, "--user"))
			dst = &user;
		else if (!strcmp(opt, "--role"))
			dst = &role_s;
		else if (!strcmp(opt, "--expires-days"))
			dst = &expires_s;
		else if (!strcmp(opt, "--name"))
			dst = &name;
		else if (!strcmp(opt, "--repo"))
			dst = &repos[n_repos];
		if (dst) {
			if (i + 1 >= argc) {
				rc = cmd_usage("token", "%s needs a value", opt);
				goto out;
			}
			*dst = argv[++i];
			if (dst == &repos[n_repos])
				n_repos++;
		} else if (opt[0] == '-' && opt[1]) {
			rc = cmd_usage("token", "unknown option %s", opt);
			goto out;
		} else if (!target && !strcmp(sub, "revoke")) {
			target = opt;
		} else {
			rc = cmd_usage("token", "unexpected argument '%s'", opt);
			goto out;
		}
	}
	if (!strcmp(sub, "revoke") ? !target : !user) {
		rc = cmd_usage("token", "usage: " TOKEN_USAGE);
		goto out;
	}
	enum auth_role role = AUTH_ROLE_READ;
	if (role_s && (auth_role_parse(role_s, &role) ||
	               (role != AUTH_ROLE_READ && role != AUTH_ROLE_WRITE))) {
		rc = cmd_usage("token", "--role must be read or write");
		goto out;
	}
	int64_t expires_ms = 0;
	if (expires_s) {
		char *end;
		errno = 0;
		double days = strtod(expires_s, &end);
		if (errno || end == expires_s || *end || !isfinite(days) || days <= 0 ||
		    days > 365.0 * 100) {
			rc = cmd_usage("token", "--expires-days takes a positive number of days");
			goto out;
		}
		expires_ms = time_now_ms() + (int64_t)(days * 86400000.0);
		if (expires_ms <= time_now_ms())
			expires_ms = time_now_ms() + 1;
	}
	if (strcmp(sub, "create") && (role_s || expires_s || name || n_repos)) {
		rc = cmd_usage("token", "only create takes --role, --repo, --expires-days, --name");
		goto out;
	}
	if (store_open(env->data_dir, &st, err, sizeof(err))) {
		rc = cmd_fail("token", "%s", err);
		goto out;
	}
	if (!strcmp(sub, "create")) {
		char token[AUTH_TOKEN_LEN + 1];
		if (auth_token_create(st, user, role, repos, n_repos, expires_ms, name, token, NULL,
		                      err, sizeof(err)))
			rc = cmd_fail("token", "%s", err);
		else
			printf("%s\n", token);
	} else if (!strcmp(sub, "list")) {
		rc = token_list(st, user);
	} else {
		if (auth_token_revoke(st, target, err, sizeof(err)))
			rc = cmd_fail("token", "%s", err);
		else
			printf("revoked %s\n", target);
	}
	store_close(st);
out:
	free(repos);
	return rc;
}

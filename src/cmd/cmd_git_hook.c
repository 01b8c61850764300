/*
 * cmd_git_hook.c: `huddle git-hook pre-receive REPO_UID`, run by git
 * receive-pack during a push over smart HTTP. `huddle serve` hands git
 * http-backend a hooks dir (core.hooksPath through GIT_CONFIG_* variables)
 * whose pre-receive script execs this command with the repo's uid; the data
 * dir comes from --data (the script passes $HUDDLE_DATA). It reads git's
 * "old new ref" lines on stdin and runs the hub's push check
 * (hub_git_check_push) while the pushed objects are still in git's
 * quarantine: refs outside heads/tags, bad paths, big non-LFS blobs and LFS
 * pointers to objects the repo does not have are refused, and git then
 * updates no ref at all. The message goes to stderr, which git shows the
 * pusher as "remote: ...".
 */
#include "cmd/cmd.h"
#include "core/core.h"
#include "hub/hub.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define UPDATES_MAX (16u << 20)

int cmd_git_hook(const struct cmd_env *env, int argc, char **argv)
{
	struct hub_config cfg;
	struct hub_err err = {{0}, {0}};
	struct hub *h = NULL;
	struct buf in = BUF_INIT;
	char chunk[8192];
	ssize_t n;
	int rc;

	if (argc != 3 || strcmp(argv[1], "pre-receive"))
		return cmd_usage("git-hook", "usage: huddle git-hook pre-receive REPO_UID");
	while ((n = read(0, chunk, sizeof(chunk))) > 0) {
		if (in.len + (size_t)n > UPDATES_MAX) {
			buf_release(&in);
			fprintf(stderr, "huddle: push refused: too many ref updates\n");
			return 1;
		}
		buf_append(&in, chunk, (size_t)n);
	}
	if (n < 0) {
		buf_release(&in);
		return cmd_fail("git-hook", "cannot read the ref updates");
	}
	buf_puts(&in, "");
	hub_config_init(&cfg);
	cfg.no_search_index = 1;
	if (hub_open(env->data_dir, &cfg, &h, &err) < 0) {
		buf_release(&in);
		return cmd_fail("git-hook", "cannot open the data dir %s: %s", env->data_dir,
		                err.msg);
	}
	rc = hub_git_check_push(h, argv[2], in.data, &err);
	hub_close(h);
	buf_release(&in);
	if (rc < 0) {
		fprintf(stderr, "huddle: push refused: %s\n",
		        err.msg[0] ? err.msg : hd_strerror(rc));
		return 1;
	}
	return 0;
}

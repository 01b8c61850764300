/*
 * cmd: the command line. main.c parses the options every subcommand shares
 * (--data DIR) and dispatches through one table; each subcommand lives in its
 * own cmd_<name>.c and returns the process exit status.
 */
#ifndef HD_CMD_H
#define HD_CMD_H

struct cmd_env {
	const char *data_dir; /* --data DIR, else $HUDDLE_DATA, else ./huddle-data */
};

/* argv[0] is the subcommand's name; --data has been removed already. */
typedef int (*cmd_fn)(const struct cmd_env *env, int argc, char **argv);

struct cmd_def {
	const char *name;
	cmd_fn fn;
	const char *usage; /* one line, shown by `huddle help` */
};

/* Prints "huddle NAME: message" to stderr and returns exit status 2 (usage)
 * or 1 (failure), for `return cmd_usage(...)` / `return cmd_fail(...)`. */
int cmd_usage(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cmd_fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Subcommands, one file each. Add new ones to the table in main.c. */
int cmd_version(const struct cmd_env *env, int argc, char **argv);
int cmd_run(const struct cmd_env *env, int argc, char **argv);
int cmd_bench(const struct cmd_env *env, int argc, char **argv);
int cmd_gen_model(const struct cmd_env *env, int argc, char **argv);
int cmd_tokenize(const struct cmd_env *env, int argc, char **argv);
int cmd_user(const struct cmd_env *env, int argc, char **argv);
int cmd_org(const struct cmd_env *env, int argc, char **argv);
int cmd_token(const struct cmd_env *env, int argc, char **argv);
int cmd_serve(const struct cmd_env *env, int argc, char **argv);
int cmd_chat_template(const struct cmd_env *env, int argc, char **argv);
int cmd_git_hook(const struct cmd_env *env, int argc, char **argv);

#endif

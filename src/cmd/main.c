/*
 * main.c: entry point. Parses --data, then dispatches to a subcommand.
 */
#include "cmd/cmd.h"
#include "core/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct cmd_def commands[] = {
        {"version", cmd_version, "huddle version"},
        {"run", cmd_run,
         "huddle run MODEL -p PROMPT [-n N] [-t THREADS] [--temp T] [--top-k K] [--top-p P] "
         "[--min-p P] [--repeat-penalty R] [--seed S] [--ctx N]"},
        {"bench", cmd_bench, "huddle bench MODEL [-p 128] [-n 64] [-t THREADS] [-r REPS]"},
        {"gen-model", cmd_gen_model,
         "huddle gen-model OUT.gguf [--dim N --layers N --type T ...] (random weights, for tests "
         "and benchmarks)"},
        {"tokenize", cmd_tokenize, "huddle tokenize MODEL [--no-bos] [--parse-special] [TEXT]"},
        {"user", cmd_user, "huddle user create NAME [--admin] [--fullname X] [--email X]"},
        {"org", cmd_org, "huddle org create NAME | add-member ORG USER --role R | remove-member"},
        {"token", cmd_token,
         "huddle token create --user U [--role R] [--repo T/NS/N] | list | revoke"},
        {"chat-template", cmd_chat_template,
         "huddle chat-template [--default | TEMPLATE_FILE] [--max-output BYTES ...] < "
         "CONTEXT.json"},
        {"serve", cmd_serve, "huddle serve [--host ADDR] [--port N] [--public-url URL] ..."},
        {"git-hook", cmd_git_hook, "huddle git-hook pre-receive UID (git runs it during pushes)"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: huddle COMMAND [--data DIR] [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %s\n", commands[i].usage);
}

static int vreport(const char *name, int status, const char *fmt, va_list ap)
{
	fprintf(stderr, "huddle %s: ", name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return status;
}

int cmd_usage(const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vreport(name, 2, fmt, ap);
	va_end(ap);
	return rc;
}

int cmd_fail(const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = vreport(name, 1, fmt, ap);
	va_end(ap);
	return rc;
}

int cmd_version(const struct cmd_env *env, int argc, char **argv)
{
	(void)env;
	(void)argc;
	(void)argv;
	printf("huddle 0.1.0\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct cmd_env env = {0};
	const char *env_data = getenv("HUDDLE_DATA");
	int n = 0;

	env.data_dir = env_data && *env_data ? env_data : "./huddle-data";
	if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	/* Take --data DIR / --data=DIR out of the subcommand's arguments. */
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--data")) {
			if (i + 1 >= argc)
				return cmd_usage(argv[1], "--data needs a directory");
			env.data_dir = argv[++i];
			continue;
		}
		if (!strncmp(argv[i], "--data=", 7)) {
			env.data_dir = argv[i] + 7;
			continue;
		}
		argv[1 + n++] = argv[i];
	}
	argv[1 + n] = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(&env, n, argv + 1);
	fprintf(stderr, "huddle: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

/*
 * cmd_chat_template.c: `huddle chat-template TEMPLATE_FILE` renders a chat
 * template with the JSON object read from stdin as its context (messages,
 * add_generation_prompt, bos_token, eos_token, tools, ...) and writes the
 * text to stdout exactly, without an added newline. `--default` renders the
 * built-in ChatML template instead of a file; `--print-default` prints that
 * template. Limits: --max-output BYTES, --max-steps N, --max-iterations N,
 * --max-memory BYTES, --max-call-depth N, --max-time-ms MS.
 */
#include "cmd/cmd.h"
#include "core/core.h"
#include "infer/jinja.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONTEXT ((size_t)64 << 20)

static int read_stdin(struct buf *b)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(0, chunk, sizeof(chunk));
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (b->len + (size_t)n > MAX_CONTEXT)
			return -2;
		buf_append(b, chunk, (size_t)n);
	}
}

static int parse_u64(const char *s, uint64_t *out)
{
	int64_t v;
	if (str_to_i64(s, &v) || v < 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int cmd_chat_template(const struct cmd_env *env, int argc, char **argv)
{
	const char *name = "chat-template", *path = NULL;
	struct jinja_limits lim;
	struct buf src = BUF_INIT, in = BUF_INIT, out = BUF_INIT;
	struct jinja_template *tpl = NULL;
	json_t *ctx = NULL;
	json_error_t jerr;
	char err[600];
	int use_default = 0, rc = 1, r;

	(void)env;
	jinja_limits_default(&lim);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		uint64_t v;
		if (!strcmp(a, "--default")) {
			use_default = 1;
			continue;
		}
		if (!strcmp(a, "--print-default")) {
			fputs(jinja_chatml_template, stdout);
			return 0;
		}
		if (!strncmp(a, "--max-", 6)) {
			if (i + 1 >= argc || parse_u64(argv[i + 1], &v))
				return cmd_usage(name, "%s needs a non-negative number", a);
			i++;
			if (!strcmp(a, "--max-output"))
				lim.max_output = v;
			else if (!strcmp(a, "--max-steps"))
				lim.max_steps = v;
			else if (!strcmp(a, "--max-iterations"))
				lim.max_iterations = v;
			else if (!strcmp(a, "--max-memory"))
				lim.max_memory = v;
			else if (!strcmp(a, "--max-call-depth"))
				lim.max_call_depth = v > 100000 ? 100000 : (unsigned)v;
			else if (!strcmp(a, "--max-time-ms"))
				lim.max_time_ms = v > 3600000 ? 3600000 : (unsigned)v;
			else
				return cmd_usage(name, "unknown option %s", a);
			continue;
		}
		if (a[0] == '-' && a[1])
			return cmd_usage(name, "unknown option %s", a);
		if (path)
			return cmd_usage(name, "one template file only");
		path = a;
	}
	if (!path && !use_default)
		return cmd_usage(name, "usage: huddle chat-template [--default | TEMPLATE_FILE] "
		                       "< context.json");

	if (use_default) {
		buf_puts(&src, jinja_chatml_template);
	} else if ((r = fs_read_file(path, &src, JINJA_MAX_TEMPLATE_SIZE)) < 0) {
		cmd_fail(name, "%s: %s", path, hd_strerror(r));
		goto out;
	}
	tpl = jinja_template_new(src.data ? src.data : "", src.len, err, sizeof(err));
	if (!tpl) {
		cmd_fail(name, "%s: %s", use_default ? "default template" : path, err);
		goto out;
	}
	r = read_stdin(&in);
	if (r < 0) {
		cmd_fail(name, "%s",
		         r == -2 ? "context on stdin is too large" : "cannot read stdin");
		goto out;
	}
	ctx = json_loadb(in.data ? in.data : "", in.len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL,
	                 &jerr);
	if (!ctx) {
		cmd_fail(name, "context: line %d, column %d: %s", jerr.line, jerr.column,
		         jerr.text);
		goto out;
	}
	if (!json_is_object(ctx)) {
		cmd_fail(name, "context: expected a JSON object");
		goto out;
	}
	r = jinja_render(tpl, ctx, &lim, &out, err, sizeof(err));
	if (r < 0) {
		cmd_fail(name, "%s", err);
		goto out;
	}
	if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len) {
		cmd_fail(name, "cannot write the output");
		goto out;
	}
	if (fflush(stdout)) {
		cmd_fail(name, "cannot write the output");
		goto out;
	}
	rc = 0;
out:
	json_decref(ctx);
	jinja_template_free(tpl);
	buf_release(&src);
	buf_release(&in);
	buf_release(&out);
	return rc;
}

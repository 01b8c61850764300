/*
 * cmd_tokenize.c: `huddle tokenize MODEL [--no-bos] [--parse-special] [TEXT]`
 *
 * Prints the token ids of TEXT (or of all of stdin when TEXT is absent) on
 * one line, space-separated. By default the model's metadata decides
 * whether BOS (and EOS) are added, and special-token text is plain text;
 * --no-bos adds neither (llama.cpp's add_special = false, what its
 * tokenizer tests use), --parse-special turns special-token text into
 * those tokens. Only the tokenizer metadata is read: the file is mapped,
 * the weights are never touched.
 *
 * `huddle tokenize MODEL --info` prints what the tokenizer decided instead,
 * as one JSON object: model type, vocabulary size, BOS/EOS ids (null when
 * none), the add-BOS/EOS defaults and every end-of-generation id.
 */
#include "cmd/cmd.h"
#include "core/core.h"
#include "infer/gguf.h"
#include "infer/tok.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT ((size_t)256 << 20)

static int read_stdin(struct buf *b)
{
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		if (b->len + n > MAX_INPUT)
			return HD_ETOOBIG;
		buf_append(b, chunk, n);
	}
	return ferror(stdin) ? -EIO : 0;
}

static void print_id(const char *key, int32_t id)
{
	if (id >= 0)
		printf("\"%s\":%d,", key, id);
	else
		printf("\"%s\":null,", key);
}

static void print_info(const struct tok *t)
{
	printf("{\"model\":\"%s\",\"n_vocab\":%d,", tok_model_name(t), tok_n_vocab(t));
	print_id("bos", tok_bos(t));
	print_id("eos", tok_eos(t));
	printf("\"add_bos\":%s,\"add_eos\":%s,\"eog\":[", tok_add_bos_default(t) ? "true" : "false",
	       tok_add_eos_default(t) ? "true" : "false");
	for (int32_t id = 0, k = 0; id < tok_n_vocab(t); id++)
		if (tok_is_eog(t, id))
			printf(k++ ? ",%d" : "%d", id);
	printf("]}\n");
}

int cmd_tokenize(const struct cmd_env *env, int argc, char **argv)
{
	const char *model = NULL, *text = NULL;
	int no_bos = 0, parse_special = 0, info = 0, opts_done = 0;
	struct gguf_file *f = NULL;
	struct tok *t = NULL;
	struct buf in = BUF_INIT;
	int32_t *ids = NULL;
	size_t n = 0, cap = 0;
	char err[256] = "";
	int rc, status = 1;

	(void)env;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!opts_done && !strcmp(a, "--")) {
			opts_done = 1;
		} else if (!opts_done && !strcmp(a, "--no-bos")) {
			no_bos = 1;
		} else if (!opts_done && !strcmp(a, "--parse-special")) {
			parse_special = 1;
		} else if (!opts_done && !strcmp(a, "--info")) {
			info = 1;
		} else if (!opts_done && a[0] == '-' && a[1] == '-') {
			return cmd_usage(argv[0], "unknown option %s", a);
		} else if (!model) {
			model = a;
		} else if (!text) {
			text = a;
		} else {
			return cmd_usage(argv[0], "usage: huddle tokenize MODEL [--no-bos] "
			                          "[--parse-special] [TEXT]");
		}
	}
	if (!model)
		return cmd_usage(
		        argv[0],
		        "usage: huddle tokenize MODEL [--no-bos] [--parse-special] [TEXT]");

	rc = gguf_open(model, &f, err, sizeof(err));
	if (rc < 0) {
		/* the reader's message usually names the file already */
		if (err[0] && strstr(err, model))
			return cmd_fail(argv[0], "%s", err);
		return cmd_fail(argv[0], "%s: %s", model, err[0] ? err : hd_strerror(rc));
	}
	rc = tok_load_gguf(f, &t, err, sizeof(err));
	gguf_close(f);
	if (rc < 0) {
		cmd_fail(argv[0], "%s: %s", model, err[0] ? err : hd_strerror(rc));
		goto out;
	}

	if (info) {
		print_info(t);
		status = 0;
		goto out;
	}
	if (text) {
		buf_puts(&in, text);
	} else if ((rc = read_stdin(&in)) < 0) {
		cmd_fail(argv[0], "reading stdin: %s", hd_strerror(rc));
		goto out;
	}

	int flags = parse_special ? TOK_PARSE_SPECIAL : 0;
	if (!no_bos)
		flags |= (tok_add_bos_default(t) ? TOK_ADD_BOS : 0) |
		         (tok_add_eos_default(t) ? TOK_ADD_EOS : 0);
	rc = tok_encode(t, in.data ? in.data : "", in.len, flags, &ids, &n, &cap);
	if (rc < 0) {
		cmd_fail(argv[0], "tokenizing: %s", hd_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		printf(i ? " %d" : "%d", ids[i]);
	putchar('\n');
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cmd_fail(argv[0], "writing the ids failed");
		goto out;
	}
	status = 0;
out:
	free(ids);
	buf_release(&in);
	tok_free(t);
	return status;
}

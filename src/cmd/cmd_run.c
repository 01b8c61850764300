/*
 * cmd_run.c: `huddle run MODEL -p PROMPT`: generates a completion and
 * streams it to stdout as it comes (the prompt is not echoed).
 *
 * Hidden options for the tests against the reference engine:
 *   --tokens "1 2 3"     evaluate these token ids instead of a prompt text
 *                        (no BOS is added: include it)
 *   --dump-probs FILE    evaluate the prompt once and write, for every
 *                        position, the next-token probabilities
 *                        (softmax of the logits) to FILE as little-endian
 *                        float32, n_positions x n_vocab; nothing is generated
 *   --print-ids          write the generated token ids (space-separated)
 *                        instead of text
 *   --repeat-last-n N    the penalty window (64)
 *   -v                   timings on stderr
 *
 * Without -p: an interactive chat on stdin. Each line is a user message;
 * the conversation goes through the model's chat template (or ChatML), as
 * the server's /v1/chat/completions renders it, and each reply is printed
 * followed by a newline. --system TEXT sets a system message; "/clear"
 * starts over, "/bye" or end of input ends. The KV cache keeps what the
 * next turn's prompt shares with the previous one.
 */
#include "cmd/cmd.h"
#include "core/core.h"
#include "infer/infer.h"
#include "infer/jinja.h"
#include "serve/serve.h"

#include <jansson.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME "run"

struct run_opts {
	const char *model, *prompt, *tokens, *dump, *system;
	int64_t n_predict;
	int n_threads;
	int32_t n_ctx;
	struct infer_sampler_params sp;
	int seed_set, print_ids, verbose;
};

static int parse_int(const char *opt, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
	if (!v || str_to_i64(v, out) || *out < lo || *out > hi)
		return cmd_usage(NAME, "%s needs an integer in [%lld, %lld]", opt, (long long)lo,
		                 (long long)hi);
	return 0;
}

static int parse_float(const char *opt, const char *v, double lo, double hi, float *out)
{
	char *end;
	double d;
	if (!v)
		return cmd_usage(NAME, "%s needs a number", opt);
	errno = 0;
	d = strtod(v, &end);
	if (errno || end == v || *end || !isfinite(d) || d < lo || d > hi)
		return cmd_usage(NAME, "%s needs a number in [%g, %g]", opt, lo, hi);
	*out = (float)d;
	return 0;
}

static int default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

static int parse_args(int argc, char **argv, struct run_opts *o)
{
	int64_t v;
	int rc;

	memset(o, 0, sizeof(*o));
	o->n_predict = -1;
	o->n_threads = default_threads();
	infer_sampler_params_default(&o->sp);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
			if (!val)
				return cmd_usage(NAME, "%s needs a text", a);
			o->prompt = val;
			i++;
		} else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
			if ((rc = parse_int(a, val, -1, INT32_MAX, &o->n_predict)))
				return rc;
			i++;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
			if ((rc = parse_int(a, val, 1, 256, &v)))
				return rc;
			o->n_threads = (int)v;
			i++;
		} else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) {
			if ((rc = parse_int(a, val, 0, INT32_MAX, &v)))
				return rc;
			o->n_ctx = (int32_t)v;
			i++;
		} else if (!strcmp(a, "--temp")) {
			if ((rc = parse_float(a, val, 0, 100, &o->sp.temp)))
				return rc;
			i++;
		} else if (!strcmp(a, "--top-k")) {
			if ((rc = parse_int(a, val, 0, INT32_MAX, &v)))
				return rc;
			o->sp.top_k = (int32_t)v;
			i++;
		} else if (!strcmp(a, "--top-p")) {
			if ((rc = parse_float(a, val, 0, 1, &o->sp.top_p)))
				return rc;
			i++;
		} else if (!strcmp(a, "--min-p")) {
			if ((rc = parse_float(a, val, 0, 1, &o->sp.min_p)))
				return rc;
			i++;
		} else if (!strcmp(a, "--repeat-penalty")) {
			if ((rc = parse_float(a, val, 0.01, 100, &o->sp.repeat_penalty)))
				return rc;
			i++;
		} else if (!strcmp(a, "--repeat-last-n")) {
			if ((rc = parse_int(a, val, 0, 1 << 20, &v)))
				return rc;
			o->sp.repeat_last_n = (int32_t)v;
			i++;
		} else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) {
			if ((rc = parse_int(a, val, 0, INT64_MAX, &v)))
				return rc;
			o->sp.seed = (uint64_t)v;
			o->seed_set = 1;
			i++;
		} else if (!strcmp(a, "--tokens")) {
			if (!val)
				return cmd_usage(NAME, "--tokens needs a list of ids");
			o->tokens = val;
			i++;
		} else if (!strcmp(a, "--dump-probs")) {
			if (!val)
				return cmd_usage(NAME, "--dump-probs needs a file");
			o->dump = val;
			i++;
		} else if (!strcmp(a, "--system")) {
			if (!val)
				return cmd_usage(NAME, "--system needs a text");
			o->system = val;
			i++;
		} else if (!strcmp(a, "--print-ids")) {
			o->print_ids = 1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			o->verbose = 1;
		} else if (a[0] == '-' && a[1]) {
			return cmd_usage(NAME, "unknown option %s", a);
		} else if (!o->model) {
			o->model = a;
		} else {
			return cmd_usage(NAME, "unexpected argument %s", a);
		}
	}
	if (!o->model)
		return cmd_usage(NAME, "usage: huddle run MODEL -p PROMPT [-n N] [-t THREADS] "
		                       "[--temp T] [--top-k K] [--top-p P] [--min-p P] "
		                       "[--repeat-penalty R] [--seed S] [--ctx N]");
	return 0;
}

static int parse_ids(const char *s, int32_t n_vocab, int32_t **ids, size_t *n)
{
	size_t cap = 0;
	*ids = NULL;
	*n = 0;
	while (*s) {
		char *end;
		while (*s == ' ' || *s == ',' || *s == '\n' || *s == '\t')
			s++;
		if (!*s)
			break;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (errno || end == s || v < 0 || v >= n_vocab)
			return cmd_usage(NAME,
			                 "--tokens: bad token id near '%.16s' (vocabulary %d)", s,
			                 n_vocab);
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			*ids = xrealloc(*ids, cap * sizeof(int32_t));
		}
		(*ids)[(*n)++] = (int32_t)v;
		s = end;
	}
	return 0;
}

/* Length of the longest prefix of b that ends on a UTF-8 character boundary
 * (an incomplete sequence at the end is held back for the next piece). */
static size_t utf8_complete(const char *b, size_t n)
{
	size_t i = n, k = 0;
	while (i > 0 && k < 4) {
		unsigned char c = (unsigned char)b[i - 1];
		k++;
		if ((c & 0xc0) != 0x80) {
			size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
			return need > k ? i - 1 : n;
		}
		i--;
	}
	return n;
}

static int dump_probs(const char *path, const float *logits, int32_t n_pos, int32_t n_vocab)
{
	float *p = xmalloc_array((size_t)n_pos * (size_t)n_vocab, sizeof(float));
	for (int32_t i = 0; i < n_pos; i++) {
		const float *l = logits + (size_t)i * (size_t)n_vocab;
		float *o = p + (size_t)i * (size_t)n_vocab, max = l[0];
		double sum = 0;
		for (int32_t j = 1; j < n_vocab; j++)
			max = l[j] > max ? l[j] : max;
		for (int32_t j = 0; j < n_vocab; j++)
			sum += (o[j] = expf(l[j] - max));
		for (int32_t j = 0; j < n_vocab; j++)
			o[j] = (float)(o[j] / sum);
	}
	int rc = fs_write_atomic(path, p, (size_t)n_pos * (size_t)n_vocab * sizeof(float));
	free(p);
	return rc;
}

/* ---- interactive chat (no -p) ------------------------------------------------ */

static int chat(const struct run_opts *o, struct infer_model *m)
{
	const struct tok *tk = infer_model_tok(m);
	const int32_t n_vocab = infer_model_hparams(m)->n_vocab;
	struct jinja_template *tpl = NULL;
	struct infer_sampler_params sp = o->sp;
	struct buf text = BUF_INIT, reply = BUF_INIT;
	int32_t *ids = NULL, *kv = NULL;
	size_t n_ids = 0;
	char err[512], *line = NULL;
	size_t line_cap = 0;
	int status = 1, tty = isatty(0);
	json_t *msgs = json_array();

	if (serve_chat_template_new(m, &tpl, err, sizeof(err))) {
		cmd_fail(NAME, "the model's chat template cannot be used: %s", err);
		goto out;
	}
	const int32_t n_ctx = o->n_ctx > 0 ? HD_MIN(o->n_ctx, infer_model_hparams(m)->n_ctx_train)
	                                   : HD_MIN(infer_model_hparams(m)->n_ctx_train, 4096);
	struct infer_session *s = infer_session_new(m, n_ctx);
	struct infer_exec *x = infer_exec_new(m, o->n_threads, 512);
	float *logits = xmalloc_array((size_t)n_vocab, sizeof(float));
	int32_t n_kv = 0;
	kv = xmalloc_array((size_t)n_ctx, sizeof(int32_t));
	if (!o->seed_set)
		rand_bytes(&sp.seed, sizeof(sp.seed));
	struct infer_sampler *smp = infer_sampler_new(&sp, n_vocab);
	if (o->system)
		json_array_append_new(
		        msgs, json_pack("{s:s,s:s}", "role", "system", "content", o->system));
	for (;;) {
		if (tty)
			fputs(">>> ", stderr);
		ssize_t len = getline(&line, &line_cap, stdin);
		if (len < 0)
			break;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!strcmp(line, "/bye"))
			break;
		if (!strcmp(line, "/clear")) {
			while (json_array_size(msgs) > (o->system ? 1u : 0u))
				json_array_remove(msgs, json_array_size(msgs) - 1);
			continue;
		}
		if (!len || !utf8_valid(line, (size_t)len))
			continue;
		json_array_append_new(msgs,
		                      json_pack("{s:s,s:s}", "role", "user", "content", line));
		buf_reset(&text);
		free(ids);
		ids = NULL;
		if (serve_chat_render(m, tpl, msgs, 1, &text, err, sizeof(err)) ||
		    serve_chat_tokenize(m, text.data ? text.data : "", text.len, &ids, &n_ids)) {
			fprintf(stderr, "huddle run: the chat template failed: %s\n", err);
			json_array_remove(msgs, json_array_size(msgs) - 1);
			continue;
		}
		if (n_ids >= (size_t)n_ctx) {
			fprintf(stderr,
			        "huddle run: the conversation (%zu tokens) is longer than the "
			        "context (%d): /clear to start over\n",
			        n_ids, n_ctx);
			json_array_remove(msgs, json_array_size(msgs) - 1);
			continue;
		}
		/* keep what the KV cache shares with this prompt */
		int32_t keep = 0;
		while (keep < n_kv && (size_t)keep < n_ids - 1 && kv[keep] == ids[keep])
			keep++;
		infer_session_truncate(s, keep);
		n_kv = keep;
		infer_sampler_reset(smp);
		for (size_t i = 0; i < n_ids; i++)
			infer_sampler_accept(smp, ids[i]);
		if (infer_eval(x, s, ids + keep, (int32_t)n_ids - keep, 0, logits, err,
		               sizeof(err))) {
			cmd_fail(NAME, "%s", err);
			goto out_engine;
		}
		memcpy(kv + keep, ids + keep, (n_ids - (size_t)keep) * sizeof(int32_t));
		n_kv = (int32_t)n_ids;
		buf_reset(&reply);
		size_t shown = 0;
		for (int64_t n_gen = 0; o->n_predict < 0 || n_gen < o->n_predict; n_gen++) {
			int32_t t = infer_sampler_sample(smp, logits);
			if (tok_is_eog(tk, t))
				break;
			infer_sampler_accept(smp, t);
			tok_piece(tk, t, 0, &reply);
			size_t k = utf8_complete(reply.data, reply.len);
			fwrite(reply.data + shown, 1, k > shown ? k - shown : 0, stdout);
			fflush(stdout);
			shown = HD_MAX(shown, k);
			if (n_kv >= n_ctx || (o->n_predict >= 0 && n_gen + 1 >= o->n_predict))
				break;
			if (infer_eval(x, s, &t, 1, 0, logits, err, sizeof(err))) {
				cmd_fail(NAME, "%s", err);
				goto out_engine;
			}
			kv[n_kv++] = t;
		}
		fwrite(reply.data ? reply.data + shown : "", 1, reply.len - shown, stdout);
		putchar('\n');
		fflush(stdout);
		/* the history holds the reply as the API returns it (valid UTF-8) */
		struct buf clean = BUF_INIT;
		serve_utf8_sanitize(&clean, reply.data ? reply.data : "", reply.len);
		json_t *content = json_stringn(clean.data ? clean.data : "", clean.len);
		buf_release(&clean);
		json_array_append_new(
		        msgs, json_pack("{s:s,s:o}", "role", "assistant", "content", content));
	}
	status = 0;
out_engine:
	infer_sampler_free(smp);
	free(logits);
	infer_exec_free(x);
	infer_session_free(s);
out:
	free(line);
	free(ids);
	free(kv);
	buf_release(&text);
	buf_release(&reply);
	json_decref(msgs);
	jinja_template_free(tpl);
	return status;
}

int cmd_run(const struct cmd_env *env, int argc, char **argv)
{
	struct run_opts o;
	struct infer_model *m = NULL;
	struct infer_session *s = NULL;
	struct infer_exec *x = NULL;
	struct infer_sampler *smp = NULL;
	int32_t *ids = NULL;
	float *logits = NULL;
	size_t n_ids = 0, cap = 0;
	char err[512];
	int rc, status = 1;
	struct buf out = BUF_INIT, piece = BUF_INIT;

	(void)env;
	if ((rc = parse_args(argc, argv, &o)))
		return rc;
	double t0 = time_mono_s();
	if (infer_model_load(o.model, &m, err, sizeof(err)))
		return cmd_fail(NAME, "%s", err);
	const struct infer_hparams *hp = infer_model_hparams(m);
	const struct tok *tk = infer_model_tok(m);
	const int32_t n_vocab = hp->n_vocab;
	double t_load = time_mono_s() - t0;

	if (!o.prompt && !o.tokens && !o.dump) {
		status = chat(&o, m);
		goto out;
	}

	if (o.tokens) {
		if ((rc = parse_ids(o.tokens, n_vocab, &ids, &n_ids)))
			goto out_rc;
	} else {
		int flags = tok_add_bos_default(tk) ? TOK_ADD_BOS : 0;
		if (tok_encode(tk, o.prompt, strlen(o.prompt), flags, &ids, &n_ids, &cap)) {
			cmd_fail(NAME, "cannot tokenize the prompt");
			goto out;
		}
	}
	if (n_ids == 0) {
		cmd_fail(NAME, "the prompt is empty");
		goto out;
	}
	int32_t n_ctx = o.n_ctx > 0 ? o.n_ctx : HD_MIN(hp->n_ctx_train, 4096);
	if (n_ctx > hp->n_ctx_train) {
		cmd_fail(NAME, "--ctx %d is more than the model's trained context %d", n_ctx,
		         hp->n_ctx_train);
		goto out;
	}
	if (n_ids > (size_t)n_ctx) {
		cmd_fail(NAME, "the prompt has %zu tokens, more than the context (%d)", n_ids,
		         n_ctx);
		goto out;
	}
	s = infer_session_new(m, n_ctx);
	x = infer_exec_new(m, o.n_threads, o.dump ? (int32_t)n_ids : HD_MIN((int32_t)n_ids, 512));

	if (o.dump) {
		logits = xmalloc_array(n_ids * (size_t)n_vocab, sizeof(float));
		if (infer_eval(x, s, ids, (int32_t)n_ids, 1, logits, err, sizeof(err))) {
			cmd_fail(NAME, "%s", err);
			goto out;
		}
		if ((rc = dump_probs(o.dump, logits, (int32_t)n_ids, n_vocab))) {
			cmd_fail(NAME, "%s: %s", o.dump, hd_strerror(rc));
			goto out;
		}
		status = 0;
		goto out;
	}

	if (!o.seed_set)
		rand_bytes(&o.sp.seed, sizeof(o.sp.seed));
	smp = infer_sampler_new(&o.sp, n_vocab);
	for (size_t i = 0; i < n_ids; i++)
		infer_sampler_accept(smp, ids[i]);
	logits = xmalloc_array((size_t)n_vocab, sizeof(float));
	double t1 = time_mono_s();
	if (infer_eval(x, s, ids, (int32_t)n_ids, 0, logits, err, sizeof(err))) {
		cmd_fail(NAME, "%s", err);
		goto out;
	}
	double t_prompt = time_mono_s() - t1, t2 = time_mono_s();
	int64_t n_gen = 0;
	while (o.n_predict < 0 || n_gen < o.n_predict) {
		int32_t tok = infer_sampler_sample(smp, logits);
		if (tok_is_eog(tk, tok))
			break;
		n_gen++;
		infer_sampler_accept(smp, tok);
		if (o.print_ids) {
			printf("%s%d", n_gen > 1 ? " " : "", tok);
		} else {
			buf_reset(&piece);
			tok_piece(tk, tok, 0, &piece);
			buf_append(&out, piece.data, piece.len);
			size_t k = utf8_complete(out.data, out.len);
			fwrite(out.data, 1, k, stdout);
			memmove(out.data, out.data + k, out.len - k);
			out.len -= k;
		}
		fflush(stdout);
		if (infer_session_n_past(s) >= n_ctx)
			break; /* the context is full */
		if (o.n_predict >= 0 && n_gen >= o.n_predict)
			break;
		if (infer_eval(x, s, &tok, 1, 0, logits, err, sizeof(err))) {
			cmd_fail(NAME, "%s", err);
			goto out;
		}
	}
	if (out.len)
		fwrite(out.data, 1, out.len, stdout);
	if (o.print_ids)
		putchar('\n');
	fflush(stdout);
	double t_gen = time_mono_s() - t2;
	if (o.verbose)
		fprintf(stderr,
		        "\nhuddle run: %s, load %.2f s, prompt %zu tokens %.1f tok/s, generated "
		        "%lld tokens %.1f tok/s, %d threads\n",
		        infer_model_desc(m), t_load, n_ids, (double)n_ids / t_prompt,
		        (long long)n_gen, n_gen > 1 ? (double)(n_gen - 1) / t_gen : 0.0,
		        o.n_threads);
	status = 0;
	goto out;
out_rc:
	status = rc;
out:
	buf_release(&out);
	buf_release(&piece);
	free(ids);
	free(logits);
	infer_sampler_free(smp);
	infer_exec_free(x);
	infer_session_free(s);
	infer_model_free(m);
	return status;
}

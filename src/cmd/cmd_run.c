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
 */
#include "cmd/cmd.h"
#include "core/core.h"
#include "infer/infer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME "run"

struct run_opts {
	const char *model, *prompt, *tokens, *dump;
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
	if (!o->prompt && !o->tokens)
		return cmd_usage(NAME, "no prompt: give one with -p PROMPT (interactive chat comes "
		                       "with the server)");
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

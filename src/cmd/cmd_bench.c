/*
 * cmd_bench.c: `huddle bench MODEL`: prompt-processing and generation speed
 * in the spirit of llama-bench, and `huddle gen-model OUT`: a GGUF model
 * with deterministic random weights (for the tests and benchmarks).
 *
 * bench: pp = P random tokens evaluated in one batch on an empty session;
 * tg = N tokens evaluated one at a time from an empty session. A short
 * warm-up, then REPS timed runs; mean and sample standard deviation of the
 * per-run tokens/s. The last line is one JSON object for scripts.
 * `huddle bench --mem-bandwidth [-t T]` measures the memory read bandwidth
 * (for the bandwidth-limit figures of bench/infer).
 */
#include "cmd/cmd.h"
#include "core/core.h"
#include "infer/infer.h"
#include "infer/kern.h"
#include "infer/pool.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static int default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

static int get_int(const char *name, const char *opt, const char *v, int64_t lo, int64_t hi,
                   int64_t *out)
{
	if (!v || str_to_i64(v, out) || *out < lo || *out > hi)
		return cmd_usage(name, "%s needs an integer in [%lld, %lld]", opt, (long long)lo,
		                 (long long)hi);
	return 0;
}

static void mean_std(const double *v, int n, double *mean, double *std)
{
	double s = 0, q = 0;
	for (int i = 0; i < n; i++)
		s += v[i];
	*mean = s / n;
	for (int i = 0; i < n; i++)
		q += (v[i] - *mean) * (v[i] - *mean);
	*std = n > 1 ? sqrt(q / (n - 1)) : 0;
}

static uint64_t lcg(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/* ---- memory read bandwidth ------------------------------------------------
 * Each thread sums its slice of a buffer far larger than the caches; the
 * best of several passes is the read bandwidth the weights can stream at. */
struct membw {
	const uint64_t *buf;
	size_t n; /* uint64 words */
	uint64_t sink[64];
};

#if defined(__x86_64__)
__attribute__((target("avx2"))) static uint64_t sum_avx2(const uint64_t *p, size_t n)
{
	__m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i *)(p + i)));
		b = _mm256_add_epi64(b, _mm256_load_si256((const __m256i *)(p + i + 4)));
		c = _mm256_add_epi64(c, _mm256_load_si256((const __m256i *)(p + i + 8)));
		d = _mm256_add_epi64(d, _mm256_load_si256((const __m256i *)(p + i + 12)));
	}
	a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
	uint64_t r[4];
	_mm256_storeu_si256((__m256i *)r, a);
	return r[0] + r[1] + r[2] + r[3];
}
#endif

static void membw_task(void *ctx, int ith, int nth)
{
	struct membw *m = ctx;
	size_t per = m->n / (size_t)nth / 16 * 16;
	const uint64_t *p = m->buf + per * (size_t)ith;
	uint64_t s = 0;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("avx2")) {
		m->sink[ith % 64] += sum_avx2(p, per);
		return;
	}
#endif
	for (size_t i = 0; i < per; i++)
		s += p[i];
	m->sink[ith % 64] += s;
}

/* GB/s (1e9 bytes) read by n_threads threads. */
static double mem_bandwidth(int n_threads)
{
	const size_t bytes = (size_t)1 << 30;
	struct membw m = {0};
	uint64_t *buf = aligned_alloc(64, bytes);
	struct pool *p = pool_new(n_threads);
	double best = 0;
	if (!buf || !p) {
		free(buf);
		pool_free(p);
		return 0;
	}
	for (size_t i = 0; i < bytes / 8; i++)
		buf[i] = i;
	m.buf = buf;
	m.n = bytes / 8;
	for (int pass = 0; pass < 6; pass++) {
		double t = time_mono_s();
		pool_run(p, membw_task, &m);
		t = time_mono_s() - t;
		if (pass > 0 && (double)bytes / t / 1e9 > best)
			best = (double)bytes / t / 1e9;
	}
	pool_free(p);
	free(buf);
	return best;
}

int cmd_bench(const struct cmd_env *env, int argc, char **argv)
{
	const char *path = NULL;
	int64_t n_pp = 128, n_tg = 64, reps = 5, v;
	int n_threads = default_threads(), rc, membw = 0;
	char err[512];

	(void)env;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--mem-bandwidth")) {
			membw = 1;
		} else if (!strcmp(a, "-p")) {
			if ((rc = get_int("bench", a, val, 0, 8192, &n_pp)))
				return rc;
			i++;
		} else if (!strcmp(a, "-n")) {
			if ((rc = get_int("bench", a, val, 0, 8192, &n_tg)))
				return rc;
			i++;
		} else if (!strcmp(a, "-t")) {
			if ((rc = get_int("bench", a, val, 1, 256, &v)))
				return rc;
			n_threads = (int)v;
			i++;
		} else if (!strcmp(a, "-r")) {
			if ((rc = get_int("bench", a, val, 1, 1000, &reps)))
				return rc;
			i++;
		} else if (a[0] == '-') {
			return cmd_usage("bench", "unknown option %s", a);
		} else if (!path) {
			path = a;
		} else {
			return cmd_usage("bench", "unexpected argument %s", a);
		}
	}
	if (membw) {
		double gbs = mem_bandwidth(n_threads);
		printf("{\"threads\":%d,\"read_gb_s\":%.3f}\n", n_threads, gbs);
		return gbs > 0 ? 0 : 1;
	}
	if (!path)
		return cmd_usage(
		        "bench",
		        "usage: huddle bench MODEL [-p 128] [-n 64] [-t THREADS] [-r REPS]");
	if (n_pp == 0 && n_tg == 0)
		return cmd_usage("bench", "nothing to measure (-p 0 -n 0)");

	struct infer_model *m;
	if (infer_model_load(path, &m, err, sizeof(err)))
		return cmd_fail("bench", "%s", err);
	const struct infer_hparams *hp = infer_model_hparams(m);
	if (n_pp + n_tg > hp->n_ctx_train || n_pp > hp->n_ctx_train) {
		infer_model_free(m);
		return cmd_fail("bench", "-p %lld and -n %lld do not fit the context of %d",
		                (long long)n_pp, (long long)n_tg, hp->n_ctx_train);
	}
	int32_t n_ctx = (int32_t)HD_MAX(n_pp, n_tg);
	struct infer_session *s = infer_session_new(m, n_ctx);
	struct infer_exec *x = infer_exec_new(m, n_threads, (int32_t)HD_MAX(n_pp, 1));
	int32_t *toks = xmalloc_array((size_t)HD_MAX(n_pp, n_tg) + 1, sizeof(int32_t));
	double *pp = xcalloc((size_t)reps, sizeof(double)),
	       *tg = xcalloc((size_t)reps, sizeof(double));
	uint64_t seed = 42;
	int status = 1;
	for (int64_t i = 0; i < HD_MAX(n_pp, n_tg); i++)
		toks[i] = (int32_t)(lcg(&seed) % (uint64_t)hp->n_vocab);

	/* warm-up: pages of the mapping (any forward pass reads every weight),
	 * thread wake-ups, caches */
	infer_session_truncate(s, 0);
	if (n_pp && infer_eval(x, s, toks, (int32_t)HD_MIN(n_pp, 8), 0, NULL, err, sizeof(err)))
		goto fail;
	infer_session_truncate(s, 0);
	if (n_tg && infer_eval(x, s, toks, 1, 0, NULL, err, sizeof(err)))
		goto fail;
	for (int64_t r = 0; r < reps && n_pp; r++) {
		infer_session_truncate(s, 0);
		double t = time_mono_s();
		if (infer_eval(x, s, toks, (int32_t)n_pp, 0, NULL, err, sizeof(err)))
			goto fail;
		pp[r] = (double)n_pp / (time_mono_s() - t);
	}
	for (int64_t r = 0; r < reps && n_tg; r++) {
		infer_session_truncate(s, 0);
		double t = time_mono_s();
		for (int64_t i = 0; i < n_tg; i++)
			if (infer_eval(x, s, &toks[i], 1, 0, NULL, err, sizeof(err)))
				goto fail;
		tg[r] = (double)n_tg / (time_mono_s() - t);
	}

	double pp_m = 0, pp_s = 0, tg_m = 0, tg_s = 0;
	if (n_pp)
		mean_std(pp, (int)reps, &pp_m, &pp_s);
	if (n_tg)
		mean_std(tg, (int)reps, &tg_m, &tg_s);
	const struct gguf_file *gf = infer_model_gguf(m);
	printf("| %-28s | %10s | %8s | %7s | %6s | %18s |\n", "model", "size", "params", "threads",
	       "test", "t/s");
	printf("| %-28s | %10s | %8s | %7s | %6s | %18s |\n", "---", "---", "---", "---", "---",
	       "---");
	char size[32], params[32], test[32];
	snprintf(size, sizeof(size), "%.2f MiB", (double)gf->size / (1024.0 * 1024.0));
	snprintf(params, sizeof(params), "%.2f M", (double)infer_model_n_params(m) / 1e6);
	if (n_pp) {
		snprintf(test, sizeof(test), "pp%lld", (long long)n_pp);
		printf("| %-28s | %10s | %8s | %7d | %6s | %9.2f ± %6.2f |\n", infer_model_desc(m),
		       size, params, n_threads, test, pp_m, pp_s);
	}
	if (n_tg) {
		snprintf(test, sizeof(test), "tg%lld", (long long)n_tg);
		printf("| %-28s | %10s | %8s | %7d | %6s | %9.2f ± %6.2f |\n", infer_model_desc(m),
		       size, params, n_threads, test, tg_m, tg_s);
	}
	json_t *j = json_object();
	json_object_set_new(j, "model", json_string(path));
	json_object_set_new(j, "desc", json_string(infer_model_desc(m)));
	json_object_set_new(j, "file_bytes", json_integer((json_int_t)gf->size));
	json_object_set_new(j, "n_params", json_integer((json_int_t)infer_model_n_params(m)));
	json_object_set_new(j, "bytes_per_token",
	                    json_integer((json_int_t)infer_model_bytes_per_token(m)));
	json_object_set_new(j, "isa", json_string(kern_isa()));
	json_object_set_new(j, "threads", json_integer(n_threads));
	json_object_set_new(j, "reps", json_integer(reps));
	json_object_set_new(j, "pp_tokens", json_integer(n_pp));
	json_object_set_new(j, "pp_tok_s", json_real(pp_m));
	json_object_set_new(j, "pp_tok_s_std", json_real(pp_s));
	json_object_set_new(j, "tg_tokens", json_integer(n_tg));
	json_object_set_new(j, "tg_tok_s", json_real(tg_m));
	json_object_set_new(j, "tg_tok_s_std", json_real(tg_s));
	char *js = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
	printf("%s\n", js);
	free(js);
	json_decref(j);
	status = 0;
	goto out;
fail:
	cmd_fail("bench", "%s", err);
out:
	free(pp);
	free(tg);
	free(toks);
	infer_exec_free(x);
	infer_session_free(s);
	infer_model_free(m);
	return status;
}

static int parse_type(const char *v, uint32_t *out)
{
	for (uint32_t t = 0; t < TENSOR_TYPE_MAX; t++) {
		const struct tensor_type_info *ti = tensor_type_info(t);
		if (ti && !strcasecmp(ti->name, v) && kern_supported(t)) {
			*out = t;
			return 0;
		}
	}
	return cmd_usage("gen-model", "unknown or unsupported tensor type '%s'", v);
}

int cmd_gen_model(const struct cmd_env *env, int argc, char **argv)
{
	struct infer_gen_spec g;
	const char *out = NULL;
	int type_embd_set = 0, type_out_set = 0, rc;
	int64_t v;
	char err[512];

	(void)env;
	infer_gen_spec_default(&g);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		struct {
			const char *opt;
			int32_t *dst;
		} ints[] = {{"--dim", &g.n_embd},
		            {"--layers", &g.n_layer},
		            {"--ff", &g.n_ff},
		            {"--heads", &g.n_head},
		            {"--kv-heads", &g.n_head_kv},
		            {"--ctx", &g.n_ctx},
		            {"--vocab", &g.n_vocab},
		            {"--head-dim", &g.head_dim},
		            {"--rope-dim", &g.n_rot}};
		int done = 0;
		for (size_t k = 0; k < ARRAY_SIZE(ints) && !done; k++)
			if (!strcmp(a, ints[k].opt)) {
				if ((rc = get_int("gen-model", a, val, 1, 1 << 20, &v)))
					return rc;
				*ints[k].dst = (int32_t)v;
				i++;
				done = 1;
			}
		if (done)
			continue;
		if (!strcmp(a, "--arch") && val) {
			if (!strcmp(val, "llama"))
				g.arch = INFER_ARCH_LLAMA;
			else if (!strcmp(val, "qwen2"))
				g.arch = INFER_ARCH_QWEN2;
			else
				return cmd_usage("gen-model", "--arch llama or qwen2");
			i++;
		} else if ((!strcmp(a, "--type") || !strcmp(a, "--embd-type") ||
		            !strcmp(a, "--out-type")) &&
		           val) {
			uint32_t t = 0;
			if ((rc = parse_type(val, &t)))
				return rc;
			if (!strcmp(a, "--type")) {
				g.type = t;
			} else if (!strcmp(a, "--embd-type")) {
				g.type_embd = t;
				type_embd_set = 1;
			} else {
				g.type_out = t;
				type_out_set = 1;
			}
			i++;
		} else if (!strcmp(a, "--q4_k_m")) {
			g.q4_k_m = 1;
		} else if (!strcmp(a, "--tied")) {
			g.tied = 1;
		} else if (!strcmp(a, "--rope-freqs")) {
			g.rope_freqs = 1;
		} else if (!strcmp(a, "--rope-scaling") && val) {
			if (!strcmp(val, "none"))
				g.rope_scaling = INFER_ROPE_SCALING_NONE;
			else if (!strcmp(val, "linear"))
				g.rope_scaling = INFER_ROPE_SCALING_LINEAR;
			else if (!strcmp(val, "yarn"))
				g.rope_scaling = INFER_ROPE_SCALING_YARN;
			else if (!strcmp(val, "untyped")) /* the factor key alone */
				g.rope_type_absent = 1;
			else
				return cmd_usage("gen-model",
				                 "--rope-scaling none, linear, yarn or untyped");
			i++;
		} else if ((!strcmp(a, "--rope-base") || !strcmp(a, "--rope-factor") ||
		            !strcmp(a, "--scale")) &&
		           val) {
			char *end;
			errno = 0;
			double d = strtod(val, &end);
			if (errno || *end || !(d > 0) || d > 1e9)
				return cmd_usage("gen-model", "%s needs a positive number", a);
			if (!strcmp(a, "--rope-base"))
				g.rope_base = (float)d;
			else if (!strcmp(a, "--rope-factor"))
				g.rope_scale_factor = (float)d;
			else
				g.weight_scale = (float)d;
			i++;
		} else if (!strcmp(a, "--seed") && val) {
			if ((rc = get_int("gen-model", a, val, 0, INT64_MAX, &v)))
				return rc;
			g.seed = (uint64_t)v;
			i++;
		} else if (a[0] == '-') {
			return cmd_usage("gen-model", "unknown option %s (or missing value)", a);
		} else if (!out) {
			out = a;
		} else {
			return cmd_usage("gen-model", "unexpected argument %s", a);
		}
	}
	if (!out)
		return cmd_usage("gen-model",
		                 "usage: huddle gen-model OUT.gguf [--arch llama|qwen2] "
		                 "[--dim N] [--layers N] [--ff N] [--heads N] "
		                 "[--kv-heads N] [--ctx N] [--vocab N] [--type T] ...");
	if (g.rope_type_absent)
		g.rope_scaling = INFER_ROPE_SCALING_LINEAR; /* llama.cpp's default type */
	if (!type_embd_set)
		g.type_embd = g.type;
	if (!type_out_set)
		g.type_out = g.type;
	if (infer_gen_model(&g, out, err, sizeof(err)))
		return cmd_fail("gen-model", "%s", err);
	return 0;
}

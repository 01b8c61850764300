/*
 * kern_bench.c: micro-benchmark of the matmul kernels (run by bench/kern).
 *
 *   kern_bench [-t THREADS] [-r REPS] [-m tg|pp|bt|all] [TYPE...]
 *
 * For each weight type, on the shapes of the 1.1B TinyLlama-like model
 * (dim 2048, ffn 5632):
 *   tg: n_tok = 1 over a ring of weight matrices much larger than the last
 *       level cache, reported as GB/s of weights streamed (and as a fraction
 *       of the machine's read bandwidth, measured first);
 *   pp: n_tok = 128 on a 5632 x 2048 (ffn up) and a 2048 x 5632 (ffn down)
 *       matrix, in GFLOP/s
 *       (2 * rows * cols * tokens per second);
 *   bt: (only with -m bt) batched decode: n_tok = B = 1, 2, 3, 4, 6, 8, 12,
 *       16 over the same ring as tg (the weights streamed from memory once
 *       for B tokens, as the service's decode step does), as ms per
 *       5632 x 2048 matrix and the tokens/s relative to B = 1.
 * Each figure is the best of REPS runs (the machine is shared and noisy).
 */
#include "core/core.h"
#include "infer/kern.h"
#include "infer/pool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* With one thread, time by the thread's CPU clock: on a shared machine the
 * wall clock also counts the time other processes had the core. */
static int use_cpu_clock;
static double now(void)
{
	struct timespec ts;
	if (!use_cpu_clock)
		return time_mono_s();
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ULL;
static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)(rng >> 40) / 16777216.0f - 0.5f;
}

struct bw_ctx {
	const uint8_t *buf;
	size_t size;
	double sink[64];
};

__attribute__((target("avx2"))) static void bw_fn(void *arg, int ith, int nth)
{
	struct bw_ctx *c = arg;
	const size_t per = c->size / (size_t)nth & ~(size_t)127;
	const uint8_t *p = c->buf + per * (size_t)ith;
	__m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
	for (size_t i = 0; i < per; i += 128) {
		a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
		a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
		a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
		a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
	}
	a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
	c->sink[ith] = (double)_mm256_extract_epi64(a0, 0);
}

/* Read bandwidth of nth threads over a buffer much larger than the caches. */
static double read_bandwidth(struct pool *p, int reps)
{
	struct bw_ctx c;
	void *m;
	c.size = (size_t)512 << 20;
	if (posix_memalign(&m, 64, c.size))
		abort();
	memset(m, 1, c.size);
	c.buf = m;
	double best = 0;
	for (int r = 0; r < reps; r++) {
		double t0 = now();
		pool_run(p, bw_fn, &c);
		double gbs = (double)c.size / (now() - t0) / 1e9;
		if (gbs > best)
			best = gbs;
	}
	free(m);
	return best;
}

static void *make_weights(uint32_t t, int64_t rows, int64_t cols, size_t *size)
{
	size_t rs;
	float *row = xmalloc(sizeof(float) * (size_t)cols);
	tensor_row_size(t, cols, &rs);
	uint8_t *w;
	if (posix_memalign((void **)&w, 64, rs * (size_t)rows))
		abort();
	/* quantize a few distinct rows and copy them around: quantizing hundreds
	 * of MB with the reference K-quant search would dominate the run */
	for (int64_t i = 0; i < rows; i++) {
		if (i < 16) {
			for (int64_t j = 0; j < cols; j++)
				row[j] = frand() * 0.1f;
			kern_quantize_row(t, row, w + rs * (size_t)i, cols);
		} else {
			memcpy(w + rs * (size_t)i, w + rs * (size_t)(i % 16), rs);
		}
	}
	free(row);
	*size = rs * (size_t)rows;
	return w;
}

int main(int argc, char **argv)
{
	int n_threads = 2, reps = 5, n_types = 0;
	const char *mode = "all";
	uint32_t types[32];
	static const uint32_t all[] = {TENSOR_Q4_0, TENSOR_Q8_0, TENSOR_F16,  TENSOR_Q4_K,
	                               TENSOR_Q6_K, TENSOR_Q5_K, TENSOR_Q4_1, TENSOR_Q5_0,
	                               TENSOR_Q5_1, TENSOR_BF16, TENSOR_F32};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-t") && i + 1 < argc) {
			n_threads = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "-r") && i + 1 < argc) {
			reps = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "-m") && i + 1 < argc) {
			mode = argv[++i];
		} else {
			uint32_t t = TENSOR_TYPE_MAX;
			for (uint32_t k = 0; k < TENSOR_TYPE_MAX; k++)
				if (tensor_type_info(k) &&
				    !strcasecmp(tensor_type_info(k)->name, argv[i]))
					t = k;
			if (t == TENSOR_TYPE_MAX || !kern_supported(t) || n_types == 32) {
				fprintf(stderr, "kern_bench: unknown type %s\n", argv[i]);
				return 2;
			}
			types[n_types++] = t;
		}
	}
	if (!n_types) {
		memcpy(types, all, sizeof(all));
		n_types = (int)ARRAY_SIZE(all);
	}
	use_cpu_clock = n_threads == 1;
	struct pool *p = pool_new(n_threads);
	if (!p)
		return 1;
	const double bw = read_bandwidth(p, reps);
	printf("kernels %s, %d thread(s), timed by %s; read bandwidth %.1f GB/s\n", kern_isa(),
	       n_threads, use_cpu_clock ? "thread CPU time" : "wall clock", bw);
	if (strcmp(mode, "bt")) {
		printf("%-6s %10s %7s %14s %14s\n", "type", "tg GB/s", "of bw", "pp GFLOP/s",
		       "pp GFLOP/s");
		printf("%-6s %10s %7s %14s %14s\n", "", "5632x2048", "", "5632x2048", "2048x5632");
	}

	const int64_t dim = 2048, ffn = 5632, n_tok = 128;
	float *x = xmalloc(sizeof(float) * (size_t)(ffn * n_tok));
	float *out = xmalloc(sizeof(float) * (size_t)(ffn * n_tok));
	for (int64_t i = 0; i < ffn * n_tok; i++)
		x[i] = frand();
	void *scratch = xmalloc(kern_matmul_scratch_size(TENSOR_F32, ffn, n_tok));

	if (!strcmp(mode, "bt")) {
		static const int bs[] = {1, 2, 3, 4, 6, 8, 12, 16};
		printf("batched decode, ms per 5632x2048 matrix (tok/s vs B=1)\n%-6s", "type");
		for (size_t i = 0; i < ARRAY_SIZE(bs); i++)
			printf(" %13s%-2d", "B=", bs[i]);
		printf("\n");
		for (int ti = 0; ti < n_types; ti++) {
			const uint32_t t = types[ti];
			size_t one, total;
			void *probe = make_weights(t, 16, dim, &one);
			free(probe);
			const int64_t rows_total = (int64_t)(((size_t)384 << 20) / (one / 16));
			uint8_t *ring = make_weights(t, rows_total, dim, &total);
			const int64_t n_mat = rows_total / ffn;
			const size_t mat = total / (size_t)rows_total * (size_t)ffn;
			double base = 0;
			printf("%-6s", tensor_type_info(t)->name);
			for (size_t bi = 0; bi < ARRAY_SIZE(bs); bi++) {
				double best = 1e30;
				for (int r = 0; r < reps; r++) {
					double t0 = now();
					for (int64_t m = 0; m < n_mat; m++)
						kern_matmul(p, t, ring + mat * (size_t)m, ffn, dim,
						            x, bs[bi], out, scratch);
					best = HD_MIN(best, (now() - t0) / (double)n_mat);
				}
				if (bi == 0)
					base = best;
				printf(" %7.3f (%4.2fx)", best * 1e3, bs[bi] * base / best);
				fflush(stdout);
			}
			printf("\n");
			free(ring);
		}
		free(x);
		free(out);
		free(scratch);
		pool_free(p);
		return 0;
	}

	for (int ti = 0; ti < n_types; ti++) {
		const uint32_t t = types[ti];
		size_t one;
		/* tg: a ring of ffn x dim matrices totalling >= 384 MB (or
		 * KERN_BENCH_RING_MB, at least one matrix: a ring that fits the
		 * last-level cache shows the kernel's own cost, not memory's) */
		void *probe = make_weights(t, 16, dim, &one);
		free(probe);
		const char *ring_env = getenv("KERN_BENCH_RING_MB");
		const size_t ring_mb =
		        ring_env && atoi(ring_env) > 0 ? (size_t)atoi(ring_env) : 384;
		const int64_t rows_total =
		        HD_MAX(ffn, (int64_t)((ring_mb << 20) / (one / 16)) / ffn * ffn);
		size_t total;
		uint8_t *ring = make_weights(t, rows_total, dim, &total);
		const int64_t n_mat = rows_total / ffn;
		const size_t mat = total / (size_t)rows_total * (size_t)ffn;
		double best_tg = 0;
		for (int r = 0; r < (strcmp(mode, "pp") ? reps : 0); r++) {
			double t0 = now();
			for (int64_t m = 0; m < n_mat; m++)
				kern_matmul(p, t, ring + mat * (size_t)m, ffn, dim, x, 1, out,
				            scratch);
			double gbs = (double)mat * (double)n_mat / (now() - t0) / 1e9;
			if (gbs > best_tg)
				best_tg = gbs;
		}
		free(ring);

		double best_pp[2] = {0, 0};
		const int64_t rows_pp[2] = {ffn, dim}, cols_pp[2] = {dim, ffn};
		for (int s = 0; s < 2; s++) {
			size_t sz;
			void *w = make_weights(t, rows_pp[s], cols_pp[s], &sz);
			for (int r = 0; r < (strcmp(mode, "tg") ? reps : 0); r++) {
				double t0 = now();
				kern_matmul(p, t, w, rows_pp[s], cols_pp[s], x, n_tok, out,
				            scratch);
				double gf = 2.0 * (double)rows_pp[s] * (double)cols_pp[s] *
				            (double)n_tok / (now() - t0) / 1e9;
				if (gf > best_pp[s])
					best_pp[s] = gf;
			}
			free(w);
		}
		printf("%-6s %10.1f %6.0f%% %14.1f %14.1f\n", tensor_type_info(t)->name, best_tg,
		       100 * best_tg / bw, best_pp[0], best_pp[1]);
		fflush(stdout);
	}
	free(x);
	free(out);
	free(scratch);
	pool_free(p);
	return 0;
}

/*
 * test_kern_avx2.c: the AVX2 fused generation kernels (kern_ops_avx2.gemv
 * and .gemv_float) against the two-step path they replace (unpack_tile +
 * tile_int, unpack + tile_float) and the scalar twins, bit for bit: every
 * supported type, one to eight activation rows (gemv_rows), ragged float lengths, span
 * accumulation (first/last), weights read at the very end of their buffer
 * (the ASan build sees any read past a row). Skipped where the CPU lacks
 * AVX2 (test_kern covers the dispatch and kern_matmul across ISAs).
 */
#include "core/core.h"
#include "infer/kern.h"
#include "infer/kern_impl.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Values with a spread of magnitudes, some exact zeros and a few outliers,
 * so blocks differ in scale and the level sums reach their extremes. */
static void fill(float *x, int64_t n, float scale)
{
	for (int64_t i = 0; i < n; i++) {
		const int k = test_rnd_int(64);
		float v = ((float)test_rnd32() / 4294967296.f - 0.5f) * 2 * scale;
		if (k == 0)
			v = 0;
		else if (k == 1)
			v *= 20;
		x[i] = v;
	}
}

static size_t row_size(uint32_t t, int64_t n)
{
	size_t s = 0;
	if (tensor_row_size(t, n, &s))
		abort();
	return s;
}

static const uint32_t int_types[] = {TENSOR_Q4_0, TENSOR_Q4_1, TENSOR_Q5_0, TENSOR_Q5_1,
                                     TENSOR_Q8_0, TENSOR_Q4_K, TENSOR_Q5_K, TENSOR_Q6_K};
static const uint32_t float_types[] = {TENSOR_F32, TENSOR_F16, TENSOR_BF16};

/* R rows of k elements of type t, quantized, placed so that the last row
 * ends exactly at the end of its allocation. Returns the start; *base is
 * what to free. */
static uint8_t *make_rows(uint32_t t, int r, int64_t k, size_t *rs, void **base)
{
	*rs = row_size(t, k);
	float *w = xmalloc(sizeof(float) * (size_t)k);
	uint8_t *b = xmalloc(*rs * (size_t)r);
	for (int i = 0; i < r; i++) {
		fill(w, k, 0.05f + 0.05f * (float)test_rnd_int(4));
		CHECK_EQ_INT(kern_quantize_row(t, w, b + *rs * (size_t)i, k), 0);
	}
	free(w);
	*base = b;
	return b;
}

static uint8_t *pack_rows(const struct kern_isa_ops *o, uint32_t t, const struct kern_shape *sh,
                          int nc)
{
	float *x = xmalloc(sizeof(float) * (size_t)(sh->k * nc));
	uint8_t *xp = xmalloc(sh->stride * (size_t)nc);
	fill(x, sh->k * nc, 1.f);
	for (int c = 0; c < nc; c++)
		o->pack[t](x + c * sh->k, sh, xp + sh->stride * (size_t)c);
	free(x);
	return xp;
}

static void test_gemv_int(void)
{
	const struct kern_isa_ops *o = &kern_ops_avx2;
	const int R = o->rows;
	CHECK(o->gemv != NULL);
	for (int iter = 0; iter < 6; iter++)
		for (size_t ti = 0; ti < ARRAY_SIZE(int_types); ti++) {
			const uint32_t t = int_types[ti];
			/* 256 to 4096 elements: whole super-blocks, as matmul slices */
			const int64_t k = 256 * (1 + test_rnd_int(16));
			struct kern_shape sh;
			size_t rs;
			void *base;
			CHECK_EQ_INT(kern_shape_init(&sh, t, k), 0);
			const uint8_t *rows = make_rows(t, R, k, &rs, &base);
			const size_t tsize = kern_tile_size(&sh, R);
			uint8_t *tile = xmalloc(tsize), *stile = xmalloc(tsize);
			o->unpack_tile[t](rows, rs, R, &sh, 0, sh.nb, tile, NULL, 0);
			kern_unpack_tile_scalar(t, rows, rs, R, R, &sh, 0, sh.nb, stile);
			CHECK(!memcmp(tile, stile, tsize));
			for (int nc = 1; nc <= 8; nc++) {
				uint8_t *xp = pack_rows(o, t, &sh, nc);
				float want[8 * 8], got[8 * 8], twin[8 * 8], acc[8 * 8],
				        split[8 * 8];
				const struct kern_span all = {0, k, 1, 1, acc, R};
				o->tile_int(R, nc, &sh, tile, xp, NULL, want, R);
				kern_tile_int_scalar(R, R, nc, &sh, stile, xp, NULL, twin, R);
				memset(got, 0xa5, sizeof(got));
				o->gemv(t, rows, rs, &sh, xp, nc, &all, got, R, rows,
				        rs * (size_t)R);
				int same = !memcmp(got, want, sizeof(float) * (size_t)(R * nc)) &&
				           !memcmp(twin, want, sizeof(float) * (size_t)(R * nc));
				/* two spans through the accumulators: the same bits */
				const int64_t mid = 256 * test_rnd_int((int)(k / 256) + 1);
				const struct kern_span s0 = {0, mid, 1, 0, acc, R};
				const struct kern_span s1 = {mid, k, mid == 0, 1, acc, R};
				memset(split, 0x5a, sizeof(split));
				if (mid > 0)
					o->gemv(t, rows, rs, &sh, xp, nc, &s0, split, R, NULL, 0);
				if (mid < k)
					o->gemv(t, rows, rs, &sh, xp, nc, &s1, split, R, NULL, 0);
				else /* the whole row went to the accumulators */
					memcpy(split, acc, sizeof(float) * (size_t)(R * nc));
				same &= !memcmp(split, want, sizeof(float) * (size_t)(R * nc));
				if (!same)
					fprintf(stderr, "gemv %s k=%lld nc=%d mid=%lld differs\n",
					        tensor_type_info(t)->name, (long long)k, nc,
					        (long long)mid);
				CHECK(same);
				free(xp);
			}
			free(tile);
			free(stile);
			free(base);
		}
}

static void test_gemv_float(void)
{
	const struct kern_isa_ops *o = &kern_ops_avx2;
	CHECK(o->gemv_float != NULL);
	for (int iter = 0; iter < 8; iter++)
		for (size_t ti = 0; ti < ARRAY_SIZE(float_types); ti++) {
			const uint32_t t = float_types[ti];
			/* ragged: any length, often not a multiple of 16 */
			const int64_t k = iter == 0 ? 1 + test_rnd_int(15) : 1 + test_rnd_int(700);
			const int mr = 1 + test_rnd_int(o->tile_m_float);
			struct kern_shape sh;
			size_t rs;
			void *base;
			CHECK_EQ_INT(kern_shape_init(&sh, t, k), 0);
			const uint8_t *rows = make_rows(t, mr, k, &rs, &base);
			uint8_t *un = xmalloc(sh.stride * (size_t)mr);
			for (int i = 0; i < mr; i++)
				o->unpack[t](rows + rs * (size_t)i, &sh,
				             un + sh.stride * (size_t)i);
			for (int nc = 1; nc <= 8; nc++) {
				uint8_t *xp = pack_rows(o, t, &sh, nc);
				float want[16 * 8], got[16 * 8], twin[16 * 8];
				o->tile_float(mr, nc, &sh, un, xp, NULL, want, mr);
				kern_ops_scalar.tile_float(mr, nc, &sh, un, xp, NULL, twin, mr);
				memset(got, 0xa5, sizeof(got));
				o->gemv_float(t, rows, rs, mr, &sh, xp, nc, got, mr, rows,
				              rs * (size_t)mr);
				const size_t n = sizeof(float) * (size_t)(mr * nc);
				const int same = !memcmp(got, want, n) && !memcmp(twin, want, n);
				if (!same)
					fprintf(stderr,
					        "gemv_float %s k=%lld mr=%d nc=%d differs\n",
					        tensor_type_info(t)->name, (long long)k, mr, nc);
				CHECK(same);
				free(xp);
			}
			free(un);
			free(base);
		}
}

/* The level sums at their extremes (every level at its maximum against
 * activations of +-127): the int16 pairing must not overflow. */
static void test_gemv_extremes(void)
{
	const struct kern_isa_ops *o = &kern_ops_avx2;
	const int R = o->rows;
	const int64_t k = 512;
	for (size_t ti = 0; ti < ARRAY_SIZE(int_types); ti++) {
		const uint32_t t = int_types[ti];
		struct kern_shape sh;
		const size_t rs = row_size(t, k);
		CHECK_EQ_INT(kern_shape_init(&sh, t, k), 0);
		uint8_t *rows = xmalloc(rs * (size_t)R);
		float *w = xmalloc(sizeof(float) * (size_t)k),
		      *x = xmalloc(sizeof(float) * (size_t)k);
		for (int r = 0; r < R; r++) {
			/* +-1 only, so every level is the lowest or the highest, mostly
			 * the highest (odd rows: mostly the lowest) */
			for (int64_t e = 0; e < k; e++)
				w[e] = (e % 16 == 0) == (r & 1) ? -1.f : 1.f;
			kern_quantize_row(t, w, rows + rs * (size_t)r, k);
		}
		uint8_t *xp = xmalloc(sh.stride);
		uint8_t *tile = xmalloc(kern_tile_size(&sh, R));
		o->unpack_tile[t](rows, rs, R, &sh, 0, sh.nb, tile, NULL, 0);
		for (int pat = 0; pat < 3; pat++) {
			/* all +127, all -127, mixed */
			for (int64_t e = 0; e < k; e++)
				x[e] = pat == 0 ? 1.f : pat == 1 ? -1.f : (e % 5) ? 1.f : -1.f;
			o->pack[t](x, &sh, xp);
			float want[8], got[8], acc[8];
			const struct kern_span all = {0, k, 1, 1, acc, R};
			o->tile_int(R, 1, &sh, tile, xp, NULL, want, R);
			o->gemv(t, rows, rs, &sh, xp, 1, &all, got, R, NULL, 0);
			if (memcmp(got, want, sizeof(float) * (size_t)R))
				fprintf(stderr, "extremes %s pattern %d differ\n",
				        tensor_type_info(t)->name, pat);
			CHECK(!memcmp(got, want, sizeof(float) * (size_t)R));
		}
		free(rows);
		free(w);
		free(x);
		free(xp);
		free(tile);
	}
}

int main(void)
{
	test_rng_seed(0x2545f4914f6cdd1dULL);
	if (kern_set_isa("avx2")) {
		printf("no AVX2 on this CPU: skipped\n");
		return 0;
	}
	RUN(test_gemv_int);
	RUN(test_gemv_float);
	RUN(test_gemv_extremes);
	return test_summary();
}

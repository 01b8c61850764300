/*
 * test_kern.c: tensor-type kernels.
 *
 * - Known answers: hand-built blocks, written bit by bit from the GGUF
 *   layout description, dequantize to known values (a layout mistake cannot
 *   hide behind a quantizer and a dequantizer that agree with each other).
 * - Quantize -> dequantize error bounds per type.
 * - Reference dot products equal the dot of the dequantized vectors.
 * - Every ISA's unpack, pack and dot tiles equal the scalar twin bit for bit,
 *   on random shapes with ragged tails; fast vec dots stay near the reference.
 * - kern_matmul: identical for 1, 2, 3 and 4 threads, a batch row equals the
 *   same row alone, every ISA equals the scalar twin, and all stay within a
 *   stated tolerance of the reference (GGUF-semantics) dot products.
 */
#include "core/core.h"
#include "infer/kern.h"
#include "infer/kern_impl.h"
#include "infer/pool.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* roughly normal, with some outliers as real weights and activations have */
static float rnd_normal(void)
{
	float s = 0;
	for (int i = 0; i < 4; i++)
		s += (float)test_rnd32() / 4294967296.0f - 0.5f;
	if (test_rnd_int(64) == 0)
		s *= 6;
	return s * 1.7f;
}

static void fill(float *x, int64_t n, float scale)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = rnd_normal() * scale;
}

static const uint32_t types[] = {TENSOR_F32,  TENSOR_F16,  TENSOR_BF16, TENSOR_Q4_0,
                                 TENSOR_Q4_1, TENSOR_Q5_0, TENSOR_Q5_1, TENSOR_Q8_0,
                                 TENSOR_Q4_K, TENSOR_Q5_K, TENSOR_Q6_K};

static size_t row_size(uint32_t t, int64_t n)
{
	size_t s = 0;
	if (tensor_row_size(t, n, &s))
		abort();
	return s;
}

static int64_t block_of(uint32_t t)
{
	return tensor_type_info(t)->block_size;
}

/* ---- known answers ------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void test_layout_q4_0(void)
{
	uint8_t b[18];
	float y[32];
	put16(b, 0x3800); /* d = 0.5 */
	for (int j = 0; j < 16; j++)
		b[2 + j] = (uint8_t)(j | ((15 - j) << 4));
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_Q4_0, b, y, 32), 0);
	for (int j = 0; j < 16; j++) {
		CHECK(y[j] == (float)(j - 8) * 0.5f);
		CHECK(y[j + 16] == (float)(7 - j) * 0.5f);
	}
}

static void test_layout_q4_1(void)
{
	uint8_t b[20];
	float y[32];
	put16(b, 0x4000); /* d = 2 */
	put16(b + 2, 0xbc00); /* m = -1 */
	for (int j = 0; j < 16; j++)
		b[4 + j] = (uint8_t)((j % 3) | ((j % 5) << 4));
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_Q4_1, b, y, 32), 0);
	for (int j = 0; j < 16; j++) {
		CHECK(y[j] == 2.f * (float)(j % 3) - 1.f);
		CHECK(y[j + 16] == 2.f * (float)(j % 5) - 1.f);
	}
}

static void test_layout_q5(void)
{
	uint8_t b0[22], b1[24];
	float y[32];
	/* q5_0: d = 1; nibbles all 3; fifth bits set for elements 1 and 17 (qh bits 1, 17) */
	put16(b0, 0x3c00);
	memset(b0 + 2, 0, 4);
	b0[2 + 0] = 0x02;
	b0[2 + 2] = 0x02;
	memset(b0 + 6, 0x33, 16);
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_Q5_0, b0, y, 32), 0);
	for (int j = 0; j < 32; j++)
		CHECK(y[j] == (float)((j == 1 || j == 17 ? 19 : 3) - 16));
	/* q5_1: d = 0.25, m = 4, element 31 has the fifth bit (qh byte 3 bit 7) */
	put16(b1, 0x3400);
	put16(b1 + 2, 0x4400);
	memset(b1 + 4, 0, 4);
	b1[4 + 3] = 0x80;
	for (int j = 0; j < 16; j++)
		b1[8 + j] = (uint8_t)(j | (j << 4));
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_Q5_1, b1, y, 32), 0);
	for (int j = 0; j < 16; j++) {
		CHECK(y[j] == 0.25f * (float)j + 4.f);
		CHECK(y[j + 16] == 0.25f * (float)(j + (j == 15 ? 16 : 0)) + 4.f);
	}
}

static void test_layout_q8(void)
{
	uint8_t b0[34], b1[36];
	float y[32];
	put16(b0, 0xc000); /* d = -2 */
	for (int j = 0; j < 32; j++)
		b0[2 + j] = (uint8_t)(int8_t)(j - 16);
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_Q8_0, b0, y, 32), 0);
	for (int j = 0; j < 32; j++)
		CHECK(y[j] == -2.f * (float)(j - 16));
	put16(b1, 0x3c00); /* d = 1 */
	put16(b1 + 2, 0x5000); /* s = 32 (ignored by dequantization) */
	for (int j = 0; j < 32; j++)
		b1[4 + j] = (uint8_t)(int8_t)(100 - 7 * j);
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_Q8_1, b1, y, 32), 0);
	for (int j = 0; j < 32; j++)
		CHECK(y[j] == (float)(int8_t)(100 - 7 * j));
}

/* Q4_K / Q5_K scales: bytes 0-3 scales 0-3 (low 6 bits), bytes 4-7 mins 0-3,
 * bytes 8-11 low nibble = scale 4-7 low 4 bits, high nibble = min 4-7 low 4
 * bits, the top 2 bits of bytes 0-3 / 4-7 the high bits of scale / min 4-7. */
static void put_scales_k(uint8_t s[12], const int *sc, const int *m)
{
	memset(s, 0, 12);
	for (int j = 0; j < 4; j++) {
		s[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
		s[j + 4] = (uint8_t)(m[j] | ((m[j + 4] >> 4) << 6));
		s[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
	}
}

static void test_layout_q4_k(void)
{
	uint8_t b[144];
	float y[256];
	const int sc[8] = {1, 2, 3, 63, 17, 33, 48, 5}, m[8] = {0, 1, 62, 9, 20, 63, 35, 7};
	put16(b, 0x3800); /* d = 0.5 */
	put16(b + 2, 0x3400); /* dmin = 0.25 */
	put_scales_k(b + 4, sc, m);
	/* 64-element chunk c: bytes 32c..32c+31, low nibbles = elements 64c+l,
	 * high nibbles = elements 64c+32+l (sub-blocks 2c and 2c+1) */
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++)
			b[16 + 32 * c + l] = (uint8_t)(((l + c) & 15) | (((3 * l + c) & 15) << 4));
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_Q4_K, b, y, 256), 0);
	for (int e = 0; e < 256; e++) {
		const int c = e / 64, l = e % 32, j = e / 32;
		const int q = (e % 64) < 32 ? (l + c) & 15 : (3 * l + c) & 15;
		CHECK(y[e] == 0.5f * (float)sc[j] * (float)q - 0.25f * (float)m[j]);
	}
}

static void test_layout_q5_k(void)
{
	uint8_t b[176];
	float y[256];
	const int sc[8] = {4, 8, 12, 16, 20, 24, 28, 32}, m[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	put16(b, 0x3c00); /* d = 1 */
	put16(b + 2, 0x3c00); /* dmin = 1 */
	put_scales_k(b + 4, sc, m);
	/* qh[l] bit j is the fifth bit of element 32j + l */
	for (int l = 0; l < 32; l++)
		b[16 + l] = (uint8_t)(l * 37);
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++)
			b[48 + 32 * c + l] = (uint8_t)((l & 15) | ((15 - (l & 15)) << 4));
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_Q5_K, b, y, 256), 0);
	for (int e = 0; e < 256; e++) {
		const int l = e % 32, j = e / 32;
		int q = (e % 64) < 32 ? (l & 15) : 15 - (l & 15);
		q += ((((uint8_t)(l * 37)) >> j) & 1) * 16;
		CHECK(y[e] == (float)sc[j] * (float)q - (float)m[j]);
	}
}

static void test_layout_q6_k(void)
{
	uint8_t b[210];
	float y[256];
	int level[256];
	/* element e = 128h + 32k + l: low 4 bits in ql[64h + 32(k&1) + l] (low
	 * nibble for k < 2, high for k >= 2), high 2 bits in qh[32h + l] bits
	 * 2k..2k+1; scale of e: scales[e / 16]; d at byte 208 */
	memset(b, 0, sizeof(b));
	for (int e = 0; e < 256; e++) {
		const int h = e / 128, k = (e % 128) / 32, l = e % 32;
		const int v = (e * 11 + 5) % 64;
		level[e] = v;
		b[64 * h + 32 * (k & 1) + l] |= (uint8_t)((v & 15) << (k < 2 ? 0 : 4));
		b[128 + 32 * h + l] |= (uint8_t)((v >> 4) << (2 * k));
	}
	for (int g = 0; g < 16; g++)
		b[192 + g] = (uint8_t)(int8_t)(g * 9 - 70);
	put16(b + 208, 0x3000); /* d = 0.125 */
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_Q6_K, b, y, 256), 0);
	for (int e = 0; e < 256; e++)
		CHECK(y[e] == 0.125f * (float)((e / 16) * 9 - 70) * (float)(level[e] - 32));
}

static void test_layout_q8_k_and_floats(void)
{
	struct blk_q8_k b;
	float y[256], x[256];
	b.d = 0.5f;
	for (int i = 0; i < 256; i++)
		b.qs[i] = (int8_t)(i - 128 == -128 ? -127 : i - 128);
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_Q8_K, &b, y, 256), 0);
	for (int i = 0; i < 256; i++)
		CHECK(y[i] == 0.5f * (float)b.qs[i]);
	/* Q8_K quantization: bsums are the sums of 16 */
	for (int i = 0; i < 256; i++)
		x[i] = (float)(i % 17) - 8.f;
	CHECK_EQ_INT(kern_quantize_row(TENSOR_Q8_K, x, &b, 256), 0);
	for (int g = 0; g < 16; g++) {
		int s = 0;
		for (int i = 0; i < 16; i++)
			s += b.qs[16 * g + i];
		CHECK_EQ_INT(b.bsums[g], s);
	}
	const uint16_t h[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_F16, h, y, 4), 0);
	CHECK(y[0] == 1.f && y[1] == -2.f && y[2] == 65504.f && y[3] == 5.9604644775390625e-8f);
	const uint16_t bf[2] = {0x3f80, 0xc0a0};
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_BF16, bf, y, 2), 0);
	CHECK(y[0] == 1.f && y[1] == -5.f);
	CHECK_EQ_INT(kern_quantize_row(TENSOR_Q4_0, x, y, 33), HD_EINVAL);
	CHECK_EQ_INT(kern_dequantize_row(TENSOR_Q4_K, y, x, 128), HD_EINVAL);
	CHECK_EQ_INT(kern_quantize_row(TENSOR_Q2_K, x, y, 256), HD_EINVAL);
}

/* ---- quantization error ---------------------------------------------------- */

static void test_roundtrip_bounds(void)
{
	struct {
		uint32_t t;
		double bound; /* max RMS error / RMS of the data */
	} cases[] = {
	        /* measured on this data (with 1/64 outliers at 6x): f16 0.0002, bf16
		 * 0.0016, q8_0 0.0074, q8_K 0.0147, q5_0 0.059, q5_1 0.044, q4_0
		 * 0.119, q4_1 0.089, q4_K 0.083, q5_K 0.043, q6_K 0.023 */
	        {TENSOR_F16, 0.0003}, {TENSOR_BF16, 0.002}, {TENSOR_Q8_0, 0.008},
	        {TENSOR_Q8_1, 0.008}, {TENSOR_Q8_K, 0.016}, {TENSOR_Q5_0, 0.065},
	        {TENSOR_Q5_1, 0.048}, {TENSOR_Q4_0, 0.13},  {TENSOR_Q4_1, 0.098},
	        {TENSOR_Q4_K, 0.09},  {TENSOR_Q5_K, 0.047}, {TENSOR_Q6_K, 0.025},
	};
	const int64_t n = 4096;
	float *x = xmalloc(sizeof(float) * n), *y = xmalloc(sizeof(float) * n);
	void *q = xmalloc(row_size(TENSOR_F32, n));

	fill(x, n, 0.05f);
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		CHECK_EQ_INT(kern_quantize_row(cases[c].t, x, q, n), 0);
		CHECK_EQ_INT(kern_dequantize_row(cases[c].t, q, y, n), 0);
		double e2 = 0, x2 = 0;
		for (int64_t i = 0; i < n; i++) {
			e2 += (double)(x[i] - y[i]) * (x[i] - y[i]);
			x2 += (double)x[i] * x[i];
		}
		const double rel = sqrt(e2 / x2);
		if (rel > cases[c].bound || getenv("TEST_VERBOSE"))
			fprintf(stderr, "%s: relative rms error %.5f > %.5f\n",
			        tensor_type_info(cases[c].t)->name, rel, cases[c].bound);
		CHECK(rel <= cases[c].bound);
	}
	/* all-zero and constant rows survive every type */
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		for (int64_t i = 0; i < 256; i++)
			x[i] = c % 2 ? 0.f : -0.75f;
		CHECK_EQ_INT(kern_quantize_row(cases[c].t, x, q, 256), 0);
		CHECK_EQ_INT(kern_dequantize_row(cases[c].t, q, y, 256), 0);
		for (int64_t i = 0; i < 256; i++)
			CHECK(fabsf(y[i] - x[i]) <= 0.01f);
	}
	free(x);
	free(y);
	free(q);
}

/* ---- reference dots agree with the dequantized values --------------------- */

static void test_ref_dot_semantics(void)
{
	const int64_t n = 1024;
	float *w = xmalloc(4 * n), *x = xmalloc(4 * n), *wd = xmalloc(4 * n), *xd = xmalloc(4 * n);
	void *wq = xmalloc(4 * n), *xq = xmalloc(4 * n);

	for (size_t ti = 0; ti < ARRAY_SIZE(types); ti++) {
		const uint32_t t = types[ti], vt = kern_vec_dot_type(t);
		fill(w, n, 0.1f);
		fill(x, n, 1.f);
		CHECK_EQ_INT(kern_quantize_row(t, w, wq, n), 0);
		CHECK_EQ_INT(kern_quantize_row(vt, x, xq, n), 0);
		CHECK_EQ_INT(kern_dequantize_row(t, wq, wd, n), 0);
		CHECK_EQ_INT(kern_dequantize_row(vt, xq, xd, n), 0);
		double want = 0, mag = 0;
		for (int64_t i = 0; i < n; i++) {
			want += (double)wd[i] * xd[i];
			mag += fabs((double)wd[i] * xd[i]);
		}
		float got;
		kern_vec_dot(t, 1)(n, &got, wq, xq);
		const double err = fabs(got - want);
		/* Q4_1/Q5_1 use the fp16 block sum s of Q8_1: up to 2^-11 of each block's term */
		const double tol = (vt == TENSOR_Q8_1 ? 2e-3 : 1e-5) * mag + 1e-6;
		if (err > tol)
			fprintf(stderr, "%s: ref dot %.6f, dequantized %.6f\n",
			        tensor_type_info(t)->name, got, want);
		CHECK(err <= tol);
	}
	free(w);
	free(x);
	free(wd);
	free(xd);
	free(wq);
	free(xq);
}

/* ---- packed kernels: every ISA equals the scalar twin --------------------- */

static const char *isas[] = {"scalar", "avx2", "avx512"};

static int64_t random_k(uint32_t t)
{
	const int64_t b = block_of(t);
	if (b == 1)
		return 1 + test_rnd_int(300);
	if (b == 32)
		return 32 * (1 + test_rnd_int(40));
	return 256 * (1 + test_rnd_int(5));
}

/* A random slicing of [0, kend) on multiples of step, run through tile. */
static void run_sliced(kern_tile_fn tile, int mr, int nr, const struct kern_shape *sh,
                       const uint8_t *w, const uint8_t *x, int64_t step, int64_t kend, float *acc,
                       int64_t ldacc, float *out, size_t wblk)
{
	struct kern_span sp = {0, 0, 1, 0, acc, ldacc};
	while (sp.k0 < kend) {
		sp.k1 = sp.k0 + step * (1 + test_rnd_int(3));
		if (sp.k1 > kend)
			sp.k1 = kend;
		sp.last = sp.k1 == kend;
		/* int path: the tile slice starts at the span's first block */
		tile(mr, nr, sh, w + wblk * (size_t)(sp.k0 / step), x, &sp, out, mr);
		sp.k0 = sp.k1;
		sp.first = 0;
	}
}

static void test_packed_twins(void)
{
	const struct kern_isa_ops *ops[3] = {&kern_ops_scalar, &kern_ops_avx2, &kern_ops_avx512};
	int avail[3] = {1, 0, 0};
	for (int k = 1; k < 3; k++)
		if (kern_set_isa(isas[k]) == 0)
			avail[k] = 1;
	if (kern_set_isa("avx512"))
		kern_set_isa("avx2");

	for (int iter = 0; iter < 12; iter++)
		for (size_t ti = 0; ti < ARRAY_SIZE(types); ti++) {
			const uint32_t t = types[ti];
			struct kern_shape sh;
			const int64_t k = random_k(t);
			const int nr = 1 + test_rnd_int(11);
			CHECK_EQ_INT(kern_shape_init(&sh, t, k), 0);
			const int is_int = sh.path == KERN_PATH_INT;
			const size_t rs = row_size(t, k);
			const int max_rows = 16;
			float *w = xmalloc(sizeof(float) * (size_t)(k * max_rows));
			float *x = xmalloc(sizeof(float) * (size_t)(k * nr));
			uint8_t *wq = xmalloc(rs * (size_t)max_rows);
			uint8_t *xp_ref = xmalloc(sh.stride * (size_t)nr);
			float ref[16 * 12], out[16 * 12], sliced[16 * 12];
			float *acc = xmalloc(sizeof(float) * 16 * 16 * 12);

			fill(w, k * max_rows, 0.1f);
			fill(x, k * nr, 1.f);
			for (int i = 0; i < max_rows; i++)
				kern_quantize_row(t, w + i * k, wq + rs * (size_t)i, k);
			for (int j = 0; j < nr; j++)
				kern_pack_scalar(t, x + j * k, &sh, xp_ref + sh.stride * (size_t)j);
			/* the reference: the scalar twin with R = 4 (int) or row by row */
			const int mr_ref = 1 + test_rnd_int(max_rows);
			if (is_int) {
				const size_t ts = kern_tile_size(&sh, 4);
				uint8_t *tile = xmalloc(ts * 4);
				for (int i = 0; i < mr_ref; i += 4) {
					const int n = mr_ref - i < 4 ? mr_ref - i : 4;
					kern_unpack_tile_scalar(t, wq + rs * (size_t)i, rs, n, 4,
					                        &sh, 0, sh.nb, tile);
					kern_tile_int_scalar(4, n, nr, &sh, tile, xp_ref, NULL,
					                     ref + i, mr_ref);
				}
				free(tile);
			} else {
				uint8_t *rows = xmalloc(sh.stride * (size_t)mr_ref);
				for (int i = 0; i < mr_ref; i++)
					kern_unpack_scalar(t, wq + rs * (size_t)i, &sh,
					                   rows + sh.stride * (size_t)i);
				kern_ops_scalar.tile_float(mr_ref, nr, &sh, rows, xp_ref, NULL, ref,
				                           mr_ref);
				free(rows);
			}

			for (int s = 1; s < 3; s++) {
				if (!avail[s])
					continue;
				const struct kern_isa_ops *o = ops[s];
				const int R = is_int ? o->rows : max_rows;
				/* often a full tile (the SIMD unpacker), sometimes a short one */
				const int mr = is_int && test_rnd_int(3) ? (R < mr_ref ? R : mr_ref)
				                                         : mr_ref;
				if (is_int && mr > R)
					continue;
				uint8_t *xp = xmalloc(sh.stride * (size_t)nr);
				memset(xp, 0x5a,
				       sh.stride * (size_t)nr); /* packers write every byte */
				for (int j = 0; j < nr; j++)
					o->pack[t](x + j * k, &sh, xp + sh.stride * (size_t)j);
				const int same_x = !memcmp(xp, xp_ref, sh.stride * (size_t)nr);
				int same_w = 1;
				uint8_t *wt;
				if (is_int) {
					const size_t ts = kern_tile_size(&sh, R);
					uint8_t *want = xmalloc(ts);
					wt = xmalloc(ts);
					memset(wt, 0xa5, ts);
					o->unpack_tile[t](wq, rs, mr, &sh, 0, sh.nb, wt, wq, rs);
					kern_unpack_tile_scalar(t, wq, rs, mr, R, &sh, 0, sh.nb,
					                        want);
					same_w = !memcmp(wt, want, ts);
					/* a slice of the blocks, on 256-element bounds, lands in
					 * the same bytes as in the whole tile */
					const int64_t per = KERN_SLICE / sh.group,
					              n_sl = sh.nb / per;
					if (n_sl > 0) {
						const int64_t s0 = test_rnd_int((int)n_sl),
						              s1 = s0 + 1 +
						                   test_rnd_int((int)(n_sl - s0));
						const size_t wb = kern_wblk(&sh, R);
						uint8_t *part =
						        xmalloc(wb * (size_t)((s1 - s0) * per));
						o->unpack_tile[t](wq, rs, mr, &sh, s0 * per,
						                  s1 * per, part, NULL, 0);
						same_w &=
						        !memcmp(part, wt + wb * (size_t)(s0 * per),
						                wb * (size_t)((s1 - s0) * per));
						free(part);
					}
					free(want);
				} else {
					wt = xmalloc(sh.stride * (size_t)mr);
					for (int i = 0; i < mr; i++) {
						uint8_t *want = xmalloc(sh.stride);
						memset(wt + sh.stride * (size_t)i, 0xa5, sh.stride);
						o->unpack[t](wq + rs * (size_t)i, &sh,
						             wt + sh.stride * (size_t)i);
						kern_unpack_scalar(t, wq + rs * (size_t)i, &sh,
						                   want);
						same_w &= !memcmp(wt + sh.stride * (size_t)i, want,
						                  sh.stride);
						free(want);
					}
				}
				const kern_tile_fn tile = is_int ? o->tile_int : o->tile_float;
				tile(mr, nr, &sh, wt, xp, NULL, out, mr);
				run_sliced(tile, mr, nr, &sh, wt, xp, is_int ? sh.group : 16,
				           is_int ? sh.k : sh.kp, acc, mr, sliced,
				           is_int ? kern_wblk(&sh, R) : 0);
				int same_o = 1, same_s = 1;
				for (int j = 0; j < nr; j++) {
					same_o &= !memcmp(out + j * mr, ref + j * mr_ref,
					                  sizeof(float) * (size_t)mr);
					same_s &= !memcmp(sliced + j * mr, out + j * mr,
					                  sizeof(float) * (size_t)mr);
				}
				if (!same_w || !same_x || !same_o || !same_s)
					fprintf(stderr,
					        "%s %s k=%lld %dx%d: unpack %d pack %d tile %d "
					        "sliced %d\n",
					        isas[s], tensor_type_info(t)->name, (long long)k,
					        mr, nr, same_w, same_x, same_o, same_s);
				CHECK(same_w);
				CHECK(same_x);
				CHECK(same_o);
				CHECK(same_s);
				free(wt);
				free(xp);
			}
			free(w);
			free(x);
			free(wq);
			free(xp_ref);
			free(acc);
		}
}

/* Fast vec dots (any ISA) against the reference, on GGUF-layout inputs. */
static void test_vec_dots(void)
{
	for (int s = 0; s < 3; s++) {
		if (kern_set_isa(isas[s]))
			continue;
		for (int iter = 0; iter < 10; iter++)
			for (size_t ti = 0; ti < ARRAY_SIZE(types); ti++) {
				const uint32_t t = types[ti], vt = kern_vec_dot_type(t);
				int64_t n = random_k(t);
				if (iter == 0 && block_of(t) > 1)
					n = block_of(t) *
					    (2048 / block_of(t) + 1); /* over one segment */
				float *w = xmalloc(4 * (size_t)n), *x = xmalloc(4 * (size_t)n);
				void *wq = xmalloc(row_size(TENSOR_F32, n)),
				     *xq = xmalloc(row_size(TENSOR_F32, n));
				float *wd = xmalloc(4 * (size_t)n), *xd = xmalloc(4 * (size_t)n);
				fill(w, n, 0.1f);
				fill(x, n, 1.f);
				kern_quantize_row(t, w, wq, n);
				kern_quantize_row(vt, x, xq, n);
				kern_dequantize_row(t, wq, wd, n);
				kern_dequantize_row(vt, xq, xd, n);
				double mag = 0;
				for (int64_t i = 0; i < n; i++)
					mag += fabs((double)wd[i] * xd[i]);
				float a, b;
				kern_vec_dot(t, 1)(n, &a, wq, xq);
				kern_vec_dot(t, 0)(n, &b, wq, xq);
				const double tol = (vt == TENSOR_Q8_1 ? 2e-3 : 2e-5) * mag + 1e-6;
				if (fabs(a - b) > tol)
					fprintf(stderr, "%s %s n=%lld: ref %.7g fast %.7g\n",
					        isas[s], tensor_type_info(t)->name, (long long)n, a,
					        b);
				CHECK(fabs(a - b) <= tol);
				/* a quantized fast dot is the matmul's number for that row */
				if (s > 0 && block_of(t) > 1) {
					struct pool *p1 = pool_new(1);
					float m;
					void *scr = xmalloc(kern_matmul_scratch_size(t, n, 1));
					kern_matmul(p1, t, wq, 1, n, x, 1, &m, scr);
					if (memcmp(&m, &b, sizeof(m)))
						fprintf(stderr,
						        "%s %s n=%lld: fast dot %.9g matmul %.9g\n",
						        isas[s], tensor_type_info(t)->name,
						        (long long)n, b, m);
					CHECK(!memcmp(&m, &b, sizeof(m)));
					free(scr);
					pool_free(p1);
				}
				free(w);
				free(x);
				free(wq);
				free(xq);
				free(wd);
				free(xd);
			}
	}
	if (kern_set_isa("avx512"))
		kern_set_isa("avx2");
}

/* ---- matmul ---------------------------------------------------------------- */

struct mm_case {
	uint32_t t;
	int64_t n_rows, n_cols, n_tok;
	void *w;
	float *x;
};

static float *run_matmul(struct pool *p, const struct mm_case *c, int64_t n_tok, const float *x)
{
	float *out = xmalloc(sizeof(float) * (size_t)(c->n_rows * n_tok));
	const size_t ss = kern_matmul_scratch_size(c->t, c->n_cols, n_tok);
	CHECK(ss > 0);
	void *scratch = xmalloc(ss + 1);
	/* an odd scratch address: kern_matmul aligns it itself */
	kern_matmul(p, c->t, c->w, c->n_rows, c->n_cols, x, n_tok, out, (uint8_t *)scratch + 1);
	free(scratch);
	return out;
}

static void test_matmul(void)
{
	struct pool *pools[4];
	for (int i = 0; i < 4; i++)
		pools[i] = pool_new(i + 1);

	for (int iter = 0; iter < 4; iter++)
		for (size_t ti = 0; ti < ARRAY_SIZE(types); ti++) {
			struct mm_case c;
			c.t = types[ti];
			c.n_rows = 1 + test_rnd_int(37);
			c.n_cols = random_k(c.t);
			c.n_tok = 1 + test_rnd_int(17);
			const size_t rs = row_size(c.t, c.n_cols);
			float *wf = xmalloc(sizeof(float) * (size_t)(c.n_rows * c.n_cols));
			c.x = xmalloc(sizeof(float) * (size_t)(c.n_tok * c.n_cols));
			c.w = xmalloc(rs * (size_t)c.n_rows);
			fill(wf, c.n_rows * c.n_cols, 0.1f);
			fill(c.x, c.n_tok * c.n_cols, 1.f);
			for (int64_t i = 0; i < c.n_rows; i++)
				kern_quantize_row(c.t, wf + i * c.n_cols,
				                  (uint8_t *)c.w + rs * (size_t)i, c.n_cols);

			/* the reference: GGUF-semantics dots on the quantized activations */
			const uint32_t vt = kern_vec_dot_type(c.t);
			const size_t xs = row_size(vt, c.n_cols);
			uint8_t *xq = xmalloc(xs);
			float *wd = xmalloc(sizeof(float) * (size_t)c.n_cols);
			float *xd = xmalloc(sizeof(float) * (size_t)c.n_cols);
			float *ref = xmalloc(sizeof(float) * (size_t)(c.n_rows * c.n_tok));
			double *mag = xmalloc(sizeof(double) * (size_t)(c.n_rows * c.n_tok));
			for (int64_t j = 0; j < c.n_tok; j++) {
				kern_quantize_row(vt, c.x + j * c.n_cols, xq, c.n_cols);
				kern_dequantize_row(vt, xq, xd, c.n_cols);
				for (int64_t i = 0; i < c.n_rows; i++) {
					kern_vec_dot(c.t, 1)(c.n_cols, &ref[j * c.n_rows + i],
					                     (uint8_t *)c.w + rs * (size_t)i, xq);
					kern_dequantize_row(c.t, (uint8_t *)c.w + rs * (size_t)i,
					                    wd, c.n_cols);
					double m = 0;
					for (int64_t e = 0; e < c.n_cols; e++)
						m += fabs((double)wd[e] * xd[e]);
					mag[j * c.n_rows + i] = m;
				}
			}

			float *base = NULL;
			for (int s = 0; s < 3; s++) {
				if (kern_set_isa(isas[s]))
					continue;
				float *first = NULL;
				for (int th = 0; th < 4; th++) {
					float *o = run_matmul(pools[th], &c, c.n_tok, c.x);
					if (!first) {
						first = o;
						continue;
					}
					const int same = !memcmp(
					        first, o,
					        sizeof(float) * (size_t)(c.n_rows * c.n_tok));
					if (!same)
						fprintf(stderr, "%s %s: %d threads differ from 1\n",
						        isas[s], tensor_type_info(c.t)->name,
						        th + 1);
					CHECK(same);
					free(o);
				}
				/* each batch row alone gives the same bits */
				for (int64_t j = 0; j < c.n_tok; j += 1 + c.n_tok / 3) {
					float *o = run_matmul(pools[1], &c, 1, c.x + j * c.n_cols);
					CHECK(!memcmp(o, first + j * c.n_rows,
					              sizeof(float) * (size_t)c.n_rows));
					free(o);
				}
				/* near the reference */
				for (int64_t e = 0; e < c.n_rows * c.n_tok; e++) {
					const double tol =
					        (vt == TENSOR_Q8_1 ? 2e-3 : 2e-5) * mag[e] + 1e-6;
					if (fabs(first[e] - ref[e]) > tol) {
						fprintf(stderr,
						        "%s %s [%lld]: %.7g vs ref %.7g (tol "
						        "%.3g)\n",
						        isas[s], tensor_type_info(c.t)->name,
						        (long long)e, first[e], ref[e], tol);
						CHECK(0);
						break;
					}
				}
				/* every ISA equals the scalar twin */
				if (!base) {
					base = first;
				} else {
					CHECK(!memcmp(base, first,
					              sizeof(float) *
					                      (size_t)(c.n_rows * c.n_tok)));
					free(first);
				}
			}
			free(base);
			free(wf);
			free(c.x);
			free(c.w);
			free(xq);
			free(wd);
			free(xd);
			free(ref);
			free(mag);
		}
	for (int i = 0; i < 4; i++)
		pool_free(pools[i]);
	if (kern_set_isa("avx512"))
		kern_set_isa("avx2");
}

/* Long rows with a batch take the k-sliced (cache-blocked) paths: each row
 * of the batch must still equal the same row alone (which is not sliced).
 * The batch sizes cover the fused decode kernel with its sums in registers
 * (4) and in memory (12), the decode path past the fused kernel's limit
 * (33: a tile unpacked a slice at a time) and the prompt path (40). */
static void test_matmul_sliced(void)
{
	const uint32_t ts[] = {TENSOR_Q8_0, TENSOR_Q4_0, TENSOR_Q4_K,
	                       TENSOR_Q6_K, TENSOR_F16,  TENSOR_F32};
	const int64_t n_toks[] = {4, 12, 33, 40};
	struct pool *p = pool_new(2);
	for (int s = 0; s < 3; s++) {
		if (kern_set_isa(isas[s]))
			continue;
		for (size_t ti = 0; ti < ARRAY_SIZE(ts) * ARRAY_SIZE(n_toks); ti++) {
			struct mm_case c;
			c.t = ts[ti / ARRAY_SIZE(n_toks)];
			c.n_rows =
			        21; /* a full tile (the fused generation kernel) and a short one */
			c.n_cols = block_of(c.t) == 256  ? 256 * 9
			           : block_of(c.t) == 32 ? 32 * 69
			                                 : 1100;
			c.n_tok = n_toks[ti % ARRAY_SIZE(n_toks)];
			const size_t rs = row_size(c.t, c.n_cols);
			float *wf = xmalloc(sizeof(float) * (size_t)(c.n_rows * c.n_cols));
			c.x = xmalloc(sizeof(float) * (size_t)(c.n_tok * c.n_cols));
			c.w = xmalloc(rs * (size_t)c.n_rows);
			fill(wf, c.n_rows * c.n_cols, 0.1f);
			fill(c.x, c.n_tok * c.n_cols, 1.f);
			for (int64_t i = 0; i < c.n_rows; i++)
				kern_quantize_row(c.t, wf + i * c.n_cols,
				                  (uint8_t *)c.w + rs * (size_t)i, c.n_cols);
			float *all = run_matmul(p, &c, c.n_tok, c.x);
			for (int64_t j = 0; j < c.n_tok; j++) {
				float *o = run_matmul(p, &c, 1, c.x + j * c.n_cols);
				const int same = !memcmp(o, all + j * c.n_rows,
				                         sizeof(float) * (size_t)c.n_rows);
				if (!same)
					fprintf(stderr,
					        "%s %s: sliced batch of %lld, row %lld differs\n",
					        isas[s], tensor_type_info(c.t)->name,
					        (long long)c.n_tok, (long long)j);
				CHECK(same);
				free(o);
			}
			free(all);
			free(wf);
			free(c.x);
			free(c.w);
		}
	}
	pool_free(p);
	if (kern_set_isa("avx512"))
		kern_set_isa("avx2");
}

/* Several matrices with one input: the same bits as one call each. */
static void test_matmul_multi(void)
{
	const uint32_t ts[] = {TENSOR_Q4_K, TENSOR_Q6_K, TENSOR_Q4_K,
	                       TENSOR_F16,  TENSOR_Q8_0, TENSOR_Q5_K};
	const int64_t rows[] = {33, 16, 7, 12, 40, 1};
	const int n_mat = (int)ARRAY_SIZE(ts);
	const int64_t n_cols = 512;
	struct kern_mat m[8];
	void *w[8];
	float *alone[8];
	for (int i = 0; i < n_mat; i++) {
		const size_t rs = row_size(ts[i], n_cols);
		float *wf = xmalloc(sizeof(float) * (size_t)(rows[i] * n_cols));
		fill(wf, rows[i] * n_cols, 0.1f);
		w[i] = xmalloc(rs * (size_t)rows[i]);
		for (int64_t r = 0; r < rows[i]; r++)
			kern_quantize_row(ts[i], wf + r * n_cols, (uint8_t *)w[i] + rs * (size_t)r,
			                  n_cols);
		free(wf);
	}
	for (int nt = 0; nt < 2; nt++) {
		const int64_t n_tok = nt ? 6 : 1;
		float *x = xmalloc(sizeof(float) * (size_t)(n_tok * n_cols));
		fill(x, n_tok * n_cols, 1.f);
		for (int th = 1; th <= 3; th++) {
			struct pool *p = pool_new(th);
			size_t sum = 0;
			for (int i = 0; i < n_mat; i++) {
				struct mm_case c = {ts[i], rows[i], n_cols, n_tok, w[i], x};
				alone[i] = run_matmul(p, &c, n_tok, x);
				m[i] = (struct kern_mat){
				        ts[i], w[i], rows[i],
				        xmalloc(sizeof(float) * (size_t)(rows[i] * n_tok))};
				sum += kern_matmul_scratch_size(ts[i], n_cols, n_tok);
			}
			const size_t ss = kern_matmul_multi_scratch_size(m, n_mat, n_cols, n_tok);
			CHECK(ss > 0 && ss < sum); /* the two Q4_K (and Q5_K) share one packing */
			void *scratch = xmalloc(ss);
			kern_matmul_multi(p, m, n_mat, n_cols, x, n_tok, scratch);
			for (int i = 0; i < n_mat; i++) {
				CHECK(!memcmp(m[i].out, alone[i],
				              sizeof(float) * (size_t)(rows[i] * n_tok)));
				free(m[i].out);
				free(alone[i]);
			}
			free(scratch);
			pool_free(p);
		}
		free(x);
	}
	for (int i = 0; i < n_mat; i++)
		free(w[i]);
	CHECK_EQ_INT(kern_matmul_multi_scratch_size(m, 0, n_cols, 1), 0);
	CHECK_EQ_INT(kern_matmul_multi_scratch_size(m, KERN_MULTI_MAX + 1, n_cols, 1), 0);
}

static void test_matmul_bad_args(void)
{
	struct pool *p = pool_new(2);
	float x[64] = {0}, out[4];
	uint8_t w[256] = {0}, scratch[4096];
	CHECK_EQ_INT(kern_matmul_scratch_size(TENSOR_Q4_0, 33, 1), 0);
	CHECK_EQ_INT(kern_matmul_scratch_size(TENSOR_Q2_K, 256, 1), 0);
	CHECK_EQ_INT(kern_matmul_scratch_size(TENSOR_F16, 64, 0), 0);
	kern_matmul(p, TENSOR_Q4_0, w, 2, 33, x, 2, out, scratch);
	for (int i = 0; i < 4; i++)
		CHECK(isnan(out[i]));
	CHECK(!kern_supported(TENSOR_Q8_K) && !kern_supported(TENSOR_I8) && !kern_supported(99));
	CHECK(kern_vec_dot(TENSOR_Q8_1, 0) == NULL);
	CHECK_EQ_INT(kern_vec_dot_type(TENSOR_Q4_1), TENSOR_Q8_1);
	CHECK_EQ_INT(kern_vec_dot_type(TENSOR_Q6_K), TENSOR_Q8_K);
	CHECK_EQ_INT(kern_set_isa("neon"), HD_EUNSUPPORTED);
	pool_free(p);
}

int main(void)
{
	RUN(test_layout_q4_0);
	RUN(test_layout_q4_1);
	RUN(test_layout_q5);
	RUN(test_layout_q8);
	RUN(test_layout_q4_k);
	RUN(test_layout_q5_k);
	RUN(test_layout_q6_k);
	RUN(test_layout_q8_k_and_floats);
	RUN(test_roundtrip_bounds);
	RUN(test_ref_dot_semantics);
	RUN(test_packed_twins);
	RUN(test_vec_dots);
	RUN(test_matmul);
	RUN(test_matmul_sliced);
	RUN(test_matmul_multi);
	RUN(test_matmul_bad_args);
	printf("kernels: %s\n", kern_isa());
	return test_summary();
}

/*
 * kern_avx2.c: the AVX2 + FMA + F16C kernels, compiled per function with a
 * target attribute so the build stays generic x86-64; kern.c only calls them
 * when the CPU has the features. The unpackers here are also used by the
 * AVX-512 ops (they are bound by memory, not by vector width).
 *
 * Each computes exactly what its scalar twin in kern.c computes (see
 * kern_impl.h for the packed layout and the order of operations).
 */
#include "infer/kern_impl.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

AVX2 INLINE float h2f(uint16_t h)
{
	return _cvtsh_ss(h);
}

AVX2 INLINE void fill8(float *p, float v)
{
	_mm256_storeu_ps(p, _mm256_set1_ps(v));
}

#define zero_tail kern_zero_tail

/* 16 bytes of nibbles -> 32 levels: low nibbles then high nibbles. */
AVX2 INLINE __m256i nibbles32(const uint8_t *qs)
{
	const __m128i v = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(15);
	const __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
	return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* Bit e of the 32-bit little-endian qh, as 0x10 or 0 in byte e. */
AVX2 INLINE __m256i highbits32(const uint8_t *qh)
{
	uint32_t h;
	memcpy(&h, qh, 4);
	const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
	                                       0x0101010101010101, 0x0000000000000000);
	const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
	__m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), shuf);
	v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bits), bits);
	return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

AVX2 void kern_unpack_avx2_F32(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	memcpy(out, row, (size_t)sh->k * 4);
	memset(out + 4 * sh->k, 0, sh->stride - 4 * (size_t)sh->k);
}

AVX2 void kern_unpack_avx2_F16(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	const uint16_t *h = row;
	float *f = kern_fptr(out);
	int64_t i = 0;
	for (; i + 8 <= sh->k; i += 8)
		_mm256_storeu_ps(f + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
	for (; i < sh->k; i++)
		f[i] = h2f(h[i]);
	memset(out + 4 * sh->k, 0, sh->stride - 4 * (size_t)sh->k);
}

AVX2 void kern_unpack_avx2_BF16(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	const uint16_t *h = row;
	float *f = kern_fptr(out);
	int64_t i = 0;
	for (; i + 8 <= sh->k; i += 8) {
		__m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
		_mm256_storeu_si256((__m256i *)(f + i), _mm256_slli_epi32(v, 16));
	}
	for (; i < sh->k; i++)
		f[i] = bf16_to_f32(h[i]);
	memset(out + 4 * sh->k, 0, sh->stride - 4 * (size_t)sh->k);
}

AVX2 void kern_unpack_avx2_Q4_0(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	const struct blk_q4_0 *x = row;
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	for (int64_t b = 0; b < sh->k / QK; b++) {
		const float d = h2f(x[b].d);
		_mm256_storeu_si256((__m256i *)(out + 32 * b), nibbles32(x[b].qs));
		fill8(s + 8 * b, d);
		g[b] = -8.f * d;
	}
	zero_tail(sh, out);
}

AVX2 void kern_unpack_avx2_Q4_1(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	const struct blk_q4_1 *x = row;
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	for (int64_t b = 0; b < sh->k / QK; b++) {
		_mm256_storeu_si256((__m256i *)(out + 32 * b), nibbles32(x[b].qs));
		fill8(s + 8 * b, h2f(x[b].d));
		g[b] = h2f(x[b].m);
	}
	zero_tail(sh, out);
}

AVX2 void kern_unpack_avx2_Q5_0(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	const struct blk_q5_0 *x = row;
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	for (int64_t b = 0; b < sh->k / QK; b++) {
		const float d = h2f(x[b].d);
		__m256i v = _mm256_or_si256(nibbles32(x[b].qs), highbits32(x[b].qh));
		_mm256_storeu_si256((__m256i *)(out + 32 * b), v);
		fill8(s + 8 * b, d);
		g[b] = -16.f * d;
	}
	zero_tail(sh, out);
}

AVX2 void kern_unpack_avx2_Q5_1(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	const struct blk_q5_1 *x = row;
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	for (int64_t b = 0; b < sh->k / QK; b++) {
		__m256i v = _mm256_or_si256(nibbles32(x[b].qs), highbits32(x[b].qh));
		_mm256_storeu_si256((__m256i *)(out + 32 * b), v);
		fill8(s + 8 * b, h2f(x[b].d));
		g[b] = h2f(x[b].m);
	}
	zero_tail(sh, out);
}

AVX2 void kern_unpack_avx2_Q8_0(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	const struct blk_q8_0 *x = row;
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	const __m256i flip = _mm256_set1_epi8((char)0x80);
	for (int64_t b = 0; b < sh->k / QK; b++) {
		const float d = h2f(x[b].d);
		__m256i v = _mm256_loadu_si256((const __m256i *)x[b].qs);
		_mm256_storeu_si256((__m256i *)(out + 32 * b), _mm256_xor_si256(v, flip));
		fill8(s + 8 * b, d);
		g[b] = -128.f * d;
	}
	zero_tail(sh, out);
}

AVX2 INLINE void unpack_k45(const void *row, const struct kern_shape *sh, uint8_t *out, int five)
{
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
	for (int64_t b = 0; b < sh->k / QK_K; b++) {
		const struct blk_q4_k *x4 = (const struct blk_q4_k *)row + b;
		const struct blk_q5_k *x5 = (const struct blk_q5_k *)row + b;
		const uint8_t *scales = five ? x5->scales : x4->scales;
		const uint8_t *qs = five ? x5->qs : x4->qs;
		const float d = h2f(five ? x5->d : x4->d), dmin = h2f(five ? x5->dmin : x4->dmin);
		const __m256i qh = five ? _mm256_loadu_si256((const __m256i *)x5->qh) : m4;
		uint8_t *q = out + QK_K * b;
		for (int c = 0; c < 4; c++) {
			const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
			__m256i lo = _mm256_and_si256(v, m4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
			if (five) {
				__m256i h0 = _mm256_and_si256(
				        _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c)), one);
				__m256i h1 = _mm256_and_si256(
				        _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c + 1)), one);
				lo = _mm256_or_si256(lo, _mm256_slli_epi16(h0, 4));
				hi = _mm256_or_si256(hi, _mm256_slli_epi16(h1, 4));
			}
			_mm256_storeu_si256((__m256i *)(q + 64 * c), lo);
			_mm256_storeu_si256((__m256i *)(q + 64 * c + 32), hi);
		}
		for (int j = 0; j < 8; j++) {
			uint8_t sc, m;
			kern_scale_min_k4(j, scales, &sc, &m);
			fill8(s + 64 * b + 8 * j, d * (float)sc);
			g[8 * b + j] = -(dmin * (float)m);
		}
	}
	zero_tail(sh, out);
}

AVX2 void kern_unpack_avx2_Q4_K(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	unpack_k45(row, sh, out, 0);
}

AVX2 void kern_unpack_avx2_Q5_K(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	unpack_k45(row, sh, out, 1);
}

AVX2 void kern_unpack_avx2_Q6_K(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
	for (int64_t b = 0; b < sh->k / QK_K; b++) {
		const struct blk_q6_k *x = (const struct blk_q6_k *)row + b;
		const float d = h2f(x->d);
		uint8_t *q = out + QK_K * b;
		for (int h = 0; h < 2; h++) {
			const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
			const __m256i l1 =
			        _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
			const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
			const __m256i h0 = _mm256_and_si256(qh, m3);
			const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(qh, 2), m3);
			const __m256i h2 = _mm256_and_si256(_mm256_srli_epi16(qh, 4), m3);
			const __m256i h3 = _mm256_and_si256(_mm256_srli_epi16(qh, 6), m3);
			uint8_t *qo = q + 128 * h;
			_mm256_storeu_si256((__m256i *)qo,
			                    _mm256_or_si256(_mm256_and_si256(l0, m4),
			                                    _mm256_slli_epi16(h0, 4)));
			_mm256_storeu_si256((__m256i *)(qo + 32),
			                    _mm256_or_si256(_mm256_and_si256(l1, m4),
			                                    _mm256_slli_epi16(h1, 4)));
			_mm256_storeu_si256(
			        (__m256i *)(qo + 64),
			        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
			                        _mm256_slli_epi16(h2, 4)));
			_mm256_storeu_si256(
			        (__m256i *)(qo + 96),
			        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
			                        _mm256_slli_epi16(h3, 4)));
		}
		for (int j = 0; j < 16; j++) {
			const float ds = d * (float)x->scales[j];
			_mm_storeu_ps(s + 64 * b + 4 * j, _mm_set1_ps(ds));
			g[16 * b + j] = -32.f * ds;
		}
	}
	zero_tail(sh, out);
}

/* ---- tiles -------------------------------------------------------------- */

/* ((v[0..7] + v[8..15]) -> 4 -> 2 -> 1), as kern.c's hsum16. */
AVX2 INLINE float hsum16_2x8(__m256 lo, __m256 hi)
{
	const __m256 a = _mm256_add_ps(lo, hi);
	const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
	return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* Lane sums of 32 u8 levels (<= 63) times 32 s8: 8 int32, each 4 products. */
AVX2 INLINE __m256i lanesum(__m256i u, __m256i s)
{
	return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* Levels up to 255 (Q8_0 + 128) would saturate maddubs: sum (u - 128) * s with
 * the sign trick, then add back 128 * sum(s), exactly. */
AVX2 INLINE __m256i lanesum_wide(__m256i u, __m256i s, __m256i s128)
{
	const __m256i w = _mm256_xor_si256(u, _mm256_set1_epi8((char)0x80));
	const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(s, w));
	return _mm256_add_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)), s128);
}

#define TM2 2
#define TN2 2

/* Lanes of element (i, j) kept between spans (kern_impl.h). */
static inline float *span_lanes(const struct kern_span *sp, int i, int j)
{
	return sp->acc + (j * sp->ldacc + i) * 16;
}

AVX2 INLINE void tile_int_mn(const int MR, const int NR, int wide, const struct kern_shape *sh,
                             const uint8_t *w, const uint8_t *x, const struct kern_span *sp,
                             float *out, int64_t ldo)
{
	__m256 acc[TM2][TN2][2];
	float res[TM2][TN2];
	const size_t st = sh->stride, so = sh->s_off;
	const int64_t k0 = sp ? sp->k0 : 0, k1 = sp ? sp->k1 : sh->kp;

#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			if (k0 > 0) {
				acc[i][j][0] = _mm256_loadu_ps(span_lanes(sp, i, j));
				acc[i][j][1] = _mm256_loadu_ps(span_lanes(sp, i, j) + 8);
			} else {
				acc[i][j][0] = acc[i][j][1] = _mm256_setzero_ps();
			}
		}
	for (int64_t c = k0; c < k1; c += 64) {
#pragma GCC unroll 8
		for (int h = 0; h < 2; h++) {
			const int64_t e = c + 32 * h;
			__m256i wq[TM2];
			__m256 ws[TM2];
#pragma GCC unroll 8
			for (int i = 0; i < MR; i++) {
				wq[i] = _mm256_loadu_si256((const __m256i *)(w + i * st + e));
				ws[i] = _mm256_loadu_ps(kern_cfptr(w + i * st + so) + e / 4);
			}
#pragma GCC unroll 8
			for (int j = 0; j < NR; j++) {
				const __m256i xq =
				        _mm256_loadu_si256((const __m256i *)(x + j * st + e));
				const __m256 xs =
				        _mm256_loadu_ps(kern_cfptr(x + j * st + so) + e / 4);
				__m256i s128 = _mm256_setzero_si256();
				if (wide)
					s128 = _mm256_slli_epi32(lanesum(_mm256_set1_epi8(1), xq),
					                         7);
#pragma GCC unroll 8
				for (int i = 0; i < MR; i++) {
					const __m256i is = wide ? lanesum_wide(wq[i], xq, s128)
					                        : lanesum(wq[i], xq);
					const __m256 sc = _mm256_mul_ps(ws[i], xs);
					acc[i][j][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), sc,
					                               acc[i][j][h]);
				}
			}
		}
	}
	if (k1 < sh->kp) {
#pragma GCC unroll 8
		for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
			for (int j = 0; j < NR; j++) {
				_mm256_storeu_ps(span_lanes(sp, i, j), acc[i][j][0]);
				_mm256_storeu_ps(span_lanes(sp, i, j) + 8, acc[i][j][1]);
			}
		return;
	}
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++)
			res[i][j] = hsum16_2x8(acc[i][j][0], acc[i][j][1]);
/* the group offsets: cor = sum w.g * x.g, 16 lanes, same order */
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			const float *wg = kern_cfptr(w + i * st + sh->g_off);
			const float *xg = kern_cfptr(x + j * st + sh->g_off);
			__m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps();
			for (int64_t r = 0; r < sh->ngp; r += 16) {
				c0 = _mm256_fmadd_ps(_mm256_loadu_ps(wg + r),
				                     _mm256_loadu_ps(xg + r), c0);
				c1 = _mm256_fmadd_ps(_mm256_loadu_ps(wg + r + 8),
				                     _mm256_loadu_ps(xg + r + 8), c1);
			}
			out[j * ldo + i] = res[i][j] + hsum16_2x8(c0, c1);
		}
}

AVX2 static void tile_int_avx2(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                               const uint8_t *x, const struct kern_span *sp, float *out,
                               int64_t ldo)
{
	for (int i = 0; i < mr; i += TM2)
		for (int j = 0; j < nr; j += TN2) {
			const int m = mr - i < TM2 ? mr - i : TM2, n = nr - j < TN2 ? nr - j : TN2;
			const uint8_t *wi = w + (size_t)i * sh->stride,
			              *xj = x + (size_t)j * sh->stride;
			float *o = out + j * ldo + i;
			struct kern_span span, *sub = NULL;
			if (sp) {
				span = *sp;
				span.acc = span_lanes(sp, i, j);
				sub = &span;
			}
			if (sh->wide) {
				if (m == 2 && n == 2)
					tile_int_mn(2, 2, 1, sh, wi, xj, sub, o, ldo);
				else if (m == 2)
					tile_int_mn(2, 1, 1, sh, wi, xj, sub, o, ldo);
				else if (n == 2)
					tile_int_mn(1, 2, 1, sh, wi, xj, sub, o, ldo);
				else
					tile_int_mn(1, 1, 1, sh, wi, xj, sub, o, ldo);
			} else {
				if (m == 2 && n == 2)
					tile_int_mn(2, 2, 0, sh, wi, xj, sub, o, ldo);
				else if (m == 2)
					tile_int_mn(2, 1, 0, sh, wi, xj, sub, o, ldo);
				else if (n == 2)
					tile_int_mn(1, 2, 0, sh, wi, xj, sub, o, ldo);
				else
					tile_int_mn(1, 1, 0, sh, wi, xj, sub, o, ldo);
			}
		}
}

#define TMF 2
#define TNF 3

AVX2 INLINE void tile_float_mn(const int MR, const int NR, const struct kern_shape *sh,
                               const uint8_t *w, const uint8_t *x, const struct kern_span *sp,
                               float *out, int64_t ldo)
{
	__m256 acc[TMF][TNF][2];
	const size_t st = sh->stride;
	const int64_t k0 = sp ? sp->k0 : 0, k1 = sp ? sp->k1 : sh->kp;

#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			if (k0 > 0) {
				acc[i][j][0] = _mm256_loadu_ps(span_lanes(sp, i, j));
				acc[i][j][1] = _mm256_loadu_ps(span_lanes(sp, i, j) + 8);
			} else {
				acc[i][j][0] = acc[i][j][1] = _mm256_setzero_ps();
			}
		}
	for (int64_t c = k0; c < k1; c += 16) {
		__m256 w0[TMF], w1[TMF];
#pragma GCC unroll 8
		for (int i = 0; i < MR; i++) {
			w0[i] = _mm256_loadu_ps(kern_cfptr(w + i * st) + c);
			w1[i] = _mm256_loadu_ps(kern_cfptr(w + i * st) + c + 8);
		}
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			const __m256 x0 = _mm256_loadu_ps(kern_cfptr(x + j * st) + c);
			const __m256 x1 = _mm256_loadu_ps(kern_cfptr(x + j * st) + c + 8);
#pragma GCC unroll 8
			for (int i = 0; i < MR; i++) {
				acc[i][j][0] = _mm256_fmadd_ps(w0[i], x0, acc[i][j][0]);
				acc[i][j][1] = _mm256_fmadd_ps(w1[i], x1, acc[i][j][1]);
			}
		}
	}
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			if (k1 < sh->kp) {
				_mm256_storeu_ps(span_lanes(sp, i, j), acc[i][j][0]);
				_mm256_storeu_ps(span_lanes(sp, i, j) + 8, acc[i][j][1]);
			} else {
				out[j * ldo + i] = hsum16_2x8(acc[i][j][0], acc[i][j][1]);
			}
		}
}

AVX2 static void tile_float_avx2(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                                 const uint8_t *x, const struct kern_span *sp, float *out,
                                 int64_t ldo)
{
	for (int i = 0; i < mr; i += TMF)
		for (int j = 0; j < nr; j += TNF) {
			const int m = mr - i < TMF ? mr - i : TMF, n = nr - j < TNF ? nr - j : TNF;
			const uint8_t *wi = w + (size_t)i * sh->stride,
			              *xj = x + (size_t)j * sh->stride;
			float *o = out + j * ldo + i;
			struct kern_span span, *sub = NULL;
			if (sp) {
				span = *sp;
				span.acc = span_lanes(sp, i, j);
				sub = &span;
			}
			if (m == 2 && n == 3)
				tile_float_mn(2, 3, sh, wi, xj, sub, o, ldo);
			else if (m == 2 && n == 2)
				tile_float_mn(2, 2, sh, wi, xj, sub, o, ldo);
			else if (m == 2)
				tile_float_mn(2, 1, sh, wi, xj, sub, o, ldo);
			else if (n == 3)
				tile_float_mn(1, 3, sh, wi, xj, sub, o, ldo);
			else if (n == 2)
				tile_float_mn(1, 2, sh, wi, xj, sub, o, ldo);
			else
				tile_float_mn(1, 1, sh, wi, xj, sub, o, ldo);
		}
}

/* ---- plain float dots (any n; used for attention) ------------------------ */

AVX2 INLINE float hsum8(__m256 a)
{
	const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
	return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

AVX2 static void dot_f32_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const float *x = vx, *y = vy;
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 16 <= n; i += 16) {
		a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
		a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
	}
	float sum = hsum8(_mm256_add_ps(a0, a1));
	for (; i < n; i++)
		sum += x[i] * y[i];
	*s = sum;
}

AVX2 static void dot_f16_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const uint16_t *x = vx, *y = vy;
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m256 x0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
		__m256 x1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8)));
		__m256 y0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
		__m256 y1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8)));
		a0 = _mm256_fmadd_ps(x0, y0, a0);
		a1 = _mm256_fmadd_ps(x1, y1, a1);
	}
	float sum = hsum8(_mm256_add_ps(a0, a1));
	for (; i < n; i++)
		sum += h2f(x[i]) * h2f(y[i]);
	*s = sum;
}

AVX2 INLINE __m256 bf16x8(const uint16_t *p)
{
	__m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

AVX2 static void dot_bf16_avx2(int64_t n, float *s, const void *vx, const void *vy)
{
	const uint16_t *x = vx, *y = vy;
	__m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
	int64_t i = 0;
	for (; i + 16 <= n; i += 16) {
		a0 = _mm256_fmadd_ps(bf16x8(x + i), bf16x8(y + i), a0);
		a1 = _mm256_fmadd_ps(bf16x8(x + i + 8), bf16x8(y + i + 8), a1);
	}
	float sum = hsum8(_mm256_add_ps(a0, a1));
	for (; i < n; i++)
		sum += bf16_to_f32(x[i]) * bf16_to_f32(y[i]);
	*s = sum;
}

/* ---- ops ----------------------------------------------------------------- */

/* ---- packers (activation quantization), byte-identical to kern.c's ---- */

AVX2 INLINE float hmax8(__m256 v)
{
	__m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	m = _mm_max_ps(m, _mm_movehl_ps(m, m));
	m = _mm_max_ss(m, _mm_movehdup_ps(m));
	return _mm_cvtss_f32(m);
}

AVX2 INLINE int hsum8i(__m256i v)
{
	__m128i m = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	m = _mm_add_epi32(m, _mm_unpackhi_epi64(m, m));
	m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 1));
	return _mm_cvtsi128_si32(m);
}

/* Four vectors of 8 int32 (each within int8 range) to 32 int8, in order. */
AVX2 INLINE __m256i pack_i8x32(__m256i a, __m256i b, __m256i c, __m256i d)
{
	const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
	const __m256i v = _mm256_packs_epi16(ab, cd);
	/* the packs interleave 128-bit halves: dwords 0 4 1 5 2 6 3 7 -> 0..7 */
	return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static const uint32_t abs_mask = 0x7fffffff;

/* Q8_0 / Q8_1 activations: per 32 values q = round(x * 127 / amax). */
AVX2 INLINE void pack_q8_32(const float *x, const struct kern_shape *sh, uint8_t *out, int q81)
{
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	const __m256 am = _mm256_castsi256_ps(_mm256_set1_epi32((int)abs_mask));
	for (int64_t b = 0; b < sh->k / QK; b++) {
		const float *xb = x + QK * b;
		__m256 v[4], mx = _mm256_setzero_ps();
		for (int i = 0; i < 4; i++) {
			v[i] = _mm256_loadu_ps(xb + 8 * i);
			mx = _mm256_max_ps(mx, _mm256_and_ps(v[i], am));
		}
		const float amax = hmax8(mx);
		const __m256 id = _mm256_set1_ps(amax > 0 ? 127.f / amax : 0.f);
		__m256i q[4], sum = _mm256_setzero_si256();
		for (int i = 0; i < 4; i++) {
			q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], id));
			sum = _mm256_add_epi32(sum, q[i]);
		}
		_mm256_storeu_si256((__m256i *)(out + QK * b), pack_i8x32(q[0], q[1], q[2], q[3]));
		const float d = amax / 127.f, dh = _cvtsh_ss(_cvtss_sh(d, 0));
		const int isum = hsum8i(sum);
		fill8(s + 8 * b, dh);
		g[b] = q81 ? _cvtsh_ss(_cvtss_sh(d * (float)isum, 0)) : dh * (float)isum;
	}
	zero_tail(sh, out);
}

/* Q8_K activations: per 256 values, the largest magnitude maps to -127. */
AVX2 INLINE void pack_q8k(const float *x, const struct kern_shape *sh, uint8_t *out)
{
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	const __m256 am = _mm256_castsi256_ps(_mm256_set1_epi32((int)abs_mask));
	const int per = 16 / (sh->group / 16) == 16 ? 1 : 2; /* 16-value sums per group */
	for (int64_t b = 0; b < sh->k / QK_K; b++) {
		const float *xb = x + QK_K * b;
		__m256 mx = _mm256_setzero_ps();
		for (int i = 0; i < 32; i++)
			mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(xb + 8 * i), am));
		const float amax = hmax8(mx);
		float d = 0;
		int sums[16];
		int8_t *q = (int8_t *)out + QK_K * b;
		if (!(amax > 0) || amax == __builtin_inff()) {
			memset(q, 0, QK_K);
			memset(sums, 0, sizeof(sums));
		} else {
			/* the first value of largest magnitude, with its sign */
			const __m256 vmax = _mm256_set1_ps(amax);
			float max = 0;
			for (int i = 0; i < 32; i++) {
				const __m256 v = _mm256_loadu_ps(xb + 8 * i);
				const int m = _mm256_movemask_ps(
				        _mm256_cmp_ps(_mm256_and_ps(v, am), vmax, _CMP_EQ_OQ));
				if (m) {
					max = xb[8 * i + __builtin_ctz((unsigned)m)];
					break;
				}
			}
			const float iscale = -127.f / max;
			const __m256 is = _mm256_set1_ps(iscale), top = _mm256_set1_ps(127.f);
			for (int i = 0; i < 32; i += 4) {
				__m256i qi[4];
				for (int u = 0; u < 4; u++) {
					const __m256 v = _mm256_mul_ps(
					        _mm256_loadu_ps(xb + 8 * (i + u)), is);
					qi[u] = _mm256_min_epi32(_mm256_cvtps_epi32(v),
					                         _mm256_cvtps_epi32(top));
				}
				_mm256_storeu_si256((__m256i *)(q + 8 * i),
				                    pack_i8x32(qi[0], qi[1], qi[2], qi[3]));
				sums[i / 2] = hsum8i(_mm256_add_epi32(qi[0], qi[1]));
				sums[i / 2 + 1] = hsum8i(_mm256_add_epi32(qi[2], qi[3]));
			}
			d = 1 / iscale;
		}
		for (int i = 0; i < 8; i++) /* 64 lanes of 4 */
			fill8(s + 64 * b + 8 * i, d);
		for (int j = 0; j < 16 / per; j++)
			g[16 / per * b + j] =
			        d * (float)(per == 1 ? sums[j] : sums[2 * j] + sums[2 * j + 1]);
	}
	zero_tail(sh, out);
}

AVX2 void kern_pack_avx2_F32(const float *x, const struct kern_shape *sh, uint8_t *out)
{
	kern_unpack_avx2_F32(x, sh, out);
}

AVX2 void kern_pack_avx2_F16(const float *x, const struct kern_shape *sh, uint8_t *out)
{
	float *f = kern_fptr(out);
	int64_t i = 0;
	for (; i + 8 <= sh->k; i += 8)
		_mm256_storeu_ps(f + i,
		                 _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), 0)));
	for (; i < sh->k; i++)
		f[i] = _cvtsh_ss(_cvtss_sh(x[i], 0));
	memset(out + 4 * sh->k, 0, sh->stride - 4 * (size_t)sh->k);
}

AVX2 void kern_pack_avx2_BF16(const float *x, const struct kern_shape *sh, uint8_t *out)
{
	float *f = kern_fptr(out);
	int64_t i = 0;
	const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
	const __m256i hi = _mm256_set1_epi32((int)0xffff0000u), inf = _mm256_set1_epi32(0x7f800000);
	const __m256i quiet = _mm256_set1_epi32(0x00400000);
	for (; i + 8 <= sh->k; i += 8) {
		const __m256i v = _mm256_loadu_si256((const __m256i *)(x + i));
		const __m256i r = _mm256_add_epi32(
		        v, _mm256_add_epi32(bias, _mm256_and_si256(_mm256_srli_epi32(v, 16), one)));
		/* nan: keep it, made quiet, as f32_to_bf16 does */
		const __m256i isnan =
		        _mm256_cmpgt_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x7fffffff)), inf);
		const __m256i n = _mm256_or_si256(v, quiet);
		_mm256_storeu_si256((__m256i *)(f + i),
		                    _mm256_and_si256(_mm256_blendv_epi8(r, n, isnan), hi));
	}
	for (; i < sh->k; i++)
		f[i] = bf16_to_f32(f32_to_bf16(x[i]));
	memset(out + 4 * sh->k, 0, sh->stride - 4 * (size_t)sh->k);
}

#define PACK_Q8(T, Q81)                                                                         \
	AVX2 void kern_pack_avx2_##T(const float *x, const struct kern_shape *sh, uint8_t *out) \
	{                                                                                       \
		pack_q8_32(x, sh, out, Q81);                                                    \
	}
PACK_Q8(Q4_0, 0)
PACK_Q8(Q5_0, 0)
PACK_Q8(Q8_0, 0)
PACK_Q8(Q4_1, 1)
PACK_Q8(Q5_1, 1)

#define PACK_Q8K(T)                                                                             \
	AVX2 void kern_pack_avx2_##T(const float *x, const struct kern_shape *sh, uint8_t *out) \
	{                                                                                       \
		pack_q8k(x, sh, out);                                                           \
	}
PACK_Q8K(Q4_K)
PACK_Q8K(Q5_K)
PACK_Q8K(Q6_K)

#define UNPACK_ENTRY(T) [TENSOR_##T] = kern_unpack_avx2_##T,
#define PACK_ENTRY(T) [TENSOR_##T] = kern_pack_avx2_##T,

const struct kern_isa_ops kern_ops_avx2 = {
        .name = "avx2",
        .unpack = {KERN_FOR_TYPES(UNPACK_ENTRY)},
        .pack = {KERN_FOR_TYPES(PACK_ENTRY)},
        .tile_int = tile_int_avx2,
        .tile_float = tile_float_avx2,
        .dot_f32 = dot_f32_avx2,
        .dot_f16 = dot_f16_avx2,
        .dot_bf16 = dot_bf16_avx2,
        .tile_m = {[KERN_PATH_INT] = TM2, [KERN_PATH_FLOAT] = TMF},
        .tile_n = {[KERN_PATH_INT] = TN2, [KERN_PATH_FLOAT] = TNF},
};

#else /* not x86-64: no AVX2 ops; kern.c never selects them */

const struct kern_isa_ops kern_ops_avx2 = {.name = "avx2"};

#endif

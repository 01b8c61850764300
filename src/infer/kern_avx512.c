/*
 * kern_avx512.c: the AVX-512 (F, BW, VL, VNNI) dot tiles and float dots.
 * The unpackers and packers are the AVX2 ones (kern_avx2.c): they are bound
 * by memory, not by vector width. A 64-element chunk is one register here:
 * VPDPBUSD gives the 16 lane sums of 4 products in one instruction.
 *
 * Each computes exactly what its scalar twin in kern.c computes (see
 * kern_impl.h).
 */
#include "infer/kern_impl.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

/* ((v[0..7] + v[8..15]) -> 4 -> 2 -> 1), as kern.c's hsum16. */
AVX512 INLINE float hsum16(__m512 v)
{
	const __m256 lo = _mm512_castps512_ps256(v);
	const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
	const __m256 a = _mm256_add_ps(lo, hi);
	const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
	return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* Register tiles (rows x activations): the int tile keeps TM_I * TN_I
 * accumulators plus TM_I levels and TM_I lane scales in the 32 registers. */
#ifndef TM_I
#define TM_I 4
#endif
#ifndef TN_I
#define TN_I 4
#endif
#ifndef TM_F
#define TM_F 6
#endif
#ifndef TN_F
#define TN_F 4
#endif
#define TMAX 8

/* Lanes of element (i, j) kept between spans (kern_impl.h). */
static inline float *span_lanes(const struct kern_span *sp, int i, int j)
{
	return sp->acc + (j * sp->ldacc + i) * 16;
}

AVX512 INLINE void tile_int_mn(const int MR, const int NR, const struct kern_shape *sh,
                               const uint8_t *w, const uint8_t *x, const struct kern_span *sp,
                               float *out, int64_t ldo)
{
	__m512 acc[TMAX][TMAX];
	float res[TMAX][TMAX];
	const size_t st = sh->stride, so = sh->s_off;
	const int64_t k0 = sp ? sp->k0 : 0, k1 = sp ? sp->k1 : sh->kp;

#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++)
			acc[i][j] = k0 > 0 ? _mm512_loadu_ps(span_lanes(sp, i, j))
			                   : _mm512_setzero_ps();
	for (int64_t c = k0; c < k1; c += 64) {
		__m512i wq[TMAX];
		__m512 ws[TMAX];
#pragma GCC unroll 8
		for (int i = 0; i < MR; i++) {
			wq[i] = _mm512_loadu_si512(w + i * st + c);
			ws[i] = _mm512_loadu_ps(kern_cfptr(w + i * st + so) + c / 4);
		}
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			const __m512i xq = _mm512_loadu_si512(x + j * st + c);
			const __m512 xs = _mm512_loadu_ps(kern_cfptr(x + j * st + so) + c / 4);
#pragma GCC unroll 8
			for (int i = 0; i < MR; i++) {
				const __m512i is =
				        _mm512_dpbusd_epi32(_mm512_setzero_si512(), wq[i], xq);
				const __m512 sc = _mm512_mul_ps(ws[i], xs);
				acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), sc, acc[i][j]);
			}
		}
	}
	if (k1 < sh->kp) {
#pragma GCC unroll 8
		for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
			for (int j = 0; j < NR; j++)
				_mm512_storeu_ps(span_lanes(sp, i, j), acc[i][j]);
		return;
	}
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++)
			res[i][j] = hsum16(acc[i][j]);
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			const float *wg = kern_cfptr(w + i * st + sh->g_off);
			const float *xg = kern_cfptr(x + j * st + sh->g_off);
			__m512 cor = _mm512_setzero_ps();
			for (int64_t r = 0; r < sh->ngp; r += 16)
				cor = _mm512_fmadd_ps(_mm512_loadu_ps(wg + r),
				                      _mm512_loadu_ps(xg + r), cor);
			out[j * ldo + i] = res[i][j] + hsum16(cor);
		}
}

/* Splits an mr x nr block (any size) into full register tiles, full-height
 * tiles of fewer activations, and single rows; FN(M, N, ...) must be an
 * inline function taking compile-time M and N. */
#define SPAN_AT(SUB, I, J)                              \
	struct kern_span SUB##_s, *SUB = NULL;          \
	if (sp) {                                       \
		SUB##_s = *sp;                          \
		SUB##_s.acc = span_lanes(sp, (I), (J)); \
		SUB = &SUB##_s;                         \
	}
#define TILE_N_CASES(FN, TNX, M, W, SUB, O)                           \
	switch (n) {                                                  \
	case 1: FN(M, 1, sh, W, xj, SUB, O, ldo); break;              \
	case 2: FN(M, 2 % (TNX + 1), sh, W, xj, SUB, O, ldo); break;  \
	case 3: FN(M, 3 % (TNX + 1), sh, W, xj, SUB, O, ldo); break;  \
	case 4: FN(M, 4 % (TNX + 1), sh, W, xj, SUB, O, ldo); break;  \
	case 5: FN(M, 5 % (TNX + 1), sh, W, xj, SUB, O, ldo); break;  \
	default: FN(M, 6 % (TNX + 1), sh, W, xj, SUB, O, ldo); break; \
	}
#define SPLIT_TILES(FN, TMX, TNX)                                                         \
	for (int i = 0; i < mr; i += TMX) {                                               \
		const int m = mr - i < TMX ? mr - i : TMX;                                \
		const uint8_t *wi = w + (size_t)i * sh->stride;                           \
		for (int j = 0; j < nr; j += TNX) {                                       \
			const int n = nr - j < TNX ? nr - j : TNX;                        \
			const uint8_t *xj = x + (size_t)j * sh->stride;                   \
			if (m == TMX) {                                                   \
				SPAN_AT(sub, i, j)                                        \
				TILE_N_CASES(FN, TNX, TMX, wi, sub, out + j * ldo + i)    \
				continue;                                                 \
			}                                                                 \
			for (int r = 0; r < m; r++) {                                     \
				const uint8_t *wr = wi + (size_t)r * sh->stride;          \
				SPAN_AT(subr, i + r, j)                                   \
				TILE_N_CASES(FN, TNX, 1, wr, subr, out + j * ldo + i + r) \
			}                                                                 \
		}                                                                         \
	}

AVX512 static void tile_int_avx512(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                                   const uint8_t *x, const struct kern_span *sp, float *out,
                                   int64_t ldo){SPLIT_TILES(tile_int_mn, TM_I, TN_I)}

AVX512 INLINE void tile_float_mn(const int MR, const int NR, const struct kern_shape *sh,
                                 const uint8_t *w, const uint8_t *x, const struct kern_span *sp,
                                 float *out, int64_t ldo)
{
	__m512 acc[TMAX][TMAX];
	const size_t st = sh->stride;
	const int64_t k0 = sp ? sp->k0 : 0, k1 = sp ? sp->k1 : sh->kp;

#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++)
			acc[i][j] = k0 > 0 ? _mm512_loadu_ps(span_lanes(sp, i, j))
			                   : _mm512_setzero_ps();
	for (int64_t c = k0; c < k1; c += 16) {
		__m512 wv[TMAX];
#pragma GCC unroll 8
		for (int i = 0; i < MR; i++)
			wv[i] = _mm512_loadu_ps(kern_cfptr(w + i * st) + c);
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			const __m512 xv = _mm512_loadu_ps(kern_cfptr(x + j * st) + c);
#pragma GCC unroll 8
			for (int i = 0; i < MR; i++)
				acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
		}
	}
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			if (k1 < sh->kp)
				_mm512_storeu_ps(span_lanes(sp, i, j), acc[i][j]);
			else
				out[j * ldo + i] = hsum16(acc[i][j]);
		}
}

AVX512 static void tile_float_avx512(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                                     const uint8_t *x, const struct kern_span *sp, float *out,
                                     int64_t ldo){SPLIT_TILES(tile_float_mn, TM_F, TN_F)}

/* ---- plain float dots (any n; used for attention) ------------------------ */

AVX512 static void dot_f32_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
	const float *x = vx, *y = vy;
	__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
		a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
	}
	for (; i < n; i += 16) {
		const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
		a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i),
		                     _mm512_maskz_loadu_ps(m, y + i), a0);
	}
	*s = hsum16(_mm512_add_ps(a0, a1));
}

AVX512 INLINE __m512 f16x16(__mmask16 m, const uint16_t *p)
{
	return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

AVX512 static void dot_f16_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
	const uint16_t *x = vx, *y = vy;
	__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		a0 = _mm512_fmadd_ps(f16x16(0xffff, x + i), f16x16(0xffff, y + i), a0);
		a1 = _mm512_fmadd_ps(f16x16(0xffff, x + i + 16), f16x16(0xffff, y + i + 16), a1);
	}
	for (; i < n; i += 16) {
		const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
		a0 = _mm512_fmadd_ps(f16x16(m, x + i), f16x16(m, y + i), a0);
	}
	*s = hsum16(_mm512_add_ps(a0, a1));
}

AVX512 INLINE __m512 bf16x16(__mmask16 m, const uint16_t *p)
{
	const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
	return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

AVX512 static void dot_bf16_avx512(int64_t n, float *s, const void *vx, const void *vy)
{
	const uint16_t *x = vx, *y = vy;
	__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
	int64_t i = 0;
	for (; i + 32 <= n; i += 32) {
		a0 = _mm512_fmadd_ps(bf16x16(0xffff, x + i), bf16x16(0xffff, y + i), a0);
		a1 = _mm512_fmadd_ps(bf16x16(0xffff, x + i + 16), bf16x16(0xffff, y + i + 16), a1);
	}
	for (; i < n; i += 16) {
		const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
		a0 = _mm512_fmadd_ps(bf16x16(m, x + i), bf16x16(m, y + i), a0);
	}
	*s = hsum16(_mm512_add_ps(a0, a1));
}

/* ---- unpackers for the hot weight types ------------------------------------
 * The AVX2 ones convert each block's fp16 scale on its own and fill lane
 * scales 8 floats at a time; these convert 16 scales at once and spread them
 * over the lanes with one permute per 64-element chunk, so a generation-sized
 * matmul (bound by this unpacking) streams faster. Same bytes out. */

/* 16 fp16 values at p, p + stride, ... as floats. */
AVX512 INLINE __m512 load_h16(const uint8_t *p, size_t stride)
{
	__m128i a = _mm_setzero_si128(), b = _mm_setzero_si128();
	uint16_t v;
#define H16_LANE(i)                            \
	memcpy(&v, p + (i)*stride, 2);         \
	a = _mm_insert_epi16(a, v, i);         \
	memcpy(&v, p + ((i) + 8) * stride, 2); \
	b = _mm_insert_epi16(b, v, i);
	H16_LANE(0)
	H16_LANE(1)
	H16_LANE(2)
	H16_LANE(3)
	H16_LANE(4)
	H16_LANE(5)
	H16_LANE(6)
	H16_LANE(7)
#undef H16_LANE
	return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1));
}

/* Lane scales of chunk c (blocks 2c, 2c+1 of 32): [d[2c] x 8, d[2c+1] x 8]. */
AVX512 INLINE __m512 lanes_pair(__m512 d, int c)
{
	const __m512i lo = _mm512_set1_epi32(2 * c), hi = _mm512_set1_epi32(2 * c + 1);
	return _mm512_permutexvar_ps(_mm512_mask_mov_epi32(lo, 0xff00, hi), d);
}

/* The levels of blocks qs0, qs1 (16 nibble bytes each): lo0 hi0 lo1 hi1. */
AVX512 INLINE __m512i nibbles64(const uint8_t *qs0, const uint8_t *qs1)
{
	const __m256i v = _mm256_inserti128_si256(
	        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)qs0)),
	        _mm_loadu_si128((const __m128i *)qs1), 1);
	__m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(v), _mm256_srli_epi16(v, 4), 1);
	z = _mm512_and_si512(z, _mm512_set1_epi8(15));
	return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

AVX512 static void unpack_q4_0_avx512(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	const struct blk_q4_0 *x = row;
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	const int64_t nb = sh->k / QK, nb16 = nb / 16 * 16;
	for (int64_t b = 0; b < nb16; b += 16) {
		const __m512 d = load_h16((const uint8_t *)&x[b].d, sizeof(*x));
		_mm512_storeu_ps(g + b, _mm512_mul_ps(d, _mm512_set1_ps(-8.f)));
		for (int c = 0; c < 8; c++) {
			_mm512_storeu_ps(s + 8 * (b + 2 * c), lanes_pair(d, c));
			_mm512_storeu_si512(out + 32 * (b + 2 * c),
			                    nibbles64(x[b + 2 * c].qs, x[b + 2 * c + 1].qs));
		}
	}
	if (nb16 < nb) { /* the last blocks, through the AVX2 unpacker's code */
		struct kern_shape tail = *sh;
		tail.k = (nb - nb16) * QK;
		uint8_t tmp[64 * 16]; /* up to 15 blocks: 480 levels + 480 lane bytes + groups */
		tail.kp = tail.k;
		tail.ng = tail.ngp = nb - nb16;
		tail.s_off = (size_t)tail.k;
		tail.g_off = 2 * (size_t)tail.k;
		tail.stride = tail.g_off + 4 * (size_t)tail.ng;
		kern_unpack_avx2_Q4_0(x + nb16, &tail, tmp);
		memcpy(out + 32 * nb16, tmp, (size_t)tail.k);
		memcpy(s + 8 * nb16, tmp + tail.s_off, (size_t)tail.k);
		memcpy(g + nb16, tmp + tail.g_off, 4 * (size_t)tail.ng);
	}
	kern_zero_tail(sh, out);
}

AVX512 static void unpack_q8_0_avx512(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	const struct blk_q8_0 *x = row;
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	const int64_t nb = sh->k / QK, nb16 = nb / 16 * 16;
	const __m512i flip = _mm512_set1_epi8((char)0x80);
	for (int64_t b = 0; b < nb16; b += 16) {
		const __m512 d = load_h16((const uint8_t *)&x[b].d, sizeof(*x));
		_mm512_storeu_ps(g + b, _mm512_mul_ps(d, _mm512_set1_ps(-128.f)));
		for (int c = 0; c < 8; c++) {
			const __m512i v = _mm512_inserti64x4(
			        _mm512_castsi256_si512(
			                _mm256_loadu_si256((const __m256i *)x[b + 2 * c].qs)),
			        _mm256_loadu_si256((const __m256i *)x[b + 2 * c + 1].qs), 1);
			_mm512_storeu_ps(s + 8 * (b + 2 * c), lanes_pair(d, c));
			_mm512_storeu_si512(out + 32 * (b + 2 * c), _mm512_xor_si512(v, flip));
		}
	}
	for (int64_t b = nb16; b < nb; b++) {
		const float d = _cvtsh_ss(x[b].d);
		const __m256i v = _mm256_loadu_si256((const __m256i *)x[b].qs);
		_mm256_storeu_si256((__m256i *)(out + 32 * b),
		                    _mm256_xor_si256(v, _mm256_set1_epi8((char)0x80)));
		_mm256_storeu_ps(s + 8 * b, _mm256_set1_ps(d));
		g[b] = -128.f * d;
	}
	kern_zero_tail(sh, out);
}

/* The 8 six-bit scales and mins of a Q4_K/Q5_K super-block as bytes. */
AVX512 INLINE void scales_k4(const uint8_t *q, uint64_t *sc, uint64_t *m)
{
	uint32_t u0, u1, u2;
	memcpy(&u0, q, 4);
	memcpy(&u1, q + 4, 4);
	memcpy(&u2, q + 8, 4);
	const uint32_t sc_hi = (u2 & 0x0f0f0f0f) | ((u0 >> 2) & 0x30303030);
	const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0f) | ((u1 >> 2) & 0x30303030);
	*sc = (uint64_t)(u0 & 0x3f3f3f3f) | (uint64_t)sc_hi << 32;
	*m = (uint64_t)(u1 & 0x3f3f3f3f) | (uint64_t)m_hi << 32;
}

AVX512 INLINE void unpack_k45_avx512(const void *row, const struct kern_shape *sh, uint8_t *out,
                                     int five)
{
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
	for (int64_t b = 0; b < sh->k / QK_K; b++) {
		const struct blk_q4_k *x4 = (const struct blk_q4_k *)row + b;
		const struct blk_q5_k *x5 = (const struct blk_q5_k *)row + b;
		const uint8_t *scales = five ? x5->scales : x4->scales;
		const uint8_t *qs = five ? x5->qs : x4->qs;
		const float d = _cvtsh_ss(five ? x5->d : x4->d);
		const float dmin = _cvtsh_ss(five ? x5->dmin : x4->dmin);
		uint64_t sc8, m8;
		scales_k4(scales, &sc8, &m8);
		const __m256 ds = _mm256_mul_ps(_mm256_set1_ps(d),
		                                _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
		                                        _mm_cvtsi64_si128((long long)sc8))));
		const __m256 dm = _mm256_mul_ps(
		        _mm256_set1_ps(dmin),
		        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m8))));
		_mm256_storeu_ps(g + 8 * b, _mm256_xor_ps(dm, _mm256_set1_ps(-0.f)));
		const __m512 ds16 = _mm512_castps256_ps512(ds);
		const __m256i qh = five ? _mm256_loadu_si256((const __m256i *)x5->qh) : m4;
		uint8_t *q = out + QK_K * b;
		for (int c = 0; c < 4; c++) {
			const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
			__m256i lo = _mm256_and_si256(v, m4);
			__m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
			if (five) {
				const __m256i h0 = _mm256_and_si256(
				        _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c)), one);
				const __m256i h1 = _mm256_and_si256(
				        _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c + 1)), one);
				lo = _mm256_or_si256(lo, _mm256_slli_epi16(h0, 4));
				hi = _mm256_or_si256(hi, _mm256_slli_epi16(h1, 4));
			}
			_mm512_storeu_si512(q + 64 * c,
			                    _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
			_mm512_storeu_ps(s + 64 * b + 16 * c, lanes_pair(ds16, c));
		}
	}
	kern_zero_tail(sh, out);
}

AVX512 static void unpack_q4_k_avx512(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	unpack_k45_avx512(row, sh, out, 0);
}

AVX512 static void unpack_q5_k_avx512(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	unpack_k45_avx512(row, sh, out, 1);
}

AVX512 static void unpack_q6_k_avx512(const void *row, const struct kern_shape *sh, uint8_t *out)
{
	float *s = kern_fptr(out + sh->s_off), *g = kern_fptr(out + sh->g_off);
	const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
	for (int64_t b = 0; b < sh->k / QK_K; b++) {
		const struct blk_q6_k *x = (const struct blk_q6_k *)row + b;
		const __m512 ds =
		        _mm512_mul_ps(_mm512_set1_ps(_cvtsh_ss(x->d)),
		                      _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
		                              _mm_loadu_si128((const __m128i *)x->scales))));
		_mm512_storeu_ps(g + 16 * b, _mm512_mul_ps(ds, _mm512_set1_ps(-32.f)));
		for (int c = 0; c < 4; c++) {
			const __m512i idx = _mm512_setr_epi32(
			        4 * c, 4 * c, 4 * c, 4 * c, 4 * c + 1, 4 * c + 1, 4 * c + 1,
			        4 * c + 1, 4 * c + 2, 4 * c + 2, 4 * c + 2, 4 * c + 2, 4 * c + 3,
			        4 * c + 3, 4 * c + 3, 4 * c + 3);
			_mm512_storeu_ps(s + 64 * b + 16 * c, _mm512_permutexvar_ps(idx, ds));
		}
		uint8_t *q = out + QK_K * b;
		for (int h = 0; h < 2; h++) {
			const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
			const __m256i l1 =
			        _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
			const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
			const __m256i a =
			        _mm256_or_si256(_mm256_and_si256(l0, m4),
			                        _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
			const __m256i bq = _mm256_or_si256(
			        _mm256_and_si256(l1, m4),
			        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3),
			                          4));
			const __m256i cq = _mm256_or_si256(
			        _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
			        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3),
			                          4));
			const __m256i dq = _mm256_or_si256(
			        _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
			        _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3),
			                          4));
			_mm512_storeu_si512(q + 128 * h,
			                    _mm512_inserti64x4(_mm512_castsi256_si512(a), bq, 1));
			_mm512_storeu_si512(q + 128 * h + 64,
			                    _mm512_inserti64x4(_mm512_castsi256_si512(cq), dq, 1));
		}
	}
	kern_zero_tail(sh, out);
}

#define UNPACK_ENTRY(T) [TENSOR_##T] = kern_unpack_avx2_##T,
#define PACK_ENTRY(T) [TENSOR_##T] = kern_pack_avx2_##T,

const struct kern_isa_ops kern_ops_avx512 = {
        .name = "avx512",
        .unpack = {UNPACK_ENTRY(F32) UNPACK_ENTRY(F16) UNPACK_ENTRY(BF16) UNPACK_ENTRY(Q4_1)
                           UNPACK_ENTRY(Q5_0) UNPACK_ENTRY(Q5_1)[TENSOR_Q4_0] = unpack_q4_0_avx512,
                   [TENSOR_Q8_0] = unpack_q8_0_avx512, [TENSOR_Q4_K] = unpack_q4_k_avx512,
                   [TENSOR_Q5_K] = unpack_q5_k_avx512, [TENSOR_Q6_K] = unpack_q6_k_avx512},
        .pack = {KERN_FOR_TYPES(PACK_ENTRY)},
        .tile_int = tile_int_avx512,
        .tile_float = tile_float_avx512,
        .dot_f32 = dot_f32_avx512,
        .dot_f16 = dot_f16_avx512,
        .dot_bf16 = dot_bf16_avx512,
        .tile_m = {[KERN_PATH_INT] = TM_I, [KERN_PATH_FLOAT] = TM_F},
        .tile_n = {[KERN_PATH_INT] = TN_I, [KERN_PATH_FLOAT] = TN_F},
};

#else

const struct kern_isa_ops kern_ops_avx512 = {.name = "avx512"};

#endif

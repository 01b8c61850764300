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

AVX512 INLINE void tile_int_mn(const int MR, const int NR, const struct kern_shape *sh,
                               const uint8_t *w, const uint8_t *x, float *out, int64_t ldo)
{
	__m512 acc[TMAX][TMAX];
	float res[TMAX][TMAX];
	const size_t st = sh->stride, so = sh->s_off;

#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++)
			acc[i][j] = _mm512_setzero_ps();
	for (int64_t c = 0; c < sh->kp; c += 64) {
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
#define SPLIT_TILES(FN, TMX, TNX)                                                             \
	for (int i = 0; i < mr; i += TMX) {                                                   \
		const int m = mr - i < TMX ? mr - i : TMX;                                    \
		const uint8_t *wi = w + (size_t)i * sh->stride;                               \
		for (int j = 0; j < nr; j += TNX) {                                           \
			const int n = nr - j < TNX ? nr - j : TNX;                            \
			const uint8_t *xj = x + (size_t)j * sh->stride;                       \
			float *o = out + j * ldo + i;                                         \
			if (m == TMX) {                                                       \
				switch (n) {                                                  \
				case 1: FN(TMX, 1, sh, wi, xj, o, ldo); break;                \
				case 2: FN(TMX, 2 % (TNX + 1), sh, wi, xj, o, ldo); break;    \
				case 3: FN(TMX, 3 % (TNX + 1), sh, wi, xj, o, ldo); break;    \
				case 4: FN(TMX, 4 % (TNX + 1), sh, wi, xj, o, ldo); break;    \
				case 5: FN(TMX, 5 % (TNX + 1), sh, wi, xj, o, ldo); break;    \
				default: FN(TMX, 6 % (TNX + 1), sh, wi, xj, o, ldo); break;   \
				}                                                             \
				continue;                                                     \
			}                                                                     \
			for (int r = 0; r < m; r++) {                                         \
				const uint8_t *wr = wi + (size_t)r * sh->stride;              \
				switch (n) {                                                  \
				case 1: FN(1, 1, sh, wr, xj, o + r, ldo); break;              \
				case 2: FN(1, 2 % (TNX + 1), sh, wr, xj, o + r, ldo); break;  \
				case 3: FN(1, 3 % (TNX + 1), sh, wr, xj, o + r, ldo); break;  \
				case 4: FN(1, 4 % (TNX + 1), sh, wr, xj, o + r, ldo); break;  \
				case 5: FN(1, 5 % (TNX + 1), sh, wr, xj, o + r, ldo); break;  \
				default: FN(1, 6 % (TNX + 1), sh, wr, xj, o + r, ldo); break; \
				}                                                             \
			}                                                                     \
		}                                                                             \
	}

AVX512 static void tile_int_avx512(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                                   const uint8_t *x, float *out,
                                   int64_t ldo){SPLIT_TILES(tile_int_mn, TM_I, TN_I)}

AVX512 INLINE void tile_float_mn(const int MR, const int NR, const struct kern_shape *sh,
                                 const uint8_t *w, const uint8_t *x, float *out, int64_t ldo)
{
	__m512 acc[TMAX][TMAX];
	const size_t st = sh->stride;

#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++)
			acc[i][j] = _mm512_setzero_ps();
	for (int64_t c = 0; c < sh->kp; c += 16) {
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
		for (int j = 0; j < NR; j++)
			out[j * ldo + i] = hsum16(acc[i][j]);
}

AVX512 static void tile_float_avx512(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                                     const uint8_t *x, float *out,
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

#define UNPACK_ENTRY(T) [TENSOR_##T] = kern_unpack_avx2_##T,
#define PACK_ENTRY(T) [TENSOR_##T] = kern_pack_avx2_##T,

const struct kern_isa_ops kern_ops_avx512 = {
        .name = "avx512",
        .unpack = {KERN_FOR_TYPES(UNPACK_ENTRY)},
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

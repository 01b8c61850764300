/*
 * kern_avx2.c: the AVX2 + FMA + F16C kernels, compiled per function with a
 * target attribute so the build stays generic x86-64; kern.c only calls them
 * when the CPU has the features. The packers and the float unpackers here are
 * also used by the AVX-512 ops (they are bound by memory, not vector width).
 *
 * Each computes exactly what its scalar twin in kern.c computes (see
 * kern_impl.h for the layouts and the order of operations). The int tile
 * holds 8 weight rows, one per 32-bit lane. Generation and decode batches
 * (up to gemv_rows = 8 activation rows, three at a time) have fused kernels
 * that read the GGUF blocks directly:
 * gemv8 for the block-quantized types (rows read one by one, their exact
 * block sums folded into one lane per row by a VPHADDD tree) and
 * gemv_float_rows for F16/BF16/F32; tests/unit/test_kern_avx2.c checks them
 * against unpack + tile bit for bit.
 */
#include "infer/kern_impl.h"

#include <string.h>

#if defined(__x86_64__)
/* the generation kernels' prefetches of the next tile go to L1 here
 * (prefetcht0): measured 5-20% faster than to L2 on the AVX2 kernels, which
 * hold fewer rows in flight than the AVX-512 ones */
#ifndef PF_LOCALITY
#define PF_LOCALITY 3
#endif
#include "infer/kern_x86.h"

#define AVX2 KX_AVX2
#define INLINE KX_INLINE
#define R2 8 /* rows in an int tile */

AVX2 INLINE float h2f(uint16_t h)
{
	return _cvtsh_ss(h);
}

/* ---- float path unpackers ------------------------------------------------ */

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

/* ---- int path: 8-row tiles ----------------------------------------------- */

/* dw (and mw) of block b for rows 0..7, one scalar per row. */
AVX2 INLINE void scales8(uint32_t t, const uint8_t *rows, size_t rb, int64_t b, float *dw,
                         float *mw)
{
	for (int r = 0; r < R2; r++) {
		const uint8_t *row = rows + rb * (size_t)r;
		switch (t) {
		case TENSOR_Q4_0: {
			const float d = h2f(((const struct blk_q4_0 *)row)[b].d);
			dw[r] = d;
			mw[r] = -8.f * d;
			break;
		}
		case TENSOR_Q4_1:
			dw[r] = h2f(((const struct blk_q4_1 *)row)[b].d);
			mw[r] = h2f(((const struct blk_q4_1 *)row)[b].m);
			break;
		case TENSOR_Q5_0: {
			const float d = h2f(((const struct blk_q5_0 *)row)[b].d);
			dw[r] = d;
			mw[r] = -16.f * d;
			break;
		}
		case TENSOR_Q5_1:
			dw[r] = h2f(((const struct blk_q5_1 *)row)[b].d);
			mw[r] = h2f(((const struct blk_q5_1 *)row)[b].m);
			break;
		case TENSOR_Q8_0: {
			const float d = h2f(((const struct blk_q8_0 *)row)[b].d);
			dw[r] = d;
			mw[r] = -128.f * d;
			break;
		}
		default: break;
		}
	}
}

/* Unpacks rows [0, n) into an 8-row tile (rows n..7 zero). Rows past n are
 * read from a zero row instead. */
AVX2 INLINE void unpack_tile8_full(uint32_t t, const uint8_t *rows, size_t rb, int n,
                                   const struct kern_shape *sh, int64_t b0, int64_t b1,
                                   uint8_t *out, const uint8_t *pf, size_t pf_len)
{
	(void)n; /* full tiles only: the caller pads short ones */
	const size_t wblk = kern_wblk(sh, R2);
	const int G = sh->group;
	const int64_t u0 = b0 * G / 32, u1 = b1 * G / 32; /* 32-element units */
	_Alignas(32) float dws[8][8], mws[8][8];

	for (int64_t u = u0; u < u1; u++) {
		__m256i lv[8], tr[8];
		kx_pf_step(pf, pf_len, u - u0, u1 - u0);
#pragma GCC unroll 8
		for (int r = 0; r < R2; r++)
			lv[r] = kx_levels(t, rows + rb * (size_t)r, u);
		kx_t8x8(lv, tr);
		if (G == 32) {
			uint8_t *ob = out + wblk * (size_t)(u - b0);
			for (int g = 0; g < 8; g++)
				_mm256_storeu_si256((__m256i *)(ob + 32 * g), tr[g]);
		} else { /* two 16-blocks: groups 0-3 and 4-7 */
			uint8_t *ob = out + wblk * (size_t)(2 * u - b0);
			for (int g = 0; g < 4; g++) {
				_mm256_storeu_si256((__m256i *)(ob + 32 * g), tr[g]);
				_mm256_storeu_si256((__m256i *)(ob + wblk + 32 * g), tr[g + 4]);
			}
		}
	}
	/* scales */
	if (t == TENSOR_Q4_K || t == TENSOR_Q5_K) {
		for (int64_t sb = b0 / 8; sb < b1 / 8; sb++) {
			__m256i dv[8], mv[8], dt[8], mt[8];
			for (int r = 0; r < R2; r++) {
				const uint8_t *row = rows + rb * (size_t)r;
				const struct blk_q4_k *x4 = (const struct blk_q4_k *)row + sb;
				const struct blk_q5_k *x5 = (const struct blk_q5_k *)row + sb;
				const int five = t == TENSOR_Q5_K;
				__m256 d, m;
				kx_scales_k4(five ? x5->scales : x4->scales,
				             h2f(five ? x5->d : x4->d),
				             h2f(five ? x5->dmin : x4->dmin), &d, &m);
				dv[r] = _mm256_castps_si256(d);
				mv[r] = _mm256_castps_si256(m);
			}
			kx_t8x8(dv, dt);
			kx_t8x8(mv, mt);
			for (int j = 0; j < 8; j++) {
				uint8_t *ob =
				        out + wblk * (size_t)(8 * sb + j - b0) + (size_t)R2 * 32;
				_mm256_storeu_si256((__m256i *)ob, dt[j]);
				_mm256_storeu_si256((__m256i *)(ob + 32), mt[j]);
			}
		}
	} else if (t == TENSOR_Q6_K) {
		for (int64_t sb = b0 / 16; sb < b1 / 16; sb++) {
			for (int half = 0; half < 2; half++) {
				__m256i dv[8], mv[8], dt[8], mt[8];
				for (int r = 0; r < R2; r++) {
					const struct blk_q6_k *x =
					        (const struct blk_q6_k *)(rows + rb * (size_t)r) +
					        sb;
					const __m256 ds = _mm256_mul_ps(
					        _mm256_set1_ps(h2f(x->d)),
					        _mm256_cvtepi32_ps(
					                _mm256_cvtepi8_epi32(_mm_loadl_epi64(
					                        (const __m128i *)(x->scales +
					                                          8 * half)))));
					dv[r] = _mm256_castps_si256(ds);
					mv[r] = _mm256_castps_si256(
					        _mm256_mul_ps(ds, _mm256_set1_ps(-32.f)));
				}
				kx_t8x8(dv, dt);
				kx_t8x8(mv, mt);
				for (int j = 0; j < 8; j++) {
					uint8_t *ob = out +
					              wblk * (size_t)(16 * sb + 8 * half + j - b0) +
					              (size_t)R2 * 16;
					_mm256_storeu_si256((__m256i *)ob, dt[j]);
					_mm256_storeu_si256((__m256i *)(ob + 32), mt[j]);
				}
			}
		}
	} else {
		for (int64_t b = b0; b < b1; b++) {
			uint8_t *ob = out + wblk * (size_t)(b - b0) + (size_t)R2 * 32;
			scales8(t, rows, rb, b, dws[0], mws[0]);
			_mm256_storeu_ps(kern_fptr(ob), _mm256_load_ps(dws[0]));
			_mm256_storeu_ps(kern_fptr(ob + 32), _mm256_load_ps(mws[0]));
		}
	}
}

/* A short tile (n < R2) through a zero-padded staging buffer. */
AVX2 INLINE void unpack_tile8(uint32_t t, const uint8_t *rows, size_t rb, int n,
                              const struct kern_shape *sh, int64_t b0, int64_t b1, uint8_t *out,
                              const uint8_t *pf, size_t pf_len)
{
	if (n < R2) {
		KX_UNPACK_SHORT(R2, unpack_tile8_full, t, rows, rb, n, sh, b0, b1, out);
		return;
	}
	unpack_tile8_full(t, rows, rb, n, sh, b0, b1, out, pf, pf_len);
}

#define UNPACK_TILE_FN(T)                                                                     \
	AVX2 static void unpack_tile_##T(const uint8_t *rows, size_t rb, int n,               \
	                                 const struct kern_shape *sh, int64_t b0, int64_t b1, \
	                                 uint8_t *out, const uint8_t *pf, size_t pf_len)      \
	{                                                                                     \
		unpack_tile8(TENSOR_##T, rows, rb, n, sh, b0, b1, out, pf, pf_len);           \
	}
KERN_FOR_INT_TYPES(UNPACK_TILE_FN)

/* ---- int path: the dot tile (8 rows x NC activation rows) ---------------- */

#define NC2 4 /* activation rows per pass */

/* Integer lane sums of a block: rows in lanes, 4 products a group. Levels
 * up to 63 (maddubs cannot saturate); Q8_0's levels up to 255 use the sign
 * trick on w = level - 128 and add back 128 * sum(x) (exact). */
AVX2 INLINE void tile_int_nc(const int NC, const int G, const int wide, int mr,
                             const struct kern_shape *sh, const uint8_t *w, const uint8_t *x,
                             const struct kern_span *sp, float *out, int64_t ldo)
{
	const size_t wblk = kern_wblk(sh, R2), st = sh->stride;
	const __m256i ones = _mm256_set1_epi16(1);
	__m256 acc[NC2];
	const __m256i rowmask = _mm256_cmpgt_epi32(_mm256_set1_epi32(mr),
	                                           _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));

#pragma GCC unroll 8
	for (int c = 0; c < NC; c++)
		acc[c] = sp->first ? _mm256_setzero_ps()
		                   : _mm256_maskload_ps(sp->acc + c * sp->ldacc, rowmask);
	for (int64_t b = sp->k0 / G; b < sp->k1 / G; b++) {
		const uint8_t *wb = w + wblk * (size_t)(b - sp->k0 / G);
		__m256i is[NC2];
#pragma GCC unroll 8
		for (int c = 0; c < NC; c++) {
			const int32_t *xs = (const int32_t *)(const void *)(x + c * st + sh->x_s);
			is[c] = wide ? _mm256_slli_epi32(_mm256_set1_epi32(xs[b]), 7)
			             : _mm256_setzero_si256();
		}
		if (!wide) {
			/* levels <= 31 (<= 63 for G = 16, Q6_K): 8 (4) products of
			 * |x| <= 128 fit an int16, so groups add up before widening */
			const int ch = G == 16 ? 2 : 4;
#pragma GCC unroll 8
			for (int g0 = 0; g0 < G / 4; g0 += ch) {
				__m256i s16[NC2];
#pragma GCC unroll 8
				for (int g = g0; g < g0 + ch; g++) {
					const __m256i wg =
					        _mm256_loadu_si256((const __m256i *)(wb + 32 * g));
#pragma GCC unroll 8
					for (int c = 0; c < NC; c++) {
						int32_t xv;
						memcpy(&xv, x + c * st + G * b + 4 * g, 4);
						const __m256i p = _mm256_maddubs_epi16(
						        wg, _mm256_set1_epi32(xv));
						s16[c] = g == g0 ? p : _mm256_add_epi16(s16[c], p);
					}
				}
#pragma GCC unroll 8
				for (int c = 0; c < NC; c++)
					is[c] = _mm256_add_epi32(is[c],
					                         _mm256_madd_epi16(s16[c], ones));
			}
		} else {
#pragma GCC unroll 8
			for (int g = 0; g < G / 4; g++) {
				const __m256i wg =
				        _mm256_loadu_si256((const __m256i *)(wb + 32 * g));
				const __m256i ws =
				        _mm256_xor_si256(wg, _mm256_set1_epi8((char)0x80));
				const __m256i wa = _mm256_abs_epi8(ws);
#pragma GCC unroll 8
				for (int c = 0; c < NC; c++) {
					int32_t xv;
					memcpy(&xv, x + c * st + G * b + 4 * g, 4);
					const __m256i xb =
					        _mm256_sign_epi8(_mm256_set1_epi32(xv), ws);
					is[c] = _mm256_add_epi32(
					        is[c], _mm256_madd_epi16(
					                       _mm256_maddubs_epi16(wa, xb), ones));
				}
			}
		}
		const __m256 dw = _mm256_loadu_ps(kern_cfptr(wb + R2 * G));
		const __m256 mw = _mm256_loadu_ps(kern_cfptr(wb + R2 * G + 4 * R2));
#pragma GCC unroll 8
		for (int c = 0; c < NC; c++) {
			const float xd = kern_cfptr(x + c * st + sh->x_d)[b];
			const float xg = kern_cfptr(x + c * st + sh->x_g)[b];
			const __m256 sc = _mm256_mul_ps(dw, _mm256_set1_ps(xd));
			acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[c]), sc, acc[c]);
			acc[c] = _mm256_fmadd_ps(mw, _mm256_set1_ps(xg), acc[c]);
		}
	}
#pragma GCC unroll 8
	for (int c = 0; c < NC; c++) {
		if (sp->last)
			_mm256_maskstore_ps(out + c * ldo, rowmask, acc[c]);
		else
			_mm256_maskstore_ps(sp->acc + c * sp->ldacc, rowmask, acc[c]);
	}
}

#define NC_CASES(G, WIDE)                                                               \
	switch (n) {                                                                    \
	case 1: tile_int_nc(1, G, WIDE, mr, sh, w, xj, &s, out + j * ldo, ldo); break;  \
	case 2: tile_int_nc(2, G, WIDE, mr, sh, w, xj, &s, out + j * ldo, ldo); break;  \
	case 3: tile_int_nc(3, G, WIDE, mr, sh, w, xj, &s, out + j * ldo, ldo); break;  \
	default: tile_int_nc(4, G, WIDE, mr, sh, w, xj, &s, out + j * ldo, ldo); break; \
	}

AVX2 static void tile_int_avx2(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                               const uint8_t *x, const struct kern_span *sp, float *out,
                               int64_t ldo)
{
	for (int j = 0; j < nr; j += NC2) {
		const int n = nr - j < NC2 ? nr - j : NC2;
		const uint8_t *xj = x + (size_t)j * sh->stride;
		struct kern_span s = {0, sh->k, 1, 1, NULL, 0};
		if (sp) {
			s = *sp;
			s.acc = sp->acc + j * sp->ldacc;
		}
		if (sh->group == 16)
			NC_CASES(16, 0)
		else if (sh->wide)
			NC_CASES(32, 1)
		else
			NC_CASES(32, 0)
	}
}

/* ---- int path: fused generation kernel ------------------------------------ *
 * For one to three activation rows the tile is not worth storing (more go
 * three at a time, see gemv8). The 8
 * weight rows are read row by row in their GGUF blocks: each row's levels of
 * a 32-element unit meet the activation bytes in VPMADDUBSW + VPMADDWD (8
 * partial sums a row), and a tree of VPHADDD folds the 8 rows' partials into
 * one vector holding each row's exact block sum in its lane, which is the
 * tile's layout (the nibble types put two rows in a vector, the others pair
 * rows with VPHADDW first); the scales of the 8 rows are loaded into lanes
 * the same way.
 * Integer sums are exact, so they equal the tile's whatever the order, and
 * the floating-point operations per lane are those of unpack_tile8 +
 * tile_int_nc, in the same order: the same bits. Full 8-row tiles only.
 */
#define GV_NC 3

/* The dword at p + rb * r in lane r, by scalar loads paired into qwords
 * (VPGATHERDD measured 5-10% slower overall). */
AVX2 INLINE __m256i load_d8(const uint8_t *p, size_t rb)
{
	uint32_t d[8];
#pragma GCC unroll 8
	for (int r = 0; r < 8; r++)
		memcpy(&d[r], p + rb * (size_t)r, 4);
	return _mm256_setr_epi64x((long long)((uint64_t)d[0] | (uint64_t)d[1] << 32),
	                          (long long)((uint64_t)d[2] | (uint64_t)d[3] << 32),
	                          (long long)((uint64_t)d[4] | (uint64_t)d[5] << 32),
	                          (long long)((uint64_t)d[6] | (uint64_t)d[7] << 32));
}

/* The low and the high 16 bits of 8 dwords, as fp16 values, to floats. */
AVX2 INLINE void h16_pair(__m256i v, __m256 *lo, __m256 *hi)
{
	const __m256i shuf = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
	                                      0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
	v = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, shuf), 0xD8);
	*lo = _mm256_cvtph_ps(_mm256_castsi256_si128(v));
	*hi = _mm256_cvtph_ps(_mm256_extracti128_si256(v, 1));
}

/* Levels of 32-element unit j of the GGUF block (Q8_0) or super-block at p,
 * in element order (Q8_0: the stored signed bytes, level - 128). The nibble
 * types go through gv_unit_nib instead. */
AVX2 INLINE __m256i gv_levels(uint32_t t, const uint8_t *p, int j)
{
	const __m256i m4 = _mm256_set1_epi8(15);
	switch (t) {
	case TENSOR_Q8_0: return _mm256_loadu_si256((const __m256i *)(const void *)(p + 2));
	case TENSOR_Q4_K: {
		__m256i v =
		        _mm256_loadu_si256((const __m256i *)(const void *)(p + 16 + 32 * (j / 2)));
		if (j & 1)
			v = _mm256_srli_epi16(v, 4);
		return _mm256_and_si256(v, m4);
	}
	case TENSOR_Q5_K: {
		__m256i v =
		        _mm256_loadu_si256((const __m256i *)(const void *)(p + 48 + 32 * (j / 2)));
		if (j & 1)
			v = _mm256_srli_epi16(v, 4);
		const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(p + 16));
		/* bit j of each byte moved to bit 4 (bits crossing bytes fall outside) */
		const __m256i h = _mm256_and_si256(j <= 4 ? _mm256_slli_epi16(qh, 4 - j)
		                                          : _mm256_srli_epi16(qh, j - 4),
		                                   _mm256_set1_epi8(0x10));
		return _mm256_or_si256(_mm256_and_si256(v, m4), h);
	}
	case TENSOR_Q6_K: {
		/* elements 32 j.. of the super-block: blocks 2j and 2j + 1 of 16 */
		const int h = j / 4, k = j % 4;
		__m256i lo = _mm256_loadu_si256(
		        (const __m256i *)(const void *)(p + 64 * h + 32 * (k & 1)));
		if (k >= 2)
			lo = _mm256_srli_epi16(lo, 4);
		lo = _mm256_and_si256(lo, m4);
		__m256i hi = _mm256_loadu_si256((const __m256i *)(const void *)(p + 128 + 32 * h));
		/* bits 2k, 2k+1 of each byte moved to bits 4, 5 */
		hi = _mm256_and_si256(k <= 2 ? _mm256_slli_epi16(hi, 4 - 2 * k)
		                             : _mm256_srli_epi16(hi, 2),
		                      _mm256_set1_epi8(0x30));
		return _mm256_or_si256(lo, hi);
	}
	default: return _mm256_setzero_si256();
	}
}

/* Partial sums (8 lanes of 4 products) of one row's unit against x. */
AVX2 INLINE __m256i gv_madd(uint32_t t, __m256i lv, __m256i x)
{
	const __m256i ones = _mm256_set1_epi16(1);
	if (t == TENSOR_Q8_0) /* signed levels: |w| times x with w's sign */
		return _mm256_madd_epi16(
		        _mm256_maddubs_epi16(_mm256_abs_epi8(lv), _mm256_sign_epi8(x, lv)), ones);
	return _mm256_madd_epi16(_mm256_maddubs_epi16(lv, x), ones);
}

/* The exact integer sums of unit j of the GGUF blocks at p + rb * r (rows
 * 0..7) against NC activation units xq[c], lanes = rows: s[c] for the 32
 * elements, or (Q6_K) s[c] and s2[c] for the two blocks of 16. */
AVX2 INLINE void gv_unit(const int NC, uint32_t t, const uint8_t *p, size_t rb, int j,
                         const int8_t *const *xq, __m256i *s, __m256i *s2)
{
	__m256i x[GV_NC], half[2][GV_NC];
#pragma GCC unroll 4
	for (int c = 0; c < NC; c++)
		x[c] = _mm256_loadu_si256((const __m256i *)(const void *)xq[c]);
#pragma GCC unroll 2
	for (int q = 0; q < 2; q++) { /* rows 4q..4q+3 */
		__m256i h[2][GV_NC];
#pragma GCC unroll 2
		for (int pr = 0; pr < 2; pr++) {
			const __m256i l0 = gv_levels(t, p + rb * (size_t)(4 * q + 2 * pr), j);
			const __m256i l1 = gv_levels(t, p + rb * (size_t)(4 * q + 2 * pr + 1), j);
#pragma GCC unroll 4
			for (int c = 0; c < NC; c++) {
				if (t == TENSOR_Q8_0) {
					h[pr][c] = _mm256_hadd_epi32(gv_madd(t, l0, x[c]),
					                             gv_madd(t, l1, x[c]));
				} else {
					/* levels <= 63, |x| <= 128: 4 products fit an int16 */
					const __m256i ones = _mm256_set1_epi16(1);
					h[pr][c] = _mm256_madd_epi16(
					        _mm256_hadd_epi16(_mm256_maddubs_epi16(l0, x[c]),
					                          _mm256_maddubs_epi16(l1, x[c])),
					        ones);
				}
			}
		}
#pragma GCC unroll 4
		for (int c = 0; c < NC; c++) /* [r0 r1 r2 r3 lanes 0-3 | the same, 4-7] */
			half[q][c] = _mm256_hadd_epi32(h[0][c], h[1][c]);
	}
#pragma GCC unroll 4
	for (int c = 0; c < NC; c++) {
		const __m256i a = half[0][c], b = half[1][c];
		if (t == TENSOR_Q6_K) {
			s[c] = _mm256_permute2x128_si256(a, b, 0x20);
			s2[c] = _mm256_permute2x128_si256(a, b, 0x31);
		} else {
			s[c] = _mm256_add_epi32(_mm256_blend_epi32(a, b, 0xF0),
			                        _mm256_permute2x128_si256(a, b, 0x21));
		}
	}
}

/* The 16-byte nibble types (Q4_0, Q4_1, Q5_0, Q5_1) two rows a vector: row
 * k's low nibbles (elements 0-15) in the lower half next to row k + 4's,
 * the high nibbles (16-31) likewise, against the activations' two halves
 * each broadcast; three VPHADDD then leave rows 0..7 in lanes 0..7. */
AVX2 INLINE void gv_unit_nib(const int NC, uint32_t t, const uint8_t *p, size_t rb,
                             const int8_t *const *xq, __m256i *s)
{
	const size_t qs_off = t == TENSOR_Q4_0   ? 2
	                      : t == TENSOR_Q4_1 ? 4
	                      : t == TENSOR_Q5_0 ? 6
	                                         : 8;
	const size_t qh_off = t == TENSOR_Q5_0 ? 2 : 4;
	const int five = t == TENSOR_Q5_0 || t == TENSOR_Q5_1;
	const __m256i m4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
	__m256i xl[GV_NC], xh[GV_NC], pk[4][GV_NC];
#pragma GCC unroll 4
	for (int c = 0; c < NC; c++) {
		xl[c] = _mm256_broadcastsi128_si256(
		        _mm_loadu_si128((const __m128i *)(const void *)xq[c]));
		xh[c] = _mm256_broadcastsi128_si256(
		        _mm_loadu_si128((const __m128i *)(const void *)(xq[c] + 16)));
	}
#pragma GCC unroll 4
	for (int k = 0; k < 4; k++) {
		const uint8_t *pa = p + rb * (size_t)k, *pb = p + rb * (size_t)(k + 4);
		const __m256i v = _mm256_inserti128_si256(
		        _mm256_castsi128_si256(
		                _mm_loadu_si128((const __m128i *)(const void *)(pa + qs_off))),
		        _mm_loadu_si128((const __m128i *)(const void *)(pb + qs_off)), 1);
		__m256i lo = _mm256_and_si256(v, m4);
		__m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
		if (five) {
			/* fifth bits: lo takes bits 0-15 of each row's qh, hi 16-31 */
			uint32_t a, b;
			memcpy(&a, pa + qh_off, 4);
			memcpy(&b, pb + qh_off, 4);
			const __m256i u =
			        _mm256_set1_epi64x((long long)((uint64_t)a | (uint64_t)b << 32));
			const __m256i bits = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
			const __m256i x10 = _mm256_set1_epi8(0x10);
			const __m256i sl = _mm256_setr_epi64x(
			        0, 0x0101010101010101, 0x0404040404040404, 0x0505050505050505);
			const __m256i sh =
			        _mm256_setr_epi64x(0x0202020202020202, 0x0303030303030303,
			                           0x0606060606060606, 0x0707070707070707);
			const __m256i bl = _mm256_and_si256(_mm256_shuffle_epi8(u, sl), bits);
			const __m256i bh = _mm256_and_si256(_mm256_shuffle_epi8(u, sh), bits);
			lo = _mm256_or_si256(lo,
			                     _mm256_and_si256(_mm256_cmpeq_epi8(bl, bits), x10));
			hi = _mm256_or_si256(hi,
			                     _mm256_and_si256(_mm256_cmpeq_epi8(bh, bits), x10));
		}
#pragma GCC unroll 4
		for (int c = 0; c < NC; c++) /* at most 4 * 31 * 127 a lane: no overflow */
			pk[k][c] =
			        _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, xl[c]),
			                                           _mm256_maddubs_epi16(hi, xh[c])),
			                          ones);
	}
#pragma GCC unroll 4
	for (int c = 0; c < NC; c++)
		s[c] = _mm256_hadd_epi32(_mm256_hadd_epi32(pk[0][c], pk[1][c]),
		                         _mm256_hadd_epi32(pk[2][c], pk[3][c]));
}

/* acc[c] += block b's sums, as tile_int_nc does. */
AVX2 INLINE void gv_acc(const int NC, const int wide, const uint8_t *x, size_t st,
                        const struct kern_shape *sh, int64_t b, const __m256i *s, __m256 dw,
                        __m256 mw, __m256 *acc)
{
#pragma GCC unroll 4
	for (int c = 0; c < NC; c++) {
		const uint8_t *xc = x + (size_t)c * st;
		__m256i is = s[c];
		if (wide)
			is = _mm256_add_epi32(
			        is,
			        _mm256_slli_epi32(
			                _mm256_set1_epi32(
			                        ((const int32_t *)(const void *)(xc + sh->x_s))[b]),
			                7));
		const __m256 sc = _mm256_mul_ps(dw, _mm256_set1_ps(kern_cfptr(xc + sh->x_d)[b]));
		acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), sc, acc[c]);
		acc[c] = _mm256_fmadd_ps(mw, _mm256_set1_ps(kern_cfptr(xc + sh->x_g)[b]), acc[c]);
	}
}

AVX2 INLINE void gemv8_nc(const int NC, uint32_t t, const uint8_t *rows, size_t rb,
                          const struct kern_shape *sh, const uint8_t *x, const struct kern_span *sp,
                          float *out, int64_t ldo, const uint8_t *pf, size_t pf_len)
{
	const int G = sh->group;
	const int64_t b0 = sp->k0 / G, b1 = sp->k1 / G;
	const size_t st = sh->stride;
	const int8_t *xq[GV_NC];
	__m256 acc[GV_NC];
	__m256i s[GV_NC], s2[GV_NC];

#pragma GCC unroll 4
	for (int c = 0; c < NC; c++)
		acc[c] = sp->first ? _mm256_setzero_ps() : _mm256_loadu_ps(sp->acc + c * sp->ldacc);
	switch (t) {
	case TENSOR_Q4_0:
	case TENSOR_Q4_1:
	case TENSOR_Q5_0:
	case TENSOR_Q5_1:
	case TENSOR_Q8_0: {
		const size_t bsize = t == TENSOR_Q4_0   ? sizeof(struct blk_q4_0)
		                     : t == TENSOR_Q4_1 ? sizeof(struct blk_q4_1)
		                     : t == TENSOR_Q5_0 ? sizeof(struct blk_q5_0)
		                     : t == TENSOR_Q5_1 ? sizeof(struct blk_q5_1)
		                                        : sizeof(struct blk_q8_0);
		const float mul = t == TENSOR_Q4_0 ? -8.f : t == TENSOR_Q5_0 ? -16.f : -128.f;
		const int has_m = t == TENSOR_Q4_1 || t == TENSOR_Q5_1;
		for (int64_t b = b0; b < b1; b++) {
			const uint8_t *p = rows + bsize * (size_t)b;
			kx_pf_step(pf, pf_len, b - b0, b1 - b0);
#pragma GCC unroll 4
			for (int c = 0; c < NC; c++)
				xq[c] = (const int8_t *)(x + (size_t)c * st) + 32 * b;
			if (t != TENSOR_Q8_0)
				gv_unit_nib(NC, t, p, rb, xq, s);
			else
				gv_unit(NC, t, p, rb, 0, xq, s, s2);
			__m256 d, m;
			h16_pair(load_d8(p, rb), &d, &m);
			if (!has_m)
				m = _mm256_mul_ps(d, _mm256_set1_ps(mul));
			gv_acc(NC, t == TENSOR_Q8_0, x, st, sh, b, s, d, m, acc);
		}
		break;
	}
	case TENSOR_Q4_K:
	case TENSOR_Q5_K: {
		const size_t bsize =
		        t == TENSOR_Q5_K ? sizeof(struct blk_q5_k) : sizeof(struct blk_q4_k);
		const __m256i m6 = _mm256_set1_epi32(0x3f3f3f3f),
		              m4 = _mm256_set1_epi32(0x0f0f0f0f);
		const __m256i m2 = _mm256_set1_epi32(0x30303030), ff = _mm256_set1_epi32(0xff);
		for (int64_t sb = b0 / 8; sb < b1 / 8; sb++) {
			const uint8_t *p = rows + bsize * (size_t)sb;
			__m256 d, dmin;
			h16_pair(load_d8(p, rb), &d, &dmin);
			const __m256i u0 = load_d8(p + 4, rb), u1 = load_d8(p + 8, rb),
			              u2 = load_d8(p + 12, rb);
			/* bytes 0-3 of sc[0]: scales 0-3 of the row, sc[1] 4-7; m the mins */
			const __m256i sc[2] = {
			        _mm256_and_si256(u0, m6),
			        _mm256_or_si256(_mm256_and_si256(u2, m4),
			                        _mm256_and_si256(_mm256_srli_epi32(u0, 2), m2))};
			const __m256i mn[2] = {
			        _mm256_and_si256(u1, m6),
			        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(u2, 4), m4),
			                        _mm256_and_si256(_mm256_srli_epi32(u1, 2), m2))};
#pragma GCC unroll 8
			for (int j = 0; j < 8; j++) {
				const int64_t b = 8 * sb + j;
				kx_pf_step(pf, pf_len, b - b0, b1 - b0);
#pragma GCC unroll 4
				for (int c = 0; c < NC; c++)
					xq[c] = (const int8_t *)(x + (size_t)c * st) + 32 * b;
				gv_unit(NC, t, p, rb, j, xq, s, s2);
				const int sh8 = 8 * (j % 4);
				const __m256 dw = _mm256_mul_ps(
				        d, _mm256_cvtepi32_ps(_mm256_and_si256(
				                   _mm256_srli_epi32(sc[j / 4], sh8), ff)));
				const __m256 dm = _mm256_mul_ps(
				        dmin, _mm256_cvtepi32_ps(_mm256_and_si256(
				                      _mm256_srli_epi32(mn[j / 4], sh8), ff)));
				gv_acc(NC, t == TENSOR_Q8_0, x, st, sh, b, s, dw,
				       _mm256_xor_ps(dm, _mm256_set1_ps(-0.f)), acc);
			}
		}
		break;
	}
	case TENSOR_Q6_K:
		for (int64_t sb = b0 / 16; sb < b1 / 16; sb++) {
			const uint8_t *p = rows + sizeof(struct blk_q6_k) * (size_t)sb;
			__m256 d, unused;
			h16_pair(load_d8(p + 206, rb), &unused, &d); /* scales 14, 15, d */
			(void)unused;
			__m256i scl[4]; /* bytes 0-3 of scl[i]: int8 scales 4i..4i+3 */
#pragma GCC unroll 4
			for (int i = 0; i < 4; i++)
				scl[i] = load_d8(p + 192 + 4 * i, rb);
#pragma GCC unroll 8
			for (int j = 0; j < 8; j++) { /* blocks 2j, 2j + 1 of 16 */
				const int64_t b = 16 * sb + 2 * j;
				kx_pf_step(pf, pf_len, 8 * (sb - b0 / 16) + j, (b1 - b0) / 2);
#pragma GCC unroll 4
				for (int c = 0; c < NC; c++)
					xq[c] = (const int8_t *)(x + (size_t)c * st) + 16 * b;
				gv_unit(NC, t, p, rb, j, xq, s, s2);
#pragma GCC unroll 2
				for (int e = 0; e < 2; e++) {
					const int jj = 2 * j + e;
					const __m256i sci = _mm256_srai_epi32(
					        _mm256_slli_epi32(scl[jj / 4], 24 - 8 * (jj % 4)),
					        24);
					const __m256 dw = _mm256_mul_ps(d, _mm256_cvtepi32_ps(sci));
					gv_acc(NC, t == TENSOR_Q8_0, x, st, sh, b + e, e ? s2 : s,
					       dw, _mm256_mul_ps(dw, _mm256_set1_ps(-32.f)), acc);
				}
			}
		}
		break;
	default: break;
	}
#pragma GCC unroll 4
	for (int c = 0; c < NC; c++) {
		if (sp->last)
			_mm256_storeu_ps(out + c * ldo, acc[c]);
		else
			_mm256_storeu_ps(sp->acc + c * sp->ldacc, acc[c]);
	}
}

/* One instance per type and activation count, so that every branch on the
 * type folds away. */
#define GEMV8_NC(T)                                                                                \
	AVX2 static void gemv8_##T(const uint8_t *rows, size_t rb, const struct kern_shape *sh,    \
	                           const uint8_t *x, int nc, const struct kern_span *sp,           \
	                           float *out, int64_t ldo, const uint8_t *pf, size_t pf_len)      \
	{                                                                                          \
		switch (nc) {                                                                      \
		case 1: gemv8_nc(1, TENSOR_##T, rows, rb, sh, x, sp, out, ldo, pf, pf_len); break; \
		case 2: gemv8_nc(2, TENSOR_##T, rows, rb, sh, x, sp, out, ldo, pf, pf_len); break; \
		default: gemv8_nc(3, TENSOR_##T, rows, rb, sh, x, sp, out, ldo, pf, pf_len);       \
			break;                                                                     \
		}                                                                                  \
	}
KERN_FOR_INT_TYPES(GEMV8_NC)

#ifndef GV_ROWS
#define GV_ROWS 8 /* activation rows gemv8 takes (kern_isa_ops.gemv_rows) */
#endif

/* Any number of activation rows, three at a time: past the first group the
 * tile's weights come from the cache (the prefetch hints go with the first
 * group only). */
AVX2 static void gemv8(uint32_t t, const uint8_t *rows, size_t rb, const struct kern_shape *sh,
                       const uint8_t *x, int nc, const struct kern_span *sp, float *out,
                       int64_t ldo, const uint8_t *pf, size_t pf_len)
{
	for (int j = 0; j < nc; j += GV_NC) {
		const int n = nc - j < GV_NC ? nc - j : GV_NC;
		const uint8_t *xj = x + sh->stride * (size_t)j;
		float *oj = out + j * ldo;
		struct kern_span s = *sp;
		s.acc = sp->acc + j * sp->ldacc;
		const uint8_t *pfj = j == 0 ? pf : NULL;
		switch (t) {
#define GEMV8_CASE(T) \
	case TENSOR_##T: gemv8_##T(rows, rb, sh, xj, n, &s, oj, ldo, pfj, pf_len); break;
			KERN_FOR_INT_TYPES(GEMV8_CASE)
#undef GEMV8_CASE
		default: break;
		}
	}
}

/* ---- float path tile ------------------------------------------------------ */

/* ((v[0..7] + v[8..15]) -> 4 -> 2 -> 1), as kern.c's hsum16. */
AVX2 INLINE float hsum16_2x8(__m256 lo, __m256 hi)
{
	const __m256 a = _mm256_add_ps(lo, hi);
	const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
	const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
	return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* The 16 lanes of element (i, j) kept between spans (kern_impl.h). */
static inline float *span_lanes(const struct kern_span *sp, int i, int j)
{
	return sp->acc + (j * sp->ldacc + i) * 16;
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
	const int first = sp ? sp->first : 1, last = sp ? sp->last : 1;

#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++) {
			if (!first) {
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
			if (!last) {
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

/* ---- float path: fused generation kernel ---------------------------------- *
 * The weights converted on the fly (F16 with VCVTPH2PS, BF16 by a shift;
 * both exact), no unpacked rows: per output element the same 16 lanes of
 * FMAs over the same zero-padded chunks of 16 as unpack + tile_float, and
 * the same hsum16, so the same bits.
 */
#define GF_NC 3
#ifndef GF_TM
#define GF_TM 12 /* rows per float tile (tile_m_float): the generation item's step */
#endif

/* Chunk e..e+15 of a row of type t as two vectors of 8 floats. */
AVX2 INLINE void gf_load(uint32_t t, const uint8_t *row, int64_t e, __m256 *lo, __m256 *hi)
{
	switch (t) {
	case TENSOR_F16:
		*lo = _mm256_cvtph_ps(
		        _mm_loadu_si128((const __m128i *)(const void *)(row + 2 * e)));
		*hi = _mm256_cvtph_ps(
		        _mm_loadu_si128((const __m128i *)(const void *)(row + 2 * e + 16)));
		return;
	case TENSOR_BF16:
		*lo = bf16x8((const uint16_t *)(const void *)(row + 2 * e));
		*hi = bf16x8((const uint16_t *)(const void *)(row + 2 * e + 16));
		return;
	default:
		*lo = _mm256_loadu_ps(kern_cfptr(row + 4 * e));
		*hi = _mm256_loadu_ps(kern_cfptr(row + 4 * e + 32));
		return;
	}
}

/* The last chunk of a row whose length k is not a multiple of 16: its
 * left < 16 elements next to zeros, as the unpacked row holds them (masked
 * loads: nothing past the row is read). */
AVX2 INLINE void gf_load_tail(uint32_t t, const uint8_t *row, int64_t e, int left, __m256 *lo,
                              __m256 *hi)
{
	const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
	if (t == TENSOR_F32) {
		const float *f = kern_cfptr(row + 4 * e);
		*lo = _mm256_maskload_ps(f, _mm256_cmpgt_epi32(_mm256_set1_epi32(left), lane));
		*hi = _mm256_maskload_ps(f + 8,
		                         _mm256_cmpgt_epi32(_mm256_set1_epi32(left - 8), lane));
		return;
	}
	/* 16-bit elements: the whole dwords, then an odd last element alone */
	const uint8_t *h = row + 2 * e;
	const int nd = left / 2;
	__m256i v = _mm256_maskload_epi32((const int *)(const void *)h,
	                                  _mm256_cmpgt_epi32(_mm256_set1_epi32(nd), lane));
	if (left & 1) {
		uint16_t last;
		memcpy(&last, h + 2 * (left - 1), 2);
		v = _mm256_or_si256(
		        v, _mm256_and_si256(_mm256_set1_epi32(last),
		                            _mm256_cmpeq_epi32(_mm256_set1_epi32(nd), lane)));
	}
	const __m128i v0 = _mm256_castsi256_si128(v), v1 = _mm256_extracti128_si256(v, 1);
	if (t == TENSOR_F16) {
		*lo = _mm256_cvtph_ps(v0);
		*hi = _mm256_cvtph_ps(v1);
	} else {
		*lo = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v0), 16));
		*hi = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v1), 16));
	}
}

AVX2 INLINE void gemvf_mn(const int MR, const int NC, uint32_t t, const uint8_t *rows, size_t rb,
                          const struct kern_shape *sh, const uint8_t *x, float *out, int64_t ldo,
                          const uint8_t *pf, size_t pf_len)
{
	__m256 acc[6][GF_NC][2];
	const size_t st = sh->stride;
	const int64_t n_full = sh->k / 16, n_all = sh->kp / 16;
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NC; j++)
			acc[i][j][0] = acc[i][j][1] = _mm256_setzero_ps();
	for (int64_t c = 0; c < n_all; c++) {
		const int64_t e = 16 * c;
		const int tail = c == n_full; /* only the last chunk, if k % 16 */
		kx_pf_step(pf, pf_len, c, n_all);
#pragma GCC unroll 8
		for (int i = 0; i < MR; i++) {
			__m256 w0, w1;
			if (!tail)
				gf_load(t, rows + rb * (size_t)i, e, &w0, &w1);
			else
				gf_load_tail(t, rows + rb * (size_t)i, e, (int)(sh->k - e), &w0,
				             &w1);
#pragma GCC unroll 8
			for (int j = 0; j < NC; j++) {
				const float *xj = kern_cfptr(x + (size_t)j * st) + e;
				acc[i][j][0] =
				        _mm256_fmadd_ps(w0, _mm256_loadu_ps(xj), acc[i][j][0]);
				acc[i][j][1] =
				        _mm256_fmadd_ps(w1, _mm256_loadu_ps(xj + 8), acc[i][j][1]);
			}
		}
	}
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NC; j++)
			out[j * ldo + i] = hsum16_2x8(acc[i][j][0], acc[i][j][1]);
}

#define GF_NCASE(MR)                                                              \
	switch (nc) {                                                             \
	case 1: gemvf_mn(MR, 1, t, rows, rb, sh, x, out, ldo, pfi, pf_n); break;  \
	case 2: gemvf_mn(MR, 2, t, rows, rb, sh, x, out, ldo, pfi, pf_n); break;  \
	default: gemvf_mn(MR, 3, t, rows, rb, sh, x, out, ldo, pfi, pf_n); break; \
	}

#ifndef GF_STEP1
#define GF_STEP1 6
#endif

AVX2 INLINE void gemv_float_nc(uint32_t t, const uint8_t *rows, size_t rb, int mr,
                               const struct kern_shape *sh, const uint8_t *x, int nc, float *out,
                               int64_t ldo, const uint8_t *pf, size_t pf_len)
{
	/* row groups that keep 12 accumulators in registers */
	const int step = nc == 1 ? GF_STEP1 : nc == 2 ? 3 : 2;
	for (int i = 0; i < mr; i += step) {
		const int m = mr - i < step ? mr - i : step;
		/* each group prefetches its share of the next tile */
		const size_t p0 = pf_len * (size_t)i / (size_t)mr,
		             p1 = pf_len * (size_t)(i + m) / (size_t)mr;
		const uint8_t *pfi = pf ? pf + p0 : NULL;
		const size_t pf_n = p1 - p0;
		if (m == 6) {
			GF_NCASE(6)
		} else if (m == 4) {
			GF_NCASE(4)
		} else if (m == 2) {
			GF_NCASE(2)
		} else if (m == 3) {
			GF_NCASE(3)
		} else if (m == 5) {
			GF_NCASE(5)
		} else {
			GF_NCASE(1)
		}
		rows += rb * (size_t)m;
		out += m;
	}
}

/* Any number of activation rows, three at a time (see gemv8). */
AVX2 static void gemv_float_rows(uint32_t t, const uint8_t *rows, size_t rb, int mr,
                                 const struct kern_shape *sh, const uint8_t *x, int nc, float *out,
                                 int64_t ldo, const uint8_t *pf, size_t pf_len)
{
	for (int j = 0; j < nc; j += GF_NC) {
		const int n = nc - j < GF_NC ? nc - j : GF_NC;
		gemv_float_nc(t, rows, rb, mr, sh, x + sh->stride * (size_t)j, n, out + j * ldo,
		              ldo, j == 0 ? pf : NULL, pf_len);
	}
}

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
	float *xd = kern_fptr(out + sh->x_d), *xg = kern_fptr(out + sh->x_g);
	int32_t *xs = (int32_t *)(void *)(out + sh->x_s);
	const __m256 am = _mm256_castsi256_ps(_mm256_set1_epi32((int)abs_mask));
	for (int64_t b = 0; b < sh->nb; b++) {
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
		xd[b] = dh;
		xg[b] = q81 ? _cvtsh_ss(_cvtss_sh(d * (float)isum, 0)) : dh * (float)isum;
		xs[b] = isum;
	}
	memset(out + sh->k, 0, sh->x_d - (size_t)sh->k);
	memset(out + sh->x_s + 4 * (size_t)sh->nb, 0, sh->stride - sh->x_s - 4 * (size_t)sh->nb);
}

/* Q8_K activations: per 256 values, the largest magnitude maps to -127. */
AVX2 INLINE void pack_q8k(const float *x, const struct kern_shape *sh, uint8_t *out)
{
	float *xd = kern_fptr(out + sh->x_d), *xg = kern_fptr(out + sh->x_g);
	int32_t *xs = (int32_t *)(void *)(out + sh->x_s);
	const __m256 am = _mm256_castsi256_ps(_mm256_set1_epi32((int)abs_mask));
	const int G = sh->group;
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
		for (int j = 0; j < QK_K / G; j++) {
			const int sum = G == 16 ? sums[j] : sums[2 * j] + sums[2 * j + 1];
			const int64_t blk = QK_K / G * b + j;
			xd[blk] = d;
			xg[blk] = d * (float)sum;
			xs[blk] = sum;
		}
	}
	memset(out + sh->k, 0, sh->x_d - (size_t)sh->k);
	memset(out + sh->x_s + 4 * (size_t)sh->nb, 0, sh->stride - sh->x_s - 4 * (size_t)sh->nb);
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

/* ---- one row: kern_vec_dot for the quantized types ------------------------ *
 * GGUF blocks in, the matmul's numbers out (kern_impl.h: per block,
 * acc = fma(isum, dw * dx, acc); acc = fma(mw, gx, acc)), so a single dot
 * agrees bit for bit with the same row of kern_matmul.
 */

/* dw and mw of block b of a weight row (b counts G-element blocks). */
AVX2 INLINE void row_scales(uint32_t t, const uint8_t *row, int64_t b, float *dw, float *mw)
{
	switch (t) {
	case TENSOR_Q4_0: {
		const float d = h2f(((const struct blk_q4_0 *)row)[b].d);
		*dw = d;
		*mw = -8.f * d;
		return;
	}
	case TENSOR_Q4_1:
		*dw = h2f(((const struct blk_q4_1 *)row)[b].d);
		*mw = h2f(((const struct blk_q4_1 *)row)[b].m);
		return;
	case TENSOR_Q5_0: {
		const float d = h2f(((const struct blk_q5_0 *)row)[b].d);
		*dw = d;
		*mw = -16.f * d;
		return;
	}
	case TENSOR_Q5_1:
		*dw = h2f(((const struct blk_q5_1 *)row)[b].d);
		*mw = h2f(((const struct blk_q5_1 *)row)[b].m);
		return;
	case TENSOR_Q8_0: {
		const float d = h2f(((const struct blk_q8_0 *)row)[b].d);
		*dw = d;
		*mw = -128.f * d;
		return;
	}
	case TENSOR_Q4_K:
	case TENSOR_Q5_K: {
		const int five = t == TENSOR_Q5_K;
		const struct blk_q4_k *x4 = (const struct blk_q4_k *)row + b / 8;
		const struct blk_q5_k *x5 = (const struct blk_q5_k *)row + b / 8;
		uint8_t sc, m;
		kern_scale_min_k4((int)(b % 8), five ? x5->scales : x4->scales, &sc, &m);
		*dw = h2f(five ? x5->d : x4->d) * (float)sc;
		*mw = -(h2f(five ? x5->dmin : x4->dmin) * (float)m);
		return;
	}
	default: { /* Q6_K */
		const struct blk_q6_k *x = (const struct blk_q6_k *)row + b / 16;
		*dw = h2f(x->d) * (float)x->scales[b % 16];
		*mw = -32.f * *dw;
		return;
	}
	}
}

/* Exact integer sum of 8 int32 lanes. */
AVX2 INLINE int hsum_i8x32(__m256i v)
{
	__m128i m = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	m = _mm_add_epi32(m, _mm_unpackhi_epi64(m, m));
	m = _mm_add_epi32(m, _mm_shuffle_epi32(m, 1));
	return _mm_cvtsi128_si32(m);
}

AVX2 INLINE void dot_row(uint32_t t, int64_t n, float *s, const void *vx, const void *vy)
{
	const uint8_t *row = vx, *y = vy;
	const uint32_t vt = kern_vec_dot_type(t);
	const int G = t == TENSOR_Q6_K ? 16 : 32;
	const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
	float acc = 0;

	for (int64_t u = 0; u < n / 32; u++) {
		const __m256i lv = kx_levels(t, row, u);
		const int8_t *xq;
		float dx;
		if (vt == TENSOR_Q8_K) {
			const struct blk_q8_k *yk =
			        (const struct blk_q8_k *)(const void *)y + u / 8;
			xq = yk->qs + 32 * (u % 8);
			dx = yk->d;
		} else if (vt == TENSOR_Q8_1) {
			xq = ((const struct blk_q8_1 *)(const void *)y)[u].qs;
			dx = h2f(((const struct blk_q8_1 *)(const void *)y)[u].d);
		} else {
			xq = ((const struct blk_q8_0 *)(const void *)y)[u].qs;
			dx = h2f(((const struct blk_q8_0 *)(const void *)y)[u].d);
		}
		const __m256i xv = _mm256_loadu_si256((const __m256i *)xq);
		/* lanes of 4 products, then each block's exact sums */
		__m256i prod;
		if (t == TENSOR_Q8_0) { /* levels up to 255: the sign trick, + 128 sum(x) */
			const __m256i w = _mm256_xor_si256(lv, _mm256_set1_epi8((char)0x80));
			prod = _mm256_madd_epi16(
			        _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(xv, w)),
			        ones16);
		} else {
			prod = _mm256_madd_epi16(_mm256_maddubs_epi16(lv, xv), ones16);
		}
		const __m256i xs = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, xv), ones16);
		for (int h = 0; h < 32 / G; h++) {
			/* lanes 0-3 hold elements 0-15, lanes 4-7 elements 16-31 */
			const __m256i keep =
			        G == 32  ? _mm256_set1_epi32(-1)
			        : h == 0 ? _mm256_setr_epi32(-1, -1, -1, -1, 0, 0, 0, 0)
			                 : _mm256_setr_epi32(0, 0, 0, 0, -1, -1, -1, -1);
			const int sx = hsum_i8x32(_mm256_and_si256(xs, keep));
			int isum = hsum_i8x32(_mm256_and_si256(prod, keep));
			if (t == TENSOR_Q8_0)
				isum += 128 * sx;
			const int64_t b = u * (32 / G) + h;
			float gx;
			if (vt == TENSOR_Q8_K)
				gx = dx * (float)sx;
			else if (vt == TENSOR_Q8_1)
				gx = h2f(((const struct blk_q8_1 *)(const void *)y)[u].s);
			else
				gx = dx * (float)sx;
			float dw, mw;
			row_scales(t, row, b, &dw, &mw);
			acc = __builtin_fmaf((float)isum, dw * dx, acc);
			acc = __builtin_fmaf(mw, gx, acc);
		}
	}
	*s = acc;
}

#define DOT_ROW_FN(T)                                                                    \
	AVX2 void kern_dot_avx2_##T(int64_t n, float *s, const void *vx, const void *vy) \
	{                                                                                \
		dot_row(TENSOR_##T, n, s, vx, vy);                                       \
	}
KERN_FOR_INT_TYPES(DOT_ROW_FN)

/* ---- ops ----------------------------------------------------------------- */

#define TILE_ENTRY(T) [TENSOR_##T] = unpack_tile_##T,
#define DOT_ENTRY(T) [TENSOR_##T] = kern_dot_avx2_##T,
#define PACK_ENTRY(T) [TENSOR_##T] = kern_pack_avx2_##T,

const struct kern_isa_ops kern_ops_avx2 = {
        .name = "avx2",
        .rows = R2,
        .unpack = {[TENSOR_F32] = kern_unpack_avx2_F32,
                   [TENSOR_F16] = kern_unpack_avx2_F16,
                   [TENSOR_BF16] = kern_unpack_avx2_BF16},
        .unpack_tile = {KERN_FOR_INT_TYPES(TILE_ENTRY)},
        .pack = {KERN_FOR_TYPES(PACK_ENTRY)},
        .tile_int = tile_int_avx2,
        .gemv = gemv8,
        .gemv_rows = GV_ROWS,
        .gemv_float = gemv_float_rows,
        .tile_float = tile_float_avx2,
        .dot_f32 = dot_f32_avx2,
        .dot_f16 = dot_f16_avx2,
        .dot_bf16 = dot_bf16_avx2,
        .dot_q = {KERN_FOR_INT_TYPES(DOT_ENTRY)},
        .tile_m_float = GF_TM,
        .tile_n_float = TNF,
};

#else /* not x86-64: no AVX2 ops; kern.c never selects them */

const struct kern_isa_ops kern_ops_avx2 = {.name = "avx2"};

#endif

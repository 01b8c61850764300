/*
 * kern_avx512.c: the AVX-512 (F, BW, VL, VNNI) kernels. The int tile holds
 * 16 weight rows, one per 32-bit lane: VPDPBUSD adds 4 level products of
 * all 16 rows to 16 lanes at once against 4 activation bytes broadcast, so a
 * 32-element block of 16 rows by one activation row is 8 instructions of
 * integer work and 4 of floating point. The packers and the float unpackers
 * are the AVX2 ones (kern_avx2.c): they are bound by memory, not vector
 * width.
 *
 * Each computes exactly what its scalar twin in kern.c computes (see
 * kern_impl.h).
 */
#include "infer/kern_impl.h"

#include <string.h>

#if defined(__x86_64__)
#include "infer/kern_x86.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))
#define R5 16 /* rows in an int tile */

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

/* Q6_K: the 6-bit levels of 32-element unit k (0..3) of a 128-element half,
 * for 16 rows (one dword lane per row after t16x8_load): the low nibbles
 * from l0 (units 0, 2) or l1 (units 1, 3), low or high half by k >= 2, and
 * the two high bits from qh shifted by 2k. */
AVX512 INLINE __m512i q6k_levels(__m512i l0, __m512i l1, __m512i qh, int k)
{
	__m512i lo = (k & 1) ? l1 : l0;
	if (k >= 2)
		lo = _mm512_srli_epi16(lo, 4);
	lo = _mm512_and_si512(lo, _mm512_set1_epi8(0x0f));
	const __m512i hb =
	        _mm512_and_si512(_mm512_srli_epi16(qh, (unsigned)(2 * k)), _mm512_set1_epi8(3));
	return _mm512_or_si512(lo, _mm512_slli_epi16(hb, 4));
}

/* ---- int path: 16-row tiles --------------------------------------------- */

/* Transpose 16 rows of 8 dwords: out[g] dword r = in[r] dword g. */
AVX512 INLINE void t16x8(const __m256i in[16], __m512i out[8])
{
	__m512i z[8];
#pragma GCC unroll 8
	for (int k = 0; k < 8; k++)
		z[k] = _mm512_inserti64x4(_mm512_castsi256_si512(in[k]), in[k + 8], 1);
	const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]),
	              t1 = _mm512_unpackhi_epi32(z[0], z[1]);
	const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]),
	              t3 = _mm512_unpackhi_epi32(z[2], z[3]);
	const __m512i t4 = _mm512_unpacklo_epi32(z[4], z[5]),
	              t5 = _mm512_unpackhi_epi32(z[4], z[5]);
	const __m512i t6 = _mm512_unpacklo_epi32(z[6], z[7]),
	              t7 = _mm512_unpackhi_epi32(z[6], z[7]);
	const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
	const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
	const __m512i u4 = _mm512_unpacklo_epi64(t4, t6), u5 = _mm512_unpackhi_epi64(t4, t6);
	const __m512i u6 = _mm512_unpacklo_epi64(t5, t7), u7 = _mm512_unpackhi_epi64(t5, t7);
	/* each 256-bit half holds 8 rows; pick 128-bit lanes across u and u+4 */
	const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
	const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
	out[0] = _mm512_permutex2var_epi64(u0, lo, u4);
	out[1] = _mm512_permutex2var_epi64(u1, lo, u5);
	out[2] = _mm512_permutex2var_epi64(u2, lo, u6);
	out[3] = _mm512_permutex2var_epi64(u3, lo, u7);
	out[4] = _mm512_permutex2var_epi64(u0, hi, u4);
	out[5] = _mm512_permutex2var_epi64(u1, hi, u5);
	out[6] = _mm512_permutex2var_epi64(u2, hi, u6);
	out[7] = _mm512_permutex2var_epi64(u3, hi, u7);
}

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

/* 16 rows of 16 bytes at p + rb * r: out[g] dword r = dword g of row r. */
AVX512 INLINE void t16x4_load(const uint8_t *p, size_t rb, __m512i out[4])
{
	__m512i z[4];
#pragma GCC unroll 4
	for (int k = 0; k < 4; k++) {
		/* 128-bit lane l holds row k + 4 l */
		__m512i v = _mm512_castsi128_si512(
		        _mm_loadu_si128((const __m128i *)(p + rb * (size_t)k)));
		v = _mm512_inserti32x4(
		        v, _mm_loadu_si128((const __m128i *)(p + rb * (size_t)(k + 4))), 1);
		v = _mm512_inserti32x4(
		        v, _mm_loadu_si128((const __m128i *)(p + rb * (size_t)(k + 8))), 2);
		z[k] = _mm512_inserti32x4(
		        v, _mm_loadu_si128((const __m128i *)(p + rb * (size_t)(k + 12))), 3);
	}
	const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]),
	              t1 = _mm512_unpackhi_epi32(z[0], z[1]);
	const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]),
	              t3 = _mm512_unpackhi_epi32(z[2], z[3]);
	out[0] = _mm512_unpacklo_epi64(t0, t2);
	out[1] = _mm512_unpackhi_epi64(t0, t2);
	out[2] = _mm512_unpacklo_epi64(t1, t3);
	out[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* 16 rows of 32 bytes at p + rb * r: out[g] dword r = dword g of row r. */
AVX512 INLINE void t16x8_load(const uint8_t *p, size_t rb, __m512i out[8])
{
	__m256i in[16];
#pragma GCC unroll 16
	for (int r = 0; r < 16; r++)
		in[r] = _mm256_loadu_si256((const __m256i *)(p + rb * (size_t)r));
	t16x8(in, out);
}

/* The fp16 at p + idx[r] (idx: the 16 rows' byte offsets) as floats, by one
 * gather of the dwords there (the caller keeps the 2 bytes after each in
 * bounds). */
AVX512 INLINE __m512 gather_h16(const uint8_t *p, __m512i idx)
{
	return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_i32gather_epi32(idx, p, 1)));
}

/* 16 dwords at p + rb * r. */
AVX512 INLINE __m512i load_d16(const uint8_t *p, size_t rb)
{
	return _mm512_i32gather_epi32(
	        _mm512_mullo_epi32(
	                _mm512_set1_epi32((int)rb),
	                _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)),
	        p, 1);
}

/* The fifth bits of elements 4g..4g+3 from qh dwords, as 0x10 per byte: a
 * 16-entry table indexed by the 4 bits. */
AVX512 INLINE __m512i fifth_bits(__m512i qh, int g)
{
	const __m512i nib =
	        _mm512_and_si512(_mm512_srli_epi32(qh, (unsigned)(4 * g)), _mm512_set1_epi32(15));
	const __m512i spread = _mm512_setr_epi32(0x00000000, 0x00000010, 0x00001000, 0x00001010,
	                                         0x00100000, 0x00100010, 0x00101000, 0x00101010,
	                                         0x10000000, 0x10000010, 0x10001000, 0x10001010,
	                                         0x10100000, 0x10100010, 0x10101000, 0x10101010);
	return _mm512_permutexvar_epi32(nib, spread);
}

/* Fast paths for full 16-row tiles: transpose the raw bytes, then take the
 * levels from the transposed vectors. Same bytes as the generic path. */
AVX512 INLINE int unpack_levels_fast(uint32_t t, const uint8_t *rows, size_t rb,
                                     const struct kern_shape *sh, int64_t b0, int64_t b1,
                                     uint8_t *out, const uint8_t *pf, size_t pf_len)
{
	const size_t wblk = kern_wblk(sh, R5);
	const __m512i m4 = _mm512_set1_epi8(15);
	switch (t) {
	case TENSOR_Q4_0:
	case TENSOR_Q4_1:
	case TENSOR_Q5_0:
	case TENSOR_Q5_1: {
		size_t bsize, qs_off, qh_off = 0;
		switch (t) {
		case TENSOR_Q4_0:
			bsize = sizeof(struct blk_q4_0);
			qs_off = 2;
			break;
		case TENSOR_Q4_1:
			bsize = sizeof(struct blk_q4_1);
			qs_off = 4;
			break;
		case TENSOR_Q5_0:
			bsize = sizeof(struct blk_q5_0);
			qs_off = 6;
			qh_off = 2;
			break;
		default:
			bsize = sizeof(struct blk_q5_1);
			qs_off = 8;
			qh_off = 4;
			break;
		}
		for (int64_t b = b0; b < b1; b++) {
			const uint8_t *p = rows + bsize * (size_t)b;
			__m512i q[4];
			kx_pf_step(pf, pf_len, b - b0, b1 - b0);
			t16x4_load(p + qs_off, rb, q);
			const __m512i qh =
			        qh_off ? load_d16(p + qh_off, rb) : _mm512_setzero_si512();
			uint8_t *ob = out + wblk * (size_t)(b - b0);
#pragma GCC unroll 4
			for (int g = 0; g < 4; g++) {
				__m512i lo = _mm512_and_si512(q[g], m4);
				__m512i hi = _mm512_and_si512(_mm512_srli_epi16(q[g], 4), m4);
				if (qh_off) {
					lo = _mm512_or_si512(lo, fifth_bits(qh, g));
					hi = _mm512_or_si512(hi, fifth_bits(qh, g + 4));
				}
				_mm512_storeu_si512(ob + 64 * g, lo);
				_mm512_storeu_si512(ob + 64 * (g + 4), hi);
			}
		}
		return 1;
	}
	case TENSOR_Q8_0:
		for (int64_t b = b0; b < b1; b++) {
			__m512i q[8];
			kx_pf_step(pf, pf_len, b - b0, b1 - b0);
			t16x8_load(rows + sizeof(struct blk_q8_0) * (size_t)b + 2, rb, q);
			uint8_t *ob = out + wblk * (size_t)(b - b0);
#pragma GCC unroll 8
			for (int g = 0; g < 8; g++)
				_mm512_storeu_si512(
				        ob + 64 * g,
				        _mm512_xor_si512(q[g], _mm512_set1_epi8((char)0x80)));
		}
		return 1;
	case TENSOR_Q4_K:
	case TENSOR_Q5_K: {
		const int five = t == TENSOR_Q5_K;
		const size_t bsize = five ? sizeof(struct blk_q5_k) : sizeof(struct blk_q4_k);
		const size_t qs_off = five ? 48 : 16;
		for (int64_t sb = b0 / 8; sb < b1 / 8; sb++) {
			const uint8_t *p = rows + bsize * (size_t)sb;
			__m512i qh[8];
			kx_pf_step(pf, pf_len, sb - b0 / 8, (b1 - b0) / 8);
			if (five)
				t16x8_load(p + 16, rb, qh);
			for (int c = 0; c < 4; c++) { /* sub-blocks 2c (low nibbles), 2c+1 (high) */
				__m512i q[8];
				t16x8_load(p + qs_off + 32 * (size_t)c, rb, q);
				uint8_t *o0 = out + wblk * (size_t)(8 * sb + 2 * c - b0),
				        *o1 = o0 + wblk;
#pragma GCC unroll 8
				for (int g = 0; g < 8; g++) {
					__m512i lo = _mm512_and_si512(q[g], m4);
					__m512i hi =
					        _mm512_and_si512(_mm512_srli_epi16(q[g], 4), m4);
					if (five) {
						const __m512i one = _mm512_set1_epi8(1);
						lo = _mm512_or_si512(
						        lo,
						        _mm512_slli_epi16(
						                _mm512_and_si512(
						                        _mm512_srli_epi16(
						                                qh[g],
						                                (unsigned)(2 * c)),
						                        one),
						                4));
						hi = _mm512_or_si512(
						        hi,
						        _mm512_slli_epi16(
						                _mm512_and_si512(
						                        _mm512_srli_epi16(
						                                qh[g],
						                                (unsigned)(2 * c +
						                                           1)),
						                        one),
						                4));
					}
					_mm512_storeu_si512(o0 + 64 * g, lo);
					_mm512_storeu_si512(o1 + 64 * g, hi);
				}
			}
		}
		return 1;
	}
	case TENSOR_Q6_K:
		for (int64_t sb = b0 / 16; sb < b1 / 16; sb++) {
			const uint8_t *p = rows + sizeof(struct blk_q6_k) * (size_t)sb;
			kx_pf_step(pf, pf_len, sb - b0 / 16, (b1 - b0) / 16);
			for (int h = 0; h < 2; h++) {
				__m512i l0[8], l1[8], qh[8];
				t16x8_load(p + 64 * h, rb, l0);
				t16x8_load(p + 64 * h + 32, rb, l1);
				t16x8_load(p + 128 + 32 * h, rb, qh);
				/* 32-element unit k = 0..3 of this half: blocks 16 sb + 8 h + 2 k, +1 */
				for (int k = 0; k < 4; k++) {
					uint8_t *ob =
					        out + wblk * (size_t)(16 * sb + 8 * h + 2 * k - b0);
#pragma GCC unroll 8
					for (int g = 0; g < 8; g++) {
						/* groups 0-3 belong to the first 16-block, 4-7 to the second */
						_mm512_storeu_si512(
						        ob + (g < 4 ? 0 : wblk) + 64 * (g % 4),
						        q6k_levels(l0[g], l1[g], qh[g], k));
					}
				}
			}
		}
		return 1;
	default: return 0;
	}
}

/* The 6-bit scales and mins of a Q4_K/Q5_K super-block for 16 rows at once:
 * bytes 0-3 of sc[0] are scales 0-3 of each row, sc[1] scales 4-7, m the
 * same for the mins (the bit layout of kern_scale_min_k4). */
struct k4_scales {
	__m512 d, dmin;
	__m512i sc[2], m[2];
};

AVX512 INLINE void k4_scales16(const uint8_t *p, size_t rb, struct k4_scales *ks)
{
	const __m512i u0 = load_d16(p + 4, rb), u1 = load_d16(p + 8, rb), u2 = load_d16(p + 12, rb);
	const __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f);
	const __m512i m2 = _mm512_set1_epi32(0x30303030);
	ks->d = load_h16(p, rb);
	ks->dmin = load_h16(p + 2, rb);
	ks->sc[0] = _mm512_and_si512(u0, m6);
	ks->m[0] = _mm512_and_si512(u1, m6);
	ks->sc[1] = _mm512_or_si512(_mm512_and_si512(u2, m4),
	                            _mm512_and_si512(_mm512_srli_epi32(u0, 2), m2));
	ks->m[1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(u2, 4), m4),
	                           _mm512_and_si512(_mm512_srli_epi32(u1, 2), m2));
}

/* dw = d * sc_j, mw = -(dmin * m_j) of 16 rows, as kern_row_levels. */
AVX512 INLINE void k4_scale(const struct k4_scales *ks, int j, __m512 *dw, __m512 *mw)
{
	const unsigned sh = (unsigned)(8 * (j % 4));
	const __m512i ff = _mm512_set1_epi32(0xff);
	const __m512i sc = _mm512_and_si512(_mm512_srli_epi32(ks->sc[j / 4], sh), ff);
	const __m512i m = _mm512_and_si512(_mm512_srli_epi32(ks->m[j / 4], sh), ff);
	*dw = _mm512_mul_ps(ks->d, _mm512_cvtepi32_ps(sc));
	const __m512 dm = _mm512_mul_ps(ks->dmin, _mm512_cvtepi32_ps(m));
	*mw = _mm512_castsi512_ps(
	        _mm512_xor_si512(_mm512_castps_si512(dm), _mm512_set1_epi32((int)0x80000000u)));
}

/* The 16 int8 scales and the d of a Q6_K super-block for 16 rows. */
struct q6_scales {
	__m512 d;
	__m512i s[4]; /* bytes 0-3 of s[i]: scales 4i..4i+3 of each row */
};

AVX512 INLINE void q6k_scales16(const uint8_t *p, size_t rb, struct q6_scales *qs)
{
	qs->d = load_h16(p + 208, rb);
	for (int i = 0; i < 4; i++)
		qs->s[i] = load_d16(p + 192 + 4 * i, rb);
}

/* dw = d * sc_j, mw = -32 dw of 16 rows, as kern_row_levels. */
AVX512 INLINE void q6k_scale(const struct q6_scales *qs, int j, __m512 *dw, __m512 *mw)
{
	const unsigned shl = (unsigned)(24 - 8 * (j % 4));
	const __m512i sc = _mm512_srai_epi32(_mm512_slli_epi32(qs->s[j / 4], shl), 24);
	*dw = _mm512_mul_ps(qs->d, _mm512_cvtepi32_ps(sc));
	*mw = _mm512_mul_ps(*dw, _mm512_set1_ps(-32.f));
}

AVX512 INLINE void unpack_tile16_full(uint32_t t, const uint8_t *rows, size_t rb, int n,
                                      const struct kern_shape *sh, int64_t b0, int64_t b1,
                                      uint8_t *out, const uint8_t *pf, size_t pf_len)
{
	(void)n; /* full tiles only: the caller pads short ones */
	const size_t wblk = kern_wblk(sh, R5);
	const int G = sh->group;
	const int64_t u0 = b0 * G / 32, u1 = b1 * G / 32;

	const int fast = unpack_levels_fast(t, rows, rb, sh, b0, b1, out, pf, pf_len);
	for (int64_t u = u0; !fast && u < u1; u++) {
		__m256i lv[16];
		__m512i tr[8];
		kx_pf_step(pf, pf_len, u - u0, u1 - u0);
#pragma GCC unroll 16
		for (int r = 0; r < R5; r++)
			lv[r] = kx_levels(t, rows + rb * (size_t)r, u);
		t16x8(lv, tr);
		if (G == 32) {
			uint8_t *ob = out + wblk * (size_t)(u - b0);
#pragma GCC unroll 8
			for (int g = 0; g < 8; g++)
				_mm512_storeu_si512(ob + 64 * g, tr[g]);
		} else {
			uint8_t *ob = out + wblk * (size_t)(2 * u - b0);
			for (int g = 0; g < 4; g++) {
				_mm512_storeu_si512(ob + 64 * g, tr[g]);
				_mm512_storeu_si512(ob + wblk + 64 * g, tr[g + 4]);
			}
		}
	}
	if (t == TENSOR_Q4_K || t == TENSOR_Q5_K) {
		const size_t bsize =
		        t == TENSOR_Q5_K ? sizeof(struct blk_q5_k) : sizeof(struct blk_q4_k);
		for (int64_t sb = b0 / 8; sb < b1 / 8; sb++) {
			struct k4_scales ks;
			k4_scales16(rows + bsize * (size_t)sb, rb, &ks);
			for (int j = 0; j < 8; j++) {
				uint8_t *ob =
				        out + wblk * (size_t)(8 * sb + j - b0) + (size_t)R5 * 32;
				__m512 dw, mw;
				k4_scale(&ks, j, &dw, &mw);
				_mm512_storeu_ps(kern_fptr(ob), dw);
				_mm512_storeu_ps(kern_fptr(ob + 64), mw);
			}
		}
	} else if (t == TENSOR_Q6_K) {
		for (int64_t sb = b0 / 16; sb < b1 / 16; sb++) {
			struct q6_scales qs;
			q6k_scales16(rows + sizeof(struct blk_q6_k) * (size_t)sb, rb, &qs);
			for (int j = 0; j < 16; j++) {
				uint8_t *ob =
				        out + wblk * (size_t)(16 * sb + j - b0) + (size_t)R5 * 16;
				__m512 dw, mw;
				q6k_scale(&qs, j, &dw, &mw);
				_mm512_storeu_ps(kern_fptr(ob), dw);
				_mm512_storeu_ps(kern_fptr(ob + 64), mw);
			}
		}
	} else {
		/* one fp16 d (and for Q4_1/Q5_1 an fp16 m) per row and block: 16 at once */
		size_t doff = 0, moff = 0, bsize;
		float mul = 0;
		switch (t) {
		case TENSOR_Q4_0:
			bsize = sizeof(struct blk_q4_0);
			mul = -8.f;
			break;
		case TENSOR_Q5_0:
			bsize = sizeof(struct blk_q5_0);
			mul = -16.f;
			break;
		case TENSOR_Q8_0:
			bsize = sizeof(struct blk_q8_0);
			mul = -128.f;
			break;
		case TENSOR_Q4_1:
			bsize = sizeof(struct blk_q4_1);
			moff = 2;
			break;
		default:
			bsize = sizeof(struct blk_q5_1);
			moff = 2;
			break;
		}
		for (int64_t b = b0; b < b1; b++) {
			uint8_t *ob = out + wblk * (size_t)(b - b0) + (size_t)R5 * 32;
			const uint8_t *p = rows + bsize * (size_t)b;
			const __m512 d = load_h16(p + doff, rb);
			_mm512_storeu_ps(kern_fptr(ob), d);
			_mm512_storeu_ps(kern_fptr(ob + 64),
			                 moff ? load_h16(p + moff, rb)
			                      : _mm512_mul_ps(d, _mm512_set1_ps(mul)));
		}
	}
}

/* A short tile (n < R5) through a zero-padded staging buffer. */
AVX512 INLINE void unpack_tile16(uint32_t t, const uint8_t *rows, size_t rb, int n,
                                 const struct kern_shape *sh, int64_t b0, int64_t b1, uint8_t *out,
                                 const uint8_t *pf, size_t pf_len)
{
	if (n < R5) {
		KX_UNPACK_SHORT(R5, unpack_tile16_full, t, rows, rb, n, sh, b0, b1, out);
		return;
	}
	unpack_tile16_full(t, rows, rb, n, sh, b0, b1, out, pf, pf_len);
}

#define UNPACK_TILE_FN(T)                                                                       \
	AVX512 static void unpack_tile_##T(const uint8_t *rows, size_t rb, int n,               \
	                                   const struct kern_shape *sh, int64_t b0, int64_t b1, \
	                                   uint8_t *out, const uint8_t *pf, size_t pf_len)      \
	{                                                                                       \
		unpack_tile16(TENSOR_##T, rows, rb, n, sh, b0, b1, out, pf, pf_len);            \
	}
KERN_FOR_INT_TYPES(UNPACK_TILE_FN)

/* ---- int path: the dot tile (16 rows x NC activation rows) -------------- */

#ifndef NC5
#define NC5 8 /* activation rows per pass */
#endif

AVX512 INLINE void tile_int_nc(const int NC, const int G, int mr, const struct kern_shape *sh,
                               const uint8_t *w, const uint8_t *x, const struct kern_span *sp,
                               float *out, int64_t ldo)
{
	const size_t wblk = kern_wblk(sh, R5), st = sh->stride;
	const __mmask16 rows = (__mmask16)((1u << mr) - 1);
	__m512 acc[NC5];

#pragma GCC unroll 16
	for (int c = 0; c < NC; c++)
		acc[c] = sp->first ? _mm512_setzero_ps()
		                   : _mm512_maskz_loadu_ps(rows, sp->acc + c * sp->ldacc);
	for (int64_t b = sp->k0 / G; b < sp->k1 / G; b++) {
		const uint8_t *wb = w + wblk * (size_t)(b - sp->k0 / G);
		__m512i wg[8];
#pragma GCC unroll 8
		for (int g = 0; g < G / 4; g++)
			wg[g] = _mm512_loadu_si512(wb + 64 * g);
		const __m512 dw = _mm512_loadu_ps(kern_cfptr(wb + R5 * G));
		const __m512 mw = _mm512_loadu_ps(kern_cfptr(wb + R5 * G + 4 * R5));
#pragma GCC unroll 16
		for (int c = 0; c < NC; c++) {
			const uint8_t *xc = x + c * st;
			__m512i is = _mm512_setzero_si512();
#pragma GCC unroll 8
			for (int g = 0; g < G / 4; g++) {
				int32_t xv;
				memcpy(&xv, xc + G * b + 4 * g, 4);
				is = _mm512_dpbusd_epi32(is, wg[g], _mm512_set1_epi32(xv));
			}
			const __m512 sc =
			        _mm512_mul_ps(dw, _mm512_set1_ps(kern_cfptr(xc + sh->x_d)[b]));
			acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), sc, acc[c]);
			acc[c] = _mm512_fmadd_ps(mw, _mm512_set1_ps(kern_cfptr(xc + sh->x_g)[b]),
			                         acc[c]);
		}
	}
#pragma GCC unroll 16
	for (int c = 0; c < NC; c++) {
		if (sp->last)
			_mm512_mask_storeu_ps(out + c * ldo, rows, acc[c]);
		else
			_mm512_mask_storeu_ps(sp->acc + c * sp->ldacc, rows, acc[c]);
	}
}

#define NC_CASE(N, G)                                                     \
	case N:                                                           \
		tile_int_nc(N % (NC5 + 1), G, mr, sh, w, xj, &s, o, ldo); \
		break;
#define NC_CASES(G)                                                     \
	switch (n) {                                                    \
		NC_CASE(1, G)                                           \
		NC_CASE(2, G)                                           \
		NC_CASE(3, G)                                           \
		NC_CASE(4, G)                                           \
		NC_CASE(5, G)                                           \
		NC_CASE(6, G)                                           \
		NC_CASE(7, G)                                           \
	default: tile_int_nc(NC5, G, mr, sh, w, xj, &s, o, ldo); break; \
	}

AVX512 static void tile_int_avx512(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                                   const uint8_t *x, const struct kern_span *sp, float *out,
                                   int64_t ldo)
{
	for (int j = 0; j < nr; j += NC5) {
		const int n = nr - j < NC5 ? nr - j : NC5;
		const uint8_t *xj = x + (size_t)j * sh->stride;
		float *o = out + j * ldo;
		struct kern_span s = {0, sh->k, 1, 1, NULL, 0};
		if (sp) {
			s = *sp;
			s.acc = sp->acc + j * sp->ldacc;
		}
		if (sh->group == 16)
			NC_CASES(16)
		else
			NC_CASES(32)
	}
}

/* ---- int path: fused generation kernel ---------------------------------- *
 * For a decode-sized batch (up to GV_MAX activation rows) the tile is not
 * worth storing: the transposed level vectors of a block go straight into
 * VPDPBUSD for every row, while the prefetches of the next tile are spread
 * over the work. One to four rows keep their sums in registers; more keep
 * them in a stack array (a load and a store per block and row, against 8
 * VPDPBUSD). The operations per element are those of unpack_tile16 +
 * tile_int_nc, in the same order, so the bits are the same. Full 16-row
 * tiles only.
 */
#ifndef GV_MAX
#define GV_MAX 32
#endif

/* One block of 16 rows (levels wg[0..ng), scales dw, mw) into NC sums. */
AVX512 INLINE void gv_block(const int NC, const int ng, const uint8_t *x, size_t st,
                            const struct kern_shape *sh, int64_t b, const __m512i *wg, __m512 dw,
                            __m512 mw, __m512 *acc)
{
	const int G = sh->group;
#pragma GCC unroll 4
	for (int c = 0; c < NC; c++) {
		const uint8_t *xc = x + (size_t)c * st;
		/* two chains of VPDPBUSD (the integer sum is exact in any order):
		 * half the latency a row waits on, so more rows are in flight */
		__m512i is0 = _mm512_setzero_si512(), is1 = _mm512_setzero_si512();
#pragma GCC unroll 8
		for (int g = 0; g < ng; g += 2) {
			int32_t xv0, xv1;
			memcpy(&xv0, xc + G * b + 4 * g, 4);
			memcpy(&xv1, xc + G * b + 4 * g + 4, 4);
			is0 = _mm512_dpbusd_epi32(is0, wg[g], _mm512_set1_epi32(xv0));
			is1 = _mm512_dpbusd_epi32(is1, wg[g + 1], _mm512_set1_epi32(xv1));
		}
		const __m512i is = _mm512_add_epi32(is0, is1);
		const __m512 sc = _mm512_mul_ps(dw, _mm512_set1_ps(kern_cfptr(xc + sh->x_d)[b]));
		acc[c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), sc, acc[c]);
		acc[c] = _mm512_fmadd_ps(mw, _mm512_set1_ps(kern_cfptr(xc + sh->x_g)[b]), acc[c]);
	}
}

AVX512 INLINE void gemv16_nc(const int NC, uint32_t t, const uint8_t *rows, size_t rb,
                             const struct kern_shape *sh, const uint8_t *x,
                             const struct kern_span *sp, float *out, int64_t ldo, const uint8_t *pf,
                             size_t pf_len)
{
	const int G = sh->group;
	const int64_t b0 = sp->k0 / G, b1 = sp->k1 / G;
	const size_t st = sh->stride;
	const __m512i m4 = _mm512_set1_epi8(15);
	__m512 acc[GV_MAX];

#pragma GCC unroll 4
	for (int c = 0; c < NC; c++)
		acc[c] = sp->first ? _mm512_setzero_ps() : _mm512_loadu_ps(sp->acc + c * sp->ldacc);
	/* Q8_0: a 34-byte block of 32 elements with one fp16 d; one gather of
	 * the 16 rows' d dwords replaces 16 scalar loads and inserts (and the
	 * 16 more live row addresses, which spilled), rows under 128 MB. Q4_0
	 * keeps the loads: there the gather measured level or slower in
	 * generation (BENCHMARKS.md) */
	const int gather = rb <= (size_t)INT32_MAX / 16;
	const __m512i idx = _mm512_mullo_epi32(
	        _mm512_set1_epi32(gather ? (int)rb : 0),
	        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
	switch (t) {
	case TENSOR_Q4_0:
	case TENSOR_Q4_1:
	case TENSOR_Q5_0:
	case TENSOR_Q5_1: {
		size_t bsize, qs_off, qh_off = 0, m_off = 0;
		float mul = 0;
		switch (t) {
		case TENSOR_Q4_0:
			bsize = sizeof(struct blk_q4_0);
			qs_off = 2;
			mul = -8.f;
			break;
		case TENSOR_Q4_1:
			bsize = sizeof(struct blk_q4_1);
			qs_off = 4;
			m_off = 2;
			break;
		case TENSOR_Q5_0:
			bsize = sizeof(struct blk_q5_0);
			qs_off = 6;
			qh_off = 2;
			mul = -16.f;
			break;
		default:
			bsize = sizeof(struct blk_q5_1);
			qs_off = 8;
			qh_off = 4;
			m_off = 2;
			break;
		}
		const size_t per = kx_pf_per(pf, pf_len, b1 - b0);
		for (int64_t b = b0; b < b1; b++) {
			const uint8_t *p = rows + bsize * (size_t)b;
			__m512i q[4], wg[8];
			kx_pf_at(pf, pf_len, per, b - b0);
			t16x4_load(p + qs_off, rb, q);
			const __m512i qh =
			        qh_off ? load_d16(p + qh_off, rb) : _mm512_setzero_si512();
#pragma GCC unroll 4
			for (int g = 0; g < 4; g++) {
				wg[g] = _mm512_and_si512(q[g], m4);
				wg[g + 4] = _mm512_and_si512(_mm512_srli_epi16(q[g], 4), m4);
				if (qh_off) {
					wg[g] = _mm512_or_si512(wg[g], fifth_bits(qh, g));
					wg[g + 4] =
					        _mm512_or_si512(wg[g + 4], fifth_bits(qh, g + 4));
				}
			}
			const __m512 d = load_h16(p, rb);
			const __m512 m = m_off ? load_h16(p + m_off, rb)
			                       : _mm512_mul_ps(d, _mm512_set1_ps(mul));
			gv_block(NC, 8, x, st, sh, b, wg, d, m, acc);
		}
		break;
	}
	case TENSOR_Q8_0: {
		const size_t per = kx_pf_per(pf, pf_len, b1 - b0);
		for (int64_t b = b0; b < b1; b++) {
			const uint8_t *p = rows + sizeof(struct blk_q8_0) * (size_t)b;
			__m512i wg[8];
			kx_pf_at(pf, pf_len, per, b - b0);
			t16x8_load(p + 2, rb, wg);
#pragma GCC unroll 8
			for (int g = 0; g < 8; g++)
				wg[g] = _mm512_xor_si512(wg[g], _mm512_set1_epi8((char)0x80));
			const __m512 d = gather ? gather_h16(p, idx) : load_h16(p, rb);
			gv_block(NC, 8, x, st, sh, b, wg, d,
			         _mm512_mul_ps(d, _mm512_set1_ps(-128.f)), acc);
		}
		break;
	}
	case TENSOR_Q4_K:
	case TENSOR_Q5_K: {
		const int five = t == TENSOR_Q5_K;
		const size_t bsize = five ? sizeof(struct blk_q5_k) : sizeof(struct blk_q4_k);
		const size_t qs_off = five ? 48 : 16;
		const size_t per = kx_pf_per(pf, pf_len, (b1 - b0) / 2);
		for (int64_t sb = b0 / 8; sb < b1 / 8; sb++) {
			const uint8_t *p = rows + bsize * (size_t)sb;
			struct k4_scales ks;
			__m512i qh[8];
			k4_scales16(p, rb, &ks);
			if (five)
				t16x8_load(p + 16, rb, qh);
			for (int c = 0; c < 4; c++) {
				__m512i q[8], wg[8];
				kx_pf_at(pf, pf_len, per, 4 * (sb - b0 / 8) + c);
				t16x8_load(p + qs_off + 32 * (size_t)c, rb, q);
#pragma GCC unroll 2
				for (int half = 0; half < 2; half++) {
					const int j = 2 * c + half;
#pragma GCC unroll 8
					for (int g = 0; g < 8; g++) {
						wg[g] = _mm512_and_si512(
						        half ? _mm512_srli_epi16(q[g], 4) : q[g],
						        m4);
						if (five) {
							const __m512i h = _mm512_and_si512(
							        _mm512_srli_epi16(qh[g],
							                          (unsigned)j),
							        _mm512_set1_epi8(1));
							wg[g] = _mm512_or_si512(
							        wg[g], _mm512_slli_epi16(h, 4));
						}
					}
					__m512 dw, mw;
					k4_scale(&ks, j, &dw, &mw);
					gv_block(NC, 8, x, st, sh, 8 * sb + j, wg, dw, mw, acc);
				}
			}
		}
		break;
	}
	case TENSOR_Q6_K: {
		const size_t per = kx_pf_per(pf, pf_len, (b1 - b0) / 8);
		for (int64_t sb = b0 / 16; sb < b1 / 16; sb++) {
			const uint8_t *p = rows + sizeof(struct blk_q6_k) * (size_t)sb;
			struct q6_scales qs;
			q6k_scales16(p, rb, &qs);
			for (int h = 0; h < 2; h++) {
				__m512i l0[8], l1[8], qh[8];
				kx_pf_at(pf, pf_len, per, 2 * (sb - b0 / 16) + h);
				t16x8_load(p + 64 * h, rb, l0);
				t16x8_load(p + 64 * h + 32, rb, l1);
				t16x8_load(p + 128 + 32 * h, rb, qh);
				for (int k = 0; k < 4; k++) {
					__m512i wg[8];
#pragma GCC unroll 8
					for (int g = 0; g < 8; g++) {
						wg[g] = q6k_levels(l0[g], l1[g], qh[g], k);
					}
					const int64_t blk = 16 * sb + 8 * h + 2 * k;
					__m512 dw, mw;
					q6k_scale(&qs, 8 * h + 2 * k, &dw, &mw);
					gv_block(NC, 4, x, st, sh, blk, wg, dw, mw, acc);
					q6k_scale(&qs, 8 * h + 2 * k + 1, &dw, &mw);
					gv_block(NC, 4, x, st, sh, blk + 1, wg + 4, dw, mw, acc);
				}
			}
		}
		break;
	}
	default: break;
	}
#pragma GCC unroll 4
	for (int c = 0; c < NC; c++) {
		if (sp->last)
			_mm512_storeu_ps(out + c * ldo, acc[c]);
		else
			_mm512_storeu_ps(sp->acc + c * sp->ldacc, acc[c]);
	}
}

AVX512 static void gemv16(uint32_t t, const uint8_t *rows, size_t rb, const struct kern_shape *sh,
                          const uint8_t *x, int nc, const struct kern_span *sp, float *out,
                          int64_t ldo, const uint8_t *pf, size_t pf_len)
{
	switch (nc) {
	case 1: gemv16_nc(1, t, rows, rb, sh, x, sp, out, ldo, pf, pf_len); break;
	case 2: gemv16_nc(2, t, rows, rb, sh, x, sp, out, ldo, pf, pf_len); break;
	case 3: gemv16_nc(3, t, rows, rb, sh, x, sp, out, ldo, pf, pf_len); break;
	case 4: gemv16_nc(4, t, rows, rb, sh, x, sp, out, ldo, pf, pf_len); break;
	default:
		gemv16_nc(nc < GV_MAX ? nc : GV_MAX, t, rows, rb, sh, x, sp, out, ldo, pf, pf_len);
		break;
	}
}

/* ---- float path: fused generation kernel -------------------------------- *
 * The weights converted on the fly (F16 with VCVTPH2PS, BF16 by a shift),
 * no unpacked rows: the same products and sums, in the same order, as
 * unpack + tile_float (the conversions are exact).
 */
#define GF_MR 6
#define GF_NC 3

AVX512 INLINE __m512 gf_load(uint32_t t, const uint8_t *row, int64_t e, __mmask16 m)
{
	switch (t) {
	case TENSOR_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row + 2 * e));
	case TENSOR_BF16:
		return _mm512_castsi512_ps(_mm512_slli_epi32(
		        _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, row + 2 * e)), 16));
	default: return _mm512_maskz_loadu_ps(m, row + 4 * e);
	}
}

AVX512 INLINE void gemvf_mn(const int MR, const int NC, uint32_t t, const uint8_t *rows, size_t rb,
                            const struct kern_shape *sh, const uint8_t *x, float *out, int64_t ldo,
                            const uint8_t *pf, size_t pf_len)
{
	__m512 acc[GF_MR][GF_NC];
	const size_t st = sh->stride;
	const int64_t nc16 = sh->kp / 16;
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
		for (int j = 0; j < NC; j++)
			acc[i][j] = _mm512_setzero_ps();
	const size_t per = kx_pf_per(pf, pf_len, nc16);
	for (int64_t c = 0; c < nc16; c++) {
		const int64_t e = 16 * c, left = sh->k - e;
		const __mmask16 m = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
		kx_pf_at(pf, pf_len, per, c);
		__m512 wv[GF_MR];
#pragma GCC unroll 8
		for (int i = 0; i < MR; i++)
			wv[i] = gf_load(t, rows + rb * (size_t)i, e, m);
#pragma GCC unroll 4
		for (int j = 0; j < NC; j++) {
			const __m512 xv = _mm512_loadu_ps(kern_cfptr(x + (size_t)j * st) + e);
#pragma GCC unroll 8
			for (int i = 0; i < MR; i++)
				acc[i][j] = _mm512_fmadd_ps(wv[i], xv, acc[i][j]);
		}
	}
#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
		for (int j = 0; j < NC; j++)
			out[j * ldo + i] = hsum16(acc[i][j]);
}

#define GF_ROWS(MR)                                                                \
	switch (nc) {                                                              \
	case 1: gemvf_mn(MR, 1, t, rows, rb, sh, x, out, ldo, pf, pf_len); break;  \
	case 2: gemvf_mn(MR, 2, t, rows, rb, sh, x, out, ldo, pf, pf_len); break;  \
	default: gemvf_mn(MR, 3, t, rows, rb, sh, x, out, ldo, pf, pf_len); break; \
	}

AVX512 INLINE void gemv_float16_3(uint32_t t, const uint8_t *rows, size_t rb, int mr,
                                  const struct kern_shape *sh, const uint8_t *x, int nc, float *out,
                                  int64_t ldo, const uint8_t *pf, size_t pf_len)
{
	for (int i = 0; i < mr; i += GF_MR) {
		const int m = mr - i < GF_MR ? mr - i : GF_MR;
		const uint8_t *pfi = i == 0 ? pf : NULL; /* one stream of hints is enough */
		if (m == GF_MR) {
			GF_ROWS(GF_MR)
		} else {
			for (int r = 0; r < m; r++) {
				const uint8_t *rr = rows + rb * (size_t)r;
				float *o = out + r;
				switch (nc) {
				case 1:
					gemvf_mn(1, 1, t, rr, rb, sh, x, o, ldo, pfi, pf_len);
					break;
				case 2:
					gemvf_mn(1, 2, t, rr, rb, sh, x, o, ldo, pfi, pf_len);
					break;
				default:
					gemvf_mn(1, 3, t, rr, rb, sh, x, o, ldo, pfi, pf_len);
					break;
				}
			}
		}
		rows += rb * GF_MR;
		out += GF_MR;
	}
}

/* Any number of activation rows up to GV_MAX, three at a time: the weight
 * rows are read from memory for the first three and from L1/L2 after (a
 * 6-row tile of a 5632-wide F16 matrix is 66 KB). Each output element is
 * computed alone, so the grouping changes no bit. */
AVX512 static void gemv_float16(uint32_t t, const uint8_t *rows, size_t rb, int mr,
                                const struct kern_shape *sh, const uint8_t *x, int nc, float *out,
                                int64_t ldo, const uint8_t *pf, size_t pf_len)
{
	for (int j = 0; j < nc; j += GF_NC)
		gemv_float16_3(t, rows, rb, mr, sh, x + (size_t)j * sh->stride,
		               nc - j < GF_NC ? nc - j : GF_NC, out + j * ldo, ldo, j ? NULL : pf,
		               j ? 0 : pf_len);
}

/* ---- float path tile ------------------------------------------------------ */

#ifndef TM_F
#define TM_F 6
#endif
#ifndef TN_F
#define TN_F 4
#endif
#define TMAX 8

/* The 16 lanes of element (i, j) kept between spans (kern_impl.h). */
static inline float *span_lanes(const struct kern_span *sp, int i, int j)
{
	return sp->acc + (j * sp->ldacc + i) * 16;
}

AVX512 INLINE void tile_float_mn(const int MR, const int NR, const struct kern_shape *sh,
                                 const uint8_t *w, const uint8_t *x, const struct kern_span *sp,
                                 float *out, int64_t ldo)
{
	__m512 acc[TMAX][TMAX];
	const size_t st = sh->stride;
	const int64_t k0 = sp ? sp->k0 : 0, k1 = sp ? sp->k1 : sh->kp;
	const int first = sp ? sp->first : 1, last = sp ? sp->last : 1;

#pragma GCC unroll 8
	for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
		for (int j = 0; j < NR; j++)
			acc[i][j] =
			        first ? _mm512_setzero_ps() : _mm512_loadu_ps(span_lanes(sp, i, j));
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
			if (last)
				out[j * ldo + i] = hsum16(acc[i][j]);
			else
				_mm512_storeu_ps(span_lanes(sp, i, j), acc[i][j]);
		}
}

/* A sub-block of the float tile: the span moved to element (i, j). */
#define SUBSPAN(S, I, J)                              \
	struct kern_span S##_s, *S = NULL;            \
	if (sp) {                                     \
		S##_s = *sp;                          \
		S##_s.acc = span_lanes(sp, (I), (J)); \
		S = &S##_s;                           \
	}
#define FLOAT_N(M, WP, SUB, O)                                                     \
	switch (n) {                                                               \
	case 1: tile_float_mn(M, 1, sh, WP, xj, SUB, O, ldo); break;               \
	case 2: tile_float_mn(M, 2 % (TN_F + 1), sh, WP, xj, SUB, O, ldo); break;  \
	case 3: tile_float_mn(M, 3 % (TN_F + 1), sh, WP, xj, SUB, O, ldo); break;  \
	case 4: tile_float_mn(M, 4 % (TN_F + 1), sh, WP, xj, SUB, O, ldo); break;  \
	case 5: tile_float_mn(M, 5 % (TN_F + 1), sh, WP, xj, SUB, O, ldo); break;  \
	case 6: tile_float_mn(M, 6 % (TN_F + 1), sh, WP, xj, SUB, O, ldo); break;  \
	case 7: tile_float_mn(M, 7 % (TN_F + 1), sh, WP, xj, SUB, O, ldo); break;  \
	default: tile_float_mn(M, 8 % (TN_F + 1), sh, WP, xj, SUB, O, ldo); break; \
	}

AVX512 static void tile_float_avx512(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                                     const uint8_t *x, const struct kern_span *sp, float *out,
                                     int64_t ldo)
{
	_Static_assert(TN_F <= 8 && TM_F <= TMAX, "FLOAT_N covers 1..8 activation rows");
	for (int i = 0; i < mr; i += TM_F) {
		const int m = mr - i < TM_F ? mr - i : TM_F;
		const uint8_t *wi = w + (size_t)i * sh->stride;
		for (int j = 0; j < nr; j += TN_F) {
			const int n = nr - j < TN_F ? nr - j : TN_F;
			const uint8_t *xj = x + (size_t)j * sh->stride;
			if (m == TM_F) {
				SUBSPAN(sub, i, j)
				FLOAT_N(TM_F, wi, sub, out + j * ldo + i)
				continue;
			}
			for (int r = 0; r < m; r++) {
				SUBSPAN(subr, i + r, j)
				FLOAT_N(1, wi + (size_t)r * sh->stride, subr, out + j * ldo + i + r)
			}
		}
	}
}

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

#define PACK_ENTRY(T) [TENSOR_##T] = kern_pack_avx2_##T,
#define TILE_ENTRY(T) [TENSOR_##T] = unpack_tile_##T,
#define DOT_ENTRY(T) [TENSOR_##T] = kern_dot_avx2_##T,

const struct kern_isa_ops kern_ops_avx512 = {
        .name = "avx512",
        .rows = R5,
        .unpack = {[TENSOR_F32] = kern_unpack_avx2_F32,
                   [TENSOR_F16] = kern_unpack_avx2_F16,
                   [TENSOR_BF16] = kern_unpack_avx2_BF16},
        .unpack_tile = {KERN_FOR_INT_TYPES(TILE_ENTRY)},
        .pack = {KERN_FOR_TYPES(PACK_ENTRY)},
        .tile_int = tile_int_avx512,
        .gemv = gemv16,
        .gemv_rows = GV_MAX,
        .gemv_float = gemv_float16,
        .tile_float = tile_float_avx512,
        .dot_f32 = dot_f32_avx512,
        .dot_f16 = dot_f16_avx512,
        .dot_bf16 = dot_bf16_avx512,
        .dot_q = {KERN_FOR_INT_TYPES(DOT_ENTRY)},
        .tile_m_float = TM_F,
        .tile_n_float = TN_F,
};

#else

const struct kern_isa_ops kern_ops_avx512 = {.name = "avx512"};

#endif

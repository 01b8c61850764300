/*
 * kern_x86.h: AVX2 helpers shared by kern_avx2.c and kern_avx512.c (inline,
 * compiled with per-function target attributes; the AVX-512 file inlines
 * them into its own functions). Private to the kernel files.
 *
 * Block levels: the unsigned levels of one G-element block of one weight row
 * as a vector of 32 bytes (G = 32), or of two consecutive 16-element blocks
 * (Q6_K), in element order; the same values as kern_row_levels().
 */
#ifndef HD_INFER_KERN_X86_H
#define HD_INFER_KERN_X86_H

#include "infer/kern_impl.h"

#include <immintrin.h>
#include <string.h>

#define KX_AVX2 __attribute__((target("avx2,fma,f16c")))
#define KX_INLINE static inline __attribute__((always_inline))
#ifndef PF_TOUCH
#define PF_TOUCH 0
#endif
#ifndef PF_LOCALITY
#define PF_LOCALITY 2 /* prefetcht1: to L2, whose miss buffers are many */
#endif

KX_AVX2 KX_INLINE float kx_h2f(uint16_t h)
{
	return _cvtsh_ss(h);
}

/* Prefetching the next tile's rows, spread evenly over the n_steps steps of
 * the current one: kx_pf_per() is each step's share of [pf, pf + len) (0 if
 * there is nothing to prefetch), computed once per kernel call where the
 * steps are many (the division, done per block, showed in the profile);
 * kx_pf_at() prefetches step u's share (into L2 unless the file sets
 * PF_LOCALITY). */
static inline size_t kx_pf_per(const uint8_t *pf, size_t len, int64_t n_steps)
{
	if (!pf || n_steps < 1)
		return 0;
	return ((len + (size_t)n_steps - 1) / (size_t)n_steps + 63) & ~(size_t)63;
}

static inline void kx_pf_at(const uint8_t *pf, size_t len, size_t per, int64_t u)
{
	if (!per)
		return;
	const size_t a = per * (size_t)u, b = a + per < len ? a + per : len;
	for (size_t i = a; i < b; i += 64) {
#if PF_TOUCH
		/* a demand load (not a prefetch instruction) trains the hardware's
		 * stream prefetcher, which then runs ahead on its own */
		(void)*(const volatile uint8_t *)(pf + i);
#else
		__builtin_prefetch(pf + i, 0, PF_LOCALITY);
#endif
	}
}

/* Both in one, for the places that prefetch once per tile row group. */
static inline void kx_pf_step(const uint8_t *pf, size_t len, int64_t u, int64_t n_steps)
{
	kx_pf_at(pf, len, kx_pf_per(pf, len, n_steps), u);
}

/* A short tile (n < r rows): the rows' bytes, a slice of up to KERN_SLICE
 * elements at a time, are copied next to zero rows in a staging buffer and
 * the full tile unpacker runs on that; then the padding rows are zeroed (a
 * zero block of some types unpacks to level 128 or to -0.0 offsets), so the
 * tile is byte for byte the scalar twin's. full(t, rows, rb, r, sh, b0, b1,
 * out, pf, pf_len) unpacks blocks [b0, b1) of r rows. */
#define KX_STAGE_MAX (16 * (KERN_SLICE / 32) * 34) /* 16 rows of the largest slice */
#define KX_UNPACK_SHORT(r, full, t, rows, rb, n, sh, b0, b1, out)                                  \
	do {                                                                                       \
		const struct tensor_type_info *ti_ = tensor_type_info(t);                          \
		const int64_t per_ = KERN_SLICE / (sh)->group; /* blocks a full slice */           \
		const int64_t bpb_ = ti_->block_size / (sh)->group; /* blocks a GGUF block */      \
		const size_t wblk_ = kern_wblk((sh), (r));                                         \
		_Alignas(64) uint8_t stage_[KX_STAGE_MAX];                                         \
		for (int64_t s_ = (b0); s_ < (b1); s_ += per_) {                                   \
			const int64_t nb_ = (b1)-s_ < per_ ? (b1)-s_ : per_;                       \
			const size_t sb_ = (size_t)(nb_ / bpb_) * ti_->type_size;                  \
			const size_t src_ = (size_t)(s_ / bpb_) * ti_->type_size;                  \
			memset(stage_, 0, sb_ *(size_t)(r));                                       \
			for (int i_ = 0; i_ < (n); i_++)                                           \
				memcpy(stage_ + sb_ * (size_t)i_,                                  \
				       (rows) + (rb) * (size_t)i_ + src_, sb_);                    \
			struct kern_shape one_ = *(sh);                                            \
			one_.k = nb_ * (sh)->group;                                                \
			one_.nb = nb_;                                                             \
			uint8_t *o_ = (out) + wblk_ * (size_t)(s_ - (b0));                         \
			full(t, stage_, sb_, (r), &one_, 0, nb_, o_, NULL, 0);                     \
			for (int64_t k_ = 0; k_ < nb_; k_++) {                                     \
				uint8_t *ob_ = o_ + wblk_ * (size_t)k_;                            \
				for (int g_ = 0; g_ < (sh)->group / 4; g_++)                       \
					memset(ob_ + 4 * ((size_t)g_ * (size_t)(r) + (size_t)(n)), \
					       0, 4 * (size_t)((r) - (n)));                        \
				memset(ob_ + (size_t)(r) * (size_t)(sh)->group + 4 * (size_t)(n),  \
				       0, 4 * (size_t)((r) - (n)));                                \
				memset(ob_ + (size_t)(r) * (size_t)(sh)->group + 4 * (size_t)(r) + \
				               4 * (size_t)(n),                                    \
				       0, 4 * (size_t)((r) - (n)));                                \
			}                                                                          \
		}                                                                                  \
	} while (0)

/* 16 bytes of nibbles -> 32 levels: low nibbles then high nibbles. */
KX_AVX2 KX_INLINE __m256i kx_nibbles32(const uint8_t *qs)
{
	const __m128i v = _mm_loadu_si128((const __m128i *)qs), m4 = _mm_set1_epi8(15);
	const __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
	return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* Bit e of the 32-bit little-endian qh, as 0x10 or 0 in byte e. */
KX_AVX2 KX_INLINE __m256i kx_highbits32(const uint8_t *qh)
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

/* Levels of block b (32 elements; for Q6_K: blocks 2b and 2b+1 of 16) of a row. */
KX_AVX2 KX_INLINE __m256i kx_levels(uint32_t t, const uint8_t *row, int64_t b)
{
	const __m256i m4 = _mm256_set1_epi8(15);
	switch (t) {
	case TENSOR_Q4_0: return kx_nibbles32(((const struct blk_q4_0 *)row)[b].qs);
	case TENSOR_Q4_1: return kx_nibbles32(((const struct blk_q4_1 *)row)[b].qs);
	case TENSOR_Q5_0: {
		const struct blk_q5_0 *x = (const struct blk_q5_0 *)row + b;
		return _mm256_or_si256(kx_nibbles32(x->qs), kx_highbits32(x->qh));
	}
	case TENSOR_Q5_1: {
		const struct blk_q5_1 *x = (const struct blk_q5_1 *)row + b;
		return _mm256_or_si256(kx_nibbles32(x->qs), kx_highbits32(x->qh));
	}
	case TENSOR_Q8_0:
		return _mm256_xor_si256(
		        _mm256_loadu_si256((const __m256i *)((const struct blk_q8_0 *)row)[b].qs),
		        _mm256_set1_epi8((char)0x80));
	case TENSOR_Q4_K:
	case TENSOR_Q5_K: {
		/* sub-block j = b % 8 of super-block b / 8 */
		const int j = (int)(b % 8);
		const int five = t == TENSOR_Q5_K;
		const struct blk_q4_k *x4 = (const struct blk_q4_k *)row + b / 8;
		const struct blk_q5_k *x5 = (const struct blk_q5_k *)row + b / 8;
		const uint8_t *qs = (five ? x5->qs : x4->qs) + 32 * (j / 2);
		__m256i v = _mm256_loadu_si256((const __m256i *)qs);
		if (j & 1)
			v = _mm256_srli_epi16(v, 4);
		v = _mm256_and_si256(v, m4);
		if (five) {
			const __m256i qh = _mm256_loadu_si256((const __m256i *)x5->qh);
			const __m256i h = _mm256_and_si256(
			        _mm256_srl_epi16(qh, _mm_cvtsi32_si128(j)), _mm256_set1_epi8(1));
			v = _mm256_or_si256(v, _mm256_slli_epi16(h, 4));
		}
		return v;
	}
	case TENSOR_Q6_K: {
		/* b counts 32-element pairs of blocks: elements 32p.. of super-block b / 8 */
		const int p = (int)(b % 8), h = p / 4, k = p % 4;
		const struct blk_q6_k *x = (const struct blk_q6_k *)row + b / 8;
		__m256i lo = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32 * (k & 1)));
		if (k >= 2)
			lo = _mm256_srli_epi16(lo, 4);
		lo = _mm256_and_si256(lo, m4);
		__m256i hi = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
		hi = _mm256_and_si256(_mm256_srl_epi16(hi, _mm_cvtsi32_si128(2 * k)),
		                      _mm256_set1_epi8(3));
		return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
	}
	default: return _mm256_setzero_si256();
	}
}

/* dw and mw of the 8 sub-blocks of a Q4_K/Q5_K super-block. */
KX_AVX2 KX_INLINE void kx_scales_k4(const uint8_t *scales, float d, float dmin, __m256 *dw,
                                    __m256 *mw)
{
	uint32_t u0, u1, u2;
	memcpy(&u0, scales, 4);
	memcpy(&u1, scales + 4, 4);
	memcpy(&u2, scales + 8, 4);
	const uint32_t sc_hi = (u2 & 0x0f0f0f0f) | ((u0 >> 2) & 0x30303030);
	const uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0f) | ((u1 >> 2) & 0x30303030);
	const uint64_t sc = (uint64_t)(u0 & 0x3f3f3f3f) | (uint64_t)sc_hi << 32;
	const uint64_t m = (uint64_t)(u1 & 0x3f3f3f3f) | (uint64_t)m_hi << 32;
	*dw = _mm256_mul_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
	                                               _mm_cvtsi64_si128((long long)sc))));
	const __m256 dm = _mm256_mul_ps(
	        _mm256_set1_ps(dmin),
	        _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)m))));
	*mw = _mm256_xor_ps(dm, _mm256_set1_ps(-0.f));
}

/* Transpose 8 rows of 8 dwords: out[g] dword r = in[r] dword g. */
KX_AVX2 KX_INLINE void kx_t8x8(const __m256i in[8], __m256i out[8])
{
	const __m256i t0 = _mm256_unpacklo_epi32(in[0], in[1]),
	              t1 = _mm256_unpackhi_epi32(in[0], in[1]);
	const __m256i t2 = _mm256_unpacklo_epi32(in[2], in[3]),
	              t3 = _mm256_unpackhi_epi32(in[2], in[3]);
	const __m256i t4 = _mm256_unpacklo_epi32(in[4], in[5]),
	              t5 = _mm256_unpackhi_epi32(in[4], in[5]);
	const __m256i t6 = _mm256_unpacklo_epi32(in[6], in[7]),
	              t7 = _mm256_unpackhi_epi32(in[6], in[7]);
	const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
	const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
	const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
	const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
	out[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
	out[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
	out[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
	out[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
	out[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
	out[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
	out[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
	out[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

#endif

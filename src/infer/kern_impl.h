/*
 * kern_impl.h: internals shared by the kernel files (quant.c, kern*.c,
 * matmul*.c). Not part of the module's interface: use kern.h.
 *
 * Block layouts are GGUF's (ggml's) byte for byte, so weights are used
 * straight from the mmapped file. All multi-byte fields are little endian.
 *
 * The fast kernels work on "packed rows": a weight row is unpacked once per
 * tile, an activation row is quantized once per matmul, both into the same
 * ISA-independent layout, and one small dot kernel per ISA multiplies them.
 *
 * Integer path (every block-quantized weight type). A row of k elements,
 * kp = k rounded up to 64 ("chunks" of 64), ng = k / G groups (G = 32, or
 * 16 for Q6_K), ngp = ng rounded up to 16:
 *
 *   q[kp]      uint8 (weights: unsigned level) / int8 (activations)
 *   s[kp / 4]  float, one scale per "lane" of 4 consecutive elements
 *   g[ngp]     float, one value per group
 *
 * and the dot product of weight row w with activation row x is, exactly in
 * this order (a scalar twin reproduces the SIMD result bit for bit):
 *
 *   acc[16] = 0; for each chunk c, lane l (element e = 64c + 4l):
 *       acc[l] = fma((float)(sum_{i<4} w.q[e+i] * x.q[e+i]), w.s[16c+l] * x.s[16c+l], acc[l])
 *   cor[16] = 0; for each run r of 16 groups, lane l:
 *       cor[l] = fma(w.g[16r+l], x.g[16r+l], cor[l])
 *   result = hsum16(acc) + hsum16(cor)
 *
 * with hsum16(v) = ((v[0..7]+v[8..15]) folded to 4, 2, 1 the same way).
 * The weight's true value is s * q + g: an unsigned level with a per-group
 * offset (Q4_0: q = nibble, g = -8 d; Q4_1: g = m; Q4_K: s = d*sc, g = -dmin*m).
 * The activation's g is d * (sum of the group's q), so the offset terms add up
 * to sum_g w.g * x.g. Padding is zero in both, which adds exact zeros.
 *
 * Float path (F32, F16, BF16 weights): a packed row is float[k rounded up to
 * 16] (zero padded); acc[16] = fma(w[16c+l], x[16c+l], acc[l]) in order,
 * result = hsum16(acc). Activations are first rounded to the vec-dot type
 * (F16 or BF16) so the numbers match the reference engine's.
 */
#ifndef HD_INFER_KERN_IMPL_H
#define HD_INFER_KERN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "infer/kern.h"

#define QK 32 /* elements per block of the *_0 / *_1 types */
#define QK_K 256 /* elements per super-block of the K-quants */

struct blk_q4_0 {
	uint16_t d;
	uint8_t qs[QK / 2];
};
struct blk_q4_1 {
	uint16_t d, m;
	uint8_t qs[QK / 2];
};
struct blk_q5_0 {
	uint16_t d;
	uint8_t qh[4];
	uint8_t qs[QK / 2];
};
struct blk_q5_1 {
	uint16_t d, m;
	uint8_t qh[4];
	uint8_t qs[QK / 2];
};
struct blk_q8_0 {
	uint16_t d;
	int8_t qs[QK];
};
struct blk_q8_1 {
	uint16_t d, s; /* s = d * sum(qs), as fp16 */
	int8_t qs[QK];
};
struct blk_q4_k {
	uint16_t d, dmin;
	uint8_t scales[12]; /* 8 six-bit scales and 8 six-bit mins, packed */
	uint8_t qs[QK_K / 2];
};
struct blk_q5_k {
	uint16_t d, dmin;
	uint8_t scales[12];
	uint8_t qh[QK_K / 8];
	uint8_t qs[QK_K / 2];
};
struct blk_q6_k {
	uint8_t ql[QK_K / 2];
	uint8_t qh[QK_K / 4];
	int8_t scales[QK_K / 16];
	uint16_t d;
};
struct blk_q8_k {
	float d;
	int8_t qs[QK_K];
	int16_t bsums[QK_K / 16];
};

_Static_assert(sizeof(struct blk_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(struct blk_q4_1) == 20, "q4_1 layout");
_Static_assert(sizeof(struct blk_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(struct blk_q5_1) == 24, "q5_1 layout");
_Static_assert(sizeof(struct blk_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(struct blk_q8_1) == 36, "q8_1 layout");
_Static_assert(sizeof(struct blk_q4_k) == 144, "q4_K layout");
_Static_assert(sizeof(struct blk_q5_k) == 176, "q5_K layout");
_Static_assert(sizeof(struct blk_q6_k) == 210, "q6_K layout");
_Static_assert(sizeof(struct blk_q8_k) == 292, "q8_K layout");

/* Round to nearest, ties to even, for |x| < 2^22 (the quantizers' range);
 * the same result as the SIMD conversions under the default rounding mode. */
static inline int kern_round(float x)
{
	float v = x + 12582912.f; /* 1.5 * 2^23 */
	union {
		float f;
		int32_t i;
	} u = {v};
	return (u.i & 0x007fffff) - 0x00400000;
}

/* The 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block. */
static inline void kern_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	if (j < 4) {
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

/* Float views of packed-row bytes (kept 4-byte aligned by the layout). */
static inline float *kern_fptr(void *p)
{
	return p;
}
static inline const float *kern_cfptr(const void *p)
{
	return p;
}

/* ---- packed rows ------------------------------------------------------ */

enum kern_path { KERN_PATH_NONE = 0, KERN_PATH_INT, KERN_PATH_FLOAT };

struct kern_shape {
	int path; /* enum kern_path */
	int group; /* G: 32, or 16 for Q6_K (int path) */
	int wide; /* levels go up to 255 (Q8_0), not just 63 */
	int64_t k; /* elements */
	int64_t kp; /* padded elements: multiple of 64 (int) or 16 (float) */
	int64_t ng; /* groups (int path) */
	int64_t ngp; /* groups padded to 16 */
	size_t s_off; /* byte offset of the lane scales (int) */
	size_t g_off; /* byte offset of the group values (int) */
	size_t stride; /* bytes per packed row, a multiple of 64 */
};

/* Fills sh for weights of type t and rows of k elements; HD_EINVAL if t has
 * no kernel or k is not a multiple of its block size. */
int kern_shape_init(struct kern_shape *sh, uint32_t t, int64_t k);

/* Per-ISA kernels. Every pointer is set for every supported type. */
typedef void (*kern_unpack_fn)(const void *row, const struct kern_shape *sh, uint8_t *out);
typedef void (*kern_pack_fn)(const float *x, const struct kern_shape *sh, uint8_t *out);
/* A slice of the dot products, for cache blocking: elements [k0, k1) (on
 * chunk boundaries: multiples of 64 on the int path, 16 on the float path),
 * with the 16 lane accumulators of element (i, j) kept between slices at
 * acc + (j * ldacc + i) * 16. The first slice (k0 = 0) starts from zero;
 * the last (k1 = kp) finishes and writes out. The per-lane operations are the
 * same as in one pass, so slicing does not change a bit of the result. */
struct kern_span {
	int64_t k0, k1;
	float *acc;
	int64_t ldacc;
};

/* out[j * ldo + i] = dot(w row i, x row j) for i < mr, j < nr (any sizes,
 * split internally; tile_m x tile_n is the fastest block). sp NULL: all of
 * the elements in one pass. */
typedef void (*kern_tile_fn)(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                             const uint8_t *x, const struct kern_span *sp, float *out, int64_t ldo);

struct kern_isa_ops {
	const char *name;
	kern_unpack_fn unpack[TENSOR_TYPE_MAX]; /* weight row -> packed */
	kern_pack_fn pack[TENSOR_TYPE_MAX]; /* activation row (f32) -> packed, by weight type */
	kern_tile_fn tile_int;
	kern_tile_fn tile_float;
	kern_vec_dot_fn dot_f32, dot_f16, dot_bf16; /* plain vec dots for the float types */
	int tile_m[3], tile_n[3]; /* register tile by path (enum kern_path) */
};

/* The types with kernels, for declaring per-type functions. */
#define KERN_FOR_TYPES(X) \
	X(F32) X(F16) X(BF16) X(Q4_0) X(Q4_1) X(Q5_0) X(Q5_1) X(Q8_0) X(Q4_K) X(Q5_K) X(Q6_K)

/* The AVX2 unpackers and packers, shared by the AVX-512 ops (x86-64 only). */
#define KERN_DECL_AVX2(T)                                                                      \
	void kern_unpack_avx2_##T(const void *row, const struct kern_shape *sh, uint8_t *out); \
	void kern_pack_avx2_##T(const float *x, const struct kern_shape *sh, uint8_t *out);
KERN_FOR_TYPES(KERN_DECL_AVX2)

extern const struct kern_isa_ops kern_ops_scalar;
extern const struct kern_isa_ops kern_ops_avx2;
extern const struct kern_isa_ops kern_ops_avx512;

/* The ops in use (selected once from the CPU and HUDDLE_KERNELS). */
const struct kern_isa_ops *kern_ops(void);

/* Symmetric 8-bit quantization of n values: q = round(x * 127 / amax), ties
 * to even. Returns the scale d = amax / 127 (not yet rounded to fp16). */
float kern_q8_quantize(const float *x, int n, int8_t *q);
/* Q8_K: the value of largest magnitude maps to -127 exactly. Returns d. */
float kern_q8k_quantize(const float *x, int8_t *q);

/* Reference (GGUF-semantics) dot products, in quant.c. */
kern_vec_dot_fn kern_vec_dot_ref_fn(uint32_t t);

/* Shared scalar helpers (kern.c), used as tails by the SIMD files. */
/* Zeroes an int-path packed row past k levels and lanes, past ng groups,
 * and the row's end padding. */
void kern_zero_tail(const struct kern_shape *sh, uint8_t *out);
void kern_pack_scalar(uint32_t t, const float *x, const struct kern_shape *sh, uint8_t *out);
void kern_unpack_scalar(uint32_t t, const void *row, const struct kern_shape *sh, uint8_t *out);

#endif

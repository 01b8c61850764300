/*
 * kern_impl.h: internals shared by the kernel files (quant.c, kern*.c,
 * matmul*.c). Not part of the module's interface: use kern.h.
 *
 * Block layouts are GGUF's (ggml's) byte for byte, so weights are used
 * straight from the mmapped file. All multi-byte fields are little endian.
 *
 * The fast kernels never work on the GGUF blocks directly: an activation row
 * is quantized once per matmul into a "packed" row, a tile of weight rows is
 * unpacked once into a "tile", and one small dot kernel per instruction set
 * multiplies them. Every output element is computed by a fixed sequence of
 * floating-point operations, the same on every instruction set (the scalar
 * twins in kern.c reproduce the SIMD results bit for bit), for any thread
 * count, tile shape or cache slice, and whether a row comes alone or in a
 * batch.
 *
 * Integer path (every block-quantized weight type). Blocks of G elements
 * (G = 32; 16 for Q6_K), nb = k / G of them. A weight element is dw * q + mw
 * with an unsigned level q (0..15, 31, 63, or 255 for Q8_0 stored + 128)
 * and two floats per block: Q4_0 dw = d, mw = -8 d; Q4_1 dw = d, mw = m;
 * Q4_K dw = d * sc, mw = -(dmin * m); Q6_K dw = d * sc, mw = -32 (d * sc).
 * An activation element is dx * q with an int8 level, and gx = dx * (sum of
 * the block's levels) (Q8_1: the fp16 s of its block). The dot product of
 * weight row r and activation row c is, exactly in this order:
 *
 *   acc = 0
 *   for each block b:
 *       acc = fma((float)(sum over the block of qw * qx), dw[b] * dx[b], acc)
 *       acc = fma(mw[b], gx[b], acc)
 *
 * so the offsets add up to sum_b mw * dx * sum(qx), and the integer sum of a
 * whole block is taken before any rounding. Packed activation row (stride
 * xstride, a multiple of 64): q int8[k], then d float[nb] at x_d, g
 * float[nb] at x_g, s int32[nb] (the level sums) at x_s. Weight tile of R
 * rows (R per instruction set: a vector of R int32 lanes holds one lane per
 * row): per block, R*G level bytes as [G/4 groups][R rows][4 levels], then
 * dw float[R], then mw float[R]; wblk = R*G + 8R bytes a block. Rows past
 * the matrix are zero.
 *
 * Float path (F32, F16, BF16 weights): a packed row is float[k rounded up to
 * 16] (zero padded); for each chunk c of 16 and lane l,
 * acc[l] = fma(w[16c+l], x[16c+l], acc[l]), then result = hsum16(acc) with
 * hsum16(v) = ((v[0..7]+v[8..15]) folded to 4, 2, 1 the same way).
 * Activations are first rounded to the vec-dot type (F16 or BF16) so the
 * numbers match the reference engine's.
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
	int64_t kp; /* float path: k rounded up to 16 */
	int64_t nb; /* int path: blocks of G */
	size_t x_d, x_g, x_s; /* int path: offsets in a packed activation row */
	size_t stride; /* bytes per packed activation row (and float weight row) */
};

/* Fills sh for weights of type t and rows of k elements; HD_EINVAL if t has
 * no kernel or k is not a multiple of its block size. */
int kern_shape_init(struct kern_shape *sh, uint32_t t, int64_t k);

/* Per-ISA kernels. Every pointer is set for every supported type. */

/* Float path: one weight row to floats. */
typedef void (*kern_unpack_fn)(const void *row, const struct kern_shape *sh, uint8_t *out);
/* Int path: blocks [b0, b1) of rows [0, n) of the matrix starting at rows
 * (row_bytes apart) into a tile of R rows (rows n..R-1 zero); the tile
 * holds block b at out + (b - b0) * wblk. b0 and b1 are multiples of 256
 * elements' worth of blocks (so every type's super-blocks stay whole).
 * pf, pf_len: memory to prefetch meanwhile, spread over the work (the next
 * tile's rows: reading 16 rows side by side defeats the hardware's stream
 * prefetcher); pf may be NULL. */
typedef void (*kern_unpack_tile_fn)(const uint8_t *rows, size_t row_bytes, int n,
                                    const struct kern_shape *sh, int64_t b0, int64_t b1,
                                    uint8_t *out, const uint8_t *pf, size_t pf_len);
/* One activation row (f32) to a packed row, by weight type. */
typedef void (*kern_pack_fn)(const float *x, const struct kern_shape *sh, uint8_t *out);

/* A slice of the dot products, for cache blocking: elements [k0, k1) of
 * the buffers passed (k0, k1 multiples of 16 on the float path, of the
 * block on the int path). With first, the accumulators start from zero,
 * else from acc; with last, the results go to out, else to acc. The int
 * path keeps one float per element (i, j) at acc[j * ldacc + i], the float
 * path 16 lanes at acc + (j * ldacc + i) * 16. The operations per element
 * are the same as in one pass, so slicing does not change a bit. */
struct kern_span {
	int64_t k0, k1;
	int first, last;
	float *acc;
	int64_t ldacc;
};

/* out[j * ldo + i] = dot(weight row i, activation row j) for i < mr,
 * j < nr. Int path: w is a tile (mr <= R) holding the blocks of the span
 * (the block of element k0 first), x packed rows xstride apart, any nr. Float path: w is mr unpacked rows, any mr and nr. sp NULL: all
 * of the elements in one pass. */
typedef void (*kern_tile_fn)(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                             const uint8_t *x, const struct kern_span *sp, float *out, int64_t ldo);

/* Optional fused unpack + tile for 1..gemv_rows activation rows (3 if the
 * ops leave gemv_rows 0) and a full tile of R rows: the same results as
 * unpack_tile then tile_int, without storing the tile. sp is not NULL; its
 * k0, k1 are element positions in the rows. */
typedef void (*kern_gemv_fn)(uint32_t t, const uint8_t *rows, size_t row_bytes,
                             const struct kern_shape *sh, const uint8_t *x, int nr,
                             const struct kern_span *sp, float *out, int64_t ldo, const uint8_t *pf,
                             size_t pf_len);

/* Optional fused float-path kernel for 1..gemv_rows activation rows (3 if
 * gemv_rows is 0): mr weight rows straight from the GGUF rows, the whole
 * length in one pass; the same results as unpack then tile_float. */
typedef void (*kern_gemv_float_fn)(uint32_t t, const uint8_t *rows, size_t row_bytes, int mr,
                                   const struct kern_shape *sh, const uint8_t *x, int nr,
                                   float *out, int64_t ldo, const uint8_t *pf, size_t pf_len);

struct kern_isa_ops {
	const char *name;
	int rows; /* R: rows in an int-path tile */
	kern_unpack_fn unpack[TENSOR_TYPE_MAX]; /* float path */
	kern_unpack_tile_fn unpack_tile[TENSOR_TYPE_MAX]; /* int path */
	kern_pack_fn pack[TENSOR_TYPE_MAX];
	kern_tile_fn tile_int;
	kern_gemv_fn gemv; /* may be NULL */
	int gemv_rows; /* activation rows gemv and gemv_float take at most; 0: 3 */
	kern_gemv_float_fn gemv_float; /* may be NULL */
	kern_tile_fn tile_float;
	kern_vec_dot_fn dot_f32, dot_f16, dot_bf16; /* plain vec dots for the float types */
	kern_vec_dot_fn dot_q[TENSOR_TYPE_MAX]; /* one row, the matmul's numbers */
	int tile_m_float, tile_n_float; /* the float tile's register block */
};

/* Bytes of one block of an R-row tile, and of the whole tile. */
static inline size_t kern_wblk(const struct kern_shape *sh, int r)
{
	return (size_t)r * (size_t)sh->group + 8 * (size_t)r;
}
static inline size_t kern_tile_size(const struct kern_shape *sh, int r)
{
	return kern_wblk(sh, r) * (size_t)sh->nb;
}

/* Elements a tile slice must start and end on (a whole super-block). */
#define KERN_SLICE 256

/* The types with kernels, for declaring per-type functions. */
#define KERN_FOR_TYPES(X) \
	X(F32) X(F16) X(BF16) X(Q4_0) X(Q4_1) X(Q5_0) X(Q5_1) X(Q8_0) X(Q4_K) X(Q5_K) X(Q6_K)
#define KERN_FOR_INT_TYPES(X) X(Q4_0) X(Q4_1) X(Q5_0) X(Q5_1) X(Q8_0) X(Q4_K) X(Q5_K) X(Q6_K)

/* The AVX2 float unpackers and the packers, shared by the AVX-512 ops. */
#define KERN_DECL_AVX2(T)                                                                   \
	void kern_pack_avx2_##T(const float *x, const struct kern_shape *sh, uint8_t *out); \
	void kern_dot_avx2_##T(int64_t n, float *s, const void *vx, const void *vy);
KERN_FOR_TYPES(KERN_DECL_AVX2)
void kern_unpack_avx2_F32(const void *row, const struct kern_shape *sh, uint8_t *out);
void kern_unpack_avx2_F16(const void *row, const struct kern_shape *sh, uint8_t *out);
void kern_unpack_avx2_BF16(const void *row, const struct kern_shape *sh, uint8_t *out);

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

/* Scalar twins (kern.c), also used by the SIMD files for odd cases and by
 * the tests with any R. */
void kern_pack_scalar(uint32_t t, const float *x, const struct kern_shape *sh, uint8_t *out);
void kern_unpack_scalar(uint32_t t, const void *row, const struct kern_shape *sh, uint8_t *out);
void kern_unpack_tile_scalar(uint32_t t, const uint8_t *rows, size_t row_bytes, int n, int r,
                             const struct kern_shape *sh, int64_t b0, int64_t b1, uint8_t *out);
/* The int tile for any R (the scalar ops use R = 4). */
void kern_tile_int_scalar(int r, int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                          const uint8_t *x, const struct kern_span *sp, float *out, int64_t ldo);
/* The levels, dw and mw of one weight row (q: k bytes, dw/mw: nb floats). */
void kern_row_levels(uint32_t t, const void *row, const struct kern_shape *sh, uint8_t *q,
                     float *dw, float *mw);

#endif

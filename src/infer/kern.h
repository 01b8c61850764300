/*
 * kern.h: quantization and the matrix kernels of the forward pass.
 *
 * The fast kernels are picked at run time from the CPU's features (AVX-512
 * F/BW/VL/VNNI, else AVX2+FMA+F16C, else scalar; HUDDLE_KERNELS overrides).
 * Each has a scalar twin computing the same operations in the same order
 * (kern.c; the unit test compares them bit for bit), and kern_vec_dot(t, 1)
 * is the reference with GGUF's semantics, which the fast path matches up to
 * float rounding. Activations are quantized on the fly to the weight type's
 * "vec dot type", as GGUF's reference engine does: Q8_0 for Q4_0/Q5_0/Q8_0,
 * Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants, F16 for F16, BF16 for BF16, F32
 * for F32.
 *
 * Shapes: a weight matrix W is (n_rows, n_cols): n_rows rows of n_cols
 * elements, each row tensor_row_size(t, n_cols) bytes, contiguous.
 */
#ifndef HD_INFER_KERN_H
#define HD_INFER_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "infer/pool.h"
#include "infer/tensor.h"

/* The type activations are quantized to for a dot product with weights of
 * type t; TENSOR_TYPE_MAX if t has no kernel. */
uint32_t kern_vec_dot_type(uint32_t t);

/* 1 if the kernels support weights of type t (a dot kernel and a dequantizer). */
int kern_supported(uint32_t t);

/* Reference quantization of n floats (n a multiple of the block size) into
 * type t's layout; used for activations, for writing GGUF files and in
 * tests. 0 or HD_EINVAL. */
int kern_quantize_row(uint32_t t, const float *x, void *y, int64_t n);
/* Inverse: n values of type t to floats. 0 or HD_EINVAL. */
int kern_dequantize_row(uint32_t t, const void *x, float *y, int64_t n);

/* *s = dot(x, y) over n elements; x has type t, y has kern_vec_dot_type(t). */
typedef void (*kern_vec_dot_fn)(int64_t n, float *s, const void *x, const void *y);
/* ref = 1: the scalar reference (GGUF semantics, block by block as the
 * reference engine sums); ref = 0: the fastest for this CPU, which for the
 * quantized types gives bit for bit kern_matmul's result for that row (the
 * two differ from each other by float rounding only). NULL if unsupported. */
kern_vec_dot_fn kern_vec_dot(uint32_t t, int ref);
/* Name of the instruction set the fast kernels use ("avx512", "avx2",
 * "scalar"). Chosen once from the CPU; the environment variable
 * HUDDLE_KERNELS=scalar|avx2|avx512 (or "ref" for scalar) overrides it. */
const char *kern_isa(void);
/* Forces an instruction set by name (tests and benchmarks); 0, or
 * HD_EUNSUPPORTED if unknown or this CPU lacks it. Not safe while kernels
 * run on other threads. */
int kern_set_isa(const char *name);

/* out[j * n_rows + i] = dot(W row i, x row j) for i < n_rows, j < n_tok.
 * x is (n_tok, n_cols) f32, out is (n_tok, n_rows) f32. scratch holds
 * kern_matmul_scratch_size() bytes (the quantized activations; any
 * alignment). p must not be NULL (a pool of 1 thread is fine). The work is
 * split over the pool's threads; the result is bit-identical for any thread
 * count, and an output element does not depend on n_tok (row j of a batch
 * equals the same row alone). The scratch size is 0 if t has no kernel or
 * n_cols is not a multiple of its block size; kern_matmul then writes NaN. */
size_t kern_matmul_scratch_size(uint32_t t, int64_t n_cols, int64_t n_tok);
void kern_matmul(struct pool *p, uint32_t t, const void *w, int64_t n_rows, int64_t n_cols,
                 const float *x, int64_t n_tok, float *out, void *scratch);

/* Several weight matrices that multiply the same activations (a layer's q,
 * k and v; gate and up): one pass over the pool instead of one each, and
 * the activations quantized once per packing (matrices whose types pack
 * alike share it). Matrix i has n_rows_i rows of n_cols elements of type t_i
 * and writes out_i[j * n_rows_i + i] as kern_matmul would (the same bits).
 * Up to KERN_MULTI_MAX matrices; scratch holds
 * kern_matmul_multi_scratch_size() bytes (0 if any matrix is invalid, and
 * kern_matmul_multi then writes NaN). */
#define KERN_MULTI_MAX 8
struct kern_mat {
	uint32_t t;
	const void *w;
	int64_t n_rows;
	float *out;
};
size_t kern_matmul_multi_scratch_size(const struct kern_mat *m, int n_mat, int64_t n_cols,
                                      int64_t n_tok);
void kern_matmul_multi(struct pool *p, const struct kern_mat *m, int n_mat, int64_t n_cols,
                       const float *x, int64_t n_tok, void *scratch);

#endif

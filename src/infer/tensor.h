/*
 * tensor.h: the element types of GGUF tensors, with GGUF's exact numbering
 * and block layouts, and the size arithmetic every loader needs.
 *
 * A row of n elements of a quantized type is n / block_size blocks of
 * type_size bytes each; n must be a multiple of the block size.
 */
#ifndef HD_INFER_TENSOR_H
#define HD_INFER_TENSOR_H

#include <stddef.h>
#include <stdint.h>

/* Values are GGUF's (ggml_type); never renumber. */
enum tensor_type {
	TENSOR_F32 = 0,
	TENSOR_F16 = 1,
	TENSOR_Q4_0 = 2,
	TENSOR_Q4_1 = 3,
	TENSOR_Q5_0 = 6,
	TENSOR_Q5_1 = 7,
	TENSOR_Q8_0 = 8,
	TENSOR_Q8_1 = 9,
	TENSOR_Q2_K = 10,
	TENSOR_Q3_K = 11,
	TENSOR_Q4_K = 12,
	TENSOR_Q5_K = 13,
	TENSOR_Q6_K = 14,
	TENSOR_Q8_K = 15,
	TENSOR_I8 = 24,
	TENSOR_I16 = 25,
	TENSOR_I32 = 26,
	TENSOR_I64 = 27,
	TENSOR_F64 = 28,
	TENSOR_BF16 = 30,
	TENSOR_TYPE_MAX = 40, /* one past the largest value this table knows */
};

struct tensor_type_info {
	const char *name; /* "q4_K", as GGUF tools print it; NULL if unknown */
	int64_t block_size; /* elements per block (1 for plain types) */
	size_t type_size; /* bytes per block */
	int quantized; /* 1 for block-quantized types */
};

/* Info for a type, or NULL for a value we do not know (untrusted input:
 * check before use). */
const struct tensor_type_info *tensor_type_info(uint32_t type);

/* Bytes of a row of n elements. Returns 0 and sets *size, or HD_EINVAL if
 * the type is unknown or n is not a multiple of its block size, or
 * HD_ETOOBIG on overflow. */
int tensor_row_size(uint32_t type, int64_t n, size_t *size);

/* Bytes of a tensor with dims ne[0..n_dims) (ne[0] is the row length, the
 * fastest-varying dimension, as in GGUF). Checks every multiplication for
 * overflow and every dim for being >= 1. 0, HD_EINVAL or HD_ETOOBIG. */
int tensor_nbytes(uint32_t type, const int64_t *ne, int n_dims, size_t *size);

/* IEEE half and bfloat16 conversions (round to nearest even). */
float fp16_to_f32(uint16_t h);
uint16_t f32_to_fp16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

#endif

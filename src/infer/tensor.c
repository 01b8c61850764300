/*
 * tensor.c: type table and size arithmetic for GGUF tensor types.
 */
#include "infer/tensor.h"

#include "core/core.h"

#include <string.h>

static const struct tensor_type_info infos[TENSOR_TYPE_MAX] = {
        [TENSOR_F32] = {"f32", 1, 4, 0},
        [TENSOR_F16] = {"f16", 1, 2, 0},
        [TENSOR_Q4_0] = {"q4_0", 32, 2 + 16, 1},
        [TENSOR_Q4_1] = {"q4_1", 32, 2 + 2 + 16, 1},
        [TENSOR_Q5_0] = {"q5_0", 32, 2 + 4 + 16, 1},
        [TENSOR_Q5_1] = {"q5_1", 32, 2 + 2 + 4 + 16, 1},
        [TENSOR_Q8_0] = {"q8_0", 32, 2 + 32, 1},
        [TENSOR_Q8_1] = {"q8_1", 32, 4 + 32, 1},
        [TENSOR_Q2_K] = {"q2_K", 256, 2 + 2 + 16 + 64, 1},
        [TENSOR_Q3_K] = {"q3_K", 256, 2 + 12 + 32 + 64, 1},
        [TENSOR_Q4_K] = {"q4_K", 256, 2 + 2 + 12 + 128, 1},
        [TENSOR_Q5_K] = {"q5_K", 256, 2 + 2 + 12 + 32 + 128, 1},
        [TENSOR_Q6_K] = {"q6_K", 256, 128 + 64 + 16 + 2, 1},
        [TENSOR_Q8_K] = {"q8_K", 256, 4 + 256 + 2 * 16, 1},
        [TENSOR_I8] = {"i8", 1, 1, 0},
        [TENSOR_I16] = {"i16", 1, 2, 0},
        [TENSOR_I32] = {"i32", 1, 4, 0},
        [TENSOR_I64] = {"i64", 1, 8, 0},
        [TENSOR_F64] = {"f64", 1, 8, 0},
        [TENSOR_BF16] = {"bf16", 1, 2, 0},
};

const struct tensor_type_info *tensor_type_info(uint32_t type)
{
	if (type >= TENSOR_TYPE_MAX || !infos[type].name)
		return NULL;
	return &infos[type];
}

int tensor_row_size(uint32_t type, int64_t n, size_t *size)
{
	const struct tensor_type_info *ti = tensor_type_info(type);
	if (!ti || n < 0 || n % ti->block_size)
		return HD_EINVAL;
	uint64_t blocks = (uint64_t)(n / ti->block_size);
	if (blocks > SIZE_MAX / ti->type_size)
		return HD_ETOOBIG;
	*size = (size_t)blocks * ti->type_size;
	return 0;
}

int tensor_nbytes(uint32_t type, const int64_t *ne, int n_dims, size_t *size)
{
	size_t row, total;
	int rc;

	if (n_dims < 1 || n_dims > 4)
		return HD_EINVAL;
	for (int i = 0; i < n_dims; i++)
		if (ne[i] < 1)
			return HD_EINVAL;
	rc = tensor_row_size(type, ne[0], &row);
	if (rc)
		return rc;
	total = row;
	for (int i = 1; i < n_dims; i++) {
		if ((uint64_t)ne[i] > SIZE_MAX / (total ? total : 1))
			return HD_ETOOBIG;
		total *= (size_t)ne[i];
	}
	*size = total;
	return 0;
}

float fp16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
	float f;

	if (exp == 0) {
		/* zero or subnormal: value = man * 2^-24 */
		f = (float)man * 5.9604644775390625e-8f;
		memcpy(&bits, &f, 4);
		bits |= sign;
	} else if (exp == 31) {
		bits = sign | 0x7f800000u | (man << 13);
	} else {
		bits = sign | ((exp + 112) << 23) | (man << 13);
	}
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t f32_to_fp16(float f)
{
	uint32_t x, sign, exp, man;
	memcpy(&x, &f, 4);
	sign = (x >> 16) & 0x8000;
	exp = (x >> 23) & 0xff;
	man = x & 0x7fffff;

	if (exp == 0xff) /* inf or nan */
		return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
	int32_t e = (int32_t)exp - 127 + 15;
	if (e >= 31)
		return (uint16_t)(sign | 0x7c00);
	if (e <= 0) {
		/* subnormal half (or zero): shift the mantissa with its implicit 1 */
		if (e < -10)
			return (uint16_t)sign;
		man |= 0x800000;
		uint32_t shift = (uint32_t)(14 - e);
		uint32_t half = man >> shift;
		uint32_t rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
		if (rem > mid || (rem == mid && (half & 1)))
			half++;
		return (uint16_t)(sign | half);
	}
	uint32_t half = sign | ((uint32_t)e << 10) | (man >> 13);
	uint32_t rem = man & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
		half++; /* may carry into the exponent, which is correct */
	return (uint16_t)half;
}

float bf16_to_f32(uint16_t h)
{
	uint32_t bits = (uint32_t)h << 16;
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

uint16_t f32_to_bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	if ((x & 0x7fffffff) > 0x7f800000)
		return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
	x += 0x7fff + ((x >> 16) & 1);
	return (uint16_t)(x >> 16);
}

/*
 * fuzz_kern.c: the kernels over arbitrary weight bytes, as a hostile model
 * file delivers them (any fp16 scale: nan, inf, subnormal; any level bits).
 * Nothing is parsed, but every type's dequantizer, reference dot, unpacker
 * and dot tile must stay within its buffers and free of undefined behaviour,
 * and every instruction set must give the same bits as the scalar twin.
 *
 * Input: byte 0 picks the type, byte 1 the row count (1..40: short tiles and
 * full 16-row ones, which take the fused kernels), byte 2 the token count
 * (1..40: one row, decode-sized batches up to 32, prompt-sized past that);
 * the rest are the weight rows (zero padded to at least one block per row).
 * Activations are small integers taken from the same bytes, so they are
 * finite.
 */
#include "infer/kern.h"
#include "infer/pool.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t types[] = {TENSOR_F32,  TENSOR_F16,  TENSOR_BF16, TENSOR_Q4_0,
                                 TENSOR_Q4_1, TENSOR_Q5_0, TENSOR_Q5_1, TENSOR_Q8_0,
                                 TENSOR_Q4_K, TENSOR_Q5_K, TENSOR_Q6_K};

static int same_bits(const float *a, const float *b, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		if (!(isnan(a[i]) && isnan(b[i])) && memcmp(&a[i], &b[i], sizeof(float)))
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pool *pool;
	static const char *isas[] = {"scalar", "avx2", "avx512"};

	if (size < 3)
		return 0;
	if (!pool)
		pool = pool_new(2);
	const uint32_t t = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	const int64_t n_rows = 1 + data[1] % 40, n_tok = 1 + data[2] % 40;
	const struct tensor_type_info *ti = tensor_type_info(t);
	data += 3;
	size -= 3;

	/* as many whole blocks per row as the bytes give, at least one, at most 32 */
	int64_t nb = (int64_t)(size / (size_t)n_rows / ti->type_size);
	nb = nb < 1 ? 1 : nb > 32 ? 32 : nb;
	const int64_t n_cols = nb * ti->block_size;
	size_t row;
	if (tensor_row_size(t, n_cols, &row))
		abort();
	uint8_t *w = calloc((size_t)n_rows, row);
	memcpy(w, data, size < row * (size_t)n_rows ? size : row * (size_t)n_rows);

	float *x = malloc(sizeof(float) * (size_t)(n_cols * n_tok));
	for (int64_t i = 0; i < n_cols * n_tok; i++)
		x[i] = (float)(int8_t)(size ? data[(size_t)i % size] : 1) / 16.f;

	/* dequantize and the reference dot of every row */
	float *deq = malloc(sizeof(float) * (size_t)n_cols);
	const uint32_t vt = kern_vec_dot_type(t);
	size_t xrow;
	if (tensor_row_size(vt, n_cols, &xrow))
		abort();
	uint8_t *xq = malloc(xrow);
	kern_quantize_row(vt, x, xq, n_cols);
	for (int64_t i = 0; i < n_rows; i++) {
		float s0, s1;
		if (kern_dequantize_row(t, w + row * (size_t)i, deq, n_cols))
			abort();
		kern_vec_dot(t, 1)(n_cols, &s0, w + row * (size_t)i, xq);
		kern_vec_dot(t, 0)(n_cols, &s1, w + row * (size_t)i, xq);
	}

	/* the matmul on every instruction set: the same bits */
	float *first = NULL, *out = malloc(sizeof(float) * (size_t)(n_rows * n_tok));
	void *scratch = malloc(kern_matmul_scratch_size(t, n_cols, n_tok));
	for (size_t s = 0; s < sizeof(isas) / sizeof(isas[0]); s++) {
		if (kern_set_isa(isas[s]))
			continue;
		kern_matmul(pool, t, w, n_rows, n_cols, x, n_tok, out, scratch);
		if (!first) {
			first = out;
			out = malloc(sizeof(float) * (size_t)(n_rows * n_tok));
		} else if (!same_bits(first, out, n_rows * n_tok)) {
			abort();
		}
	}
	if (kern_set_isa("avx512"))
		kern_set_isa("avx2");

	free(first);
	free(out);
	free(scratch);
	free(xq);
	free(deq);
	free(x);
	free(w);
	return 0;
}

/*
 * quant.c: reference (scalar) quantization and dequantization for every
 * tensor type the kernels support, and the reference dot products with GGUF's
 * semantics (the weight block times the activation block of the type's
 * vec-dot type, summed block by block as the reference engine does).
 *
 * The block layouts are in kern_impl.h. Activation quantizers (Q8_0, Q8_1,
 * Q8_K) round to nearest even, as the reference engine's x86 code does.
 */
#include "infer/kern_impl.h"

#include "core/core.h"

#include <math.h>
#include <string.h>

/* ---- activation-type quantizers (shared with the packers) ------------- */

float kern_q8_quantize(const float *x, int n, int8_t *q)
{
	float amax = 0;
	for (int i = 0; i < n; i++) {
		float a = fabsf(x[i]);
		if (a > amax)
			amax = a;
	}
	const float id = amax > 0 ? 127.f / amax : 0.f;
	for (int i = 0; i < n; i++) {
		int v = kern_round(x[i] * id);
		q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
	}
	return amax / 127.f;
}

float kern_q8k_quantize(const float *x, int8_t *q)
{
	float amax = 0, max = 0;
	for (int i = 0; i < QK_K; i++) {
		float a = fabsf(x[i]);
		if (a > amax) {
			amax = a;
			max = x[i];
		}
	}
	if (!(amax > 0) || !isfinite(amax)) {
		memset(q, 0, QK_K);
		return 0;
	}
	const float iscale = -127.f / max;
	for (int i = 0; i < QK_K; i++) {
		int v = kern_round(iscale * x[i]);
		q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
	}
	return 1 / iscale;
}

static void quantize_q8_0(const float *x, struct blk_q8_0 *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++)
		y[b].d = f32_to_fp16(kern_q8_quantize(x + b * QK, QK, y[b].qs));
}

static void quantize_q8_1(const float *x, struct blk_q8_1 *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++) {
		float d = kern_q8_quantize(x + b * QK, QK, y[b].qs);
		int sum = 0;
		for (int j = 0; j < QK; j++)
			sum += y[b].qs[j];
		y[b].d = f32_to_fp16(d);
		y[b].s = f32_to_fp16(d * (float)sum);
	}
}

static void quantize_q8_k(const float *x, struct blk_q8_k *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++) {
		y[b].d = kern_q8k_quantize(x + b * QK_K, y[b].qs);
		for (int g = 0; g < QK_K / 16; g++) {
			int sum = 0;
			for (int j = 0; j < 16; j++)
				sum += y[b].qs[16 * g + j];
			y[b].bsums[g] = (int16_t)sum;
		}
	}
}

/* ---- weight quantizers ------------------------------------------------ */

/* The value of largest magnitude in x[0..n), with its sign. */
static float signed_absmax(const float *x, int n)
{
	float amax = 0, max = 0;
	for (int i = 0; i < n; i++)
		if (fabsf(x[i]) > amax) {
			amax = fabsf(x[i]);
			max = x[i];
		}
	return max;
}

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* floor(v) clamped to [0, top], for any float (nan gives 0): converting an
 * out-of-range float to int would be undefined. */
static int floor_level(float v, int top)
{
	v = fminf(fmaxf(v, 0.f), (float)top);
	return (int)v;
}

/* Symmetric n-bit block: the largest-magnitude value maps to level 0 (-2^(bits-1)),
 * q in [0, 2^bits). Returns d. */
static float quantize_sym(const float *x, int bits, uint8_t *q)
{
	const int half = 1 << (bits - 1), top = (1 << bits) - 1;
	const float d = signed_absmax(x, QK) / (float)-half;
	const float id = d != 0 ? 1.f / d : 0.f;
	for (int j = 0; j < QK; j++)
		q[j] = (uint8_t)floor_level(x[j] * id + (float)half + 0.5f, top);
	return d;
}

/* Asymmetric n-bit block: q in [0, 2^bits), value = d * q + min. */
static void quantize_asym(const float *x, int bits, uint8_t *q, float *d_out, float *min_out)
{
	const int top = (1 << bits) - 1;
	float lo = x[0], hi = x[0];
	for (int j = 1; j < QK; j++) {
		lo = fminf(lo, x[j]);
		hi = fmaxf(hi, x[j]);
	}
	const float d = (hi - lo) / (float)top;
	const float id = d != 0 ? 1.f / d : 0.f;
	for (int j = 0; j < QK; j++)
		q[j] = (uint8_t)floor_level((x[j] - lo) * id + 0.5f, top);
	*d_out = d;
	*min_out = lo;
}

static void pack_nibbles(const uint8_t *q, uint8_t *qs)
{
	for (int j = 0; j < QK / 2; j++)
		qs[j] = (uint8_t)((q[j] & 15) | ((q[j + QK / 2] & 15) << 4));
}

static void pack_high_bits(const uint8_t *q, uint8_t qh[4])
{
	uint32_t h = 0;
	for (int j = 0; j < QK; j++)
		h |= (uint32_t)((q[j] >> 4) & 1) << j;
	for (int i = 0; i < 4; i++)
		qh[i] = (uint8_t)(h >> (8 * i));
}

static void quantize_q4_0(const float *x, struct blk_q4_0 *y, int64_t nb)
{
	uint8_t q[QK];
	for (int64_t b = 0; b < nb; b++) {
		y[b].d = f32_to_fp16(quantize_sym(x + b * QK, 4, q));
		pack_nibbles(q, y[b].qs);
	}
}

static void quantize_q5_0(const float *x, struct blk_q5_0 *y, int64_t nb)
{
	uint8_t q[QK];
	for (int64_t b = 0; b < nb; b++) {
		y[b].d = f32_to_fp16(quantize_sym(x + b * QK, 5, q));
		pack_nibbles(q, y[b].qs);
		pack_high_bits(q, y[b].qh);
	}
}

static void quantize_q4_1(const float *x, struct blk_q4_1 *y, int64_t nb)
{
	uint8_t q[QK];
	float d, m;
	for (int64_t b = 0; b < nb; b++) {
		quantize_asym(x + b * QK, 4, q, &d, &m);
		y[b].d = f32_to_fp16(d);
		y[b].m = f32_to_fp16(m);
		pack_nibbles(q, y[b].qs);
	}
}

static void quantize_q5_1(const float *x, struct blk_q5_1 *y, int64_t nb)
{
	uint8_t q[QK];
	float d, m;
	for (int64_t b = 0; b < nb; b++) {
		quantize_asym(x + b * QK, 5, q, &d, &m);
		y[b].d = f32_to_fp16(d);
		y[b].m = f32_to_fp16(m);
		pack_nibbles(q, y[b].qs);
		pack_high_bits(q, y[b].qh);
	}
}

/*
 * K-quant scale search. Fits x[0..n) ~ a * L + b with levels L in [0, nmax]
 * and an offset b <= 0, minimizing the w-weighted squared error: try a grid
 * of inverse scales around nmax / (max - min), and for each rounding refit
 * (a, b) by weighted least squares. Returns a, sets *b.
 */
static float fit_affine(int n, int nmax, const float *x, const float *w, uint8_t *L, float *b_out)
{
	float lo = x[0], hi = x[0];
	float sw = 0, swx = 0;
	uint8_t cand[32];

	for (int i = 0; i < n; i++) {
		lo = fminf(lo, x[i]);
		hi = fmaxf(hi, x[i]);
		sw += w[i];
		swx += w[i] * x[i];
	}
	if (lo > 0)
		lo = 0;
	if (!(hi > lo)) { /* constant (<= 0) block, or nan */
		memset(L, 0, (size_t)n);
		*b_out = isfinite(lo) ? lo : 0;
		return 0;
	}
	float best_a = (hi - lo) / (float)nmax, best_b = lo, best_err = INFINITY;
	for (int step = -10; step <= 10; step++) {
		const float iscale = ((float)nmax + 0.1f * (float)step) / (hi - lo);
		float sl = 0, sll = 0, slx = 0;
		for (int i = 0; i < n; i++) {
			int l = clampi(kern_round((x[i] - lo) * iscale), 0, nmax);
			cand[i] = (uint8_t)l;
			sl += w[i] * (float)l;
			sll += w[i] * (float)(l * l);
			slx += w[i] * (float)l * x[i];
		}
		const float det = sw * sll - sl * sl;
		if (!(det > 0))
			continue;
		float a = (sw * slx - sl * swx) / det;
		float b = (sll * swx - sl * slx) / det;
		if (b > 0) {
			b = 0;
			a = slx / sll;
		}
		if (a < 0)
			continue;
		float err = 0;
		for (int i = 0; i < n; i++) {
			float e = a * (float)cand[i] + b - x[i];
			err += w[i] * e * e;
		}
		if (err < best_err) {
			best_err = err;
			best_a = a;
			best_b = b;
			memcpy(L, cand, (size_t)n);
		}
	}
	if (best_err == INFINITY) { /* no fit was usable: plain min/max levels */
		for (int i = 0; i < n; i++)
			L[i] = (uint8_t)clampi(kern_round((x[i] - lo) / best_a), 0, nmax);
	}
	*b_out = best_b;
	return best_a;
}

/* Symmetric fit for Q6_K: x ~ a * L, L in [-nmax, nmax - 1], weights x^2.
 * Returns a (any sign). */
static float fit_symmetric(int n, int nmax, const float *x)
{
	const float max = signed_absmax(x, n);
	if (!(fabsf(max) > 1e-30f) || !isfinite(max))
		return 0;
	float best_a = -max / (float)nmax, best = -1;
	for (int step = -9; step <= 9; step++) {
		const float iscale = -((float)nmax + 0.1f * (float)step) / max;
		float slx = 0, sll = 0;
		for (int i = 0; i < n; i++) {
			int l = clampi(kern_round(iscale * x[i]), -nmax, nmax - 1);
			float w = x[i] * x[i];
			slx += w * x[i] * (float)l;
			sll += w * (float)(l * l);
		}
		if (sll > 0 && slx * slx / sll > best) {
			best = slx * slx / sll;
			best_a = slx / sll;
		}
	}
	return best_a;
}

static void pack_scales_k4(uint8_t out[12], const uint8_t *sc, const uint8_t *m)
{
	memset(out, 0, 12);
	for (int j = 0; j < 8; j++) {
		if (j < 4) {
			out[j] = sc[j];
			out[j + 4] = m[j];
		} else {
			out[j + 4] = (uint8_t)((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
			out[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
			out[j] |= (uint8_t)((m[j] >> 4) << 6);
		}
	}
}

/* Shared by Q4_K and Q5_K: levels L[256] in [0, nmax], header fields. */
static void quantize_k_affine(const float *x, int nmax, uint16_t *d_out, uint16_t *dmin_out,
                              uint8_t scales[12], uint8_t L[QK_K])
{
	float a[8], m[8], w[32], max_a = 0, max_m = 0;
	uint8_t isc[8], im[8];

	for (int j = 0; j < 8; j++) {
		const float *xs = x + 32 * j;
		float s2 = 0;
		for (int i = 0; i < 32; i++)
			s2 += xs[i] * xs[i];
		const float rms = sqrtf(s2 / 32);
		for (int i = 0; i < 32; i++)
			w[i] = rms + fabsf(xs[i]);
		float b;
		a[j] = fit_affine(32, nmax, xs, w, L + 32 * j, &b);
		m[j] = -b;
		max_a = fmaxf(max_a, a[j]);
		max_m = fmaxf(max_m, m[j]);
	}
	const float id = max_a > 0 ? 63.f / max_a : 0, im_ = max_m > 0 ? 63.f / max_m : 0;
	for (int j = 0; j < 8; j++) {
		isc[j] = (uint8_t)clampi(kern_round(a[j] * id), 0, 63);
		im[j] = (uint8_t)clampi(kern_round(m[j] * im_), 0, 63);
	}
	pack_scales_k4(scales, isc, im);
	*d_out = f32_to_fp16(max_a / 63.f);
	*dmin_out = f32_to_fp16(max_m / 63.f);
	const float d = fp16_to_f32(*d_out), dmin = fp16_to_f32(*dmin_out);
	for (int j = 0; j < 8; j++) {
		const float ds = d * (float)isc[j], dm = dmin * (float)im[j];
		for (int i = 0; i < 32; i++) {
			int l = ds > 0 ? kern_round((x[32 * j + i] + dm) / ds) : 0;
			L[32 * j + i] = (uint8_t)clampi(l, 0, nmax);
		}
	}
}

static void quantize_q4_k(const float *x, struct blk_q4_k *y, int64_t nb)
{
	uint8_t L[QK_K];
	for (int64_t b = 0; b < nb; b++, x += QK_K) {
		quantize_k_affine(x, 15, &y[b].d, &y[b].dmin, y[b].scales, L);
		for (int c = 0; c < 4; c++)
			for (int l = 0; l < 32; l++)
				y[b].qs[32 * c + l] =
				        (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
	}
}

static void quantize_q5_k(const float *x, struct blk_q5_k *y, int64_t nb)
{
	uint8_t L[QK_K];
	for (int64_t b = 0; b < nb; b++, x += QK_K) {
		quantize_k_affine(x, 31, &y[b].d, &y[b].dmin, y[b].scales, L);
		memset(y[b].qh, 0, sizeof(y[b].qh));
		for (int c = 0; c < 4; c++)
			for (int l = 0; l < 32; l++) {
				const int l1 = L[64 * c + l], l2 = L[64 * c + 32 + l];
				y[b].qs[32 * c + l] = (uint8_t)((l1 & 15) | ((l2 & 15) << 4));
				y[b].qh[l] |= (uint8_t)(((l1 >> 4) << (2 * c)) |
				                        ((l2 >> 4) << (2 * c + 1)));
			}
	}
}

static void quantize_q6_k(const float *x, struct blk_q6_k *y, int64_t nb)
{
	uint8_t L[QK_K];
	float a[16];
	for (int64_t b = 0; b < nb; b++, x += QK_K) {
		float amax = 0, max = 0;
		for (int g = 0; g < 16; g++) {
			a[g] = fit_symmetric(16, 32, x + 16 * g);
			if (fabsf(a[g]) > amax) {
				amax = fabsf(a[g]);
				max = a[g];
			}
		}
		memset(&y[b], 0, sizeof(y[b]));
		if (!(amax > 1e-30f)) {
			memset(L, 32, sizeof(L)); /* level 32 is zero */
		} else {
			const float iscale = -128.f / max;
			for (int g = 0; g < 16; g++)
				y[b].scales[g] =
				        (int8_t)clampi(kern_round(iscale * a[g]), -128, 127);
			y[b].d = f32_to_fp16(1 / iscale);
			const float d = fp16_to_f32(y[b].d);
			for (int g = 0; g < 16; g++) {
				const float ds = d * (float)y[b].scales[g];
				for (int i = 0; i < 16; i++) {
					int l = ds != 0 ? kern_round(x[16 * g + i] / ds) : 0;
					L[16 * g + i] = (uint8_t)(clampi(l, -32, 31) + 32);
				}
			}
		}
		for (int h = 0; h < 2; h++) {
			const uint8_t *Lh = L + 128 * h;
			uint8_t *ql = y[b].ql + 64 * h, *qh = y[b].qh + 32 * h;
			for (int l = 0; l < 32; l++) {
				ql[l] = (uint8_t)((Lh[l] & 15) | ((Lh[l + 64] & 15) << 4));
				ql[l + 32] =
				        (uint8_t)((Lh[l + 32] & 15) | ((Lh[l + 96] & 15) << 4));
				qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
				                  ((Lh[l + 64] >> 4) << 4) |
				                  ((Lh[l + 96] >> 4) << 6));
			}
		}
	}
}

/* ---- dequantizers ----------------------------------------------------- */

static uint32_t load_u32le(const uint8_t b[4])
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void dequant_q4_0(const struct blk_q4_0 *x, float *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++, y += QK) {
		const float d = fp16_to_f32(x[b].d);
		for (int j = 0; j < 16; j++) {
			y[j] = (float)((x[b].qs[j] & 15) - 8) * d;
			y[j + 16] = (float)((x[b].qs[j] >> 4) - 8) * d;
		}
	}
}

static void dequant_q4_1(const struct blk_q4_1 *x, float *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++, y += QK) {
		const float d = fp16_to_f32(x[b].d), m = fp16_to_f32(x[b].m);
		for (int j = 0; j < 16; j++) {
			y[j] = (float)(x[b].qs[j] & 15) * d + m;
			y[j + 16] = (float)(x[b].qs[j] >> 4) * d + m;
		}
	}
}

static void dequant_q5_0(const struct blk_q5_0 *x, float *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++, y += QK) {
		const float d = fp16_to_f32(x[b].d);
		const uint32_t qh = load_u32le(x[b].qh);
		for (int j = 0; j < 16; j++) {
			int q0 = (x[b].qs[j] & 15) | (int)(((qh >> j) & 1) << 4);
			int q1 = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
			y[j] = (float)(q0 - 16) * d;
			y[j + 16] = (float)(q1 - 16) * d;
		}
	}
}

static void dequant_q5_1(const struct blk_q5_1 *x, float *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++, y += QK) {
		const float d = fp16_to_f32(x[b].d), m = fp16_to_f32(x[b].m);
		const uint32_t qh = load_u32le(x[b].qh);
		for (int j = 0; j < 16; j++) {
			int q0 = (x[b].qs[j] & 15) | (int)(((qh >> j) & 1) << 4);
			int q1 = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
			y[j] = (float)q0 * d + m;
			y[j + 16] = (float)q1 * d + m;
		}
	}
}

static void dequant_q8_0(const struct blk_q8_0 *x, float *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++, y += QK) {
		const float d = fp16_to_f32(x[b].d);
		for (int j = 0; j < QK; j++)
			y[j] = (float)x[b].qs[j] * d;
	}
}

static void dequant_q8_1(const struct blk_q8_1 *x, float *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++, y += QK) {
		const float d = fp16_to_f32(x[b].d);
		for (int j = 0; j < QK; j++)
			y[j] = (float)x[b].qs[j] * d;
	}
}

static void dequant_q8_k(const struct blk_q8_k *x, float *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++, y += QK_K)
		for (int j = 0; j < QK_K; j++)
			y[j] = (float)x[b].qs[j] * x[b].d;
}

static void dequant_q4_k(const struct blk_q4_k *x, float *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++) {
		const float d = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
		const uint8_t *q = x[b].qs;
		for (int c = 0; c < 4; c++, q += 32) {
			uint8_t sc, m;
			kern_scale_min_k4(2 * c, x[b].scales, &sc, &m);
			const float d1 = d * (float)sc, m1 = dmin * (float)m;
			kern_scale_min_k4(2 * c + 1, x[b].scales, &sc, &m);
			const float d2 = d * (float)sc, m2 = dmin * (float)m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (float)(q[l] & 15) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (float)(q[l] >> 4) - m2;
		}
	}
}

static void dequant_q5_k(const struct blk_q5_k *x, float *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++) {
		const float d = fp16_to_f32(x[b].d), dmin = fp16_to_f32(x[b].dmin);
		const uint8_t *q = x[b].qs, *qh = x[b].qh;
		for (int c = 0; c < 4; c++, q += 32) {
			uint8_t sc, m;
			kern_scale_min_k4(2 * c, x[b].scales, &sc, &m);
			const float d1 = d * (float)sc, m1 = dmin * (float)m;
			kern_scale_min_k4(2 * c + 1, x[b].scales, &sc, &m);
			const float d2 = d * (float)sc, m2 = dmin * (float)m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (float)((q[l] & 15) | (((qh[l] >> (2 * c)) & 1) << 4)) -
				       m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (float)((q[l] >> 4) |
				                    (((qh[l] >> (2 * c + 1)) & 1) << 4)) -
				       m2;
		}
	}
}

/* Level (0..63) of element e (0..255) of a Q6_K block. */
static int q6k_level(const struct blk_q6_k *x, int e)
{
	const int h = e / 128, r = e % 128, k = r / 32, l = r % 32;
	const uint8_t ql = x->ql[64 * h + 32 * (k & 1) + l];
	const int lo = (k < 2) ? (ql & 15) : (ql >> 4);
	const int hi = (x->qh[32 * h + l] >> (2 * k)) & 3;
	return lo | (hi << 4);
}

static void dequant_q6_k(const struct blk_q6_k *x, float *y, int64_t nb)
{
	for (int64_t b = 0; b < nb; b++) {
		const float d = fp16_to_f32(x[b].d);
		for (int e = 0; e < QK_K; e++)
			*y++ = d * (float)x[b].scales[e / 16] * (float)(q6k_level(&x[b], e) - 32);
	}
}

/* ---- public quantize / dequantize ------------------------------------- */

int kern_quantize_row(uint32_t t, const float *x, void *y, int64_t n)
{
	const struct tensor_type_info *ti = tensor_type_info(t);
	if (!ti || n < 0 || n % ti->block_size)
		return HD_EINVAL;
	const int64_t nb = n / ti->block_size;
	switch (t) {
	case TENSOR_F32: memcpy(y, x, (size_t)n * sizeof(float)); return 0;
	case TENSOR_F16:
		for (int64_t i = 0; i < n; i++)
			((uint16_t *)y)[i] = f32_to_fp16(x[i]);
		return 0;
	case TENSOR_BF16:
		for (int64_t i = 0; i < n; i++)
			((uint16_t *)y)[i] = f32_to_bf16(x[i]);
		return 0;
	case TENSOR_Q4_0: quantize_q4_0(x, y, nb); return 0;
	case TENSOR_Q4_1: quantize_q4_1(x, y, nb); return 0;
	case TENSOR_Q5_0: quantize_q5_0(x, y, nb); return 0;
	case TENSOR_Q5_1: quantize_q5_1(x, y, nb); return 0;
	case TENSOR_Q8_0: quantize_q8_0(x, y, nb); return 0;
	case TENSOR_Q8_1: quantize_q8_1(x, y, nb); return 0;
	case TENSOR_Q4_K: quantize_q4_k(x, y, nb); return 0;
	case TENSOR_Q5_K: quantize_q5_k(x, y, nb); return 0;
	case TENSOR_Q6_K: quantize_q6_k(x, y, nb); return 0;
	case TENSOR_Q8_K: quantize_q8_k(x, y, nb); return 0;
	default: return HD_EINVAL;
	}
}

int kern_dequantize_row(uint32_t t, const void *x, float *y, int64_t n)
{
	const struct tensor_type_info *ti = tensor_type_info(t);
	if (!ti || n < 0 || n % ti->block_size)
		return HD_EINVAL;
	const int64_t nb = n / ti->block_size;
	switch (t) {
	case TENSOR_F32: memcpy(y, x, (size_t)n * sizeof(float)); return 0;
	case TENSOR_F16:
		for (int64_t i = 0; i < n; i++)
			y[i] = fp16_to_f32(((const uint16_t *)x)[i]);
		return 0;
	case TENSOR_BF16:
		for (int64_t i = 0; i < n; i++)
			y[i] = bf16_to_f32(((const uint16_t *)x)[i]);
		return 0;
	case TENSOR_Q4_0: dequant_q4_0(x, y, nb); return 0;
	case TENSOR_Q4_1: dequant_q4_1(x, y, nb); return 0;
	case TENSOR_Q5_0: dequant_q5_0(x, y, nb); return 0;
	case TENSOR_Q5_1: dequant_q5_1(x, y, nb); return 0;
	case TENSOR_Q8_0: dequant_q8_0(x, y, nb); return 0;
	case TENSOR_Q8_1: dequant_q8_1(x, y, nb); return 0;
	case TENSOR_Q4_K: dequant_q4_k(x, y, nb); return 0;
	case TENSOR_Q5_K: dequant_q5_k(x, y, nb); return 0;
	case TENSOR_Q6_K: dequant_q6_k(x, y, nb); return 0;
	case TENSOR_Q8_K: dequant_q8_k(x, y, nb); return 0;
	default: return HD_EINVAL;
	}
}

/* ---- reference dot products (GGUF semantics) --------------------------- */

static void dot_f32_ref(int64_t n, float *s, const void *vx, const void *vy)
{
	const float *x = vx, *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += x[i] * y[i];
	*s = sum;
}

static void dot_f16_ref(int64_t n, float *s, const void *vx, const void *vy)
{
	const uint16_t *x = vx, *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += fp16_to_f32(x[i]) * fp16_to_f32(y[i]);
	*s = sum;
}

static void dot_bf16_ref(int64_t n, float *s, const void *vx, const void *vy)
{
	const uint16_t *x = vx, *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += bf16_to_f32(x[i]) * bf16_to_f32(y[i]);
	*s = sum;
}

static void dot_q4_0_ref(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct blk_q4_0 *x = vx;
	const struct blk_q8_0 *y = vy;
	float sum = 0;
	for (int64_t b = 0; b < n / QK; b++) {
		int isum = 0;
		for (int j = 0; j < 16; j++)
			isum += ((x[b].qs[j] & 15) - 8) * y[b].qs[j] +
			        ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + 16];
		sum += (float)isum * (fp16_to_f32(x[b].d) * fp16_to_f32(y[b].d));
	}
	*s = sum;
}

static void dot_q4_1_ref(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct blk_q4_1 *x = vx;
	const struct blk_q8_1 *y = vy;
	float sum = 0;
	for (int64_t b = 0; b < n / QK; b++) {
		int isum = 0;
		for (int j = 0; j < 16; j++)
			isum += (x[b].qs[j] & 15) * y[b].qs[j] +
			        (x[b].qs[j] >> 4) * y[b].qs[j + 16];
		sum += (float)isum * (fp16_to_f32(x[b].d) * fp16_to_f32(y[b].d)) +
		       fp16_to_f32(x[b].m) * fp16_to_f32(y[b].s);
	}
	*s = sum;
}

static void dot_q5_0_ref(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct blk_q5_0 *x = vx;
	const struct blk_q8_0 *y = vy;
	float sum = 0;
	for (int64_t b = 0; b < n / QK; b++) {
		const uint32_t qh = load_u32le(x[b].qh);
		int isum = 0;
		for (int j = 0; j < 16; j++) {
			int q0 = (x[b].qs[j] & 15) | (int)(((qh >> j) & 1) << 4);
			int q1 = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
			isum += (q0 - 16) * y[b].qs[j] + (q1 - 16) * y[b].qs[j + 16];
		}
		sum += (float)isum * (fp16_to_f32(x[b].d) * fp16_to_f32(y[b].d));
	}
	*s = sum;
}

static void dot_q5_1_ref(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct blk_q5_1 *x = vx;
	const struct blk_q8_1 *y = vy;
	float sum = 0;
	for (int64_t b = 0; b < n / QK; b++) {
		const uint32_t qh = load_u32le(x[b].qh);
		int isum = 0;
		for (int j = 0; j < 16; j++) {
			int q0 = (x[b].qs[j] & 15) | (int)(((qh >> j) & 1) << 4);
			int q1 = (x[b].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
			isum += q0 * y[b].qs[j] + q1 * y[b].qs[j + 16];
		}
		sum += (float)isum * (fp16_to_f32(x[b].d) * fp16_to_f32(y[b].d)) +
		       fp16_to_f32(x[b].m) * fp16_to_f32(y[b].s);
	}
	*s = sum;
}

static void dot_q8_0_ref(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct blk_q8_0 *x = vx, *y = vy;
	float sum = 0;
	for (int64_t b = 0; b < n / QK; b++) {
		int isum = 0;
		for (int j = 0; j < QK; j++)
			isum += x[b].qs[j] * y[b].qs[j];
		sum += (float)isum * (fp16_to_f32(x[b].d) * fp16_to_f32(y[b].d));
	}
	*s = sum;
}

static void dot_q4_k_ref(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct blk_q4_k *x = vx;
	const struct blk_q8_k *y = vy;
	float sum = 0;
	for (int64_t b = 0; b < n / QK_K; b++) {
		int sumi = 0, summ = 0;
		for (int j = 0; j < 8; j++) {
			uint8_t sc, m;
			kern_scale_min_k4(j, x[b].scales, &sc, &m);
			const uint8_t *q = x[b].qs + 32 * (j / 2);
			const int8_t *yq = y[b].qs + 32 * j;
			int isum = 0;
			for (int l = 0; l < 32; l++)
				isum += ((j & 1) ? (q[l] >> 4) : (q[l] & 15)) * yq[l];
			sumi += sc * isum;
			summ += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
		}
		sum += fp16_to_f32(x[b].d) * y[b].d * (float)sumi -
		       fp16_to_f32(x[b].dmin) * y[b].d * (float)summ;
	}
	*s = sum;
}

static void dot_q5_k_ref(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct blk_q5_k *x = vx;
	const struct blk_q8_k *y = vy;
	float sum = 0;
	for (int64_t b = 0; b < n / QK_K; b++) {
		int sumi = 0, summ = 0;
		for (int j = 0; j < 8; j++) {
			uint8_t sc, m;
			kern_scale_min_k4(j, x[b].scales, &sc, &m);
			const uint8_t *q = x[b].qs + 32 * (j / 2);
			const int8_t *yq = y[b].qs + 32 * j;
			int isum = 0;
			for (int l = 0; l < 32; l++) {
				int lv = ((j & 1) ? (q[l] >> 4) : (q[l] & 15)) |
				         (((x[b].qh[l] >> j) & 1) << 4);
				isum += lv * yq[l];
			}
			sumi += sc * isum;
			summ += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
		}
		sum += fp16_to_f32(x[b].d) * y[b].d * (float)sumi -
		       fp16_to_f32(x[b].dmin) * y[b].d * (float)summ;
	}
	*s = sum;
}

static void dot_q6_k_ref(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct blk_q6_k *x = vx;
	const struct blk_q8_k *y = vy;
	float sum = 0;
	for (int64_t b = 0; b < n / QK_K; b++) {
		int sumi = 0;
		for (int g = 0; g < 16; g++) {
			int isum = 0;
			for (int i = 0; i < 16; i++)
				isum += (q6k_level(&x[b], 16 * g + i) - 32) * y[b].qs[16 * g + i];
			sumi += x[b].scales[g] * isum;
		}
		sum += fp16_to_f32(x[b].d) * y[b].d * (float)sumi;
	}
	*s = sum;
}

kern_vec_dot_fn kern_vec_dot_ref_fn(uint32_t t)
{
	switch (t) {
	case TENSOR_F32: return dot_f32_ref;
	case TENSOR_F16: return dot_f16_ref;
	case TENSOR_BF16: return dot_bf16_ref;
	case TENSOR_Q4_0: return dot_q4_0_ref;
	case TENSOR_Q4_1: return dot_q4_1_ref;
	case TENSOR_Q5_0: return dot_q5_0_ref;
	case TENSOR_Q5_1: return dot_q5_1_ref;
	case TENSOR_Q8_0: return dot_q8_0_ref;
	case TENSOR_Q4_K: return dot_q4_k_ref;
	case TENSOR_Q5_K: return dot_q5_k_ref;
	case TENSOR_Q6_K: return dot_q6_k_ref;
	default: return NULL;
	}
}

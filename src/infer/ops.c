/*
 * ops.c: the forward pass's operations other than the matrix products:
 * RMSNorm, RoPE (with linear and YaRN scaling and per-dimension frequency
 * factors), softmax, SiLU gating and one attention head over a session's
 * f16 KV cache.
 *
 * The arithmetic follows the reference engine's CPU path where it decides
 * the rounding: sums of squares and softmax sums in double, the RoPE angle
 * advanced by repeated multiplication in float, queries and attention
 * weights rounded to f16 before their dot products with the f16 cache.
 */
#include "infer/model.h"

#include "core/core.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define OPS_X86 1
#else
#define OPS_X86 0
#endif

void ops_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += (double)(x[i] * x[i]);
	const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
	for (int64_t i = 0; i < n; i++)
		out[i] = x[i] * scale * w[i];
}

static float yarn_ramp(float low, float high, int i0)
{
	const float y = ((float)i0 / 2 - low) / HD_MAX(0.001f, high - low);
	return 1.0f - HD_MIN(1.0f, HD_MAX(0.0f, y));
}

static float yarn_corr_dim(int n_rot, int n_ctx_orig, float beta, float base)
{
	return (float)n_rot * logf((float)n_ctx_orig / (beta * 2.0f * (float)M_PI)) /
	       (2.0f * logf(base));
}

void ops_rope_cache(float *cs, int32_t pos, const struct infer_hparams *hp, const float *freqs)
{
	const int n_rot = hp->n_rot;
	const float theta_scale = powf(hp->rope_base, -2.0f / (float)n_rot);
	const float freq_scale = hp->rope_freq_scale, ext = hp->yarn_ext_factor;
	float corr[2] = {0, 0};
	float mscale = hp->yarn_attn_factor;
	float theta = (float)pos;

	if (ext != 0.0f) {
		float lo = floorf(
		        yarn_corr_dim(n_rot, hp->n_ctx_orig, hp->yarn_beta_fast, hp->rope_base));
		float hi = ceilf(
		        yarn_corr_dim(n_rot, hp->n_ctx_orig, hp->yarn_beta_slow, hp->rope_base));
		corr[0] = HD_MAX(0.0f, lo);
		corr[1] = HD_MIN((float)(n_rot - 1), hi);
		mscale *= 1.0f + 0.1f * logf(1.0f / freq_scale);
	}
	for (int i0 = 0; i0 < n_rot; i0 += 2) {
		const float ff = freqs ? freqs[i0 / 2] : 1.0f;
		const float t_extrap = theta / ff;
		float t = freq_scale * t_extrap;
		if (ext != 0.0f) {
			const float mix = yarn_ramp(corr[0], corr[1], i0) * ext;
			t = t * (1 - mix) + t_extrap * mix;
		}
		cs[i0] = cosf(t) * mscale;
		cs[i0 + 1] = sinf(t) * mscale;
		theta *= theta_scale;
	}
}

void ops_rope(float *x, int32_t n_heads, int32_t head_dim, int32_t n_rot, int neox, const float *cs)
{
	for (int32_t h = 0; h < n_heads; h++) {
		float *v = x + (size_t)h * (size_t)head_dim;
		if (neox) {
			const int32_t half = n_rot / 2;
			for (int32_t i = 0; i < half; i++) {
				const float c = cs[2 * i], s = cs[2 * i + 1];
				const float a = v[i], b = v[i + half];
				v[i] = a * c - b * s;
				v[i + half] = a * s + b * c;
			}
		} else {
			for (int32_t i0 = 0; i0 < n_rot; i0 += 2) {
				const float c = cs[i0], s = cs[i0 + 1];
				const float a = v[i0], b = v[i0 + 1];
				v[i0] = a * c - b * s;
				v[i0 + 1] = a * s + b * c;
			}
		}
	}
}

void ops_silu_mul(float *a, const float *b, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

void ops_add(float *a, const float *b, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		a[i] += b[i];
}

#if OPS_X86
__attribute__((target("f16c,avx"))) static void f32_to_f16_x86(uint16_t *out, const float *x,
                                                               int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
		_mm_storeu_si128((__m128i *)(out + i), h);
	}
	for (; i < n; i++)
		out[i] = f32_to_fp16(x[i]);
}

__attribute__((target("f16c,avx"))) static void f16_to_f32_x86(float *out, const uint16_t *x,
                                                               int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i,
		                 _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
	for (; i < n; i++)
		out[i] = fp16_to_f32(x[i]);
}

static int have_f16c(void)
{
	static int cached = -1;
	if (cached < 0)
		/* every AVX2 CPU has F16C; clang's builtin does not know "f16c" */
		cached = __builtin_cpu_supports("avx2");
	return cached;
}
#endif

void ops_f32_to_f16(uint16_t *out, const float *x, int64_t n)
{
#if OPS_X86
	if (have_f16c()) {
		f32_to_f16_x86(out, x, n);
		return;
	}
#endif
	for (int64_t i = 0; i < n; i++)
		out[i] = f32_to_fp16(x[i]);
}

void ops_f16_to_f32(float *out, const uint16_t *x, int64_t n)
{
#if OPS_X86
	if (have_f16c()) {
		f16_to_f32_x86(out, x, n);
		return;
	}
#endif
	for (int64_t i = 0; i < n; i++)
		out[i] = fp16_to_f32(x[i]);
}

void ops_softmax(float *x, int64_t n, float scale)
{
	float max = -INFINITY;
	double sum = 0;
	for (int64_t i = 0; i < n; i++) {
		x[i] *= scale;
		if (x[i] > max)
			max = x[i];
	}
	for (int64_t i = 0; i < n; i++) {
		const float e = expf(x[i] - max);
		x[i] = e;
		sum += (double)e;
	}
	const float inv = (float)(1.0 / sum);
	for (int64_t i = 0; i < n; i++)
		x[i] *= inv;
}

void ops_attn_head(float *out, const float *q, const uint16_t *k, const uint16_t *vt, size_t kv_dim,
                   int32_t n_ctx, int32_t kv_off, int32_t head_dim, int32_t n_kv, float scale,
                   float *s, uint16_t *h)
{
	kern_vec_dot_fn dot = kern_vec_dot(TENSOR_F16, 0);
	uint16_t *q16 = h, *p16 = h + head_dim;

	ops_f32_to_f16(q16, q, head_dim);
	for (int32_t j = 0; j < n_kv; j++)
		dot(head_dim, &s[j], k + (size_t)j * kv_dim + (size_t)kv_off, q16);
	ops_softmax(s, n_kv, scale);
	ops_f32_to_f16(p16, s, n_kv);
	for (int32_t d = 0; d < head_dim; d++)
		dot(n_kv, &out[d], vt + (size_t)(kv_off + d) * (size_t)n_ctx, p16);
}

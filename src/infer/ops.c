/*
 * ops.c: the forward pass's operations other than the matrix products:
 * RMSNorm, RoPE (with linear and YaRN scaling and per-dimension frequency
 * factors), softmax, SiLU gating and one attention head over a session's
 * f16 KV cache.
 *
 * The arithmetic follows the reference engine's CPU path where it decides
 * the rounding: sums of squares and softmax sums in double, the RoPE angle
 * advanced by repeated multiplication in float, queries and attention
 * weights rounded to f16 before their products with the f16 cache.
 *
 * Each op has a portable C version and, where a profile showed it, an
 * AVX2/FMA one picked at run time. They compute the same operations with
 * the same roundings; only the order of float additions (and exp's last
 * bit: the vector exp below is within 2 ulp of expf) differs.
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

#if OPS_X86
static int have_avx2(void)
{
	static int cached = -1;
	if (cached < 0)
		/* every AVX2 CPU has F16C; clang's builtin does not know "f16c" */
		cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	return cached;
}
#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* exp(x) for 8 floats: x = n ln2 + r with |r| <= ln2/2 (ln2 split in a
 * high part exact in float and a low part), e^r by its Taylor polynomial to
 * degree 7 (relative error < 5e-9), scaled by 2^n through the exponent bits.
 * Below -87.3 the result is 0, above 88.7 it is inf, as expf's. */
AVX2 static inline __m256 exp8(__m256 x)
{
	const __m256 hi = _mm256_set1_ps(88.7228f), lo = _mm256_set1_ps(-87.3365f);
	const __m256 ln2_hi = _mm256_set1_ps(0.693145751953125f);
	const __m256 ln2_lo = _mm256_set1_ps(1.428606765330187e-06f);
	__m256 xc = _mm256_max_ps(_mm256_min_ps(x, hi), lo);
	__m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
	                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, ln2_hi, xc);
	r = _mm256_fnmadd_ps(n, ln2_lo, r);
	__m256 p = _mm256_set1_ps(1.0f / 5040);
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
	/* 2^n in two halves, so n = 128 (x near 88.7) does not overflow the
	 * exponent field */
	__m256i ni = _mm256_cvtps_epi32(n);
	__m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
	__m256 s1 = _mm256_castsi256_ps(
	        _mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
	__m256 s2 = _mm256_castsi256_ps(
	        _mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
	__m256 res = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
	res = _mm256_blendv_ps(res, _mm256_setzero_ps(), _mm256_cmp_ps(x, lo, _CMP_LT_OQ));
	res = _mm256_blendv_ps(res, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, hi, _CMP_GT_OQ));
	return res;
}

AVX2 static inline float hsum8(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

AVX2 static inline double hsum4d(__m256d v)
{
	__m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
	s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
	return _mm_cvtsd_f64(s);
}
#endif

/* ---- RMSNorm --------------------------------------------------------------- */

#if OPS_X86
AVX2 static void rmsnorm_avx2(float *out, const float *x, const float *w, int64_t n, float eps)
{
	__m256d a0 = _mm256_setzero_pd(), a1 = a0;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);
		__m256 sq = _mm256_mul_ps(v, v);
		a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
		a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
	}
	double sum = hsum4d(_mm256_add_pd(a0, a1));
	for (; i < n; i++)
		sum += (double)(x[i] * x[i]);
	const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
	const __m256 vs = _mm256_set1_ps(scale);
	for (i = 0; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs),
		                                        _mm256_loadu_ps(w + i)));
	for (; i < n; i++)
		out[i] = x[i] * scale * w[i];
}
#endif

void ops_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
#if OPS_X86
	if (have_avx2()) {
		rmsnorm_avx2(out, x, w, n, eps);
		return;
	}
#endif
	double sum = 0;
	for (int64_t i = 0; i < n; i++)
		sum += (double)(x[i] * x[i]);
	const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
	for (int64_t i = 0; i < n; i++)
		out[i] = x[i] * scale * w[i];
}

/* ---- RoPE ------------------------------------------------------------------ */

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

/* ---- elementwise ----------------------------------------------------------- */

#if OPS_X86
AVX2 static void silu_mul_avx2(float *a, const float *b, int64_t n)
{
	const __m256 one = _mm256_set1_ps(1.0f);
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 x = _mm256_loadu_ps(a + i);
		__m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), x));
		__m256 s = _mm256_div_ps(x, _mm256_add_ps(one, e));
		_mm256_storeu_ps(a + i, _mm256_mul_ps(s, _mm256_loadu_ps(b + i)));
	}
	for (; i < n; i++)
		a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

AVX2 static void add_avx2(float *a, const float *b, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(a + i,
		                 _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
	for (; i < n; i++)
		a[i] += b[i];
}
#endif

void ops_silu_mul(float *a, const float *b, int64_t n)
{
#if OPS_X86
	if (have_avx2()) {
		silu_mul_avx2(a, b, n);
		return;
	}
#endif
	for (int64_t i = 0; i < n; i++)
		a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
}

void ops_add(float *a, const float *b, int64_t n)
{
#if OPS_X86
	if (have_avx2()) {
		add_avx2(a, b, n);
		return;
	}
#endif
	for (int64_t i = 0; i < n; i++)
		a[i] += b[i];
}

#if OPS_X86
AVX2 static void f32_to_f16_x86(uint16_t *out, const float *x, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
		_mm_storeu_si128((__m128i *)(out + i), h);
	}
	for (; i < n; i++)
		out[i] = f32_to_fp16(x[i]);
}

AVX2 static void f16_to_f32_x86(float *out, const uint16_t *x, int64_t n)
{
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i,
		                 _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
	for (; i < n; i++)
		out[i] = fp16_to_f32(x[i]);
}
#endif

void ops_f32_to_f16(uint16_t *out, const float *x, int64_t n)
{
#if OPS_X86
	if (have_avx2()) {
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
	if (have_avx2()) {
		f16_to_f32_x86(out, x, n);
		return;
	}
#endif
	for (int64_t i = 0; i < n; i++)
		out[i] = fp16_to_f32(x[i]);
}

/* ---- softmax --------------------------------------------------------------- */

#if OPS_X86
AVX2 static void softmax_avx2(float *x, int64_t n, float scale)
{
	const __m256 vs = _mm256_set1_ps(scale);
	__m256 vmax = _mm256_set1_ps(-INFINITY);
	float max = -INFINITY;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), vs);
		_mm256_storeu_ps(x + i, v);
		vmax = _mm256_max_ps(vmax, v);
	}
	for (; i < n; i++) {
		x[i] *= scale;
		max = x[i] > max ? x[i] : max;
	}
	float m8[8];
	_mm256_storeu_ps(m8, vmax);
	for (int k = 0; k < 8; k++)
		max = m8[k] > max ? m8[k] : max;
	const __m256 vm = _mm256_set1_ps(max);
	__m256d s0 = _mm256_setzero_pd(), s1 = s0;
	for (i = 0; i + 8 <= n; i += 8) {
		__m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
		_mm256_storeu_ps(x + i, e);
		s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
		s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
	}
	double sum = hsum4d(_mm256_add_pd(s0, s1));
	for (; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += (double)x[i];
	}
	const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
	for (i = 0; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
	for (; i < n; i++)
		x[i] *= (float)(1.0 / sum);
}
#endif

void ops_softmax(float *x, int64_t n, float scale)
{
#if OPS_X86
	if (have_avx2()) {
		softmax_avx2(x, n, scale);
		return;
	}
#endif
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

/* ---- attention ------------------------------------------------------------- */

/* Scores of one query against n_kv cached keys, then the weighted sum of the
 * cached values. k and v point at the head's first element of position 0;
 * consecutive positions are stride elements apart. */
#if OPS_X86
/* 4 dot products of qf with the f16 rows r0..r3 over hd8 (a multiple of 8)
 * elements, into out[0..3] */
AVX2 static inline void dot4_f16(float *out, const float *qf, const uint16_t *r0,
                                 const uint16_t *r1, const uint16_t *r2, const uint16_t *r3,
                                 int32_t hd8)
{
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	for (int32_t d = 0; d < hd8; d += 8) {
		const __m256 q = _mm256_loadu_ps(qf + d);
		a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r0 + d))), q,
		                     a0);
		a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r1 + d))), q,
		                     a1);
		a2 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r2 + d))), q,
		                     a2);
		a3 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r3 + d))), q,
		                     a3);
	}
	/* transpose-and-add: out[i] = hsum(a_i) */
	__m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
	__m256 t = _mm256_hadd_ps(t0, t1);
	__m128 r = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
	_mm_storeu_ps(out, r);
}

AVX2 static void attn_avx2(float *out, const float *q, float *qf, const uint16_t *k,
                           const uint16_t *v, size_t stride, int32_t hd, int32_t n_kv, float scale,
                           float *s)
{
	const int32_t hd8 = hd & ~7;
	int32_t d, j;

	/* the query rounded to f16 */
	for (d = 0; d < hd8; d += 8)
		_mm256_storeu_ps(qf + d,
		                 _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(q + d),
		                                                 _MM_FROUND_TO_NEAREST_INT)));
	for (; d < hd; d++)
		qf[d] = fp16_to_f32(f32_to_fp16(q[d]));

	for (j = 0; j + 4 <= n_kv; j += 4) {
		const uint16_t *kj = k + (size_t)j * stride;
		dot4_f16(s + j, qf, kj, kj + stride, kj + 2 * stride, kj + 3 * stride, hd8);
	}
	for (; j < n_kv; j++) {
		const uint16_t *kj = k + (size_t)j * stride;
		__m256 acc = _mm256_setzero_ps();
		for (d = 0; d < hd8; d += 8)
			acc = _mm256_fmadd_ps(
			        _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kj + d))),
			        _mm256_loadu_ps(qf + d), acc);
		s[j] = hsum8(acc);
	}
	if (hd8 < hd)
		for (j = 0; j < n_kv; j++)
			for (d = hd8; d < hd; d++)
				s[j] += fp16_to_f32(k[(size_t)j * stride + (size_t)d]) * qf[d];
	softmax_avx2(s, n_kv, scale);

	/* the weights rounded to f16, as the reference's f16 product does */
	for (j = 0; j + 8 <= n_kv; j += 8)
		_mm256_storeu_ps(s + j,
		                 _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(s + j),
		                                                 _MM_FROUND_TO_NEAREST_INT)));
	for (; j < n_kv; j++)
		s[j] = fp16_to_f32(f32_to_fp16(s[j]));
	/* out = sum_j s_j v_j, 32 outputs at a time kept in registers */
	for (d = 0; d + 32 <= hd8; d += 32) {
		__m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
		for (j = 0; j < n_kv; j++) {
			const __m256 p = _mm256_broadcast_ss(s + j);
			const uint16_t *vj = v + (size_t)j * stride + (size_t)d;
			o0 = _mm256_fmadd_ps(
			        p, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)vj)), o0);
			o1 = _mm256_fmadd_ps(
			        p, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vj + 8))), o1);
			o2 = _mm256_fmadd_ps(
			        p, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vj + 16))),
			        o2);
			o3 = _mm256_fmadd_ps(
			        p, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vj + 24))),
			        o3);
		}
		_mm256_storeu_ps(out + d, o0);
		_mm256_storeu_ps(out + d + 8, o1);
		_mm256_storeu_ps(out + d + 16, o2);
		_mm256_storeu_ps(out + d + 24, o3);
	}
	for (; d < hd8; d += 8) {
		__m256 o = _mm256_setzero_ps();
		for (j = 0; j < n_kv; j++)
			o = _mm256_fmadd_ps(
			        _mm256_broadcast_ss(s + j),
			        _mm256_cvtph_ps(_mm_loadu_si128(
			                (const __m128i *)(v + (size_t)j * stride + (size_t)d))),
			        o);
		_mm256_storeu_ps(out + d, o);
	}
	for (; d < hd; d++) {
		float o = 0;
		for (j = 0; j < n_kv; j++)
			o += s[j] * fp16_to_f32(v[(size_t)j * stride + (size_t)d]);
		out[d] = o;
	}
}
#endif

void ops_attn_head(float *out, const float *q, const uint16_t *k, const uint16_t *v, size_t stride,
                   int32_t head_dim, int32_t n_kv, float scale, float *s, float *qf)
{
#if OPS_X86
	if (have_avx2()) {
		attn_avx2(out, q, qf, k, v, stride, head_dim, n_kv, scale, s);
		return;
	}
#endif
	/* the query rounded to f16 */
	for (int32_t d = 0; d < head_dim; d++)
		qf[d] = fp16_to_f32(f32_to_fp16(q[d]));
	for (int32_t j = 0; j < n_kv; j++) {
		const uint16_t *kj = k + (size_t)j * stride;
		float sum = 0;
		for (int32_t d = 0; d < head_dim; d++)
			sum += fp16_to_f32(kj[d]) * qf[d];
		s[j] = sum;
	}
	ops_softmax(s, n_kv, scale);
	for (int32_t d = 0; d < head_dim; d++)
		out[d] = 0;
	for (int32_t j = 0; j < n_kv; j++) {
		const float pj = fp16_to_f32(f32_to_fp16(s[j]));
		const uint16_t *vj = v + (size_t)j * stride;
		for (int32_t d = 0; d < head_dim; d++)
			out[d] += pj * fp16_to_f32(vj[d]);
	}
}

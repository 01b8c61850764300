/*
 * kern.c: kernel dispatch (which instruction set, chosen once from the CPU
 * and HUDDLE_KERNELS), packed-row shapes, and the scalar twins of the packed
 * kernels: unpack, pack and the dot tiles, computing exactly what the SIMD
 * versions compute (see kern_impl.h), so tests compare them bit for bit.
 */
#include "infer/kern_impl.h"

#include "core/core.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- shapes ----------------------------------------------------------- */

static int64_t round_up(int64_t v, int64_t m)
{
	return (v + m - 1) / m * m;
}

int kern_shape_init(struct kern_shape *sh, uint32_t t, int64_t k)
{
	const struct tensor_type_info *ti = tensor_type_info(t);

	memset(sh, 0, sizeof(*sh));
	if (!ti || !kern_supported(t) || k < 1 || k % ti->block_size)
		return HD_EINVAL;
	/* keep every size far from overflow: rows of up to 2^40 elements */
	if (k > ((int64_t)1 << 40))
		return HD_ETOOBIG;
	sh->k = k;
	if (!ti->quantized) {
		sh->path = KERN_PATH_FLOAT;
		sh->kp = round_up(k, 16);
		sh->stride = (size_t)round_up(sh->kp * 4, 64);
		return 0;
	}
	sh->path = KERN_PATH_INT;
	sh->group = t == TENSOR_Q6_K ? 16 : 32;
	sh->wide = t == TENSOR_Q8_0;
	sh->nb = k / sh->group;
	sh->x_d = (size_t)round_up(k, 64);
	sh->x_g = sh->x_d + 4 * (size_t)sh->nb;
	sh->x_s = sh->x_g + 4 * (size_t)sh->nb;
	sh->stride = (size_t)round_up((int64_t)(sh->x_s + 4 * (size_t)sh->nb), 64);
	return 0;
}

/* ---- scalar unpack ------------------------------------------------------ */

static uint32_t u32le(const uint8_t b[4])
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void kern_unpack_scalar(uint32_t t, const void *row, const struct kern_shape *sh, uint8_t *out)
{
	float *f = kern_fptr(out);
	const uint16_t *h = row;
	memset(out, 0, sh->stride);
	for (int64_t i = 0; i < sh->k; i++)
		f[i] = t == TENSOR_F32   ? (kern_cfptr(row))[i]
		       : t == TENSOR_F16 ? fp16_to_f32(h[i])
		                         : bf16_to_f32(h[i]);
}

void kern_row_levels(uint32_t t, const void *row, const struct kern_shape *sh, uint8_t *q,
                     float *dw, float *mw)
{
	const int64_t nb32 = sh->k / QK, nbk = sh->k / QK_K;

	switch (t) {
	case TENSOR_Q4_0:
	case TENSOR_Q4_1:
		for (int64_t b = 0; b < nb32; b++) {
			const struct blk_q4_0 *x0 = (const struct blk_q4_0 *)row + b;
			const struct blk_q4_1 *x1 = (const struct blk_q4_1 *)row + b;
			const uint8_t *qs = t == TENSOR_Q4_0 ? x0->qs : x1->qs;
			for (int j = 0; j < 16; j++) {
				q[32 * b + j] = qs[j] & 15;
				q[32 * b + j + 16] = qs[j] >> 4;
			}
			const float d = fp16_to_f32(t == TENSOR_Q4_0 ? x0->d : x1->d);
			dw[b] = d;
			mw[b] = t == TENSOR_Q4_0 ? -8.f * d : fp16_to_f32(x1->m);
		}
		break;
	case TENSOR_Q5_0:
	case TENSOR_Q5_1:
		for (int64_t b = 0; b < nb32; b++) {
			const struct blk_q5_1 *x1 = (const struct blk_q5_1 *)row + b;
			const struct blk_q5_0 *x0 = (const struct blk_q5_0 *)row + b;
			const uint8_t *qs = t == TENSOR_Q5_0 ? x0->qs : x1->qs;
			const uint32_t qh = u32le(t == TENSOR_Q5_0 ? x0->qh : x1->qh);
			for (int j = 0; j < 16; j++) {
				q[32 * b + j] = (uint8_t)((qs[j] & 15) | (((qh >> j) & 1) << 4));
				q[32 * b + j + 16] =
				        (uint8_t)((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
			}
			const float d = fp16_to_f32(t == TENSOR_Q5_0 ? x0->d : x1->d);
			dw[b] = d;
			mw[b] = t == TENSOR_Q5_0 ? -16.f * d : fp16_to_f32(x1->m);
		}
		break;
	case TENSOR_Q8_0:
		for (int64_t b = 0; b < nb32; b++) {
			const struct blk_q8_0 *x = (const struct blk_q8_0 *)row + b;
			const float d = fp16_to_f32(x->d);
			for (int j = 0; j < 32; j++)
				q[32 * b + j] = (uint8_t)(x->qs[j] + 128);
			dw[b] = d;
			mw[b] = -128.f * d;
		}
		break;
	case TENSOR_Q4_K:
	case TENSOR_Q5_K:
		for (int64_t b = 0; b < nbk; b++) {
			const struct blk_q4_k *x4 = (const struct blk_q4_k *)row + b;
			const struct blk_q5_k *x5 = (const struct blk_q5_k *)row + b;
			const int five = t == TENSOR_Q5_K;
			const uint8_t *scales = five ? x5->scales : x4->scales;
			const uint8_t *qs = five ? x5->qs : x4->qs;
			const float d = fp16_to_f32(five ? x5->d : x4->d);
			const float dmin = fp16_to_f32(five ? x5->dmin : x4->dmin);
			for (int j = 0; j < 8; j++) {
				uint8_t sc, m;
				kern_scale_min_k4(j, scales, &sc, &m);
				uint8_t *qj = q + QK_K * b + 32 * j;
				const uint8_t *src = qs + 32 * (j / 2);
				for (int l = 0; l < 32; l++) {
					int v = (j & 1) ? src[l] >> 4 : src[l] & 15;
					if (five)
						v |= ((x5->qh[l] >> j) & 1) << 4;
					qj[l] = (uint8_t)v;
				}
				dw[8 * b + j] = d * (float)sc;
				mw[8 * b + j] = -(dmin * (float)m);
			}
		}
		break;
	case TENSOR_Q6_K:
		for (int64_t b = 0; b < nbk; b++) {
			const struct blk_q6_k *x = (const struct blk_q6_k *)row + b;
			const float d = fp16_to_f32(x->d);
			for (int h = 0; h < 2; h++)
				for (int l = 0; l < 32; l++) {
					const uint8_t ql0 = x->ql[64 * h + l],
					              ql1 = x->ql[64 * h + 32 + l];
					const uint8_t qh = x->qh[32 * h + l];
					uint8_t *qo = q + QK_K * b + 128 * h + l;
					qo[0] = (uint8_t)((ql0 & 15) | ((qh & 3) << 4));
					qo[32] = (uint8_t)((ql1 & 15) | (((qh >> 2) & 3) << 4));
					qo[64] = (uint8_t)((ql0 >> 4) | (((qh >> 4) & 3) << 4));
					qo[96] = (uint8_t)((ql1 >> 4) | (((qh >> 6) & 3) << 4));
				}
			for (int j = 0; j < 16; j++) {
				const float ds = d * (float)x->scales[j];
				dw[16 * b + j] = ds;
				mw[16 * b + j] = -32.f * ds;
			}
		}
		break;
	default: break;
	}
}

void kern_unpack_tile_scalar(uint32_t t, const uint8_t *rows, size_t row_bytes, int n, int r,
                             const struct kern_shape *sh, int64_t b0, int64_t b1, uint8_t *out)
{
	const size_t wblk = kern_wblk(sh, r);
	const int G = sh->group;
	uint8_t *q = xmalloc((size_t)sh->k);
	float *dw = xmalloc(sizeof(float) * (size_t)sh->nb);
	float *mw = xmalloc(sizeof(float) * (size_t)sh->nb);

	memset(out, 0, wblk * (size_t)(b1 - b0));
	for (int i = 0; i < n && i < r; i++) {
		kern_row_levels(t, rows + row_bytes * (size_t)i, sh, q, dw, mw);
		for (int64_t b = b0; b < b1; b++) {
			uint8_t *ob = out + wblk * (size_t)(b - b0);
			for (int g = 0; g < G / 4; g++)
				memcpy(ob + 4 * ((size_t)g * (size_t)r + (size_t)i),
				       q + G * b + 4 * g, 4);
			kern_fptr(ob + (size_t)r * G)[i] = dw[b];
			kern_fptr(ob + (size_t)r * G + 4 * (size_t)r)[i] = mw[b];
		}
	}
	free(q);
	free(dw);
	free(mw);
}

/* ---- scalar pack (activation quantization) ------------------------------ */

void kern_pack_scalar(uint32_t t, const float *x, const struct kern_shape *sh, uint8_t *out)
{
	memset(out, 0, sh->stride);
	if (sh->path == KERN_PATH_FLOAT) {
		float *f = kern_fptr(out);
		for (int64_t i = 0; i < sh->k; i++)
			f[i] = t == TENSOR_F32   ? x[i]
			       : t == TENSOR_F16 ? fp16_to_f32(f32_to_fp16(x[i]))
			                         : bf16_to_f32(f32_to_bf16(x[i]));
		return;
	}
	int8_t *q = (int8_t *)out;
	float *xd = kern_fptr(out + sh->x_d), *xg = kern_fptr(out + sh->x_g);
	int32_t *xs = (int32_t *)(void *)(out + sh->x_s);
	const uint32_t vt = kern_vec_dot_type(t);
	const int G = sh->group;

	if (vt == TENSOR_Q8_K) {
		for (int64_t b = 0; b < sh->k / QK_K; b++) {
			int8_t *qb = q + QK_K * b;
			const float d = kern_q8k_quantize(x + QK_K * b, qb);
			for (int j = 0; j < QK_K / G; j++) {
				int sum = 0;
				for (int i = 0; i < G; i++)
					sum += qb[G * j + i];
				const int64_t blk = QK_K / G * b + j;
				xd[blk] = d;
				xg[blk] = d * (float)sum;
				xs[blk] = sum;
			}
		}
		return;
	}
	for (int64_t b = 0; b < sh->nb; b++) {
		const float d = kern_q8_quantize(x + QK * b, QK, q + QK * b);
		const float dh = fp16_to_f32(f32_to_fp16(d));
		int sum = 0;
		for (int i = 0; i < QK; i++)
			sum += q[QK * b + i];
		xd[b] = dh;
		xg[b] = vt == TENSOR_Q8_1 ? fp16_to_f32(f32_to_fp16(d * (float)sum))
		                          : dh * (float)sum;
		xs[b] = sum;
	}
}

/* ---- scalar tiles ------------------------------------------------------- */

static float hsum16(const float *v)
{
	float a[8], b[4], c[2];
	for (int i = 0; i < 8; i++)
		a[i] = v[i] + v[i + 8];
	for (int i = 0; i < 4; i++)
		b[i] = a[i] + a[i + 4];
	for (int i = 0; i < 2; i++)
		c[i] = b[i] + b[i + 2];
	return c[0] + c[1];
}

static const struct kern_span span_all_int = {0, 0, 1, 1, NULL, 0};

/* The int tile's R for the scalar ops: any works; small keeps tests quick. */
#define SCALAR_ROWS 4

void kern_tile_int_scalar(int r, int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                          const uint8_t *x, const struct kern_span *sp, float *out, int64_t ldo)
{
	const int G = sh->group;
	const size_t wblk = kern_wblk(sh, r);
	struct kern_span all = span_all_int;
	if (!sp) {
		all.k1 = sh->k;
		sp = &all;
	}
	for (int i = 0; i < mr; i++)
		for (int j = 0; j < nr; j++) {
			const int8_t *xq = (const int8_t *)(x + (size_t)j * sh->stride);
			const float *xd = kern_cfptr(x + (size_t)j * sh->stride + sh->x_d);
			const float *xg = kern_cfptr(x + (size_t)j * sh->stride + sh->x_g);
			float acc = sp->first ? 0.f : sp->acc[j * sp->ldacc + i];
			for (int64_t b = sp->k0 / G; b < sp->k1 / G; b++) {
				const uint8_t *wb = w + wblk * (size_t)(b - sp->k0 / G);
				int isum = 0;
				for (int e = 0; e < G; e++)
					isum += wb[4 * ((size_t)(e / 4) * (size_t)r + (size_t)i) +
					           e % 4] *
					        xq[G * b + e];
				const float dw = kern_cfptr(wb + (size_t)r * G)[i];
				const float mw = kern_cfptr(wb + (size_t)r * G + 4 * (size_t)r)[i];
				acc = fmaf((float)isum, dw * xd[b], acc);
				acc = fmaf(mw, xg[b], acc);
			}
			if (sp->last)
				out[j * ldo + i] = acc;
			else
				sp->acc[j * sp->ldacc + i] = acc;
		}
}

static void tile_int_scalar(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                            const uint8_t *x, const struct kern_span *sp, float *out, int64_t ldo)
{
	kern_tile_int_scalar(SCALAR_ROWS, mr, nr, sh, w, x, sp, out, ldo);
}

static void tile_float_scalar(int mr, int nr, const struct kern_shape *sh, const uint8_t *w,
                              const uint8_t *x, const struct kern_span *sp, float *out, int64_t ldo)
{
	const int64_t k0 = sp ? sp->k0 : 0, k1 = sp ? sp->k1 : sh->kp;
	const int first = sp ? sp->first : 1, last = sp ? sp->last : 1;
	for (int i = 0; i < mr; i++)
		for (int j = 0; j < nr; j++) {
			const float *wf = kern_cfptr(w + (size_t)i * sh->stride);
			const float *xf = kern_cfptr(x + (size_t)j * sh->stride);
			float acc[16] = {0};
			float *keep = sp ? sp->acc + (j * sp->ldacc + i) * 16 : NULL;
			if (!first)
				memcpy(acc, keep, sizeof(acc));
			for (int64_t c = k0 / 16; c < k1 / 16; c++)
				for (int l = 0; l < 16; l++)
					acc[l] = fmaf(wf[16 * c + l], xf[16 * c + l], acc[l]);
			if (last)
				out[j * ldo + i] = hsum16(acc);
			else
				memcpy(keep, acc, sizeof(acc));
		}
}

#define SCALAR_UNPACK_FN(T)                                                                       \
	static void unpack_scalar_##T(const void *row, const struct kern_shape *sh, uint8_t *out) \
	{                                                                                         \
		kern_unpack_scalar(TENSOR_##T, row, sh, out);                                     \
	}
#define SCALAR_PACK_FN(T)                                                                      \
	static void pack_scalar_##T(const float *x, const struct kern_shape *sh, uint8_t *out) \
	{                                                                                      \
		kern_pack_scalar(TENSOR_##T, x, sh, out);                                      \
	}
#define SCALAR_TILE_FNS(T)                                                                       \
	static void unpack_tile_scalar_##T(const uint8_t *rows, size_t row_bytes, int n,         \
	                                   const struct kern_shape *sh, int64_t b0, int64_t b1,  \
	                                   uint8_t *out, const uint8_t *pf, size_t pf_len)       \
	{                                                                                        \
		(void)pf;                                                                        \
		(void)pf_len;                                                                    \
		kern_unpack_tile_scalar(TENSOR_##T, rows, row_bytes, n, SCALAR_ROWS, sh, b0, b1, \
		                        out);                                                    \
	}
SCALAR_UNPACK_FN(F32)
SCALAR_UNPACK_FN(F16)
SCALAR_UNPACK_FN(BF16)
KERN_FOR_TYPES(SCALAR_PACK_FN)
KERN_FOR_INT_TYPES(SCALAR_TILE_FNS)

#define SCALAR_UNPACK(T) [TENSOR_##T] = unpack_scalar_##T,
#define SCALAR_TILE(T) [TENSOR_##T] = unpack_tile_scalar_##T,
#define SCALAR_PACK(T) [TENSOR_##T] = pack_scalar_##T,

const struct kern_isa_ops kern_ops_scalar = {
        .name = "scalar",
        .rows = SCALAR_ROWS,
        .unpack = {SCALAR_UNPACK(F32) SCALAR_UNPACK(F16) SCALAR_UNPACK(BF16)},
        .unpack_tile = {KERN_FOR_INT_TYPES(SCALAR_TILE)},
        .pack = {KERN_FOR_TYPES(SCALAR_PACK)},
        .tile_int = tile_int_scalar,
        .tile_float = tile_float_scalar,
        .tile_m_float = 1,
        .tile_n_float = 1,
};

/* ---- dispatch ----------------------------------------------------------- */

/* CPU features from CPUID, with the OS's consent from XGETBV (the vector
 * registers must be saved on context switches). */
#if defined(__x86_64__)
#include <cpuid.h>

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static int cpu_has_avx2(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	const int fma = c >> 12 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1, f16c = c >> 29 & 1;
	if (!(fma && osxsave && avx && f16c) || (xgetbv0() & 6) != 6)
		return 0;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	return b >> 5 & 1;
}

static int cpu_has_avx512(void)
{
	unsigned a, b, c, d;
	if (!cpu_has_avx2() || (xgetbv0() & 0xe6) != 0xe6 ||
	    !__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return 0;
	const int f = b >> 16 & 1, bw = b >> 30 & 1, vl = b >> 31 & 1, vnni = c >> 11 & 1;
	return f && bw && vl && vnni;
}
#else
static int cpu_has_avx2(void)
{
	return 0;
}

static int cpu_has_avx512(void)
{
	return 0;
}
#endif

static const struct kern_isa_ops *isa_by_name(const char *name)
{
	if (!strcmp(name, "scalar") || !strcmp(name, "ref"))
		return &kern_ops_scalar;
	if (!strcmp(name, "avx2"))
		return cpu_has_avx2() ? &kern_ops_avx2 : NULL;
	if (!strcmp(name, "avx512"))
		return cpu_has_avx512() ? &kern_ops_avx512 : NULL;
	return NULL;
}

static const struct kern_isa_ops *ops_cur;
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;

static void ops_init(void)
{
	const char *env = getenv("HUDDLE_KERNELS");
	const struct kern_isa_ops *o = NULL;

	if (env && *env) {
		o = isa_by_name(env);
		if (!o)
			log_warn("HUDDLE_KERNELS=%s: unknown or unsupported here, using the best",
			         env);
	}
	if (!o)
		o = cpu_has_avx512() ? &kern_ops_avx512
		    : cpu_has_avx2() ? &kern_ops_avx2
		                     : &kern_ops_scalar;
	__atomic_store_n(&ops_cur, o, __ATOMIC_RELEASE);
}

const struct kern_isa_ops *kern_ops(void)
{
	const struct kern_isa_ops *o = __atomic_load_n(&ops_cur, __ATOMIC_ACQUIRE);
	if (o)
		return o;
	pthread_once(&ops_once, ops_init);
	return __atomic_load_n(&ops_cur, __ATOMIC_ACQUIRE);
}

int kern_set_isa(const char *name)
{
	kern_ops(); /* run the one-time init first so it cannot override us */
	const struct kern_isa_ops *o = isa_by_name(name);
	if (!o)
		return HD_EUNSUPPORTED;
	__atomic_store_n(&ops_cur, o, __ATOMIC_RELEASE);
	return 0;
}

const char *kern_isa(void)
{
	return kern_ops()->name;
}

uint32_t kern_vec_dot_type(uint32_t t)
{
	switch (t) {
	case TENSOR_F32: return TENSOR_F32;
	case TENSOR_F16: return TENSOR_F16;
	case TENSOR_BF16: return TENSOR_BF16;
	case TENSOR_Q4_0:
	case TENSOR_Q5_0:
	case TENSOR_Q8_0: return TENSOR_Q8_0;
	case TENSOR_Q4_1:
	case TENSOR_Q5_1: return TENSOR_Q8_1;
	case TENSOR_Q4_K:
	case TENSOR_Q5_K:
	case TENSOR_Q6_K: return TENSOR_Q8_K;
	default: return TENSOR_TYPE_MAX;
	}
}

int kern_supported(uint32_t t)
{
	return kern_vec_dot_type(t) != TENSOR_TYPE_MAX;
}

/* For the quantized types the fast vec dot is the ISA's one-row kernel
 * (kern_avx2.c), which gives the matmul's numbers; the scalar ops fall back
 * to the reference (GGUF-semantics) dot. */
kern_vec_dot_fn kern_vec_dot(uint32_t t, int ref)
{
	if (!kern_supported(t))
		return NULL;
	const struct kern_isa_ops *o = kern_ops();
	if (ref || o == &kern_ops_scalar)
		return kern_vec_dot_ref_fn(t);
	switch (t) {
	case TENSOR_F32: return o->dot_f32;
	case TENSOR_F16: return o->dot_f16;
	case TENSOR_BF16: return o->dot_bf16;
	default: return o->dot_q[t] ? o->dot_q[t] : kern_vec_dot_ref_fn(t);
	}
}

/*
 * test_model.c: model loading and the forward pass.
 *
 * - a naive reference forward pass written here (double precision, weights
 *   dequantized, no f16 rounding) agrees with the engine's logits;
 * - a prompt in one batch gives the logits of the same prompt token by token;
 * - several sessions in one batch give what each gives alone;
 * - rewinding a session and re-evaluating reproduces the logits exactly;
 * - any thread count gives bit-identical logits;
 * - bad batches and broken model files get errors and change nothing.
 */
#include "core/core.h"
#include "infer/infer.h"
#include "infer/kern.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[256];

static char *gen(const char *name, uint32_t type, int arch, int n_head_kv)
{
	struct infer_gen_spec g;
	char err[256] = "";
	char *path = xasprintf("%s/%s", tmpdir, name);
	infer_gen_spec_default(&g);
	g.type = g.type_embd = g.type_out = type;
	g.arch = (enum infer_arch)arch;
	g.n_embd = type == TENSOR_Q4_K || type == TENSOR_Q6_K ? 256 : 64;
	g.n_ff = type == TENSOR_Q4_K || type == TENSOR_Q6_K ? 512 : 96;
	g.n_head = 4;
	g.n_head_kv = n_head_kv;
	g.n_ctx = 64;
	if (infer_gen_model(&g, path, err, sizeof(err))) {
		fprintf(stderr, "gen %s: %s\n", name, err);
		free(path);
		return NULL;
	}
	return path;
}

static struct infer_model *load(const char *path)
{
	struct infer_model *m = NULL;
	char err[256] = "";
	if (!path || infer_model_load(path, &m, err, sizeof(err))) {
		fprintf(stderr, "load %s: %s\n", path ? path : "(null)", err);
		return NULL;
	}
	return m;
}

/* ---- a naive reference ---------------------------------------------------- */

static double *deq(const struct gguf_file *f, const char *name, int64_t *n_out)
{
	const struct gguf_tensor *t = gguf_find_tensor(f, name);
	if (!t)
		return NULL;
	int64_t n = t->ne[0] * t->ne[1];
	float *tmp = xmalloc_array((size_t)n, sizeof(float));
	double *d = xmalloc_array((size_t)n, sizeof(double));
	kern_dequantize_row(t->type, t->data, tmp, n);
	for (int64_t i = 0; i < n; i++)
		d[i] = tmp[i];
	free(tmp);
	if (n_out)
		*n_out = n;
	return d;
}

/* y[r] = sum_c W[r][c] x[c]; W has n_rows rows of n_cols */
static void mv(double *y, const double *w, const double *x, int64_t n_rows, int64_t n_cols)
{
	for (int64_t r = 0; r < n_rows; r++) {
		double s = 0;
		for (int64_t c = 0; c < n_cols; c++)
			s += w[r * n_cols + c] * x[c];
		y[r] = s;
	}
}

static void rms(double *o, const double *x, const double *w, int64_t n, double eps)
{
	double s = 0;
	for (int64_t i = 0; i < n; i++)
		s += x[i] * x[i];
	s = 1.0 / sqrt(s / (double)n + eps);
	for (int64_t i = 0; i < n; i++)
		o[i] = x[i] * s * w[i];
}

static void rope(double *v, int n_heads, int hd, int pos, double base, int neox)
{
	for (int h = 0; h < n_heads; h++)
		for (int i = 0; i < hd / 2; i++) {
			double th = pos * pow(base, -2.0 * i / hd), c = cos(th), s = sin(th);
			double *x = v + h * hd;
			int a = neox ? i : 2 * i, b = neox ? i + hd / 2 : 2 * i + 1;
			double x0 = x[a], x1 = x[b];
			x[a] = x0 * c - x1 * s;
			x[b] = x0 * s + x1 * c;
		}
}

/* logits (n_tok, n_vocab) of the reference for tokens at positions 0.. */
static double *ref_forward(const struct infer_model *m, const int32_t *toks, int n_tok)
{
	const struct infer_hparams *hp = infer_model_hparams(m);
	const struct gguf_file *f = infer_model_gguf(m);
	const int D = hp->n_embd, H = hp->n_head, KV = hp->n_head_kv, hd = hp->head_dim,
	          F = hp->n_ff, V = hp->n_vocab;
	double *emb = deq(f, "token_embd.weight", NULL),
	       *onorm = deq(f, "output_norm.weight", NULL);
	double *out = deq(f, "output.weight", NULL);
	double *kc = xcalloc((size_t)hp->n_layer * n_tok * KV * hd, sizeof(double));
	double *vc = xcalloc((size_t)hp->n_layer * n_tok * KV * hd, sizeof(double));
	double *logits = xmalloc_array((size_t)n_tok * V, sizeof(double));
	double *x = xmalloc_array(D, sizeof(double)), *xb = xmalloc_array(D, sizeof(double));
	double *q = xmalloc_array(H * hd, sizeof(double)),
	       *att = xmalloc_array(H * hd, sizeof(double));
	double *g = xmalloc_array(F, sizeof(double)), *u = xmalloc_array(F, sizeof(double));
	double *tmp = xmalloc_array(D > F ? D : F, sizeof(double));
	double *sc = xmalloc_array(n_tok, sizeof(double));
	char name[64];

	if (!out)
		out = deq(f, "token_embd.weight", NULL);
	for (int p = 0; p < n_tok; p++) {
		for (int i = 0; i < D; i++)
			x[i] = emb[(size_t)toks[p] * D + i];
		for (int l = 0; l < hp->n_layer; l++) {
#define W(s) (snprintf(name, sizeof(name), "blk.%d." s, l), deq(f, name, NULL))
			double *an = W("attn_norm.weight"), *wq = W("attn_q.weight"),
			       *wk = W("attn_k.weight"), *wv = W("attn_v.weight"),
			       *wo = W("attn_output.weight"), *fn = W("ffn_norm.weight"),
			       *wg = W("ffn_gate.weight"), *wu = W("ffn_up.weight"),
			       *wd = W("ffn_down.weight"), *bq = W("attn_q.bias"),
			       *bk = W("attn_k.bias"), *bv = W("attn_v.bias");
#undef W
			double *kp = kc + ((size_t)l * n_tok + p) * KV * hd;
			double *vp = vc + ((size_t)l * n_tok + p) * KV * hd;
			rms(xb, x, an, D, hp->norm_eps);
			mv(q, wq, xb, H * hd, D);
			mv(kp, wk, xb, KV * hd, D);
			mv(vp, wv, xb, KV * hd, D);
			for (int i = 0; bq && i < H * hd; i++)
				q[i] += bq[i];
			for (int i = 0; bk && i < KV * hd; i++) {
				kp[i] += bk[i];
				vp[i] += bv[i];
			}
			rope(q, H, hd, p, hp->rope_base, hp->rope_neox);
			rope(kp, KV, hd, p, hp->rope_base, hp->rope_neox);
			for (int h = 0; h < H; h++) {
				int kh = h / (H / KV);
				double mx = -1e300, sum = 0;
				for (int j = 0; j <= p; j++) {
					const double *kj =
					        kc + ((size_t)l * n_tok + j) * KV * hd + kh * hd;
					double s = 0;
					for (int d = 0; d < hd; d++)
						s += q[h * hd + d] * kj[d];
					sc[j] = s / sqrt((double)hd);
					mx = sc[j] > mx ? sc[j] : mx;
				}
				for (int j = 0; j <= p; j++)
					sum += (sc[j] = exp(sc[j] - mx));
				for (int d = 0; d < hd; d++) {
					double a = 0;
					for (int j = 0; j <= p; j++)
						a += sc[j] / sum *
						     vc[((size_t)l * n_tok + j) * KV * hd +
						        kh * hd + d];
					att[h * hd + d] = a;
				}
			}
			mv(tmp, wo, att, D, H * hd);
			for (int i = 0; i < D; i++)
				x[i] += tmp[i];
			rms(xb, x, fn, D, hp->norm_eps);
			mv(g, wg, xb, F, D);
			mv(u, wu, xb, F, D);
			for (int i = 0; i < F; i++)
				g[i] = g[i] / (1 + exp(-g[i])) * u[i];
			mv(tmp, wd, g, D, F);
			for (int i = 0; i < D; i++)
				x[i] += tmp[i];
			double *all[] = {an, wq, wk, wv, wo, fn, wg, wu, wd, bq, bk, bv};
			for (size_t i = 0; i < ARRAY_SIZE(all); i++)
				free(all[i]);
		}
		rms(xb, x, onorm, D, hp->norm_eps);
		mv(logits + (size_t)p * V, out, xb, V, D);
	}
	free(emb);
	free(onorm);
	free(out);
	free(kc);
	free(vc);
	free(x);
	free(xb);
	free(q);
	free(att);
	free(g);
	free(u);
	free(tmp);
	free(sc);
	return logits;
}

static const int32_t PROMPT[12] = {1, 300, 17, 45, 99, 3, 250, 251, 8, 77, 160, 2};

/* max |a - b| / max |b| over n */
static double rel_err(const float *a, const double *b, int64_t n)
{
	double md = 0, mb = 0;
	for (int64_t i = 0; i < n; i++) {
		md = fmax(md, fabs(a[i] - b[i]));
		mb = fmax(mb, fabs(b[i]));
	}
	return md / (mb > 0 ? mb : 1);
}

static void check_against_reference(uint32_t type, int arch, int n_kv, double tol)
{
	char name[64];
	snprintf(name, sizeof(name), "ref-%u-%d-%d.gguf", type, arch, n_kv);
	char *path = gen(name, type, arch, n_kv);
	struct infer_model *m = load(path);
	CHECK(m != NULL);
	if (!m) {
		free(path);
		return;
	}
	const int32_t V = infer_model_hparams(m)->n_vocab, n = ARRAY_SIZE(PROMPT);
	struct infer_session *s = infer_session_new(m, 0);
	struct infer_exec *x = infer_exec_new(m, 2, 5);
	float *got = xmalloc_array((size_t)n * V, sizeof(float));
	char err[256] = "";
	CHECK_EQ_INT(infer_eval(x, s, PROMPT, n, 1, got, err, sizeof(err)), 0);
	CHECK_EQ_INT(infer_session_n_past(s), n);
	double *want = ref_forward(m, PROMPT, n);
	double e = rel_err(got, want, (int64_t)n * V);
	if (e > tol)
		fprintf(stderr, "%s: relative logit error %.3g > %.3g\n", name, e, tol);
	CHECK(e <= tol);
	free(want);
	free(got);
	infer_exec_free(x);
	infer_session_free(s);
	infer_model_free(m);
	unlink(path);
	free(path);
}

static void test_reference(void)
{
	/* f32 weights: only the f16 cache and attention rounding differ */
	check_against_reference(TENSOR_F32, INFER_ARCH_LLAMA, 2, 5e-3);
	check_against_reference(TENSOR_F32, INFER_ARCH_QWEN2, 1, 5e-3);
	check_against_reference(TENSOR_F16, INFER_ARCH_LLAMA, 4, 1e-2);
	/* quantized activations: up to half a step of 1/127 per element */
	check_against_reference(TENSOR_Q8_0, INFER_ARCH_LLAMA, 2, 3e-2);
	check_against_reference(TENSOR_Q4_K, INFER_ARCH_LLAMA, 2, 3e-2);
}

static void test_batching(void)
{
	char *path = gen("batch.gguf", TENSOR_Q8_0, INFER_ARCH_LLAMA, 2);
	struct infer_model *m = load(path);
	CHECK(m != NULL);
	if (!m) {
		free(path);
		return;
	}
	const int32_t V = infer_model_hparams(m)->n_vocab, n = ARRAY_SIZE(PROMPT);
	struct infer_exec *x1 = infer_exec_new(m, 1, 16), *x3 = infer_exec_new(m, 3, 16);
	struct infer_session *a = infer_session_new(m, 32), *b = infer_session_new(m, 32);
	float *batch = xmalloc_array((size_t)n * V, sizeof(float));
	float *one = xmalloc_array((size_t)n * V, sizeof(float));
	float *thr = xmalloc_array((size_t)n * V, sizeof(float));
	char err[256] = "";

	/* the prompt in one batch vs token by token */
	CHECK_EQ_INT(infer_eval(x1, a, PROMPT, n, 1, batch, err, sizeof(err)), 0);
	for (int32_t i = 0; i < n; i++)
		CHECK_EQ_INT(
		        infer_eval(x1, b, &PROMPT[i], 1, 0, one + (size_t)i * V, err, sizeof(err)),
		        0);
	double md = 0;
	for (int64_t i = 0; i < (int64_t)n * V; i++)
		md = fmax(md, fabs(batch[i] - one[i]));
	if (md > 1e-3)
		fprintf(stderr, "batch vs token by token: %g\n", md);
	CHECK(md <= 1e-3);

	/* thread counts: bit-identical */
	infer_session_truncate(a, 0);
	CHECK_EQ_INT(infer_eval(x3, a, PROMPT, n, 1, thr, err, sizeof(err)), 0);
	CHECK(memcmp(thr, batch, (size_t)n * V * sizeof(float)) == 0);

	/* rewinding reproduces the logits exactly */
	infer_session_truncate(a, 5);
	CHECK_EQ_INT(infer_session_n_past(a), 5);
	CHECK_EQ_INT(infer_eval(x3, a, PROMPT + 5, n - 5, 1, thr, err, sizeof(err)), 0);
	CHECK(memcmp(thr, batch + (size_t)5 * V, (size_t)(n - 5) * V * sizeof(float)) == 0);

	/* two sessions in one batch: a decodes PROMPT[6], b prefills 3 tokens */
	infer_session_truncate(a, 6);
	infer_session_truncate(b, 0);
	struct infer_batch_item items[4] = {
	        {b, 0, PROMPT[0], 1},
	        {a, 6, PROMPT[6], 1},
	        {b, 1, PROMPT[1], 0},
	        {b, 2, PROMPT[2], 1},
	};
	CHECK_EQ_INT(infer_forward(x1, items, 4, err, sizeof(err)), 0);
	const float *la = infer_exec_logits(x1, 1), *lb0 = infer_exec_logits(x1, 0),
	            *lb2 = infer_exec_logits(x1, 3);
	CHECK(infer_exec_logits(x1, 2) == NULL);
	CHECK(la && lb0 && lb2);
	md = 0;
	for (int32_t i = 0; la && lb0 && lb2 && i < V; i++) {
		md = fmax(md, fabs(la[i] - batch[(size_t)6 * V + i]));
		md = fmax(md, fabs(lb0[i] - batch[i]));
		md = fmax(md, fabs(lb2[i] - batch[(size_t)2 * V + i]));
	}
	CHECK(md <= 1e-3);
	CHECK_EQ_INT(infer_session_n_past(a), 7);
	CHECK_EQ_INT(infer_session_n_past(b), 3);

	/* bad batches change nothing */
	struct infer_batch_item bad[2] = {{a, 7, V, 1}};
	CHECK_EQ_INT(infer_forward(x1, bad, 1, err, sizeof(err)), HD_EINVAL);
	CHECK(strstr(err, "vocabulary") != NULL);
	bad[0] = (struct infer_batch_item){a, 9, 5, 1}; /* a gap after position 6 */
	CHECK_EQ_INT(infer_forward(x1, bad, 1, err, sizeof(err)), HD_EINVAL);
	bad[0] = (struct infer_batch_item){a, 7, 5, 1};
	bad[1] = (struct infer_batch_item){a, 9, 5, 1};
	CHECK_EQ_INT(infer_forward(x1, bad, 2, err, sizeof(err)), HD_EINVAL);
	bad[0] = (struct infer_batch_item){a, 32, 5, 1};
	CHECK_EQ_INT(infer_forward(x1, bad, 1, err, sizeof(err)), HD_EINVAL);
	CHECK_EQ_INT(infer_forward(x1, bad, 0, err, sizeof(err)), HD_EINVAL);
	CHECK_EQ_INT(infer_session_n_past(a), 7);
	int32_t many[40] = {0};
	CHECK_EQ_INT(infer_eval(x1, a, many, 40, 0, NULL, err, sizeof(err)), HD_EINVAL);
	CHECK(strstr(err, "context") != NULL);
	CHECK_EQ_INT(infer_session_n_past(a), 7);

	free(batch);
	free(one);
	free(thr);
	infer_session_free(a);
	infer_session_free(b);
	infer_exec_free(x1);
	infer_exec_free(x3);
	infer_model_free(m);
	unlink(path);
	free(path);
}

static void test_hparams(void)
{
	char *path = gen("hp.gguf", TENSOR_F16, INFER_ARCH_QWEN2, 2);
	struct infer_model *m = load(path);
	CHECK(m != NULL);
	if (m) {
		const struct infer_hparams *hp = infer_model_hparams(m);
		CHECK_EQ_INT(hp->arch, INFER_ARCH_QWEN2);
		CHECK_EQ_INT(hp->n_embd, 64);
		CHECK_EQ_INT(hp->n_head, 4);
		CHECK_EQ_INT(hp->n_head_kv, 2);
		CHECK_EQ_INT(hp->head_dim, 16);
		CHECK_EQ_INT(hp->n_vocab, 320);
		CHECK_EQ_INT(hp->n_ctx_train, 64);
		CHECK_EQ_INT(hp->rope_neox, 1);
		CHECK_EQ_INT(hp->tied_embeddings, 0);
		CHECK(tok_n_vocab(infer_model_tok(m)) == 320);
		CHECK(infer_model_bytes_per_token(m) > 0);
		CHECK(strstr(infer_model_desc(m), "qwen2") != NULL);
		struct infer_session *s = infer_session_new(m, 1000);
		CHECK_EQ_INT(infer_session_n_ctx(s), 64); /* capped at the trained length */
		infer_session_free(s);
		infer_model_free(m);
	}
	unlink(path);
	free(path);
}

/* RoPE scaling metadata is read as llama.cpp reads it: a missing type is
 * "linear" (the factor alone scales), "none" ignores the factor, yarn turns
 * on the extrapolation mix and, below a factor of 1, keeps the magnitudes. */
static void rope_case(const char *name, enum infer_rope_scaling type, int type_absent, float factor,
                      enum infer_rope_scaling want_type, float want_scale, float want_ext,
                      float want_attn)
{
	struct infer_gen_spec g;
	char err[256] = "";
	char *path = xasprintf("%s/%s", tmpdir, name);
	infer_gen_spec_default(&g);
	g.n_ctx = 64;
	g.rope_scaling = type;
	g.rope_type_absent = type_absent;
	g.rope_scale_factor = factor;
	CHECK_EQ_INT(infer_gen_model(&g, path, err, sizeof(err)), 0);
	struct infer_model *m = load(path);
	CHECK(m != NULL);
	if (m) {
		const struct infer_hparams *hp = infer_model_hparams(m);
		CHECK_EQ_INT(hp->rope_scaling, want_type);
		CHECK(fabsf(hp->rope_freq_scale - want_scale) < 1e-6f);
		CHECK(fabsf(hp->yarn_ext_factor - want_ext) < 1e-6f);
		CHECK(fabsf(hp->yarn_attn_factor - want_attn) < 1e-5f);
		CHECK(fabsf(hp->yarn_beta_fast - 32) < 1e-6f &&
		      fabsf(hp->yarn_beta_slow - 1) < 1e-6f);
		infer_model_free(m);
	}
	unlink(path);
	free(path);
}

/* Partial rotary is refused, as llama.cpp refuses it for llama and qwen2;
 * a head size set by attention.key_length loads. */
static void test_head_size_keys(void)
{
	struct infer_gen_spec g;
	char err[256] = "";
	char *path = xasprintf("%s/hs.gguf", tmpdir);
	struct infer_model *m = NULL;
	infer_gen_spec_default(&g);
	g.n_ctx = 64;
	g.head_dim = 24; /* 4 heads of 24 on a width of 64 */
	CHECK_EQ_INT(infer_gen_model(&g, path, err, sizeof(err)), 0);
	CHECK_EQ_INT(infer_model_load(path, &m, err, sizeof(err)), 0);
	if (m) {
		CHECK_EQ_INT(infer_model_hparams(m)->head_dim, 24);
		CHECK_EQ_INT(infer_model_hparams(m)->n_rot, 24);
		infer_model_free(m);
		m = NULL;
	}
	for (int arch = INFER_ARCH_LLAMA; arch <= INFER_ARCH_QWEN2; arch++) {
		infer_gen_spec_default(&g);
		g.n_ctx = 64;
		g.arch = (enum infer_arch)arch;
		g.n_rot = 8; /* of 16 */
		CHECK_EQ_INT(infer_gen_model(&g, path, err, sizeof(err)), 0);
		err[0] = 0;
		CHECK_EQ_INT(infer_model_load(path, &m, err, sizeof(err)), HD_EUNSUPPORTED);
		CHECK(m == NULL && strstr(err, "rope.dimension_count 8") != NULL);
	}
	unlink(path);
	free(path);
}

static void test_rope_scaling_keys(void)
{
	rope_case("r-none.gguf", INFER_ROPE_SCALING_NONE, 0, 4, INFER_ROPE_SCALING_NONE, 1, 0, 1);
	rope_case("r-lin.gguf", INFER_ROPE_SCALING_LINEAR, 0, 4, INFER_ROPE_SCALING_LINEAR, 0.25f,
	          0, 1);
	rope_case("r-untyped.gguf", INFER_ROPE_SCALING_LINEAR, 1, 4, INFER_ROPE_SCALING_LINEAR,
	          0.25f, 0, 1);
	rope_case("r-lin1.gguf", INFER_ROPE_SCALING_LINEAR, 0, 1, INFER_ROPE_SCALING_NONE, 1, 0, 1);
	rope_case("r-yarn.gguf", INFER_ROPE_SCALING_YARN, 0, 4, INFER_ROPE_SCALING_YARN, 0.25f, 1,
	          1);
	/* ops_rope_cache multiplies by 1 + 0.1 ln(0.5); the attention factor undoes it */
	rope_case("r-yarn-half.gguf", INFER_ROPE_SCALING_YARN, 0, 0.5f, INFER_ROPE_SCALING_YARN, 2,
	          1, 1.0f / (1.0f + 0.1f * logf(0.5f)));
}

/* The generated files store wq, wk, wv and w_gate, w_up back to back, so the
 * engine fuses them into one matmul each; the logits must be bit-identical
 * to the unfused path. */
static void test_fused_matmuls(void)
{
	char *path = gen("fuse.gguf", TENSOR_Q8_0, INFER_ARCH_QWEN2, 2);
	float *a = NULL, *b = NULL;
	int32_t V = 0;
	const int32_t n = ARRAY_SIZE(PROMPT);
	for (int pass = 0; pass < 2; pass++) {
		setenv("HUDDLE_INFER_NO_FUSE", pass ? "1" : "0", 1);
		struct infer_model *m = load(path);
		CHECK(m != NULL);
		if (!m)
			break;
		V = infer_model_hparams(m)->n_vocab;
		struct infer_session *s = infer_session_new(m, 0);
		struct infer_exec *x = infer_exec_new(m, 2, 6);
		float *out = xmalloc_array((size_t)n * V, sizeof(float));
		char err[256];
		CHECK_EQ_INT(infer_eval(x, s, PROMPT, n, 1, out, err, sizeof(err)), 0);
		*(pass ? &b : &a) = out;
		infer_exec_free(x);
		infer_session_free(s);
		infer_model_free(m);
	}
	unsetenv("HUDDLE_INFER_NO_FUSE");
	CHECK(a && b && memcmp(a, b, (size_t)n * V * sizeof(float)) == 0);
	free(a);
	free(b);
	unlink(path);
	free(path);
}

/* A model file written by hand with one thing wrong. */
enum breakage { B_NONE, B_ARCH, B_HEADS, B_MISSING, B_SHAPE, B_TYPE, B_NO_VOCAB, B_EXTRA };

static int broken(enum breakage b, char *err, size_t err_size)
{
	struct gguf_writer *w = gguf_writer_new();
	char *path = xasprintf("%s/broken.gguf", tmpdir);
	const int D = 32, F = 64, V = 260;
	float *data = xcalloc((size_t)F * V, sizeof(float));
	const char **toks = xcalloc(V, sizeof(char *));
	char **own = xcalloc(V, sizeof(char *));
	float *scores = xcalloc(V, sizeof(float));
	int32_t *types = xcalloc(V, sizeof(int32_t));
	int rc;

	for (int i = 0; i < V; i++) {
		own[i] = i < 256 ? xasprintf("<0x%02X>", i) : xasprintf("tok%d", i);
		toks[i] = own[i];
		types[i] = i < 256 ? 6 : 1;
	}
	for (int i = 0; i < F * V; i++)
		data[i] = 0.01f * (float)(i % 7);
	gguf_writer_set_str(w, "general.architecture", b == B_ARCH ? "mamba" : "llama");
	gguf_writer_set_u32(w, "llama.context_length", 32);
	gguf_writer_set_u32(w, "llama.embedding_length", D);
	gguf_writer_set_u32(w, "llama.block_count", 1);
	gguf_writer_set_u32(w, "llama.feed_forward_length", F);
	gguf_writer_set_u32(w, "llama.attention.head_count", 4);
	gguf_writer_set_u32(w, "llama.attention.head_count_kv", b == B_HEADS ? 3 : 2);
	if (b != B_NO_VOCAB) {
		gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
		gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, V);
		gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, V);
		gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, V);
	}
	const struct {
		const char *name;
		int64_t c, r;
	} ts[] = {
	        {"token_embd.weight", D, V},        {"output_norm.weight", D, 1},
	        {"blk.0.attn_norm.weight", D, 1},   {"blk.0.attn_q.weight", D, D},
	        {"blk.0.attn_k.weight", D, D / 2},  {"blk.0.attn_v.weight", D, D / 2},
	        {"blk.0.attn_output.weight", D, D}, {"blk.0.ffn_norm.weight", D, 1},
	        {"blk.0.ffn_gate.weight", D, F},    {"blk.0.ffn_up.weight", D, F},
	        {"blk.0.ffn_down.weight", F, D},
	};
	for (size_t i = 0; i < ARRAY_SIZE(ts); i++) {
		int64_t ne[2] = {ts[i].c, ts[i].r};
		if (b == B_MISSING && i == 5)
			continue;
		if (b == B_SHAPE && i == 9)
			ne[1] = F + 1;
		uint32_t type = TENSOR_F32;
		size_t n = (size_t)(ne[0] * ne[1]) * 4;
		if (b == B_TYPE && i == 3) {
			type = TENSOR_I32; /* a valid GGUF type with no kernel */
		}
		CHECK_EQ_INT(
		        gguf_writer_add_tensor(w, ts[i].name, type, ne[1] > 1 ? 2 : 1, ne, data, n),
		        0);
	}
	if (b == B_EXTRA) {
		/* llama.cpp adds this bias after the attention output: ignoring
		 * it would compute something else */
		int64_t ne[1] = {D};
		CHECK_EQ_INT(gguf_writer_add_tensor(w, "blk.0.attn_output.bias", TENSOR_F32, 1, ne,
		                                    data, (size_t)D * 4),
		             0);
	}
	CHECK_EQ_INT(gguf_writer_write(w, path), 0);
	gguf_writer_free(w);
	struct infer_model *m = NULL;
	rc = infer_model_load(path, &m, err, err_size);
	infer_model_free(m);
	unlink(path);
	free(path);
	for (int i = 0; i < V; i++)
		free(own[i]);
	free(own);
	free(toks);
	free(scores);
	free(types);
	free(data);
	return rc;
}

static void test_broken_models(void)
{
	char err[256];
	CHECK_EQ_INT(broken(B_NONE, err, sizeof(err)), 0);
	struct {
		enum breakage b;
		const char *msg;
	} cases[] = {
	        {B_ARCH, "architecture"},
	        {B_HEADS, "KV heads"},
	        {B_MISSING, "attn_v"},
	        {B_SHAPE, "ffn_up"},
	        {B_TYPE, "attn_q"},
	        {B_NO_VOCAB, ""},
	        {B_EXTRA, "blk.0.attn_output.bias is not used"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		err[0] = 0;
		int rc = broken(cases[i].b, err, sizeof(err));
		CHECK(rc != 0);
		CHECK(err[0] != 0);
		if (!strstr(err, cases[i].msg)) {
			fprintf(stderr, "case %zu: message '%s' lacks '%s'\n", i, err,
			        cases[i].msg);
			CHECK(0);
		}
	}
	struct infer_model *m = NULL;
	CHECK(infer_model_load("/nonexistent/model.gguf", &m, err, sizeof(err)) != 0);
	CHECK(m == NULL);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_model.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	RUN(test_hparams);
	RUN(test_rope_scaling_keys);
	RUN(test_head_size_keys);
	RUN(test_reference);
	RUN(test_batching);
	RUN(test_fused_matmuls);
	RUN(test_broken_models);
	rmdir(tmpdir);
	return test_summary();
}

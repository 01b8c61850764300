/*
 * model.c: loading a model from GGUF: the hyperparameters from the
 * "<arch>.*" keys, every tensor's presence, shape and type checked, the
 * matrices kept as views into the mapping (zero-copy) and the small vectors
 * (norms, biases, RoPE factors) copied to f32.
 */
#include "infer/model.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CTX (1 << 24)

struct loader {
	struct infer_model *m;
	const struct gguf_file *f;
	char arch[16];
	char *err;
	size_t err_size;
	uint8_t *used; /* (n_tensors) 1 once a tensor is loaded */
};

static int get_u32_req(struct loader *L, const char *suffix, int32_t *out)
{
	char key[128];
	uint32_t v;
	snprintf(key, sizeof(key), "%s.%s", L->arch, suffix);
	int rc = gguf_get_u32(L->f, key, &v);
	if (rc == HD_ENOTFOUND)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT, "model: missing key %s", key);
	if (rc || v == 0 || v > INT32_MAX)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT,
		               "model: %s must be a positive 32-bit integer", key);
	*out = (int32_t)v;
	return 0;
}

/* 0 and *out = v when present, 0 and *out untouched when absent, an error
 * when present with a bad type or value. */
static int get_u32_opt(struct loader *L, const char *suffix, int32_t *out)
{
	char key[128];
	uint32_t v;
	snprintf(key, sizeof(key), "%s.%s", L->arch, suffix);
	int rc = gguf_get_u32(L->f, key, &v);
	if (rc == HD_ENOTFOUND)
		return 0;
	if (rc || v == 0 || v > INT32_MAX)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT,
		               "model: %s must be a positive 32-bit integer", key);
	*out = (int32_t)v;
	return 0;
}

static int get_f32_opt(struct loader *L, const char *suffix, float *out)
{
	char key[128];
	float v;
	snprintf(key, sizeof(key), "%s.%s", L->arch, suffix);
	int rc = gguf_get_f32(L->f, key, &v);
	if (rc == HD_ENOTFOUND)
		return 0;
	if (rc || !isfinite(v))
		return hd_fail(L->err, L->err_size, HD_ECORRUPT, "model: %s must be a finite float",
		               key);
	*out = v;
	return 0;
}

static int read_hparams(struct loader *L)
{
	struct infer_hparams *hp = &L->m->hp;
	struct gguf_str s;
	int rc;

	rc = gguf_get_str(L->f, "general.architecture", &s);
	if (rc)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT,
		               "model: general.architecture is missing or not a string");
	if (gguf_str_eq(s, "llama")) {
		hp->arch = INFER_ARCH_LLAMA;
		hp->rope_neox = 0;
	} else if (gguf_str_eq(s, "qwen2")) {
		hp->arch = INFER_ARCH_QWEN2;
		hp->rope_neox = 1;
	} else {
		return hd_fail(L->err, L->err_size, HD_EUNSUPPORTED,
		               "model: architecture '%.*s' is not supported (llama, qwen2 are)",
		               (int)HD_MIN(s.len, 64), s.data);
	}
	memcpy(L->arch, s.data, s.len);
	L->arch[s.len] = 0;

	if ((rc = get_u32_req(L, "context_length", &hp->n_ctx_train)) ||
	    (rc = get_u32_req(L, "embedding_length", &hp->n_embd)) ||
	    (rc = get_u32_req(L, "block_count", &hp->n_layer)) ||
	    (rc = get_u32_req(L, "feed_forward_length", &hp->n_ff)) ||
	    (rc = get_u32_req(L, "attention.head_count", &hp->n_head)))
		return rc;
	hp->n_head_kv = hp->n_head;
	if ((rc = get_u32_opt(L, "attention.head_count_kv", &hp->n_head_kv)))
		return rc;
	if (hp->n_ctx_train > MAX_CTX)
		return hd_fail(L->err, L->err_size, HD_EUNSUPPORTED,
		               "model: context length %d is over the limit %d", hp->n_ctx_train,
		               MAX_CTX);
	if (hp->n_head % hp->n_head_kv)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT,
		               "model: %d heads are not a multiple of %d KV heads", hp->n_head,
		               hp->n_head_kv);
	if (hp->n_embd % hp->n_head == 0)
		hp->head_dim = hp->n_embd / hp->n_head;
	if ((rc = get_u32_opt(L, "attention.key_length", &hp->head_dim)))
		return rc;
	int32_t vlen = hp->head_dim;
	if ((rc = get_u32_opt(L, "attention.value_length", &vlen)))
		return rc;
	if (hp->head_dim == 0 || vlen != hp->head_dim || hp->head_dim % 2 || hp->head_dim > 1024)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT,
		               "model: bad head size (key %d, value %d; even, at most 1024)",
		               hp->head_dim, vlen);
	hp->n_rot = hp->head_dim;
	if ((rc = get_u32_opt(L, "rope.dimension_count", &hp->n_rot)))
		return rc;
	/* llama.cpp refuses partial rotary for both architectures (llama at
	 * load, qwen2 by an assertion in its graph): so do we */
	if (hp->n_rot != hp->head_dim)
		return hd_fail(L->err, L->err_size, HD_EUNSUPPORTED,
		               "model: rope.dimension_count %d differs from the head size %d "
		               "(partial rotary is not supported for %s)",
		               hp->n_rot, hp->head_dim, L->arch);

	hp->norm_eps = 1e-5f;
	hp->rope_base = 10000.0f;
	if ((rc = get_f32_opt(L, "attention.layer_norm_rms_epsilon", &hp->norm_eps)) ||
	    (rc = get_f32_opt(L, "rope.freq_base", &hp->rope_base)))
		return rc;
	if (hp->norm_eps < 0 || hp->rope_base <= 1.0f)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT,
		               "model: bad rms epsilon %g or rope base %g", hp->norm_eps,
		               hp->rope_base);

	/* RoPE scaling, read as llama.cpp reads it for these architectures:
	 * the type defaults to "linear" when the key is absent, so a lone
	 * rope.scaling.factor (or the older rope.scale_linear, used only when
	 * the factor key is absent) scales linearly; "none" never scales; a
	 * factor of 0 means 1. llama.cpp reads no yarn_* tuning keys for llama
	 * and qwen2 (only grok's loader does), so neither do we: beta_fast 32,
	 * beta_slow 1, ext_factor 1 with yarn. */
	char key[128];
	float factor = 0;
	hp->rope_scaling = INFER_ROPE_SCALING_LINEAR;
	snprintf(key, sizeof(key), "%s.rope.scaling.type", L->arch);
	rc = gguf_get_str(L->f, key, &s);
	if (rc == 0) {
		if (gguf_str_eq(s, "none"))
			hp->rope_scaling = INFER_ROPE_SCALING_NONE;
		else if (gguf_str_eq(s, "linear"))
			hp->rope_scaling = INFER_ROPE_SCALING_LINEAR;
		else if (gguf_str_eq(s, "yarn"))
			hp->rope_scaling = INFER_ROPE_SCALING_YARN;
		else
			return hd_fail(L->err, L->err_size, HD_EUNSUPPORTED,
			               "model: rope scaling '%.*s' is not supported (none, linear, "
			               "yarn are)",
			               (int)HD_MIN(s.len, 32), s.data);
	} else if (rc != HD_ENOTFOUND) {
		return hd_fail(L->err, L->err_size, HD_ECORRUPT, "model: %s must be a string", key);
	}
	snprintf(key, sizeof(key), "%s.rope.scaling.factor", L->arch);
	if (gguf_find(L->f, key)) {
		if ((rc = get_f32_opt(L, "rope.scaling.factor", &factor)))
			return rc;
	} else if ((rc = get_f32_opt(L, "rope.scale_linear", &factor))) {
		return rc;
	}
	if (factor == 0 || hp->rope_scaling == INFER_ROPE_SCALING_NONE)
		factor = 1;
	if (factor < 1e-3f || factor > 1e4f)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT,
		               "model: rope scaling factor %g is out of range", factor);
	if (factor == 1 && hp->rope_scaling == INFER_ROPE_SCALING_LINEAR)
		hp->rope_scaling = INFER_ROPE_SCALING_NONE; /* linear by 1 is no scaling */
	hp->rope_freq_scale = 1.0f / factor;
	hp->n_ctx_orig = hp->n_ctx_train;
	if ((rc = get_u32_opt(L, "rope.scaling.original_context_length", &hp->n_ctx_orig)))
		return rc;
	hp->yarn_ext_factor = hp->rope_scaling == INFER_ROPE_SCALING_YARN ? 1.0f : 0.0f;
	hp->yarn_attn_factor = 1.0f;
	hp->yarn_beta_fast = 32.0f;
	hp->yarn_beta_slow = 1.0f;
	if ((rc = get_f32_opt(L, "rope.scaling.attn_factor", &hp->yarn_attn_factor)))
		return rc;
	/* With yarn the rope multiplies the magnitudes by 1 + 0.1 ln(factor);
	 * llama.cpp scales its attention factor by max(that, 1) / that, which
	 * is 1 for factor >= 1 and undoes the shrink for a factor below 1. */
	if (hp->rope_scaling == INFER_ROPE_SCALING_YARN && factor < 1)
		hp->yarn_attn_factor /= 1.0f + 0.1f * logf(factor);
	return 0;
}

static const char *dims_str(char *b, size_t n, const struct gguf_tensor *t)
{
	int k = snprintf(b, n, "[%lld", (long long)t->ne[0]);
	for (uint32_t i = 1; i < t->n_dims && k > 0 && (size_t)k < n; i++)
		k += snprintf(b + k, n - (size_t)k, ", %lld", (long long)t->ne[i]);
	if (k > 0 && (size_t)k < n)
		snprintf(b + k, n - (size_t)k, "]");
	return b;
}

static const struct gguf_tensor *find(struct loader *L, const char *name)
{
	return gguf_find_tensor(L->f, name);
}

static void mark_used(struct loader *L, const struct gguf_tensor *t)
{
	L->used[t - L->f->tensors] = 1;
}

static uint64_t count_used(const struct loader *L)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < L->f->n_tensors; i++)
		n += L->used[i];
	return n;
}

static int load_matrix(struct loader *L, const char *name, int64_t n_cols, int64_t n_rows,
                       struct infer_weight *w)
{
	const struct gguf_tensor *t = find(L, name);
	char d[96];
	if (!t)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT, "model: missing tensor %s", name);
	if (t->ne[0] != n_cols || t->ne[1] != n_rows || t->ne[2] != 1 || t->ne[3] != 1)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT,
		               "model: tensor %s has shape %s, expected [%lld, %lld]", name,
		               dims_str(d, sizeof(d), t), (long long)n_cols, (long long)n_rows);
	if (!kern_supported(t->type))
		return hd_fail(L->err, L->err_size, HD_EUNSUPPORTED,
		               "model: tensor %s has type %s, which has no kernel", name,
		               tensor_type_info(t->type)->name);
	mark_used(L, t);
	w->type = t->type;
	w->data = t->data;
	w->n_rows = n_rows;
	w->n_cols = n_cols;
	if (tensor_row_size(t->type, n_cols, &w->row_size))
		return hd_fail(L->err, L->err_size, HD_ECORRUPT, "model: tensor %s: bad row size",
		               name);
	L->m->n_params += (uint64_t)n_rows * (uint64_t)n_cols;
	return 0;
}

/* A vector of n values (F32, F16 or BF16) copied to f32. Absent and
 * optional: 0 with *out NULL. */
static int load_vector(struct loader *L, const char *name, int64_t n, int required,
                       const float **out)
{
	const struct gguf_tensor *t = find(L, name);
	char d[96];
	*out = NULL;
	if (!t) {
		if (!required)
			return 0;
		return hd_fail(L->err, L->err_size, HD_ECORRUPT, "model: missing tensor %s", name);
	}
	if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT,
		               "model: tensor %s has shape %s, expected [%lld]", name,
		               dims_str(d, sizeof(d), t), (long long)n);
	if (t->type != TENSOR_F32 && t->type != TENSOR_F16 && t->type != TENSOR_BF16)
		return hd_fail(L->err, L->err_size, HD_EUNSUPPORTED,
		               "model: vector %s has type %s (f32, f16 or bf16 expected)", name,
		               tensor_type_info(t->type)->name);
	mark_used(L, t);
	float *v = xmalloc_array((size_t)n, sizeof(float));
	const uint8_t *p = t->data;
	for (int64_t i = 0; i < n; i++) {
		if (t->type == TENSOR_F32) {
			memcpy(&v[i], p + 4 * i, 4);
		} else {
			uint16_t h;
			memcpy(&h, p + 2 * i, 2);
			v[i] = t->type == TENSOR_F16 ? fp16_to_f32(h) : bf16_to_f32(h);
		}
	}
	L->m->owned = xrealloc(L->m->owned, (L->m->n_owned + 1) * sizeof(float *));
	L->m->owned[L->m->n_owned++] = v;
	L->m->n_params += (uint64_t)n;
	*out = v;
	return 0;
}

static uint64_t wbytes(const struct infer_weight *w)
{
	return (uint64_t)w->row_size * (uint64_t)w->n_rows;
}

/* 1 if b's rows follow a's in memory (same type and row length). */
static int adjacent(const struct infer_weight *a, const struct infer_weight *b)
{
	return a->type == b->type && a->n_cols == b->n_cols &&
	       (const uint8_t *)a->data + wbytes(a) == (const uint8_t *)b->data;
}

static void fuse(struct infer_layer *ly)
{
	const char *off = getenv("HUDDLE_INFER_NO_FUSE"); /* for A/B comparisons */
	if (off && *off && strcmp(off, "0"))
		return;
	if (adjacent(&ly->wq, &ly->wk) && adjacent(&ly->wk, &ly->wv)) {
		ly->w_qkv = ly->wq;
		ly->w_qkv.n_rows = ly->wq.n_rows + ly->wk.n_rows + ly->wv.n_rows;
		ly->fused_qkv = 1;
	}
	if (adjacent(&ly->w_gate, &ly->w_up)) {
		ly->w_gate_up = ly->w_gate;
		ly->w_gate_up.n_rows = 2 * ly->w_gate.n_rows;
		ly->fused_gate_up = 1;
	}
}

static int load_tensors(struct loader *L)
{
	struct infer_model *m = L->m;
	struct infer_hparams *hp = &m->hp;
	const int64_t n_embd = hp->n_embd, n_q = (int64_t)hp->n_head * hp->head_dim,
	              n_kv = (int64_t)hp->n_head_kv * hp->head_dim, n_ff = hp->n_ff;
	char name[96];
	int rc;

	const struct gguf_tensor *te = find(L, "token_embd.weight");
	if (!te)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT,
		               "model: missing tensor token_embd.weight");
	if (te->ne[1] > INT32_MAX)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT, "model: vocabulary too large");
	hp->n_vocab = (int32_t)te->ne[1];
	if ((rc = load_matrix(L, "token_embd.weight", n_embd, hp->n_vocab, &m->tok_embd)))
		return rc;
	if ((rc = load_vector(L, "output_norm.weight", n_embd, 1, &m->output_norm)))
		return rc;
	if (find(L, "output.weight")) {
		if ((rc = load_matrix(L, "output.weight", n_embd, hp->n_vocab, &m->output)))
			return rc;
	} else {
		m->output = m->tok_embd;
		hp->tied_embeddings = 1;
	}
	if ((rc = load_vector(L, "rope_freqs.weight", hp->n_rot / 2, 0, &m->rope_freqs)))
		return rc;
	hp->has_rope_freqs = m->rope_freqs != NULL;

	/* each layer has at least 9 tensors: bound the count by the file's */
	if ((uint64_t)hp->n_layer > L->f->n_tensors / 9)
		return hd_fail(L->err, L->err_size, HD_ECORRUPT,
		               "model: %d layers but only %llu tensors in the file", hp->n_layer,
		               (unsigned long long)L->f->n_tensors);
	m->layers = xcalloc((size_t)hp->n_layer, sizeof(*m->layers));
	m->bytes_per_token = wbytes(&m->output) + m->tok_embd.row_size;
	for (int32_t l = 0; l < hp->n_layer; l++) {
		struct infer_layer *ly = &m->layers[l];
#define NAME(s) (snprintf(name, sizeof(name), "blk.%d." s, l), name)
		if ((rc = load_vector(L, NAME("attn_norm.weight"), n_embd, 1, &ly->attn_norm)) ||
		    (rc = load_vector(L, NAME("ffn_norm.weight"), n_embd, 1, &ly->ffn_norm)) ||
		    (rc = load_matrix(L, NAME("attn_q.weight"), n_embd, n_q, &ly->wq)) ||
		    (rc = load_matrix(L, NAME("attn_k.weight"), n_embd, n_kv, &ly->wk)) ||
		    (rc = load_matrix(L, NAME("attn_v.weight"), n_embd, n_kv, &ly->wv)) ||
		    (rc = load_matrix(L, NAME("attn_output.weight"), n_q, n_embd, &ly->wo)))
			return rc;
		if (!find(L, NAME("ffn_gate.weight")) && find(L, NAME("ffn_gate_exps.weight")))
			return hd_fail(L->err, L->err_size, HD_EUNSUPPORTED,
			               "model: mixture-of-experts layers are not supported");
		if ((rc = load_matrix(L, NAME("ffn_gate.weight"), n_embd, n_ff, &ly->w_gate)) ||
		    (rc = load_matrix(L, NAME("ffn_up.weight"), n_embd, n_ff, &ly->w_up)) ||
		    (rc = load_matrix(L, NAME("ffn_down.weight"), n_ff, n_embd, &ly->w_down)))
			return rc;
		/* optional for both architectures, as in llama.cpp (qwen2 files
		 * have them) */
		if ((rc = load_vector(L, NAME("attn_q.bias"), n_q, 0, &ly->bq)) ||
		    (rc = load_vector(L, NAME("attn_k.bias"), n_kv, 0, &ly->bk)) ||
		    (rc = load_vector(L, NAME("attn_v.bias"), n_kv, 0, &ly->bv)))
			return rc;
#undef NAME
		fuse(ly);
		m->bytes_per_token += wbytes(&ly->wq) + wbytes(&ly->wk) + wbytes(&ly->wv) +
		                      wbytes(&ly->wo) + wbytes(&ly->w_gate) + wbytes(&ly->w_up) +
		                      wbytes(&ly->w_down);
	}
	/* llama.cpp refuses a file with tensors its graph does not create; the
	 * ones it creates and we do not use (attn_output/ffn_* biases, a fused
	 * attn_qkv, output.bias, longrope factors) change the result, so a
	 * file with any tensor left over is refused rather than run wrongly. */
	for (uint64_t i = 0; i < L->f->n_tensors; i++) {
		if (L->used[i])
			continue;
		const struct gguf_str n = L->f->tensors[i].name;
		return hd_fail(L->err, L->err_size, HD_EUNSUPPORTED,
		               "model: tensor %.*s is not used by this engine's %s graph "
		               "(%llu tensors unused)",
		               (int)HD_MIN(n.len, 96), n.data, L->arch,
		               (unsigned long long)(L->f->n_tensors - count_used(L)));
	}
	return 0;
}

static void make_desc(struct infer_model *m)
{
	const char *arch = m->hp.arch == INFER_ARCH_QWEN2 ? "qwen2" : "llama";
	double p = (double)m->n_params;
	char size[32];
	if (p >= 1e9)
		snprintf(size, sizeof(size), "%.1fB", p / 1e9);
	else if (p >= 1e6)
		snprintf(size, sizeof(size), "%.0fM", p / 1e6);
	else
		snprintf(size, sizeof(size), "%.0fK", p / 1e3);
	const struct tensor_type_info *ti = tensor_type_info(m->layers[0].w_gate.type);
	snprintf(m->desc, sizeof(m->desc), "%s %s %s", arch, size, ti ? ti->name : "?");
}

static int load(struct gguf_file *f, struct infer_model **out, char *err, size_t err_size)
{
	struct infer_model *m = xcalloc(1, sizeof(*m));
	struct loader L = {.m = m, .f = f, .err = err, .err_size = err_size};
	int rc;

	m->gguf = f;
	L.used = xcalloc(f->n_tensors ? f->n_tensors : 1, 1);
	rc = read_hparams(&L);
	if (!rc)
		rc = load_tensors(&L);
	free(L.used);
	if (rc)
		goto fail;
	rc = tok_load_gguf(f, &m->tok, err, err_size);
	if (rc)
		goto fail;
	if (tok_n_vocab(m->tok) != m->hp.n_vocab) {
		rc = hd_fail(err, err_size, HD_ECORRUPT,
		             "model: the tokenizer has %d tokens but token_embd has %d rows",
		             tok_n_vocab(m->tok), m->hp.n_vocab);
		goto fail;
	}
	make_desc(m);
	*out = m;
	return 0;
fail:
	infer_model_free(m);
	return rc;
}

int infer_model_load(const char *path, struct infer_model **out, char *err, size_t err_size)
{
	struct gguf_file *f;
	int rc;
	*out = NULL;
	rc = gguf_open(path, &f, err, err_size);
	if (rc)
		return rc;
	return load(f, out, err, err_size);
}

int infer_model_load_fd(int fd, struct infer_model **out, char *err, size_t err_size)
{
	struct gguf_file *f;
	int rc;
	*out = NULL;
	rc = gguf_open_fd(fd, &f, err, err_size);
	if (rc)
		return rc;
	return load(f, out, err, err_size);
}

void infer_model_free(struct infer_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->layers);
	tok_free(m->tok);
	gguf_close(m->gguf);
	free(m);
}

const struct infer_hparams *infer_model_hparams(const struct infer_model *m)
{
	return &m->hp;
}

const struct tok *infer_model_tok(const struct infer_model *m)
{
	return m->tok;
}

const struct gguf_file *infer_model_gguf(const struct infer_model *m)
{
	return m->gguf;
}

uint64_t infer_model_bytes_per_token(const struct infer_model *m)
{
	return m->bytes_per_token;
}

uint64_t infer_model_n_params(const struct infer_model *m)
{
	return m->n_params;
}

const char *infer_model_desc(const struct infer_model *m)
{
	return m->desc;
}

/*
 * model_gen.c: GGUF models with deterministic random weights, for the
 * correctness tests against the reference engine and for the benchmarks.
 *
 * Every tensor's values come from its own random stream (seeded from the
 * spec's seed and the tensor's name), so files are reproducible byte for
 * byte. Weights are uniform with the standard deviation
 * weight_scale / sqrt(fan-in); the output matrix gets a larger one so the
 * next-token distributions are peaked rather than flat. Norm weights are
 * near 1. The vocabulary is a SentencePiece-style one: <unk>, <s>, </s>,
 * the 256 byte-fallback tokens, then synthetic pieces.
 */
#include "infer/model.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void infer_gen_spec_default(struct infer_gen_spec *g)
{
	memset(g, 0, sizeof(*g));
	g->arch = INFER_ARCH_LLAMA;
	g->n_embd = 64;
	g->n_layer = 2;
	g->n_ff = 128;
	g->n_head = 4;
	g->n_head_kv = 4;
	g->n_ctx = 256;
	g->n_vocab = 320;
	g->type = TENSOR_F32;
	g->type_embd = TENSOR_F32;
	g->type_out = TENSOR_F32;
	g->rope_base = 10000.0f;
	g->rope_scaling = INFER_ROPE_SCALING_NONE;
	g->rope_scale_factor = 1.0f;
	g->weight_scale = 1.0f;
	g->seed = 1;
}

struct rng {
	uint64_t s[4];
};

static uint64_t sm64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const char *p = name; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 0x100000001b3ull;
	}
	uint64_t x = seed ^ h;
	for (int i = 0; i < 4; i++)
		r->s[i] = sm64(&x);
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	const uint64_t result = ((s[1] * 5) << 7 | (s[1] * 5) >> 57) * 9;
	const uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return result;
}

/* uniform in [-1, 1) */
static float rng_sym(struct rng *r)
{
	return (float)((double)(rng_next(r) >> 40) * 0x1.0p-23 - 1.0);
}

enum gen_kind { GEN_MATRIX, GEN_NORM, GEN_BIAS, GEN_FREQS };

struct gen_tensor {
	char name[64];
	enum gen_kind kind;
	uint32_t type;
	int64_t n_cols, n_rows;
	float std; /* matrices and biases */
	uint64_t seed;
};

static int gen_fill(void *ctx, void *dst, size_t n)
{
	const struct gen_tensor *t = ctx;
	struct rng r;
	size_t row_size;
	float *row = xmalloc_array((size_t)t->n_cols, sizeof(float));
	const float a = t->std * sqrtf(3.0f); /* uniform [-a, a] has std a / sqrt(3) */
	int rc = 0;

	rng_seed(&r, t->seed, t->name);
	if (tensor_row_size(t->type, t->n_cols, &row_size) || row_size * (size_t)t->n_rows != n) {
		free(row);
		return HD_EINVAL;
	}
	for (int64_t i = 0; i < t->n_rows && !rc; i++) {
		for (int64_t j = 0; j < t->n_cols; j++) {
			switch (t->kind) {
			case GEN_MATRIX:
			case GEN_BIAS: row[j] = a * rng_sym(&r); break;
			case GEN_NORM: row[j] = 1.0f + 0.25f * rng_sym(&r); break;
			case GEN_FREQS: row[j] = 1.0f + 3.0f * (float)j / (float)t->n_cols; break;
			}
		}
		uint8_t *out = (uint8_t *)dst + (size_t)i * row_size;
		if (t->type == TENSOR_F32)
			memcpy(out, row, row_size);
		else if (t->type == TENSOR_F16)
			for (int64_t j = 0; j < t->n_cols; j++) {
				uint16_t h = f32_to_fp16(row[j]);
				memcpy(out + 2 * j, &h, 2);
			}
		else if (t->type == TENSOR_BF16)
			for (int64_t j = 0; j < t->n_cols; j++) {
				uint16_t h = f32_to_bf16(row[j]);
				memcpy(out + 2 * j, &h, 2);
			}
		else
			rc = kern_quantize_row(t->type, row, out, t->n_cols);
	}
	free(row);
	return rc;
}

/* llama.cpp's Q4_K_M: attn_v and ffn_down get Q6_K in the first and last
 * eighth of the layers and every third layer between. */
static int more_bits(int32_t i, int32_t n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static void add_vocab(struct gguf_writer *w, int32_t n_vocab)
{
	char **tokens = xcalloc((size_t)n_vocab, sizeof(char *));
	float *scores = xmalloc_array((size_t)n_vocab, sizeof(float));
	int32_t *types = xmalloc_array((size_t)n_vocab, sizeof(int32_t));
	static const char alpha[] = "etaoinshrdlcumwfgypbvkjxqzETAOINSHRDLCUMWFGYPBVKJXQZ0123456789"
	                            ".,!?'-";
	const size_t na = sizeof(alpha) - 1;
	int32_t n = 0;

	tokens[n] = xstrdup("<unk>");
	types[n++] = 2;
	tokens[n] = xstrdup("<s>");
	types[n++] = 3;
	tokens[n] = xstrdup("</s>");
	types[n++] = 3;
	for (int b = 0; b < 256; b++) {
		tokens[n] = xasprintf("<0x%02X>", b);
		types[n++] = 6;
	}
	/* "\xe2\x96\x81" is U+2581, SentencePiece's word-start mark */
	for (size_t len = 1; n < n_vocab; len++) {
		/* all pieces of length len over alpha, with and without the mark */
		size_t count = 1;
		for (size_t i = 0; i < len && count < (size_t)n_vocab; i++)
			count *= na;
		for (size_t k = 0; k < count && n < n_vocab; k++) {
			char piece[64];
			size_t x = k, p = 0;
			for (size_t i = 0; i < len; i++) {
				piece[p++] = alpha[x % na];
				x /= na;
			}
			piece[p] = 0;
			for (int mark = 1; mark >= 0 && n < n_vocab; mark--) {
				tokens[n] =
				        mark ? xasprintf("\xe2\x96\x81%s", piece) : xstrdup(piece);
				types[n++] = 1;
			}
		}
	}
	for (int32_t i = 0; i < n_vocab; i++)
		scores[i] = types[i] == 1 ? -(float)i : 0.0f;
	gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
	gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens,
	                        (size_t)n_vocab);
	gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, (size_t)n_vocab);
	gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, (size_t)n_vocab);
	gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
	gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
	gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
	gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 1);
	gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", 0);
	for (int32_t i = 0; i < n_vocab; i++)
		free(tokens[i]);
	free(tokens);
	free(scores);
	free(types);
}

int infer_gen_model(const struct infer_gen_spec *g, const char *path, char *err, size_t err_size)
{
	const char *arch = g->arch == INFER_ARCH_QWEN2 ? "qwen2" : "llama";
	struct gguf_writer *w;
	struct gen_tensor *ts;
	size_t n_t = 0;
	char key[128];
	int rc = 0;

	if (g->n_embd <= 0 || g->n_layer <= 0 || g->n_ff <= 0 || g->n_head <= 0 ||
	    g->n_head_kv <= 0 || g->n_head % g->n_head_kv ||
	    (!g->head_dim && g->n_embd % g->n_head) || g->head_dim < 0 || g->head_dim > 1024 ||
	    g->n_vocab < 300 || g->n_ctx <= 0)
		return hd_fail(err, err_size, HD_EINVAL,
		               "gen: bad shape (heads must divide the width unless the head size "
		               "is given, vocabulary of at least 300)");
	const int32_t hd = g->head_dim ? g->head_dim : g->n_embd / g->n_head;
	const int32_t n_rot = g->n_rot ? g->n_rot : hd;
	if (hd % 2 || n_rot % 2 || n_rot > hd || n_rot < 0)
		return hd_fail(err, err_size, HD_EINVAL,
		               "gen: the head size and the rotated dimensions must be even, the "
		               "latter at most the former");
	const int64_t n_q = (int64_t)g->n_head * hd, n_kv = (int64_t)g->n_head_kv * hd;

	w = gguf_writer_new();
	gguf_writer_set_str(w, "general.architecture", arch);
	gguf_writer_set_str(w, "general.name", "huddle random test model");
#define K(s) (snprintf(key, sizeof(key), "%s." s, arch), key)
	gguf_writer_set_u32(w, K("context_length"), (uint32_t)g->n_ctx);
	gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)g->n_embd);
	gguf_writer_set_u32(w, K("block_count"), (uint32_t)g->n_layer);
	gguf_writer_set_u32(w, K("feed_forward_length"), (uint32_t)g->n_ff);
	gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)g->n_head);
	gguf_writer_set_u32(w, K("attention.head_count_kv"), (uint32_t)g->n_head_kv);
	gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f);
	gguf_writer_set_f32(w, K("rope.freq_base"), g->rope_base);
	gguf_writer_set_u32(w, K("rope.dimension_count"), (uint32_t)n_rot);
	if (g->head_dim) {
		gguf_writer_set_u32(w, K("attention.key_length"), (uint32_t)hd);
		gguf_writer_set_u32(w, K("attention.value_length"), (uint32_t)hd);
	}
	gguf_writer_set_u32(w, K("vocab_size"), (uint32_t)g->n_vocab);
	if (g->rope_scaling != INFER_ROPE_SCALING_NONE) {
		if (!g->rope_type_absent)
			gguf_writer_set_str(w, K("rope.scaling.type"),
			                    g->rope_scaling == INFER_ROPE_SCALING_LINEAR ? "linear"
			                                                                 : "yarn");
		gguf_writer_set_f32(w, K("rope.scaling.factor"), g->rope_scale_factor);
		gguf_writer_set_u32(w, K("rope.scaling.original_context_length"),
		                    (uint32_t)g->n_ctx);
	}
#undef K
	add_vocab(w, g->n_vocab);

	/* at most: embd, norm, output, freqs + 12 per layer */
	ts = xcalloc(4 + 12 * (size_t)g->n_layer, sizeof(*ts));
	const float ws = g->weight_scale > 0 ? g->weight_scale : 1.0f;
#define T(nm_fmt, l, kd, ty, cols, rows, sd)                     \
	do {                                                     \
		struct gen_tensor *t_ = &ts[n_t++];              \
		snprintf(t_->name, sizeof(t_->name), nm_fmt, l); \
		t_->kind = kd;                                   \
		t_->type = ty;                                   \
		t_->n_cols = cols;                               \
		t_->n_rows = rows;                               \
		t_->std = sd;                                    \
		t_->seed = g->seed;                              \
	} while (0)
	const uint32_t ty = g->q4_k_m ? TENSOR_Q4_K : g->type;
	T("token_embd.weight%.0d", 0, GEN_MATRIX, g->q4_k_m ? TENSOR_Q4_K : g->type_embd, g->n_embd,
	  g->n_vocab, 1.0f);
	T("output_norm.weight%.0d", 0, GEN_NORM, TENSOR_F32, g->n_embd, 1, 0);
	if (!g->tied)
		T("output.weight%.0d", 0, GEN_MATRIX, g->q4_k_m ? TENSOR_Q6_K : g->type_out,
		  g->n_embd, g->n_vocab, 4.0f * ws / sqrtf((float)g->n_embd));
	if (g->rope_freqs && g->arch == INFER_ARCH_LLAMA)
		T("rope_freqs.weight%.0d", 0, GEN_FREQS, TENSOR_F32, n_rot / 2, 1, 0);
	for (int32_t l = 0; l < g->n_layer; l++) {
		const uint32_t tv = g->q4_k_m && more_bits(l, g->n_layer) ? TENSOR_Q6_K : ty;
		const float se = ws / sqrtf((float)g->n_embd), sf = ws / sqrtf((float)g->n_ff);
		T("blk.%d.attn_norm.weight", l, GEN_NORM, TENSOR_F32, g->n_embd, 1, 0);
		T("blk.%d.attn_q.weight", l, GEN_MATRIX, ty, g->n_embd, n_q, se);
		T("blk.%d.attn_k.weight", l, GEN_MATRIX, ty, g->n_embd, n_kv, se);
		T("blk.%d.attn_v.weight", l, GEN_MATRIX, tv, g->n_embd, n_kv, se);
		T("blk.%d.attn_output.weight", l, GEN_MATRIX, ty, n_q, g->n_embd, se);
		T("blk.%d.ffn_norm.weight", l, GEN_NORM, TENSOR_F32, g->n_embd, 1, 0);
		T("blk.%d.ffn_gate.weight", l, GEN_MATRIX, ty, g->n_embd, g->n_ff, se);
		T("blk.%d.ffn_up.weight", l, GEN_MATRIX, ty, g->n_embd, g->n_ff, se);
		T("blk.%d.ffn_down.weight", l, GEN_MATRIX, tv, g->n_ff, g->n_embd, sf);
		if (g->arch == INFER_ARCH_QWEN2) {
			T("blk.%d.attn_q.bias", l, GEN_BIAS, TENSOR_F32, n_q, 1, 0.1f);
			T("blk.%d.attn_k.bias", l, GEN_BIAS, TENSOR_F32, n_kv, 1, 0.1f);
			T("blk.%d.attn_v.bias", l, GEN_BIAS, TENSOR_F32, n_kv, 1, 0.1f);
		}
	}
#undef T
	for (size_t i = 0; i < n_t && !rc; i++) {
		int64_t ne[2] = {ts[i].n_cols, ts[i].n_rows};
		rc = gguf_writer_add_tensor_fill(w, ts[i].name, ts[i].type,
		                                 ts[i].n_rows > 1 ? 2 : 1, ne, gen_fill, &ts[i]);
		if (rc)
			hd_fail(err, err_size, rc,
			        "gen: tensor %s: %lld columns do not fit type %s's blocks",
			        ts[i].name, (long long)ts[i].n_cols,
			        tensor_type_info(ts[i].type) ? tensor_type_info(ts[i].type)->name
			                                     : "?");
	}
	if (!rc) {
		rc = gguf_writer_write(w, path);
		if (rc)
			hd_fail(err, err_size, rc, "gen: writing %s: %s", path, hd_strerror(rc));
	}
	gguf_writer_free(w);
	free(ts);
	return rc;
}

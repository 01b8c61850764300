/*
 * model.h: internals shared by model.c (loading), model_exec.c (sessions,
 * the forward pass), model_gen.c (random models) and ops.c (the non-matmul
 * operations). Not a public header: use infer.h.
 */
#ifndef HD_INFER_MODEL_H
#define HD_INFER_MODEL_H

#include "infer/infer.h"
#include "infer/kern.h"
#include "infer/pool.h"

/* A weight matrix (n_rows, n_cols): n_rows rows of n_cols elements, a view
 * into the mapping. */
struct infer_weight {
	uint32_t type;
	const void *data;
	int64_t n_rows, n_cols;
	size_t row_size;
};

struct infer_layer {
	const float *attn_norm, *ffn_norm; /* (n_embd) */
	const float *bq, *bk, *bv; /* qwen2: (n_head * head_dim), (n_head_kv * head_dim) */
	struct infer_weight wq, wk, wv, wo;
	struct infer_weight w_gate, w_up, w_down;
	/* When the file stores wq, wk, wv (or w_gate, w_up) back to back with
	 * one type, one matmul computes them together (fewer passes and pool
	 * runs; every output row is the same dot product either way). */
	int fused_qkv, fused_gate_up;
	struct infer_weight w_qkv; /* (n_q + 2 n_kv, n_embd) */
	struct infer_weight w_gate_up; /* (2 n_ff, n_embd) */
};

struct infer_model {
	struct gguf_file *gguf;
	struct tok *tok;
	struct infer_hparams hp;
	struct infer_weight tok_embd; /* (n_vocab, n_embd) */
	struct infer_weight output; /* (n_vocab, n_embd); tok_embd when tied */
	const float *output_norm; /* (n_embd) */
	const float *rope_freqs; /* (n_rot / 2) or NULL */
	struct infer_layer *layers;
	float **owned; /* f32 copies of the small vectors above */
	size_t n_owned;
	uint64_t n_params, bytes_per_token;
	char desc[96];
};

struct infer_session {
	const struct infer_model *m;
	int32_t n_ctx;
	int32_t n_past;
	size_t kv_dim; /* n_head_kv * head_dim */
	uint16_t *k; /* (n_layer, n_ctx, kv_dim) f16 */
	uint16_t *v; /* (n_layer, n_ctx, kv_dim) f16 */
};

/* ---- ops.c -------------------------------------------------------------- */

/* out = x / rms(x) * w over n elements (sum of squares in double). */
void ops_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);
/* The cos/sin table of one position: cs[2*i], cs[2*i+1] for pair i < n_rot/2. */
void ops_rope_cache(float *cs, int32_t pos, const struct infer_hparams *hp, const float *freqs);
/* Rotates the first n_rot dims of each of n_heads heads of head_dim. */
void ops_rope(float *x, int32_t n_heads, int32_t head_dim, int32_t n_rot, int neox,
              const float *cs);
/* a[i] = silu(a[i]) * b[i] */
void ops_silu_mul(float *a, const float *b, int64_t n);
void ops_add(float *a, const float *b, int64_t n);
/* f32 -> f16 and back for n values */
void ops_f32_to_f16(uint16_t *out, const float *x, int64_t n);
void ops_f16_to_f32(float *out, const uint16_t *x, int64_t n);
/* In-place softmax of n values scaled by scale; returns nothing. Sum in double. */
void ops_softmax(float *x, int64_t n, float scale);

/* One attention head for one token: softmax(q . k_j * scale) over the
 * positions j < n_kv, then the weighted sum of the v_j. q is (head_dim) f32
 * (roped); k and v point at this head's part of position 0 of a layer's
 * cache, positions stride elements apart. s holds n_kv floats, qf head_dim. */
void ops_attn_head(float *out, const float *q, const uint16_t *k, const uint16_t *v, size_t stride,
                   int32_t head_dim, int32_t n_kv, float scale, float *s, float *qf);

#endif

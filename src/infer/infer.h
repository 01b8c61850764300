/*
 * infer.h: the inference engine's public API. It loads a GGUF model from a
 * path or an open fd and turns tokens into logits; it knows nothing of HTTP
 * or storage.
 *
 * Three objects, so that a scheduler can batch the decode steps of many
 * requests into one forward call:
 *
 *   struct infer_model    the weights (mmapped, zero-copy), the hyper-
 *                         parameters and the tokenizer. Immutable after
 *                         loading; share it between threads and execs.
 *   struct infer_session  one sequence: its KV cache (n_ctx positions) and
 *                         how many positions are filled. Used by one forward
 *                         call at a time.
 *   struct infer_exec     what runs a forward pass: a thread pool and the
 *                         activation buffers for up to max_batch tokens, all
 *                         preallocated (the forward pass allocates nothing).
 *
 * A batch is a list of (session, position, token) items: the tokens of one
 * session must be at consecutive positions, in order, starting at or
 * before the session's filled length (starting before it rewinds the
 * session: later positions are forgotten). Several sessions may be mixed in
 * one batch, e.g. the next decode token of every active request.
 */
#ifndef HD_INFER_INFER_H
#define HD_INFER_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "infer/gguf.h"
#include "infer/tok.h"

enum infer_arch {
	INFER_ARCH_LLAMA = 0, /* also Mistral, TinyLlama, SmolLM */
	INFER_ARCH_QWEN2 = 1, /* q/k/v biases, NEOX-style RoPE */
};

enum infer_rope_scaling {
	INFER_ROPE_SCALING_NONE = 0,
	INFER_ROPE_SCALING_LINEAR = 1,
	INFER_ROPE_SCALING_YARN = 2,
};

struct infer_hparams {
	enum infer_arch arch;
	int32_t n_vocab;
	int32_t n_ctx_train; /* trained context length */
	int32_t n_embd; /* model width (dim) */
	int32_t n_layer;
	int32_t n_ff;
	int32_t n_head;
	int32_t n_head_kv;
	int32_t head_dim; /* key/value length per head */
	int32_t n_rot; /* rotated dims per head (<= head_dim) */
	float norm_eps;
	float rope_base;
	int rope_neox; /* 1: rotate (i, i + n_rot/2) pairs; 0: (2i, 2i+1) */
	enum infer_rope_scaling rope_scaling;
	float rope_freq_scale; /* 1 / scaling factor */
	int32_t n_ctx_orig; /* for YaRN: the original context length */
	float yarn_ext_factor; /* 0 unless YaRN */
	float yarn_attn_factor; /* multiplies sin/cos (YaRN) */
	float yarn_beta_fast; /* YaRN correction range */
	float yarn_beta_slow;
	int has_rope_freqs; /* llama3-style per-dimension frequency factors */
	int tied_embeddings; /* output.weight absent: token_embd is reused */
};

struct infer_model;
struct infer_session;
struct infer_exec;

/* Loads and validates a model: architecture, shapes and types of every
 * tensor, the tokenizer. 0 or a negative error with a message. */
int infer_model_load(const char *path, struct infer_model **out, char *err, size_t err_size);
/* The same from an open fd (not closed; the mapping is kept). */
int infer_model_load_fd(int fd, struct infer_model **out, char *err, size_t err_size);
void infer_model_free(struct infer_model *m);

const struct infer_hparams *infer_model_hparams(const struct infer_model *m);
/* The tokenizer (borrowed; lives as long as the model). */
const struct tok *infer_model_tok(const struct infer_model *m);
/* The GGUF file (metadata such as the chat template; borrowed). */
const struct gguf_file *infer_model_gguf(const struct infer_model *m);
/* Bytes of weights read to compute one token (every matrix once; the
 * embedding table counts one row). For bandwidth figures. */
uint64_t infer_model_bytes_per_token(const struct infer_model *m);
/* Total parameter count and a short description ("llama 110M Q4_0"). */
uint64_t infer_model_n_params(const struct infer_model *m);
const char *infer_model_desc(const struct infer_model *m);

/* A session with n_ctx positions of KV cache (0 or more than the trained
 * context: the trained context). NULL never (allocation aborts). */
struct infer_session *infer_session_new(const struct infer_model *m, int32_t n_ctx);
void infer_session_free(struct infer_session *s);
int32_t infer_session_n_ctx(const struct infer_session *s);
/* Positions filled so far (the next token's position). */
int32_t infer_session_n_past(const struct infer_session *s);
/* Forget positions >= n (n <= n_past). */
void infer_session_truncate(struct infer_session *s, int32_t n);

/* An exec with n_threads (>= 1, counting the caller) and room for up to
 * max_batch tokens per forward call. */
struct infer_exec *infer_exec_new(const struct infer_model *m, int n_threads, int32_t max_batch);
void infer_exec_free(struct infer_exec *x);
int32_t infer_exec_max_batch(const struct infer_exec *x);
int infer_exec_n_threads(const struct infer_exec *x);

struct infer_batch_item {
	struct infer_session *s;
	int32_t pos;
	int32_t token;
	int logits; /* 1: compute this token's next-token logits */
};

/* One forward pass over n (1..max_batch) items. 0, or HD_EINVAL with a
 * message for a bad token id, position, or session order (nothing is
 * changed then). */
int infer_forward(struct infer_exec *x, const struct infer_batch_item *items, int32_t n, char *err,
                  size_t err_size);
/* The logits (n_vocab floats) of item i of the last forward call, or NULL
 * if it did not ask for them. Valid until the next forward call. */
const float *infer_exec_logits(const struct infer_exec *x, int32_t i);

/* Convenience for one session: appends tokens[0..n) at the session's
 * position in chunks of max_batch and leaves the logits of the last token
 * (all_logits = 0) or of every token (all_logits = 1; then out holds
 * n * n_vocab floats) in out (may be NULL). */
int infer_eval(struct infer_exec *x, struct infer_session *s, const int32_t *tokens, int32_t n,
               int all_logits, float *out, char *err, size_t err_size);

/* ---- sampling ---------------------------------------------------------- */

struct infer_sampler_params {
	float temp; /* <= 0: greedy */
	int32_t top_k; /* <= 0: off */
	float top_p; /* >= 1: off */
	float min_p; /* <= 0: off */
	float repeat_penalty; /* 1: off */
	int32_t repeat_last_n; /* window of recent tokens the penalty looks at */
	uint64_t seed;
};

/* The defaults llama.cpp's tools use: temp 0.8, top-k 40, top-p 0.95,
 * min-p 0.05, repeat penalty 1.0 over the last 64 tokens, seed 0. */
void infer_sampler_params_default(struct infer_sampler_params *p);

struct infer_sampler;
struct infer_sampler *infer_sampler_new(const struct infer_sampler_params *p, int32_t n_vocab);
void infer_sampler_free(struct infer_sampler *s);
/* Records a token of the context (prompt or generated) for the penalty window. */
void infer_sampler_accept(struct infer_sampler *s, int32_t token);
/* Picks the next token from n_vocab logits (the logits are not modified). */
int32_t infer_sampler_sample(struct infer_sampler *s, const float *logits);
/* Clears the history; the random stream continues. */
void infer_sampler_reset(struct infer_sampler *s);

/* ---- random models for tests and benchmarks ---------------------------- */

struct infer_gen_spec {
	enum infer_arch arch;
	int32_t n_embd, n_layer, n_ff, n_head, n_head_kv, n_ctx;
	int32_t n_vocab; /* >= 259: the first tokens form an SPM byte-fallback vocab */
	uint32_t type; /* type of the big matrices (enum tensor_type) */
	uint32_t type_embd; /* token embedding type */
	uint32_t type_out; /* output matrix type (ignored when tied) */
	int q4_k_m; /* 1: Q4_K with Q6_K for attn_v/ffn_down of some layers and output,
				as llama.cpp's Q4_K_M mix */
	int tied; /* no output.weight */
	float rope_base;
	enum infer_rope_scaling rope_scaling;
	float rope_scale_factor;
	int rope_type_absent; /* write rope.scaling.factor without rope.scaling.type */
	int32_t head_dim; /* 0: n_embd / n_head; else written as attention.key/value_length */
	int32_t n_rot; /* rope.dimension_count; 0: the head size */
	int rope_freqs; /* write a llama3-style rope_freqs tensor */
	float weight_scale; /* multiplies the weights' std (1 = 1/sqrt(fan-in)) */
	uint64_t seed;
};

void infer_gen_spec_default(struct infer_gen_spec *g);
/* Writes a model with deterministic random weights (same spec and seed,
 * same bytes) and an SPM tokenizer to path (atomically). 0 or an error. */
int infer_gen_model(const struct infer_gen_spec *g, const char *path, char *err, size_t err_size);

#endif

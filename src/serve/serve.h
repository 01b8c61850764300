/*
 * serve: the inference service. OpenAI-compatible endpoints over the
 * engine (infer.h) for GGUF models named on the command line or living in
 * the hub's own model repositories, with continuous batching.
 *
 *   registry   models by name: files given with --model (kept loaded), and
 *              any hub model repo holding a GGUF ("alice/x", "alice/x@rev",
 *              "alice/x:Q4_K_M"), loaded on first use straight from the blob
 *              store by mmap and evicted least-recently-used under a memory
 *              budget. A loaded model is keyed by the GGUF's content id, so
 *              a push that changes the file is picked up by the next request
 *              while an unrelated commit reuses what is loaded.
 *   scheduler  one thread owns every engine. Each step it runs one forward
 *              pass per model with work: the next token of every sequence
 *              that is decoding, plus a chunk of some waiting prompt, so a
 *              long prompt never stalls the streams; sequences join and leave
 *              between steps. Each sequence has a slot (a KV cache); a slot
 *              keeps its tokens after a request, and a later request of the
 *              same caller that starts with them skips that prefix (never
 *              across callers: SECURITY I4).
 *   handlers   /v1/models, /v1/chat/completions, /v1/completions, /tokenize,
 *              /detokenize, /tokenizer_info, /health and /metrics
 *              (Prometheus), with OpenAI's error shape and statuses.
 *
 * Access: hub tokens (Authorization: Bearer hf_...). A repo model is usable
 * by whoever may read the repo; a private one is "model not found" to
 * others, exactly like a missing one (SECURITY V6), and a fine-grained token
 * reaches only the repos it lists (I5). Models from files are usable by any
 * authenticated caller. Anonymous callers (no token, or a key that is not an
 * hf_ token) only with allow_anonymous, and then only public models.
 */
#ifndef HD_SERVE_SERVE_H
#define HD_SERVE_SERVE_H

#include <stddef.h>
#include <stdint.h>

struct hub;
struct http_route;
struct serve;

struct serve_config {
	char **models; /* --model specs: PATH, NAME=PATH or REPO[@REV][:QUANT] */
	size_t n_models;
	int n_threads; /* --threads: 0 = the CPUs this process may use */
	int32_t n_ctx; /* --ctx: positions per sequence; 0 = trained, at most 4096 */
	int n_parallel; /* --parallel: sequences per model; 0 = what the KV budget holds, <= 16 */
	int64_t kv_budget_mb; /* --kv-budget-mb: KV cache per model; 0 = RAM/4, <= 8 GiB */
	int64_t mem_budget_mb; /* --mem-budget-mb: all loaded models; 0 = 3/4 of RAM */
	int32_t prefill_chunk; /* --prefill-chunk: prompt tokens per step beside decoding */
	int max_queue; /* --max-queue: waiting requests per model before 429 */
	int max_per_caller; /* --max-requests-per-caller: unfinished requests, else 429 */
	int32_t max_tokens; /* --max-tokens-limit: largest max_tokens accepted (0 = n_ctx) */
	int allow_anonymous; /* --allow-anonymous-inference */
};

/* Defaults (all automatic). */
void serve_config_init(struct serve_config *cfg);
void serve_config_release(struct serve_config *cfg);
/* For `huddle serve`'s option parser: name is "--flag", val its value
 * (NULL for a flag without one). Returns 1 when it was a serving option and
 * was applied, 0 when name is not a serving option, HD_EINVAL with a
 * message for a bad value. *takes_value tells whether the option needs a
 * value (set also when 0 is returned: then 0). */
int serve_config_flag(struct serve_config *cfg, const char *name, const char *val, int *takes_value,
                      char *err, size_t err_size);
/* The serving options for --help (several lines, each ending in \n). */
const char *serve_flags_help(void);
/* 1 if name is a serving option that takes no value. */
int serve_flag_is_bool(const char *name);

/* Starts the service (the scheduler thread) and preloads cfg's models,
 * logging the threads, context, parallel sequences and KV budget chosen for
 * each. hub may be NULL (file models only). cfg is copied. */
int serve_new(const struct serve_config *cfg, struct hub *hub, struct serve **out, char *err,
              size_t err_size);
/* Ends every request in flight (503) and stops taking new ones; call it
 * before freeing the HTTP server, so no handler waits for a token. */
void serve_shutdown(struct serve *s);
/* Stops the scheduler (after the HTTP server is freed) and frees all. */
void serve_free(struct serve *s);
/* The routes, owned by s. Add them before the web UI's catch-all patterns. */
const struct http_route *serve_routes(struct serve *s, size_t *n);

/* ---- shared with `huddle run`'s interactive chat --------------------------- */
struct infer_model;
struct jinja_template;
struct buf;
/* The chat template of m (GGUF tokenizer.chat_template, else ChatML):
 * 0, or HD_EINVAL with a message when the model's template does not compile. */
int serve_chat_template_new(const struct infer_model *m, struct jinja_template **out, char *err,
                            size_t err_size);
/* Renders messages (a JSON array text is not needed: pass a json_t array)
 * with add_generation_prompt and the model's bos/eos tokens, appending to
 * out. 0 or an error with a message. */
int serve_chat_render(const struct infer_model *m, const struct jinja_template *tpl,
                      const void *messages_json, int add_generation_prompt, struct buf *out,
                      char *err, size_t err_size);
/* Appends s[0..n) with every invalid UTF-8 sequence replaced by U+FFFD
 * (one per maximal subpart, as WHATWG decoders do) and NUL bytes dropped:
 * how model output reaches JSON. */
void serve_utf8_sanitize(struct buf *out, const char *s, size_t n);
/* Tokenizes a rendered chat prompt: special tokens parsed, BOS added when
 * the model asks for it and the text does not start with it already. */
int serve_chat_tokenize(const struct infer_model *m, const char *text, size_t len, int32_t **ids,
                        size_t *n);

#endif

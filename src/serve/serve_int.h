/*
 * serve_int.h: internals shared by the files of src/serve (and its unit
 * tests). Not a public header: use serve.h.
 *
 *   params.c    the OpenAI request bodies into struct serve_params (pure:
 *               unit-tested and fuzzed), model ids, GGUF file choice by quant
 *               tag, stop strings and UTF-8 helpers
 *   registry.c  loaded models (engines): resolve an id, load, evict (LRU)
 *   sched.c     jobs, slots and the scheduler thread
 *   openai.c    the HTTP handlers and response shapes
 *   metrics.c   counters and the Prometheus text
 */
#ifndef HD_SERVE_INT_H
#define HD_SERVE_INT_H

#include "core/core.h"
#include "infer/infer.h"
#include "serve/serve.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

struct auth_caller;
struct jinja_template;

/* ---- errors in OpenAI's shape --------------------------------------------- */
struct serve_err {
	int status; /* HTTP status */
	const char *type; /* "invalid_request_error", "authentication_error", ... */
	const char *param; /* the offending field or NULL */
	const char *code; /* "model_not_found", "context_length_exceeded", ... or NULL */
	int retry_after; /* seconds, for 429 and 503 (0: no Retry-After) */
	char msg[512];
};
/* Fills e and returns HD_EINVAL (for `return serve_fail(...)`). */
int serve_fail(struct serve_err *e, int status, const char *type, const char *param,
               const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define serve_bad(e, param, ...) \
	serve_fail(e, 400, "invalid_request_error", param, NULL, __VA_ARGS__)

/* ---- requests (params.c) -------------------------------------------------- */
#define SERVE_MAX_STOP 16 /* stop strings */
#define SERVE_MAX_STOP_LEN 256 /* bytes of one stop string */
#define SERVE_MAX_TOP_LOGPROBS 20
#define SERVE_MAX_MESSAGES 4096
#define SERVE_MAX_PROMPTS 128 /* prompts in one /v1/completions request */
#define SERVE_MAX_PROMPT_BYTES ((size_t)4 << 20)
#define SERVE_MAX_LOGIT_BIAS 1024

enum serve_kind { SERVE_CHAT = 0, SERVE_COMPLETION = 1 };

struct serve_prompt {
	const char *text; /* a string prompt (borrowed from the request JSON), or NULL */
	size_t text_len;
	int32_t *ids; /* a token-id prompt (owned), n_ids > 0 */
	size_t n_ids;
};

struct serve_params {
	enum serve_kind kind;
	json_t *root; /* the parsed body (owned); the borrowed strings point into it */
	const char *model; /* "" when absent */
	json_t *messages; /* chat: role, content (a string), name of each message (owned) */
	struct serve_prompt *prompts; /* completions */
	size_t n_prompts;
	int stream, include_usage, echo;
	int64_t max_tokens; /* -1: until the context is full */
	const char *max_tokens_key; /* the field it came from, for errors */
	struct infer_sampler_params sp;
	int seed_set;
	float presence_penalty, frequency_penalty;
	int32_t *bias_ids;
	float *bias;
	size_t n_bias;
	const char *stop[SERVE_MAX_STOP]; /* borrowed from root */
	size_t n_stop;
	int logprobs; /* 1: per-token log-probabilities */
	int top_logprobs; /* alternatives per token, 0..20 */
};

/* Parses a request body of kind. 0, or HD_EINVAL with e filled (a 400 with
 * the offending param). Token ids are checked later against the model. */
int serve_params_parse(enum serve_kind kind, const char *body, size_t len, struct serve_params *p,
                       struct serve_err *e);
void serve_params_release(struct serve_params *p);

/* A model id of the hub: "ns/name", "ns/name@rev", "ns/name:QUANT",
 * "ns/name@rev:QUANT". Pointers into buf (a copy). 0 or HD_EINVAL. */
struct serve_model_id {
	char buf[512];
	const char *ns, *name, *rev, *quant; /* rev, quant NULL when absent */
};
int serve_model_id_parse(const char *id, struct serve_model_id *out);

/* Picks the GGUF to serve among n files (paths and sizes) for a quant tag
 * (NULL = default: the preferred quant whose size fits max_size, Q4_K_M
 * first, as Ollama does; max_size 0 = no limit). Split files (-00001-of-N)
 * and multimodal projectors are skipped. Returns the index, or -1. */
int serve_pick_gguf(const char *const *paths, const int64_t *sizes, size_t n, const char *quant,
                    int64_t max_size);

/* Where a stop string could still start in text[0..n): the smallest p >=
 * from such that text[p..n) is a prefix of one of the stops (or n). */
size_t serve_stop_holdback(const char *text, size_t n, size_t from, const char *const *stops,
                           size_t n_stops);
/* The earliest complete occurrence of a stop string in text[0..n) that ends
 * at or after from (the newly added bytes); n if none. */
size_t serve_stop_find(const char *text, size_t n, size_t from, const char *const *stops,
                       size_t n_stops);
/* Length of the longest prefix of s[0..n) not ending inside an incomplete
 * UTF-8 sequence. */
size_t serve_utf8_complete(const char *s, size_t n);

/* ---- metrics (metrics.c) ------------------------------------------------- */
#define SERVE_TTFT_BUCKETS 12
struct serve_metrics {
	atomic_llong requests[2]; /* by kind, accepted */
	atomic_llong errors; /* answered with an error status */
	atomic_llong rejected; /* 429 */
	atomic_llong cancelled; /* client gone before the end */
	atomic_llong prompt_tokens, gen_tokens;
	atomic_llong steps, step_items, step_decode;
	atomic_llong loads, evictions;
	atomic_llong ttft_bucket[SERVE_TTFT_BUCKETS + 1];
	atomic_llong ttft_count;
	_Atomic double ttft_sum;
	atomic_int last_batch;
	_Atomic double decode_tps; /* generated tokens/s, moving average over busy time */
	_Atomic double forward_s; /* time in infer_forward */
	_Atomic double overhead_s; /* the scheduler's own time around it, per step */
};
extern const double serve_ttft_bounds[SERVE_TTFT_BUCKETS];
void serve_metrics_ttft(struct serve_metrics *m, double seconds);
void serve_metrics_add(_Atomic double *sum, double v);
/* Appends the Prometheus exposition text. */
void serve_metrics_format(const struct serve *s, struct buf *out);

/* ---- models and engines (registry.c, sched.c) ----------------------------- */
enum serve_model_state { SERVE_LOADING = 0, SERVE_READY = 1, SERVE_FAILED = 2 };

struct serve_job;

struct serve_slot {
	struct infer_session *sess; /* created on first use */
	int32_t *cache; /* the tokens in the KV cache, in order */
	int32_t n_cache, cap_cache;
	int64_t tenant; /* who filled it (prefix reuse stays within one caller) */
	double last_used;
	struct serve_job *job; /* running here, or NULL */
};

struct serve_model {
	struct serve_model *next; /* the loaded list (s->mu) */
	char *key; /* "file:/abs/path" or "blob:<oid>" */
	char *name; /* what /v1/models and responses call it */
	int local; /* from --model PATH: never evicted */
	enum serve_model_state state; /* s->mu */
	char load_err[256];
	int refs; /* s->mu: requests and jobs using it */
	int stepping; /* s->mu: the scheduler is running a step on it */
	double last_used; /* s->mu, monotonic seconds */
	uint64_t mem_bytes; /* file + KV caches + activations, for the budget */
	int64_t created; /* unix seconds, for /v1/models */

	struct infer_model *m;
	const struct tok *tok;
	int32_t n_vocab;
	struct jinja_template *tpl; /* NULL when the model's template failed */
	char tpl_err[256];
	int32_t n_ctx;
	int n_parallel;
	int32_t prefill_chunk;
	struct infer_exec *x;
	struct serve_slot *slots;

	/* scheduler state: the queue and counts under s->mu */
	struct serve_job *q_head, *q_tail;
	int n_queued, n_active;
	/* scheduler-thread only: the batch being built */
	struct infer_batch_item *items;
	struct serve_job **item_job;
	struct serve_job **order; /* n_parallel: prefilling jobs, oldest first */
	float *scratch; /* n_vocab floats: logits after bias and penalties */
};

/* Log-probability of one token and its best alternatives. */
struct serve_lp {
	int32_t id;
	float lp;
	int32_t offset; /* byte offset of the token's text in the generated text */
	uint8_t n_top;
	int32_t top_id[SERVE_MAX_TOP_LOGPROBS];
	float top_lp[SERVE_MAX_TOP_LOGPROBS];
};

enum serve_job_state { SERVE_JOB_QUEUED = 0, SERVE_JOB_RUNNING = 1, SERVE_JOB_DONE = 2 };

struct serve_job {
	struct serve *srv;
	struct serve_model *model; /* a reference */
	struct serve_job *next; /* queue link */
	/* the request (immutable once submitted) */
	int32_t *prompt;
	int32_t n_prompt;
	int64_t max_tokens; /* -1: to the end of the context */
	struct infer_sampler_params sp;
	float presence_penalty, frequency_penalty;
	int32_t *bias_ids;
	float *bias;
	size_t n_bias;
	char **stop;
	size_t n_stop, max_stop_len;
	int logprobs, top_logprobs, prompt_logprobs; /* prompt_logprobs: echo with logprobs */
	int64_t tenant; /* user id, or 0 for anonymous callers */
	char caller_key[96]; /* per-caller cap */

	/* scheduler thread only */
	struct serve_slot *slot;
	int32_t n_fed; /* prompt tokens in the KV cache */
	int64_t n_gen; /* tokens sampled */
	int32_t next_tok; /* sampled, to be fed */
	int decoding;
	struct infer_sampler *smp;
	int32_t *counts; /* occurrences of generated tokens (penalties), or NULL */
	struct buf gen; /* all generated text */
	size_t n_released; /* bytes of gen handed out */
	struct serve_lp *lp_pending; /* entries whose text is not released yet */
	size_t n_lp_pending, cap_lp_pending;
	struct buf rel; /* text released by this step, to publish */
	struct serve_lp *lp_ready; /* entries released by this step, to publish */
	size_t n_lp_ready, cap_lp_ready;
	const char *fin; /* finish reason decided by this step */
	int touched, now_prefilled, first_token, keep_eog;

	/* shared with the HTTP thread, under srv->mu */
	enum serve_job_state state;
	int cancelled;
	int error; /* 0, or an HTTP status */
	char errmsg[256];
	const char *finish; /* "stop", "length", or NULL while running */
	struct buf out; /* released text not yet taken */
	struct serve_lp *lps; /* released entries not yet taken */
	size_t n_lps, cap_lps;
	struct serve_lp *plps; /* prompt entries 1..n_prompt-1 (echo), set before prefilled */
	int prefilled;
	int64_t usage_prompt, usage_gen;
	int64_t reused; /* prompt tokens taken from the slot's cache */
	double t_submit, t_first;
	pthread_cond_t cv;
	int refs;
};

struct serve {
	struct serve_config cfg;
	struct hub *hub;
	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* the scheduler waits for work */
	pthread_cond_t load_cv; /* requests wait for a model being loaded */
	pthread_t thread;
	int thread_started, stop;
	struct serve_model *models; /* loaded (and loading) */
	struct serve_model *rr; /* round robin: the engine stepped last */
	struct serve_model *default_model; /* the first --model */
	int n_threads;
	int64_t kv_budget, mem_budget; /* bytes */
	int64_t started;
	/* resolution cache: (repo id lowercase, commit, quant) -> file */
	struct serve_res *res;
	size_t n_res;
	/* unfinished jobs per caller */
	struct serve_caller_count *callers;
	size_t n_callers;
	struct serve_metrics metrics;
	struct http_route *routes;
	size_t n_routes;
};

/* registry.c */
/* The model a request names (see serve.h for the rules), with a reference
 * (serve_model_put). id NULL or "" or an URL: the default model. */
int serve_model_get(struct serve *s, const struct auth_caller *c, const char *id,
                    struct serve_model **out, struct serve_err *e);
void serve_model_put(struct serve *s, struct serve_model *m);
/* Loads the GGUF file at path as a model named name that stays loaded (the
 * first one is the default model). */
int serve_model_load_file(struct serve *s, const char *name, const char *path, struct serve_err *e);
void serve_engine_free(struct serve_model *m);
/* Lists the hub models c may use into arr (json objects); local ones too. */
void serve_models_list(struct serve *s, const struct auth_caller *c, json_t *arr);
void serve_registry_free(struct serve *s);

/* openai.c: fills s->routes */
void serve_routes_init(struct serve *s);

/* sched.c */
int serve_sched_start(struct serve *s, char *err, size_t err_size);
void serve_sched_stop(struct serve *s);
/* A job for model m (takes a model reference of its own). prompt is copied.
 * Returns the job with one reference for the caller, or NULL with e filled
 * (429 when the queue or the caller's cap is full). */
struct serve_job *serve_job_submit(struct serve *s, struct serve_model *m,
                                   const struct serve_params *p, const int32_t *prompt,
                                   int32_t n_prompt, int64_t tenant, const char *caller_key,
                                   struct serve_err *e);
/* Several jobs at once, all or none (the queue must hold them all). */
int serve_job_submit_many(struct serve *s, struct serve_model *m, const struct serve_params *p,
                          int32_t *const *prompts, const int32_t *n_prompts, size_t n,
                          int64_t tenant, const char *caller_key, struct serve_job **jobs,
                          struct serve_err *e);
void serve_job_cancel(struct serve_job *j);
void serve_job_put(struct serve_job *j);
/* Counts for /health and /metrics (under s->mu). */
void serve_sched_counts(struct serve *s, int *n_models, int *n_active, int *n_queued, int *n_slots);

#endif

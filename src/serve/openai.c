/*
 * openai.c: the HTTP side of the service. Handlers authenticate, parse
 * (params.c), find the model (registry.c), build the prompt tokens, submit
 * jobs (sched.c) and turn what the scheduler releases into OpenAI's response
 * shapes: one JSON document, or server-sent events ending in
 * `data: [DONE]`. A handler waiting for tokens checks every 100 ms whether
 * its client is still there; when it is gone the job is cancelled and its
 * slot is freed at the scheduler's next step (SECURITY I3).
 *
 * Errors have OpenAI's shape {"error": {"message", "type", "param",
 * "code"}}: 400 bad request, 401 no or bad key, 404 unknown model (also a
 * private one the caller may not read), 429 with Retry-After when the model's
 * queue or the caller's share is full, 500/503 on the server's side.
 */
#include "serve/serve_int.h"

#include "auth/auth.h"
#include "http/http.h"
#include "hub/hub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_SLICE_MS 100
#define MB ((size_t)1 << 20)

struct vctx {
	struct serve *s;
	struct http_req *req;
	struct auth_caller caller;
	int64_t tenant;
	char caller_key[96];
};

/* ---- responses ------------------------------------------------------------------------ */

static void send_err(struct http_req *req, struct serve *s, const struct serve_err *e)
{
	json_t *err = json_object();
	struct buf msg = BUF_INIT;
	serve_utf8_sanitize(&msg, e->msg, strlen(e->msg));
	json_object_set_new(err, "message", json_string(msg.data ? msg.data : ""));
	json_object_set_new(err, "type", json_string(e->type ? e->type : "invalid_request_error"));
	json_object_set_new(err, "param", e->param ? json_string(e->param) : json_null());
	json_object_set_new(err, "code", e->code ? json_string(e->code) : json_null());
	buf_release(&msg);
	if (e->retry_after > 0)
		http_resp_headerf(req, "Retry-After", "%d", e->retry_after);
	if (e->status == 401)
		http_resp_header(req, "WWW-Authenticate", "Bearer");
	if (s)
		atomic_fetch_add(&s->metrics.errors, 1);
	http_respond_json(req, e->status ? e->status : 500, json_pack("{s:o}", "error", err));
}

/* A JSON string of arbitrary bytes (invalid UTF-8 replaced). */
static json_t *jstr(const char *p, size_t n)
{
	struct buf b = BUF_INIT;
	serve_utf8_sanitize(&b, p, n);
	json_t *j = json_stringn(b.data ? b.data : "", b.len);
	buf_release(&b);
	return j;
}

/* ---- authentication ------------------------------------------------------------------- */

static int begin(struct http_req *req, struct vctx *v)
{
	struct serve_err e;
	const char *h = http_req_header(req, "Authorization"), *tok = NULL;

	memset(v, 0, sizeof(*v));
	v->s = (struct serve *)http_req_route_data(req);
	v->req = req;
	auth_caller_init_anonymous(&v->caller);
	if (h && !strncasecmp(h, "Bearer ", 7)) {
		tok = h + 7;
		while (*tok == ' ')
			tok++;
	}
	/* OpenAI clients always send some key: with anonymous use allowed, a
	 * key that is not one of ours means "anonymous" */
	if (tok && *tok && (str_starts_with(tok, "hf_") || !v->s->cfg.allow_anonymous)) {
		if (!v->s->hub || hub_authenticate(v->s->hub, tok, &v->caller) != 0) {
			serve_fail(&e, 401, "invalid_request_error", NULL, "invalid_api_key",
			           "Invalid credentials in Authorization header");
			send_err(req, v->s, &e);
			return -1;
		}
	}
	if (!v->caller.user_id && !v->s->cfg.allow_anonymous) {
		serve_fail(&e, 401, "invalid_request_error", NULL, "invalid_api_key",
		           "You didn't provide an API key: send Authorization: Bearer hf_... (a "
		           "token of this hub)");
		send_err(req, v->s, &e);
		auth_caller_release(&v->caller);
		return -1;
	}
	snprintf(v->caller.ip, sizeof(v->caller.ip), "%s", http_req_remote_addr(req));
	v->tenant = v->caller.user_id ? v->caller.user_id : -1;
	if (v->caller.token_id)
		snprintf(v->caller_key, sizeof(v->caller_key), "t:%lld",
		         (long long)v->caller.token_id);
	else if (v->caller.user_id)
		snprintf(v->caller_key, sizeof(v->caller_key), "u:%lld",
		         (long long)v->caller.user_id);
	else
		snprintf(v->caller_key, sizeof(v->caller_key), "ip:%s", http_req_remote_addr(req));
	return 0;
}

static void end(struct vctx *v)
{
	auth_caller_release(&v->caller);
}

/* ---- logprob shapes ------------------------------------------------------------------- */

static json_t *bytes_array(const char *p, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer((unsigned char)p[i]));
	return a;
}

static void piece(const struct serve_model *m, int32_t id, struct buf *b)
{
	buf_reset(b);
	tok_piece(m->tok, id, 1, b);
}

/* chat: {"token", "logprob", "bytes", "top_logprobs": [...]} */
static json_t *chat_lp(const struct serve_model *m, const struct serve_lp *e)
{
	struct buf b = BUF_INIT;
	json_t *top = json_array();
	for (int i = 0; i < e->n_top; i++) {
		piece(m, e->top_id[i], &b);
		json_array_append_new(top, json_pack("{s:o,s:f,s:o}", "token", jstr(b.data, b.len),
		                                     "logprob", (double)e->top_lp[i], "bytes",
		                                     bytes_array(b.data, b.len)));
	}
	piece(m, e->id, &b);
	json_t *o =
	        json_pack("{s:o,s:f,s:o,s:o}", "token", jstr(b.data, b.len), "logprob",
	                  (double)e->lp, "bytes", bytes_array(b.data, b.len), "top_logprobs", top);
	buf_release(&b);
	return o;
}

/* completions: parallel arrays */
struct comp_lp {
	json_t *tokens, *token_logprobs, *top_logprobs, *text_offset;
};

static void comp_lp_init(struct comp_lp *c)
{
	c->tokens = json_array();
	c->token_logprobs = json_array();
	c->top_logprobs = json_array();
	c->text_offset = json_array();
}

static void comp_lp_add(struct comp_lp *c, const struct serve_model *m, const struct serve_lp *e,
                        int first, int64_t offset)
{
	struct buf b = BUF_INIT;
	piece(m, e->id, &b);
	json_array_append_new(c->tokens, jstr(b.data, b.len));
	if (first) {
		json_array_append_new(c->token_logprobs, json_null());
		json_array_append_new(c->top_logprobs, json_null());
	} else {
		json_t *top = json_object();
		for (int i = 0; i < e->n_top; i++) {
			piece(m, e->top_id[i], &b);
			struct buf k = BUF_INIT;
			serve_utf8_sanitize(&k, b.data ? b.data : "", b.len);
			json_object_set_new(top, k.data ? k.data : "",
			                    json_real((double)e->top_lp[i]));
			buf_release(&k);
		}
		json_array_append_new(c->token_logprobs, json_real((double)e->lp));
		json_array_append_new(c->top_logprobs, top);
	}
	json_array_append_new(c->text_offset, json_integer(offset));
	buf_release(&b);
}

static json_t *comp_lp_json(struct comp_lp *c)
{
	return json_pack("{s:o,s:o,s:o,s:o}", "tokens", c->tokens, "token_logprobs",
	                 c->token_logprobs, "top_logprobs", c->top_logprobs, "text_offset",
	                 c->text_offset);
}

/* Appends the text of ids[0..n), as a tokenizer's decode does: a
 * SentencePiece vocabulary's leading space (the dummy prefix) is dropped.
 * offsets, when not NULL, receives each token's byte offset in that text. */
static void detokenize(const struct serve_model *m, const int32_t *ids, size_t n, struct buf *out,
                       int64_t *offsets)
{
	struct buf b = BUF_INIT;
	const size_t start = out->len;
	int strip = !strcmp(tok_model_name(m->tok), "llama");
	for (size_t i = 0; i < n; i++) {
		buf_reset(&b);
		tok_piece(m->tok, ids[i], 0, &b);
		const char *p = b.data ? b.data : "";
		size_t l = b.len;
		if (strip && l) {
			if (p[0] == ' ' && out->len == start) {
				p++;
				l--;
			}
			strip = 0;
		}
		if (offsets)
			offsets[i] = (int64_t)(out->len - start);
		buf_append(out, p, l);
	}
	buf_release(&b);
}

/* The echo of a completion prompt: its text, and the prompt's entries. */
static void echo_prompt(const struct serve_model *m, const struct serve_job *j,
                        const struct serve_prompt *pr, struct buf *text, struct comp_lp *lp)
{
	int64_t *off = xcalloc((size_t)j->n_prompt, sizeof(int64_t));
	struct buf tmp = BUF_INIT;
	detokenize(m, j->prompt, (size_t)j->n_prompt, pr->text ? &tmp : text, off);
	if (pr->text)
		buf_append(text, pr->text, pr->text_len);
	for (int32_t i = 0; lp && i < j->n_prompt; i++) {
		struct serve_lp e = i > 0 && j->plps ? j->plps[i] : (struct serve_lp){0};
		e.id = j->prompt[i];
		comp_lp_add(lp, m, &e, i == 0, off[i]);
	}
	buf_release(&tmp);
	free(off);
}

static json_t *usage_json(int64_t prompt, int64_t gen, int64_t cached)
{
	return json_pack("{s:I,s:I,s:I,s:{s:I}}", "prompt_tokens", (json_int_t)prompt,
	                 "completion_tokens", (json_int_t)gen, "total_tokens",
	                 (json_int_t)(prompt + gen), "prompt_tokens_details", "cached_tokens",
	                 (json_int_t)cached);
}

/* ---- prompts ---------------------------------------------------------------------------- */

static int chat_prompt(struct serve_model *m, const struct serve_params *p, int32_t **ids,
                       size_t *n, struct serve_err *e)
{
	struct buf text = BUF_INIT;
	char err[300];
	int rc;
	if (!m->tpl)
		return serve_fail(e, 500, "server_error", NULL, "chat_template_error",
		                  "The model's chat template cannot be used: %s", m->tpl_err);
	rc = serve_chat_render(m->m, m->tpl, p->messages, 1, &text, err, sizeof(err));
	if (rc) {
		buf_release(&text);
		return serve_fail(e, 400, "invalid_request_error", "messages",
		                  "chat_template_error",
		                  "The chat template failed on these messages: %s", err);
	}
	rc = serve_chat_tokenize(m->m, text.data ? text.data : "", text.len, ids, n);
	buf_release(&text);
	if (rc)
		return serve_fail(e, 400, "invalid_request_error", "messages", NULL,
		                  "The messages cannot be tokenized");
	return 0;
}

/* A completion prompt: token ids checked, or text tokenized with BOS as the
 * model's metadata says and special tokens parsed (as llama.cpp's server). */
static int completion_prompt(struct serve_model *m, const struct serve_prompt *pr, int32_t **ids,
                             size_t *n, struct serve_err *e)
{
	if (pr->ids) {
		for (size_t i = 0; i < pr->n_ids; i++)
			if (pr->ids[i] >= m->n_vocab)
				return serve_bad(
				        e, "prompt",
				        "token id %d is outside the vocabulary (%d tokens)",
				        pr->ids[i], m->n_vocab);
		*ids = xmalloc_array(pr->n_ids, sizeof(int32_t));
		memcpy(*ids, pr->ids, pr->n_ids * sizeof(int32_t));
		*n = pr->n_ids;
		return 0;
	}
	size_t cap = 0;
	int flags = TOK_PARSE_SPECIAL | (tok_add_bos_default(m->tok) ? TOK_ADD_BOS : 0);
	*ids = NULL;
	*n = 0;
	if (tok_encode(m->tok, pr->text, pr->text_len, flags, ids, n, &cap))
		return serve_bad(e, "prompt", "the prompt cannot be tokenized");
	return 0;
}

static int check_lengths(const struct serve *s, const struct serve_model *m,
                         const struct serve_params *p, size_t n_prompt, struct serve_err *e)
{
	const int64_t limit = s->cfg.max_tokens > 0 ? s->cfg.max_tokens : m->n_ctx;
	if (n_prompt == 0)
		return serve_bad(e, p->kind == SERVE_CHAT ? "messages" : "prompt",
		                 "the prompt is empty");
	if (n_prompt > (size_t)m->n_ctx)
		return serve_fail(
		        e, 400, "invalid_request_error",
		        p->kind == SERVE_CHAT ? "messages" : "prompt", "context_length_exceeded",
		        "This model's maximum context length is %d tokens. However, your "
		        "%s resulted in %zu tokens.",
		        m->n_ctx, p->kind == SERVE_CHAT ? "messages" : "prompt", n_prompt);
	if (p->max_tokens > limit)
		return serve_bad(e, p->max_tokens_key ? p->max_tokens_key : "max_tokens",
		                 "%s is too large: %lld. This model supports at most %lld "
		                 "completion tokens.",
		                 p->max_tokens_key ? p->max_tokens_key : "max_tokens",
		                 (long long)p->max_tokens, (long long)limit);
	return 0;
}

/* ---- waiting --------------------------------------------------------------------------- */

static void deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += (long)ms * 1000000L;
	ts->tv_sec += ts->tv_nsec / 1000000000L;
	ts->tv_nsec %= 1000000000L;
}

/* Waits until every job is done; returns -1 if the client left (the jobs
 * are cancelled). */
static int wait_jobs(struct serve *s, struct http_req *req, struct serve_job **jobs, size_t n)
{
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		while (jobs[i]->state != SERVE_JOB_DONE) {
			struct timespec ts;
			deadline(&ts, WAIT_SLICE_MS);
			pthread_cond_timedwait(&jobs[i]->cv, &s->mu, &ts);
			if (jobs[i]->state == SERVE_JOB_DONE)
				break;
			pthread_mutex_unlock(&s->mu);
			int gone = http_req_client_gone(req);
			pthread_mutex_lock(&s->mu);
			if (gone) {
				pthread_mutex_unlock(&s->mu);
				for (size_t k = 0; k < n; k++)
					serve_job_cancel(jobs[k]);
				return -1;
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* ---- non-streaming responses --------------------------------------------------------------- */

static void respond_chat(struct vctx *v, struct serve_model *m, const struct serve_params *p,
                         struct serve_job *j, const char *model_name)
{
	json_t *msg, *choice, *lp = json_null();
	if (j->logprobs) {
		json_t *content = json_array();
		for (size_t i = 0; i < j->n_lps; i++)
			json_array_append_new(content, chat_lp(m, &j->lps[i]));
		json_decref(lp);
		lp = json_pack("{s:o,s:n}", "content", content, "refusal");
	}
	msg = json_pack("{s:s,s:o,s:n}", "role", "assistant", "content",
	                jstr(j->out.data ? j->out.data : "", j->out.len), "refusal");
	choice = json_pack("{s:i,s:o,s:o,s:s}", "index", 0, "message", msg, "logprobs", lp,
	                   "finish_reason", j->finish ? j->finish : "stop");
	(void)p;
	http_resp_header(v->req, "Cache-Control", "no-store");
	http_respond_json(v->req, 200,
	                  json_pack("{s:s+,s:s,s:I,s:o,s:s,s:[o],s:o}", "id", "chatcmpl-",
	                            http_req_id(v->req), "object", "chat.completion", "created",
	                            (json_int_t)(time_now_ms() / 1000), "model",
	                            jstr(model_name, strlen(model_name)), "system_fingerprint",
	                            "huddle", "choices", choice, "usage",
	                            usage_json(j->usage_prompt, j->usage_gen, j->reused)));
}

static void respond_completions(struct vctx *v, struct serve_model *m, const struct serve_params *p,
                                struct serve_job **jobs, size_t n, const char *model_name)
{
	json_t *choices = json_array();
	int64_t up = 0, ug = 0, uc = 0;
	for (size_t i = 0; i < n; i++) {
		struct serve_job *j = jobs[i];
		struct buf text = BUF_INIT;
		struct comp_lp c;
		int64_t base = 0;
		if (j->logprobs)
			comp_lp_init(&c);
		if (p->echo) {
			echo_prompt(m, j, &p->prompts[i], &text, j->logprobs ? &c : NULL);
			base = (int64_t)text.len;
		}
		buf_append(&text, j->out.data ? j->out.data : "", j->out.len);
		if (j->logprobs)
			for (size_t k = 0; k < j->n_lps; k++)
				comp_lp_add(&c, m, &j->lps[k], 0, base + j->lps[k].offset);
		json_array_append_new(choices,
		                      json_pack("{s:o,s:I,s:o,s:s}", "text",
		                                jstr(text.data ? text.data : "", text.len), "index",
		                                (json_int_t)i, "logprobs",
		                                j->logprobs ? comp_lp_json(&c) : json_null(),
		                                "finish_reason", j->finish ? j->finish : "stop"));
		buf_release(&text);
		up += j->usage_prompt;
		ug += j->usage_gen;
		uc += j->reused;
	}
	http_resp_header(v->req, "Cache-Control", "no-store");
	http_respond_json(v->req, 200,
	                  json_pack("{s:s+,s:s,s:I,s:o,s:s,s:o,s:o}", "id", "cmpl-",
	                            http_req_id(v->req), "object", "text_completion", "created",
	                            (json_int_t)(time_now_ms() / 1000), "model",
	                            jstr(model_name, strlen(model_name)), "system_fingerprint",
	                            "huddle", "choices", choices, "usage", usage_json(up, ug, uc)));
}

/* ---- streaming ------------------------------------------------------------------------------ */

struct sse {
	struct serve *s;
	struct http_req *req;
	struct serve_model *m;
	struct serve_job *j;
	enum serve_kind kind;
	char id[48];
	char *model_name;
	int64_t created;
	int include_usage, echo;
	struct serve_prompt prompt; /* echo: the text (copied) */
	char *prompt_text;
	int started, echoed, finished; /* finished: 1 final chunk queued, 2 [DONE] queued */
	int64_t echo_len;
	struct buf pending;
	size_t off;
};

static void sse_event(struct sse *x, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	buf_puts(&x->pending, "data: ");
	buf_puts(&x->pending, s ? s : "{}");
	buf_puts(&x->pending, "\n\n");
	free(s);
}

static json_t *sse_chunk(struct sse *x, json_t *choices)
{
	return json_pack("{s:s,s:s,s:I,s:o,s:s,s:o}", "id", x->id, "object",
	                 x->kind == SERVE_CHAT ? "chat.completion.chunk" : "text_completion",
	                 "created", (json_int_t)x->created, "model",
	                 jstr(x->model_name, strlen(x->model_name)), "system_fingerprint", "huddle",
	                 "choices", choices);
}

/* Formats what the job released (taken under the lock by the caller). */
static void sse_format(struct sse *x, const char *text, size_t n, const struct serve_lp *lps,
                       size_t n_lps, int logprobs, const char *finish, int error,
                       const char *errmsg)
{
	if (x->kind == SERVE_CHAT && !x->started) {
		x->started = 1;
		json_t *c = json_pack("{s:i,s:{s:s,s:s},s:n,s:n}", "index", 0, "delta", "role",
		                      "assistant", "content", "", "logprobs", "finish_reason");
		sse_event(x, sse_chunk(x, json_pack("[o]", c)));
	}
	if (n || n_lps) {
		json_t *lp = json_null(), *c;
		if (x->kind == SERVE_CHAT) {
			if (logprobs) {
				json_t *content = json_array();
				for (size_t i = 0; i < n_lps; i++)
					json_array_append_new(content, chat_lp(x->m, &lps[i]));
				json_decref(lp);
				lp = json_pack("{s:o,s:n}", "content", content, "refusal");
			}
			c = json_pack("{s:i,s:{s:o},s:o,s:n}", "index", 0, "delta", "content",
			              jstr(text, n), "logprobs", lp, "finish_reason");
		} else {
			if (logprobs) {
				struct comp_lp cl;
				comp_lp_init(&cl);
				for (size_t i = 0; i < n_lps; i++)
					comp_lp_add(&cl, x->m, &lps[i], 0,
					            x->echo_len + lps[i].offset);
				json_decref(lp);
				lp = comp_lp_json(&cl);
			}
			c = json_pack("{s:o,s:i,s:o,s:n}", "text", jstr(text, n), "index", 0,
			              "logprobs", lp, "finish_reason");
		}
		json_t *ch = sse_chunk(x, json_pack("[o]", c));
		if (x->include_usage)
			json_object_set_new(ch, "usage", json_null());
		sse_event(x, ch);
	}
	if (error) {
		sse_event(x, json_pack("{s:{s:o,s:s,s:n,s:n}}", "error", "message",
		                       jstr(errmsg, strlen(errmsg)), "type",
		                       error == 503 ? "server_error" : "internal_error", "param",
		                       "code"));
		x->finished = 1;
	} else if (finish) {
		json_t *c = x->kind == SERVE_CHAT
		                    ? json_pack("{s:i,s:{},s:n,s:s}", "index", 0, "delta",
		                                "logprobs", "finish_reason", finish)
		                    : json_pack("{s:s,s:i,s:n,s:s}", "text", "", "index", 0,
		                                "logprobs", "finish_reason", finish);
		json_t *ch = sse_chunk(x, json_pack("[o]", c));
		if (x->include_usage)
			json_object_set_new(ch, "usage", json_null());
		sse_event(x, ch);
		if (x->include_usage) {
			ch = sse_chunk(x, json_array());
			json_object_set_new(
			        ch, "usage",
			        usage_json(x->j->usage_prompt, x->j->usage_gen, x->j->reused));
			sse_event(x, ch);
		}
		x->finished = 1;
	}
	if (x->finished == 1) {
		buf_puts(&x->pending, "data: [DONE]\n\n");
		x->finished = 2;
	}
}

static long sse_read(void *ctx, char *out, size_t max)
{
	struct sse *x = ctx;
	struct serve *s = x->s;
	struct serve_job *j = x->j;

	while (x->off >= x->pending.len) {
		buf_reset(&x->pending);
		x->off = 0;
		if (x->finished == 2)
			return 0;
		pthread_mutex_lock(&s->mu);
		int echo_now = x->echo && !x->echoed && j->prefilled;
		while (!j->out.len && !j->n_lps && !echo_now && j->state != SERVE_JOB_DONE &&
		       x->started) {
			struct timespec ts;
			deadline(&ts, WAIT_SLICE_MS);
			pthread_cond_timedwait(&j->cv, &s->mu, &ts);
			echo_now = x->echo && !x->echoed && j->prefilled;
			if (j->out.len || j->n_lps || echo_now || j->state == SERVE_JOB_DONE)
				break;
			pthread_mutex_unlock(&s->mu);
			int gone = http_req_client_gone(x->req);
			pthread_mutex_lock(&s->mu);
			if (gone) {
				pthread_mutex_unlock(&s->mu);
				serve_job_cancel(j);
				return -1;
			}
		}
		if (echo_now) {
			/* the prompt first, with its entries, as its own chunk */
			struct buf text = BUF_INIT;
			struct comp_lp cl;
			x->echoed = 1;
			pthread_mutex_unlock(&s->mu);
			if (j->logprobs)
				comp_lp_init(&cl);
			echo_prompt(x->m, j, &x->prompt, &text, j->logprobs ? &cl : NULL);
			x->echo_len = (int64_t)text.len;
			json_t *c = json_pack(
			        "{s:o,s:i,s:o,s:n}", "text",
			        jstr(text.data ? text.data : "", text.len), "index", 0, "logprobs",
			        j->logprobs ? comp_lp_json(&cl) : json_null(), "finish_reason");
			sse_event(x, sse_chunk(x, json_pack("[o]", c)));
			buf_release(&text);
			continue;
		}
		struct buf text = BUF_INIT;
		struct serve_lp *lps = NULL;
		size_t n_lps = j->n_lps;
		buf_append(&text, j->out.data ? j->out.data : "", j->out.len);
		buf_reset(&j->out);
		if (n_lps) {
			lps = xmalloc_array(n_lps, sizeof(*lps));
			memcpy(lps, j->lps, n_lps * sizeof(*lps));
			j->n_lps = 0;
		}
		const int done = j->state == SERVE_JOB_DONE, error = j->error;
		const char *finish = done ? (j->finish ? j->finish : "stop") : NULL;
		char errmsg[256];
		snprintf(errmsg, sizeof(errmsg), "%s", j->errmsg);
		if (done && !error && j->cancelled && !j->finish)
			finish = "stop";
		pthread_mutex_unlock(&s->mu);
		if (x->echo && !x->echoed && done) {
			/* ended before the prompt was through (an error) */
			x->echoed = 1;
		}
		sse_format(x, text.data ? text.data : "", text.len, lps, n_lps, j->logprobs, finish,
		           error, errmsg);
		buf_release(&text);
		free(lps);
	}
	size_t k = HD_MIN(max, x->pending.len - x->off);
	memcpy(out, x->pending.data + x->off, k);
	x->off += k;
	return (long)k;
}

static void sse_done(void *ctx)
{
	struct sse *x = ctx;
	serve_job_cancel(x->j);
	serve_job_put(x->j);
	serve_model_put(x->s, x->m);
	buf_release(&x->pending);
	free(x->model_name);
	free(x->prompt_text);
	free(x);
}

/* ---- /v1/chat/completions and /v1/completions ------------------------------------------------- */

static void completion(struct http_req *req, enum serve_kind kind)
{
	struct vctx v;
	struct serve_params p;
	struct serve_err e;
	struct serve_model *m = NULL;
	struct serve_job **jobs = NULL;
	int32_t **prompts = NULL, *n_prompts = NULL;
	size_t n = 0, body_len;
	const char *body;
	int rc;

	if (begin(req, &v))
		return;
	memset(&e, 0, sizeof(e));
	body = http_req_body(req, &body_len);
	rc = serve_params_parse(kind, body, body_len, &p, &e);
	if (rc == 0 && kind == SERVE_COMPLETION && p.stream && p.n_prompts > 1)
		rc = serve_bad(&e, "prompt", "streaming takes one prompt");
	if (rc == 0)
		rc = serve_model_get(v.s, &v.caller, p.model, &m, &e);
	if (rc)
		goto fail;
	const char *model_name = p.model && *p.model && !str_starts_with(p.model, "http://") &&
	                                         !str_starts_with(p.model, "https://")
	                                 ? p.model
	                                 : m->name;
	n = kind == SERVE_CHAT ? 1 : p.n_prompts;
	prompts = xcalloc(n, sizeof(*prompts));
	n_prompts = xcalloc(n, sizeof(*n_prompts));
	jobs = xcalloc(n, sizeof(*jobs));
	for (size_t i = 0; i < n; i++) {
		size_t len = 0;
		rc = kind == SERVE_CHAT
		             ? chat_prompt(m, &p, &prompts[i], &len, &e)
		             : completion_prompt(m, &p.prompts[i], &prompts[i], &len, &e);
		if (rc == 0)
			rc = check_lengths(v.s, m, &p, len, &e);
		if (rc)
			goto fail;
		n_prompts[i] = (int32_t)len;
	}
	rc = serve_job_submit_many(v.s, m, &p, prompts, n_prompts, n, v.tenant, v.caller_key, jobs,
	                           &e);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			jobs[i] = NULL;
		goto fail;
	}

	if (p.stream) {
		struct sse *x = xcalloc(1, sizeof(*x));
		x->s = v.s;
		x->req = req;
		x->m = m;
		x->j = jobs[0];
		x->kind = kind;
		snprintf(x->id, sizeof(x->id), "%s%s", kind == SERVE_CHAT ? "chatcmpl-" : "cmpl-",
		         http_req_id(req));
		x->model_name = xstrdup(model_name);
		x->created = time_now_ms() / 1000;
		x->include_usage = p.include_usage;
		x->echo = kind == SERVE_COMPLETION && p.echo;
		x->started = kind != SERVE_CHAT;
		if (x->echo && p.prompts[0].text) {
			x->prompt_text = xstrndup(p.prompts[0].text, p.prompts[0].text_len);
			x->prompt.text = x->prompt_text;
			x->prompt.text_len = p.prompts[0].text_len;
		}
		buf_init(&x->pending);
		m = NULL; /* the stream holds the reference now */
		jobs[0] = NULL;
		http_resp_header(req, "Cache-Control", "no-cache");
		http_resp_header(req, "X-Accel-Buffering", "no");
		http_respond_stream(req, 200, "text/event-stream", HTTP_SIZE_UNKNOWN, sse_read,
		                    sse_done, x);
		goto out;
	}

	if (wait_jobs(v.s, req, jobs, n) < 0) {
		serve_fail(&e, 499, "invalid_request_error", NULL, NULL, "client closed request");
		http_respond_error(req, 499, NULL, "client closed request");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (jobs[i]->error) {
			serve_fail(&e, jobs[i]->error, "server_error", NULL, NULL, "%s",
			           jobs[i]->errmsg);
			goto fail;
		}
	if (kind == SERVE_CHAT)
		respond_chat(&v, m, &p, jobs[0], model_name);
	else
		respond_completions(&v, m, &p, jobs, n, model_name);
	goto out;
fail:
	send_err(req, v.s, &e);
out:
	for (size_t i = 0; jobs && i < n; i++) {
		if (jobs[i])
			serve_job_put(jobs[i]);
	}
	for (size_t i = 0; prompts && i < n; i++)
		free(prompts[i]);
	free(prompts);
	free(n_prompts);
	free(jobs);
	serve_model_put(v.s, m);
	serve_params_release(&p);
	end(&v);
}

static void h_chat(struct http_req *req)
{
	completion(req, SERVE_CHAT);
}

static void h_completions(struct http_req *req)
{
	completion(req, SERVE_COMPLETION);
}

/* ---- models ------------------------------------------------------------------------------------ */

static void h_models(struct http_req *req)
{
	struct vctx v;
	json_t *arr;
	if (begin(req, &v))
		return;
	arr = json_array();
	serve_models_list(v.s, &v.caller, arr);
	http_respond_json(req, 200, json_pack("{s:s,s:o}", "object", "list", "data", arr));
	end(&v);
}

static void h_model(struct http_req *req)
{
	struct vctx v;
	struct serve_err e;
	char **segs = NULL;
	size_t n_segs = 0;
	struct buf id = BUF_INIT;
	if (begin(req, &v))
		return;
	if (http_path_segments(http_req_param(req, "id"), &segs, &n_segs) == 0)
		for (size_t i = 0; i < n_segs; i++) {
			if (i)
				buf_putc(&id, '/');
			buf_puts(&id, segs[i]);
		}
	free(segs);
	json_t *arr = json_array(), *hit = NULL, *it;
	size_t i;
	serve_models_list(v.s, &v.caller, arr);
	json_array_foreach(arr, i, it)
	{
		const char *mid = json_string_value(json_object_get(it, "id"));
		if (mid && id.data && !strcasecmp(mid, id.data))
			hit = json_incref(it);
	}
	json_decref(arr);
	if (hit) {
		http_respond_json(req, 200, hit);
	} else {
		serve_fail(&e, 404, "invalid_request_error", "model", "model_not_found",
		           "The model `%.200s` does not exist or you do not have access to it.",
		           id.data ? id.data : "");
		send_err(req, v.s, &e);
	}
	buf_release(&id);
	end(&v);
}

/* ---- tokenizer endpoints ----------------------------------------------------------------------- */

/* Parses a small JSON body and finds its model. */
static int tok_begin(struct vctx *v, json_t **root, struct serve_model **m, const char *model)
{
	struct serve_err e;
	json_error_t jerr;
	size_t n;
	const char *body = http_req_body(v->req, &n);
	*m = NULL;
	*root = NULL;
	memset(&e, 0, sizeof(e));
	if (http_req_method(v->req) == HTTP_POST) {
		*root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(*root)) {
			serve_bad(&e, NULL, "the body must be a JSON object");
			send_err(v->req, v->s, &e);
			return -1;
		}
		model = json_string_value(json_object_get(*root, "model"));
	}
	if (serve_model_get(v->s, &v->caller, model, m, &e)) {
		send_err(v->req, v->s, &e);
		return -1;
	}
	return 0;
}

static void h_tokenize(struct http_req *req)
{
	struct vctx v;
	struct serve_err e;
	json_t *root = NULL, *text, *flag;
	struct serve_model *m = NULL;
	int32_t *ids = NULL;
	size_t n = 0, cap = 0;
	if (begin(req, &v))
		return;
	if (tok_begin(&v, &root, &m, NULL))
		goto out;
	text = json_object_get(root, "prompt");
	if (!text)
		text = json_object_get(root, "content");
	if (!json_is_string(text) || json_string_length(text) > SERVE_MAX_PROMPT_BYTES) {
		serve_bad(&e, "prompt", "'prompt' must be a string (of at most 4 MiB)");
		send_err(req, v.s, &e);
		goto out;
	}
	int add = 1;
	flag = json_object_get(root, "add_special_tokens");
	if (!flag)
		flag = json_object_get(root, "add_special");
	if (flag)
		add = json_is_true(flag);
	int flags = TOK_PARSE_SPECIAL | (add && tok_add_bos_default(m->tok) ? TOK_ADD_BOS : 0) |
	            (add && tok_add_eos_default(m->tok) ? TOK_ADD_EOS : 0);
	if (tok_encode(m->tok, json_string_value(text), json_string_length(text), flags, &ids, &n,
	               &cap)) {
		serve_bad(&e, "prompt", "the prompt cannot be tokenized");
		send_err(req, v.s, &e);
		goto out;
	}
	json_t *arr = json_array();
	int pieces = json_is_true(json_object_get(root, "with_pieces"));
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (pieces) {
			buf_reset(&b);
			tok_piece(m->tok, ids[i], 1, &b);
			json_array_append_new(arr, json_pack("{s:i,s:o}", "id", ids[i], "piece",
			                                     jstr(b.data ? b.data : "", b.len)));
		} else {
			json_array_append_new(arr, json_integer(ids[i]));
		}
	}
	buf_release(&b);
	http_respond_json(req, 200,
	                  json_pack("{s:o,s:I,s:i}", "tokens", arr, "count", (json_int_t)n,
	                            "max_model_len", m->n_ctx));
out:
	free(ids);
	json_decref(root);
	serve_model_put(v.s, m);
	end(&v);
}

static void h_detokenize(struct http_req *req)
{
	struct vctx v;
	struct serve_err e;
	json_t *root = NULL, *toks, *t;
	struct serve_model *m = NULL;
	struct buf out = BUF_INIT;
	int32_t *ids = NULL;
	size_t i;
	if (begin(req, &v))
		return;
	if (tok_begin(&v, &root, &m, NULL))
		goto out;
	toks = json_object_get(root, "tokens");
	if (!json_is_array(toks) || json_array_size(toks) > (1u << 20)) {
		serve_bad(&e, "tokens", "'tokens' must be a list of token ids");
		send_err(req, v.s, &e);
		goto out;
	}
	ids = xmalloc_array(json_array_size(toks) + 1, sizeof(int32_t));
	json_array_foreach(toks, i, t)
	{
		if (!json_is_integer(t) || json_integer_value(t) < 0 ||
		    json_integer_value(t) >= m->n_vocab) {
			serve_bad(&e, "tokens", "tokens[%zu] is not a token id of this model", i);
			send_err(req, v.s, &e);
			goto out;
		}
		ids[i] = (int32_t)json_integer_value(t);
	}
	detokenize(m, ids, json_array_size(toks), &out, NULL);
	json_t *text = jstr(out.data ? out.data : "", out.len);
	http_respond_json(req, 200, json_pack("{s:O,s:o}", "prompt", text, "content", text));
out:
	free(ids);
	buf_release(&out);
	json_decref(root);
	serve_model_put(v.s, m);
	end(&v);
}

static void h_tokenizer_info(struct http_req *req)
{
	struct vctx v;
	json_t *root = NULL;
	struct serve_model *m = NULL;
	struct gguf_str ts;
	if (begin(req, &v))
		return;
	if (tok_begin(&v, &root, &m, http_req_query(req, "model")))
		goto out;
	const struct tok *t = m->tok;
	const char *bos = tok_bos(t) >= 0 ? tok_text(t, tok_bos(t)) : NULL;
	const char *eos = tok_eos(t) >= 0 ? tok_text(t, tok_eos(t)) : NULL;
	json_t *o = json_pack("{s:s,s:s,s:i,s:i,s:b,s:b,s:i}", "model", m->name, "tokenizer_model",
	                      tok_model_name(t), "vocab_size", m->n_vocab, "max_model_len",
	                      m->n_ctx, "add_bos_token", tok_add_bos_default(t), "add_eos_token",
	                      tok_add_eos_default(t), "bos_token_id", tok_bos(t));
	json_object_set_new(o, "eos_token_id", json_integer(tok_eos(t)));
	json_object_set_new(o, "bos_token", bos ? jstr(bos, strlen(bos)) : json_null());
	json_object_set_new(o, "eos_token", eos ? jstr(eos, strlen(eos)) : json_null());
	if (gguf_get_str(infer_model_gguf(m->m), "tokenizer.chat_template", &ts) == 0)
		json_object_set_new(o, "chat_template", jstr(ts.data, (size_t)ts.len));
	http_respond_json(req, 200, o);
out:
	json_decref(root);
	serve_model_put(v.s, m);
	end(&v);
}

/* ---- health and metrics ------------------------------------------------------------------------ */

static void h_health(struct http_req *req)
{
	struct serve *s = (struct serve *)http_req_route_data(req);
	int nm, na, nq, ns;
	pthread_mutex_lock(&s->mu);
	serve_sched_counts(s, &nm, &na, &nq, &ns);
	pthread_mutex_unlock(&s->mu);
	http_resp_header(req, "Cache-Control", "no-store");
	http_respond_json(req, 200,
	                  json_pack("{s:s,s:i,s:i,s:i,s:i}", "status", "ok", "models_loaded", nm,
	                            "slots_busy", na, "slots_total", ns, "queued", nq));
}

static void h_metrics(struct http_req *req)
{
	struct serve *s = (struct serve *)http_req_route_data(req);
	struct buf b = BUF_INIT;
	serve_metrics_format(s, &b);
	http_resp_header(req, "Cache-Control", "no-store");
	http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data ? b.data : "",
	             b.len);
	buf_release(&b);
}

/* Anything else under /v1: OpenAI's 404, in its shape, not the UI's page. */
static void h_unknown(struct http_req *req)
{
	struct serve_err e;
	serve_fail(&e, 404, "invalid_request_error", NULL, "unknown_url",
	           "Invalid URL (%s %.200s): this server answers /v1/models, "
	           "/v1/chat/completions and /v1/completions",
	           http_req_method_name(req), http_req_path(req));
	send_err(req, (struct serve *)http_req_route_data(req), &e);
}

/* ---- routes ---------------------------------------------------------------------------------------- */

void serve_routes_init(struct serve *s)
{
	const struct http_route r[] = {
	        {HTTP_GET, "/v1/models", h_models, NULL, NULL, 0, s},
	        {HTTP_GET, "/v1/models/*id", h_model, NULL, NULL, 0, s},
	        {HTTP_POST, "/v1/chat/completions", h_chat, NULL, NULL, 16 * MB, s},
	        {HTTP_POST, "/v1/completions", h_completions, NULL, NULL, 16 * MB, s},
	        {HTTP_POST, "/tokenize", h_tokenize, NULL, NULL, 8 * MB, s},
	        {HTTP_POST, "/v1/tokenize", h_tokenize, NULL, NULL, 8 * MB, s},
	        {HTTP_POST, "/detokenize", h_detokenize, NULL, NULL, 8 * MB, s},
	        {HTTP_POST, "/v1/detokenize", h_detokenize, NULL, NULL, 8 * MB, s},
	        {HTTP_GET, "/tokenizer_info", h_tokenizer_info, NULL, NULL, 0, s},
	        {HTTP_GET | HTTP_HEAD, "/health", h_health, NULL, NULL, 0, s},
	        {HTTP_GET, "/metrics", h_metrics, NULL, NULL, 0, s},
	        {HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_DELETE | HTTP_PATCH,
	         "/v1/*rest", h_unknown, NULL, NULL, 1 * MB, s},
	};
	s->routes = xmalloc(sizeof(r));
	memcpy(s->routes, r, sizeof(r));
	s->n_routes = ARRAY_SIZE(r);
}

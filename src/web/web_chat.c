/*
 * web_chat.c: the chat playground (/chat) and its same-origin relay.
 *
 * The page's script (web/chat.js) streams from POST /chat/api/completions
 * and lists models from GET /chat/api/models. Those relay to the inference
 * service's OpenAI API on this same server (/v1/chat/completions,
 * /v1/models) over HTTP with libcurl, adding `Authorization: Bearer` with
 * the session's token, so the token never reaches JavaScript and the /v1
 * API itself needs no cookies. The relay URL is fixed (local_url or
 * public_url): no user input chooses where it connects (SECURITY S1).
 *
 * Streaming: a thread runs the transfer and feeds a bounded queue; the HTTP
 * response reads from it (http_respond_stream). When the browser stops (the
 * Stop button aborts its fetch) the response ends, the transfer is aborted
 * at once and the inference service sees its client go away (I3).
 *
 * POST /chat/api/markdown renders model output with cmark-gfm in chat mode
 * (raw HTML shown as text, URLs allow-listed) and answers JSON {"html"}.
 */
#include "web/web_int.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_MAX (1024 * 1024)
#define MD_MAX (512 * 1024)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- the page -------------------------------------------------------------------- */

void web_chat(struct http_req *req)
{
	struct web_ctx x;
	const char *model = http_req_query(req, "model");
	static const char *const scripts[] = {"chat.js"};
	struct buf *b;

	web_ctx_begin(&x, req);
	b = &x.out;
	web_page_begin(&x, "Chat", "chat");
	web_html(b, "<div class=\"chat\" id=\"hd-chat\" data-model=\"%s\" data-signed-in=\"%d\">",
	         model ? model : "", x.signed_in);
	buf_puts(
	        b,
	        "<aside class=\"chat-settings\"><h2>Chat</h2>"
	        "<label>Model<input type=\"text\" id=\"hd-model\" list=\"hd-model-list\" "
	        "autocomplete=\"off\" placeholder=\"owner/model\"></label>"
	        "<datalist id=\"hd-model-list\"></datalist>"
	        "<p class=\"muted small\" id=\"hd-model-note\"></p>"
	        "<label>System prompt<textarea id=\"hd-system\" rows=\"4\" placeholder=\"You are a "
	        "helpful assistant.\"></textarea></label>"
	        "<label>Temperature <output id=\"hd-temperature-out\">0.7</output><input "
	        "type=\"range\" id=\"hd-temperature\" min=\"0\" max=\"2\" step=\"0.05\" "
	        "value=\"0.7\"></label>"
	        "<label>Top-p <output id=\"hd-top-p-out\">0.95</output><input type=\"range\" "
	        "id=\"hd-top-p\" min=\"0\" max=\"1\" step=\"0.01\" value=\"0.95\"></label>"
	        "<label>Max tokens<input type=\"number\" id=\"hd-max-tokens\" min=\"1\" "
	        "max=\"32768\" value=\"256\"></label>"
	        "<button type=\"button\" id=\"hd-clear\" class=\"secondary\">New chat</button>"
	        "</aside><section class=\"chat-main\">"
	        "<div id=\"hd-messages\" class=\"messages\" aria-live=\"polite\"></div>"
	        "<p id=\"hd-chat-error\" class=\"error-msg\" role=\"alert\" hidden></p>"
	        "<form id=\"hd-chat-form\" class=\"composer\">"
	        "<textarea id=\"hd-input\" rows=\"3\" placeholder=\"Send a message (Enter to send, "
	        "Shift+Enter for a new line)\" aria-label=\"Message\"></textarea>"
	        "<div class=\"composer-actions\">"
	        "<button type=\"submit\" id=\"hd-send\">Send</button>"
	        "<button type=\"button\" id=\"hd-stop\" class=\"danger\" hidden>Stop</button>"
	        "<button type=\"button\" id=\"hd-regenerate\" "
	        "class=\"secondary\">Regenerate</button>"
	        "</div></form>");
	if (!x.signed_in)
		buf_puts(b,
		         "<p class=\"muted small\">You are not signed in: only models the server "
		         "lets anyone use will answer.</p>");
	buf_puts(b, "</section></div>");
	web_page_end(&x, 200, scripts, ARRAY_SIZE(scripts));
	web_ctx_end(&x);
}

/* ---- the relay ---------------------------------------------------------------------- */

struct relay {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int started;
	CURL *curl;
	struct curl_slist *headers;
	char *url;
	char *body;
	/* shared, under mu */
	struct buf q; /* bytes not yet read, from q_off */
	size_t q_off;
	long status;
	char ctype[128];
	int head_done; /* status and headers known (or the transfer failed) */
	int finished;
	int cancel;
	CURLcode result;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct relay *r = arg;
	size_t len = size * n;

	if (len > 13 && !strncasecmp(p, "Content-Type:", 13)) {
		const char *v = p + 13;
		size_t vn = len - 13;
		while (vn && (*v == ' ' || *v == '\t')) {
			v++;
			vn--;
		}
		while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
			vn--;
		pthread_mutex_lock(&r->mu);
		snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)vn, v);
		pthread_mutex_unlock(&r->mu);
	}
	return len;
}

static void mark_head_done(struct relay *r)
{
	if (!r->head_done) {
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &r->status);
		r->head_done = 1;
		pthread_cond_broadcast(&r->cv);
	}
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct relay *r = arg;
	size_t len = size * n;

	pthread_mutex_lock(&r->mu);
	mark_head_done(r);
	while (!r->cancel && r->q.len - r->q_off + len > QUEUE_MAX)
		pthread_cond_wait(&r->cv, &r->mu);
	if (r->cancel) {
		pthread_mutex_unlock(&r->mu);
		return 0; /* aborts the transfer */
	}
	if (r->q_off && r->q_off == r->q.len) {
		buf_reset(&r->q);
		r->q_off = 0;
	}
	buf_append(&r->q, p, len);
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct relay *r = arg;
	int cancel;

	(void)a;
	(void)b;
	(void)c;
	(void)d;
	pthread_mutex_lock(&r->mu);
	cancel = r->cancel;
	pthread_mutex_unlock(&r->mu);
	return cancel;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	CURLcode rc = curl_easy_perform(r->curl);

	pthread_mutex_lock(&r->mu);
	r->result = rc;
	mark_head_done(r);
	r->finished = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static void relay_free(struct relay *r)
{
	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->mu);
		r->cancel = 1;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	if (r->curl)
		curl_easy_cleanup(r->curl);
	curl_slist_free_all(r->headers);
	free(r->url);
	if (r->body) {
		/* the body may carry nothing secret, but the headers did */
		free(r->body);
	}
	buf_release(&r->q);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static long relay_read(void *ctx, char *out, size_t max)
{
	struct relay *r = ctx;
	long n;

	pthread_mutex_lock(&r->mu);
	while (r->q.len == r->q_off && !r->finished)
		pthread_cond_wait(&r->cv, &r->mu);
	if (r->q.len > r->q_off) {
		size_t k = HD_MIN(max, r->q.len - r->q_off);
		memcpy(out, r->q.data + r->q_off, k);
		r->q_off += k;
		n = (long)k;
		pthread_cond_broadcast(&r->cv);
	} else {
		/* finished: a transfer cut in the middle cuts our response too */
		n = r->result == CURLE_OK ? 0 : -1;
	}
	pthread_mutex_unlock(&r->mu);
	return n;
}

static void relay_done(void *ctx)
{
	relay_free(ctx);
}

/* Relays method + path (+ body) to the local /v1 API and streams the answer
 * back. Responds in every case. */
static void relay(struct web_ctx *x, const char *path, const char *body, size_t body_len)
{
	struct relay *r = xcalloc(1, sizeof(*r));
	char token[AUTH_TOKEN_LEN + 32];
	int have_token = 0;

	pthread_once(&curl_once, curl_init_once);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	buf_init(&r->q);
	r->url = xasprintf("%s%s", x->u->local_url, path);
	if (x->signed_in && web_session_token(x->w, x->sid, token, sizeof(token)) == 0)
		have_token = 1;

	r->curl = curl_easy_init();
	if (!r->curl) {
		relay_free(r);
		http_respond_error(x->req, 500, NULL, "Internal error");
		return;
	}
	r->headers = curl_slist_append(r->headers, "Accept: application/json, text/event-stream");
	if (body) {
		r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
		r->body = xstrndup(body, body_len);
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	if (have_token) {
		char *h = xasprintf("Authorization: Bearer %s", token);
		r->headers = curl_slist_append(r->headers, h);
		OPENSSL_cleanse(h, strlen(h));
		free(h);
		OPENSSL_cleanse(token, sizeof(token));
	}
	curl_easy_setopt(r->curl, CURLOPT_URL, r->url);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, 3600L);
	curl_easy_setopt(r->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(r->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(r->curl, CURLOPT_XFERINFODATA, r);
	curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "huddle-web-relay");

	if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
		relay_free(r);
		http_respond_error(x->req, 500, NULL, "Internal error");
		return;
	}
	r->started = 1;
	pthread_mutex_lock(&r->mu);
	while (!r->head_done)
		pthread_cond_wait(&r->cv, &r->mu);
	if (r->finished && r->result != CURLE_OK && r->q.len == 0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "%s",
		         r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->result));
		pthread_mutex_unlock(&r->mu);
		log_warn("web: chat relay to %s failed: %s", r->url, msg);
		relay_free(r);
		http_respond_json(x->req, 502,
		                  json_pack("{s:{s:s,s:s}}", "error", "message",
		                            "The inference service is not reachable.", "type",
		                            "relay_error"));
		return;
	}
	long status = r->status ? r->status : 502;
	char ctype[128];
	snprintf(ctype, sizeof(ctype), "%s", r->ctype[0] ? r->ctype : "application/octet-stream");
	pthread_mutex_unlock(&r->mu);
	/* only the two types the API answers; never anything the browser renders */
	if (strncasecmp(ctype, "text/event-stream", 17) != 0 &&
	    strncasecmp(ctype, "application/json", 16) != 0)
		snprintf(ctype, sizeof(ctype), "text/plain; charset=utf-8");
	http_resp_header(x->req, "X-Content-Type-Options", "nosniff");
	http_resp_header(x->req, "Cache-Control", "no-store");
	http_resp_header(x->req, "X-Accel-Buffering", "no");
	http_respond_stream(x->req, (int)status, ctype, HTTP_SIZE_UNKNOWN, relay_read, relay_done,
	                    r);
}

void web_chat_models(struct http_req *req)
{
	struct web_ctx x;

	web_ctx_begin(&x, req);
	relay(&x, "/v1/models", NULL, 0);
	web_ctx_end(&x);
}

void web_chat_completions(struct http_req *req)
{
	static const char *const keep[] = {"model",       "messages", "stream",
	                                   "temperature", "top_p",    "max_tokens",
	                                   "stop",        "seed",     "stream_options"};
	struct web_ctx x;
	json_t *in = NULL, *out;
	json_error_t jerr;
	const char *body;
	size_t n;
	char *s;

	web_ctx_begin(&x, req);
	if (web_check_post(&x) < 0)
		goto done;
	body = http_req_body(req, &n);
	in = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(in)) {
		http_respond_error(req, 400, NULL, "The body must be a JSON object");
		goto done;
	}
	/* forward only the fields the playground sends */
	out = json_object();
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
		json_t *v = json_object_get(in, keep[i]);
		if (v)
			json_object_set(out, keep[i], v);
	}
	s = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	if (!s) {
		http_respond_error(req, 500, NULL, "Internal error");
		goto done;
	}
	relay(&x, "/v1/chat/completions", s, strlen(s));
	free(s);
done:
	json_decref(in);
	web_ctx_end(&x);
}

void web_markdown(struct http_req *req)
{
	struct web_ctx x;
	struct buf html = BUF_INIT;
	json_t *in = NULL;
	json_error_t jerr;
	const char *body, *text;
	size_t n;

	web_ctx_begin(&x, req);
	if (web_check_post(&x) < 0)
		goto done;
	body = http_req_body(req, &n);
	in = json_loadb(body, n, 0, &jerr);
	text = json_string_value(json_object_get(in, "text"));
	if (!text) {
		http_respond_error(req, 400, NULL, "Send {\"text\": \"...\"}");
		goto done;
	}
	n = strlen(text);
	if (n > MD_MAX) {
		http_respond_error(req, 413, NULL, "Text too long");
		goto done;
	}
	if (web_md_render(text, n, WEB_MD_CHAT, NULL, NULL, &html) < 0) {
		http_respond_error(req, 500, NULL, "Internal error");
		goto done;
	}
	http_resp_header(req, "X-Content-Type-Options", "nosniff");
	http_resp_header(req, "Cache-Control", "no-store");
	http_respond_json(req, 200, json_pack("{s:s}", "html", html.data ? html.data : ""));
done:
	json_decref(in);
	buf_release(&html);
	web_ctx_end(&x);
}

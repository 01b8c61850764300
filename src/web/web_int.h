/*
 * web_int.h: what the web_*.c files share (private to src/web/).
 */
#ifndef HD_WEB_INT_H
#define HD_WEB_INT_H

#include "auth/auth.h"
#include "core/core.h"
#include "hub/hub.h"
#include "http/http.h"
#include "web/web.h"

#include <pthread.h>

#define WEB_COOKIE "huddle_session"

struct web_urls {
	char *public_url; /* absolute base the clients use, no trailing '/' */
	char *local_url; /* where this server reaches its own /v1 (chat relay) */
	char *origin; /* scheme://host[:port] of public_url */
	int secure; /* public_url is https: Secure cookies, HSTS */
	struct web_urls *prev; /* older sets, freed with the web */
};

/* What a route's data points at: the UI and the repo type of the URL. */
struct web_route_data {
	struct web *w;
	enum hub_repo_type type;
};

/* Failed sign-ins per client address, for the brute-force limit (T8). */
#define WEB_LOGIN_SLOTS 256
struct web_login_slot {
	char ip[64];
	int64_t window_ms; /* start of the current window */
	int fails;
};

struct web {
	struct web_config cfg;
	struct web_login_slot login[WEB_LOGIN_SLOTS]; /* under mu */
	struct web_route_data rd[3]; /* by enum hub_repo_type */
	/* The URLs are known only once the server listens (a --port 0 picks
	 * the port): web_set_urls publishes a new immutable set, which request
	 * handlers load once (web_urls) into their context. */
	struct web_urls *urls;
	pthread_mutex_t mu; /* serializes web_set_urls; guards login */
	struct http_route *routes;
	size_t n_routes;
};

/* Everything a page handler needs for one request. */
struct web_ctx {
	struct web *w;
	struct http_req *req;
	enum hub_repo_type type; /* from the route (models unless /datasets/...) */
	const struct web_urls *u; /* the URLs at the start of the request */
	struct auth_caller c; /* anonymous unless a valid session cookie came */
	int signed_in;
	char sid[65]; /* the session id from the cookie (hex), "" when none */
	char csrf[65]; /* the session's CSRF token, "" when signed out */
	char nonce[33]; /* this response's CSP nonce */
	int clear_cookie; /* the cookie named a dead session: expire it */
	struct buf out; /* the page being built */
};

/* web.c */
int web_ctx_begin(struct web_ctx *x, struct http_req *req);
void web_ctx_end(struct web_ctx *x);
/* Asset URL with its content hash ("/assets/app.js?v=1a2b3c4d"), or NULL. */
const char *web_asset_url(const char *name);

/* web_html.c: page shell and helpers. */
/* printf into b where every %s argument is HTML-escaped (also supports %d,
 * %u, %ld, %lld, %zu, %lu, %llu, %.Ns and %%; nothing else). */
void web_html(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Percent-encodes s as one path segment (keep_slash 0) or a path, then
 * appends it (the result needs no further HTML escaping). */
void web_url_enc(struct buf *b, const char *s, int keep_slash);
/* "/{P}ns/name" (request memory), P = "" / "datasets/" / "spaces/". */
char *web_repo_path(struct web_ctx *x, enum hub_repo_type type, const char *id);
/* "/{P}ns/name/{what}/{rev}/{path}" with each part encoded (request memory). */
char *web_repo_sub(struct web_ctx *x, enum hub_repo_type type, const char *id, const char *what,
                   const char *rev, const char *path);
/* Starts a page: doctype, head (title, assets), header with navigation. */
void web_page_begin(struct web_ctx *x, const char *title, const char *active);
/* Closes the page (footer, scripts) and sends it with the security headers. */
void web_page_end(struct web_ctx *x, int status, const char *const *scripts, size_t n_scripts);
/* Security headers for an HTML response (CSP with this response's nonce). */
void web_security_headers(struct web_ctx *x);
/* A full error page (no scripts). */
void web_error_page(struct web_ctx *x, int status, const char *title, const char *msg);
/* The error page for a hub error (404s identical for missing and private). */
void web_hub_error(struct web_ctx *x, int rc, const struct hub_err *e);
/* 303 See Other to a same-origin path (must be web_next_valid). */
void web_redirect(struct web_ctx *x, const char *location);
/* "3 days ago" style relative date, and sizes "1.2 MB". */
void web_put_date(struct buf *b, int64_t ms);
void web_put_size(struct buf *b, int64_t size);
/* The hidden CSRF input for forms (nothing when signed out). */
void web_put_csrf(struct web_ctx *x);

/* web_session.c */
int web_session_init(struct web *w, char *err, size_t err_size);
/* Creates a session for token; sid receives the new id (hex). */
int web_session_create(struct web *w, const char *token, const char *user, char sid[65]);
/* The token behind sid (AUTH_TOKEN_LEN + 1 bytes), 0 or HD_ENOTFOUND. */
int web_session_token(struct web *w, const char *sid, char *token, size_t token_size);
void web_session_delete(struct web *w, const char *sid);
void web_csrf_token(struct web *w, const char *sid, char out[65]);
/* 1 if the request comes from this site (Origin, else Sec-Fetch-Site and
 * Referer), else 0. */
int web_same_origin(struct web_ctx *x);
/* For a state-changing POST: same origin and, when signed in, the CSRF token
 * from the form field "csrf" or the X-CSRF-Token header. On failure sends a
 * 403 page and returns < 0. */
int web_check_post(struct web_ctx *x);
/* The decoded value of name in an application/x-www-form-urlencoded body
 * (request memory), or NULL. */
const char *web_form(struct web_ctx *x, const char *name);
/* Set-Cookie for a new session, or to clear it. */
void web_cookie_set(struct web_ctx *x, const char *sid);
void web_cookie_clear(struct web_ctx *x);

/* Page handlers. */
void web_home(struct http_req *req);
void web_list(struct http_req *req);
void web_profile(struct http_req *req);
void web_repo_page(struct http_req *req);
void web_repo_tree(struct http_req *req);
void web_repo_blob(struct http_req *req);
void web_repo_commits(struct http_req *req);
void web_repo_api(struct http_req *req);
void web_repo_settings(struct http_req *req);
void web_login(struct http_req *req);
void web_logout(struct http_req *req);
void web_settings_tokens(struct http_req *req);
void web_tokens_create(struct http_req *req);
void web_tokens_revoke(struct http_req *req);
void web_settings_repos(struct http_req *req);
void web_new_repo(struct http_req *req);
void web_chat(struct http_req *req);
void web_chat_models(struct http_req *req);
void web_chat_completions(struct http_req *req);
void web_markdown(struct http_req *req);

/* web_assets.c (generated) */
struct web_asset {
	const char *name; /* "app.js" */
	const char *content_type;
	const unsigned char *data;
	size_t size;
	const char *hash; /* first 16 hex chars of sha256 */
};
extern const struct web_asset web_assets[];
extern const size_t web_n_assets;

#endif

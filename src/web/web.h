/*
 * web: the browser UI that `huddle serve` answers at `/`. Server-rendered
 * HTML at huggingface.co's URLs (listing and search, repo pages with the
 * model card, files and versions, commits, an API page, settings, the chat
 * playground), a few static assets compiled into the binary, and the
 * browser-session machinery: sign-in with a token, an HttpOnly SameSite=Strict
 * session cookie (only a keyed hash of the session id is stored, the token
 * it stands for is encrypted under a key derived from the id), CSRF tokens,
 * Origin checks and the security headers every page carries (SECURITY.md F).
 *
 * The pages sit on the hub service (hub.h) and auth (auth.h) exactly like
 * the API handlers do: every access decision is the hub's. The chat
 * playground talks to the inference service over its OpenAI-compatible
 * HTTP API (/v1/...), through a same-origin relay that adds the session's
 * credentials, so the token never reaches JavaScript.
 *
 * Files: web.c (the handle, routes, assets, request context), web_html.c
 * (escaping and the page shell), web_md.c (model cards and chat markdown with
 * cmark-gfm plus an allow-list sanitizer for raw HTML), web_session.c
 * (sessions, CSRF, Origin and `next` checks), web_list.c (home, /models,
 * /datasets, profiles), web_repo.c (repo pages), web_settings.c (sign-in,
 * tokens, repos), web_chat.c (playground and relay); web_assets.c is
 * generated from web/ at build time by embed.py.
 */
#ifndef HD_WEB_H
#define HD_WEB_H

#include <stddef.h>
#include <stdint.h>

struct hub;
struct http_route;
struct buf;

struct web_config {
	struct hub *hub;
	const char *public_url; /* absolute base the clients use (default
	                           http://127.0.0.1:8080; see web_set_urls) */
	/* Where this server's own /v1 API is reachable from the server itself
	 * (the chat relay); NULL = public_url. */
	const char *local_url;
	int64_t session_ttl_s; /* session lifetime (default 7 days) */
};
void web_config_init(struct web_config *cfg);

struct web;
struct http_server;
/* Creates the UI (and its session table when missing). cfg is copied. */
int web_new(const struct web_config *cfg, struct web **out, char *err, size_t err_size);
void web_free(struct web *w); /* after the server is freed; NULL is fine */
/* Sets the URLs once they are known (the port after the server started);
 * local_url NULL = public_url. Safe while requests run. w NULL: no-op. */
void web_set_urls(struct web *w, const char *public_url, const char *local_url);

/* For `huddle serve`: creates the UI on hub with the defaults and adds its
 * routes to srv (call after adding the API's routes). NULL (logged) if it
 * cannot start; the API works without it. */
struct web *web_attach(struct http_server *srv, struct hub *hub);
/* Once it listens on host:port: sets the public URL and the local one the
 * chat relay uses (loopback when host is a wildcard address), or the
 * environment's HUDDLE_INFERENCE_URL when inference runs elsewhere. */
void web_listening(struct web *w, const char *public_url, const char *host, int port);

/* The route table, owned by w (register it after the API's routes: its
 * catch-all repo patterns /:ns/:name... must come last). */
const struct http_route *web_routes(struct web *w, size_t *n);

/* ---- pure helpers (unit-tested and fuzzed) ------------------------------- */

/* Appends s HTML-escaped (& < > " ' become entities) so it is safe in text
 * and in quoted attribute values. Invalid UTF-8 becomes U+FFFD, control
 * characters other than tab and newline are dropped. */
void web_esc(struct buf *b, const char *s);
void web_escn(struct buf *b, const char *s, size_t n);

/* Markdown to safe HTML with cmark-gfm (tables, strikethrough, autolinks,
 * task lists, footnotes). Raw HTML: WEB_MD_CARD keeps allow-listed tags and
 * attributes (re-serialized, balanced), WEB_MD_CHAT shows it as text. Link
 * and image URLs are checked against an allow-list (http, https, mailto,
 * fragments, same-origin paths; images only same-origin or data:image);
 * headings get GitHub-style anchors. base_link/base_img, when not NULL,
 * prefix relative URLs (e.g. "/alice/x/blob/main/" and
 * "/alice/x/resolve/main/"). Appends to out. */
enum web_md_mode { WEB_MD_CARD = 0, WEB_MD_CHAT = 1 };
int web_md_render(const char *text, size_t n, enum web_md_mode mode, const char *base_link,
                  const char *base_img, struct buf *out);

/* The allow-list HTML sanitizer on its own (one fragment, balanced at the
 * end). Appends to out. */
void web_html_sanitize(const char *html, size_t n, struct buf *out);

/* 1 if next is a same-origin relative path that is safe to redirect to
 * (starts with one '/', not "//" or "/\", no scheme; printable ASCII
 * without spaces or backslashes), else 0 (SECURITY W8). */
int web_next_valid(const char *next);

/* The decoded value of name in an application/x-www-form-urlencoded body
 * ('+' is a space). *out is malloc'ed. 0, HD_ENOTFOUND, or HD_EINVAL for a
 * bad escape, a NUL or invalid UTF-8. */
int web_form_value(const char *body, size_t n, const char *name, char **out);

/* The value of cookie name in a Cookie header into out (at most out_size-1
 * bytes). 0, or HD_ENOTFOUND / HD_ETOOBIG. */
int web_cookie_get(const char *header, const char *name, char *out, size_t out_size);

#endif

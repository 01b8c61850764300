/*
 * web.c: the UI handle, its route table, the embedded assets and the
 * per-request context (who is signed in, the CSP nonce, the page buffer).
 */
#include "web/web_int.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void web_config_init(struct web_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->public_url = "http://127.0.0.1:8080";
	cfg->session_ttl_s = 7 * 24 * 3600;
}

/* ---- assets -------------------------------------------------------------------- */

static const struct web_asset *asset_find(const char *name)
{
	for (size_t i = 0; i < web_n_assets; i++)
		if (!strcmp(web_assets[i].name, name))
			return &web_assets[i];
	return NULL;
}

/* "/assets/NAME?v=HASH" for every asset, built once before the first use
 * (filling a slot on demand let a racing thread read it half-written). */
static char asset_urls[64][160];
static pthread_once_t asset_urls_once = PTHREAD_ONCE_INIT;

static void asset_urls_init(void)
{
	for (size_t i = 0; i < web_n_assets && i < ARRAY_SIZE(asset_urls); i++)
		snprintf(asset_urls[i], sizeof(asset_urls[i]), "/assets/%s?v=%s",
		         web_assets[i].name, web_assets[i].hash);
}

const char *web_asset_url(const char *name)
{
	const struct web_asset *a = asset_find(name);
	size_t i;

	pthread_once(&asset_urls_once, asset_urls_init);
	if (!a)
		return "/assets/missing";
	i = (size_t)(a - web_assets);
	if (i >= ARRAY_SIZE(asset_urls))
		return "/assets/missing";
	return asset_urls[i];
}

static void web_asset(struct http_req *req)
{
	const struct web_asset *a = asset_find(http_req_param(req, "file"));
	const char *v = http_req_query(req, "v");

	http_resp_header(req, "X-Content-Type-Options", "nosniff");
	if (!a) {
		http_respond(req, 404, "text/plain; charset=utf-8", "Not Found\n", 10);
		return;
	}
	http_resp_header(req, "Cache-Control",
	                 v && !strcmp(v, a->hash) ? "public, max-age=31536000, immutable"
	                                          : "no-cache");
	http_resp_headerf(req, "ETag", "\"%s\"", a->hash);
	http_respond(req, 200, a->content_type, a->data, a->size);
}

/* ---- the request context ---------------------------------------------------------- */

int web_ctx_begin(struct web_ctx *x, struct http_req *req)
{
	const struct web_route_data *rd = http_req_route_data(req);
	unsigned char nonce[16];
	char sid[65], token[AUTH_TOKEN_LEN + 32];
	int rc;

	memset(x, 0, sizeof(*x));
	x->w = rd->w;
	x->u = __atomic_load_n(&rd->w->urls, __ATOMIC_ACQUIRE);
	x->type = rd->type;
	x->req = req;
	buf_init(&x->out);
	auth_caller_init_anonymous(&x->c);
	rand_bytes(nonce, sizeof(nonce));
	hex_encode(x->nonce, nonce, sizeof(nonce));

	if (web_cookie_get(http_req_header(req, "Cookie"), WEB_COOKIE, sid, sizeof(sid)) == 0) {
		rc = web_session_token(x->w, sid, token, sizeof(token));
		if (rc == 0) {
			rc = hub_authenticate(x->w->cfg.hub, token, &x->c);
			OPENSSL_cleanse(token, sizeof(token));
			if (rc == 0 && x->c.user_id) {
				x->signed_in = 1;
				snprintf(x->sid, sizeof(x->sid), "%s", sid);
				web_csrf_token(x->w, sid, x->csrf);
			} else {
				/* the token behind it was revoked or expired (T3, T5) */
				auth_caller_release(&x->c);
				auth_caller_init_anonymous(&x->c);
				if (rc == HD_EAUTH || rc == 0)
					web_session_delete(x->w, sid);
				x->clear_cookie = 1;
			}
		} else {
			x->clear_cookie = 1;
		}
	}
	snprintf(x->c.ip, sizeof(x->c.ip), "%s", http_req_remote_addr(req));
	return 0;
}

void web_ctx_end(struct web_ctx *x)
{
	auth_caller_release(&x->c);
	buf_release(&x->out);
}

/* ---- routes -------------------------------------------------------------------- */

#define MB (1024u * 1024u)
#define GET (HTTP_GET | HTTP_HEAD)

struct route_spec {
	unsigned methods;
	const char *pattern;
	http_handler_fn fn;
	size_t max_body;
	int per_type; /* 1: once per repo type, with its URL prefix */
};

static const struct route_spec specs[] = {
        {GET, "/", web_home, 0, 0},
        {GET, "/assets/:file", web_asset, 0, 0},
        {GET, "/login", web_login, 0, 0},
        {HTTP_POST, "/login", web_login, 64 * 1024, 0},
        {HTTP_POST, "/logout", web_logout, 64 * 1024, 0},
        {GET, "/settings", web_settings_tokens, 0, 0},
        {GET, "/settings/tokens", web_settings_tokens, 0, 0},
        {HTTP_POST, "/settings/tokens/new", web_tokens_create, 64 * 1024, 0},
        {HTTP_POST, "/settings/tokens/revoke", web_tokens_revoke, 64 * 1024, 0},
        {GET, "/settings/repos", web_settings_repos, 0, 0},
        {GET | HTTP_POST, "/new", web_new_repo, 64 * 1024, 0},
        {GET, "/chat", web_chat, 0, 0},
        {GET, "/chat/api/models", web_chat_models, 0, 0},
        {HTTP_POST, "/chat/api/completions", web_chat_completions, 4 * MB, 0},
        {HTTP_POST, "/chat/api/markdown", web_markdown, 1 * MB, 0},
        /* listings: /models, /datasets, /spaces */
        {GET, "/:T=models|datasets|spaces", web_list, 0, 0},
        /* repo pages; the model routes (no prefix) come last */
        {GET, "/:ns/:name/tree/*tail", web_repo_tree, 0, 1},
        {GET, "/:ns/:name/blob/*tail", web_repo_blob, 0, 1},
        {GET, "/:ns/:name/commits/*tail", web_repo_commits, 0, 1},
        {GET, "/:ns/:name/api", web_repo_api, 0, 1},
        {GET | HTTP_POST, "/:ns/:name/settings", web_repo_settings, 64 * 1024, 1},
        {GET, "/:ns/:name", web_repo_page, 0, 1},
        {GET, "/:ns", web_profile, 0, 0},
};

static void add_route(struct web *w, const struct route_spec *s, const char *pattern,
                      enum hub_repo_type type, size_t *cap)
{
	struct http_route *r;

	if (w->n_routes == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		w->routes = xrealloc(w->routes, *cap * sizeof(*w->routes));
	}
	r = &w->routes[w->n_routes++];
	memset(r, 0, sizeof(*r));
	r->methods = s->methods;
	r->pattern = pattern;
	r->handle = s->fn;
	r->max_body = s->max_body;
	r->data = &w->rd[type];
}

static char *origin_of(const char *url)
{
	const char *p = strstr(url, "://");
	const char *end = p ? strchr(p + 3, '/') : NULL;

	return end ? xstrndup(url, (size_t)(end - url)) : xstrdup(url);
}

static void urls_free(struct web_urls *u)
{
	while (u) {
		struct web_urls *prev = u->prev;
		free(u->public_url);
		free(u->local_url);
		free(u->origin);
		free(u);
		u = prev;
	}
}

void web_set_urls(struct web *w, const char *public_url, const char *local_url)
{
	struct web_urls *u;
	size_t n;

	if (!w)
		return;
	u = xcalloc(1, sizeof(*u));
	u->public_url = xstrdup(public_url && *public_url ? public_url : "http://127.0.0.1:8080");
	n = strlen(u->public_url);
	while (n > 0 && u->public_url[n - 1] == '/')
		u->public_url[--n] = 0;
	u->local_url = xstrdup(local_url && *local_url ? local_url : u->public_url);
	n = strlen(u->local_url);
	while (n > 0 && u->local_url[n - 1] == '/')
		u->local_url[--n] = 0;
	u->origin = origin_of(u->public_url);
	u->secure = !strncasecmp(u->public_url, "https:", 6);
	pthread_mutex_lock(&w->mu);
	u->prev = w->urls; /* kept until web_free: a request may still read it */
	__atomic_store_n(&w->urls, u, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&w->mu);
}

int web_new(const struct web_config *cfg, struct web **out, char *err, size_t err_size)
{
	struct web *w = xcalloc(1, sizeof(*w));
	size_t cap = 0;
	int rc;

	*out = NULL;
	w->cfg = *cfg;
	w->cfg.public_url = NULL;
	w->cfg.local_url = NULL;
	if (w->cfg.session_ttl_s <= 0)
		w->cfg.session_ttl_s = 7 * 24 * 3600;
	pthread_mutex_init(&w->mu, NULL);
	web_set_urls(w, cfg->public_url, cfg->local_url);
	for (int t = 0; t < 3; t++) {
		w->rd[t].w = w;
		w->rd[t].type = (enum hub_repo_type)t;
	}
	for (size_t i = 0; i < ARRAY_SIZE(specs); i++) {
		if (!specs[i].per_type) {
			add_route(w, &specs[i], specs[i].pattern, HUB_REPO_MODEL, &cap);
			continue;
		}
		/* "/datasets" + pattern, "/spaces" + pattern, then the bare one */
		static const char *const prefixes[] = {"/datasets", "/spaces"};
		static const enum hub_repo_type types[] = {HUB_REPO_DATASET, HUB_REPO_SPACE};
		for (size_t k = 0; k < ARRAY_SIZE(prefixes); k++) {
			/* kept for the life of w: freed in web_free */
			char *pat = xasprintf("%s%s", prefixes[k], specs[i].pattern);
			add_route(w, &specs[i], pat, types[k], &cap);
		}
	}
	/* the bare model routes after every prefixed one */
	for (size_t i = 0; i < ARRAY_SIZE(specs); i++)
		if (specs[i].per_type)
			add_route(w, &specs[i], specs[i].pattern, HUB_REPO_MODEL, &cap);
	/* move the profile route (/:ns) after the model routes */
	for (size_t i = 0; i < w->n_routes; i++) {
		if (!strcmp(w->routes[i].pattern, "/:ns")) {
			struct http_route r = w->routes[i];
			memmove(&w->routes[i], &w->routes[i + 1],
			        (w->n_routes - i - 1) * sizeof(*w->routes));
			w->routes[w->n_routes - 1] = r;
			break;
		}
	}
	rc = web_session_init(w, err, err_size);
	if (rc < 0) {
		web_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void web_free(struct web *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_routes; i++) {
		const char *p = w->routes[i].pattern;
		if (!strncmp(p, "/datasets/:ns", 13) || !strncmp(p, "/spaces/:ns", 11))
			free((char *)p);
	}
	free(w->routes);
	urls_free(w->urls);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

struct web *web_attach(struct http_server *srv, struct hub *hub)
{
	struct web_config cfg;
	struct web *w;
	const struct http_route *r;
	size_t n;
	char err[256];

	web_config_init(&cfg);
	cfg.hub = hub;
	if (web_new(&cfg, &w, err, sizeof(err)) < 0) {
		log_error("web: the UI is off: %s", err);
		return NULL;
	}
	r = web_routes(w, &n);
	http_server_add_routes(srv, r, n);
	return w;
}

void web_listening(struct web *w, const char *public_url, const char *host, int port)
{
	char *local;

	if (!w)
		return;
	/* inference in another process (huddle serve --role inference, or
	 * behind a proxy): the playground relays there */
	if (getenv("HUDDLE_INFERENCE_URL") && *getenv("HUDDLE_INFERENCE_URL")) {
		web_set_urls(w, public_url, getenv("HUDDLE_INFERENCE_URL"));
		return;
	}
	if (!host || !*host || !strcmp(host, "0.0.0.0"))
		host = "127.0.0.1";
	else if (!strcmp(host, "::") || !strcmp(host, "[::]"))
		host = "::1";
	local = xasprintf(strchr(host, ':') && host[0] != '[' ? "http://[%s]:%d" : "http://%s:%d",
	                  host, port);
	web_set_urls(w, public_url, local);
	free(local);
}

const struct http_route *web_routes(struct web *w, size_t *n)
{
	*n = w->n_routes;
	return w->routes;
}

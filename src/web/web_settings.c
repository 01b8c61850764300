/*
 * web_settings.c: sign-in and sign-out, the token settings page (create,
 * list, revoke), the repository settings list and the "new repository"
 * form.
 *
 * Rights: a session has exactly the rights of the token it was opened with
 * (the hub checks every repo action). Minting and revoking tokens needs a
 * session opened with a write token that is not fine-grained, so a token can
 * never mint a broader one (SECURITY T6). Every POST goes through
 * web_check_post (Origin + CSRF token, W5); `next` must be a same-origin
 * path (W8).
 */
#include "web/web_int.h"
#include "store/store.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SCOPES 100

static void login_redirect(struct web_ctx *x)
{
	struct buf b = BUF_INIT, next = BUF_INIT;
	const char *q = http_req_query_string(x->req);

	buf_puts(&next, http_req_path(x->req));
	if (q && *q) {
		buf_putc(&next, '?');
		buf_puts(&next, q);
	}
	buf_puts(&b, "/login?next=");
	web_url_enc(&b, web_next_valid(next.data) ? next.data : "/", 0);
	web_redirect(x, b.data);
	buf_release(&b);
	buf_release(&next);
}

/* ---- sign-in / sign-out ---------------------------------------------------------- */

#define LOGIN_WINDOW_MS 60000
#define LOGIN_MAX_FAILS 10

/* The slot of ip (a small hash table; two addresses that collide share a
 * budget, which only makes the limit stricter). Call under w->mu. */
static struct web_login_slot *login_slot(struct web *w, const char *ip)
{
	uint32_t h = 2166136261u;
	for (const char *p = ip; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	struct web_login_slot *s = &w->login[h % WEB_LOGIN_SLOTS];
	int64_t now = time_now_ms();
	if (strcmp(s->ip, ip) != 0 || now - s->window_ms > LOGIN_WINDOW_MS) {
		snprintf(s->ip, sizeof(s->ip), "%s", ip);
		s->window_ms = now;
		s->fails = 0;
	}
	return s;
}

static int login_limited(struct web *w, const char *ip)
{
	int limited;
	pthread_mutex_lock(&w->mu);
	limited = login_slot(w, ip)->fails >= LOGIN_MAX_FAILS;
	pthread_mutex_unlock(&w->mu);
	return limited;
}

static void login_failed(struct web *w, const char *ip)
{
	pthread_mutex_lock(&w->mu);
	login_slot(w, ip)->fails++;
	pthread_mutex_unlock(&w->mu);
}

static void login_form(struct web_ctx *x, int status, const char *error, const char *next)
{
	struct buf *b = &x->out;

	web_page_begin(x, "Sign in", NULL);
	buf_puts(b, "<section class=\"narrow\"><h1>Sign in</h1>");
	if (error)
		web_html(b, "<p class=\"error-msg\" role=\"alert\">%s</p>", error);
	buf_puts(b, "<p>Sign in with an access token. An administrator creates one with "
	            "<code>huddle token create --user NAME</code>; once signed in you can make "
	            "more under Settings. Read tokens browse private repos, write tokens can also "
	            "create repositories and tokens.</p>"
	            "<form method=\"post\" action=\"/login\" class=\"stack\">");
	web_html(b, "<input type=\"hidden\" name=\"next\" value=\"%s\">",
	         next && web_next_valid(next) ? next : "/");
	buf_puts(b, "<label>Access token<input type=\"password\" name=\"token\" id=\"hd-token\" "
	            "autocomplete=\"off\" required placeholder=\"hf_...\"></label>"
	            "<button type=\"submit\">Sign in</button></form></section>");
	web_page_end(x, status, NULL, 0);
}

void web_login(struct http_req *req)
{
	struct web_ctx x;
	struct auth_caller c;
	const char *next, *token;
	char tok[AUTH_TOKEN_LEN + 8], sid[65];
	size_t n;
	int rc;

	web_ctx_begin(&x, req);
	if (http_req_method(req) != HTTP_POST) {
		next = http_req_query(req, "next");
		if (x.signed_in) {
			web_redirect(&x, next && web_next_valid(next) ? next : "/");
		} else {
			login_form(&x, 200, NULL, next);
		}
		goto out;
	}
	if (web_check_post(&x) < 0)
		goto out;
	next = web_form(&x, "next");
	if (!next || !web_next_valid(next))
		next = "/";
	if (login_limited(x.w, http_req_remote_addr(req))) {
		log_warn("web: too many failed sign-ins from %s", http_req_remote_addr(req));
		http_resp_header(req, "Retry-After", "60");
		login_form(&x, 429, "Too many failed attempts. Wait a minute and try again.", next);
		goto out;
	}
	token = web_form(&x, "token");
	if (!token)
		token = "";
	while (isspace((unsigned char)*token))
		token++;
	n = strlen(token);
	while (n && isspace((unsigned char)token[n - 1]))
		n--;
	if (n == 0 || n >= sizeof(tok)) {
		if (n)
			login_failed(x.w, http_req_remote_addr(req));
		login_form(&x, n ? 401 : 400, n ? "Invalid token." : "Enter a token.", next);
		goto out;
	}
	memcpy(tok, token, n);
	tok[n] = 0;
	auth_caller_init_anonymous(&c);
	rc = hub_authenticate(x.w->cfg.hub, tok, &c);
	if (rc < 0 || !c.user_id) {
		auth_caller_release(&c);
		OPENSSL_cleanse(tok, sizeof(tok));
		log_info("web: sign-in refused (request %s)", http_req_id(req));
		login_failed(x.w, http_req_remote_addr(req));
		login_form(&x, 401, "Invalid token.", next);
		goto out;
	}
	/* a fresh session id on every sign-in (no fixation) */
	if (x.sid[0])
		web_session_delete(x.w, x.sid);
	rc = web_session_create(x.w, tok, c.user, sid);
	OPENSSL_cleanse(tok, sizeof(tok));
	if (rc < 0) {
		auth_caller_release(&c);
		web_hub_error(&x, rc, NULL);
		goto out;
	}
	auth_audit(hub_store(x.w->cfg.hub), c.user, "web.signin", c.token_prefix,
	           http_req_remote_addr(req));
	auth_caller_release(&c);
	x.clear_cookie = 0;
	web_cookie_set(&x, sid);
	web_redirect(&x, next);
out:
	web_ctx_end(&x);
}

void web_logout(struct http_req *req)
{
	struct web_ctx x;
	const char *next;

	web_ctx_begin(&x, req);
	if (web_check_post(&x) < 0)
		goto out;
	next = web_form(&x, "next");
	if (!next)
		next = http_req_query(req, "next");
	if (!next || !web_next_valid(next))
		next = "/";
	if (x.signed_in) {
		web_session_delete(x.w, x.sid);
		auth_audit(hub_store(x.w->cfg.hub), x.c.user, "web.signout", "",
		           http_req_remote_addr(req));
	}
	x.clear_cookie = 1;
	web_redirect(&x, next);
out:
	web_ctx_end(&x);
}

/* ---- tokens ------------------------------------------------------------------------- */

static int may_manage_tokens(const struct web_ctx *x)
{
	return x->signed_in && x->c.token_role == AUTH_ROLE_WRITE && !x->c.scopes;
}

static void settings_nav(struct web_ctx *x, const char *active)
{
	web_html(&x->out,
	         "<nav class=\"subnav\"><a href=\"/settings/tokens\"%s>Access tokens</a>"
	         "<a href=\"/settings/repos\"%s>Repositories</a><a href=\"/new\">New "
	         "repository</a></nav>",
	         !strcmp(active, "tokens") ? " class=\"active\"" : "",
	         !strcmp(active, "repos") ? " class=\"active\"" : "");
}

static void tokens_page(struct web_ctx *x, int status, const char *new_token, const char *error)
{
	struct auth_token_info *list = NULL;
	size_t n = 0;
	char err[256];
	struct buf *b = &x->out;
	int64_t now = time_now_ms();

	web_page_begin(x, "Access tokens", "settings");
	buf_puts(b, "<section class=\"settings\">");
	settings_nav(x, "tokens");
	web_html(b,
	         "<h1>Access tokens</h1><p class=\"muted\">Signed in as <strong>%s</strong> "
	         "with token <code>%s</code> (%s%s).</p>",
	         x->c.user, x->c.token_prefix, auth_role_name(x->c.token_role),
	         x->c.scopes ? ", fine-grained" : "");
	if (error)
		web_html(b, "<p class=\"error-msg\" role=\"alert\">%s</p>", error);
	if (new_token) {
		web_html(b,
		         "<div class=\"new-token\" role=\"status\"><p>Your new token. Copy it now: "
		         "it is not shown again.</p><code id=\"hd-new-token\">%s</code> <button "
		         "type=\"button\" class=\"copy\" "
		         "data-copy=\"hd-new-token\">Copy</button></div>",
		         new_token);
	}
	if (auth_token_list(hub_store(x->w->cfg.hub), x->c.user, &list, &n, err, sizeof(err)) < 0) {
		web_html(b, "<p class=\"error-msg\">%s</p>", err);
		n = 0;
	}
	buf_puts(b,
	         "<table class=\"tokens\"><thead><tr><th>Name</th><th>Prefix</th><th>Role</th>"
	         "<th>Scope</th><th>Created</th><th>Last used</th><th>Expires</th><th>Status</th>"
	         "<th></th></tr></thead><tbody>");
	for (size_t i = n; i-- > 0;) {
		const struct auth_token_info *t = &list[i];
		int live = !t->revoked_ms && (!t->expires_ms || t->expires_ms > now);
		web_html(
		        b,
		        "<tr data-token-id=\"%lld\"><td>%s</td><td><code>%s</code></td><td>%s</td>",
		        (long long)t->id, t->name[0] ? t->name : "(unnamed)", t->prefix,
		        auth_role_name(t->role));
		web_html(b, "<td>%s</td><td>", t->scopes ? t->scopes : "all repositories");
		web_put_date(b, t->created_ms);
		buf_puts(b, "</td><td>");
		if (t->last_used_ms)
			web_put_date(b, t->last_used_ms);
		else
			buf_puts(b, "never");
		buf_puts(b, "</td><td>");
		if (t->expires_ms)
			web_put_date(b, t->expires_ms);
		else
			buf_puts(b, "never");
		web_html(b, "</td><td class=\"status\">%s</td><td>",
		         t->revoked_ms ? "revoked"
		         : live        ? "active"
		                       : "expired");
		if (live && may_manage_tokens(x)) {
			buf_puts(b, "<form method=\"post\" action=\"/settings/tokens/revoke\">");
			web_put_csrf(x);
			web_html(b,
			         "<input type=\"hidden\" name=\"id\" value=\"%lld\"><button "
			         "type=\"submit\" class=\"danger small\">Revoke</button></form>",
			         (long long)t->id);
		}
		buf_puts(b, "</td></tr>");
	}
	buf_puts(b, "</tbody></table>");
	auth_token_list_free(list, n);

	buf_puts(b, "<h2>Create a token</h2>");
	if (!may_manage_tokens(x)) {
		buf_puts(b,
		         "<p class=\"muted\">This session was opened with a read or fine-grained "
		         "token, which cannot create or revoke tokens. Sign in with a write token "
		         "to manage tokens.</p>");
	} else {
		buf_puts(b, "<form method=\"post\" action=\"/settings/tokens/new\" class=\"stack\" "
		            "id=\"hd-token-form\">");
		web_put_csrf(x);
		buf_puts(b,
		         "<label>Name<input type=\"text\" name=\"name\" maxlength=\"100\" "
		         "required></label>"
		         "<label>Role<select name=\"role\"><option value=\"read\">read</option>"
		         "<option value=\"write\">write</option></select></label>"
		         "<label>Repositories (optional, fine-grained)<input type=\"text\" "
		         "name=\"repos\" placeholder=\"alice/model, datasets/alice/data\"></label>"
		         "<label>Expires after days (0 = never)<input type=\"number\" "
		         "name=\"expires_days\" min=\"0\" max=\"3650\" value=\"0\"></label>"
		         "<button type=\"submit\">Create token</button></form>");
	}
	buf_puts(b, "</section>");
	web_page_end(x, status, NULL, 0);
}

void web_settings_tokens(struct http_req *req)
{
	struct web_ctx x;

	web_ctx_begin(&x, req);
	if (!x.signed_in)
		login_redirect(&x);
	else
		tokens_page(&x, 200, NULL, NULL);
	web_ctx_end(&x);
}

/* "alice/x, datasets/alice/y" into repo keys "model/alice/x", ... */
static int parse_scopes(struct web_ctx *x, const char *s, const char **out, size_t *n_out)
{
	char *copy = http_req_strdup(x->req, s ? s : ""), *save = NULL, *tok;
	size_t n = 0;

	for (tok = strtok_r(copy, ", \t\r\n", &save); tok;
	     tok = strtok_r(NULL, ", \t\r\n", &save)) {
		const char *kind = "model";
		char *ns = tok, *name;
		if (!strncmp(tok, "datasets/", 9)) {
			kind = "dataset";
			ns = tok + 9;
		} else if (!strncmp(tok, "spaces/", 7)) {
			kind = "space";
			ns = tok + 7;
		} else if (!strncmp(tok, "models/", 7)) {
			ns = tok + 7;
		}
		name = strchr(ns, '/');
		if (!name)
			return HD_EINVAL;
		*name++ = 0;
		if (!auth_name_valid(ns) || !auth_name_valid(name) || n == MAX_SCOPES)
			return HD_EINVAL;
		char *key = http_req_printf(x->req, "%s/%s/%s", kind, ns, name);
		for (char *p = key; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		out[n++] = key;
	}
	*n_out = n;
	return 0;
}

void web_tokens_create(struct http_req *req)
{
	struct web_ctx x;
	const char *name, *role_s, *days_s;
	const char *scopes[MAX_SCOPES];
	size_t n_scopes = 0;
	enum auth_role role;
	int64_t days = 0, id = 0;
	char tok[AUTH_TOKEN_LEN + 1], err[256];
	int rc;

	web_ctx_begin(&x, req);
	if (!x.signed_in) {
		if (web_check_post(&x) == 0)
			login_redirect(&x);
		goto out;
	}
	if (web_check_post(&x) < 0)
		goto out;
	if (!may_manage_tokens(&x)) {
		web_error_page(&x, 403, "Not allowed",
		               "A read or fine-grained token cannot create tokens.");
		goto out;
	}
	name = web_form(&x, "name");
	role_s = web_form(&x, "role");
	days_s = web_form(&x, "expires_days");
	if (!name || !*name || strlen(name) > 100) {
		tokens_page(&x, 400, NULL, "Give the token a name (at most 100 characters).");
		goto out;
	}
	if (!role_s || auth_role_parse(role_s, &role) < 0 ||
	    (role != AUTH_ROLE_READ && role != AUTH_ROLE_WRITE)) {
		tokens_page(&x, 400, NULL, "The role must be read or write.");
		goto out;
	}
	if (days_s && *days_s && (str_to_i64(days_s, &days) < 0 || days < 0 || days > 3650)) {
		tokens_page(&x, 400, NULL, "Expiry must be a number of days from 0 to 3650.");
		goto out;
	}
	if (parse_scopes(&x, web_form(&x, "repos"), scopes, &n_scopes) < 0) {
		tokens_page(&x, 400, NULL,
		            "Repositories must be written as owner/name or datasets/owner/name, "
		            "separated by commas.");
		goto out;
	}
	rc = auth_token_create(hub_store(x.w->cfg.hub), x.c.user, role, scopes, n_scopes,
	                       days ? time_now_ms() + days * 86400000 : 0, name, tok, &id, err,
	                       sizeof(err));
	if (rc < 0) {
		tokens_page(&x, rc == HD_EINVAL ? 400 : 500, NULL, err);
		goto out;
	}
	{
		char target[64];
		snprintf(target, sizeof(target), "token %lld", (long long)id);
		auth_audit(hub_store(x.w->cfg.hub), x.c.user, "web.token.create", target,
		           http_req_remote_addr(req));
	}
	tokens_page(&x, 200, tok, NULL);
	OPENSSL_cleanse(tok, sizeof(tok));
out:
	web_ctx_end(&x);
}

void web_tokens_revoke(struct http_req *req)
{
	struct web_ctx x;
	struct auth_token_info *list = NULL;
	size_t n = 0;
	const char *id_s;
	int64_t id;
	char err[256];
	int found = 0;

	web_ctx_begin(&x, req);
	if (!x.signed_in) {
		if (web_check_post(&x) == 0)
			login_redirect(&x);
		goto out;
	}
	if (web_check_post(&x) < 0)
		goto out;
	if (!may_manage_tokens(&x)) {
		web_error_page(&x, 403, "Not allowed",
		               "A read or fine-grained token cannot revoke tokens.");
		goto out;
	}
	id_s = web_form(&x, "id");
	if (!id_s || str_to_i64(id_s, &id) < 0) {
		web_error_page(&x, 400, "Bad request", "Which token?");
		goto out;
	}
	/* only the user's own tokens (V7) */
	if (auth_token_list(hub_store(x.w->cfg.hub), x.c.user, &list, &n, err, sizeof(err)) == 0)
		for (size_t i = 0; i < n; i++)
			found |= list[i].id == id;
	auth_token_list_free(list, n);
	if (!found) {
		web_error_page(&x, 404, "Not found", "No such token.");
		goto out;
	}
	if (auth_token_revoke(hub_store(x.w->cfg.hub), id_s, err, sizeof(err)) < 0) {
		tokens_page(&x, 400, NULL, err);
		goto out;
	}
	auth_audit(hub_store(x.w->cfg.hub), x.c.user, "web.token.revoke",
	           http_req_printf(req, "token %lld", (long long)id), http_req_remote_addr(req));
	web_redirect(&x, "/settings/tokens");
out:
	web_ctx_end(&x);
}

/* ---- repositories ---------------------------------------------------------------------- */

static void repo_rows(struct web_ctx *x, enum hub_repo_type type, const char *author)
{
	struct hub_list_query q;
	struct hub_repo_list l;
	struct hub_err e;
	struct buf *b = &x->out;

	memset(&q, 0, sizeof(q));
	memset(&l, 0, sizeof(l));
	q.type = type;
	q.author = author;
	q.sort = HUB_SORT_LAST_MODIFIED;
	q.limit = 1000;
	if (hub_repo_list(x->w->cfg.hub, &x->c, &q, &l, &e) < 0)
		return;
	for (size_t i = 0; i < l.n; i++) {
		const struct hub_repo *r = &l.items[i];
		web_html(b, "<tr><td><a href=\"%s\">%s</a></td><td>%s</td><td>%s</td><td>",
		         web_repo_path(x, r->type, r->id), r->id, hub_repo_type_name(r->type),
		         r->is_private ? "private" : "public");
		web_html(b, "<form method=\"post\" action=\"%s\">",
		         web_repo_sub(x, r->type, r->id, "settings", NULL, NULL));
		web_put_csrf(x);
		web_html(
		        b,
		        "<input type=\"hidden\" name=\"action\" value=\"visibility\">"
		        "<input type=\"hidden\" name=\"visibility\" value=\"%s\">"
		        "<button type=\"submit\" class=\"small\">Make %s</button></form></td></tr>",
		        r->is_private ? "public" : "private", r->is_private ? "public" : "private");
	}
	hub_repo_list_release(&l);
}

void web_settings_repos(struct http_req *req)
{
	struct web_ctx x;
	struct buf *b;

	web_ctx_begin(&x, req);
	b = &x.out;
	if (!x.signed_in) {
		login_redirect(&x);
		goto out;
	}
	web_page_begin(&x, "Repositories", "settings");
	buf_puts(b, "<section class=\"settings\">");
	settings_nav(&x, "repos");
	buf_puts(b, "<h1>Repositories</h1><table class=\"repos\"><thead><tr><th>Repository</th>"
	            "<th>Type</th><th>Visibility</th><th></th></tr></thead><tbody>");
	repo_rows(&x, HUB_REPO_MODEL, x.c.user);
	repo_rows(&x, HUB_REPO_DATASET, x.c.user);
	for (size_t i = 0; i < x.c.n_orgs; i++) {
		if (x.c.orgs[i].role < AUTH_ROLE_WRITE)
			continue;
		repo_rows(&x, HUB_REPO_MODEL, x.c.orgs[i].org);
		repo_rows(&x, HUB_REPO_DATASET, x.c.orgs[i].org);
	}
	buf_puts(b, "</tbody></table></section>");
	web_page_end(&x, 200, NULL, 0);
out:
	web_ctx_end(&x);
}

static void new_repo_form(struct web_ctx *x, int status, const char *error)
{
	struct buf *b = &x->out;

	web_page_begin(x, "New repository", "settings");
	buf_puts(b, "<section class=\"settings narrow\">");
	settings_nav(x, "new");
	buf_puts(b, "<h1>Create a new repository</h1>");
	if (error)
		web_html(b, "<p class=\"error-msg\" role=\"alert\">%s</p>", error);
	buf_puts(b, "<form method=\"post\" action=\"/new\" class=\"stack\" id=\"hd-new-repo\">");
	web_put_csrf(x);
	buf_puts(b, "<label>Type<select name=\"type\"><option value=\"model\">Model</option>"
	            "<option value=\"dataset\">Dataset</option></select></label>"
	            "<label>Owner<select name=\"owner\">");
	web_html(b, "<option>%s</option>", x->c.user);
	for (size_t i = 0; i < x->c.n_orgs; i++)
		if (x->c.orgs[i].role >= AUTH_ROLE_WRITE)
			web_html(b, "<option>%s</option>", x->c.orgs[i].org);
	buf_puts(b, "</select></label><label>Name<input type=\"text\" name=\"name\" required "
	            "maxlength=\"96\" pattern=\"[A-Za-z0-9][A-Za-z0-9._\\-]*\"></label>"
	            "<fieldset><legend>Visibility</legend><label class=\"radio\"><input "
	            "type=\"radio\" name=\"visibility\" value=\"public\" checked> Public</label>"
	            "<label class=\"radio\"><input type=\"radio\" name=\"visibility\" "
	            "value=\"private\"> Private</label></fieldset>"
	            "<button type=\"submit\">Create repository</button></form></section>");
	web_page_end(x, status, NULL, 0);
}

void web_new_repo(struct http_req *req)
{
	struct web_ctx x;
	struct hub_repo_ref ref;
	struct hub_repo out;
	struct hub_err e;
	const char *type_s, *vis;
	int rc;

	web_ctx_begin(&x, req);
	if (!x.signed_in) {
		if (http_req_method(req) != HTTP_POST || web_check_post(&x) == 0)
			login_redirect(&x);
		goto done;
	}
	if (http_req_method(req) != HTTP_POST) {
		new_repo_form(&x, 200, NULL);
		goto done;
	}
	if (web_check_post(&x) < 0)
		goto done;
	memset(&ref, 0, sizeof(ref));
	memset(&out, 0, sizeof(out));
	memset(&e, 0, sizeof(e));
	type_s = web_form(&x, "type");
	if (hub_repo_type_parse(type_s, &ref.type) < 0 || ref.type == HUB_REPO_SPACE) {
		new_repo_form(&x, 400, "Pick a model or a dataset.");
		goto done;
	}
	ref.ns = web_form(&x, "owner");
	ref.name = web_form(&x, "name");
	vis = web_form(&x, "visibility");
	if (!ref.ns || !ref.name || !*ref.name) {
		new_repo_form(&x, 400, "Give the repository an owner and a name.");
		goto done;
	}
	rc = hub_repo_create(x.w->cfg.hub, &x.c, &ref, vis && !strcmp(vis, "private"), NULL, &out,
	                     &e);
	if (rc < 0) {
		new_repo_form(&x,
		              rc == HD_EEXIST  ? 409
		              : rc == HD_EPERM ? 403
		                               : 400,
		              rc == HD_EEXIST ? "A repository of that name already exists."
		              : e.msg[0]      ? e.msg
		                              : hd_strerror(rc));
		goto done;
	}
	web_redirect(&x, web_repo_path(&x, out.type, out.id));
	hub_repo_release(&out);
done:
	web_ctx_end(&x);
}

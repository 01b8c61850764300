/*
 * api_common.c: what every handler needs (authentication from the headers,
 * the error shape and status map, repo names from the route, revision/path
 * splitting, absolute URLs and Link pagination, JSON helpers) and the route
 * table that wires the handlers onto the http router.
 */
#include "api/api_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

const enum hub_repo_type api_type_model = HUB_REPO_MODEL;
const enum hub_repo_type api_type_dataset = HUB_REPO_DATASET;
const enum hub_repo_type api_type_space = HUB_REPO_SPACE;

static const char bad_token_msg[] = "Invalid credentials in Authorization header";

void api_config_init(struct api_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->public_url = "http://127.0.0.1:8080";
	cfg->tmp_dir = "/tmp";
	cfg->tree_page_size = 1000;
	cfg->list_page_size = 1000;
	cfg->max_push_size = (int64_t)8 << 30;
	cfg->href_ttl_s = 24 * 3600;
	cfg->git_path = "/usr/local/bin:/usr/bin:/bin";
}

struct api_config *api_cfg(struct http_req *req)
{
	return http_req_app(req);
}

/* ---- authentication ------------------------------------------------------- */

void api_fail_bad_token(struct http_req *req, int git)
{
	if (git) {
		http_resp_header(req, "WWW-Authenticate", "Basic realm=\"huddle\"");
		http_resp_header(req, "LFS-Authenticate", "Basic realm=\"huddle\"");
	}
	http_respond_error(req, 401, NULL, "%s", bad_token_msg);
}

/* The token in an Authorization header: "Bearer T", or "Basic b64(user:T)"
 * (git, git-lfs: the token is the password; a token given as the user name
 * with an empty password is accepted too). *tok is request memory; NULL
 * with rc 0 when there is no credential; < 0 when the header is malformed. */
static int token_from_header(struct http_req *req, const char *h, const char **tok)
{
	*tok = NULL;
	while (*h == ' ')
		h++;
	if (!*h)
		return 0;
	if (!strncasecmp(h, "Bearer ", 7)) {
		h += 7;
		while (*h == ' ')
			h++;
		*tok = http_req_strdup(req, h);
		return 0;
	}
	if (!strncasecmp(h, "Basic ", 6)) {
		unsigned char *dec;
		size_t n;
		char *colon, *t;
		h += 6;
		while (*h == ' ')
			h++;
		if (api_base64_decode(h, strlen(h), &dec, &n) < 0 || memchr(dec, 0, n)) {
			free(dec);
			return HD_EINVAL;
		}
		colon = strchr((char *)dec, ':');
		if (!colon) {
			free(dec);
			return HD_EINVAL;
		}
		*colon = 0;
		t = colon[1] ? colon + 1 : (char *)dec;
		*tok = *t ? http_req_strdup(req, t) : NULL;
		free(dec);
		return 0;
	}
	return HD_EINVAL;
}

int api_auth(struct http_req *req, struct auth_caller *c, int git)
{
	const char *h = http_req_header(req, "Authorization");
	const char *tok = NULL;
	int rc;

	auth_caller_init_anonymous(c);
	if (h && token_from_header(req, h, &tok) < 0) {
		api_fail_bad_token(req, git);
		return HD_EAUTH;
	}
	rc = hub_authenticate(api_cfg(req)->hub, tok, c);
	if (rc < 0) {
		auth_caller_release(c);
		auth_caller_init_anonymous(c);
		if (rc == HD_EAUTH) {
			api_fail_bad_token(req, git);
		} else {
			log_error("api: authentication failed: %s (request %s)", hd_strerror(rc),
			          http_req_id(req));
			http_respond_error(req, 500, NULL, "Internal error");
		}
		return rc;
	}
	snprintf(c->ip, sizeof(c->ip), "%s", http_req_remote_addr(req));
	return 0;
}

static void ctx_release(void *arg, int completed)
{
	struct api_ctx *x = arg;
	(void)completed;
	auth_caller_release(&x->c);
}

struct api_ctx *api_begin(struct http_req *req, int git, int repo)
{
	struct api_ctx *x = http_req_alloc(req, sizeof(*x));
	x->cfg = api_cfg(req);
	auth_caller_init_anonymous(&x->c);
	http_req_defer(req, ctx_release, x);
	if (api_auth(req, &x->c, git) < 0)
		return NULL;
	if (repo && api_repo_ref(req, &x->ref) < 0)
		return NULL;
	return x;
}

/* ---- errors --------------------------------------------------------------- */

int api_status_of(int rc)
{
	switch (rc) {
	case HD_EINVAL: return 400;
	case HD_EAUTH: return 401;
	case HD_EPERM: return 403;
	case HD_ENOTFOUND: return 404;
	case HD_EEXIST: return 409;
	case HD_ECONFLICT: return 409;
	case HD_ETOOBIG: return 413;
	case HD_ECORRUPT: return 400;
	case HD_EUNSUPPORTED: return 400;
	default: return 500;
	}
}

void api_fail(struct http_req *req, const struct auth_caller *c, int rc, const struct hub_err *e)
{
	int status = api_status_of(rc);
	const char *code = e && e->code[0] ? e->code : NULL;
	const char *msg = e && e->msg[0] ? e->msg : hd_strerror(rc);

	if (status == 403 && c && c->user_id == 0) {
		http_respond_error(req, 401, NULL, "You must be authenticated to do this: %s", msg);
		return;
	}
	if (status == 404 && !code)
		code = NULL;
	if (status >= 500) {
		log_error("api: %s %s: %s (request %s)", http_req_method_name(req),
		          http_req_path(req), msg, http_req_id(req));
		http_respond_error(req, status, NULL, "Internal error (request %s)",
		                   http_req_id(req));
		return;
	}
	http_respond_error(req, status, code, "%s", msg);
}

/* ---- names from the route ---------------------------------------------------- */

int api_repo_ref(struct http_req *req, struct hub_repo_ref *ref)
{
	const char *t = http_req_param(req, "T");
	const char *ns = http_req_param(req, "ns");
	const char *name = http_req_param(req, "name");
	const enum hub_repo_type *rt = http_req_route_data(req);

	memset(ref, 0, sizeof(*ref));
	if (t) {
		if (hub_repo_type_parse(t, &ref->type) < 0) {
			http_respond_error(req, 404, NULL, "Not Found");
			return HD_ENOTFOUND;
		}
	} else {
		ref->type = rt ? *rt : HUB_REPO_MODEL;
	}
	if (!ns || !name) {
		http_respond_error(req, 404, "RepoNotFound", "Repository not found");
		return HD_ENOTFOUND;
	}
	if (str_ends_with(name, ".git") && strlen(name) > 4)
		name = http_req_printf(req, "%.*s", (int)(strlen(name) - 4), name);
	ref->ns = ns;
	ref->name = name;
	return 0;
}

char *api_decode_tail(struct http_req *req, const char *raw)
{
	char **segs;
	size_t n;
	struct buf b = BUF_INIT;
	char *out;

	if (http_path_segments(raw, &segs, &n) < 0) {
		http_respond_error(req, 400, NULL, "Invalid path: bad percent-encoding or UTF-8");
		return NULL;
	}
	buf_puts(&b, "");
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(&b, '/');
		buf_puts(&b, segs[i]);
	}
	free(segs);
	out = http_req_strdup(req, b.data);
	buf_release(&b);
	return out;
}

int api_split_rev_path(struct http_req *req, const struct auth_caller *c,
                       const struct hub_repo_ref *ref, const char *tail, char **rev, char **path)
{
	struct hub_err e = {{0}, {0}};
	size_t rev_len = 0;
	int rc;

	*rev = *path = NULL;
	if (!*tail) {
		http_respond_error(req, 404, "RevisionNotFound", "Invalid revision: empty");
		return HD_ENOTFOUND;
	}
	rc = hub_rev_split(api_cfg(req)->hub, c, ref, tail, &rev_len, &e);
	if (rc < 0) {
		api_fail(req, c, rc, &e);
		return rc;
	}
	if (rev_len == 0 || rev_len > strlen(tail)) {
		http_respond_error(req, 404, "RevisionNotFound", "Invalid revision");
		return HD_ENOTFOUND;
	}
	*rev = http_req_printf(req, "%.*s", (int)rev_len, tail);
	*path = http_req_strdup(req, tail[rev_len] == '/' ? tail + rev_len + 1 : "");
	return 0;
}

static void json_release(void *arg, int completed)
{
	(void)completed;
	json_decref(arg);
}

json_t *api_json_body(struct http_req *req)
{
	size_t n;
	const char *body = http_req_body(req, &n);
	json_error_t jerr;
	json_t *j;

	if (n == 0) {
		http_respond_error(req, 400, NULL, "Expected a JSON body");
		return NULL;
	}
	j = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!j) {
		http_respond_error(req, 400, NULL, "Malformed JSON body: %s", jerr.text);
		return NULL;
	}
	http_req_defer(req, json_release, j);
	if (!json_is_object(j)) {
		http_respond_error(req, 400, NULL, "Expected a JSON object");
		return NULL;
	}
	return j;
}

json_t *api_json_body_or_empty(struct http_req *req)
{
	size_t n;
	json_t *j;
	http_req_body(req, &n);
	if (n)
		return api_json_body(req);
	j = json_object();
	http_req_defer(req, json_release, j);
	return j;
}

/* ---- JSON helpers ---------------------------------------------------------------- */

json_t *api_jstr(const char *s)
{
	json_t *j;
	char *copy;
	if (!s)
		s = "";
	j = json_string(s);
	if (j)
		return j;
	/* Not UTF-8: keep ASCII, replace the rest. */
	copy = xstrdup(s);
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j ? j : json_string("");
}

json_t *api_jstr_or_null(const char *s)
{
	return s ? api_jstr(s) : json_null();
}

json_t *api_jdate(int64_t ms)
{
	char ts[32];
	time_iso8601(ts, ms);
	return json_string(ts);
}

/* ---- URLs ----------------------------------------------------------------------- */

char *api_repo_url(struct http_req *req, enum hub_repo_type type, const char *id)
{
	struct buf b = BUF_INIT;
	char *out;
	buf_printf(&b, "%s/%s", api_cfg(req)->public_url, hub_repo_type_prefix(type));
	http_pct_encode(&b, id, 1);
	out = http_req_strdup(req, b.data);
	buf_release(&b);
	return out;
}

/* Appends n bytes of a raw query parameter, percent-encoding whatever may
 * not stand in a URI (a '>' or '"' would end the Link value early and let
 * the request forge a second link). */
static void append_query_part(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("-._~!$&'()*+,;=:@/?%", c)) {
			buf_putc(b, (char)c);
		} else {
			buf_putc(b, '%');
			buf_putc(b, hex[c >> 4]);
			buf_putc(b, hex[c & 15]);
		}
	}
}

void api_link_next(struct http_req *req, const char *cursor)
{
	struct buf b = BUF_INIT;
	const char *q = http_req_query_string(req);
	int first = 1;

	buf_printf(&b, "<%s%s?", api_cfg(req)->public_url, http_req_path(req));
	/* Keep every parameter as sent, except the old cursor. */
	while (*q) {
		size_t n = strcspn(q, "&");
		if (n && !(n >= 7 && !strncmp(q, "cursor=", 7)) &&
		    !(n == 6 && !strncmp(q, "cursor", 6))) {
			if (!first)
				buf_putc(&b, '&');
			append_query_part(&b, q, n);
			first = 0;
		}
		q += n;
		if (*q == '&')
			q++;
	}
	if (!first)
		buf_putc(&b, '&');
	buf_puts(&b, "cursor=");
	http_pct_encode(&b, cursor, 0);
	buf_puts(&b, ">; rel=\"next\"");
	http_resp_header(req, "Link", b.data);
	buf_release(&b);
}

/* ---- query helpers ----------------------------------------------------------------- */

size_t api_query_list(struct http_req *req, const char *name, const char **out, size_t max)
{
	char bracket[64];
	size_t n = http_req_query_all(req, name, out, max);
	snprintf(bracket, sizeof(bracket), "%s[]", name);
	n += http_req_query_all(req, bracket, n < max ? out + n : NULL, n < max ? max - n : 0);
	return n;
}

int api_query_has(struct http_req *req, const char *name, const char *value)
{
	const char *v[64];
	size_t n = api_query_list(req, name, v, ARRAY_SIZE(v));
	for (size_t i = 0; i < n && i < ARRAY_SIZE(v); i++)
		if (!strcmp(v[i], value))
			return 1;
	return 0;
}

int api_query_size(struct http_req *req, const char *name, size_t def, size_t *out)
{
	const char *v = http_req_query(req, name);
	int64_t x;
	*out = def;
	if (!v || !*v)
		return 0;
	if (str_to_i64(v, &x) < 0 || x < 0) {
		http_respond_error(req, 400, NULL, "Invalid '%s': expected a non-negative integer",
		                   name);
		return HD_EINVAL;
	}
	*out = (size_t)x;
	return 0;
}

/* ---- shared serializers ------------------------------------------------------------- */

static json_t *gated_json(enum hub_gated g)
{
	switch (g) {
	case HUB_GATED_AUTO: return json_string("auto");
	case HUB_GATED_MANUAL: return json_string("manual");
	default: return json_false();
	}
}

json_t *api_repo_json(struct http_req *req, const struct hub_repo *r)
{
	json_t *j = json_object();
	json_t *tags = json_array();
	(void)req;

	json_object_set_new(j, "_id", json_string(r->uid));
	json_object_set_new(j, "id", api_jstr(r->id));
	if (r->type == HUB_REPO_MODEL)
		json_object_set_new(j, "modelId", api_jstr(r->id));
	json_object_set_new(j, "author", api_jstr(r->ns));
	if (r->sha[0])
		json_object_set_new(j, "sha", json_string(r->sha));
	json_object_set_new(j, "private", json_boolean(r->is_private));
	json_object_set_new(j, "gated", gated_json(r->gated));
	json_object_set_new(j, "disabled", json_false());
	json_object_set_new(j, "downloads", json_integer(r->downloads));
	json_object_set_new(j, "likes", json_integer(r->likes));
	json_object_set_new(j, "lastModified", api_jdate(r->last_modified_ms));
	json_object_set_new(j, "createdAt", api_jdate(r->created_ms));
	for (size_t i = 0; i < r->n_tags; i++)
		json_array_append_new(tags, api_jstr(r->tags[i]));
	json_object_set_new(j, "tags", tags);
	if (r->pipeline_tag)
		json_object_set_new(j, "pipeline_tag", api_jstr(r->pipeline_tag));
	if (r->library_name)
		json_object_set_new(j, "library_name", api_jstr(r->library_name));
	if (r->type == HUB_REPO_SPACE)
		json_object_set_new(j, "sdk", api_jstr_or_null(r->sdk));
	if (r->card_json) {
		json_t *card = json_loads(r->card_json, 0, NULL);
		if (card && json_is_object(card))
			json_object_set_new(j, "cardData", card);
		else
			json_decref(card);
	}
	return j;
}

json_t *api_tree_entry_json(const struct hub_tree_entry *e, int expand)
{
	json_t *j = json_object();
	json_object_set_new(j, "type", json_string(e->is_dir ? "directory" : "file"));
	json_object_set_new(j, "oid", json_string(e->oid));
	json_object_set_new(j, "size", json_integer(e->is_dir ? 0 : e->size));
	json_object_set_new(j, "path", api_jstr(e->path));
	if (!e->is_dir && e->is_lfs)
		json_object_set_new(j, "lfs",
		                    json_pack("{s:s,s:I,s:I}", "oid", e->lfs_oid, "size",
		                              (json_int_t)e->lfs_size, "pointerSize",
		                              (json_int_t)e->pointer_size));
	if (expand && e->has_last_commit) {
		json_t *lc = json_object();
		json_object_set_new(lc, "id", json_string(e->last_commit_id));
		json_object_set_new(lc, "title", api_jstr(e->last_commit_title));
		json_object_set_new(lc, "date", api_jdate(e->last_commit_date_ms));
		json_object_set_new(j, "lastCommit", lc);
	}
	return j;
}

/* ---- the route table ------------------------------------------------------------------ */

#define MB (1024u * 1024u)
#define T_API "/api/:T=models|datasets|spaces/:ns/:name"
#define AR(meth, pat, fn)                          \
	{                                          \
		meth, pat, fn, NULL, NULL, 0, NULL \
	}
/* The same route for models (no prefix), datasets and spaces. */
#define REPO3(meth, tail, fn, begin, body, cap)                                          \
	{meth, "/datasets/:ns/:name" tail, fn, begin, body, cap, &api_type_dataset},     \
	        {meth, "/spaces/:ns/:name" tail, fn, begin, body, cap, &api_type_space}, \
	{                                                                                \
		meth, "/:ns/:name" tail, fn, begin, body, cap, &api_type_model           \
	}

static const struct http_route routes[] = {
        AR(HTTP_GET, "/api/whoami-v2", api_whoami),
        AR(HTTP_POST, "/api/repos/create", api_repo_create),
        AR(HTTP_DELETE, "/api/repos/delete", api_repo_delete),
        AR(HTTP_POST, "/api/repos/move", api_repo_move),
        AR(HTTP_GET, "/api/:T=models|datasets|spaces", api_repo_list),

        /* Signed LFS hrefs: authorized by their signature alone. */
        {HTTP_PUT, "/api/lfs/upload/:uid/:oid/:size", api_lfs_upload_end, api_lfs_upload_begin,
         api_lfs_upload_body, 0, NULL},
        {HTTP_PUT, "/api/lfs/part/:uid/:oid/:size/:chunk/:part", api_lfs_part_end,
         api_lfs_part_begin, api_lfs_part_body, 0, NULL},
        {HTTP_POST, "/api/lfs/complete/:uid/:oid/:size/:chunk", api_lfs_complete, NULL, NULL,
         16 * MB, NULL},
        AR(HTTP_GET | HTTP_HEAD, "/api/lfs/download/:uid/:oid", api_lfs_download),
        AR(HTTP_POST, "/api/lfs/verify/:uid", api_lfs_verify_signed),

        AR(HTTP_GET, T_API, api_repo_info),
        AR(HTTP_GET, T_API "/revision/*rev", api_repo_info),
        AR(HTTP_PUT, T_API "/settings", api_repo_settings),
        AR(HTTP_GET, T_API "/tree/*tail", api_tree),
        {HTTP_POST, T_API "/paths-info/*rev", api_paths_info, NULL, NULL, 16 * MB, NULL},
        {HTTP_POST, T_API "/preupload/*rev", api_preupload, NULL, NULL, 16 * MB, NULL},
        AR(HTTP_POST, T_API "/commit/*rev", api_commit),
        AR(HTTP_GET, T_API "/commits/*rev", api_commits),
        AR(HTTP_GET, T_API "/refs", api_refs),
        AR(HTTP_POST | HTTP_DELETE, T_API "/branch/*branch", api_branch),
        AR(HTTP_POST, T_API "/tag/*rev", api_tag_create),
        AR(HTTP_DELETE, T_API "/tag/*tag", api_tag_delete),

        REPO3(HTTP_GET | HTTP_HEAD, "/resolve/*tail", api_resolve, NULL, NULL, 0),
        REPO3(HTTP_GET | HTTP_HEAD, "/raw/*tail", api_raw, NULL, NULL, 0),
        REPO3(HTTP_POST, "/info/lfs/objects/batch", api_lfs_batch, NULL, NULL, 16 * MB),
        REPO3(HTTP_POST, "/info/lfs/objects/verify", api_lfs_verify, NULL, NULL, 1 * MB),
        REPO3(HTTP_GET | HTTP_POST, "/info/lfs/locks/*rest", api_lfs_locks, NULL, NULL, 1 * MB),
        REPO3(HTTP_GET, "/info/refs", api_git_handle, api_git_begin, api_git_body, 0),
        REPO3(HTTP_POST, "/git-upload-pack", api_git_handle, api_git_begin, api_git_body, 0),
        REPO3(HTTP_POST, "/git-receive-pack", api_git_handle, api_git_begin, api_git_body, 0),
};

const struct http_route *api_routes(size_t *n)
{
	*n = ARRAY_SIZE(routes);
	return routes;
}

/*
 * api_repo.c: identity and repositories: GET /api/whoami-v2, POST
 * /api/repos/create, DELETE /api/repos/delete, POST /api/repos/move, PUT
 * /api/{T}/{id}/settings, GET /api/{T}/{id}[/revision/{rev}] and the
 * listings GET /api/{models,datasets,spaces} (HUB-API.md 3.1-3.4).
 */
#include "api/api_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- whoami ------------------------------------------------------------- */

void api_whoami(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 0);
	json_t *j, *orgs, *tok;
	char *avatar;

	if (!x)
		return;
	const struct auth_caller c = x->c; /* a shallow copy: released with x */
	if (c.user_id == 0) {
		api_fail_bad_token(req, 0);
		return;
	}
	orgs = json_array();
	for (size_t i = 0; i < c.n_orgs; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "type", json_string("org"));
		json_object_set_new(o, "id", json_sprintf("%lld", (long long)c.orgs[i].org_id));
		json_object_set_new(o, "name", api_jstr(c.orgs[i].org));
		json_object_set_new(o, "fullname", api_jstr(c.orgs[i].org));
		json_object_set_new(o, "roleInOrg", json_string(auth_role_name(c.orgs[i].role)));
		json_object_set_new(o, "isEnterprise", json_false());
		json_array_append_new(orgs, o);
	}
	tok = json_object();
	json_object_set_new(tok, "displayName", api_jstr(c.token_name));
	json_object_set_new(tok, "role",
	                    json_string(c.scopes ? "fineGrained" : auth_role_name(c.token_role)));
	json_object_set_new(tok, "createdAt", api_jdate(c.token_created_ms));
	if (c.scopes) {
		/* The Hub's shape for fine-grained tokens: scoped entities. */
		json_t *scoped = json_array();
		for (size_t i = 0; i < c.n_scopes; i++) {
			json_t *ent = json_object();
			json_object_set_new(ent, "entity",
			                    json_pack("{s:s,s:o}", "type", "repo", "name",
			                              api_jstr(c.scopes[i])));
			json_object_set_new(
			        ent, "permissions",
			        c.token_role >= AUTH_ROLE_WRITE
			                ? json_pack("[s,s]", "repo.content.read", "repo.write")
			                : json_pack("[s]", "repo.content.read"));
			json_array_append_new(scoped, ent);
		}
		json_object_set_new(
		        tok, "fineGrained",
		        json_pack("{s:o,s:b}", "scoped", scoped, "canReadGatedRepos", 0));
	}
	avatar = http_req_printf(req, "%s/avatars/%s.png", api_cfg(req)->public_url, c.user);
	j = json_object();
	json_object_set_new(j, "type", json_string("user"));
	json_object_set_new(j, "id", json_sprintf("%lld", (long long)c.user_id));
	json_object_set_new(j, "name", api_jstr(c.user));
	json_object_set_new(j, "fullname", api_jstr(c.fullname[0] ? c.fullname : c.user));
	json_object_set_new(j, "email", c.email[0] ? api_jstr(c.email) : json_null());
	json_object_set_new(j, "emailVerified", json_boolean(c.email[0] != 0));
	json_object_set_new(j, "isPro", json_false());
	json_object_set_new(j, "canPay", json_false());
	json_object_set_new(j, "isAdmin", json_boolean(c.is_admin));
	json_object_set_new(j, "avatarUrl", api_jstr(avatar));
	json_object_set_new(j, "periodEnd", json_null());
	json_object_set_new(j, "orgs", orgs);
	json_object_set_new(j, "auth",
	                    json_pack("{s:s,s:o}", "type", "access_token", "accessToken", tok));
	http_respond_json(req, 200, j);
}

/* ---- create / delete / move / settings ------------------------------------- */

/* Reads {name, organization?, type?} as the Hub's admin calls send them:
 * name may also be "ns/name"; organization null or absent means the caller.
 * Strings live in the request. Responds 400 and returns < 0 when malformed. */
static int repo_from_body(struct http_req *req, json_t *body, const struct auth_caller *c,
                          struct hub_repo_ref *ref)
{
	json_t *jn = json_object_get(body, "name");
	json_t *jo = json_object_get(body, "organization");
	json_t *jt = json_object_get(body, "type");
	const char *name, *slash;

	memset(ref, 0, sizeof(*ref));
	if (!json_is_string(jn) || !*json_string_value(jn)) {
		http_respond_error(req, 400, NULL, "'name' must be a non-empty string");
		return HD_EINVAL;
	}
	if (jt && !json_is_null(jt) &&
	    (!json_is_string(jt) || hub_repo_type_parse(json_string_value(jt), &ref->type) < 0)) {
		http_respond_error(req, 400, NULL, "'type' must be model, dataset or space");
		return HD_EINVAL;
	}
	if (jo && !json_is_null(jo) && !json_is_string(jo)) {
		http_respond_error(req, 400, NULL, "'organization' must be a string");
		return HD_EINVAL;
	}
	name = http_req_strdup(req, json_string_value(jn));
	slash = strchr(name, '/');
	/* Old clients send "ns/name" without an organization; with one, a
	 * slash is just an invalid name (the hub's grammar refuses it). */
	if (slash && !(json_is_string(jo) && *json_string_value(jo))) {
		ref->ns = http_req_printf(req, "%.*s", (int)(slash - name), name);
		ref->name = slash + 1;
	} else {
		ref->name = name;
		if (json_is_string(jo) && *json_string_value(jo))
			ref->ns = http_req_strdup(req, json_string_value(jo));
		else
			ref->ns = http_req_strdup(req, c->user);
	}
	if (!*ref->ns) {
		http_respond_error(req, 401, NULL, "You must be authenticated to do this");
		return HD_EAUTH;
	}
	return 0;
}

void api_repo_create(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 0);
	struct hub_repo_ref ref;
	struct hub_repo repo;
	json_t *body, *jv, *jp, *js;
	int is_private = 0, rc;
	const char *sdk = NULL;
	char *id;

	if (!x || !(body = api_json_body(req)) || repo_from_body(req, body, &x->c, &ref) < 0)
		return;
	jv = json_object_get(body, "visibility");
	jp = json_object_get(body, "private");
	if (json_is_string(jv)) {
		const char *v = json_string_value(jv);
		if (strcmp(v, "private") && strcmp(v, "public")) {
			http_respond_error(req, 400, NULL,
			                   "'visibility' must be public or private");
			return;
		}
		is_private = !strcmp(v, "private");
	} else if (json_is_boolean(jp)) {
		is_private = json_is_true(jp);
	}
	js = json_object_get(body, "sdk");
	if (json_is_string(js))
		sdk = json_string_value(js);
	memset(&repo, 0, sizeof(repo));
	rc = hub_repo_create(x->cfg->hub, &x->c, &ref, is_private, sdk, &repo, &x->e);
	if (rc == HD_EEXIST) {
		char *idv = http_req_printf(req, "%s/%s", ref.ns, ref.name);
		char *url = api_repo_url(req, ref.type, idv);
		char *msg = http_req_printf(req, "You already created this %s repo",
		                            hub_repo_type_name(ref.type));
		http_resp_header(req, "X-Error-Message", msg);
		http_respond_json(req, 409,
		                  json_pack("{s:s,s:o}", "error", msg, "url", api_jstr(url)));
		return;
	}
	if (rc < 0) {
		api_fail(req, &x->c, rc, &x->e);
		return;
	}
	id = http_req_strdup(req, repo.id);
	http_respond_json(req, 200,
	                  json_pack("{s:o,s:o,s:s}", "url",
	                            api_jstr(api_repo_url(req, repo.type, id)), "name",
	                            api_jstr(id), "id", repo.uid));
	hub_repo_release(&repo);
}

void api_repo_delete(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 0);
	struct hub_repo_ref ref;
	json_t *body;
	int rc;

	if (!x || !(body = api_json_body(req)) || repo_from_body(req, body, &x->c, &ref) < 0)
		return;
	rc = hub_repo_delete(x->cfg->hub, &x->c, &ref, &x->e);
	if (rc < 0)
		api_fail(req, &x->c, rc, &x->e);
	else
		http_respond_json(req, 200, json_object());
}

/* "ns/name" into a ref (request memory). */
static int split_id(struct http_req *req, const char *id, enum hub_repo_type type,
                    struct hub_repo_ref *ref)
{
	const char *slash = strchr(id, '/');
	if (!slash || strchr(slash + 1, '/'))
		return HD_EINVAL;
	ref->type = type;
	ref->ns = http_req_printf(req, "%.*s", (int)(slash - id), id);
	ref->name = http_req_strdup(req, slash + 1);
	return 0;
}

void api_repo_move(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 0);
	struct hub_repo_ref from, to;
	enum hub_repo_type type = HUB_REPO_MODEL;
	json_t *body, *jf, *jt, *jty;
	int rc;

	if (!x || !(body = api_json_body(req)))
		return;
	jf = json_object_get(body, "fromRepo");
	jt = json_object_get(body, "toRepo");
	jty = json_object_get(body, "type");
	if (jty && !json_is_null(jty) &&
	    (!json_is_string(jty) || hub_repo_type_parse(json_string_value(jty), &type) < 0)) {
		http_respond_error(req, 400, NULL, "'type' must be model, dataset or space");
		return;
	}
	if (!json_is_string(jf) || !json_is_string(jt) ||
	    split_id(req, json_string_value(jf), type, &from) < 0 ||
	    split_id(req, json_string_value(jt), type, &to) < 0) {
		http_respond_error(req, 400, NULL,
		                   "'fromRepo' and 'toRepo' must be repo ids like \"ns/name\"");
		return;
	}
	rc = hub_repo_move(x->cfg->hub, &x->c, &from, &to, &x->e);
	if (rc == HD_EEXIST)
		http_respond_error(req, 409, NULL, "%s",
		                   x->e.msg[0] ? x->e.msg : "The target repo exists");
	else if (rc < 0)
		api_fail(req, &x->c, rc, &x->e);
	else
		http_respond_json(
		        req, 200,
		        json_pack("{s:o}", "url",
		                  api_jstr(api_repo_url(req, type, json_string_value(jt)))));
}

void api_repo_settings(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	json_t *body, *jv, *jp, *jg;
	int is_private = -1, gated = -1, rc;

	if (!x || !(body = api_json_body(req)))
		return;
	jv = json_object_get(body, "visibility");
	jp = json_object_get(body, "private");
	jg = json_object_get(body, "gated");
	if (jv && !json_is_null(jv)) {
		const char *v = json_is_string(jv) ? json_string_value(jv) : "";
		if (strcmp(v, "private") && strcmp(v, "public")) {
			http_respond_error(req, 400, NULL,
			                   "'visibility' must be public or private");
			return;
		}
		is_private = !strcmp(v, "private");
	} else if (jp && !json_is_null(jp)) {
		if (!json_is_boolean(jp)) {
			http_respond_error(req, 400, NULL, "'private' must be a boolean");
			return;
		}
		is_private = json_is_true(jp);
	}
	if (jg && !json_is_null(jg)) {
		if (json_is_false(jg))
			gated = HUB_GATED_NO;
		else if (json_is_string(jg) && !strcmp(json_string_value(jg), "auto"))
			gated = HUB_GATED_AUTO;
		else if (json_is_string(jg) && !strcmp(json_string_value(jg), "manual"))
			gated = HUB_GATED_MANUAL;
		else if (json_is_string(jg) && !strcmp(json_string_value(jg), "false"))
			gated = HUB_GATED_NO;
		else {
			http_respond_error(req, 400, NULL,
			                   "'gated' must be false, \"auto\" or \"manual\"");
			return;
		}
	}
	rc = hub_repo_settings(x->cfg->hub, &x->c, &x->ref, is_private, gated, &x->e);
	if (rc < 0)
		api_fail(req, &x->c, rc, &x->e);
	else
		http_respond_json(req, 200, json_object());
}

/* ---- info ----------------------------------------------------------------------- */

static json_t *sibling_json(const struct hub_tree_entry *s, int blobs)
{
	json_t *j = json_object();
	json_object_set_new(j, "rfilename", api_jstr(s->path));
	if (blobs) {
		json_object_set_new(j, "size", json_integer(s->size));
		json_object_set_new(j, "blobId", json_string(s->oid));
		if (s->is_lfs)
			json_object_set_new(j, "lfs",
			                    json_pack("{s:I,s:s,s:I}", "size",
			                              (json_int_t)s->lfs_size, "sha256", s->lfs_oid,
			                              "pointerSize", (json_int_t)s->pointer_size));
	}
	return j;
}

/* The "siblings" array: the files of the tree. */
static json_t *siblings_json(const struct hub_repo_info *info, int blobs)
{
	json_t *sib = json_array();
	for (size_t i = 0; i < info->n_siblings; i++)
		if (!info->siblings[i].is_dir)
			json_array_append_new(sib, sibling_json(&info->siblings[i], blobs));
	return sib;
}

/* Does the request want field (expand=x / expand[]=x)? With no expand at all
 * the Hub sends its default set, which includes siblings. */
static int want_siblings(struct http_req *req)
{
	const char *v[1];
	if (api_query_list(req, "expand", v, 1) == 0)
		return 1;
	return api_query_has(req, "expand", "siblings");
}

void api_repo_info(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	struct hub_repo_info info;
	const char *raw_rev = http_req_param(req, "rev");
	char *rev = NULL;
	int blobs = http_req_query_bool(req, "blobs");
	int siblings = blobs || want_siblings(req);
	json_t *j;
	int rc;

	if (!x)
		return;
	if (raw_rev) {
		rev = api_decode_tail(req, raw_rev);
		if (!rev)
			return;
		if (!*rev) {
			http_respond_error(req, 404, "RevisionNotFound", "Invalid revision: empty");
			return;
		}
	}
	memset(&info, 0, sizeof(info));
	rc = hub_repo_info(x->cfg->hub, &x->c, &x->ref, rev,
	                   !siblings ? HUB_SIBLINGS_NONE
	                   : blobs   ? HUB_SIBLINGS_FULL
	                             : HUB_SIBLINGS_NAMES,
	                   &info, &x->e);
	if (rc < 0) {
		api_fail(req, &x->c, rc, &x->e);
		return;
	}
	j = api_repo_json(req, &info.repo);
	json_object_set_new(j, "sha", json_string(info.rev_sha));
	if (siblings)
		json_object_set_new(j, "siblings", siblings_json(&info, blobs));
	if (info.repo.type == HUB_REPO_SPACE) {
		json_object_set_new(
		        j, "runtime",
		        json_pack("{s:s,s:{s:n,s:n}}", "stage", "NO_APP_FILE", "hardware",
		                  "current",
		                  "requested")); /* the shape Python's SpaceRuntime reads */
	}
	hub_repo_info_release(&info);
	http_respond_json(req, 200, j);
}

/* ---- listing ------------------------------------------------------------------------ */

void api_repo_list(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 0);
	struct hub_list_query q;
	struct hub_repo_list list;
	const char *filters[64];
	const char *dir;
	size_t n_filters, limit;
	int full = http_req_query_bool(req, "full");
	int siblings = full || api_query_has(req, "expand", "siblings");
	int card = full || http_req_query_bool(req, "cardData") ||
	           api_query_has(req, "expand", "cardData");
	json_t *arr;
	int rc;

	if (!x)
		return;
	memset(&q, 0, sizeof(q));
	if (hub_repo_type_parse(http_req_param(req, "T"), &q.type) < 0) {
		http_respond_error(req, 404, NULL, "Not Found");
		return;
	}
	q.search = http_req_query(req, "search");
	q.author = http_req_query(req, "author");
	n_filters = api_query_list(req, "filter", filters, ARRAY_SIZE(filters));
	if (n_filters > ARRAY_SIZE(filters)) {
		http_respond_error(req, 400, NULL, "Too many filters (at most %zu)",
		                   ARRAY_SIZE(filters));
		return;
	}
	q.filters = filters;
	q.n_filters = n_filters;
	q.pipeline_tag = http_req_query(req, "pipeline_tag");
	if (hub_sort_parse(http_req_query(req, "sort"), &q.sort) < 0) {
		http_respond_error(req, 400, NULL, "Invalid sort");
		return;
	}
	dir = http_req_query(req, "direction");
	q.direction = dir && !strcmp(dir, "-1") ? -1 : dir && !strcmp(dir, "1") ? 1 : 0;
	if (api_query_size(req, "limit", x->cfg->list_page_size, &limit) < 0)
		return;
	if (limit == 0 || limit > x->cfg->list_page_size)
		limit = x->cfg->list_page_size;
	q.limit = limit;
	q.cursor = http_req_query(req, "cursor");
	memset(&list, 0, sizeof(list));
	rc = hub_repo_list(x->cfg->hub, &x->c, &q, &list, &x->e);
	if (rc < 0) {
		api_fail(req, &x->c, rc, &x->e);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < list.n; i++) {
		json_t *j = api_repo_json(req, &list.items[i]);
		if (!card)
			json_object_del(j, "cardData");
		if (siblings) {
			struct hub_repo_info info;
			struct hub_repo_ref ref = {list.items[i].type, list.items[i].ns,
			                           list.items[i].name};
			memset(&info, 0, sizeof(info));
			if (hub_repo_info(x->cfg->hub, &x->c, &ref, NULL, HUB_SIBLINGS_NAMES, &info,
			                  NULL) == 0) {
				json_object_set_new(j, "siblings", siblings_json(&info, 0));
				hub_repo_info_release(&info);
			}
		}
		json_array_append_new(arr, j);
	}
	if (list.next_cursor)
		api_link_next(req, list.next_cursor);
	hub_repo_list_release(&list);
	http_respond_json(req, 200, arr);
}

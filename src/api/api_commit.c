/*
 * api_commit.c: writing and history: POST /api/{T}/{id}/preupload/{rev},
 * POST /api/{T}/{id}/commit/{rev} (NDJSON, parsed by api_parse.c), GET
 * /api/{T}/{id}/commits/{rev}, GET /api/{T}/{id}/refs, POST/DELETE
 * /api/{T}/{id}/branch/{b}, POST /api/{T}/{id}/tag/{rev} and DELETE
 * /api/{T}/{id}/tag/{tag} (HUB-API.md 3.8, 3.9).
 */
#include "api/api_int.h"

#include <stdlib.h>
#include <string.h>

/* Write routes of the Hub that this hub leaves out: pull requests. */
static int refuse_pull_request(struct http_req *req)
{
	if (!http_req_query_bool(req, "create_pr"))
		return 0;
	http_respond_error(req, 400, NULL, "Pull requests are not supported by this hub");
	return HD_EUNSUPPORTED;
}

/* A hub call's result as the Hub answers a write: {} on success, 409 with
 * the message for an existing name, else the usual error. */
static void respond_write(struct http_req *req, struct api_ctx *x, int rc, const char *exists)
{
	if (rc == HD_EEXIST)
		http_respond_error(req, 409, NULL, "%s", x->e.msg[0] ? x->e.msg : exists);
	else if (rc < 0)
		api_fail(req, &x->c, rc, &x->e);
	else
		http_respond_json(req, 200, json_object());
}

/* ---- preupload -------------------------------------------------------------- */

#define MAX_PREUPLOAD 1000

void api_preupload(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	struct hub_preupload_file *files;
	json_t *body, *jf, *jga, *item, *arr;
	const char *git_attributes = NULL;
	char *rev;
	size_t n, i;
	int rc;

	if (!x || refuse_pull_request(req) < 0 ||
	    !(rev = api_decode_tail(req, http_req_param(req, "rev"))) ||
	    !(body = api_json_body(req)))
		return;
	jf = json_object_get(body, "files");
	jga = json_object_get(body, "gitAttributes");
	if (json_is_string(jga))
		git_attributes = json_string_value(jga);
	if (!json_is_array(jf)) {
		http_respond_error(req, 400, NULL, "'files' must be an array");
		return;
	}
	n = json_array_size(jf);
	if (n > MAX_PREUPLOAD) {
		http_respond_error(req, 413, NULL, "Too many files in one preupload (at most %d)",
		                   MAX_PREUPLOAD);
		return;
	}
	files = http_req_alloc(req, (n + 1) * sizeof(*files));
	json_array_foreach(jf, i, item)
	{
		json_t *jp = json_object_get(item, "path");
		json_t *js = json_object_get(item, "size");
		json_t *jsm = json_object_get(item, "sample");
		if (!json_is_string(jp) || !json_is_integer(js) || json_integer_value(js) < 0) {
			http_respond_error(req, 400, NULL,
			                   "files[%zu] needs a string 'path' and an integer 'size'",
			                   i);
			return;
		}
		files[i].path = json_string_value(jp);
		files[i].size = (int64_t)json_integer_value(js);
		if (json_is_string(jsm)) {
			unsigned char *sample;
			size_t len;
			if (api_base64_decode(json_string_value(jsm), json_string_length(jsm),
			                      &sample, &len) < 0) {
				http_respond_error(req, 400, NULL,
				                   "files[%zu].sample is not valid base64", i);
				return;
			}
			/* the hub reads the first 512 bytes at most */
			files[i].sample_size = len > 512 ? 512 : len;
			files[i].sample = memcpy(http_req_alloc(req, files[i].sample_size + 1),
			                         sample, files[i].sample_size);
			free(sample);
		}
	}
	rc = hub_preupload(x->cfg->hub, &x->c, &x->ref, *rev ? rev : NULL, git_attributes, files, n,
	                   &x->e);
	if (rc < 0) {
		api_fail(req, &x->c, rc, &x->e);
		return;
	}
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(
		        arr, json_pack("{s:o,s:s,s:b,s:o}", "path", api_jstr(files[i].path),
		                       "uploadMode", files[i].is_lfs ? "lfs" : "regular",
		                       "shouldIgnore", files[i].should_ignore, "oid",
		                       files[i].oid[0] ? json_string(files[i].oid) : json_null()));
	http_respond_json(req, 200, json_pack("{s:o}", "files", arr));
}

/* ---- commit -------------------------------------------------------------------- */

void api_commit(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	struct api_commit parsed;
	struct hub_commit_req creq;
	struct hub_repo_info info;
	char oid[41], errbuf[512];
	const char *body;
	char *branch, *id;
	size_t n;
	int rc;

	if (!x || refuse_pull_request(req) < 0 ||
	    !(branch = api_decode_tail(req, http_req_param(req, "rev"))))
		return;
	body = http_req_body(req, &n);
	rc = api_commit_parse(body, n, (size_t)hub_config(x->cfg->hub)->max_commit_ops, &parsed,
	                      errbuf, sizeof(errbuf));
	if (rc < 0) {
		http_respond_error(req, rc == HD_ETOOBIG ? 413 : 400, NULL, "Invalid commit: %s",
		                   errbuf);
		return;
	}
	memset(&creq, 0, sizeof(creq));
	creq.summary = parsed.summary;
	creq.description = parsed.description;
	creq.parent_commit = parsed.parent_commit;
	creq.ops = parsed.ops;
	creq.n_ops = parsed.n_ops;
	rc = hub_commit_create(x->cfg->hub, &x->c, &x->ref, *branch ? branch : NULL, &creq, oid,
	                       &x->e);
	api_commit_release(&parsed);
	if (rc == HD_ECONFLICT) {
		http_respond_error(req, 412, NULL, "%s",
		                   x->e.msg[0] ? x->e.msg
		                               : "The parent commit is not the branch head");
		return;
	}
	if (rc == HD_EINVAL || rc == HD_ECORRUPT) {
		/* Paths, operations or LFS objects the hub refuses: 422 like the Hub. */
		http_respond_error(req, 422, NULL, "%s", x->e.msg[0] ? x->e.msg : hd_strerror(rc));
		return;
	}
	if (rc < 0) {
		api_fail(req, &x->c, rc, &x->e);
		return;
	}
	/* The canonical spelling of the id for commitUrl. */
	id = http_req_printf(req, "%s/%s", x->ref.ns, x->ref.name);
	memset(&info, 0, sizeof(info));
	if (hub_repo_info(x->cfg->hub, &x->c, &x->ref, oid, 0, &info, NULL) == 0) {
		id = http_req_strdup(req, info.repo.id);
		hub_repo_info_release(&info);
	}
	http_respond_json(
	        req, 200,
	        json_pack("{s:b,s:s,s:o,s:s}", "success", 1, "commitOid", oid, "commitUrl",
	                  api_jstr(http_req_printf(req, "%s/commit/%s",
	                                           api_repo_url(req, x->ref.type, id), oid)),
	                  "hookOutput", ""));
}

/* ---- commits --------------------------------------------------------------------- */

void api_commits(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	struct hub_commit_list list;
	char *rev;
	size_t limit;
	json_t *arr;
	int rc;

	if (!x || !(rev = api_decode_tail(req, http_req_param(req, "rev"))) ||
	    api_query_size(req, "limit", 50, &limit) < 0)
		return;
	if (limit == 0)
		limit = 50;
	if (limit > 1000)
		limit = 1000;
	memset(&list, 0, sizeof(list));
	rc = hub_commits_list(x->cfg->hub, &x->c, &x->ref, *rev ? rev : NULL, limit,
	                      http_req_query(req, "cursor"), &list, &x->e);
	if (rc < 0) {
		api_fail(req, &x->c, rc, &x->e);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < list.n; i++) {
		const struct hub_commit_info *ci = &list.items[i];
		const char *user = ci->author_name ? ci->author_name : "";
		json_t *j = json_object();
		json_object_set_new(j, "id", json_string(ci->id));
		json_object_set_new(j, "title", api_jstr(ci->title));
		json_object_set_new(j, "message", api_jstr(ci->message));
		json_object_set_new(j, "authors",
		                    json_pack("[{s:o,s:o}]", "user", api_jstr(user), "avatar",
		                              api_jstr(http_req_printf(req, "%s/avatars/%s.png",
		                                                       x->cfg->public_url, user))));
		json_object_set_new(j, "date", api_jdate(ci->date_ms));
		json_array_append_new(arr, j);
	}
	http_resp_headerf(req, "X-Total-Count", "%lld", (long long)list.total);
	if (list.next_cursor)
		api_link_next(req, list.next_cursor);
	hub_commit_list_release(&list);
	http_respond_json(req, 200, arr);
}

/* ---- refs, branches, tags ------------------------------------------------------------ */

static json_t *refs_json(const struct hub_ref *r, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr,
		                      json_pack("{s:o,s:o,s:s}", "name", api_jstr(r[i].name), "ref",
		                                api_jstr(r[i].ref), "targetCommit", r[i].target));
	return arr;
}

void api_refs(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	struct hub_refs refs;
	json_t *j;
	int rc;

	if (!x)
		return;
	memset(&refs, 0, sizeof(refs));
	rc = hub_refs_list(x->cfg->hub, &x->c, &x->ref, &refs, &x->e);
	if (rc < 0) {
		api_fail(req, &x->c, rc, &x->e);
		return;
	}
	j = json_pack("{s:o,s:[],s:o}", "branches", refs_json(refs.branches, refs.n_branches),
	              "converts", "tags", refs_json(refs.tags, refs.n_tags));
	if (http_req_query_bool(req, "include_prs"))
		json_object_set_new(j, "pullRequests", json_array());
	hub_refs_release(&refs);
	http_respond_json(req, 200, j);
}

void api_branch(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	json_t *body, *jsp;
	const char *start = NULL;
	char *branch;
	int rc;

	if (!x || !(branch = api_decode_tail(req, http_req_param(req, "branch"))))
		return;
	if (!*branch) {
		http_respond_error(req, 400, NULL, "Missing branch name");
		return;
	}
	if (http_req_method(req) == HTTP_DELETE) {
		rc = hub_branch_delete(x->cfg->hub, &x->c, &x->ref, branch, &x->e);
		respond_write(req, x, rc, "Reference already exists");
		return;
	}
	if (!(body = api_json_body_or_empty(req)))
		return;
	jsp = json_object_get(body, "startingPoint");
	if (jsp && !json_is_null(jsp) && !json_is_string(jsp)) {
		http_respond_error(req, 400, NULL, "'startingPoint' must be a string");
		return;
	}
	if (json_is_string(jsp))
		start = json_string_value(jsp);
	rc = hub_branch_create(x->cfg->hub, &x->c, &x->ref, branch, start,
	                       json_is_true(json_object_get(body, "emptyBranch")),
	                       json_is_true(json_object_get(body, "overwrite")), &x->e);
	respond_write(req, x, rc, "Reference already exists");
}

void api_tag_create(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	json_t *body, *jt, *jm;
	char *rev;
	int rc;

	if (!x || !(rev = api_decode_tail(req, http_req_param(req, "rev"))) ||
	    !(body = api_json_body(req)))
		return;
	jt = json_object_get(body, "tag");
	jm = json_object_get(body, "message");
	if (!json_is_string(jt) || (jm && !json_is_null(jm) && !json_is_string(jm))) {
		http_respond_error(req, 400, NULL,
		                   "'tag' must be a string (and 'message' a string)");
		return;
	}
	rc = hub_tag_create(x->cfg->hub, &x->c, &x->ref, *rev ? rev : NULL, json_string_value(jt),
	                    json_is_string(jm) ? json_string_value(jm) : NULL, &x->e);
	respond_write(req, x, rc, "Tag already exists");
}

void api_tag_delete(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	char *tag;

	if (!x || !(tag = api_decode_tail(req, http_req_param(req, "tag"))))
		return;
	respond_write(req, x, hub_tag_delete(x->cfg->hub, &x->c, &x->ref, tag, &x->e),
	              "Tag already exists");
}

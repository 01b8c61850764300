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

/* ---- preupload -------------------------------------------------------------- */

#define MAX_PREUPLOAD 1000

void api_preupload(struct http_req *req)
{
	struct api_config *cfg = api_cfg(req);
	struct auth_caller c;
	struct hub_repo_ref ref;
	struct hub_err e = {{0}, {0}};
	struct hub_preupload_file *files = NULL;
	unsigned char **samples = NULL;
	json_t *body = NULL, *jf, *jga, *item;
	const char *git_attributes = NULL;
	char *rev;
	size_t n = 0, i;
	int rc;

	if (api_auth(req, &c, 0) < 0)
		return;
	if (api_repo_ref(req, &ref) < 0)
		goto out;
	if (http_req_query_bool(req, "create_pr")) {
		http_respond_error(req, 400, NULL, "Pull requests are not supported by this hub");
		goto out;
	}
	rev = api_decode_tail(req, http_req_param(req, "rev"));
	if (!rev)
		goto out;
	body = api_json_body(req);
	if (!body)
		goto out;
	jf = json_object_get(body, "files");
	jga = json_object_get(body, "gitAttributes");
	if (json_is_string(jga))
		git_attributes = json_string_value(jga);
	if (!json_is_array(jf)) {
		http_respond_error(req, 400, NULL, "'files' must be an array");
		goto out;
	}
	n = json_array_size(jf);
	if (n > MAX_PREUPLOAD) {
		http_respond_error(req, 413, NULL, "Too many files in one preupload (at most %d)",
		                   MAX_PREUPLOAD);
		goto out;
	}
	files = xcalloc(n + 1, sizeof(*files));
	samples = xcalloc(n + 1, sizeof(*samples));
	json_array_foreach(jf, i, item)
	{
		json_t *jp = json_object_get(item, "path");
		json_t *js = json_object_get(item, "size");
		json_t *jsm = json_object_get(item, "sample");
		if (!json_is_string(jp) || !json_is_integer(js) || json_integer_value(js) < 0) {
			http_respond_error(req, 400, NULL,
			                   "files[%zu] needs a string 'path' and an integer 'size'",
			                   i);
			goto out;
		}
		files[i].path = json_string_value(jp);
		files[i].size = (int64_t)json_integer_value(js);
		if (json_is_string(jsm)) {
			size_t len;
			if (api_base64_decode(json_string_value(jsm), json_string_length(jsm),
			                      &samples[i], &len) < 0) {
				http_respond_error(req, 400, NULL,
				                   "files[%zu].sample is not valid base64", i);
				goto out;
			}
			files[i].sample = samples[i];
			files[i].sample_size = len > 512 ? 512 : len;
		}
	}
	rc = hub_preupload(cfg->hub, &c, &ref, *rev ? rev : NULL, git_attributes, files, n, &e);
	if (rc < 0) {
		api_fail(req, &c, rc, &e);
		goto out;
	}
	{
		json_t *arr = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(
			        arr, json_pack("{s:o,s:s,s:b,s:o}", "path", api_jstr(files[i].path),
			                       "uploadMode", files[i].is_lfs ? "lfs" : "regular",
			                       "shouldIgnore", files[i].should_ignore, "oid",
			                       files[i].oid[0] ? json_string(files[i].oid)
			                                       : json_null()));
		http_respond_json(req, 200, json_pack("{s:o}", "files", arr));
	}
out:
	if (samples)
		for (i = 0; i < n; i++)
			free(samples[i]);
	free(samples);
	free(files);
	json_decref(body);
	auth_caller_release(&c);
}

/* ---- commit -------------------------------------------------------------------- */

void api_commit(struct http_req *req)
{
	struct api_config *cfg = api_cfg(req);
	struct auth_caller c;
	struct hub_repo_ref ref;
	struct hub_err e = {{0}, {0}};
	struct api_commit parsed;
	struct hub_commit_req creq;
	char oid[41], errbuf[512];
	const char *body;
	char *branch, *id;
	size_t n;
	int rc;

	if (api_auth(req, &c, 0) < 0)
		return;
	if (api_repo_ref(req, &ref) < 0)
		goto out;
	if (http_req_query_bool(req, "create_pr")) {
		http_respond_error(req, 400, NULL, "Pull requests are not supported by this hub");
		goto out;
	}
	branch = api_decode_tail(req, http_req_param(req, "rev"));
	if (!branch)
		goto out;
	body = http_req_body(req, &n);
	rc = api_commit_parse(body, n, (size_t)hub_config(cfg->hub)->max_commit_ops, &parsed,
	                      errbuf, sizeof(errbuf));
	if (rc < 0) {
		http_respond_error(req, rc == HD_ETOOBIG ? 413 : 400, NULL, "Invalid commit: %s",
		                   errbuf);
		goto out;
	}
	memset(&creq, 0, sizeof(creq));
	creq.summary = parsed.summary;
	creq.description = parsed.description;
	creq.parent_commit = parsed.parent_commit;
	creq.ops = parsed.ops;
	creq.n_ops = parsed.n_ops;
	rc = hub_commit_create(cfg->hub, &c, &ref, *branch ? branch : NULL, &creq, oid, &e);
	api_commit_release(&parsed);
	if (rc == HD_ECONFLICT) {
		http_respond_error(req, 412, NULL, "%s",
		                   e.msg[0] ? e.msg : "The parent commit is not the branch head");
		goto out;
	}
	if (rc == HD_EINVAL || rc == HD_ECORRUPT) {
		/* Paths, operations or LFS objects the hub refuses: 422 like the Hub. */
		http_respond_error(req, 422, NULL, "%s", e.msg[0] ? e.msg : hd_strerror(rc));
		goto out;
	}
	if (rc < 0) {
		api_fail(req, &c, rc, &e);
		goto out;
	}
	id = http_req_printf(req, "%s/%s", ref.ns, ref.name);
	{
		struct hub_repo_info info;
		/* The canonical spelling of the id for commitUrl. */
		memset(&info, 0, sizeof(info));
		if (hub_repo_info(cfg->hub, &c, &ref, oid, 0, &info, NULL) == 0) {
			id = http_req_strdup(req, info.repo.id);
			hub_repo_info_release(&info);
		}
	}
	http_respond_json(req, 200,
	                  json_pack("{s:b,s:s,s:o,s:s}", "success", 1, "commitOid", oid,
	                            "commitUrl",
	                            api_jstr(http_req_printf(req, "%s/commit/%s",
	                                                     api_repo_url(req, ref.type, id), oid)),
	                            "hookOutput", ""));
out:
	auth_caller_release(&c);
}

/* ---- commits --------------------------------------------------------------------- */

void api_commits(struct http_req *req)
{
	struct api_config *cfg = api_cfg(req);
	struct auth_caller c;
	struct hub_repo_ref ref;
	struct hub_err e = {{0}, {0}};
	struct hub_commit_list list;
	char *rev;
	size_t limit;
	json_t *arr;
	int rc;

	if (api_auth(req, &c, 0) < 0)
		return;
	if (api_repo_ref(req, &ref) < 0)
		goto out;
	rev = api_decode_tail(req, http_req_param(req, "rev"));
	if (!rev)
		goto out;
	if (api_query_size(req, "limit", 50, &limit) < 0)
		goto out;
	if (limit == 0)
		limit = 50;
	if (limit > 1000)
		limit = 1000;
	memset(&list, 0, sizeof(list));
	rc = hub_commits_list(cfg->hub, &c, &ref, *rev ? rev : NULL, limit,
	                      http_req_query(req, "cursor"), &list, &e);
	if (rc < 0) {
		api_fail(req, &c, rc, &e);
		goto out;
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
		                                                       cfg->public_url, user))));
		json_object_set_new(j, "date", api_jdate(ci->date_ms));
		json_array_append_new(arr, j);
	}
	http_resp_headerf(req, "X-Total-Count", "%lld", (long long)list.total);
	if (list.next_cursor)
		api_link_next(req, list.next_cursor);
	hub_commit_list_release(&list);
	http_respond_json(req, 200, arr);
out:
	auth_caller_release(&c);
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
	struct auth_caller c;
	struct hub_repo_ref ref;
	struct hub_err e = {{0}, {0}};
	struct hub_refs refs;
	json_t *j;
	int rc;

	if (api_auth(req, &c, 0) < 0)
		return;
	if (api_repo_ref(req, &ref) < 0)
		goto out;
	memset(&refs, 0, sizeof(refs));
	rc = hub_refs_list(api_cfg(req)->hub, &c, &ref, &refs, &e);
	if (rc < 0) {
		api_fail(req, &c, rc, &e);
		goto out;
	}
	j = json_pack("{s:o,s:[],s:o}", "branches", refs_json(refs.branches, refs.n_branches),
	              "converts", "tags", refs_json(refs.tags, refs.n_tags));
	if (http_req_query_bool(req, "include_prs"))
		json_object_set_new(j, "pullRequests", json_array());
	hub_refs_release(&refs);
	http_respond_json(req, 200, j);
out:
	auth_caller_release(&c);
}

/* An optional JSON body: empty means {}. */
static json_t *optional_body(struct http_req *req)
{
	size_t n;
	http_req_body(req, &n);
	return n ? api_json_body(req) : json_object();
}

void api_branch(struct http_req *req)
{
	struct api_config *cfg = api_cfg(req);
	struct auth_caller c;
	struct hub_repo_ref ref;
	struct hub_err e = {{0}, {0}};
	json_t *body = NULL, *jsp;
	char *branch;
	int rc;

	if (api_auth(req, &c, 0) < 0)
		return;
	if (api_repo_ref(req, &ref) < 0)
		goto out;
	branch = api_decode_tail(req, http_req_param(req, "branch"));
	if (!branch)
		goto out;
	if (!*branch) {
		http_respond_error(req, 400, NULL, "Missing branch name");
		goto out;
	}
	if (http_req_method(req) == HTTP_DELETE) {
		rc = hub_branch_delete(cfg->hub, &c, &ref, branch, &e);
	} else {
		const char *start = NULL;
		body = optional_body(req);
		if (!body)
			goto out;
		jsp = json_object_get(body, "startingPoint");
		if (jsp && !json_is_null(jsp) && !json_is_string(jsp)) {
			http_respond_error(req, 400, NULL, "'startingPoint' must be a string");
			goto out;
		}
		if (json_is_string(jsp))
			start = json_string_value(jsp);
		rc = hub_branch_create(cfg->hub, &c, &ref, branch, start,
		                       json_is_true(json_object_get(body, "emptyBranch")),
		                       json_is_true(json_object_get(body, "overwrite")), &e);
	}
	if (rc == HD_EEXIST)
		http_respond_error(req, 409, NULL, "%s",
		                   e.msg[0] ? e.msg : "Reference already exists");
	else if (rc < 0)
		api_fail(req, &c, rc, &e);
	else
		http_respond_json(req, 200, json_object());
out:
	json_decref(body);
	auth_caller_release(&c);
}

void api_tag_create(struct http_req *req)
{
	struct api_config *cfg = api_cfg(req);
	struct auth_caller c;
	struct hub_repo_ref ref;
	struct hub_err e = {{0}, {0}};
	json_t *body = NULL, *jt, *jm;
	char *rev;
	int rc;

	if (api_auth(req, &c, 0) < 0)
		return;
	if (api_repo_ref(req, &ref) < 0)
		goto out;
	rev = api_decode_tail(req, http_req_param(req, "rev"));
	if (!rev)
		goto out;
	body = api_json_body(req);
	if (!body)
		goto out;
	jt = json_object_get(body, "tag");
	jm = json_object_get(body, "message");
	if (!json_is_string(jt) || (jm && !json_is_null(jm) && !json_is_string(jm))) {
		http_respond_error(req, 400, NULL,
		                   "'tag' must be a string (and 'message' a string)");
		goto out;
	}
	rc = hub_tag_create(cfg->hub, &c, &ref, *rev ? rev : NULL, json_string_value(jt),
	                    json_is_string(jm) ? json_string_value(jm) : NULL, &e);
	if (rc == HD_EEXIST)
		http_respond_error(req, 409, NULL, "%s", e.msg[0] ? e.msg : "Tag already exists");
	else if (rc < 0)
		api_fail(req, &c, rc, &e);
	else
		http_respond_json(req, 200, json_object());
out:
	json_decref(body);
	auth_caller_release(&c);
}

void api_tag_delete(struct http_req *req)
{
	struct auth_caller c;
	struct hub_repo_ref ref;
	struct hub_err e = {{0}, {0}};
	char *tag;
	int rc;

	if (api_auth(req, &c, 0) < 0)
		return;
	if (api_repo_ref(req, &ref) < 0)
		goto out;
	tag = api_decode_tail(req, http_req_param(req, "tag"));
	if (!tag)
		goto out;
	rc = hub_tag_delete(api_cfg(req)->hub, &c, &ref, tag, &e);
	if (rc < 0)
		api_fail(req, &c, rc, &e);
	else
		http_respond_json(req, 200, json_object());
out:
	auth_caller_release(&c);
}

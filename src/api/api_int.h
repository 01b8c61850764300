/*
 * api_int.h: what the api_*.c files share (private to src/api/).
 */
#ifndef HD_API_INT_H
#define HD_API_INT_H

#include "api/api.h"
#include "http/http.h"
#include "core/core.h"

#include <jansson.h>

/* Route data for repo-URL routes outside /api/ (/{P}{ns}/{name}/...). */
extern const enum hub_repo_type api_type_model, api_type_dataset, api_type_space;

struct api_config *api_cfg(struct http_req *req);

/* What every handler starts from: the caller (authenticated once from the
 * Authorization header; released when the request ends), the repo of the
 * route, and an error slot for the hub calls. Request memory. */
struct api_ctx {
	struct api_config *cfg;
	struct auth_caller c;
	struct hub_repo_ref ref; /* repo routes only */
	struct hub_err e;
};
/* Authenticates (git: answer a bad token with a Basic challenge) and, with
 * repo, names the route's repo (api_repo_ref). NULL after responding. */
struct api_ctx *api_begin(struct http_req *req, int git, int repo);

/* Authenticates from Authorization (Bearer token, or Basic with the token as
 * the password). 0 with *c filled (anonymous when there is no header); on a
 * bad token responds 401 and returns < 0. git: answer 401 with a Basic
 * challenge (git and git-lfs clients). */
int api_auth(struct http_req *req, struct auth_caller *c, int git);

/* Responds with the HTTP status for a hub error (see hub.h), the JSON error
 * body, X-Error-Code and X-Error-Message. Anonymous callers refused a write
 * get 401. */
void api_fail(struct http_req *req, const struct auth_caller *c, int rc, const struct hub_err *e);
/* The 401 of a bad token (exact body the clients recognise). */
void api_fail_bad_token(struct http_req *req, int git);
/* Status for a hub error code. */
int api_status_of(int rc);

/* The repo named by the route: type from :T or the route's data, ns from :ns,
 * name from :name (a trailing ".git" removed). Strings live in the request.
 * Responds 404 and returns < 0 when the type is unknown. */
int api_repo_ref(struct http_req *req, struct hub_repo_ref *ref);

/* Decodes a raw path tail ("a/b%2Fc") into "a/b/c" (request memory); NULL
 * (after a 400) when it does not decode. */
char *api_decode_tail(struct http_req *req, const char *raw);
/* Splits a decoded "rev/path..." tail at the longest existing ref (hub_rev_
 * split): *rev and *path point into request memory (*path "" when none).
 * Responds (404/400) and returns < 0 on failure. */
int api_split_rev_path(struct http_req *req, const struct auth_caller *c,
                       const struct hub_repo_ref *ref, const char *tail, char **rev, char **path);

/* The body as a JSON object, released when the request ends (borrowed);
 * responds 400 and returns NULL otherwise. */
json_t *api_json_body(struct http_req *req);
/* The same, where an empty body means {}. */
json_t *api_json_body_or_empty(struct http_req *req);

/* A JSON string for text that should be UTF-8 but might not be (names from
 * git): invalid bytes become U+FFFD. Never NULL. */
json_t *api_jstr(const char *s);
json_t *api_jstr_or_null(const char *s);
/* "2024-01-01T00:00:00.000Z" */
json_t *api_jdate(int64_t ms);

/* Absolute URLs from --public-url (request memory). */
char *api_repo_url(struct http_req *req, enum hub_repo_type type, const char *id);
/* Sets Link: <this URL with cursor=C>; rel="next" (absolute, with the space
 * the JS client's regex needs). */
void api_link_next(struct http_req *req, const char *cursor);

/* Query helpers: every value of name and of name[] (expand=x and expand[]=x). */
size_t api_query_list(struct http_req *req, const char *name, const char **out, size_t max);
int api_query_has(struct http_req *req, const char *name, const char *value);
/* Parses a non-negative integer query parameter (absent: def). Responds 400
 * and returns < 0 when malformed. */
int api_query_size(struct http_req *req, const char *name, size_t def, size_t *out);

/* JSON for a repo as listings and info show it. */
json_t *api_repo_json(struct http_req *req, const struct hub_repo *r);
json_t *api_tree_entry_json(const struct hub_tree_entry *e, int expand);

/* Route handlers, one area a file. */
void api_whoami(struct http_req *req);
void api_repo_create(struct http_req *req);
void api_repo_delete(struct http_req *req);
void api_repo_move(struct http_req *req);
void api_repo_settings(struct http_req *req);
void api_repo_info(struct http_req *req);
void api_repo_list(struct http_req *req);

void api_resolve(struct http_req *req);
void api_raw(struct http_req *req);
void api_tree(struct http_req *req);
void api_paths_info(struct http_req *req);

void api_preupload(struct http_req *req);
void api_commit(struct http_req *req);
void api_commits(struct http_req *req);
void api_refs(struct http_req *req);
void api_branch(struct http_req *req);
void api_tag_create(struct http_req *req);
void api_tag_delete(struct http_req *req);

void api_lfs_batch(struct http_req *req);
void api_lfs_verify(struct http_req *req);
void api_lfs_verify_signed(struct http_req *req);
void api_lfs_locks(struct http_req *req);
int api_lfs_upload_begin(struct http_req *req);
int api_lfs_upload_body(struct http_req *req, const void *data, size_t n);
void api_lfs_upload_end(struct http_req *req);
int api_lfs_part_begin(struct http_req *req);
int api_lfs_part_body(struct http_req *req, const void *data, size_t n);
void api_lfs_part_end(struct http_req *req);
void api_lfs_complete(struct http_req *req);
void api_lfs_download(struct http_req *req);

int api_git_begin(struct http_req *req);
int api_git_body(struct http_req *req, const void *data, size_t n);
void api_git_handle(struct http_req *req);

#endif

/*
 * api: the Hugging Face Hub HTTP API, git smart HTTP and the Git LFS batch
 * API, as handlers on the http module's router. Handlers parse the request,
 * authenticate (hub_authenticate), call one hub_* service function and
 * serialize its result; every access decision is the hub's.
 *
 * Files: api_common.c (auth, errors, URLs, JSON helpers), api_repo.c
 * (whoami, create/delete/move/settings, info, listing), api_files.c
 * (resolve/raw, tree, paths-info), api_commit.c (preupload, NDJSON commit,
 * commits, refs, branches, tags), api_lfs.c (batch, signed upload/part/
 * complete/download hrefs, verify), api_git.c (git http-backend), and the
 * pure parsers of untrusted bodies in api_parse.c (fuzzed).
 */
#ifndef HD_API_H
#define HD_API_H

#include "hub/hub.h"

#include <stddef.h>
#include <stdint.h>

struct http_route;

struct api_config {
	struct hub *hub;
	const char *public_url; /* absolute base of every URL we send, no trailing '/' */
	const char *tmp_dir; /* where git request bodies are spooled */
	size_t tree_page_size; /* entries per tree page (default 1000) */
	size_t list_page_size; /* repos per listing page (default and cap, 1000) */
	int64_t max_push_size; /* largest git push body (bytes) */
	int64_t href_ttl_s; /* lifetime of signed LFS hrefs */
	const char *git_path; /* PATH for `git http-backend` */
	const char *data_dir; /* absolute --data, handed to git hooks as HUDDLE_DATA */
	const char *self_exe; /* this binary, handed to git hooks as HUDDLE_BIN */
	const char *hooks_dir; /* git's core.hooksPath for pushes (pre-receive); NULL
	                          refuses every push (nothing would check it) */
};

/* Defaults for the optional fields (page sizes, limits, ttl). */
void api_config_init(struct api_config *cfg);

/* Writes DIR/pre-receive, the hook git receive-pack runs during a push: it
 * execs `$HUDDLE_BIN git-hook pre-receive $HUDDLE_REPO_UID --data
 * $HUDDLE_DATA` (see cmd_git_hook.c). 0 or -errno. */
int api_git_hooks_install(const char *dir);

/* The route table (borrowed, static). Handlers find their api_config through
 * the server's app pointer, which must be a struct api_config. */
const struct http_route *api_routes(size_t *n);

/* ---- parsers of untrusted bodies (pure: bytes in, struct or error out) ---- */

/* The NDJSON commit body: one JSON object {"key": K, "value": {...}} a line,
 * first a header, then file / lfsFile / deletedFile / deletedFolder lines.
 * Unknown keys, malformed lines, bad base64 or a missing header: HD_EINVAL
 * with a message in err; more than max_ops operations: HD_ETOOBIG. Paths are
 * not checked here (the hub's grammar does that). */
struct api_commit {
	char *summary;
	char *description; /* NULL if absent */
	char *parent_commit; /* NULL if absent */
	struct hub_commit_op *ops; /* strings and content owned by this struct */
	size_t n_ops;
};
int api_commit_parse(const char *body, size_t n, size_t max_ops, struct api_commit *out, char *err,
                     size_t err_size);
void api_commit_release(struct api_commit *c);

/* The LFS batch request (application/vnd.git-lfs+json). operation must be
 * "upload" or "download"; objects[] each with a 64-hex oid (lowercased
 * input is required: SECURITY P5) and a size >= 0; hash_algo, when present,
 * "sha256" or "sha_256". Unknown fields are ignored (git-lfs adds some). */
struct api_lfs_batch {
	enum hub_lfs_op op;
	int multipart_ok; /* the client offered the "multipart" transfer */
	int basic_ok; /* the client offered "basic" (or listed no transfers) */
	char *ref_name; /* NULL if absent */
	struct hub_lfs_object *objs; /* oids owned by this struct */
	size_t n_objs;
};
int api_lfs_batch_parse(const char *body, size_t n, size_t max_objs, struct api_lfs_batch *out,
                        char *err, size_t err_size);
void api_lfs_batch_release(struct api_lfs_batch *b);

/* The multipart completion body {"oid": X, "parts": [{"partNumber": N,
 * "etag": E}, ...]}: *etags gets n_parts strings in part order (one
 * allocation: free(*etags)); every part number 1..n_parts exactly once, oid
 * equal to expect_oid. HD_EINVAL otherwise. */
int api_lfs_complete_parse(const char *body, size_t n, const char *expect_oid, size_t n_parts,
                           char ***etags, char *err, size_t err_size);

/* Base64 (RFC 4648, padded, whitespace-free) to bytes. *out is allocated
 * (caller frees, NUL-terminated for convenience). HD_EINVAL when malformed. */
int api_base64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len);

#endif

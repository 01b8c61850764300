/*
 * hub: the repository service. Everything the API handlers and git smart
 * HTTP need, behind one handle: repositories (create, delete, move,
 * settings, info, listing and search), revisions, trees, files (git blobs or
 * LFS objects), commits, branches and tags, the preupload decision, LFS
 * batch decisions and verified uploads, signed URLs, and the re-index after
 * a git push. Handlers parse, authenticate (hub_authenticate), call one
 * function here, and serialize; every access decision is made in here.
 *
 * Conventions
 * - Every function returns 0 or a negative hd_err (core.h). The usual map to
 *   HTTP: HD_EINVAL 400/422, HD_EAUTH 401, HD_EPERM 403, HD_ENOTFOUND 404,
 *   HD_EEXIST 409, HD_ECONFLICT 412 (stale parentCommit) or 409,
 *   HD_ETOOBIG 413, HD_ECORRUPT 400/422 (bytes do not match oid/size),
 *   anything else 500.
 * - `struct hub_err *err` (may be NULL) receives a message for the client
 *   and, for 404s, the Hub's X-Error-Code ("RepoNotFound",
 *   "RevisionNotFound", "EntryNotFound"); code is "" otherwise.
 * - A private repo the caller cannot read answers HD_ENOTFOUND with code
 *   RepoNotFound, exactly like a missing repo, on every call. A caller who
 *   can read but not write gets HD_EPERM for writes.
 * - Results are owned by the caller and freed with the matching _release /
 *   _free; strings inside them live as long as the result.
 * - Thread-safe: call from any number of threads at once.
 * - Repos are named by type + namespace + name (struct hub_repo_ref, borrowed
 *   strings straight from the URL); lookups are case-insensitive and results
 *   carry the canonical spelling. Revisions: a branch, a tag, a full or
 *   abbreviated (>= 7) hex sha, or "HEAD" (= the default branch "main"); for
 *   URL routing, hub_rev_split() finds the longest existing ref.
 */
#ifndef HD_HUB_H
#define HD_HUB_H

#include "auth/auth.h"

#include <stddef.h>
#include <stdint.h>

struct hub;
struct store;

/* ---- errors ------------------------------------------------------------- */
struct hub_err {
	char code[32]; /* "RepoNotFound", "RevisionNotFound", "EntryNotFound" or "" */
	char msg[512];
};

/* ---- open / close --------------------------------------------------------- */
struct hub_config {
	int64_t multipart_threshold; /* LFS uploads >= this use multipart (default 64 MiB) */
	int64_t multipart_chunk; /* part size (default 16 MiB) */
	int64_t max_regular_size; /* largest non-LFS file in a commit (default 10 MiB) */
	int64_t max_lfs_size; /* largest LFS object (default 50 GiB) */
	int64_t max_commit_ops; /* ops in one commit (default 100000) */
	int no_search_index; /* 1: no in-memory listing index (hub_repo_list then
	                        answers HD_EUNSUPPORTED); for short-lived tools */
};
void hub_config_init(struct hub_config *cfg); /* the defaults above */

/* Opens (creating what is missing) the data dir: huddle.db, repos/, lfs/,
 * tmp/, secret.key; loads the listing index. cfg NULL = defaults. */
int hub_open(const char *data_dir, const struct hub_config *cfg, struct hub **out,
             struct hub_err *err);
void hub_close(struct hub *h);
const struct hub_config *hub_config(const struct hub *h);
struct store *hub_store(struct hub *h); /* for the CLI and auth_* calls */

/* ---- callers ---------------------------------------------------------------- */
/* token: the bearer token or the git basic-auth password; NULL/"" =
 * anonymous. HD_EAUTH: answer 401 "Invalid credentials in Authorization
 * header" (out is then anonymous). Release with auth_caller_release. */
int hub_authenticate(struct hub *h, const char *token, struct auth_caller *out);

/* whoami-v2: everything it shows is in the caller (user, fullname, email,
 * is_admin, orgs[].org/.role, token_name, token_role, token_created_ms);
 * anonymous (user_id == 0) answers 401. */

/* ---- names ------------------------------------------------------------------- */
enum hub_repo_type { HUB_REPO_MODEL = 0, HUB_REPO_DATASET = 1, HUB_REPO_SPACE = 2 };
/* "model"/"models", "dataset"/"datasets", "space"/"spaces"; NULL/"" = model. */
int hub_repo_type_parse(const char *s, enum hub_repo_type *out);
const char *hub_repo_type_name(enum hub_repo_type t); /* "model", ... */
const char *hub_repo_type_plural(enum hub_repo_type t); /* "models", ... */
const char *hub_repo_type_prefix(enum hub_repo_type t); /* "", "datasets/", "spaces/" */

struct hub_repo_ref {
	enum hub_repo_type type;
	const char *ns;
	const char *name;
};

/* Grammar checks (SECURITY P1, P2, P3, P5), no I/O. 1 if valid. */
int hub_name_valid(const char *name); /* = auth_name_valid */
int hub_path_valid(const char *path); /* repo file path */
int hub_rev_valid(const char *rev); /* branch/tag name, hex sha or HEAD */
int hub_branch_name_valid(const char *name); /* a new branch or tag name */
int hub_oid_valid(const char *oid); /* exactly 64 lowercase hex */

/* ---- repositories ------------------------------------------------------------- */
enum hub_gated { HUB_GATED_NO = 0, HUB_GATED_AUTO = 1, HUB_GATED_MANUAL = 2 };

struct hub_repo {
	char uid[33]; /* immutable random id (hex): "_id" in the API */
	enum hub_repo_type type;
	char ns[AUTH_NAME_MAX + 1];
	char name[AUTH_NAME_MAX + 1];
	char id[2 * AUTH_NAME_MAX + 2]; /* "ns/name", canonical case */
	int is_private;
	enum hub_gated gated;
	int64_t created_ms, last_modified_ms; /* last_modified: last change of main */
	int64_t downloads, likes;
	char sha[41]; /* head of main; "" for a repo without commits */
	char *sdk; /* spaces: "static", "gradio", ...; NULL otherwise */
	/* model-card metadata from README.md front matter on main (NULL = none) */
	char *license, *pipeline_tag, *library_name;
	char **tags; /* the Hub-style tag set: card tags + library, pipeline,
	                "license:x", "dataset:x", "base_model:x", languages */
	size_t n_tags;
	char *card_json; /* the whole front matter as a JSON object text, or NULL */
};
void hub_repo_release(struct hub_repo *r);

/* Creates type/ns/name with an initial commit holding the default
 * .gitattributes on branch main. The caller must be allowed to create in ns
 * (itself or an org where it is write/admin). HD_EEXIST when a repo of that
 * type and name exists in any case (the handler answers 409 with its url);
 * HD_EINVAL for a bad name; HD_ENOTFOUND for an unknown namespace;
 * HD_EPERM when not allowed. sdk: spaces only (may be NULL). out may be
 * NULL. */
int hub_repo_create(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                    int is_private, const char *sdk, struct hub_repo *out, struct hub_err *err);
/* Needs admin access to the repo. Removes the git repo, its LFS possession
 * rows and its listing. */
int hub_repo_delete(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                    struct hub_err *err);
/* Renames within a type: admin on the source, create rights in the target
 * namespace. HD_EEXIST if the target exists. Only metadata changes. */
int hub_repo_move(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *from,
                  const struct hub_repo_ref *to, struct hub_err *err);
/* is_private / gated: -1 leaves unchanged. Needs admin access. */
int hub_repo_settings(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                      int is_private, int gated, struct hub_err *err);

/* Repo info at a revision (rev NULL = HEAD). out->sha is the commit the
 * revision resolves to (not main's head when rev names something else).
 * with_siblings: HUB_SIBLINGS_FULL (1) fills siblings with every file of
 * the tree (recursive, files only, sizes and LFS info; no lastCommit);
 * HUB_SIBLINGS_NAMES (2) with their paths and oids only, which reads no
 * file objects (listings with full=true); 0 none. */
enum { HUB_SIBLINGS_NONE = 0, HUB_SIBLINGS_FULL = 1, HUB_SIBLINGS_NAMES = 2 };
struct hub_tree_entry;
struct hub_repo_info {
	struct hub_repo repo;
	char rev_sha[41]; /* commit of the requested revision */
	int64_t rev_date_ms; /* its commit time */
	struct hub_tree_entry *siblings;
	size_t n_siblings;
};
int hub_repo_info(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  const char *rev, int with_siblings, struct hub_repo_info *out,
                  struct hub_err *err);
void hub_repo_info_release(struct hub_repo_info *info);

/* Counts one download (the handler calls it for a GET of resolve that is not
 * a Range probe of a later chunk). Best effort; never fails the request. */
void hub_repo_count_download(struct hub *h, const char *repo_uid);
/* A repo's downloads in the trending window (0 for an unknown repo). */
int64_t hub_repo_recent_downloads(struct hub *h, const char *repo_uid);

/* ---- listing and search --------------------------------------------------------- */
enum hub_sort {
	HUB_SORT_DEFAULT = 0, /* createdAt, newest first */
	HUB_SORT_DOWNLOADS,
	HUB_SORT_LIKES,
	HUB_SORT_LAST_MODIFIED,
	HUB_SORT_CREATED,
	HUB_SORT_ID,
	HUB_SORT_TRENDING, /* downloads of the last HUB_TRENDING_DAYS days, most first */
};
/* Trending counts the downloads of the current UTC day and the days before
 * it, HUB_TRENDING_DAYS in all (a per-repo, per-day count in the store). */
#define HUB_TRENDING_DAYS 7
/* "downloads", "likes", "lastModified"/"last_modified", "createdAt"/
 * "created_at", "id"/"modelId", "trending"/"trendingScore"/"trending_score";
 * NULL/"" = default; HD_EINVAL otherwise. */
int hub_sort_parse(const char *s, enum hub_sort *out);
/* Moves the trending window to the current day now: every repo's count is
 * read again and day rows older than the window are deleted. Listings and
 * downloads do this by themselves on the first call of a new day. */
void hub_trending_refresh(struct hub *h);

struct hub_list_query {
	enum hub_repo_type type;
	const char *search; /* case-insensitive substring of "ns/name"; NULL = any */
	const char *author; /* namespace, case-insensitive; NULL = any */
	const char *const *filters; /* every one must be in the repo's tag set */
	size_t n_filters;
	const char *pipeline_tag; /* NULL = any */
	enum hub_sort sort; /* default: created, newest first */
	int direction; /* -1 descending, 1 ascending, 0 = the sort's default
	                  (descending for numbers and dates, ascending for id) */
	size_t limit; /* 0 = 1000; capped at 1000 */
	const char *cursor; /* from a previous page's next_cursor, or NULL */
};
struct hub_repo_list {
	struct hub_repo *items;
	size_t n;
	char *next_cursor; /* NULL on the last page; opaque, URL-safe */
};
/* Private repos the caller cannot read never appear. HD_EINVAL for a bad
 * cursor. */
int hub_repo_list(struct hub *h, const struct auth_caller *c, const struct hub_list_query *q,
                  struct hub_repo_list *out, struct hub_err *err);
void hub_repo_list_release(struct hub_repo_list *l);

/* ---- revisions ------------------------------------------------------------------ */
/* Resolves rev (NULL = HEAD) to a commit sha. RevisionNotFound otherwise. */
int hub_rev_resolve(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                    const char *rev, char sha[41], struct hub_err *err);
/* For raw URL tails "rev/with/slashes/path/to/file": finds the longest
 * prefix of segments that names an existing branch or tag (else the first
 * segment), and sets *rev_len to its length in bytes (the path starts after
 * the next '/'). Needs read access. */
int hub_rev_split(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  const char *tail, size_t *rev_len, struct hub_err *err);

/* ---- trees, paths-info ---------------------------------------------------------- */
struct hub_tree_entry {
	int is_dir;
	char *path;
	char oid[41]; /* git blob or tree sha */
	int64_t size; /* file size (the LFS object's size for LFS files); 0 for dirs */
	int is_lfs;
	char lfs_oid[65]; /* sha256 */
	int64_t lfs_size;
	int64_t pointer_size; /* size of the pointer blob in git */
	/* expand only */
	int has_last_commit;
	char last_commit_id[41];
	char *last_commit_title;
	int64_t last_commit_date_ms;
};
struct hub_tree_page {
	char commit[41]; /* the commit the revision resolved to */
	struct hub_tree_entry *entries;
	size_t n;
	char *next_cursor; /* NULL on the last page */
};
/* Lists path ("" or NULL = root) at rev: its children, or with recursive
 * every entry below it (directories included), in git tree order. expand
 * adds lastCommit. limit 0 = 1000 (expand: 100 at most per page). path
 * naming a missing entry or a file: HD_ENOTFOUND "EntryNotFound". */
int hub_tree_list(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  const char *rev, const char *path, int recursive, int expand, size_t limit,
                  const char *cursor, struct hub_tree_page *out, struct hub_err *err);
/* Entries (files or directories) for those of paths that exist at rev, in the
 * order given, duplicates and invalid paths skipped. At most 1000 paths. */
int hub_paths_info(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                   const char *rev, const char *const *paths, size_t n_paths, int expand,
                   struct hub_tree_page *out, struct hub_err *err);
void hub_tree_page_release(struct hub_tree_page *p);

/* ---- files (resolve / raw) -------------------------------------------------------- */
struct hub_file {
	char commit[41]; /* X-Repo-Commit (also set on EntryNotFound) */
	char repo_uid[33]; /* for hub_repo_count_download */
	char blob_oid[41]; /* git blob sha: the ETag of a regular file */
	int is_lfs; /* served from the LFS store */
	char lfs_oid[65]; /* the ETag / X-Linked-Etag of an LFS file */
	int64_t size; /* bytes served: Content-Length / X-Linked-Size */
	/* The content: exactly one of these. */
	int fd; /* >= 0: an open read-only file, content is bytes [0, size) */
	const void *data; /* else: size bytes in memory */
	/* internal */
	void *priv;
};
/* Opens path at rev for reading. raw = 0 (resolve): an LFS pointer is
 * served as its object, which this repo must possess (else EntryNotFound).
 * raw = 1: the git blob itself. A directory or missing path: HD_ENOTFOUND
 * "EntryNotFound" (out->commit is still set for X-Repo-Commit). Release
 * closes fd and frees data (also after an error). */
int hub_file_open(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  const char *rev, const char *path, int raw, struct hub_file *out,
                  struct hub_err *err);
void hub_file_release(struct hub_file *f);

/* ---- commits ------------------------------------------------------------------------ */
enum hub_op_kind {
	HUB_OP_FILE = 0, /* path + content */
	HUB_OP_LFS_FILE, /* path + lfs oid + size: a pointer to an object this repo has */
	HUB_OP_DELETE_FILE, /* path must be a file */
	HUB_OP_DELETE_FOLDER, /* path must be a directory; removes all below */
};
struct hub_commit_op {
	enum hub_op_kind kind;
	const char *path;
	const void *content; /* HUB_OP_FILE: decoded bytes */
	size_t content_size;
	const char *lfs_oid; /* HUB_OP_LFS_FILE */
	int64_t lfs_size; /* -1: the size of the object this repo has */
};
struct hub_commit_req {
	const char *summary; /* required, non-empty after trimming */
	const char *description; /* may be NULL */
	const char *parent_commit; /* NULL, or the sha the branch must still be at */
	const struct hub_commit_op *ops;
	size_t n_ops;
};
/* Commits ops on branch (NULL = main; must be a branch, not a tag or sha) as
 * the caller, atomically: either the branch moves to the new commit or
 * nothing changes. Paths are checked (P1) before anything is written. An
 * LFS pointer, as an lfsFile or as a regular file's content, may only name
 * an object this repo has (as in a push).
 * Errors: HD_ECONFLICT stale parent (412); HD_EINVAL bad path/op, deleting
 * a missing path, unknown LFS oid or size mismatch; HD_ETOOBIG; HD_EPERM no
 * write access; HD_ENOTFOUND repo or branch. commit_oid receives the new
 * commit's sha. An empty change (tree identical) still creates a commit. */
int hub_commit_create(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                      const char *branch, const struct hub_commit_req *req, char commit_oid[41],
                      struct hub_err *err);

struct hub_commit_info {
	char id[41];
	char *title; /* first line of the message */
	char *message; /* the rest after the blank line ("" if none) */
	char *author_name; /* the committing user's name (authors[].user) */
	char *author_email;
	int64_t date_ms;
};
struct hub_commit_list {
	struct hub_commit_info *items;
	size_t n;
	int64_t total; /* X-Total-Count: commits reachable from rev */
	char *next_cursor; /* NULL on the last page */
};
/* Newest first (by commit time, then topology). limit 0 = 50, max 1000. */
int hub_commits_list(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                     const char *rev, size_t limit, const char *cursor, struct hub_commit_list *out,
                     struct hub_err *err);
void hub_commit_list_release(struct hub_commit_list *l);

/* ---- refs, branches, tags --------------------------------------------------------- */
struct hub_ref {
	char *name; /* "main", "v1" */
	char *ref; /* "refs/heads/main", "refs/tags/v1" */
	char target[41]; /* commit sha (tags: the commit, peeled) */
};
struct hub_refs {
	struct hub_ref *branches;
	size_t n_branches;
	struct hub_ref *tags;
	size_t n_tags;
};
int hub_refs_list(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  struct hub_refs *out, struct hub_err *err);
void hub_refs_release(struct hub_refs *r);
/* Write access. starting_point: a revision (NULL = main's head). empty: the
 * branch starts with an empty-tree commit. overwrite: move an existing
 * branch, else HD_EEXIST. */
int hub_branch_create(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                      const char *branch, const char *starting_point, int empty, int overwrite,
                      struct hub_err *err);
/* HD_EPERM for "main"; HD_ENOTFOUND "RevisionNotFound" if missing. */
int hub_branch_delete(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                      const char *branch, struct hub_err *err);
/* Tags rev (NULL = main) as tag (annotated when message is non-empty). */
int hub_tag_create(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                   const char *rev, const char *tag, const char *message, struct hub_err *err);
int hub_tag_delete(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                   const char *tag, struct hub_err *err);

/* ---- preupload ---------------------------------------------------------------------- */
struct hub_preupload_file {
	const char *path; /* in */
	int64_t size; /* in */
	const void *sample; /* in: the decoded first bytes (up to 512), may be NULL */
	size_t sample_size;
	int is_lfs; /* out: uploadMode "lfs" (else "regular") */
	int should_ignore; /* out: always 0 (no .gitignore support yet) */
	char oid[65]; /* out: remote oid at rev ("" = null): git sha1 for a regular
	                 file, sha256 for an LFS one */
};
/* Needs write access. LFS when the path matches an LFS pattern of
 * .gitattributes at rev (or of git_attributes sent by the client), or
 * size > max_regular_size (10 MiB), or a NUL byte in the sample and
 * size > 1 MiB; empty files are regular. A bad path: HD_EINVAL. */
int hub_preupload(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  const char *rev, const char *git_attributes, struct hub_preupload_file *files,
                  size_t n_files, struct hub_err *err);

/* ---- LFS ------------------------------------------------------------------------------ */
enum hub_lfs_op { HUB_LFS_UPLOAD = 0, HUB_LFS_DOWNLOAD = 1 };
enum hub_lfs_state {
	HUB_LFS_UPLOAD_NEEDED = 0, /* upload: send upload (+verify) actions */
	HUB_LFS_PRESENT, /* upload: this repo already has it: no actions */
	HUB_LFS_DOWNLOADABLE, /* download: send a download action */
	HUB_LFS_OBJ_NOT_FOUND, /* download: error {code:404} */
	HUB_LFS_OBJ_INVALID, /* bad oid or size: error {code:422} */
	HUB_LFS_OBJ_TOO_BIG, /* over max_lfs_size: error {code:422} */
};
struct hub_lfs_object {
	const char *oid; /* in */
	int64_t size; /* in (upload: declared; download: ignored and set) */
	enum hub_lfs_state state; /* out */
	int multipart; /* out: upload with parts (size >= multipart_threshold) */
	int64_t chunk_size; /* out: multipart part size */
	int64_t n_parts; /* out: ceil(size / chunk_size) */
};
/* Batch decisions for repo. Upload needs write access, download read access
 * (else the usual ENOTFOUND/EPERM for the whole request). repo_uid (33
 * bytes) receives the repo's uid for building signed hrefs. At most 10000
 * objects. */
int hub_lfs_batch(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  enum hub_lfs_op op, struct hub_lfs_object *objs, size_t n_objs, char repo_uid[33],
                  struct hub_err *err);
/* Verify (Python): 0 if this repo has oid with that size, HD_ENOTFOUND else.
 * Needs write access. */
int hub_lfs_verify(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                   const char *oid, int64_t size, struct hub_err *err);

/* Uploads arrive on signed hrefs, without a caller: the handler checks the
 * signature (hub_sign_check) over a path naming repo uid, oid and size, then
 * streams the body here. The writer hashes while writing to tmp/, refuses
 * more than size bytes (HD_ETOOBIG), and finish() verifies sha256 and length
 * (HD_ECORRUPT on mismatch), publishes the object atomically and records
 * that this repo has it. Nothing is ever published under the final name with
 * wrong bytes. abort() (or finish failing) removes the temp file. */
struct hub_lfs_writer;
int hub_lfs_upload_begin(struct hub *h, const char *repo_uid, const char *oid, int64_t size,
                         struct hub_lfs_writer **out, struct hub_err *err);
int hub_lfs_upload_write(struct hub_lfs_writer *w, const void *data, size_t n);
int hub_lfs_upload_finish(struct hub_lfs_writer *w, struct hub_err *err); /* frees w */
void hub_lfs_upload_abort(struct hub_lfs_writer *w); /* frees w; NULL ok */

/* Multipart: part part_no (1-based, <= n_parts) of object oid/size. Each part
 * is written to its own temp file and renamed into place when complete (a
 * retry replaces it). A part must be exactly chunk_size bytes except the
 * last. etag (65 bytes) receives the part's sha256 hex (send it quoted). */
struct hub_lfs_part_writer;
int hub_lfs_part_begin(struct hub *h, const char *repo_uid, const char *oid, int64_t size,
                       int64_t chunk_size, int part_no, struct hub_lfs_part_writer **out,
                       struct hub_err *err);
int hub_lfs_part_write(struct hub_lfs_part_writer *w, const void *data, size_t n);
int hub_lfs_part_finish(struct hub_lfs_part_writer *w, char etag[65],
                        struct hub_err *err); /* frees w */
void hub_lfs_part_abort(struct hub_lfs_part_writer *w);
/* Completion: etags[i] is the client's etag for part i+1 (quotes allowed);
 * all n_parts parts must be present and match. Concatenates them in order
 * through the verifying writer, then removes the parts. */
int hub_lfs_multipart_complete(struct hub *h, const char *repo_uid, const char *oid, int64_t size,
                               int64_t chunk_size, const char *const *etags, size_t n_etags,
                               struct hub_err *err);

/* Download of an object through a signed href (git-lfs): the repo must
 * possess it. fd/size like struct hub_file (release with hub_file_release;
 * only fd, size and lfs_oid are set). */
int hub_lfs_open(struct hub *h, const char *repo_uid, const char *oid, struct hub_file *out,
                 struct hub_err *err);

/* ---- signed URLs ------------------------------------------------------------------------ */
/* HMAC-SHA256 with the data dir's secret key over "METHOD\nPATH\nEXPIRES".
 * path is whatever the handler wants bound (path and any extra query
 * parameters in a fixed order). sig: 64 hex chars + NUL. */
void hub_sign(struct hub *h, const char *method, const char *path, int64_t expires_unix,
              char sig[65]);
/* 0 if sig matches (constant-time) and expires_unix is in the future;
 * HD_EAUTH otherwise. */
int hub_sign_check(struct hub *h, const char *method, const char *path, int64_t expires_unix,
                   const char *sig);

/* ---- git smart HTTP ------------------------------------------------------------------------ */
/* The bare git dir of a repo for `git http-backend` (GIT_PROJECT_ROOT = the
 * parent, PATH_INFO = "/<basename>/..."). write = 1 for receive-pack (needs
 * write access). dir: caller frees. repo_uid (33 bytes) may be NULL. */
int hub_git_dir(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                int write, char **dir, char repo_uid[33], struct hub_err *err);
/* Pre-receive check of a push (run from the repo's pre-receive hook, with
 * git's quarantine environment): updates is the hook's stdin ("old new ref"
 * lines). Refuses refs outside refs/heads and refs/tags, deleting main,
 * paths breaking the grammar, non-LFS blobs over max_regular_size, and LFS
 * pointers to objects this repo does not have. 0 = accept. */
int hub_git_check_push(struct hub *h, const char *repo_uid, const char *updates,
                       struct hub_err *err);
/* After a push: re-reads main's head, card metadata and last_modified. */
int hub_git_after_push(struct hub *h, const char *repo_uid, struct hub_err *err);

/* ---- model cards ------------------------------------------------------------------------------ */
struct hub_card {
	char *license, *pipeline_tag, *library_name;
	char **tags; /* the card's tags: list */
	size_t n_tags;
	char **base_models, **datasets, **languages;
	size_t n_base_models, n_datasets, n_languages;
	char *json; /* the front matter as a JSON object, or NULL */
	size_t body_offset; /* where the markdown after the front matter starts */
};
/* Parses README.md's YAML front matter ("---\n...\n---"). No front matter:
 * 0 with everything NULL. Malformed YAML, too deep (> 64) or too big
 * (> 256 KiB, > 100000 nodes): HD_EINVAL with a message (a commit still
 * succeeds; the card just has no metadata). */
int hub_card_parse(const char *text, size_t n, struct hub_card *out, char *err, size_t err_size);
void hub_card_release(struct hub_card *card);

#endif

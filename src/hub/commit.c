/*
 * commit.c: writing and reading history. The commit API (ops applied to an
 * in-memory index built from the branch head, written as a real commit,
 * then the branch moved by compare-and-swap), the commits listing, and the
 * preupload decision.
 */
#include "hub/hub_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMMIT_RETRIES 8
#define SUMMARY_MAX 4096
#define DESCRIPTION_MAX (1 << 20)
#define COMMITS_PAGE_DEFAULT 50
#define COMMITS_PAGE_MAX 1000
#define COMMITS_COUNT_MAX 1000000
#define GITATTRIBUTES_MAX (1 << 20)
#define BINARY_LFS_MIN (1 << 20)

/* 0 if repo row may point at LFS object oid (size; -1 = any) and *have is
 * its size; else an error naming path. The rule of the push check too. */
static int check_possession(struct hub *h, const struct repo_row *row, const char *path,
                            const char *oid, int64_t size, int64_t *have, struct hub_err *err)
{
	if (repo_lfs_has(h, row->db_id, oid, have))
		return hub_fail(err, HD_EINVAL, NULL,
		                "%.300s: LFS object %s was not uploaded to this repo", path, oid);
	if (size >= 0 && *have != size)
		return hub_fail(err, HD_EINVAL, NULL,
		                "%.300s: LFS object %s has %lld bytes, not %lld", path, oid,
		                (long long)*have, (long long)size);
	return 0;
}

/* Validates every op before anything is written. lfs_sizes[i] receives the
 * size of op i's LFS object (an lfsFile line without size takes the size of
 * the object the repo has: Python's copy of an LFS file). */
static int check_ops(struct hub *h, const struct repo_row *row, const struct hub_commit_req *req,
                     int64_t *lfs_sizes, struct hub_err *err)
{
	if (!req->summary || !*req->summary)
		return hub_fail(err, HD_EINVAL, NULL, "The commit summary is required");
	if (strlen(req->summary) > SUMMARY_MAX ||
	    (req->description && strlen(req->description) > DESCRIPTION_MAX))
		return hub_fail(err, HD_ETOOBIG, NULL, "commit message too long");
	if (!utf8_valid(req->summary, strlen(req->summary)) ||
	    (req->description && !utf8_valid(req->description, strlen(req->description))))
		return hub_fail(err, HD_EINVAL, NULL, "commit message is not valid UTF-8");
	if (req->parent_commit && *req->parent_commit) {
		size_t n = strlen(req->parent_commit);
		if (n < 7 || n > 40 || !hex_is_lower(req->parent_commit, n))
			return hub_fail(err, HD_EINVAL, NULL, "parentCommit must be a commit sha");
	}
	if ((int64_t)req->n_ops > h->cfg.max_commit_ops)
		return hub_fail(err, HD_ETOOBIG, NULL,
		                "too many operations in one commit (max %lld)",
		                (long long)h->cfg.max_commit_ops);
	for (size_t i = 0; i < req->n_ops; i++) {
		const struct hub_commit_op *op = &req->ops[i];
		if (!hub_path_valid(op->path))
			return hub_fail(err, HD_EINVAL, NULL, "Invalid path: '%.300s'",
			                op->path ? op->path : "");
		switch (op->kind) {
		case HUB_OP_FILE: {
			char oid[65];
			int64_t size, have;
			if (!op->content && op->content_size)
				return hub_fail(err, HD_EINVAL, NULL, "file %s has no content",
				                op->path);
			if ((int64_t)op->content_size > h->cfg.max_regular_size)
				return hub_fail(
				        err, HD_ETOOBIG, NULL,
				        "%s is larger than %lld bytes: upload it through LFS",
				        op->path, (long long)h->cfg.max_regular_size);
			/* A pointer committed as a regular file follows the rule of an
			 * lfsFile (and of a push): only objects this repo has. */
			if (op->content &&
			    lfs_pointer_parse(op->content, op->content_size, oid, &size)) {
				int rc = check_possession(h, row, op->path, oid, size, &have, err);
				if (rc)
					return rc;
			}
			break;
		}
		case HUB_OP_LFS_FILE: {
			if (!hub_oid_valid(op->lfs_oid))
				return hub_fail(err, HD_EINVAL, NULL, "%s: invalid LFS oid",
				                op->path);
			int rc = check_possession(h, row, op->path, op->lfs_oid, op->lfs_size,
			                          &lfs_sizes[i], err);
			if (rc)
				return rc;
			break;
		}
		case HUB_OP_DELETE_FILE:
		case HUB_OP_DELETE_FOLDER: break;
		default: return hub_fail(err, HD_EINVAL, NULL, "unknown operation");
		}
	}
	return 0;
}

/* Is there any index entry strictly below dir/ ? */
static int index_has_dir(git_index *idx, const char *dir)
{
	size_t pos;
	char *prefix = xasprintf("%s/", dir);
	int found = git_index_find_prefix(&pos, idx, prefix) == 0;
	free(prefix);
	return found;
}

/* Adds (or replaces) a blob at path, refusing file/directory clashes. */
static int index_put(git_index *idx, const char *path, const git_oid *blob, size_t size,
                     struct hub_err *err)
{
	git_index_entry e;

	if (index_has_dir(idx, path))
		return hub_fail(err, HD_EINVAL, NULL, "'%.300s' is a directory", path);
	for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
		char *parent = xstrndup(path, (size_t)(p - path));
		int clash = git_index_get_bypath(idx, parent, 0) != NULL;
		if (clash) {
			hub_fail(err, HD_EINVAL, NULL,
			         "'%.300s' is a file, so '%.300s' cannot be added", parent, path);
			free(parent);
			return HD_EINVAL;
		}
		free(parent);
	}
	memset(&e, 0, sizeof(e));
	e.mode = GIT_FILEMODE_BLOB;
	e.id = *blob;
	e.path = path;
	e.file_size = (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size);
	if (git_index_add(idx, &e) < 0)
		return git_err(err, HD_EINTERNAL, "adding to the index");
	return 0;
}

static int apply_ops(git_repository *repo, git_index *idx, const struct hub_commit_req *req,
                     const int64_t *lfs_sizes, struct hub_err *err)
{
	struct buf ptr = BUF_INIT;
	int rc = 0;

	for (size_t i = 0; i < req->n_ops && !rc; i++) {
		const struct hub_commit_op *op = &req->ops[i];
		git_oid blob;
		switch (op->kind) {
		case HUB_OP_FILE:
			if (git_blob_create_from_buffer(&blob, repo, op->content ? op->content : "",
			                                op->content_size) < 0)
				rc = git_err(err, HD_EINTERNAL, "writing a blob");
			else
				rc = index_put(idx, op->path, &blob, op->content_size, err);
			break;
		case HUB_OP_LFS_FILE:
			buf_reset(&ptr);
			lfs_pointer_format(&ptr, op->lfs_oid, lfs_sizes[i]);
			if (git_blob_create_from_buffer(&blob, repo, ptr.data, ptr.len) < 0)
				rc = git_err(err, HD_EINTERNAL, "writing a pointer");
			else
				rc = index_put(idx, op->path, &blob, ptr.len, err);
			break;
		case HUB_OP_DELETE_FILE:
			if (!git_index_get_bypath(idx, op->path, 0))
				rc = hub_fail(err, HD_EINVAL, XC_ENTRY, "File not found: %.300s",
				              op->path);
			else if (git_index_remove(idx, op->path, 0) < 0)
				rc = git_err(err, HD_EINTERNAL, "removing from the index");
			break;
		case HUB_OP_DELETE_FOLDER:
			if (!index_has_dir(idx, op->path))
				rc = hub_fail(err, HD_EINVAL, XC_ENTRY, "Folder not found: %.300s",
				              op->path);
			else if (git_index_remove_directory(idx, op->path, 0) < 0)
				rc = git_err(err, HD_EINTERNAL, "removing from the index");
			break;
		}
	}
	buf_release(&ptr);
	return rc;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int hub_commit_create(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                      const char *branch, const struct hub_commit_req *req, char commit_oid[41],
                      struct hub_err *err)
{
	struct repo_row row;
	git_repository *repo;
	git_signature *sig = NULL;
	char *refname = NULL, *message = NULL;
	int64_t *lfs_sizes = NULL;
	int rc;

	commit_oid[0] = 0;
	if (!branch || !*branch || !strcmp(branch, "HEAD"))
		branch = "main";
	rc = repo_open(h, c, ref, AUTH_ACCESS_WRITE, &row, &repo, err);
	if (rc)
		return rc;
	if (!hub_branch_name_valid(branch) || !strncmp(branch, "refs/", 5)) {
		rc = hub_fail(err, HD_ENOTFOUND, XC_REV, "Invalid rev id: %.64s", branch);
		goto out;
	}
	lfs_sizes = xcalloc(req->n_ops + 1, sizeof(*lfs_sizes));
	rc = check_ops(h, &row, req, lfs_sizes, err);
	if (rc)
		goto out;
	if (git_sig_for(c, &sig)) {
		rc = hub_fail(err, HD_EINTERNAL, NULL, "cannot make a signature");
		goto out;
	}
	message = req->description && *req->description
	                  ? xasprintf("%s\n\n%s", req->summary, req->description)
	                  : xstrdup(req->summary);
	refname = xasprintf("refs/heads/%s", branch);

	for (int attempt = 0;; attempt++) {
		git_reference *head_ref = NULL, *new_ref = NULL;
		git_commit *parent = NULL;
		git_tree *tree = NULL;
		git_index *idx = NULL;
		git_oid head, tree_id, new_commit;
		int grc;

		if (git_reference_lookup(&head_ref, repo, refname) < 0 ||
		    git_reference_peel((git_object **)&parent, head_ref, GIT_OBJECT_COMMIT) < 0) {
			git_reference_free(head_ref);
			rc = hub_fail(err, HD_ENOTFOUND, XC_REV, "Invalid rev id: %.64s", branch);
			break;
		}
		git_oid_cpy(&head, git_commit_id(parent));
		git_reference_free(head_ref);
		if (req->parent_commit && *req->parent_commit) {
			char hs[41];
			git_oid_tostr(hs, sizeof(hs), &head);
			if (strncmp(hs, req->parent_commit, strlen(req->parent_commit))) {
				git_commit_free(parent);
				rc = hub_fail(err, HD_ECONFLICT, NULL,
				              "A commit has happened since. Please refresh and try "
				              "again.");
				break;
			}
		}
		if (git_commit_tree(&tree, parent) < 0 || git_index_new(&idx) < 0 ||
		    git_index_read_tree(idx, tree) < 0) {
			rc = git_err(err, HD_EINTERNAL, "reading the branch");
		} else {
			rc = apply_ops(repo, idx, req, lfs_sizes, err);
			if (!rc && git_index_write_tree_to(&tree_id, idx, repo) < 0)
				rc = git_err(err, HD_EINTERNAL, "writing the tree");
		}
		git_tree_free(tree);
		tree = NULL;
		git_index_free(idx);
		if (!rc && (git_tree_lookup(&tree, repo, &tree_id) < 0 ||
		            git_commit_create(&new_commit, repo, NULL, sig, sig, NULL, message,
		                              tree, 1, (const git_commit **)&parent) < 0))
			rc = git_err(err, HD_EINTERNAL, "writing the commit");
		git_tree_free(tree);
		git_commit_free(parent);
		if (rc)
			break;
		/* Move the branch only if it still points where we started. */
		grc = git_reference_create_matching(&new_ref, repo, refname, &new_commit, 1, &head,
		                                    "commit (api)");
		git_reference_free(new_ref);
		if (grc == 0) {
			git_oid_tostr(commit_oid, 41, &new_commit);
			break;
		}
		if ((grc == GIT_EMODIFIED || grc == GIT_ELOCKED) && attempt < COMMIT_RETRIES) {
			if (req->parent_commit && *req->parent_commit && grc == GIT_EMODIFIED) {
				rc = hub_fail(err, HD_ECONFLICT, NULL,
				              "A commit has happened since. Please refresh and try "
				              "again.");
				break;
			}
			sleep_ms(5 + 10 * attempt);
			continue;
		}
		rc = grc == GIT_EMODIFIED || grc == GIT_ELOCKED
		             ? hub_fail(err, HD_ECONFLICT, NULL,
		                        "The branch is busy with other commits; try again")
		             : git_err(err, HD_EINTERNAL, "updating the branch");
		break;
	}
	if (!rc && !strcmp(branch, "main"))
		repo_refresh(h, &row, time_now_ms());
out:
	free(lfs_sizes);
	free(message);
	free(refname);
	git_signature_free(sig);
	git_repository_free(repo);
	repo_row_release(&row);
	return rc;
}

/* ---- commits listing -------------------------------------------------------------------- */
void hub_commit_list_release(struct hub_commit_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].title);
		free(l->items[i].message);
		free(l->items[i].author_name);
		free(l->items[i].author_email);
	}
	free(l->items);
	free(l->next_cursor);
	memset(l, 0, sizeof(*l));
}

int hub_commits_list(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                     const char *rev, size_t limit, const char *cursor, struct hub_commit_list *out,
                     struct hub_err *err)
{
	struct repo_row row;
	git_repository *repo;
	git_revwalk *walk = NULL;
	git_oid start, id;
	int64_t offset = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (cursor && *cursor && (str_to_i64(cursor, &offset) || offset < 0))
		return hub_fail(err, HD_EINVAL, NULL, "invalid cursor");
	if (!limit)
		limit = COMMITS_PAGE_DEFAULT;
	if (limit > COMMITS_PAGE_MAX)
		limit = COMMITS_PAGE_MAX;
	rc = repo_open(h, c, ref, AUTH_ACCESS_READ, &row, &repo, err);
	if (rc)
		return rc;
	rc = git_resolve(repo, rev, &start, err);
	if (rc)
		goto out;
	if (git_revwalk_new(&walk, repo) < 0 || git_revwalk_push(walk, &start) < 0) {
		rc = git_err(err, HD_EINTERNAL, "walking the history");
		goto out;
	}
	git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
	out->items = xcalloc(limit, sizeof(struct hub_commit_info));
	int64_t i = 0;
	for (; i < COMMITS_COUNT_MAX && git_revwalk_next(&id, walk) == 0; i++) {
		if (i < offset || out->n >= limit)
			continue;
		git_commit *cm = NULL;
		if (git_commit_lookup(&cm, repo, &id) < 0)
			continue;
		struct hub_commit_info *ci = &out->items[out->n++];
		const git_signature *a = git_commit_author(cm);
		const char *summary = git_commit_summary(cm), *body = git_commit_body(cm);
		git_oid_tostr(ci->id, sizeof(ci->id), &id);
		ci->title = xstrdup(summary ? summary : "");
		ci->message = xstrdup(body ? body : "");
		ci->author_name = xstrdup(a && a->name ? a->name : "");
		ci->author_email = xstrdup(a && a->email ? a->email : "");
		ci->date_ms = (int64_t)git_commit_time(cm) * 1000;
		git_commit_free(cm);
	}
	out->total = i;
	if (offset + (int64_t)out->n < out->total)
		out->next_cursor = xasprintf("%lld", (long long)(offset + (int64_t)out->n));
out:
	git_revwalk_free(walk);
	git_repository_free(repo);
	repo_row_release(&row);
	if (rc)
		hub_commit_list_release(out);
	return rc;
}

/* ---- preupload ------------------------------------------------------------------------- */
int hub_preupload(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  const char *rev, const char *git_attributes, struct hub_preupload_file *files,
                  size_t n_files, struct hub_err *err)
{
	struct rev_view v;
	struct buf attrs_text = BUF_INIT;
	struct attrs repo_rules = {NULL, 0}, client_rules = {NULL, 0};
	int rc;

	if (n_files > 10000)
		return hub_fail(err, HD_ETOOBIG, NULL, "too many files in one preupload");
	if (git_attributes && strlen(git_attributes) > GITATTRIBUTES_MAX)
		return hub_fail(err, HD_ETOOBIG, NULL, "gitAttributes is too large");
	rc = rev_view_open(h, c, ref, AUTH_ACCESS_WRITE, rev, &v, err);
	if (rc)
		return rc;
	/* The rules are parsed once for all the files. */
	git_read_path(v.repo, &v.commit_id, ".gitattributes", GITATTRIBUTES_MAX, &attrs_text);
	attrs_parse(&repo_rules, attrs_text.data);
	attrs_parse(&client_rules, git_attributes);
	for (size_t i = 0; i < n_files; i++) {
		struct hub_preupload_file *f = &files[i];
		f->is_lfs = 0;
		f->should_ignore = 0;
		f->oid[0] = 0;
		if (!hub_path_valid(f->path)) {
			rc = hub_fail(err, HD_EINVAL, NULL, "Invalid path: '%.300s'",
			              f->path ? f->path : "");
			break;
		}
		if (f->size < 0) {
			rc = hub_fail(err, HD_EINVAL, NULL, "%s: invalid size", f->path);
			break;
		}
		if (f->size > 0) {
			int binary = f->sample && memchr(f->sample, 0, f->sample_size) != NULL;
			f->is_lfs = attrs_match_lfs(&repo_rules, f->path) ||
			            attrs_match_lfs(&client_rules, f->path) ||
			            f->size > h->cfg.max_regular_size ||
			            (binary && f->size > BINARY_LFS_MIN);
		}
		/* The remote oid: the sha256 of an LFS file, else the blob's sha1. */
		git_tree_entry *te = NULL;
		if (git_tree_entry_bypath(&te, v.root, f->path) == 0 &&
		    git_tree_entry_type(te) == GIT_OBJECT_BLOB) {
			const git_oid *id = git_tree_entry_id(te);
			git_blob *blob = NULL;
			git_object_t ot;
			size_t len = SIZE_MAX;
			int64_t lsz;
			git_odb_read_header(&len, &ot, v.odb, id);
			if (len > LFS_POINTER_MAX || git_blob_lookup(&blob, v.repo, id) < 0 ||
			    !lfs_pointer_parse(git_blob_rawcontent(blob),
			                       (size_t)git_blob_rawsize(blob), f->oid, &lsz))
				git_oid_tostr(f->oid, 41, id);
			git_blob_free(blob);
		}
		git_tree_entry_free(te);
	}
	attrs_release(&repo_rules);
	attrs_release(&client_rules);
	buf_release(&attrs_text);
	rev_view_close(&v);
	return rc;
}

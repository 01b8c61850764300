/*
 * tree.c: reading a revision. Tree listings (recursive, paginated, with the
 * last commit of each entry), paths-info, repo info with siblings, and
 * opening a file for resolve/raw (a git blob, or the LFS object its pointer
 * names when this repo possesses it).
 */
#include "hub/hub_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TREE_DEPTH_MAX 256
#define TREE_ENTRIES_MAX 2000000
#define LAST_COMMIT_WALK_MAX 20000
#define PAGE_DEFAULT 1000
#define PAGE_EXPAND_MAX 100

struct entry_vec {
	struct hub_tree_entry *v;
	size_t n, cap;
};

static struct hub_tree_entry *entry_push(struct entry_vec *a)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	struct hub_tree_entry *e = &a->v[a->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

static void entry_release(struct hub_tree_entry *e)
{
	free(e->path);
	free(e->last_commit_title);
}

/* Fills e's path, oid and kind from a tree entry at full path. 0 for what
 * is neither a file nor a directory (a submodule): skipped. */
static int entry_init(const git_tree_entry *te, const char *path, struct hub_tree_entry *e)
{
	git_object_t type = git_tree_entry_type(te);

	if (type != GIT_OBJECT_TREE && type != GIT_OBJECT_BLOB)
		return 0;
	e->path = xstrdup(path);
	git_oid_tostr(e->oid, sizeof(e->oid), git_tree_entry_id(te));
	e->is_dir = type == GIT_OBJECT_TREE;
	return 1;
}

/* A file's size from its object header, and the LFS fields when a small
 * blob parses as a pointer. Kept apart from entry_init because it reads the
 * object: a tree page reads only the objects of its own entries. */
static void entry_detail(git_repository *repo, git_odb *odb, struct hub_tree_entry *e)
{
	git_oid id;
	size_t len = 0;
	git_object_t otype;

	if (e->is_dir || git_oid_fromstr(&id, e->oid) < 0 ||
	    git_odb_read_header(&len, &otype, odb, &id) < 0)
		return;
	e->size = (int64_t)len;
	if (len <= LFS_POINTER_MAX) {
		git_blob *blob = NULL;
		if (git_blob_lookup(&blob, repo, &id) == 0 &&
		    lfs_pointer_parse(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob),
		                      e->lfs_oid, &e->lfs_size)) {
			e->is_lfs = 1;
			e->pointer_size = (int64_t)len;
			e->size = e->lfs_size;
		}
		git_blob_free(blob);
	}
}

/* Appends the entries of tree (preorder, git order) under prefix: paths,
 * oids and kinds only (entry_detail adds sizes). */
static int collect(git_repository *repo, const git_tree *tree, const char *prefix, int recursive,
                   int files_only, int depth, struct entry_vec *out)
{
	size_t n = git_tree_entrycount(tree);

	if (depth > TREE_DEPTH_MAX)
		return HD_ETOOBIG;
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(tree, i);
		char *path = prefix && *prefix ? xasprintf("%s/%s", prefix, git_tree_entry_name(te))
		                               : xstrdup(git_tree_entry_name(te));
		struct hub_tree_entry tmp;
		int rc = 0;
		memset(&tmp, 0, sizeof(tmp));
		if (out->n >= TREE_ENTRIES_MAX) {
			free(path);
			return HD_ETOOBIG;
		}
		if (entry_init(te, path, &tmp)) {
			int is_dir = tmp.is_dir;
			if (!(files_only && is_dir))
				*entry_push(out) = tmp;
			else
				entry_release(&tmp);
			if (recursive && is_dir) {
				git_tree *sub = NULL;
				if (git_tree_lookup(&sub, repo, git_tree_entry_id(te)) == 0)
					rc = collect(repo, sub, path, recursive, files_only,
					             depth + 1, out);
				git_tree_free(sub);
			}
		}
		free(path);
		if (rc)
			return rc;
	}
	return 0;
}

/* Does path name the same object in trees a and b? (absent in both: yes) */
static int same_at(const git_tree *a, const git_tree *b, const char *path)
{
	git_tree_entry *ea = NULL, *eb = NULL;
	int ha = a && git_tree_entry_bypath(&ea, a, path) == 0;
	int hb = b && git_tree_entry_bypath(&eb, b, path) == 0;
	int same = ha == hb && (!ha || git_oid_equal(git_tree_entry_id(ea), git_tree_entry_id(eb)));
	git_tree_entry_free(ea);
	git_tree_entry_free(eb);
	return same;
}

static void set_last_commit(struct hub_tree_entry *e, const git_commit *c)
{
	e->has_last_commit = 1;
	git_oid_tostr(e->last_commit_id, sizeof(e->last_commit_id), git_commit_id(c));
	const char *summary = git_commit_summary((git_commit *)c);
	e->last_commit_title = xstrdup(summary ? summary : "");
	e->last_commit_date_ms = (int64_t)git_commit_time(c) * 1000;
}

/* The last commit that changed each entry, walking first parents from
 * start. */
static void fill_last_commits(git_repository *repo, const git_oid *start,
                              struct hub_tree_entry *entries, size_t n)
{
	git_revwalk *walk = NULL;
	git_oid id;
	size_t left = n;
	long steps = 0;
	git_commit *last = NULL;

	if (!n || git_revwalk_new(&walk, repo) < 0)
		return;
	git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
	git_revwalk_simplify_first_parent(walk);
	if (git_revwalk_push(walk, start) < 0)
		goto out;
	while (left && steps++ < LAST_COMMIT_WALK_MAX && git_revwalk_next(&id, walk) == 0) {
		git_commit *c = NULL, *parent = NULL;
		git_tree *tc = NULL, *tp = NULL;
		if (git_commit_lookup(&c, repo, &id) < 0)
			break;
		git_commit_tree(&tc, c);
		if (git_commit_parentcount(c) > 0 && git_commit_parent(&parent, c, 0) == 0)
			git_commit_tree(&tp, parent);
		int tree_same = tc && tp && git_oid_equal(git_tree_id(tc), git_tree_id(tp));
		for (size_t i = 0; i < n && !tree_same; i++) {
			if (entries[i].has_last_commit)
				continue;
			if (!same_at(tc, tp, entries[i].path)) {
				set_last_commit(&entries[i], c);
				left--;
			}
		}
		git_tree_free(tc);
		git_tree_free(tp);
		git_commit_free(parent);
		git_commit_free(last);
		last = c;
	}
	/* Walk cut short: attribute the rest to the oldest commit seen. */
	for (size_t i = 0; i < n && last; i++)
		if (!entries[i].has_last_commit)
			set_last_commit(&entries[i], last);
out:
	git_commit_free(last);
	git_revwalk_free(walk);
}

void hub_tree_page_release(struct hub_tree_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		entry_release(&p->entries[i]);
	free(p->entries);
	free(p->next_cursor);
	memset(p, 0, sizeof(*p));
}

static void entries_release(struct entry_vec *a)
{
	for (size_t i = 0; i < a->n; i++)
		entry_release(&a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

int hub_tree_list(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  const char *rev, const char *path, int recursive, int expand, size_t limit,
                  const char *cursor, struct hub_tree_page *out, struct hub_err *err)
{
	struct rev_view v;
	git_tree *sub = NULL;
	git_tree_entry *te = NULL;
	struct entry_vec all = {0};
	int64_t offset = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = rev_view_open(h, c, ref, AUTH_ACCESS_READ, rev, &v, err);
	if (rc)
		return rc;
	memcpy(out->commit, v.commit, sizeof(out->commit));
	if (cursor && *cursor && (str_to_i64(cursor, &offset) || offset < 0)) {
		rc = hub_fail(err, HD_EINVAL, NULL, "invalid cursor");
		goto out;
	}
	if (path && *path) {
		if (!hub_path_valid(path) || git_tree_entry_bypath(&te, v.root, path) < 0 ||
		    git_tree_entry_type(te) != GIT_OBJECT_TREE ||
		    git_tree_lookup(&sub, v.repo, git_tree_entry_id(te)) < 0) {
			rc = hub_fail(err, HD_ENOTFOUND, XC_ENTRY, "Entry not found");
			goto out;
		}
	}
	rc = collect(v.repo, sub ? sub : v.root, path, recursive, 0, 0, &all);
	if (rc) {
		hub_fail(err, rc, NULL, "tree too large");
		goto out;
	}
	if (!limit || limit > PAGE_DEFAULT)
		limit = PAGE_DEFAULT;
	if (expand && limit > PAGE_EXPAND_MAX)
		limit = PAGE_EXPAND_MAX;
	size_t start = (size_t)HD_MIN((uint64_t)offset, (uint64_t)all.n);
	size_t end = HD_MIN(start + limit, all.n);
	/* The page's entries move to out (their slots in all are cleared). */
	out->entries = xcalloc(end - start + 1, sizeof(struct hub_tree_entry));
	for (size_t i = start; i < end; i++) {
		entry_detail(v.repo, v.odb, &all.v[i]);
		out->entries[out->n++] = all.v[i];
		memset(&all.v[i], 0, sizeof(all.v[i]));
	}
	if (end < all.n)
		out->next_cursor = xasprintf("%zu", end);
	if (expand)
		fill_last_commits(v.repo, &v.commit_id, out->entries, out->n);
out:
	entries_release(&all);
	git_tree_entry_free(te);
	git_tree_free(sub);
	rev_view_close(&v);
	if (rc) {
		char commit[41];
		memcpy(commit, out->commit, sizeof(commit));
		hub_tree_page_release(out);
		memcpy(out->commit, commit, sizeof(commit));
	}
	return rc;
}

int hub_paths_info(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                   const char *rev, const char *const *paths, size_t n_paths, int expand,
                   struct hub_tree_page *out, struct hub_err *err)
{
	struct rev_view v;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n_paths > 1000)
		return hub_fail(err, HD_ETOOBIG, NULL, "at most 1000 paths");
	rc = rev_view_open(h, c, ref, AUTH_ACCESS_READ, rev, &v, err);
	if (rc)
		return rc;
	memcpy(out->commit, v.commit, sizeof(out->commit));
	out->entries = xcalloc(n_paths + 1, sizeof(struct hub_tree_entry));
	for (size_t i = 0; i < n_paths; i++) {
		git_tree_entry *te = NULL;
		int dup = 0;
		if (!hub_path_valid(paths[i]))
			continue;
		for (size_t j = 0; j < out->n && !dup; j++)
			dup = !strcmp(out->entries[j].path, paths[i]);
		if (dup || git_tree_entry_bypath(&te, v.root, paths[i]) < 0)
			continue;
		struct hub_tree_entry e;
		memset(&e, 0, sizeof(e));
		if (entry_init(te, paths[i], &e)) {
			entry_detail(v.repo, v.odb, &e);
			out->entries[out->n++] = e;
		}
		git_tree_entry_free(te);
	}
	if (expand)
		fill_last_commits(v.repo, &v.commit_id, out->entries, out->n);
	rev_view_close(&v);
	return 0;
}

int hub_repo_info(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  const char *rev, int with_siblings, struct hub_repo_info *out,
                  struct hub_err *err)
{
	struct rev_view v;
	git_commit *commit = NULL;
	struct entry_vec sib = {0};
	int rc;

	memset(out, 0, sizeof(*out));
	rc = rev_view_open(h, c, ref, AUTH_ACCESS_READ, rev, &v, err);
	if (rc)
		return rc;
	memcpy(out->rev_sha, v.commit, sizeof(out->rev_sha));
	if (git_commit_lookup(&commit, v.repo, &v.commit_id) == 0)
		out->rev_date_ms = (int64_t)git_commit_time(commit) * 1000;
	git_commit_free(commit);
	if (with_siblings) {
		rc = collect(v.repo, v.root, "", 1, 1, 0, &sib);
		if (rc) {
			entries_release(&sib);
			rev_view_close(&v);
			return hub_fail(err, rc, NULL, "tree too large");
		}
		for (size_t i = 0; with_siblings != HUB_SIBLINGS_NAMES && i < sib.n; i++)
			entry_detail(v.repo, v.odb, &sib.v[i]);
		out->siblings = sib.v;
		out->n_siblings = sib.n;
	}
	out->repo = v.row.repo;
	memset(&v.row.repo, 0, sizeof(v.row.repo));
	rev_view_close(&v);
	return 0;
}

void hub_repo_info_release(struct hub_repo_info *info)
{
	if (!info)
		return;
	hub_repo_release(&info->repo);
	for (size_t i = 0; i < info->n_siblings; i++)
		entry_release(&info->siblings[i]);
	free(info->siblings);
	memset(info, 0, sizeof(*info));
}

/* ---- files -------------------------------------------------------------------------- */
void hub_file_release(struct hub_file *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f->priv);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
}

/* Opens the LFS object oid of repo row for reading into f. */
static int open_lfs(struct hub *h, int64_t repo_db_id, const char *oid, int64_t want_size,
                    struct hub_file *f, struct hub_err *err)
{
	int64_t have = 0, size = 0;
	int fd = -1;

	if (repo_lfs_has(h, repo_db_id, oid, &have) || (want_size >= 0 && have != want_size))
		return hub_fail(err, HD_ENOTFOUND, XC_ENTRY, "LFS object not found in this repo");
	int rc = store_blob_open(h->st, oid, &fd, &size);
	if (rc)
		return hub_fail(err, HD_ENOTFOUND, XC_ENTRY, "LFS object missing from the store");
	if (size != have) {
		close(fd);
		log_error("hub: LFS object %s has %lld bytes on disk, %lld recorded", oid,
		          (long long)size, (long long)have);
		return hub_fail(err, HD_ECORRUPT, NULL, "LFS object is damaged");
	}
	f->fd = fd;
	f->size = size;
	f->is_lfs = 1;
	memcpy(f->lfs_oid, oid, 65);
	return 0;
}

int hub_file_open(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  const char *rev, const char *path, int raw, struct hub_file *out,
                  struct hub_err *err)
{
	struct rev_view v;
	git_tree_entry *te = NULL;
	git_blob *blob = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	rc = rev_view_open(h, c, ref, AUTH_ACCESS_READ, rev, &v, err);
	if (rc)
		return rc;
	memcpy(out->repo_uid, v.row.repo.uid, sizeof(out->repo_uid));
	memcpy(out->commit, v.commit, sizeof(out->commit));
	if (!hub_path_valid(path) || git_tree_entry_bypath(&te, v.root, path) < 0 ||
	    git_tree_entry_type(te) != GIT_OBJECT_BLOB ||
	    git_blob_lookup(&blob, v.repo, git_tree_entry_id(te)) < 0) {
		rc = hub_fail(err, HD_ENOTFOUND, XC_ENTRY, "Entry not found");
		goto out;
	}
	git_oid_tostr(out->blob_oid, sizeof(out->blob_oid), git_tree_entry_id(te));
	size_t len = (size_t)git_blob_rawsize(blob);
	const void *content = git_blob_rawcontent(blob);
	char oid[65];
	int64_t lfs_size;
	if (!raw && lfs_pointer_parse(content, len, oid, &lfs_size)) {
		rc = open_lfs(h, v.row.db_id, oid, lfs_size, out, err);
		goto out;
	}
	out->priv = xmalloc(len ? len : 1);
	memcpy(out->priv, content, len);
	out->data = out->priv;
	out->size = (int64_t)len;
out:
	git_blob_free(blob);
	git_tree_entry_free(te);
	rev_view_close(&v);
	return rc;
}

int hub_lfs_open(struct hub *h, const char *repo_uid, const char *oid, struct hub_file *out,
                 struct hub_err *err)
{
	struct repo_row row;
	int rc;

	memset(out, 0, sizeof(*out));
	out->fd = -1;
	if (!hub_oid_valid(oid))
		return hub_fail(err, HD_EINVAL, NULL, "invalid oid");
	if (repo_get_by_uid(h, repo_uid, &row))
		return hub_fail(err, HD_ENOTFOUND, XC_REPO, "Repository not found");
	memcpy(out->repo_uid, row.repo.uid, sizeof(out->repo_uid));
	rc = open_lfs(h, row.db_id, oid, -1, out, err);
	repo_row_release(&row);
	return rc;
}

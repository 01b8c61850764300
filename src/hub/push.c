/*
 * push.c: what git smart HTTP needs. The repo's bare git dir (after the
 * access check), the pre-receive check of a push (the same rules the commit
 * API enforces: path grammar, no big non-LFS blobs, LFS pointers only to
 * objects this repo has, main never deleted), and the re-index afterwards.
 */
#include "hub/hub_int.h"

#include <stdlib.h>
#include <string.h>

#define PUSH_COMMITS_MAX 100000

int hub_git_dir(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                int write, char **dir, char repo_uid[33], struct hub_err *err)
{
	struct repo_row row;
	int rc = repo_get(h, c, ref, write ? AUTH_ACCESS_WRITE : AUTH_ACCESS_READ, &row, err);

	*dir = NULL;
	if (rc)
		return rc;
	*dir = repo_git_path(h, row.repo.uid);
	if (repo_uid)
		memcpy(repo_uid, row.repo.uid, 33);
	repo_row_release(&row);
	return 0;
}

struct push_ctx {
	struct hub *h;
	const struct repo_row *row;
	git_repository *repo;
	git_odb *odb;
	struct hub_err *err;
};

/* Checks one added or modified entry of a pushed tree. */
static int check_entry(struct push_ctx *p, const git_diff_file *f)
{
	char oid[65];
	int64_t lsz, have;
	size_t len = 0;
	git_object_t type;

	if (!hub_path_valid(f->path))
		return hub_fail(p->err, HD_EPERM, NULL, "invalid path '%.300s'", f->path);
	if (f->mode == GIT_FILEMODE_COMMIT)
		return hub_fail(p->err, HD_EPERM, NULL, "submodules are not supported ('%.300s')",
		                f->path);
	if (f->mode == GIT_FILEMODE_TREE)
		return 0;
	if (git_odb_read_header(&len, &type, p->odb, &f->id) < 0)
		return hub_fail(p->err, HD_EPERM, NULL, "missing object for '%.300s'", f->path);
	if ((int64_t)len > p->h->cfg.max_regular_size)
		return hub_fail(p->err, HD_EPERM, NULL,
		                "'%.300s' is %zu bytes: files over %lld bytes must use Git LFS",
		                f->path, len, (long long)p->h->cfg.max_regular_size);
	if (len > LFS_POINTER_MAX)
		return 0;
	git_blob *blob = NULL;
	int rc = 0;
	if (git_blob_lookup(&blob, p->repo, &f->id) == 0 &&
	    lfs_pointer_parse(git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), oid,
	                      &lsz) &&
	    (repo_lfs_has(p->h, p->row->db_id, oid, &have) || have != lsz))
		rc = hub_fail(
		        p->err, HD_EPERM, NULL,
		        "'%.300s' points to LFS object %s, which was not uploaded to this repo",
		        f->path, oid);
	git_blob_free(blob);
	return rc;
}

static int check_commit(struct push_ctx *p, const git_oid *id)
{
	git_commit *c = NULL, *parent = NULL;
	git_tree *tree = NULL, *ptree = NULL;
	git_diff *diff = NULL;
	int rc = 0;

	if (git_commit_lookup(&c, p->repo, id) < 0 || git_commit_tree(&tree, c) < 0)
		return hub_fail(p->err, HD_EPERM, NULL, "unreadable commit in the push");
	if (git_commit_parentcount(c) > 0 &&
	    (git_commit_parent(&parent, c, 0) < 0 || git_commit_tree(&ptree, parent) < 0)) {
		rc = hub_fail(p->err, HD_EPERM, NULL, "unreadable parent commit in the push");
		goto out;
	}
	if (git_diff_tree_to_tree(&diff, p->repo, ptree, tree, NULL) < 0) {
		rc = hub_fail(p->err, HD_EPERM, NULL, "cannot read the pushed trees");
		goto out;
	}
	for (size_t i = 0; i < git_diff_num_deltas(diff) && !rc; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		if (d->status == GIT_DELTA_ADDED || d->status == GIT_DELTA_MODIFIED ||
		    d->status == GIT_DELTA_TYPECHANGE)
			rc = check_entry(p, &d->new_file);
	}
out:
	git_diff_free(diff);
	git_tree_free(ptree);
	git_tree_free(tree);
	git_commit_free(parent);
	git_commit_free(c);
	return rc;
}

static int hide_existing_refs(git_repository *repo, git_revwalk *walk)
{
	git_reference_iterator *it = NULL;
	git_reference *r;
	if (git_reference_iterator_new(&it, repo) < 0)
		return -1;
	while (git_reference_next(&r, it) == 0) {
		git_object *obj = NULL;
		if (git_reference_peel(&obj, r, GIT_OBJECT_COMMIT) == 0)
			git_revwalk_hide(walk, git_object_id(obj));
		git_object_free(obj);
		git_reference_free(r);
	}
	git_reference_iterator_free(it);
	return 0;
}

static int check_update(struct push_ctx *p, const char *old_hex, const char *new_hex,
                        const char *refname)
{
	static const char zero[] = "0000000000000000000000000000000000000000";
	const char *name;
	git_oid new_id;
	git_object *target = NULL;
	git_revwalk *walk = NULL;
	int rc = 0;

	if (!strncmp(refname, "refs/heads/", 11))
		name = refname + 11;
	else if (!strncmp(refname, "refs/tags/", 10))
		name = refname + 10;
	else
		return hub_fail(p->err, HD_EPERM, NULL,
		                "only branches and tags can be pushed (%.200s)", refname);
	if (!hub_branch_name_valid(name))
		return hub_fail(p->err, HD_EPERM, NULL, "invalid ref name %.200s", refname);
	if (!strcmp(new_hex, zero)) {
		if (!strcmp(refname, "refs/heads/main"))
			return hub_fail(p->err, HD_EPERM, NULL,
			                "the main branch cannot be deleted");
		return 0;
	}
	if (git_oid_fromstr(&new_id, new_hex) < 0 ||
	    git_object_lookup(&target, p->repo, &new_id, GIT_OBJECT_ANY) < 0)
		return hub_fail(p->err, HD_EPERM, NULL, "unknown object %s", new_hex);
	git_object *peeled = NULL;
	if (git_object_peel(&peeled, target, GIT_OBJECT_COMMIT) < 0) {
		git_object_free(target);
		return hub_fail(p->err, HD_EPERM, NULL, "%s does not point to a commit", refname);
	}
	if (git_revwalk_new(&walk, p->repo) < 0 ||
	    git_revwalk_push(walk, git_object_id(peeled)) < 0) {
		rc = hub_fail(p->err, HD_EPERM, NULL, "cannot walk the pushed history");
		goto out;
	}
	hide_existing_refs(p->repo, walk);
	git_oid old_id;
	if (strcmp(old_hex, zero) && git_oid_fromstr(&old_id, old_hex) == 0)
		git_revwalk_hide(walk, &old_id);
	git_oid id;
	long n = 0;
	while (!rc && git_revwalk_next(&id, walk) == 0) {
		if (++n > PUSH_COMMITS_MAX) {
			rc = hub_fail(p->err, HD_EPERM, NULL, "too many commits in one push");
			break;
		}
		rc = check_commit(p, &id);
	}
out:
	git_revwalk_free(walk);
	git_object_free(peeled);
	git_object_free(target);
	return rc;
}

int hub_git_check_push(struct hub *h, const char *repo_uid, const char *updates,
                       struct hub_err *err)
{
	struct repo_row row;
	struct push_ctx p = {h, &row, NULL, NULL, err};
	int rc;

	if (repo_get_by_uid(h, repo_uid, &row))
		return hub_fail(err, HD_ENOTFOUND, XC_REPO, "Repository not found");
	rc = git_open(h, row.repo.uid, &p.repo, err);
	if (rc)
		goto out;
	if (git_repository_odb(&p.odb, p.repo) < 0) {
		rc = git_err(err, HD_EINTERNAL, "opening the object database");
		goto out;
	}
	/* During pre-receive the pushed objects sit in git's quarantine dir. */
	const char *q = getenv("GIT_QUARANTINE_PATH");
	if (q && *q)
		git_odb_add_disk_alternate(p.odb, q);
	const char *line = updates ? updates : "";
	while (*line && !rc) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *l = xstrndup(line, len), *save = NULL;
		char *old_hex = strtok_r(l, " ", &save), *new_hex = strtok_r(NULL, " ", &save);
		char *refname = strtok_r(NULL, " \r", &save);
		if (old_hex && new_hex && refname && strlen(old_hex) == 40 && strlen(new_hex) == 40)
			rc = check_update(&p, old_hex, new_hex, refname);
		else if (len)
			rc = hub_fail(err, HD_EINVAL, NULL, "malformed ref update");
		free(l);
		line += len + (end ? 1 : 0);
	}
out:
	git_odb_free(p.odb);
	git_repository_free(p.repo);
	repo_row_release(&row);
	return rc;
}

int hub_git_after_push(struct hub *h, const char *repo_uid, struct hub_err *err)
{
	struct repo_row row;
	int rc;

	if (repo_get_by_uid(h, repo_uid, &row))
		return hub_fail(err, HD_ENOTFOUND, XC_REPO, "Repository not found");
	rc = repo_refresh(h, &row, time_now_ms());
	repo_row_release(&row);
	if (rc)
		return hub_fail(err, rc, NULL, "cannot re-index the repository");
	return 0;
}

/*
 * git.c: the libgit2 layer. Opening and creating bare repos, resolving
 * revisions, reading paths, refs, branches and tags.
 *
 * A revision string is checked against the ref-name grammar before it
 * reaches libgit2 (it never reaches the git command line at all). HEAD is
 * the default branch, main.
 */
#include "hub/hub_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_init_once(void)
{
	git_libgit2_init();
	/* Objects, packs and refs written through libgit2 are fsynced (and
	 * their folders), so a commit the API acknowledged survives a power
	 * loss, as the LFS store's blobs do. */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
}

void hub_git_init(void)
{
	pthread_once(&git_once, git_init_once);
}

int git_err(struct hub_err *err, int code, const char *what)
{
	const git_error *e = git_error_last();
	log_error("hub: %s: %s", what, e && e->message ? e->message : "unknown git error");
	return hub_fail(err, code, NULL, "%s failed", what);
}

int git_open(struct hub *h, const char *uid, git_repository **out, struct hub_err *err)
{
	char *path = repo_git_path(h, uid);
	int rc = git_repository_open_ext(out, path,
	                                 GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE |
	                                         GIT_REPOSITORY_OPEN_NO_DOTGIT,
	                                 NULL);
	free(path);
	if (rc < 0) {
		*out = NULL;
		return git_err(err, HD_EINTERNAL, "opening the repository");
	}
	return 0;
}

int git_sig_for(const struct auth_caller *c, git_signature **out)
{
	const char *name = c && c->user[0] ? c->user : "huddle";
	char *email = c && c->email[0] ? xstrdup(c->email)
	                               : xasprintf("%s@users.noreply.huddle.local", name);
	int rc = git_signature_now(out, name, email);
	free(email);
	return rc < 0 ? HD_EINTERNAL : 0;
}

int git_repo_init(const char *path, enum hub_repo_type type, const char *user, const char *email,
                  struct hub_err *err)
{
	git_repository_init_options opts;
	git_repository *repo = NULL;
	git_treebuilder *tb = NULL;
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	git_config *cfg = NULL;
	git_oid blob, tree_id, commit;
	const char *attrs = attrs_default(type);
	int rc = 0;

	git_repository_init_options_init(&opts, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
	             GIT_REPOSITORY_INIT_NO_REINIT;
	opts.initial_head = "main";
	if (git_repository_init_ext(&repo, path, &opts) < 0)
		return git_err(err, HD_EINTERNAL, "creating the repository");
	if (git_repository_config(&cfg, repo) == 0) {
		/* Reflogs would grow without bound for an API-driven repo. */
		git_config_set_bool(cfg, "core.logAllRefUpdates", 0);
		git_config_free(cfg);
	}
	/* `git http-backend` serves only exported repos. */
	char *export_ok = xasprintf("%s/git-daemon-export-ok", path);
	fs_write_atomic(export_ok, "", 0);
	free(export_ok);

	struct auth_caller who;
	auth_caller_init_anonymous(&who);
	snprintf(who.user, sizeof(who.user), "%s", user && *user ? user : "huddle");
	snprintf(who.email, sizeof(who.email), "%s", email ? email : "");
	if (git_blob_create_from_buffer(&blob, repo, attrs, strlen(attrs)) < 0 ||
	    git_treebuilder_new(&tb, repo, NULL) < 0 ||
	    git_treebuilder_insert(NULL, tb, ".gitattributes", &blob, GIT_FILEMODE_BLOB) < 0 ||
	    git_treebuilder_write(&tree_id, tb) < 0 || git_tree_lookup(&tree, repo, &tree_id) < 0 ||
	    git_sig_for(&who, &sig) ||
	    git_commit_create(&commit, repo, "refs/heads/main", sig, sig, NULL, "initial commit",
	                      tree, 0, NULL) < 0)
		rc = git_err(err, HD_EINTERNAL, "writing the initial commit");
	git_signature_free(sig);
	git_tree_free(tree);
	git_treebuilder_free(tb);
	git_repository_free(repo);
	return rc;
}

static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

/* Peels a full ref name to a commit. 0, or HD_ENOTFOUND. */
static int ref_to_commit(git_repository *repo, const char *refname, git_oid *out)
{
	git_reference *ref = NULL;
	git_object *obj = NULL;
	int rc = HD_ENOTFOUND;

	if (git_reference_lookup(&ref, repo, refname) == 0 &&
	    git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT) == 0) {
		git_oid_cpy(out, git_object_id(obj));
		rc = 0;
	}
	git_object_free(obj);
	git_reference_free(ref);
	return rc;
}

int git_resolve(git_repository *repo, const char *rev, git_oid *out, struct hub_err *err)
{
	size_t n;

	if (!rev || !*rev || !strcmp(rev, "HEAD"))
		rev = "main";
	if (!hub_rev_valid(rev))
		return hub_fail(err, HD_ENOTFOUND, XC_REV, "Invalid rev id: %.64s", rev);
	if (!strncmp(rev, "refs/", 5)) {
		if ((!strncmp(rev, "refs/heads/", 11) || !strncmp(rev, "refs/tags/", 10) ||
		     !strncmp(rev, "refs/pr/", 8)) &&
		    ref_to_commit(repo, rev, out) == 0)
			return 0;
		return hub_fail(err, HD_ENOTFOUND, XC_REV, "Invalid rev id: %.64s", rev);
	}
	char *name = xasprintf("refs/heads/%s", rev);
	int rc = ref_to_commit(repo, name, out);
	free(name);
	if (rc) {
		name = xasprintf("refs/tags/%s", rev);
		rc = ref_to_commit(repo, name, out);
		free(name);
	}
	if (!rc)
		return 0;
	n = strlen(rev);
	if (n >= 7 && n <= 40 && all_hex(rev, n)) {
		git_oid oid;
		git_object *obj = NULL;
		if (git_oid_fromstrn(&oid, rev, n) == 0 &&
		    git_object_lookup_prefix(&obj, repo, &oid, n, GIT_OBJECT_COMMIT) == 0) {
			git_oid_cpy(out, git_object_id(obj));
			git_object_free(obj);
			return 0;
		}
	}
	return hub_fail(err, HD_ENOTFOUND, XC_REV, "Invalid rev id: %.64s", rev);
}

int git_read_path(git_repository *repo, const git_oid *commit_id, const char *path, size_t max,
                  struct buf *out)
{
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	int rc = HD_ENOTFOUND;

	if (git_commit_lookup(&commit, repo, commit_id) < 0 || git_commit_tree(&tree, commit) < 0)
		goto out;
	if (git_tree_entry_bypath(&e, tree, path) < 0 || git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		goto out;
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(e)) < 0)
		goto out;
	if ((uint64_t)git_blob_rawsize(blob) > max) {
		rc = HD_ETOOBIG;
		goto out;
	}
	buf_append(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	rc = 0;
out:
	git_blob_free(blob);
	git_tree_entry_free(e);
	git_tree_free(tree);
	git_commit_free(commit);
	return rc;
}

int repo_open(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
              enum auth_access need, struct repo_row *row, git_repository **repo,
              struct hub_err *err)
{
	int rc = repo_get(h, c, ref, need, row, err);
	if (rc)
		return rc;
	rc = git_open(h, row->repo.uid, repo, err);
	if (rc)
		repo_row_release(row);
	return rc;
}

void rev_view_close(struct rev_view *v)
{
	git_tree_free(v->root);
	git_odb_free(v->odb);
	git_repository_free(v->repo);
	repo_row_release(&v->row);
	memset(v, 0, sizeof(*v));
}

int rev_view_open(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  enum auth_access need, const char *rev, struct rev_view *v, struct hub_err *err)
{
	git_commit *commit = NULL;
	int rc;

	memset(v, 0, sizeof(*v));
	rc = repo_open(h, c, ref, need, &v->row, &v->repo, err);
	if (rc)
		return rc;
	rc = git_resolve(v->repo, rev, &v->commit_id, err);
	if (!rc && (git_commit_lookup(&commit, v->repo, &v->commit_id) < 0 ||
	            git_commit_tree(&v->root, commit) < 0))
		rc = git_err(err, HD_EINTERNAL, "reading the commit");
	git_commit_free(commit);
	if (!rc && git_repository_odb(&v->odb, v->repo) < 0)
		rc = git_err(err, HD_EINTERNAL, "opening the object database");
	if (rc) {
		rev_view_close(v);
		return rc;
	}
	git_oid_tostr(v->commit, sizeof(v->commit), &v->commit_id);
	return 0;
}

int hub_rev_resolve(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                    const char *rev, char sha[41], struct hub_err *err)
{
	struct repo_row row;
	git_repository *repo;
	git_oid oid;
	int rc = repo_open(h, c, ref, AUTH_ACCESS_READ, &row, &repo, err);

	if (rc)
		return rc;
	rc = git_resolve(repo, rev, &oid, err);
	if (!rc)
		git_oid_tostr(sha, 41, &oid);
	git_repository_free(repo);
	repo_row_release(&row);
	return rc;
}

static int ref_exists(git_repository *repo, const char *prefix, const char *name)
{
	git_oid oid;
	char *full = xasprintf("%s%s", prefix, name);
	int ok = ref_to_commit(repo, full, &oid) == 0;
	free(full);
	return ok;
}

int hub_rev_split(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  const char *tail, size_t *rev_len, struct hub_err *err)
{
	struct repo_row row;
	git_repository *repo;
	int rc = repo_open(h, c, ref, AUTH_ACCESS_READ, &row, &repo, err);
	size_t n = tail ? strlen(tail) : 0;

	if (rc)
		return rc;
	const char *first = tail ? strchr(tail, '/') : NULL;
	*rev_len = first ? (size_t)(first - tail) : n;
	/* Longest prefix ending at a '/' (or the end) that is a branch or tag. */
	for (size_t end = n; end > *rev_len && n <= 1024; end--) {
		if (end < n && tail[end] != '/')
			continue;
		char *cand = xstrndup(tail, end);
		int found = hub_branch_name_valid(cand) &&
		            (ref_exists(repo, "refs/heads/", cand) ||
		             ref_exists(repo, "refs/tags/", cand) ||
		             (!strncmp(cand, "refs/", 5) && ref_exists(repo, "", cand)));
		free(cand);
		if (found) {
			*rev_len = end;
			break;
		}
	}
	git_repository_free(repo);
	repo_row_release(&row);
	return 0;
}

/* Would refs/<kind>/<name> clash with an existing ref as file and folder
 * ("feat" exists and "feat/x" is wanted, or the other way round)? Git keeps
 * refs as paths, so it cannot hold both. */
static int ref_path_conflict(git_repository *repo, const char *prefix, const char *name)
{
	int conflict = 0;
	for (const char *p = strchr(name, '/'); p && !conflict; p = strchr(p + 1, '/')) {
		char *parent = xstrndup(name, (size_t)(p - name));
		char *full = xasprintf("%s%s", prefix, parent);
		git_reference *r = NULL;
		conflict = git_reference_lookup(&r, repo, full) == 0;
		git_reference_free(r);
		free(full);
		free(parent);
	}
	if (!conflict) {
		git_reference_iterator *it = NULL;
		git_reference *r = NULL;
		char *glob = xasprintf("%s%s/*", prefix, name);
		if (git_reference_iterator_glob_new(&it, repo, glob) == 0 &&
		    git_reference_next(&r, it) == 0)
			conflict = 1;
		git_reference_free(r);
		git_reference_iterator_free(it);
		free(glob);
	}
	return conflict;
}

/* ---- refs ------------------------------------------------------------------------ */
static int cmp_ref(const void *a, const void *b)
{
	return strcmp(((const struct hub_ref *)a)->name, ((const struct hub_ref *)b)->name);
}

int hub_refs_list(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  struct hub_refs *out, struct hub_err *err)
{
	struct repo_row row;
	git_repository *repo;
	git_reference_iterator *it = NULL;
	git_reference *r;
	size_t cap_b = 0, cap_t = 0;
	int rc = repo_open(h, c, ref, AUTH_ACCESS_READ, &row, &repo, err);

	memset(out, 0, sizeof(*out));
	if (rc)
		return rc;
	if (git_reference_iterator_new(&it, repo) < 0) {
		rc = git_err(err, HD_EINTERNAL, "listing refs");
		goto out;
	}
	while (git_reference_next(&r, it) == 0) {
		const char *name = git_reference_name(r);
		git_object *obj = NULL;
		int is_branch = !strncmp(name, "refs/heads/", 11),
		    is_tag = !strncmp(name, "refs/tags/", 10);
		if ((is_branch || is_tag) && git_reference_peel(&obj, r, GIT_OBJECT_COMMIT) == 0) {
			struct hub_ref **list = is_branch ? &out->branches : &out->tags;
			size_t *n = is_branch ? &out->n_branches : &out->n_tags;
			size_t *cap = is_branch ? &cap_b : &cap_t;
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 8;
				*list = xrealloc(*list, *cap * sizeof(struct hub_ref));
			}
			struct hub_ref *e = &(*list)[(*n)++];
			e->name = xstrdup(name + (is_branch ? 11 : 10));
			e->ref = xstrdup(name);
			git_oid_tostr(e->target, sizeof(e->target), git_object_id(obj));
		}
		git_object_free(obj);
		git_reference_free(r);
	}
	if (out->n_branches)
		qsort(out->branches, out->n_branches, sizeof(struct hub_ref), cmp_ref);
	if (out->n_tags)
		qsort(out->tags, out->n_tags, sizeof(struct hub_ref), cmp_ref);
out:
	git_reference_iterator_free(it);
	git_repository_free(repo);
	repo_row_release(&row);
	return rc;
}

void hub_refs_release(struct hub_refs *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_branches; i++) {
		free(r->branches[i].name);
		free(r->branches[i].ref);
	}
	for (size_t i = 0; i < r->n_tags; i++) {
		free(r->tags[i].name);
		free(r->tags[i].ref);
	}
	free(r->branches);
	free(r->tags);
	memset(r, 0, sizeof(*r));
}

static int empty_root_commit(git_repository *repo, const struct auth_caller *c, git_oid *out)
{
	git_treebuilder *tb = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_oid tree_id;
	int rc = 0;

	if (git_treebuilder_new(&tb, repo, NULL) < 0 || git_treebuilder_write(&tree_id, tb) < 0 ||
	    git_tree_lookup(&tree, repo, &tree_id) < 0 || git_sig_for(c, &sig) ||
	    git_commit_create(out, repo, NULL, sig, sig, NULL, "empty branch", tree, 0, NULL) < 0)
		rc = HD_EINTERNAL;
	git_signature_free(sig);
	git_tree_free(tree);
	git_treebuilder_free(tb);
	return rc;
}

int hub_branch_create(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                      const char *branch, const char *starting_point, int empty, int overwrite,
                      struct hub_err *err)
{
	struct repo_row row;
	git_repository *repo;
	git_reference *r = NULL;
	git_oid target;
	int rc;

	if (!hub_branch_name_valid(branch) || !strncmp(branch, "refs/", 5))
		return hub_fail(err, HD_EINVAL, NULL, "Invalid branch name");
	rc = repo_open(h, c, ref, AUTH_ACCESS_WRITE, &row, &repo, err);
	if (rc)
		return rc;
	if (empty)
		rc = empty_root_commit(repo, c, &target)
		             ? git_err(err, HD_EINTERNAL, "empty commit")
		             : 0;
	else
		rc = git_resolve(repo, starting_point, &target, err);
	if (rc)
		goto out;
	if (ref_path_conflict(repo, "refs/heads/", branch)) {
		rc = hub_fail(err, HD_EEXIST, NULL,
		              "Branch '%.200s' clashes with an existing branch (a name cannot be "
		              "both a branch and a folder of branches)",
		              branch);
		goto out;
	}
	char *name = xasprintf("refs/heads/%s", branch);
	int grc = git_reference_create(&r, repo, name, &target, !!overwrite, "branch: create");
	free(name);
	if (grc == GIT_EEXISTS)
		rc = hub_fail(err, HD_EEXIST, NULL, "Reference already exists");
	else if (grc < 0)
		rc = git_err(err, HD_EINTERNAL, "creating the branch");
	git_reference_free(r);
	if (!rc && !strcmp(branch, "main"))
		repo_refresh(h, &row, time_now_ms());
out:
	git_repository_free(repo);
	repo_row_release(&row);
	return rc;
}

int hub_branch_delete(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                      const char *branch, struct hub_err *err)
{
	struct repo_row row;
	git_repository *repo;
	git_reference *r = NULL;
	int rc;

	rc = repo_open(h, c, ref, AUTH_ACCESS_WRITE, &row, &repo, err);
	if (rc)
		return rc;
	if (branch && !strcmp(branch, "main")) {
		rc = hub_fail(err, HD_EPERM, NULL, "Cannot delete the default branch main");
		goto out;
	}
	char *name = hub_branch_name_valid(branch) ? xasprintf("refs/heads/%s", branch) : NULL;
	if (!name || git_reference_lookup(&r, repo, name) < 0)
		rc = hub_fail(err, HD_ENOTFOUND, XC_REV, "Branch not found");
	else if (git_reference_delete(r) < 0)
		rc = git_err(err, HD_EINTERNAL, "deleting the branch");
	free(name);
	git_reference_free(r);
out:
	git_repository_free(repo);
	repo_row_release(&row);
	return rc;
}

int hub_tag_create(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                   const char *rev, const char *tag, const char *message, struct hub_err *err)
{
	struct repo_row row;
	git_repository *repo;
	git_object *target = NULL;
	git_signature *sig = NULL;
	git_oid oid, tag_oid;
	int rc;

	if (!hub_branch_name_valid(tag) || !strncmp(tag, "refs/", 5))
		return hub_fail(err, HD_EINVAL, NULL, "Invalid tag name");
	if (message && strlen(message) > 65536)
		return hub_fail(err, HD_ETOOBIG, NULL, "tag message too long");
	rc = repo_open(h, c, ref, AUTH_ACCESS_WRITE, &row, &repo, err);
	if (rc)
		return rc;
	rc = git_resolve(repo, rev, &oid, err);
	if (rc)
		goto out;
	if (ref_exists(repo, "refs/tags/", tag)) {
		rc = hub_fail(err, HD_EEXIST, NULL, "Tag already exists");
		goto out;
	}
	if (ref_path_conflict(repo, "refs/tags/", tag)) {
		rc = hub_fail(err, HD_EEXIST, NULL,
		              "Tag '%.200s' clashes with an existing tag (a name cannot be both a "
		              "tag and a folder of tags)",
		              tag);
		goto out;
	}
	if (git_object_lookup(&target, repo, &oid, GIT_OBJECT_COMMIT) < 0) {
		rc = git_err(err, HD_EINTERNAL, "looking up the commit");
		goto out;
	}
	int grc;
	if (message && *message) {
		if (git_sig_for(c, &sig)) {
			rc = hub_fail(err, HD_EINTERNAL, NULL, "signature");
			goto out;
		}
		grc = git_tag_create(&tag_oid, repo, tag, target, sig, message, 0);
	} else {
		grc = git_tag_create_lightweight(&tag_oid, repo, tag, target, 0);
	}
	if (grc == GIT_EEXISTS)
		rc = hub_fail(err, HD_EEXIST, NULL, "Tag already exists");
	else if (grc < 0)
		rc = git_err(err, HD_EINTERNAL, "creating the tag");
out:
	git_signature_free(sig);
	git_object_free(target);
	git_repository_free(repo);
	repo_row_release(&row);
	return rc;
}

int hub_tag_delete(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                   const char *tag, struct hub_err *err)
{
	struct repo_row row;
	git_repository *repo;
	int rc = repo_open(h, c, ref, AUTH_ACCESS_WRITE, &row, &repo, err);

	if (rc)
		return rc;
	if (!hub_branch_name_valid(tag) || !ref_exists(repo, "refs/tags/", tag))
		rc = hub_fail(err, HD_ENOTFOUND, XC_REV, "Tag not found");
	else if (git_tag_delete(repo, tag) < 0)
		rc = git_err(err, HD_EINTERNAL, "deleting the tag");
	git_repository_free(repo);
	repo_row_release(&row);
	return rc;
}

/*
 * hub_int.h: what the files of the hub module share. Not for other modules.
 *
 * Files: hub.c (open, errors, signing), names.c (grammar), repo.c
 * (repositories, metadata, listing), git.c (the libgit2 layer: revisions,
 * trees, files, commits, refs), attrs.c (.gitattributes and LFS pointers),
 * lfs.c (batch decisions, uploads, possession), card.c (YAML front matter),
 * search.c (the in-memory listing index, search.h).
 */
#ifndef HD_HUB_INT_H
#define HD_HUB_INT_H

#include "core/core.h"
#include "hub/hub.h"
#include "hub/search.h"
#include "store/store.h"

#include <git2.h>
#include <pthread.h>

#define REPO_LOCKS 64

struct hub {
	struct store *st;
	struct hub_config cfg;
	struct search_index *idx; /* NULL with cfg.no_search_index */
	pthread_rwlock_t idx_lock;
	pthread_mutex_t lfs_lock; /* publishing an object vs collecting unused ones */
	/* Striped by repo id: a repo's metadata refresh (read main, write the
	 * row, update the index) runs alone, so two refreshes finishing in the
	 * other order cannot leave an older head in the row or the index. */
	pthread_mutex_t repo_locks[REPO_LOCKS];
	/* The UTC day (since the epoch) whose trending window the index holds;
	 * the first listing or download of a new day moves the window. */
	int64_t trend_day;
	pthread_mutex_t trend_lock;
};

/* Sets err (may be NULL) and returns code. */
int hub_fail(struct hub_err *err, int code, const char *xcode, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
#define XC_REPO "RepoNotFound"
#define XC_REV "RevisionNotFound"
#define XC_ENTRY "EntryNotFound"

/* ---- repositories (repo.c) ------------------------------------------------ */
/* A repo row plus what access checks need. */
struct repo_row {
	struct hub_repo repo;
	int64_t db_id;
	int64_t owner_id;
	int owner_is_org;
	char key[3 * AUTH_NAME_MAX + 16]; /* "model/alice/x", lowercase */
};
void repo_row_release(struct repo_row *r);
/* The lock of repo db_id's metadata (see struct hub). */
void repo_lock(struct hub *h, int64_t db_id);
void repo_unlock(struct hub *h, int64_t db_id);
/* Loads every repo into a new listing index (hub_open). */
int repo_index_load(struct hub *h);
/* Finds ref and checks access >= need. Missing or invisible: HD_ENOTFOUND
 * RepoNotFound; visible but below need: HD_EPERM. */
int repo_get(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
             enum auth_access need, struct repo_row *out, struct hub_err *err);
int repo_get_by_uid(struct hub *h, const char *uid, struct repo_row *out);
/* Path of the bare repo of uid (caller frees). */
char *repo_git_path(struct hub *h, const char *uid);
/* After main moved (commit, push, branch change): reads head, README card
 * and updates the row and the index. */
int repo_refresh(struct hub *h, const struct repo_row *row, int64_t modified_ms);
/* Records that repo db_id may use oid (size). */
int repo_lfs_add(struct hub *h, int64_t repo_db_id, const char *oid, int64_t size);
/* Removes those of oids from the blob store that no repo has any more. */
void repo_lfs_collect(struct hub *h, char **oids, size_t n);
/* 0 and *size if repo db_id has oid, else HD_ENOTFOUND. */
int repo_lfs_has(struct hub *h, int64_t repo_db_id, const char *oid, int64_t *size);

/* ---- git (git.c) ------------------------------------------------------------ */
void hub_git_init(void); /* git_libgit2_init once per process */
int git_err(struct hub_err *err, int code, const char *what); /* formats git_error_last */
int git_open(struct hub *h, const char *uid, git_repository **out, struct hub_err *err);
/* Creates the bare repo at path with the initial commit. */
int git_repo_init(const char *path, enum hub_repo_type type, const char *user, const char *email,
                  struct hub_err *err);
/* Resolves rev (NULL/"HEAD" = main) to a commit. RevisionNotFound. */
int git_resolve(git_repository *repo, const char *rev, git_oid *out, struct hub_err *err);
/* Reads path at commit into out (0, HD_ENOTFOUND, HD_ETOOBIG over max). */
int git_read_path(git_repository *repo, const git_oid *commit, const char *path, size_t max,
                  struct buf *out);
/* repo_get, then opens its git repository. */
int repo_open(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
              enum auth_access need, struct repo_row *row, git_repository **repo,
              struct hub_err *err);
/* A repo opened at a revision for reading: the row (access need checked),
 * the git repository and its object database, the commit rev names and its
 * root tree. RepoNotFound, RevisionNotFound, or 0 with v to close. */
struct rev_view {
	struct repo_row row;
	git_repository *repo;
	git_odb *odb;
	git_oid commit_id;
	char commit[41];
	git_tree *root;
};
int rev_view_open(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  enum auth_access need, const char *rev, struct rev_view *v, struct hub_err *err);
void rev_view_close(struct rev_view *v);
/* Signature for a commit by the caller (name, email). */
int git_sig_for(const struct auth_caller *c, git_signature **out);

/* ---- .gitattributes, LFS pointers (attrs.c) ---------------------------------- */
/* The Hub's default .gitattributes for a new repo of type t. */
const char *attrs_default(enum hub_repo_type t);
/* The LFS rules of a .gitattributes text, parsed once: every line that sets
 * or unsets the filter attribute, in order. */
struct attrs_rule {
	char *pat;
	int lfs; /* 1: filter=lfs, 0: -filter, !filter or another filter */
};
struct attrs {
	struct attrs_rule *rules;
	size_t n;
};
void attrs_parse(struct attrs *a, const char *gitattributes); /* NULL: no rules */
/* 1 if the last rule matching path says filter=lfs (as git decides). The
 * glob work for one path is bounded, whatever the patterns. */
int attrs_match_lfs(const struct attrs *a, const char *path);
void attrs_release(struct attrs *a);
/* attrs_parse + attrs_match_lfs + attrs_release for one path. */
int attrs_is_lfs(const char *gitattributes, const char *path);
/* Glob match with *, ?, [...] and ** (crossing '/'). */
int attrs_glob(const char *pat, const char *str);
#define LFS_POINTER_MAX 1024
/* Parses a Git LFS pointer; 1 and oid/size if data is one, else 0. */
int lfs_pointer_parse(const void *data, size_t n, char oid[65], int64_t *size);
/* Writes the canonical pointer text for oid/size into out. */
void lfs_pointer_format(struct buf *out, const char *oid, int64_t size);

#endif

/*
 * repo.c: repositories as metadata. Create, delete, move, settings, info,
 * listing; the repo row cache of card metadata; LFS possession rows.
 *
 * A repo is a row (keyed by "type/ns/name" lowercase for case-insensitive
 * uniqueness) plus a bare git repository named by an immutable random uid,
 * so a move is a row update. The listing index mirrors the rows.
 */
#include "hub/hub_int.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPO_COLS                                                                              \
	"r.id, r.uid, r.type, r.owner_id, a.kind, r.namespace, r.name, r.key, r.private,"      \
	" r.gated, r.sdk, r.created, r.last_modified, r.downloads, r.likes, r.sha, r.license," \
	" r.pipeline_tag, r.library_name, r.card_json, r.tags"
#define REPO_FROM " FROM repos r JOIN accounts a ON a.id = r.owner_id"
#define README_MAX (1 << 20)
#define TAGS_MAX 500

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void copy_str(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static char **tags_from_json(const char *text, size_t *n_out)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	char **tags = NULL;
	size_t n = 0;

	if (json_is_array(j) && json_array_size(j)) {
		tags = xcalloc(json_array_size(j), sizeof(char *));
		for (size_t i = 0; i < json_array_size(j); i++)
			if (json_is_string(json_array_get(j, i)))
				tags[n++] = xstrdup(json_string_value(json_array_get(j, i)));
	}
	json_decref(j);
	*n_out = n;
	return tags;
}

static void row_from_stmt(struct store_stmt *s, struct repo_row *r)
{
	struct hub_repo *p = &r->repo;
	memset(r, 0, sizeof(*r));
	r->db_id = store_col_i64(s, 0);
	copy_str(p->uid, sizeof(p->uid), store_col_text(s, 1));
	p->type = (enum hub_repo_type)store_col_i64(s, 2);
	r->owner_id = store_col_i64(s, 3);
	r->owner_is_org = store_col_i64(s, 4) == AUTH_ACCOUNT_ORG;
	copy_str(p->ns, sizeof(p->ns), store_col_text(s, 5));
	copy_str(p->name, sizeof(p->name), store_col_text(s, 6));
	snprintf(p->id, sizeof(p->id), "%s/%s", p->ns, p->name);
	copy_str(r->key, sizeof(r->key), store_col_text(s, 7));
	p->is_private = (int)store_col_i64(s, 8);
	p->gated = (enum hub_gated)store_col_i64(s, 9);
	p->sdk = dup_or_null(store_col_text(s, 10));
	p->created_ms = store_col_i64(s, 11);
	p->last_modified_ms = store_col_i64(s, 12);
	p->downloads = store_col_i64(s, 13);
	p->likes = store_col_i64(s, 14);
	copy_str(p->sha, sizeof(p->sha), store_col_text(s, 15));
	p->license = dup_or_null(store_col_text(s, 16));
	p->pipeline_tag = dup_or_null(store_col_text(s, 17));
	p->library_name = dup_or_null(store_col_text(s, 18));
	p->card_json = dup_or_null(store_col_text(s, 19));
	p->tags = tags_from_json(store_col_text(s, 20), &p->n_tags);
}

void hub_repo_release(struct hub_repo *r)
{
	if (!r)
		return;
	free(r->sdk);
	free(r->license);
	free(r->pipeline_tag);
	free(r->library_name);
	free(r->card_json);
	for (size_t i = 0; i < r->n_tags; i++)
		free(r->tags[i]);
	free(r->tags);
	r->sdk = r->license = r->pipeline_tag = r->library_name = r->card_json = NULL;
	r->tags = NULL;
	r->n_tags = 0;
}

void repo_row_release(struct repo_row *r)
{
	if (r)
		hub_repo_release(&r->repo);
}

static void make_key(char *out, size_t n, enum hub_repo_type t, const char *ns, const char *name)
{
	snprintf(out, n, "%s/%s/%s", hub_repo_type_name(t), ns, name);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

static void row_from_stmt_cb(struct store_stmt *s, void *arg)
{
	row_from_stmt(s, arg);
}

/* Loads one row by a WHERE clause on one text or integer value. */
static int row_load(struct hub *h, const char *where, const char *text, int64_t id,
                    struct repo_row *out)
{
	char *sql = xasprintf("SELECT " REPO_COLS REPO_FROM " WHERE %s", where);
	struct store_db *db = store_db_get(h->st);
	int rc = text ? store_query_row(db, row_from_stmt_cb, out, sql, "t", text)
	              : store_query_row(db, row_from_stmt_cb, out, sql, "i", id);
	store_db_put(h->st, db);
	free(sql);
	return rc;
}

static enum auth_access row_access(const struct auth_caller *c, const struct repo_row *r)
{
	struct auth_repo ar = {r->key, r->owner_id, r->owner_is_org, r->repo.is_private};
	return auth_repo_access(c, &ar);
}

int repo_get(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
             enum auth_access need, struct repo_row *out, struct hub_err *err)
{
	char key[3 * AUTH_NAME_MAX + 16];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!ref || (unsigned)ref->type > HUB_REPO_SPACE || !hub_name_valid(ref->ns) ||
	    !hub_name_valid(ref->name))
		return hub_fail(err, HD_ENOTFOUND, XC_REPO, "Repository not found");
	make_key(key, sizeof(key), ref->type, ref->ns, ref->name);
	rc = row_load(h, "r.key = ?", key, 0, out);
	if (rc == HD_ENOTFOUND)
		return hub_fail(err, rc, XC_REPO, "Repository not found");
	if (rc)
		return hub_fail(err, rc, NULL, "cannot read the repository");
	enum auth_access a = row_access(c, out);
	if (a == AUTH_ACCESS_NONE) {
		repo_row_release(out);
		return hub_fail(err, HD_ENOTFOUND, XC_REPO, "Repository not found");
	}
	if (a < need) {
		repo_row_release(out);
		return hub_fail(err, HD_EPERM, NULL,
		                need == AUTH_ACCESS_ADMIN
		                        ? "You don't have the rights to administer this repository"
		                        : "You don't have write access to this repository");
	}
	return 0;
}

int repo_get_by_uid(struct hub *h, const char *uid, struct repo_row *out)
{
	memset(out, 0, sizeof(*out));
	if (!uid || strlen(uid) != 32 || !hex_is_lower(uid, 32))
		return HD_ENOTFOUND;
	return row_load(h, "r.uid = ?", uid, 0, out);
}

void repo_lock(struct hub *h, int64_t db_id)
{
	pthread_mutex_lock(&h->repo_locks[(uint64_t)db_id % REPO_LOCKS]);
}

void repo_unlock(struct hub *h, int64_t db_id)
{
	pthread_mutex_unlock(&h->repo_locks[(uint64_t)db_id % REPO_LOCKS]);
}

char *repo_git_path(struct hub *h, const char *uid)
{
	return xasprintf("%s/repos/%.2s/%s.git", store_data_dir(h->st), uid, uid);
}

/* ---- the listing index ------------------------------------------------------------- */
static struct search_doc doc_of_row(const struct repo_row *r)
{
	struct search_doc d = {
	        .repo_id = r->db_id,
	        .type = r->repo.type,
	        .id = r->repo.id,
	        .owner_id = r->owner_id,
	        .owner_is_org = r->owner_is_org,
	        .is_private = r->repo.is_private,
	        .downloads = r->repo.downloads,
	        .likes = r->repo.likes,
	        .created_ms = r->repo.created_ms,
	        .modified_ms = r->repo.last_modified_ms,
	        .recent_downloads = -1, /* the index keeps its own */
	        .tags = (const char *const *)r->repo.tags,
	        .n_tags = r->repo.n_tags,
	};
	return d;
}

static void index_put_row(struct hub *h, const struct repo_row *r)
{
	if (!h->idx)
		return;
	struct search_doc d = doc_of_row(r);
	pthread_rwlock_wrlock(&h->idx_lock);
	search_put(h->idx, &d);
	pthread_rwlock_unlock(&h->idx_lock);
}

static void index_remove(struct hub *h, int64_t db_id)
{
	if (!h->idx)
		return;
	pthread_rwlock_wrlock(&h->idx_lock);
	search_remove(h->idx, db_id);
	pthread_rwlock_unlock(&h->idx_lock);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The ids of every org account, sorted (for owner_is_org without a join). */
static int64_t *org_ids(struct store_db *db, size_t *n_out)
{
	struct store_stmt *s;
	int64_t *v = NULL;
	size_t n = 0, cap = 0;
	if (store_stmt(db, "SELECT id FROM accounts WHERE kind = 1", &s) == 0) {
		while (store_step(s) == 1) {
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = store_col_i64(s, 0);
		}
		store_stmt_done(s);
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_i64);
	*n_out = n;
	return v;
}

/* ---- trending: downloads per day ---------------------------------------------------- */
static int64_t utc_day(void)
{
	return time_now_ms() / 86400000;
}

/* Sets every document's trending key from the day rows of the window
 * ending on day, after deleting the rows before it. Called with the index
 * write-locked (or during the bulk load). */
static void trending_load(struct hub *h, struct store_db *db, int64_t day)
{
	struct store_stmt *s;
	int64_t *ids = NULL, *vals = NULL;
	size_t n = 0, cap = 0;
	int64_t first = day - HUB_TRENDING_DAYS + 1;

	store_exec(db, "DELETE FROM repo_downloads_daily WHERE day < ?", "i", first);
	if (store_stmt(db,
	               "SELECT repo_id, SUM(n) FROM repo_downloads_daily WHERE day >= ?"
	               " AND day <= ? GROUP BY repo_id",
	               &s) == 0) {
		store_bind_i64(s, 1, first);
		store_bind_i64(s, 2, day);
		while (store_step(s) == 1) {
			if (n == cap) {
				cap = cap ? 2 * cap : 256;
				ids = xrealloc(ids, cap * sizeof(*ids));
				vals = xrealloc(vals, cap * sizeof(*vals));
			}
			ids[n] = store_col_i64(s, 0);
			vals[n++] = store_col_i64(s, 1);
		}
		store_stmt_done(s);
	}
	search_set_trending_all(h->idx, ids, vals, n);
	free(ids);
	free(vals);
}

void hub_trending_refresh(struct hub *h)
{
	if (!h->idx)
		return;
	pthread_mutex_lock(&h->trend_lock);
	int64_t day = utc_day();
	struct store_db *db = store_db_get(h->st);
	pthread_rwlock_wrlock(&h->idx_lock);
	trending_load(h, db, day);
	pthread_rwlock_unlock(&h->idx_lock);
	store_db_put(h->st, db);
	__atomic_store_n(&h->trend_day, day, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&h->trend_lock);
}

/* The first call of a new UTC day moves the window. */
static void trending_check_day(struct hub *h)
{
	if (h->idx && __atomic_load_n(&h->trend_day, __ATOMIC_ACQUIRE) != utc_day())
		hub_trending_refresh(h);
}

static int64_t recent_downloads(struct store_db *db, int64_t repo_db_id, int64_t day)
{
	int64_t n = 0;
	if (store_query_i64(db, &n,
	                    "SELECT COALESCE(SUM(n), 0) FROM repo_downloads_daily"
	                    " WHERE repo_id = ? AND day >= ? AND day <= ?",
	                    "iii", repo_db_id, day - HUB_TRENDING_DAYS + 1, day))
		n = 0;
	return n;
}

int64_t hub_repo_recent_downloads(struct hub *h, const char *repo_uid)
{
	int64_t id = 0, n = 0;
	struct store_db *db = store_db_get(h->st);
	if (store_query_i64(db, &id, "SELECT id FROM repos WHERE uid = ?", "t", repo_uid) == 0)
		n = recent_downloads(db, id, utc_day());
	store_db_put(h->st, db);
	return n;
}

/* At a million repos this is most of a server start, so it reads only what
 * the index needs, without the accounts join and without copying columns. */
int repo_index_load(struct hub *h)
{
	struct store_db *db = store_db_get(h->st);
	struct store_stmt *s;
	size_t n_orgs = 0, n = 0;
	int64_t *orgs = org_ids(db, &n_orgs);
	double t0 = time_mono_s();
	int rc = store_stmt(db,
	                    "SELECT id, type, owner_id, namespace, name, private, downloads, likes,"
	                    " created, last_modified, tags FROM repos",
	                    &s);

	h->idx = search_new();
	search_bulk_begin(h->idx);
	while (!rc && (rc = store_step(s)) == 1) {
		char id[2 * AUTH_NAME_MAX + 2];
		const char *tags[TAGS_MAX];
		int64_t owner = store_col_i64(s, 2);
		json_t *jt =
		        json_loads(store_col_text(s, 10) ? store_col_text(s, 10) : "[]", 0, NULL);
		size_t n_tags = 0;
		for (size_t i = 0;
		     json_is_array(jt) && i < json_array_size(jt) && n_tags < TAGS_MAX; i++)
			if (json_is_string(json_array_get(jt, i)))
				tags[n_tags++] = json_string_value(json_array_get(jt, i));
		snprintf(id, sizeof(id), "%s/%s", store_col_text(s, 3) ? store_col_text(s, 3) : "",
		         store_col_text(s, 4) ? store_col_text(s, 4) : "");
		struct search_doc d = {
		        .repo_id = store_col_i64(s, 0),
		        .type = (enum hub_repo_type)store_col_i64(s, 1),
		        .id = id,
		        .owner_id = owner,
		        .owner_is_org = n_orgs && bsearch(&owner, orgs, n_orgs, sizeof(*orgs),
		                                          cmp_i64) != NULL,
		        .is_private = (int)store_col_i64(s, 5),
		        .downloads = store_col_i64(s, 6),
		        .likes = store_col_i64(s, 7),
		        .created_ms = store_col_i64(s, 8),
		        .modified_ms = store_col_i64(s, 9),
		        .tags = tags,
		        .n_tags = n_tags,
		};
		search_put(h->idx, &d);
		json_decref(jt);
		n++;
		rc = 0;
	}
	if (rc == 1)
		rc = 0;
	store_stmt_done(s);
	h->trend_day = utc_day();
	trending_load(h, db, h->trend_day);
	double b = time_mono_s();
	search_bulk_end(h->idx);
	store_db_put(h->st, db);
	free(orgs);
	log_info("hub: listing index: %zu repos in %.2f s (rows and index %.2f s, sort orders "
	         "%.2f s)",
	         n, time_mono_s() - t0, b - t0, time_mono_s() - b);
	return rc;
}

/* ---- card metadata ------------------------------------------------------------------- */
static void tags_add(char ***tags, size_t *n, const char *prefix, const char *v)
{
	if (!v || !*v || *n >= TAGS_MAX)
		return;
	char *t = xasprintf("%s%s", prefix, v);
	for (size_t i = 0; i < *n; i++) {
		if (!strcmp((*tags)[i], t)) {
			free(t);
			return;
		}
	}
	*tags = xrealloc(*tags, (*n + 1) * sizeof(char *));
	(*tags)[(*n)++] = t;
}

/* The Hub-style tag set of a card: its tags, library, pipeline, and
 * "license:x", "dataset:x", "base_model:x", languages. */
static char **card_tag_set(const struct hub_card *card, size_t *n_out)
{
	char **tags = NULL;
	size_t n = 0;
	for (size_t i = 0; i < card->n_tags; i++)
		tags_add(&tags, &n, "", card->tags[i]);
	tags_add(&tags, &n, "", card->library_name);
	tags_add(&tags, &n, "", card->pipeline_tag);
	tags_add(&tags, &n, "license:", card->license);
	for (size_t i = 0; i < card->n_datasets; i++)
		tags_add(&tags, &n, "dataset:", card->datasets[i]);
	for (size_t i = 0; i < card->n_base_models; i++)
		tags_add(&tags, &n, "base_model:", card->base_models[i]);
	for (size_t i = 0; i < card->n_languages; i++)
		tags_add(&tags, &n, "", card->languages[i]);
	*n_out = n;
	return tags;
}

struct gguf_walk {
	size_t n;
	int found;
};

static int gguf_walk_cb(const char *root, const git_tree_entry *e, void *arg)
{
	struct gguf_walk *w = arg;
	(void)root;
	if (++w->n > 100000)
		return -1; /* bounded: a huge tree is not searched to the end */
	const char *name = git_tree_entry_name(e);
	size_t n = strlen(name);
	if (git_tree_entry_type(e) == GIT_OBJECT_BLOB && n >= 5 &&
	    !strcasecmp(name + n - 5, ".gguf")) {
		w->found = 1;
		return -1;
	}
	return 0;
}

/* 1 if the tree of commit holds a *.gguf file anywhere (the Hub's "gguf"
 * tag, which the inference service lists models by). */
static int tree_has_gguf(git_repository *repo, const git_oid *commit)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	struct gguf_walk w = {0, 0};
	if (git_commit_lookup(&c, repo, commit) == 0 && git_commit_tree(&t, c) == 0)
		git_tree_walk(t, GIT_TREEWALK_PRE, gguf_walk_cb, &w);
	git_tree_free(t);
	git_commit_free(c);
	return w.found;
}

int repo_refresh(struct hub *h, const struct repo_row *row, int64_t modified_ms)
{
	git_repository *repo = NULL;
	git_oid head;
	struct buf readme = BUF_INIT;
	struct hub_card card = {0};
	char sha[41] = "", msg[256];
	char **tags = NULL, *tags_json = NULL;
	size_t n_tags = 0;
	int rc, has_gguf = 0;

	repo_lock(h, row->db_id);
	rc = git_open(h, row->repo.uid, &repo, NULL);
	if (rc) {
		repo_unlock(h, row->db_id);
		return rc;
	}
	if (git_resolve(repo, "main", &head, NULL) == 0) {
		git_oid_tostr(sha, sizeof(sha), &head);
		if (git_read_path(repo, &head, "README.md", README_MAX, &readme) == 0 &&
		    hub_card_parse(readme.data, readme.len, &card, msg, sizeof(msg)) != 0)
			log_info("hub: %s: card metadata ignored: %s", row->repo.id, msg);
		has_gguf = row->repo.type == HUB_REPO_MODEL && tree_has_gguf(repo, &head);
	}
	git_repository_free(repo);
	tags = card_tag_set(&card, &n_tags);
	if (has_gguf)
		tags_add(&tags, &n_tags, "", "gguf");
	json_t *arr = json_array();
	for (size_t i = 0; i < n_tags; i++)
		json_array_append_new(arr, json_string(tags[i]));
	tags_json = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);

	struct store_db *db = store_db_get(h->st);
	rc = store_begin(db);
	if (!rc) {
		rc = store_exec(db,
		                "UPDATE repos SET sha = ?, last_modified = ?, license = ?,"
		                " pipeline_tag = ?, library_name = ?, card_json = ?, tags = ?"
		                " WHERE id = ?",
		                "tittttti", sha,
		                modified_ms ? modified_ms : row->repo.last_modified_ms,
		                card.license, card.pipeline_tag, card.library_name, card.json,
		                tags_json, row->db_id);
		if (rc >= 0)
			rc = store_exec(db, "DELETE FROM repo_tags WHERE repo_id = ?", "i",
			                row->db_id);
		for (size_t i = 0; rc >= 0 && i < n_tags; i++)
			rc = store_exec(
			        db, "INSERT OR IGNORE INTO repo_tags(repo_id, tag) VALUES (?, ?)",
			        "it", row->db_id, tags[i]);
		if (rc >= 0)
			rc = store_commit(db);
		else
			store_rollback(db);
	}
	store_db_put(h->st, db);
	for (size_t i = 0; i < n_tags; i++)
		free(tags[i]);
	free(tags);
	free(tags_json);
	buf_release(&readme);
	hub_card_release(&card);
	if (rc >= 0) {
		struct repo_row fresh;
		if (row_load(h, "r.id = ?", NULL, row->db_id, &fresh) == 0) {
			index_put_row(h, &fresh);
			repo_row_release(&fresh);
		}
	}
	repo_unlock(h, row->db_id);
	return rc < 0 ? rc : 0;
}

/* ---- create / delete / move / settings ---------------------------------------------- */
int hub_repo_create(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                    int is_private, const char *sdk, struct hub_repo *out, struct hub_err *err)
{
	char key[3 * AUTH_NAME_MAX + 16], uid[33], tmp_name[64];
	uint8_t rnd[16];
	struct auth_account ns;
	struct repo_row existing;
	char *tmp_path = NULL, *final = NULL, *dir = NULL;
	int rc;

	if (out)
		memset(out, 0, sizeof(*out));
	if (!c || !c->user_id)
		return hub_fail(err, HD_EAUTH, NULL, "You must be authenticated to create a repo");
	if (!ref || (unsigned)ref->type > HUB_REPO_SPACE)
		return hub_fail(err, HD_EINVAL, NULL, "invalid repo type");
	if (!hub_name_valid(ref->name))
		return hub_fail(err, HD_EINVAL, NULL,
		                "Invalid repo name '%s': use letters, digits, '.', '_' and '-', "
		                "at most %d, not starting or ending with '.' or '-', no '--' or "
		                "'..', not ending in .git",
		                ref->name ? ref->name : "", AUTH_NAME_MAX);
	if (!hub_name_valid(ref->ns) || auth_account_find(h->st, ref->ns, &ns))
		return hub_fail(err, HD_ENOTFOUND, NULL, "Namespace '%s' not found",
		                ref->ns ? ref->ns : "");
	if (sdk && (strlen(sdk) > 64 || !hub_name_valid(sdk)))
		return hub_fail(err, HD_EINVAL, NULL, "invalid sdk");
	make_key(key, sizeof(key), ref->type, ns.name, ref->name);
	if (!auth_can_create_in(c, &ns, key))
		return hub_fail(err, HD_EPERM, NULL,
		                "You don't have the rights to create a repo under '%s'", ns.name);
	if (row_load(h, "r.key = ?", key, 0, &existing) == 0) {
		repo_row_release(&existing);
		return hub_fail(err, HD_EEXIST, NULL, "You already created this %s repo",
		                hub_repo_type_name(ref->type));
	}

	rand_bytes(rnd, sizeof(rnd));
	hex_encode(uid, rnd, sizeof(rnd));
	snprintf(tmp_name, sizeof(tmp_name), "newrepo-%s.git", uid);
	tmp_path = xasprintf("%s/tmp/%s", store_data_dir(h->st), tmp_name);
	rc = git_repo_init(tmp_path, ref->type, c->user, c->email, err);
	if (rc)
		goto fail;
	dir = xasprintf("%s/repos/%.2s", store_data_dir(h->st), uid);
	final = repo_git_path(h, uid);
	rc = fs_mkdir_p(dir, 0755);
	if (!rc && rename(tmp_path, final) < 0)
		rc = -errno;
	if (!rc)
		rc = fs_fsync_dir(dir);
	if (rc) {
		hub_fail(err, rc, NULL, "cannot create the repository: %s", hd_strerror(rc));
		goto fail;
	}

	git_repository *repo = NULL;
	git_oid head;
	char sha[41] = "";
	if (git_open(h, uid, &repo, NULL) == 0 && git_resolve(repo, "main", &head, NULL) == 0)
		git_oid_tostr(sha, sizeof(sha), &head);
	git_repository_free(repo);

	int64_t now = time_now_ms();
	struct store_db *db = store_db_get(h->st);
	struct store_stmt *s;
	rc = store_stmt(db,
	                "INSERT INTO repos(uid, type, owner_id, namespace, name, key, private,"
	                " gated, sdk, created, last_modified, sha, tags)"
	                " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, '[]')",
	                &s);
	if (!rc) {
		store_bind_text(s, 1, uid);
		store_bind_i64(s, 2, ref->type);
		store_bind_i64(s, 3, ns.id);
		store_bind_text(s, 4, ns.name);
		store_bind_text(s, 5, ref->name);
		store_bind_text(s, 6, key);
		store_bind_i64(s, 7, !!is_private);
		store_bind_text(s, 8, ref->type == HUB_REPO_SPACE ? sdk : NULL);
		store_bind_i64(s, 9, now);
		store_bind_i64(s, 10, now);
		store_bind_text(s, 11, sha);
		rc = store_step(s);
		store_stmt_done(s);
	}
	store_db_put(h->st, db);
	if (rc < 0) {
		fs_rm_rf(final);
		if (rc == HD_EEXIST)
			hub_fail(err, rc, NULL, "You already created this %s repo",
			         hub_repo_type_name(ref->type));
		else
			hub_fail(err, rc, NULL, "cannot record the repository");
		goto out;
	}
	rc = 0;
	struct repo_row row;
	if (row_load(h, "r.uid = ?", uid, 0, &row) == 0) {
		index_put_row(h, &row);
		if (out)
			*out = row.repo;
		else
			repo_row_release(&row);
	}
	char target[3 * AUTH_NAME_MAX + 32];
	snprintf(target, sizeof(target), "%s%s", is_private ? "private:" : "", key);
	auth_audit(h->st, c->user, "repo.create", target, c->ip);
	goto out;
fail:
	fs_rm_rf(tmp_path);
out:
	free(tmp_path);
	free(final);
	free(dir);
	return rc;
}

/* Removes objects of the store that no repo references any more. The oids
 * are the ones a deleted repo had; holding lfs_lock keeps an upload that
 * publishes one of them (and then records its row) from racing us. */
void repo_lfs_collect(struct hub *h, char **oids, size_t n)
{
	pthread_mutex_lock(&h->lfs_lock);
	struct store_db *db = store_db_get(h->st);
	for (size_t i = 0; i < n; i++) {
		int64_t count = 1;
		if (store_query_i64(db, &count, "SELECT count(*) FROM lfs_objects WHERE oid = ?",
		                    "t", oids[i]) == 0 &&
		    count == 0)
			store_blob_remove(h->st, oids[i]);
	}
	store_db_put(h->st, db);
	pthread_mutex_unlock(&h->lfs_lock);
}

int hub_repo_delete(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                    struct hub_err *err)
{
	struct repo_row row;
	char **oids = NULL;
	size_t n_oids = 0, cap = 0;
	int rc = repo_get(h, c, ref, AUTH_ACCESS_ADMIN, &row, err);

	if (rc)
		return rc;
	struct store_db *db = store_db_get(h->st);
	struct store_stmt *s;
	rc = store_begin(db);
	if (!rc)
		rc = store_stmt(db, "SELECT oid FROM lfs_objects WHERE repo_id = ?", &s);
	if (!rc) {
		store_bind_i64(s, 1, row.db_id);
		while ((rc = store_step(s)) == 1) {
			if (n_oids == cap) {
				cap = cap ? 2 * cap : 16;
				oids = xrealloc(oids, cap * sizeof(char *));
			}
			oids[n_oids++] = xstrdup(store_col_text(s, 0));
		}
		store_stmt_done(s);
	}
	if (rc >= 0)
		rc = store_exec(db, "DELETE FROM lfs_objects WHERE repo_id = ?", "i", row.db_id);
	if (rc >= 0)
		rc = store_exec(db, "DELETE FROM repo_tags WHERE repo_id = ?", "i", row.db_id);
	if (rc >= 0)
		rc = store_exec(db, "DELETE FROM repos WHERE id = ?", "i", row.db_id);
	if (rc >= 0)
		rc = store_commit(db);
	else
		store_rollback(db);
	store_db_put(h->st, db);
	if (rc < 0) {
		hub_fail(err, rc, NULL, "cannot delete the repository");
		goto out;
	}
	rc = 0;
	index_remove(h, row.db_id);
	/* The row is gone, so nothing reaches the git dir any more: move it
	 * aside (atomic) and remove it. */
	char *path = repo_git_path(h, row.repo.uid);
	char *trash = xasprintf("%s/tmp/trash-%s.git", store_data_dir(h->st), row.repo.uid);
	if (rename(path, trash) == 0)
		fs_rm_rf(trash);
	else
		fs_rm_rf(path);
	free(path);
	free(trash);
	repo_lfs_collect(h, oids, n_oids);
	auth_audit(h->st, c->user, "repo.delete", row.key, c->ip);
out:
	for (size_t i = 0; i < n_oids; i++)
		free(oids[i]);
	free(oids);
	repo_row_release(&row);
	return rc;
}

int hub_repo_move(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *from,
                  const struct hub_repo_ref *to, struct hub_err *err)
{
	struct repo_row row, existing;
	struct auth_account ns;
	char key[3 * AUTH_NAME_MAX + 16];
	int rc = repo_get(h, c, from, AUTH_ACCESS_ADMIN, &row, err);

	if (rc)
		return rc;
	if (!to || to->type != from->type) {
		rc = hub_fail(err, HD_EINVAL, NULL, "a repo keeps its type when it moves");
		goto out;
	}
	if (!hub_name_valid(to->name)) {
		rc = hub_fail(err, HD_EINVAL, NULL, "Invalid repo name '%s'",
		              to->name ? to->name : "");
		goto out;
	}
	if (!hub_name_valid(to->ns) || auth_account_find(h->st, to->ns, &ns)) {
		rc = hub_fail(err, HD_ENOTFOUND, NULL, "Namespace '%s' not found",
		              to->ns ? to->ns : "");
		goto out;
	}
	make_key(key, sizeof(key), to->type, ns.name, to->name);
	if (!auth_can_create_in(c, &ns, key)) {
		rc = hub_fail(err, HD_EPERM, NULL,
		              "You don't have the rights to create a repo under '%s'", ns.name);
		goto out;
	}
	if (strcmp(key, row.key) && row_load(h, "r.key = ?", key, 0, &existing) == 0) {
		repo_row_release(&existing);
		rc = hub_fail(err, HD_EEXIST, NULL, "A repo named %s/%s already exists", ns.name,
		              to->name);
		goto out;
	}
	repo_lock(h, row.db_id);
	struct store_db *db = store_db_get(h->st);
	rc = store_exec(db,
	                "UPDATE repos SET namespace = ?, name = ?, key = ?, owner_id = ?"
	                " WHERE id = ?",
	                "tttii", ns.name, to->name, key, ns.id, row.db_id);
	store_db_put(h->st, db);
	if (rc >= 0) {
		struct repo_row fresh;
		if (row_load(h, "r.id = ?", NULL, row.db_id, &fresh) == 0) {
			index_put_row(h, &fresh);
			repo_row_release(&fresh);
		}
	}
	repo_unlock(h, row.db_id);
	if (rc == HD_EEXIST) {
		hub_fail(err, rc, NULL, "A repo named %s/%s already exists", ns.name, to->name);
		goto out;
	}
	if (rc < 0) {
		hub_fail(err, rc, NULL, "cannot move the repository");
		goto out;
	}
	rc = 0;
	char *target = xasprintf("%s -> %s", row.key, key);
	auth_audit(h->st, c->user, "repo.move", target, c->ip);
	free(target);
out:
	repo_row_release(&row);
	return rc;
}

int hub_repo_settings(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                      int is_private, int gated, struct hub_err *err)
{
	struct repo_row row;
	int rc = repo_get(h, c, ref, AUTH_ACCESS_ADMIN, &row, err);

	if (rc)
		return rc;
	if (gated > HUB_GATED_MANUAL) {
		repo_row_release(&row);
		return hub_fail(err, HD_EINVAL, NULL,
		                "gated must be false, \"auto\" or \"manual\"");
	}
	int new_private = is_private < 0 ? row.repo.is_private : !!is_private;
	int new_gated = gated < 0 ? (int)row.repo.gated : gated;
	repo_lock(h, row.db_id);
	struct store_db *db = store_db_get(h->st);
	rc = store_exec(db, "UPDATE repos SET private = ?, gated = ? WHERE id = ?", "iii",
	                (int64_t)new_private, (int64_t)new_gated, row.db_id);
	store_db_put(h->st, db);
	if (rc >= 0 && h->idx) {
		pthread_rwlock_wrlock(&h->idx_lock);
		search_set_private(h->idx, row.db_id, new_private);
		pthread_rwlock_unlock(&h->idx_lock);
	}
	repo_unlock(h, row.db_id);
	if (rc < 0) {
		repo_row_release(&row);
		return hub_fail(err, rc, NULL, "cannot update the settings");
	}
	if (new_private != row.repo.is_private)
		auth_audit(h->st, c->user, new_private ? "repo.private" : "repo.public", row.key,
		           c->ip);
	if (new_gated != (int)row.repo.gated)
		auth_audit(h->st, c->user, "repo.gated", row.key, c->ip);
	repo_row_release(&row);
	return 0;
}

void hub_repo_count_download(struct hub *h, const char *repo_uid)
{
	struct repo_row row;
	if (!repo_uid)
		return;
	trending_check_day(h);
	int64_t day = utc_day();
	struct store_db *db = store_db_get(h->st);
	int rc = store_exec(db, "UPDATE repos SET downloads = downloads + 1 WHERE uid = ?", "t",
	                    repo_uid);
	if (rc > 0)
		store_exec(db,
		           "INSERT INTO repo_downloads_daily(repo_id, day, n)"
		           " SELECT id, ?, 1 FROM repos WHERE uid = ?"
		           " ON CONFLICT(repo_id, day) DO UPDATE SET n = n + 1",
		           "it", day, repo_uid);
	store_db_put(h->st, db);
	if (rc <= 0 || !h->idx || repo_get_by_uid(h, repo_uid, &row))
		return;
	/* Re-read under the repo's lock so a slower count never puts an older
	 * figure back into the index. */
	int64_t id = row.db_id;
	repo_row_release(&row);
	repo_lock(h, id);
	if (repo_get_by_uid(h, repo_uid, &row) == 0) {
		db = store_db_get(h->st);
		int64_t recent = recent_downloads(db, row.db_id, day);
		store_db_put(h->st, db);
		pthread_rwlock_wrlock(&h->idx_lock);
		search_update_counts(h->idx, row.db_id, row.repo.downloads, row.repo.likes,
		                     row.repo.last_modified_ms);
		search_update_trending(h->idx, row.db_id, recent);
		pthread_rwlock_unlock(&h->idx_lock);
		repo_row_release(&row);
	}
	repo_unlock(h, id);
}

/* ---- LFS possession ------------------------------------------------------------------ */
int repo_lfs_add(struct hub *h, int64_t repo_db_id, const char *oid, int64_t size)
{
	struct store_db *db = store_db_get(h->st);
	int rc = store_exec(
	        db,
	        "INSERT INTO lfs_objects(repo_id, oid, size, created) VALUES (?, ?, ?, ?)"
	        " ON CONFLICT(repo_id, oid) DO NOTHING",
	        "itii", repo_db_id, oid, size, time_now_ms());
	store_db_put(h->st, db);
	return rc < 0 ? rc : 0;
}

int repo_lfs_has(struct hub *h, int64_t repo_db_id, const char *oid, int64_t *size)
{
	int64_t sz = 0;
	struct store_db *db = store_db_get(h->st);
	int rc = store_query_i64(db, &sz,
	                         "SELECT size FROM lfs_objects WHERE repo_id = ? AND oid = ?", "it",
	                         repo_db_id, oid);
	store_db_put(h->st, db);
	if (!rc && size)
		*size = sz;
	return rc;
}

/* ---- listing --------------------------------------------------------------------------- */
#define LIST_CHUNK 64

static char list_sql_buf[2048];
static pthread_once_t list_sql_once = PTHREAD_ONCE_INIT;

static void list_sql_init(void)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "SELECT " REPO_COLS REPO_FROM " WHERE r.id IN (");
	for (int i = 0; i < LIST_CHUNK; i++)
		buf_puts(&b, i ? ", ?" : "?");
	buf_puts(&b, ")");
	snprintf(list_sql_buf, sizeof(list_sql_buf), "%s", b.data);
	buf_release(&b);
}

/* "SELECT ... WHERE r.id IN (?, ?, ...)" with LIST_CHUNK placeholders. */
static const char *list_sql(void)
{
	pthread_once(&list_sql_once, list_sql_init);
	return list_sql_buf;
}

static int caller_sees(void *ctx, int64_t owner_id, int owner_is_org, const char *key)
{
	struct auth_repo ar = {key, owner_id, owner_is_org, 1};
	return auth_repo_access(ctx, &ar) != AUTH_ACCESS_NONE;
}

int hub_sort_parse(const char *s, enum hub_sort *out)
{
	static const struct {
		const char *name;
		enum hub_sort sort;
	} names[] = {
	        {"downloads", HUB_SORT_DOWNLOADS},
	        {"likes", HUB_SORT_LIKES},
	        {"lastModified", HUB_SORT_LAST_MODIFIED},
	        {"last_modified", HUB_SORT_LAST_MODIFIED},
	        {"createdAt", HUB_SORT_CREATED},
	        {"created_at", HUB_SORT_CREATED},
	        {"id", HUB_SORT_ID},
	        {"modelId", HUB_SORT_ID},
	        {"trending", HUB_SORT_TRENDING},
	        {"trendingScore", HUB_SORT_TRENDING},
	        {"trending_score", HUB_SORT_TRENDING},
	};
	if (!s || !*s) {
		*out = HUB_SORT_DEFAULT;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i].name)) {
			*out = names[i].sort;
			return 0;
		}
	}
	return HD_EINVAL;
}

int hub_repo_list(struct hub *h, const struct auth_caller *c, const struct hub_list_query *q,
                  struct hub_repo_list *out, struct hub_err *err)
{
	struct search_result res;
	const char **filters = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!h->idx)
		return hub_fail(err, HD_EUNSUPPORTED, NULL, "listing is not available here");
	trending_check_day(h);
	if (q->n_filters > 32)
		return hub_fail(err, HD_EINVAL, NULL, "too many filters");
	if (q->search && strlen(q->search) > 256)
		return hub_fail(err, HD_EINVAL, NULL, "search string too long");
	filters = xcalloc(q->n_filters + 1, sizeof(char *));
	size_t n_filters = 0;
	for (size_t i = 0; i < q->n_filters; i++)
		if (q->filters[i] && *q->filters[i])
			filters[n_filters++] = q->filters[i];
	if (q->pipeline_tag && *q->pipeline_tag)
		filters[n_filters++] = q->pipeline_tag;
	struct search_query sq = {
	        .type = q->type,
	        .search = q->search,
	        .author = q->author,
	        .filters = filters,
	        .n_filters = n_filters,
	        .sort = q->sort,
	        .direction = q->direction,
	        .limit = q->limit,
	        .cursor = q->cursor,
	        .visible = caller_sees,
	        .ctx = (void *)c,
	};
	pthread_rwlock_rdlock(&h->idx_lock);
	rc = search_query(h->idx, &sq, &res);
	pthread_rwlock_unlock(&h->idx_lock);
	free(filters);
	if (rc)
		return hub_fail(err, rc, NULL, "invalid cursor");
	/* Rows by id, LIST_CHUNK at a time, put back in the index's order. */
	struct repo_row *rows = xcalloc(res.n ? res.n : 1, sizeof(struct repo_row));
	char *have = xcalloc(res.n ? res.n : 1, 1);
	struct store_db *db = store_db_get(h->st);
	struct store_stmt *s;
	for (size_t off = 0; off < res.n; off += LIST_CHUNK) {
		if (store_stmt(db, list_sql(), &s))
			break;
		for (int k = 0; k < LIST_CHUNK; k++)
			store_bind_i64(s, k + 1,
			               off + (size_t)k < res.n ? res.repo_ids[off + k] : 0);
		while (store_step(s) == 1) {
			int64_t id = store_col_i64(s, 0);
			for (size_t i = off; i < res.n && i < off + LIST_CHUNK; i++) {
				if (res.repo_ids[i] == id && !have[i]) {
					row_from_stmt(s, &rows[i]);
					have[i] = 1;
					break;
				}
			}
		}
		store_stmt_done(s);
	}
	store_db_put(h->st, db);
	out->items = xcalloc(res.n ? res.n : 1, sizeof(struct hub_repo));
	for (size_t i = 0; i < res.n; i++) {
		if (!have[i])
			continue; /* deleted since the index was read */
		if (row_access(c, &rows[i]) != AUTH_ACCESS_NONE)
			out->items[out->n++] = rows[i].repo;
		else
			repo_row_release(&rows[i]);
	}
	free(rows);
	free(have);
	out->next_cursor = res.next_cursor;
	res.next_cursor = NULL;
	search_result_release(&res);
	return 0;
}

void hub_repo_list_release(struct hub_repo_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		hub_repo_release(&l->items[i]);
	free(l->items);
	free(l->next_cursor);
	memset(l, 0, sizeof(*l));
}

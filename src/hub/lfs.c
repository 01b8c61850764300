/*
 * lfs.c: the LFS batch decisions, verified uploads (basic and multipart),
 * verify, and per-repo possession.
 *
 * Possession (SECURITY V4/V5): a repo may reference an object only when a
 * row (repo, oid, size) says so, and a row is added only after the bytes
 * arrived for that repo and hashed to the oid. "Already stored" is answered
 * only when this repo has the row, so the dedup never reveals or lends
 * another repo's objects; the bytes on disk are still stored once.
 */
#include "hub/hub_int.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH_MAX 10000

int hub_lfs_batch(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                  enum hub_lfs_op op, struct hub_lfs_object *objs, size_t n_objs, char repo_uid[33],
                  struct hub_err *err)
{
	struct repo_row row;
	int rc;

	if (n_objs > BATCH_MAX)
		return hub_fail(err, HD_ETOOBIG, NULL, "at most %d objects per batch", BATCH_MAX);
	if (op != HUB_LFS_UPLOAD && op != HUB_LFS_DOWNLOAD)
		return hub_fail(err, HD_EINVAL, NULL, "operation must be upload or download");
	rc = repo_get(h, c, ref, op == HUB_LFS_UPLOAD ? AUTH_ACCESS_WRITE : AUTH_ACCESS_READ, &row,
	              err);
	if (rc)
		return rc;
	if (repo_uid)
		memcpy(repo_uid, row.repo.uid, 33);
	for (size_t i = 0; i < n_objs; i++) {
		struct hub_lfs_object *o = &objs[i];
		int64_t have = -1;
		o->multipart = 0;
		o->chunk_size = o->n_parts = 0;
		if (!hub_oid_valid(o->oid) || (op == HUB_LFS_UPLOAD && o->size < 0)) {
			o->state = HUB_LFS_OBJ_INVALID;
			continue;
		}
		int has = repo_lfs_has(h, row.db_id, o->oid, &have) == 0;
		if (op == HUB_LFS_DOWNLOAD) {
			int64_t disk;
			if (has && store_blob_stat(h->st, o->oid, &disk) == 0 && disk == have) {
				o->state = HUB_LFS_DOWNLOADABLE;
				o->size = have;
			} else {
				o->state = HUB_LFS_OBJ_NOT_FOUND;
			}
			continue;
		}
		if (o->size > h->cfg.max_lfs_size) {
			o->state = HUB_LFS_OBJ_TOO_BIG;
			continue;
		}
		if (has) {
			/* Known oid with another size: the claim is wrong. */
			o->state = have == o->size ? HUB_LFS_PRESENT : HUB_LFS_OBJ_INVALID;
			continue;
		}
		o->state = HUB_LFS_UPLOAD_NEEDED;
		if (o->size >= h->cfg.multipart_threshold && o->size > 0) {
			o->multipart = 1;
			o->chunk_size = h->cfg.multipart_chunk;
			o->n_parts = (o->size + o->chunk_size - 1) / o->chunk_size;
		}
	}
	repo_row_release(&row);
	return 0;
}

int hub_lfs_verify(struct hub *h, const struct auth_caller *c, const struct hub_repo_ref *ref,
                   const char *oid, int64_t size, struct hub_err *err)
{
	struct repo_row row;
	int64_t have = -1;
	int rc;

	if (!hub_oid_valid(oid) || size < 0)
		return hub_fail(err, HD_EINVAL, NULL, "invalid oid or size");
	rc = repo_get(h, c, ref, AUTH_ACCESS_WRITE, &row, err);
	if (rc)
		return rc;
	if (repo_lfs_has(h, row.db_id, oid, &have) || have != size)
		rc = hub_fail(err, HD_ENOTFOUND, NULL, "Object %s (%lld bytes) is not stored", oid,
		              (long long)size);
	repo_row_release(&row);
	return rc;
}

/* ---- basic uploads ----------------------------------------------------------------- */
struct hub_lfs_writer {
	struct hub *h;
	int64_t repo_db_id;
	char oid[65];
	int64_t size;
	struct store_blob_writer *bw;
};

/* Publishing an object and recording possession happen under lfs_lock, so a
 * concurrent repo delete never collects the object in between. */
static int publish(struct hub *h, struct store_blob_writer *bw, int64_t repo_db_id, const char *oid,
                   int64_t size, struct hub_err *err)
{
	char msg[256] = "";
	int published;
	pthread_mutex_lock(&h->lfs_lock);
	int rc = store_blob_finish(bw, msg, sizeof(msg));
	published = rc == 0;
	if (!rc)
		rc = repo_lfs_add(h, repo_db_id, oid, size);
	pthread_mutex_unlock(&h->lfs_lock);
	if (published && rc) {
		/* The repo went away during the upload (its row is gone) or the
		 * possession row could not be written: the object must not stay
		 * behind unowned. */
		char *one = (char *)oid;
		int64_t n = 1;
		struct store_db *db = store_db_get(h->st);
		store_query_i64(db, &n, "SELECT count(*) FROM repos WHERE id = ?", "i", repo_db_id);
		store_db_put(h->st, db);
		repo_lfs_collect(h, &one, 1);
		if (n == 0)
			return hub_fail(err, HD_ENOTFOUND, XC_REPO, "Repository not found");
		return hub_fail(err, rc, NULL, "cannot record the object: %s", hd_strerror(rc));
	}
	if (rc == HD_ECORRUPT)
		return hub_fail(err, rc, NULL, "%s", msg);
	if (rc)
		return hub_fail(err, rc, NULL, "cannot store the object: %s",
		                msg[0] ? msg : hd_strerror(rc));
	return 0;
}

static int upload_target(struct hub *h, const char *repo_uid, const char *oid, int64_t size,
                         int64_t *repo_db_id, struct hub_err *err)
{
	struct repo_row row;
	if (!hub_oid_valid(oid))
		return hub_fail(err, HD_EINVAL, NULL, "invalid oid");
	if (size < 0 || size > h->cfg.max_lfs_size)
		return hub_fail(err, size < 0 ? HD_EINVAL : HD_ETOOBIG, NULL, "invalid size");
	if (repo_get_by_uid(h, repo_uid, &row))
		return hub_fail(err, HD_ENOTFOUND, XC_REPO, "Repository not found");
	*repo_db_id = row.db_id;
	repo_row_release(&row);
	return 0;
}

int hub_lfs_upload_begin(struct hub *h, const char *repo_uid, const char *oid, int64_t size,
                         struct hub_lfs_writer **out, struct hub_err *err)
{
	int64_t repo_db_id;
	struct store_blob_writer *bw;
	int rc;

	*out = NULL;
	rc = upload_target(h, repo_uid, oid, size, &repo_db_id, err);
	if (rc)
		return rc;
	rc = store_blob_writer_new(h->st, oid, size, &bw);
	if (rc)
		return hub_fail(err, rc, NULL, "cannot start the upload: %s", hd_strerror(rc));
	struct hub_lfs_writer *w = xcalloc(1, sizeof(*w));
	w->h = h;
	w->repo_db_id = repo_db_id;
	memcpy(w->oid, oid, 65);
	w->size = size;
	w->bw = bw;
	*out = w;
	return 0;
}

int hub_lfs_upload_write(struct hub_lfs_writer *w, const void *data, size_t n)
{
	return store_blob_write(w->bw, data, n);
}

int hub_lfs_upload_finish(struct hub_lfs_writer *w, struct hub_err *err)
{
	int rc = publish(w->h, w->bw, w->repo_db_id, w->oid, w->size, err);
	free(w);
	return rc;
}

void hub_lfs_upload_abort(struct hub_lfs_writer *w)
{
	if (!w)
		return;
	store_blob_abort(w->bw);
	free(w);
}

/* ---- multipart ------------------------------------------------------------------------ */
struct hub_lfs_part_writer {
	struct store_part_writer *pw;
	int64_t expect;
};

static int parts_plan(int64_t size, int64_t chunk, int64_t *n_parts)
{
	if (size <= 0 || chunk <= 0)
		return HD_EINVAL;
	*n_parts = (size + chunk - 1) / chunk;
	return *n_parts > 100000 ? HD_EINVAL : 0;
}

static char *parts_key(const char *repo_uid, const char *oid)
{
	return xasprintf("%s-%s", repo_uid, oid);
}

int hub_lfs_part_begin(struct hub *h, const char *repo_uid, const char *oid, int64_t size,
                       int64_t chunk_size, int part_no, struct hub_lfs_part_writer **out,
                       struct hub_err *err)
{
	int64_t repo_db_id, n_parts;
	int rc;

	*out = NULL;
	rc = upload_target(h, repo_uid, oid, size, &repo_db_id, err);
	if (rc)
		return rc;
	if (parts_plan(size, chunk_size, &n_parts) || part_no < 1 || part_no > n_parts)
		return hub_fail(err, HD_EINVAL, NULL, "invalid part number");
	int64_t expect = part_no < n_parts ? chunk_size : size - chunk_size * (n_parts - 1);
	struct hub_lfs_part_writer *w = xcalloc(1, sizeof(*w));
	char *key = parts_key(repo_uid, oid);
	rc = store_part_writer_new(h->st, key, part_no, expect, &w->pw);
	free(key);
	if (rc) {
		free(w);
		return hub_fail(err, rc, NULL, "cannot start the part: %s", hd_strerror(rc));
	}
	w->expect = expect;
	*out = w;
	return 0;
}

int hub_lfs_part_write(struct hub_lfs_part_writer *w, const void *data, size_t n)
{
	return store_part_write(w->pw, data, n);
}

int hub_lfs_part_finish(struct hub_lfs_part_writer *w, char etag[65], struct hub_err *err)
{
	int64_t got = 0;
	int rc = store_part_finish(w->pw, &got, etag);
	int64_t expect = w->expect;

	free(w);
	if (rc)
		return hub_fail(err, rc, NULL, "cannot store the part: %s", hd_strerror(rc));
	if (got != expect)
		return hub_fail(err, HD_ECORRUPT, NULL, "part has %lld bytes, expected %lld",
		                (long long)got, (long long)expect);
	return 0;
}

void hub_lfs_part_abort(struct hub_lfs_part_writer *w)
{
	if (!w)
		return;
	store_part_abort(w->pw);
	free(w);
}

/* Copies part fd into the blob writer, hashing it; compares with etag. */
static int copy_part(int fd, struct store_blob_writer *bw, const char *etag, int part_no,
                     struct hub_err *err)
{
	unsigned char md[32];
	unsigned int md_len = 0;
	char hex[65], want[65];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = xmalloc(1 << 16);
	int rc = 0;

	/* The client's etag, with or without quotes. */
	size_t n = strlen(etag);
	if (n >= 2 && etag[0] == '"' && etag[n - 1] == '"') {
		etag++;
		n -= 2;
	}
	if (n != 64) {
		rc = hub_fail(err, HD_EINVAL, NULL, "part %d: bad etag", part_no);
		goto out;
	}
	memcpy(want, etag, 64);
	want[64] = 0;
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (;;) {
		ssize_t k = read(fd, buf, 1 << 16);
		if (k < 0) {
			rc = hub_fail(err, HD_EINTERNAL, NULL, "part %d: read error", part_no);
			goto out;
		}
		if (k == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)k);
		rc = store_blob_write(bw, buf, (size_t)k);
		if (rc) {
			hub_fail(err, rc == HD_ETOOBIG ? HD_ECORRUPT : rc, NULL,
			         "parts exceed the object's size");
			rc = rc == HD_ETOOBIG ? HD_ECORRUPT : rc;
			goto out;
		}
	}
	EVP_DigestFinal_ex(ctx, md, &md_len);
	hex_encode(hex, md, 32);
	if (strcmp(hex, want))
		rc = hub_fail(err, HD_ECORRUPT, NULL, "part %d: etag does not match its bytes",
		              part_no);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return rc;
}

int hub_lfs_multipart_complete(struct hub *h, const char *repo_uid, const char *oid, int64_t size,
                               int64_t chunk_size, const char *const *etags, size_t n_etags,
                               struct hub_err *err)
{
	int64_t repo_db_id, n_parts, have;
	struct store_blob_writer *bw = NULL;
	char *key = NULL;
	int rc;

	rc = upload_target(h, repo_uid, oid, size, &repo_db_id, err);
	if (rc)
		return rc;
	if (parts_plan(size, chunk_size, &n_parts))
		return hub_fail(err, HD_EINVAL, NULL, "invalid size or chunk size");
	/* A retried completion after success: nothing left to do. */
	if (repo_lfs_has(h, repo_db_id, oid, &have) == 0 && have == size)
		return 0;
	if ((int64_t)n_etags != n_parts)
		return hub_fail(err, HD_EINVAL, NULL, "expected %lld parts, got %zu",
		                (long long)n_parts, n_etags);
	rc = store_blob_writer_new(h->st, oid, size, &bw);
	if (rc)
		return hub_fail(err, rc, NULL, "cannot assemble the object: %s", hd_strerror(rc));
	key = parts_key(repo_uid, oid);
	for (int64_t i = 0; i < n_parts && !rc; i++) {
		int fd = -1;
		int64_t psize = 0;
		int64_t expect = i + 1 < n_parts ? chunk_size : size - chunk_size * (n_parts - 1);
		if (!etags[i]) {
			rc = hub_fail(err, HD_EINVAL, NULL, "part %lld: missing etag",
			              (long long)i + 1);
			break;
		}
		if (store_part_open(h->st, key, (int)(i + 1), &fd, &psize)) {
			rc = hub_fail(err, HD_EINVAL, NULL, "part %lld was not uploaded",
			              (long long)i + 1);
			break;
		}
		if (psize != expect)
			rc = hub_fail(err, HD_ECORRUPT, NULL,
			              "part %lld has %lld bytes, expected %lld", (long long)i + 1,
			              (long long)psize, (long long)expect);
		else
			rc = copy_part(fd, bw, etags[i], (int)(i + 1), err);
		close(fd);
	}
	if (rc) {
		store_blob_abort(bw);
	} else {
		rc = publish(h, bw, repo_db_id, oid, size, err);
		if (!rc)
			store_parts_remove(h->st, key);
	}
	free(key);
	return rc;
}

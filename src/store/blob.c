/*
 * blob.c: the content-addressed blob store and multipart parts.
 *
 * Layout: <data>/lfs/<oid[0:2]>/<oid[2:4]>/<oid>. A writer streams into
 * <data>/tmp/blob-XXXXXX (same filesystem, so the final rename is atomic),
 * hashing as it goes and refusing bytes past the declared size. finish
 * checks length and sha256, fsyncs, renames into place and fsyncs the
 * directory. Parts live in <data>/tmp/parts/<key>/<n>, each written the
 * same way (temp name, then rename), so a part is complete or absent.
 */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_MAX_AGE_S (3600) /* an idle temp file older than this is abandoned */
#define PARTS_MAX_AGE_S (7 * 24 * 3600)

int store_oid_valid(const char *oid)
{
	return oid && strlen(oid) == 64 && hex_is_lower(oid, 64);
}

char *store_blob_path(const struct store *st, const char *oid)
{
	return xasprintf("%s/lfs/%.2s/%.2s/%s", st->dir, oid, oid + 2, oid);
}

int store_blob_stat(struct store *st, const char *oid, int64_t *size)
{
	struct stat sb;
	if (!store_oid_valid(oid))
		return HD_EINVAL;
	char *p = store_blob_path(st, oid);
	int rc = stat(p, &sb) == 0 && S_ISREG(sb.st_mode) ? 0 : HD_ENOTFOUND;
	free(p);
	if (!rc && size)
		*size = (int64_t)sb.st_size;
	return rc;
}

int store_blob_open(struct store *st, const char *oid, int *fd, int64_t *size)
{
	struct stat sb;
	if (!store_oid_valid(oid))
		return HD_EINVAL;
	char *p = store_blob_path(st, oid);
	int f = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(p);
	if (f < 0)
		return errno == ENOENT ? HD_ENOTFOUND : -errno;
	if (fstat(f, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(f);
		return HD_ECORRUPT;
	}
	*fd = f;
	*size = (int64_t)sb.st_size;
	return 0;
}

int store_blob_remove(struct store *st, const char *oid)
{
	if (!store_oid_valid(oid))
		return HD_EINVAL;
	char *p = store_blob_path(st, oid);
	int rc = unlink(p) < 0 && errno != ENOENT ? -errno : 0;
	free(p);
	return rc;
}

/* ---- hashing temp-file writer shared by blobs and parts ------------------ */
struct tmp_writer {
	int fd;
	char *tmp_path;
	EVP_MD_CTX *md;
	int64_t written, max_size;
	int failed;
};

static int tmpw_open(struct tmp_writer *w, char *tmp_template, int64_t max_size)
{
	memset(w, 0, sizeof(*w));
	w->fd = mkostemp(tmp_template, O_CLOEXEC);
	if (w->fd < 0) {
		int rc = -errno;
		free(tmp_template);
		return rc;
	}
	w->tmp_path = tmp_template;
	w->max_size = max_size;
	w->md = EVP_MD_CTX_new();
	if (!w->md || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
		log_error("store: sha256 init failed");
		abort();
	}
	return 0;
}

static void tmpw_discard(struct tmp_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp_path)
		unlink(w->tmp_path);
	free(w->tmp_path);
	w->tmp_path = NULL;
	EVP_MD_CTX_free(w->md);
	w->md = NULL;
}

static int tmpw_write(struct tmp_writer *w, const void *data, size_t n)
{
	const char *p = data;

	if (w->failed)
		return w->failed;
	if ((uint64_t)n > (uint64_t)(w->max_size - w->written))
		return w->failed = HD_ETOOBIG;
	EVP_DigestUpdate(w->md, data, n);
	w->written += (int64_t)n;
	while (n) {
		ssize_t k = write(w->fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return w->failed = -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Finishes hashing and makes the bytes durable. hex receives the sha256. */
static int tmpw_seal(struct tmp_writer *w, char hex[65])
{
	unsigned char md[32];
	unsigned int md_len = 0;

	if (w->failed)
		return w->failed;
	EVP_DigestFinal_ex(w->md, md, &md_len);
	hex_encode(hex, md, sizeof(md));
	if (fsync(w->fd) < 0)
		return -errno;
	if (close(w->fd) < 0) {
		w->fd = -1;
		return -errno;
	}
	w->fd = -1;
	return 0;
}

/* ---- blobs ------------------------------------------------------------------ */
struct store_blob_writer {
	struct store *st;
	char oid[65];
	int64_t size;
	struct tmp_writer tw;
};

int store_blob_writer_new(struct store *st, const char *oid, int64_t size,
                          struct store_blob_writer **out)
{
	struct store_blob_writer *w;
	int rc;

	*out = NULL;
	if (!store_oid_valid(oid) || size < 0)
		return HD_EINVAL;
	w = xcalloc(1, sizeof(*w));
	w->st = st;
	memcpy(w->oid, oid, 65);
	w->size = size;
	rc = tmpw_open(&w->tw, xasprintf("%s/tmp/blob-XXXXXX", st->dir), size);
	if (rc) {
		free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int store_blob_write(struct store_blob_writer *w, const void *data, size_t n)
{
	return tmpw_write(&w->tw, data, n);
}

int store_blob_finish(struct store_blob_writer *w, char *err, size_t err_size)
{
	char hex[65], *final = NULL, *dir = NULL;
	int rc;

	rc = tmpw_seal(&w->tw, hex);
	if (rc) {
		hd_fail(err, err_size, rc, "cannot write the object: %s", hd_strerror(rc));
		goto out;
	}
	if (w->tw.written != w->size) {
		rc = hd_fail(err, err_size, HD_ECORRUPT,
		             "size mismatch: received %lld bytes, expected %lld",
		             (long long)w->tw.written, (long long)w->size);
		goto out;
	}
	if (strcmp(hex, w->oid)) {
		rc = hd_fail(err, err_size, HD_ECORRUPT,
		             "sha256 mismatch: the content hashes to %s, expected %s", hex, w->oid);
		goto out;
	}
	dir = xasprintf("%s/lfs/%.2s/%.2s", w->st->dir, w->oid, w->oid + 2);
	rc = fs_mkdir_p(dir, 0755);
	if (rc) {
		hd_fail(err, err_size, rc, "cannot create %s", dir);
		goto out;
	}
	final = store_blob_path(w->st, w->oid);
	if (rename(w->tw.tmp_path, final) < 0) {
		rc = -errno;
		hd_fail(err, err_size, rc, "cannot publish the object: %s", strerror(errno));
		goto out;
	}
	free(w->tw.tmp_path);
	w->tw.tmp_path = NULL;
	rc = fs_fsync_dir(dir);
out:
	tmpw_discard(&w->tw);
	free(final);
	free(dir);
	free(w);
	return rc;
}

void store_blob_abort(struct store_blob_writer *w)
{
	if (!w)
		return;
	tmpw_discard(&w->tw);
	free(w);
}

/* ---- parts ------------------------------------------------------------------- */
struct store_part_writer {
	char *final_path;
	char *dir;
	struct tmp_writer tw;
};

static int part_key_valid(const char *key)
{
	size_t n = strlen(key);
	if (n == 0 || n > 200)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f') ||
		      key[i] == '-'))
			return 0;
	return 1;
}

int store_part_writer_new(struct store *st, const char *key, int part_no, int64_t max_size,
                          struct store_part_writer **out)
{
	struct store_part_writer *w;
	int rc;

	*out = NULL;
	if (!part_key_valid(key) || part_no < 1 || part_no > 100000 || max_size < 0)
		return HD_EINVAL;
	w = xcalloc(1, sizeof(*w));
	w->dir = xasprintf("%s/tmp/parts/%s", st->dir, key);
	rc = fs_mkdir_p(w->dir, 0755);
	if (!rc)
		rc = tmpw_open(&w->tw, xasprintf("%s/tmp-%d-XXXXXX", w->dir, part_no), max_size);
	if (rc) {
		free(w->dir);
		free(w);
		return rc;
	}
	w->final_path = xasprintf("%s/%d", w->dir, part_no);
	*out = w;
	return 0;
}

int store_part_write(struct store_part_writer *w, const void *data, size_t n)
{
	return tmpw_write(&w->tw, data, n);
}

int store_part_finish(struct store_part_writer *w, int64_t *size, char sha256[65])
{
	int rc = tmpw_seal(&w->tw, sha256);

	if (!rc && rename(w->tw.tmp_path, w->final_path) < 0)
		rc = -errno;
	if (!rc) {
		free(w->tw.tmp_path);
		w->tw.tmp_path = NULL;
		if (size)
			*size = w->tw.written;
		rc = fs_fsync_dir(w->dir);
	}
	tmpw_discard(&w->tw);
	free(w->final_path);
	free(w->dir);
	free(w);
	return rc;
}

void store_part_abort(struct store_part_writer *w)
{
	if (!w)
		return;
	tmpw_discard(&w->tw);
	free(w->final_path);
	free(w->dir);
	free(w);
}

int store_part_open(struct store *st, const char *key, int part_no, int *fd, int64_t *size)
{
	struct stat sb;
	if (!part_key_valid(key) || part_no < 1)
		return HD_EINVAL;
	char *p = xasprintf("%s/tmp/parts/%s/%d", st->dir, key, part_no);
	int f = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(p);
	if (f < 0)
		return errno == ENOENT ? HD_ENOTFOUND : -errno;
	if (fstat(f, &sb) < 0) {
		close(f);
		return -errno;
	}
	*fd = f;
	*size = (int64_t)sb.st_size;
	return 0;
}

void store_parts_remove(struct store *st, const char *key)
{
	if (!part_key_valid(key))
		return;
	char *p = xasprintf("%s/tmp/parts/%s", st->dir, key);
	fs_rm_rf(p);
	free(p);
}

/* ---- cleanup -------------------------------------------------------------- */
static int older_than(const char *path, time_t now, time_t age)
{
	struct stat sb;
	return lstat(path, &sb) == 0 && sb.st_mtime + age < now;
}

void blob_tmp_cleanup(struct store *st)
{
	char *tmp = xasprintf("%s/tmp", st->dir);
	char *parts = xasprintf("%s/tmp/parts", st->dir);
	time_t now = time(NULL);
	DIR *d = opendir(tmp);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		/* Files of blob and key writes; directories of a repo created or
		 * deleted half-way (the hub's newrepo-* and trash-*). */
		int is_dir = !strncmp(e->d_name, "newrepo-", 8) || !strncmp(e->d_name, "trash-", 6);
		if (strncmp(e->d_name, "blob-", 5) && strncmp(e->d_name, "secret-", 7) && !is_dir)
			continue;
		char *p = xasprintf("%s/%s", tmp, e->d_name);
		if (older_than(p, now, TMP_MAX_AGE_S)) {
			if (is_dir)
				fs_rm_rf(p);
			else
				unlink(p);
		}
		free(p);
	}
	if (d)
		closedir(d);
	d = opendir(parts);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char *p = xasprintf("%s/%s", parts, e->d_name);
		if (older_than(p, now, PARTS_MAX_AGE_S))
			fs_rm_rf(p);
		free(p);
	}
	if (d)
		closedir(d);
	free(tmp);
	free(parts);
}

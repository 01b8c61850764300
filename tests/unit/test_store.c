/*
 * test_store.c: the data dir, the database interface and the blob store.
 */
#include "core/core.h"
#include "store/store.h"
#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char *tmp_dir(void)
{
	char *t = xstrdup("/tmp/huddle-test-store-XXXXXX");
	if (!mkdtemp(t))
		abort();
	return t;
}

static int count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	if (d)
		closedir(d);
	return n;
}

static void test_open_layout(void)
{
	char *dir = tmp_dir(), err[256] = "";
	struct store *st = NULL;
	struct stat sb;
	uint8_t key[32];

	CHECK_EQ_INT(store_open(dir, &st, err, sizeof(err)), 0);
	const char *subs[] = {"repos", "lfs", "tmp", "huddle.db", "secret.key"};
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++) {
		char *p = xasprintf("%s/%s", dir, subs[i]);
		CHECK(stat(p, &sb) == 0);
		if (!strcmp(subs[i], "secret.key"))
			CHECK_EQ_INT(sb.st_mode & 0777, 0600);
		free(p);
	}
	memcpy(key, store_secret_key(st), 32);
	store_close(st);
	/* Reopening keeps the key (signed URLs survive a restart). */
	CHECK_EQ_INT(store_open(dir, &st, err, sizeof(err)), 0);
	CHECK(!memcmp(key, store_secret_key(st), 32));
	store_close(st);
	/* Leftovers of a crash: old temp files and half-created or half-deleted
	 * repo dirs go at the next open; recent ones (maybe another process's
	 * work in progress) and anything else stay. */
	const char *old[] = {"tmp/blob-abc", "tmp/newrepo-1.git/objects/x", "tmp/trash-2.git/HEAD"};
	const char *keep[] = {"tmp/blob-new", "tmp/trash-3.git/HEAD", "tmp/other/x"};
	struct timeval tv[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
		char *p = xasprintf("%s/%s", dir, keep[i]);
		char *slash = strrchr(p, '/');
		*slash = 0;
		fs_mkdir_p(p, 0755);
		*slash = '/';
		CHECK_EQ_INT(fs_write_atomic(p, "x", 1), 0);
		free(p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(old); i++) {
		char *p = xasprintf("%s/%s", dir, old[i]);
		char *top =
		        xasprintf("%s/tmp/%.*s", dir, (int)strcspn(old[i] + 4, "/"), old[i] + 4);
		char *slash = strrchr(p, '/');
		*slash = 0;
		fs_mkdir_p(p, 0755);
		*slash = '/';
		CHECK_EQ_INT(fs_write_atomic(p, "x", 1), 0);
		CHECK_EQ_INT(utimes(top, tv), 0);
		free(top);
		free(p);
	}
	CHECK_EQ_INT(store_open(dir, &st, err, sizeof(err)), 0);
	store_close(st);
	for (size_t i = 0; i < ARRAY_SIZE(old); i++) {
		char *top =
		        xasprintf("%s/tmp/%.*s", dir, (int)strcspn(old[i] + 4, "/"), old[i] + 4);
		CHECK(stat(top, &sb) < 0);
		free(top);
	}
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
		char *p = xasprintf("%s/%s", dir, keep[i]);
		CHECK(stat(p, &sb) == 0);
		free(p);
	}
	fs_rm_rf(dir);
	free(dir);
}

static void test_db_statements(void)
{
	char *dir = tmp_dir(), err[256];
	struct store *st;
	int64_t v = 0;

	CHECK_EQ_INT(store_open(dir, &st, err, sizeof(err)), 0);
	struct store_db *db = store_db_get(st);
	CHECK_EQ_INT(store_exec(db,
	                        "INSERT INTO accounts(kind, name, name_key, created)"
	                        " VALUES (0, ?, ?, ?)",
	                        "tti", "Alice", "alice", (int64_t)1),
	             1);
	/* Case-insensitive uniqueness through the key: HD_EEXIST. */
	CHECK_EQ_INT(store_exec(db,
	                        "INSERT INTO accounts(kind, name, name_key, created)"
	                        " VALUES (0, ?, ?, ?)",
	                        "tti", "ALICE", "alice", (int64_t)2),
	             HD_EEXIST);
	CHECK_EQ_INT(store_query_i64(db, &v, "SELECT count(*) FROM accounts", NULL), 0);
	CHECK_EQ_INT(v, 1);
	CHECK_EQ_INT(store_query_i64(db, &v, "SELECT id FROM accounts WHERE name_key = ?", "t",
	                             "nobody"),
	             HD_ENOTFOUND);
	/* A rolled-back transaction leaves nothing. */
	CHECK_EQ_INT(store_begin(db), 0);
	CHECK_EQ_INT(store_exec(db,
	                        "INSERT INTO accounts(kind, name, name_key, created)"
	                        " VALUES (1, 'acme', 'acme', 3)",
	                        NULL),
	             1);
	store_rollback(db);
	CHECK_EQ_INT(store_query_i64(db, &v, "SELECT count(*) FROM accounts", NULL), 0);
	CHECK_EQ_INT(v, 1);
	/* NULL text binds NULL. */
	struct store_stmt *s;
	CHECK_EQ_INT(store_stmt(db, "SELECT ? IS NULL, ?", &s), 0);
	store_bind_text(s, 1, NULL);
	store_bind_text(s, 2, "x");
	CHECK_EQ_INT(store_step(s), 1);
	CHECK_EQ_INT(store_col_i64(s, 0), 1);
	CHECK_EQ_STR(store_col_text(s, 1), "x");
	store_stmt_done(s);
	/* Bad SQL is an error, not a crash. */
	CHECK_EQ_INT(store_exec(db, "SELEKT nonsense", NULL), HD_EINTERNAL);
	/* The audit log is append-only. */
	CHECK_EQ_INT(
	        store_exec(db, "INSERT INTO audit(time, actor, action) VALUES (1, 'a', 'b')", NULL),
	        1);
	CHECK(store_exec(db, "UPDATE audit SET actor = 'x'", NULL) < 0);
	CHECK(store_exec(db, "DELETE FROM audit", NULL) < 0);
	CHECK_EQ_INT(store_query_i64(db, &v, "SELECT count(*) FROM audit WHERE actor = 'a'", NULL),
	             0);
	CHECK_EQ_INT(v, 1);
	store_db_put(st, db);
	store_close(st);
	fs_rm_rf(dir);
	free(dir);
}

struct pool_arg {
	struct store *st;
	int id;
	int failures;
};

static void *pool_worker(void *p)
{
	struct pool_arg *a = p;
	for (int i = 0; i < 50; i++) {
		struct store_db *db = store_db_get(a->st);
		char name[64];
		snprintf(name, sizeof(name), "u%d-%d", a->id, i);
		if (store_exec(db,
		               "INSERT INTO accounts(kind, name, name_key, created) VALUES (0, ?, "
		               "?, 0)",
		               "tt", name, name) != 1)
			a->failures++;
		store_db_put(a->st, db);
	}
	return NULL;
}

/* A schema 1 database (before the per-day download counts) is brought to
 * schema 2 in place, keeping its rows; a newer schema than this build knows
 * is refused with a clear error. */
static void test_schema_migration(void)
{
	char *dir = tmp_dir(), err[256];
	struct store *st;
	struct store_db *db;
	int64_t v = 0;

	CHECK_EQ_INT(store_open(dir, &st, err, sizeof(err)), 0);
	db = store_db_get(st);
	CHECK_EQ_INT(store_query_i64(db, &v, "PRAGMA user_version", NULL), 0);
	CHECK_EQ_INT(v, 2);
	CHECK_EQ_INT(store_exec(db,
	                        "INSERT INTO accounts(kind, name, name_key, created)"
	                        " VALUES (0, 'old', 'old', 1)",
	                        NULL),
	             1);
	/* what a schema 1 database looks like */
	CHECK(store_exec(db, "DROP TABLE repo_downloads_daily", NULL) >= 0);
	CHECK(store_exec(db, "PRAGMA user_version=1", NULL) >= 0);
	store_db_put(st, db);
	store_close(st);

	CHECK_EQ_INT(store_open(dir, &st, err, sizeof(err)), 0);
	db = store_db_get(st);
	CHECK_EQ_INT(store_query_i64(db, &v, "PRAGMA user_version", NULL), 0);
	CHECK_EQ_INT(v, 2);
	CHECK_EQ_INT(store_query_i64(db, &v, "SELECT count(*) FROM repo_downloads_daily", NULL), 0);
	CHECK_EQ_INT(v, 0);
	CHECK_EQ_INT(
	        store_query_i64(db, &v, "SELECT count(*) FROM accounts WHERE name = 'old'", NULL),
	        0);
	CHECK_EQ_INT(v, 1);
	CHECK(store_exec(db, "PRAGMA user_version=3", NULL) >= 0);
	store_db_put(st, db);
	store_close(st);

	err[0] = 0;
	CHECK(store_open(dir, &st, err, sizeof(err)) < 0);
	CHECK(strstr(err, "newer") != NULL);
	fs_rm_rf(dir);
	free(dir);
}

static void test_db_threads(void)
{
	char *dir = tmp_dir(), err[256];
	struct store *st;
	pthread_t th[6];
	struct pool_arg args[6];
	int64_t v = 0;

	CHECK_EQ_INT(store_open(dir, &st, err, sizeof(err)), 0);
	for (int i = 0; i < 6; i++) {
		args[i] = (struct pool_arg){st, i, 0};
		pthread_create(&th[i], NULL, pool_worker, &args[i]);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(args[i].failures, 0);
	}
	struct store_db *db = store_db_get(st);
	CHECK_EQ_INT(store_query_i64(db, &v, "SELECT count(*) FROM accounts", NULL), 0);
	CHECK_EQ_INT(v, 300);
	store_db_put(st, db);
	store_close(st);
	fs_rm_rf(dir);
	free(dir);
}

static void test_blob_roundtrip(void)
{
	char *dir = tmp_dir(), err[256] = "", oid[65];
	struct store *st;
	struct store_blob_writer *w;
	const char *data = "hello, blob store";
	size_t n = strlen(data);
	int64_t size = 0;
	int fd;

	sha256_hex(oid, data, n);
	CHECK_EQ_INT(store_open(dir, &st, err, sizeof(err)), 0);
	CHECK_EQ_INT(store_blob_stat(st, oid, &size), HD_ENOTFOUND);
	CHECK_EQ_INT(store_blob_writer_new(st, oid, (int64_t)n, &w), 0);
	CHECK_EQ_INT(store_blob_write(w, data, 5), 0);
	/* Nothing under the final name until finish. */
	CHECK_EQ_INT(store_blob_stat(st, oid, &size), HD_ENOTFOUND);
	CHECK_EQ_INT(store_blob_write(w, data + 5, n - 5), 0);
	CHECK_EQ_INT(store_blob_finish(w, err, sizeof(err)), 0);
	CHECK_EQ_INT(store_blob_stat(st, oid, &size), 0);
	CHECK_EQ_INT(size, (int64_t)n);
	char *path = store_blob_path(st, oid);
	char *want = xasprintf("%s/lfs/%.2s/%.2s/%s", dir, oid, oid + 2, oid);
	CHECK_EQ_STR(path, want);
	free(path);
	free(want);
	CHECK_EQ_INT(store_blob_open(st, oid, &fd, &size), 0);
	char back[64] = {0};
	CHECK_EQ_INT(read(fd, back, sizeof(back)), (int)n);
	CHECK(!memcmp(back, data, n));
	close(fd);
	/* Writing the same object again keeps one copy with the same bytes. */
	CHECK_EQ_INT(store_blob_writer_new(st, oid, (int64_t)n, &w), 0);
	CHECK_EQ_INT(store_blob_write(w, data, n), 0);
	CHECK_EQ_INT(store_blob_finish(w, err, sizeof(err)), 0);
	CHECK_EQ_INT(store_blob_stat(st, oid, &size), 0);
	/* Empty blob. */
	char empty_oid[65];
	sha256_hex(empty_oid, "", 0);
	CHECK_EQ_INT(store_blob_writer_new(st, empty_oid, 0, &w), 0);
	CHECK_EQ_INT(store_blob_finish(w, err, sizeof(err)), 0);
	CHECK_EQ_INT(store_blob_stat(st, empty_oid, &size), 0);
	CHECK_EQ_INT(size, 0);
	CHECK_EQ_INT(store_blob_remove(st, empty_oid), 0);
	CHECK_EQ_INT(store_blob_stat(st, empty_oid, &size), HD_ENOTFOUND);
	char *tmp = xasprintf("%s/tmp", dir);
	CHECK_EQ_INT(count_files(tmp, "blob-"), 0);
	free(tmp);
	store_close(st);
	fs_rm_rf(dir);
	free(dir);
}

static void test_blob_verification(void)
{
	char *dir = tmp_dir(), err[256] = "", oid[65], other[65];
	struct store *st;
	struct store_blob_writer *w;
	int64_t size;

	sha256_hex(oid, "abcdef", 6);
	sha256_hex(other, "abcdeX", 6);
	CHECK_EQ_INT(store_open(dir, &st, err, sizeof(err)), 0);
	/* Wrong content for the oid. */
	CHECK_EQ_INT(store_blob_writer_new(st, oid, 6, &w), 0);
	CHECK_EQ_INT(store_blob_write(w, "abcdeX", 6), 0);
	CHECK_EQ_INT(store_blob_finish(w, err, sizeof(err)), HD_ECORRUPT);
	CHECK(strstr(err, "sha256 mismatch") != NULL);
	CHECK_EQ_INT(store_blob_stat(st, oid, &size), HD_ENOTFOUND);
	CHECK_EQ_INT(store_blob_stat(st, other, &size), HD_ENOTFOUND);
	/* Too short. */
	CHECK_EQ_INT(store_blob_writer_new(st, oid, 6, &w), 0);
	CHECK_EQ_INT(store_blob_write(w, "abc", 3), 0);
	CHECK_EQ_INT(store_blob_finish(w, err, sizeof(err)), HD_ECORRUPT);
	CHECK(strstr(err, "size mismatch") != NULL);
	CHECK_EQ_INT(store_blob_stat(st, oid, &size), HD_ENOTFOUND);
	/* Too long: refused while streaming, and the writer stays refused. */
	CHECK_EQ_INT(store_blob_writer_new(st, oid, 6, &w), 0);
	CHECK_EQ_INT(store_blob_write(w, "abcdef", 6), 0);
	CHECK_EQ_INT(store_blob_write(w, "g", 1), HD_ETOOBIG);
	CHECK_EQ_INT(store_blob_finish(w, err, sizeof(err)), HD_ETOOBIG);
	CHECK_EQ_INT(store_blob_stat(st, oid, &size), HD_ENOTFOUND);
	/* Abort. */
	CHECK_EQ_INT(store_blob_writer_new(st, oid, 6, &w), 0);
	CHECK_EQ_INT(store_blob_write(w, "abc", 3), 0);
	store_blob_abort(w);
	store_blob_abort(NULL);
	CHECK_EQ_INT(store_blob_stat(st, oid, &size), HD_ENOTFOUND);
	/* Bad oids never reach the file system. */
	const char *bad[] = {"",
	                     "abc",
	                     "../../etc/passwd",
	                     "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789",
	                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
	                     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ_INT(store_blob_writer_new(st, bad[i], 1, &w), HD_EINVAL);
		CHECK_EQ_INT(store_blob_stat(st, bad[i], &size), HD_EINVAL);
		CHECK(!store_oid_valid(bad[i]));
	}
	CHECK_EQ_INT(store_blob_writer_new(st, oid, -1, &w), HD_EINVAL);
	char *tmp = xasprintf("%s/tmp", dir);
	CHECK_EQ_INT(count_files(tmp, "blob-"), 0);
	free(tmp);
	store_close(st);
	fs_rm_rf(dir);
	free(dir);
}

static void test_parts(void)
{
	char *dir = tmp_dir(), err[256] = "", sha[65], want[65];
	struct store *st;
	struct store_part_writer *w;
	int64_t size = 0;
	int fd;
	const char *key = "0123abcd-ffee";

	CHECK_EQ_INT(store_open(dir, &st, err, sizeof(err)), 0);
	CHECK_EQ_INT(store_part_writer_new(st, key, 1, 4, &w), 0);
	CHECK_EQ_INT(store_part_write(w, "ab", 2), 0);
	/* The part is absent until finished. */
	CHECK_EQ_INT(store_part_open(st, key, 1, &fd, &size), HD_ENOTFOUND);
	CHECK_EQ_INT(store_part_write(w, "cd", 2), 0);
	CHECK_EQ_INT(store_part_write(w, "e", 1), HD_ETOOBIG);
	store_part_abort(w);
	CHECK_EQ_INT(store_part_open(st, key, 1, &fd, &size), HD_ENOTFOUND);
	CHECK_EQ_INT(store_part_writer_new(st, key, 1, 4, &w), 0);
	CHECK_EQ_INT(store_part_write(w, "abcd", 4), 0);
	CHECK_EQ_INT(store_part_finish(w, &size, sha), 0);
	sha256_hex(want, "abcd", 4);
	CHECK_EQ_STR(sha, want);
	CHECK_EQ_INT(size, 4);
	CHECK_EQ_INT(store_part_open(st, key, 1, &fd, &size), 0);
	CHECK_EQ_INT(size, 4);
	close(fd);
	/* A retry replaces the part. */
	CHECK_EQ_INT(store_part_writer_new(st, key, 1, 4, &w), 0);
	CHECK_EQ_INT(store_part_write(w, "xy", 2), 0);
	CHECK_EQ_INT(store_part_finish(w, &size, sha), 0);
	CHECK_EQ_INT(store_part_open(st, key, 1, &fd, &size), 0);
	CHECK_EQ_INT(size, 2);
	close(fd);
	/* Keys are restricted to hex and '-': no path tricks. */
	CHECK_EQ_INT(store_part_writer_new(st, "../x", 1, 4, &w), HD_EINVAL);
	CHECK_EQ_INT(store_part_writer_new(st, "ab/cd", 1, 4, &w), HD_EINVAL);
	CHECK_EQ_INT(store_part_writer_new(st, key, 0, 4, &w), HD_EINVAL);
	store_parts_remove(st, key);
	CHECK_EQ_INT(store_part_open(st, key, 1, &fd, &size), HD_ENOTFOUND);
	store_close(st);
	fs_rm_rf(dir);
	free(dir);
}

int main(void)
{
	log_min_level = LOG_WARN;
	RUN(test_open_layout);
	RUN(test_db_statements);
	RUN(test_schema_migration);
	RUN(test_db_threads);
	RUN(test_blob_roundtrip);
	RUN(test_blob_verification);
	RUN(test_parts);
	return test_summary();
}

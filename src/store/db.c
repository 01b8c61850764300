/*
 * db.c: the data dir, the SQLite connection pool, the schema, statements.
 *
 * One connection per concurrent caller: store_db_get pops an idle
 * connection (or opens one), store_db_put pushes it back. Each connection
 * keeps its prepared statements in a small hash table keyed by SQL text, so
 * a statement is compiled once per connection.
 */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STMT_CACHE 256 /* slots per connection (power of two) */
#define POOL_IDLE_MAX 16

struct store_stmt {
	sqlite3_stmt *st;
	struct store_db *db;
	char *sql;
	uint32_t hash;
};

struct store_db {
	sqlite3 *sql;
	struct store_stmt cache[STMT_CACHE];
	struct store_db *next_idle;
};

/* Schema version 1. Users and orgs share one namespace: accounts. Names are
 * unique case-insensitively through their lowercase key. */
static const char *const schema_v1 =
        "CREATE TABLE IF NOT EXISTS accounts("
        " id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, name TEXT NOT NULL,"
        " name_key TEXT NOT NULL UNIQUE, fullname TEXT, email TEXT,"
        " is_admin INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS members("
        " org_id INTEGER NOT NULL REFERENCES accounts(id),"
        " user_id INTEGER NOT NULL REFERENCES accounts(id),"
        " role INTEGER NOT NULL, created INTEGER NOT NULL, PRIMARY KEY(org_id, user_id));"
        "CREATE INDEX IF NOT EXISTS members_user ON members(user_id);"
        "CREATE TABLE IF NOT EXISTS tokens("
        " id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES accounts(id),"
        " hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, name TEXT, role INTEGER NOT NULL,"
        " scopes TEXT, created INTEGER NOT NULL, expires INTEGER, last_used INTEGER,"
        " revoked INTEGER);"
        "CREATE INDEX IF NOT EXISTS tokens_user ON tokens(user_id);"
        "CREATE INDEX IF NOT EXISTS tokens_prefix ON tokens(prefix);"
        "CREATE TABLE IF NOT EXISTS repos("
        " id INTEGER PRIMARY KEY, uid TEXT NOT NULL UNIQUE, type INTEGER NOT NULL,"
        " owner_id INTEGER NOT NULL REFERENCES accounts(id), namespace TEXT NOT NULL,"
        " name TEXT NOT NULL, key TEXT NOT NULL UNIQUE, private INTEGER NOT NULL,"
        " gated INTEGER NOT NULL DEFAULT 0, sdk TEXT, created INTEGER NOT NULL,"
        " last_modified INTEGER NOT NULL, downloads INTEGER NOT NULL DEFAULT 0,"
        " likes INTEGER NOT NULL DEFAULT 0, sha TEXT NOT NULL DEFAULT '',"
        " license TEXT, pipeline_tag TEXT, library_name TEXT, card_json TEXT,"
        " tags TEXT);"
        "CREATE INDEX IF NOT EXISTS repos_owner ON repos(owner_id);"
        "CREATE TABLE IF NOT EXISTS repo_tags("
        " repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,"
        " tag TEXT NOT NULL, PRIMARY KEY(repo_id, tag));"
        "CREATE INDEX IF NOT EXISTS repo_tags_tag ON repo_tags(tag);"
        "CREATE TABLE IF NOT EXISTS lfs_objects("
        " repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,"
        " oid TEXT NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL,"
        " PRIMARY KEY(repo_id, oid));"
        "CREATE INDEX IF NOT EXISTS lfs_objects_oid ON lfs_objects(oid);"
        "CREATE TABLE IF NOT EXISTS audit("
        " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL,"
        " action TEXT NOT NULL, target TEXT, ip TEXT);"
        "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
        " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
        "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit"
        " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

/* Schema version 2: downloads per repo and day (UTC days since the epoch),
 * for "trending" = downloads of the last days. Rows older than the window
 * are deleted by the hub. */
static const char *const schema_v2 =
        "CREATE TABLE IF NOT EXISTS repo_downloads_daily("
        " repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,"
        " day INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(repo_id, day));"
        "CREATE INDEX IF NOT EXISTS repo_downloads_daily_day ON repo_downloads_daily(day);";

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static int db_configure(sqlite3 *sql)
{
	sqlite3_busy_timeout(sql, 15000);
	return sqlite3_exec(sql,
	                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
	                    " PRAGMA foreign_keys=ON;",
	                    NULL, NULL, NULL);
}

static int db_open_conn(const char *path, sqlite3 **out, char *err, size_t err_size)
{
	sqlite3 *sql = NULL;
	int rc = sqlite3_open_v2(
	        path, &sql, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK || db_configure(sql) != SQLITE_OK) {
		hd_fail(err, err_size, HD_EINTERNAL, "cannot open %s: %s", path,
		        sql ? sqlite3_errmsg(sql) : sqlite3_errstr(rc));
		sqlite3_close(sql);
		return HD_EINTERNAL;
	}
	*out = sql;
	return 0;
}

static int db_migrate(sqlite3 *sql, char *err, size_t err_size)
{
	sqlite3_stmt *st;
	int version = 0;
	char *msg = NULL;

	if (sqlite3_prepare_v2(sql, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return hd_fail(err, err_size, HD_EINTERNAL, "schema: %s", sqlite3_errmsg(sql));
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > 2)
		return hd_fail(err, err_size, HD_EUNSUPPORTED,
		               "database schema %d is newer than this huddle (2)", version);
	if (version == 2)
		return 0;
	if (sqlite3_exec(sql, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
		goto fail;
	if ((version < 1 && sqlite3_exec(sql, schema_v1, NULL, NULL, &msg) != SQLITE_OK) ||
	    sqlite3_exec(sql, schema_v2, NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(sql, "PRAGMA user_version=2; COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		sqlite3_exec(sql, "ROLLBACK", NULL, NULL, NULL);
		goto fail;
	}
	return 0;
fail:
	hd_fail(err, err_size, HD_EINTERNAL, "schema: %s", msg ? msg : "?");
	sqlite3_free(msg);
	return HD_EINTERNAL;
}

/* Loads <data>/secret.key, or creates it (32 random bytes, mode 0600) so
 * that two processes starting at once agree: the new key is written to a
 * temp file and linked into place, and the loser of the race reads the
 * winner's. */
static int load_secret(struct store *st, char *err, size_t err_size)
{
	char *path = xasprintf("%s/secret.key", st->dir);
	char *tmp = NULL;
	int rc = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			ssize_t n = read(fd, st->secret, sizeof(st->secret));
			close(fd);
			if (n != (ssize_t)sizeof(st->secret))
				rc = hd_fail(err, err_size, HD_ECORRUPT, "%s is not %zu bytes",
				             path, sizeof(st->secret));
			goto out;
		}
		if (errno != ENOENT) {
			rc = hd_fail(err, err_size, -errno, "%s: %s", path, strerror(errno));
			goto out;
		}
		uint8_t key[32];
		rand_bytes(key, sizeof(key));
		free(tmp);
		tmp = xasprintf("%s/tmp/secret-XXXXXX", st->dir);
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd < 0) {
			rc = hd_fail(err, err_size, -errno, "%s: %s", tmp, strerror(errno));
			goto out;
		}
		int ok = fchmod(fd, 0600) == 0 && write(fd, key, sizeof(key)) == sizeof(key) &&
		         fsync(fd) == 0;
		close(fd);
		if (ok && link(tmp, path) == 0) {
			unlink(tmp);
			memcpy(st->secret, key, sizeof(key));
			fs_fsync_dir(st->dir);
			goto out;
		}
		unlink(tmp);
		if (!ok || errno != EEXIST) {
			rc = hd_fail(err, err_size, HD_EINTERNAL, "cannot write %s", path);
			goto out;
		}
	}
	rc = hd_fail(err, err_size, HD_EINTERNAL, "cannot create %s", path);
out:
	free(path);
	free(tmp);
	return rc;
}

int store_open(const char *data_dir, struct store **out, char *err, size_t err_size)
{
	static const char *const subdirs[] = {"repos", "lfs", "tmp", "tmp/parts"};
	struct store *st;
	sqlite3 *sql = NULL;
	int rc;

	*out = NULL;
	rc = fs_mkdir_p(data_dir, 0755);
	if (rc)
		return hd_fail(err, err_size, rc, "cannot create %s: %s", data_dir,
		               hd_strerror(rc));
	st = xcalloc(1, sizeof(*st));
	st->dir = xstrdup(data_dir);
	pthread_mutex_init(&st->lock, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		char *p = xasprintf("%s/%s", data_dir, subdirs[i]);
		rc = fs_mkdir_p(p, 0755);
		free(p);
		if (rc) {
			hd_fail(err, err_size, rc, "cannot create %s/%s: %s", data_dir, subdirs[i],
			        hd_strerror(rc));
			goto fail;
		}
	}
	rc = load_secret(st, err, err_size);
	if (rc)
		goto fail;
	st->db_path = xasprintf("%s/huddle.db", data_dir);
	rc = db_open_conn(st->db_path, &sql, err, err_size);
	if (rc)
		goto fail;
	rc = db_migrate(sql, err, err_size);
	sqlite3_close(sql);
	if (rc)
		goto fail;
	blob_tmp_cleanup(st);
	*out = st;
	return 0;
fail:
	store_close(st);
	return rc;
}

static void db_free(struct store_db *db)
{
	if (!db)
		return;
	for (size_t i = 0; i < STMT_CACHE; i++) {
		if (db->cache[i].st)
			sqlite3_finalize(db->cache[i].st);
		free(db->cache[i].sql);
	}
	sqlite3_close(db->sql);
	free(db);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	while (st->idle) {
		struct store_db *db = st->idle;
		st->idle = db->next_idle;
		db_free(db);
	}
	pthread_mutex_destroy(&st->lock);
	free(st->db_path);
	free(st->dir);
	free(st);
}

const char *store_data_dir(const struct store *st)
{
	return st->dir;
}

const uint8_t *store_secret_key(const struct store *st)
{
	return st->secret;
}

struct store_db *store_db_get(struct store *st)
{
	struct store_db *db;

	pthread_mutex_lock(&st->lock);
	db = st->idle;
	if (db) {
		st->idle = db->next_idle;
		st->n_idle--;
	}
	pthread_mutex_unlock(&st->lock);
	if (db)
		return db;
	db = xcalloc(1, sizeof(*db));
	if (db_open_conn(st->db_path, &db->sql, NULL, 0)) {
		/* The file existed a moment ago: this is out of file descriptors or
		 * memory, which the server cannot work around. */
		log_error("store: cannot open a database connection");
		abort();
	}
	return db;
}

void store_db_put(struct store *st, struct store_db *db)
{
	if (!db)
		return;
	if (!sqlite3_get_autocommit(db->sql)) {
		log_error("store: connection returned inside a transaction; rolling back");
		sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
	}
	pthread_mutex_lock(&st->lock);
	if (st->n_idle < POOL_IDLE_MAX) {
		db->next_idle = st->idle;
		st->idle = db;
		st->n_idle++;
		db = NULL;
	}
	pthread_mutex_unlock(&st->lock);
	db_free(db);
}

int store_stmt(struct store_db *db, const char *sql, struct store_stmt **out)
{
	uint32_t h = str_hash(sql);
	size_t i = h & (STMT_CACHE - 1);

	for (size_t probe = 0; probe < STMT_CACHE; probe++, i = (i + 1) & (STMT_CACHE - 1)) {
		struct store_stmt *s = &db->cache[i];
		if (!s->st)
			break;
		if (s->hash == h && !strcmp(s->sql, sql)) {
			*out = s;
			return 0;
		}
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db->sql, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
	    SQLITE_OK) {
		log_error("store: cannot prepare \"%s\": %s", sql, sqlite3_errmsg(db->sql));
		return HD_EINTERNAL;
	}
	struct store_stmt *s = &db->cache[i];
	if (s->st) {
		/* The table is full (never in practice: the program has far fewer
		 * statements); evict this slot. */
		sqlite3_finalize(s->st);
		free(s->sql);
	}
	s->st = st;
	s->db = db;
	s->sql = xstrdup(sql);
	s->hash = h;
	*out = s;
	return 0;
}

void store_bind_i64(struct store_stmt *s, int idx, int64_t v)
{
	sqlite3_bind_int64(s->st, idx, v);
}

void store_bind_text(struct store_stmt *s, int idx, const char *text)
{
	if (text)
		sqlite3_bind_text(s->st, idx, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s->st, idx);
}

void store_bind_null(struct store_stmt *s, int idx)
{
	sqlite3_bind_null(s->st, idx);
}

int store_step(struct store_stmt *s)
{
	int rc = sqlite3_step(s->st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	int ext = sqlite3_extended_errcode(s->db->sql);
	if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
		return HD_EEXIST;
	log_error("store: \"%s\": %s", s->sql, sqlite3_errmsg(s->db->sql));
	return HD_EINTERNAL;
}

int64_t store_col_i64(struct store_stmt *s, int col)
{
	return sqlite3_column_int64(s->st, col);
}

const char *store_col_text(struct store_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s->st, col);
}

int store_col_is_null(struct store_stmt *s, int col)
{
	return sqlite3_column_type(s->st, col) == SQLITE_NULL;
}

void store_stmt_done(struct store_stmt *s)
{
	sqlite3_reset(s->st);
	sqlite3_clear_bindings(s->st);
}

static int bind_va(struct store_stmt *s, const char *types, va_list ap)
{
	int idx = 1;
	for (const char *t = types ? types : ""; *t; t++, idx++) {
		switch (*t) {
		case 'i': store_bind_i64(s, idx, va_arg(ap, int64_t)); break;
		case 't': store_bind_text(s, idx, va_arg(ap, const char *)); break;
		case 'n': store_bind_null(s, idx); break;
		default: log_error("store: bad bind type '%c'", *t); return HD_EINTERNAL;
		}
	}
	return 0;
}

/* Prepares sql and binds the arguments of types (see store_exec). */
static int prepare_bind(struct store_db *db, const char *sql, const char *types, va_list ap,
                        struct store_stmt **out)
{
	int rc = store_stmt(db, sql, out);
	if (!rc) {
		rc = bind_va(*out, types, ap);
		if (rc)
			store_stmt_done(*out);
	}
	return rc;
}

int store_exec(struct store_db *db, const char *sql, const char *types, ...)
{
	struct store_stmt *s;
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = prepare_bind(db, sql, types, ap, &s);
	va_end(ap);
	if (rc)
		return rc;
	while ((rc = store_step(s)) == 1)
		;
	if (!rc)
		rc = sqlite3_changes(db->sql);
	store_stmt_done(s);
	return rc;
}

static int query_row_va(struct store_db *db, void (*row)(struct store_stmt *s, void *arg),
                        void *arg, const char *sql, const char *types, va_list ap)
{
	struct store_stmt *s;
	int rc = prepare_bind(db, sql, types, ap, &s);

	if (rc)
		return rc;
	rc = store_step(s);
	if (rc == 1) {
		row(s, arg);
		rc = 0;
	} else if (rc == 0) {
		rc = HD_ENOTFOUND;
	}
	store_stmt_done(s);
	return rc;
}

int store_query_row(struct store_db *db, void (*row)(struct store_stmt *s, void *arg), void *arg,
                    const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;
	va_start(ap, types);
	rc = query_row_va(db, row, arg, sql, types, ap);
	va_end(ap);
	return rc;
}

static void first_i64(struct store_stmt *s, void *arg)
{
	*(int64_t *)arg = store_col_i64(s, 0);
}

int store_query_i64(struct store_db *db, int64_t *out, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;
	va_start(ap, types);
	rc = query_row_va(db, first_i64, out, sql, types, ap);
	va_end(ap);
	return rc;
}

int64_t store_last_insert_id(struct store_db *db)
{
	return sqlite3_last_insert_rowid(db->sql);
}

int store_begin(struct store_db *db)
{
	if (sqlite3_exec(db->sql, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		log_error("store: begin: %s", sqlite3_errmsg(db->sql));
		return HD_EINTERNAL;
	}
	return 0;
}

int store_commit(struct store_db *db)
{
	if (sqlite3_exec(db->sql, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		log_error("store: commit: %s", sqlite3_errmsg(db->sql));
		sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
		return HD_EINTERNAL;
	}
	return 0;
}

void store_rollback(struct store_db *db)
{
	if (!sqlite3_get_autocommit(db->sql))
		sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
}

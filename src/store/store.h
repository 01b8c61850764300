/*
 * store: the data dir's persistent state, behind two small interfaces.
 *
 * 1. The metadata database (SQLite in WAL mode, <data>/huddle.db). Callers
 *    write portable SQL with `?` placeholders and go through the statement
 *    calls below; nothing outside store includes sqlite3.h, so another
 *    backend can sit behind the same calls. Connections come from a small
 *    locked pool: take one for the duration of a call (store_db_get), give
 *    it back (store_db_put). A connection is never used by two threads at
 *    once. busy_timeout lets the CLI and the server share the file.
 *
 * 2. The blob store (<data>/lfs/<2>/<2>/<sha256>), content-addressed. A blob
 *    is written to <data>/tmp/ while its sha256 is computed, capped at the
 *    declared size, fsynced, verified against oid and size, then renamed
 *    into place and the directory fsynced: a final name never holds partial
 *    or wrong bytes. Multipart parts are files of their own under tmp/.
 *
 * Plus the data dir's secret key (<data>/secret.key, 32 random bytes, mode
 * 0600) for signed URLs.
 */
#ifndef HD_STORE_H
#define HD_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct store_db;
struct store_stmt;

/* Opens data_dir, creating huddle.db (schema included), repos/, lfs/, tmp/
 * and secret.key when missing. Clears leftover temp files of blob writes
 * (an upload never survives a restart half-way; the client retries). */
int store_open(const char *data_dir, struct store **out, char *err, size_t err_size);
void store_close(struct store *st);
const char *store_data_dir(const struct store *st);
/* The 32-byte secret key (borrowed for the store's lifetime). */
const uint8_t *store_secret_key(const struct store *st);

/* ---- database ------------------------------------------------------------ */
struct store_db *store_db_get(struct store *st);
void store_db_put(struct store *st, struct store_db *db);

/* Prepares sql (cached per connection by its text). The statement is reset
 * and its bindings cleared by store_stmt_done. HD_EINTERNAL on bad SQL. */
int store_stmt(struct store_db *db, const char *sql, struct store_stmt **out);
/* Binds by 1-based index. text NULL binds NULL. */
void store_bind_i64(struct store_stmt *s, int idx, int64_t v);
void store_bind_text(struct store_stmt *s, int idx, const char *text);
void store_bind_null(struct store_stmt *s, int idx);
/* 1: a row is ready, 0: done, <0: error (HD_EEXIST for a UNIQUE or
 * PRIMARY KEY violation, HD_EINTERNAL otherwise, logged). */
int store_step(struct store_stmt *s);
int64_t store_col_i64(struct store_stmt *s, int col);
/* Borrowed until the next step/done; NULL for SQL NULL. */
const char *store_col_text(struct store_stmt *s, int col);
int store_col_is_null(struct store_stmt *s, int col);
void store_stmt_done(struct store_stmt *s);

/* One-shot: prepares, binds from types ('i' int64_t, 't' const char *, 'n'
 * null, consuming no argument), steps to the end, returns the number of
 * changed rows or an error as store_step. */
int store_exec(struct store_db *db, const char *sql, const char *types, ...);
/* Like store_exec for a query whose first row is wanted: calls row(s, arg)
 * on it (its columns are readable there) and returns 0, or HD_ENOTFOUND
 * when there is no row. */
int store_query_row(struct store_db *db, void (*row)(struct store_stmt *s, void *arg), void *arg,
                    const char *sql, const char *types, ...);
/* store_query_row for a first column that is an integer: *out. */
int store_query_i64(struct store_db *db, int64_t *out, const char *sql, const char *types, ...);
int64_t store_last_insert_id(struct store_db *db);

/* Transactions: store_begin takes the write lock at once (BEGIN
 * IMMEDIATE), so a transaction never fails half-way on a busy database. */
int store_begin(struct store_db *db);
int store_commit(struct store_db *db);
void store_rollback(struct store_db *db);

/* ---- blobs ------------------------------------------------------------------ */
/* 1 if s is exactly 64 lowercase hex characters. */
int store_oid_valid(const char *oid);
/* "<data>/lfs/ab/cd/<oid>" (caller frees). oid must be valid. */
char *store_blob_path(const struct store *st, const char *oid);
/* 0 and *size if the blob exists, HD_ENOTFOUND otherwise, HD_EINVAL bad oid. */
int store_blob_stat(struct store *st, const char *oid, int64_t *size);
/* Opens the blob read-only: *fd and *size. */
int store_blob_open(struct store *st, const char *oid, int *fd, int64_t *size);

struct store_blob_writer;
/* A writer for a blob that must hash to oid and be exactly size bytes. */
int store_blob_writer_new(struct store *st, const char *oid, int64_t size,
                          struct store_blob_writer **out);
/* HD_ETOOBIG once more than size bytes arrive (the writer is then poisoned). */
int store_blob_write(struct store_blob_writer *w, const void *data, size_t n);
/* Verifies and publishes; frees w. HD_ECORRUPT with a message when the
 * length or hash differ (nothing published). Publishing a blob that already
 * exists keeps the existing file (same content by construction). */
int store_blob_finish(struct store_blob_writer *w, char *err, size_t err_size);
void store_blob_abort(struct store_blob_writer *w);
/* Deletes a blob (used by GC of unreferenced objects). */
int store_blob_remove(struct store *st, const char *oid);

/* Multipart parts: <data>/tmp/parts/<key>/<part_no>, where key names the
 * upload (e.g. repo uid + oid). A part writer writes a temp file and renames
 * it to the part's name on finish, so a part is complete or absent. At most
 * max_size bytes. finish gives the part's sha256 hex. */
struct store_part_writer;
int store_part_writer_new(struct store *st, const char *key, int part_no, int64_t max_size,
                          struct store_part_writer **out);
int store_part_write(struct store_part_writer *w, const void *data, size_t n);
int store_part_finish(struct store_part_writer *w, int64_t *size, char sha256[65]);
void store_part_abort(struct store_part_writer *w);
/* Opens part part_no of key for reading (HD_ENOTFOUND if absent). */
int store_part_open(struct store *st, const char *key, int part_no, int *fd, int64_t *size);
/* Removes all parts of key. */
void store_parts_remove(struct store *st, const char *key);

#endif

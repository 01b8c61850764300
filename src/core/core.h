/*
 * core: what every other module uses. Errors, logging, allocation,
 * growable byte buffers, hex, randomness, time stamps and careful file I/O.
 *
 * Nothing here knows about HTTP, storage or models.
 */
#ifndef HD_CORE_H
#define HD_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* ---- errors ----------------------------------------------------------
 * Functions return int: 0 on success, a negative value on failure. Either
 * -errno passed through, or one of the codes below (all below -1000 so they
 * never collide with errno values).
 */
enum hd_err {
	HD_OK = 0,
	HD_EINVAL = -1001, /* malformed input */
	HD_ENOTFOUND = -1002, /* no such object */
	HD_EEXIST = -1003, /* already exists */
	HD_EPERM = -1004, /* not allowed */
	HD_ECONFLICT = -1005, /* stale parent, concurrent update */
	HD_ETOOBIG = -1006, /* over a size or count limit */
	HD_ECORRUPT = -1007, /* stored data or file fails validation */
	HD_EUNSUPPORTED = -1008,
	HD_EINTERNAL = -1009, /* a library call failed unexpectedly */
	HD_EAUTH = -1010, /* missing or invalid credentials */
};

/* Static message for an hd_err or -errno value. */
const char *hd_strerror(int err);

/* Copies a message into an optional error-detail buffer (err may be NULL).
 * Returns code, so a parser can write `return hd_fail(err, n, HD_EINVAL, "...")`. */
int hd_fail(char *err, size_t err_size, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* ---- logging ---------------------------------------------------------
 * One line per message on stderr: time, level, message. The level is
 * checked before formatting. Never log secrets (tokens, passwords).
 */
enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

extern int log_min_level;
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...)                                   \
	do {                                             \
		if (log_min_level <= LOG_DEBUG)          \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)
#define log_info(...)                                   \
	do {                                            \
		if (log_min_level <= LOG_INFO)          \
			log_msg(LOG_INFO, __VA_ARGS__); \
	} while (0)
#define log_warn(...)                                   \
	do {                                            \
		if (log_min_level <= LOG_WARN)          \
			log_msg(LOG_WARN, __VA_ARGS__); \
	} while (0)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* ---- allocation ------------------------------------------------------
 * These abort on out-of-memory (like redis' zmalloc), so callers never check
 * for NULL. Sizes that come from untrusted input must be bounded by the
 * caller first; xmalloc_array checks the multiplication for overflow.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
void *xmalloc_array(size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define HD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define HD_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- byte buffer -----------------------------------------------------
 * A growable buffer that is always NUL-terminated (data[len] == 0), so it
 * can be used as a C string when it holds text. buf_init on caller storage,
 * buf_release frees the bytes; buf_detach hands them to the caller.
 */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
#define BUF_INIT           \
	{                  \
		NULL, 0, 0 \
	}

void buf_init(struct buf *b);
void buf_release(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps the memory */
void buf_grow(struct buf *b, size_t extra); /* room for extra more bytes */
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
char *buf_detach(struct buf *b, size_t *len); /* caller frees; b is reset */

/* ---- hex, random, hashing -------------------------------------------- */
void hex_encode(char *out, const void *in, size_t n); /* out: 2n+1 bytes */
int hex_decode(void *out, const char *in,
               size_t n_out); /* exactly 2*n_out lowercase/uppercase hex chars */
int hex_is_lower(const char *s, size_t n); /* 1 if s[0..n) is lowercase hex */
void rand_bytes(void *out, size_t n); /* CSPRNG (OpenSSL); aborts on failure */
void sha256_hex(char out[65], const void *data, size_t n);
/* Constant-time comparison of two equal-length byte strings. */
int ct_equal(const void *a, const void *b, size_t n);

/* ---- time ------------------------------------------------------------ */
int64_t time_now_ms(void); /* wall clock, milliseconds since the epoch */
double time_mono_s(void); /* monotonic seconds, for measuring */
/* "2024-01-01T00:00:00.000Z" (24 chars + NUL) from milliseconds since the epoch. */
void time_iso8601(char out[32], int64_t ms);

/* ---- files ------------------------------------------------------------ */
int fs_mkdir_p(const char *path, unsigned mode); /* 0 or -errno */
int fs_read_file(const char *path, struct buf *out, size_t max_size);
/* Writes data to path atomically: a temp file in the same directory,
 * fsync, rename, fsync of the directory. Never leaves a partial file under
 * the final name. */
int fs_write_atomic(const char *path, const void *data, size_t n);
int fs_fsync_dir(const char *dir);
int fs_exists(const char *path);
/* Removes a directory tree (no symlink following). 0 or -errno. */
int fs_rm_rf(const char *path);

/* ---- strings --------------------------------------------------------- */
int str_starts_with(const char *s, const char *prefix);
int str_ends_with(const char *s, const char *suffix);
/* Parses a base-10 integer that must fill the whole string; 0 or HD_EINVAL. */
int str_to_i64(const char *s, int64_t *out);
/* 1 if s[0..n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int utf8_valid(const char *s, size_t n);

#endif

/*
 * core.c: errors, logging, allocation, buffers, hex, randomness and time.
 * File helpers live in fs.c.
 */
#include "core/core.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <utf8proc.h>

/* ---- errors ---------------------------------------------------------- */

const char *hd_strerror(int err)
{
	switch (err) {
	case HD_OK: return "success";
	case HD_EINVAL: return "invalid input";
	case HD_ENOTFOUND: return "not found";
	case HD_EEXIST: return "already exists";
	case HD_EPERM: return "permission denied";
	case HD_ECONFLICT: return "conflict";
	case HD_ETOOBIG: return "too large";
	case HD_ECORRUPT: return "corrupt data";
	case HD_EUNSUPPORTED: return "unsupported";
	case HD_EINTERNAL: return "internal error";
	case HD_EAUTH: return "invalid credentials";
	default: break;
	}
	if (err < 0 && err > -1000)
		return strerror(-err);
	return "unknown error";
}

int hd_fail(char *err, size_t err_size, int code, const char *fmt, ...)
{
	if (err && err_size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* ---- logging --------------------------------------------------------- */

int log_min_level = LOG_INFO;

void log_msg(int level, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	char ts[32], line[2048];
	va_list ap;
	int n;

	if (level < log_min_level)
		return;
	time_iso8601(ts, time_now_ms());
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One write per line so lines from several threads do not interleave. */
	fprintf(stderr, "%s %s %s\n", ts, names[level < 0 ? 0 : level > 3 ? 3 : level], line);
}

/* ---- allocation ------------------------------------------------------ */

static void oom(size_t size)
{
	fprintf(stderr, "huddle: out of memory allocating %zu bytes\n", size);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);
	if (!p)
		oom(size);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);
	if (!q)
		oom(size);
	return q;
}

void *xmalloc_array(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		oom(SIZE_MAX);
	return xmalloc(n * size);
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b, NULL);
}

/* ---- buffers --------------------------------------------------------- */

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_release(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

void buf_grow(struct buf *b, size_t extra)
{
	size_t need;
	if (extra > SIZE_MAX - b->len - 1)
		oom(SIZE_MAX);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	b->data[b->len] = 0; /* a first allocation is a valid empty string too */
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
}

void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
	buf_append(b, &c, 1);
}

void buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	buf_grow(b, 64);
	va_copy(cp, ap);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
	va_end(cp);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		buf_grow(b, (size_t)n);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		if (n < 0)
			return;
	}
	b->len += (size_t)n;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(b, fmt, ap);
	va_end(ap);
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p;
	if (!b->data)
		buf_grow(b, 0);
	p = b->data;
	if (len)
		*len = b->len;
	buf_init(b);
	return p;
}

/* ---- hex, random, hashing ------------------------------------------- */

void hex_encode(char *out, const void *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = 0;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(void *out, const char *in, size_t n_out)
{
	unsigned char *p = out;
	for (size_t i = 0; i < n_out; i++) {
		int hi = hex_val(in[2 * i]), lo = hi < 0 ? -1 : hex_val(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return HD_EINVAL;
		p[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int hex_is_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return 1;
}

void rand_bytes(void *out, size_t n)
{
	if (n > INT32_MAX || RAND_bytes(out, (int)n) != 1) {
		fprintf(stderr, "huddle: RAND_bytes failed\n");
		abort();
	}
}

void sha256_hex(char out[65], const void *data, size_t n)
{
	unsigned char md[32];
	unsigned int md_len = 0;
	if (EVP_Digest(data, n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32) {
		fprintf(stderr, "huddle: sha256 failed\n");
		abort();
	}
	hex_encode(out, md, 32);
}

int ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

/* ---- time ------------------------------------------------------------ */

int64_t time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double time_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void time_iso8601(char out[32], int64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)((ms % 1000 + 1000) % 1000));
}

/* ---- strings --------------------------------------------------------- */

int str_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int str_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int str_to_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;
	if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9')))
		return HD_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return HD_EINVAL;
	*out = v;
	return 0;
}

int utf8_valid(const char *s, size_t n)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	while (n) {
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate(p, (utf8proc_ssize_t)n, &cp);
		if (k <= 0)
			return 0;
		p += k;
		n -= (size_t)k;
	}
	return 1;
}

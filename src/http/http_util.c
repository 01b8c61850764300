/*
 * http_util.c: the pure parts of the HTTP layer: percent-decoding, route
 * patterns, the Range header and header-value hygiene. No libmicrohttpd here,
 * so unit tests and fuzz targets link this alone.
 *
 * Paths are routed raw (still percent-encoded) and each captured segment is
 * decoded on its own, so "dev%2Fx" is one revision while "dev/x" is two
 * segments (HUB-API.md 1.12).
 */
#include "http/http.h"
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

int http_pct_decode(const char *s, size_t n, int plus_space, char **out)
{
	char *o = xmalloc(n + 1);
	size_t j = 0;

	*out = NULL;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '%') {
			unsigned char byte;
			if (i + 2 >= n || hex_decode(&byte, s + i + 1, 1) < 0) {
				free(o);
				return HD_EINVAL;
			}
			c = byte;
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c == 0) {
			free(o);
			return HD_EINVAL;
		}
		o[j++] = (char)c;
	}
	o[j] = 0;
	if (!utf8_valid(o, j)) {
		free(o);
		return HD_EINVAL;
	}
	*out = o;
	return 0;
}

int http_path_segments(const char *raw, char ***segs, size_t *n_segs)
{
	size_t n = 1, len = strlen(raw), off;
	char **v;
	char *text;

	*segs = NULL;
	*n_segs = 0;
	for (const char *p = raw; *p; p++)
		n += *p == '/';
	/* One allocation: the pointer array, then the decoded strings (never
	 * longer than the raw text, plus a NUL each). */
	v = xmalloc(n * sizeof(*v) + len + n);
	text = (char *)(v + n);
	off = 0;
	for (size_t i = 0; i < n; i++) {
		const char *end = strchr(raw, '/');
		size_t seg_len = end ? (size_t)(end - raw) : strlen(raw);
		char *dec;
		if (http_pct_decode(raw, seg_len, 0, &dec) < 0) {
			free(v);
			return HD_EINVAL;
		}
		v[i] = text + off;
		memcpy(text + off, dec, strlen(dec) + 1);
		off += strlen(dec) + 1;
		free(dec);
		raw = end ? end + 1 : raw + seg_len;
	}
	*segs = v;
	*n_segs = n;
	return 0;
}

void http_pct_encode(struct buf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
			buf_putc(b, (char)c);
		} else {
			buf_putc(b, '%');
			buf_putc(b, hex[c >> 4]);
			buf_putc(b, hex[c & 15]);
		}
	}
}

void http_caps_free(struct http_cap *caps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(caps[i].value);
		caps[i].value = NULL;
	}
}

/* Does the literal list "a|b|c" (len bytes) contain seg[0..seg_len)? */
static int alt_contains(const char *alts, size_t len, const char *seg, size_t seg_len)
{
	const char *end = alts + len;
	while (alts < end) {
		const char *bar = memchr(alts, '|', (size_t)(end - alts));
		size_t n = bar ? (size_t)(bar - alts) : (size_t)(end - alts);
		if (n == seg_len && !memcmp(alts, seg, n))
			return 1;
		alts += n + 1;
	}
	return 0;
}

int http_route_match(const char *pattern, const char *path, struct http_cap *caps, size_t max_caps,
                     size_t *n_caps)
{
	const char *p = pattern, *u = path;
	size_t nc = 0;

	*n_caps = 0;
	if (*p != '/' || *u != '/')
		return 0;
	for (;;) {
		const char *pe, *ue;
		size_t plen, ulen;

		/* Both point at a '/'. */
		p++;
		u++;
		pe = strchr(p, '/');
		plen = pe ? (size_t)(pe - p) : strlen(p);
		if (*p == '*') {
			if (nc < max_caps) {
				caps[nc].name = p + 1;
				caps[nc].name_len = plen - 1;
				caps[nc].value = xstrdup(u);
				nc++;
			}
			*n_caps = nc;
			return 1;
		}
		ue = strchr(u, '/');
		ulen = ue ? (size_t)(ue - u) : strlen(u);
		if (*p == ':') {
			const char *eq = memchr(p, '=', plen);
			size_t name_len = eq ? (size_t)(eq - p - 1) : plen - 1;
			char *dec;
			if (eq && !alt_contains(eq + 1, plen - (size_t)(eq + 1 - p), u, ulen))
				goto nomatch;
			if (ulen == 0)
				goto nomatch;
			if (http_pct_decode(u, ulen, 0, &dec) < 0) {
				http_caps_free(caps, nc);
				return HD_EINVAL;
			}
			if (nc < max_caps) {
				caps[nc].name = p + 1;
				caps[nc].name_len = name_len;
				caps[nc].value = dec;
				nc++;
			} else {
				free(dec);
			}
		} else if (plen != ulen || memcmp(p, u, plen)) {
			goto nomatch;
		}
		if (!pe && !ue) {
			*n_caps = nc;
			return 1;
		}
		if (!pe || !ue) {
			/* A trailing "*rest" may match nothing: "/a/ *r" matches "/a". */
			if (pe && !ue && pe[1] == '*' && !strchr(pe + 1, '/')) {
				if (nc < max_caps) {
					caps[nc].name = pe + 2;
					caps[nc].name_len = strlen(pe + 2);
					caps[nc].value = xstrdup("");
					nc++;
				}
				*n_caps = nc;
				return 1;
			}
			goto nomatch;
		}
		p = pe;
		u = ue;
	}
nomatch:
	http_caps_free(caps, nc);
	return 0;
}

/* Parses decimal digits at *s; saturates at UINT64_MAX. Returns the number of
 * digits read (0: none). */
static size_t parse_u64_sat(const char **s, uint64_t *out)
{
	uint64_t v = 0;
	size_t n = 0;
	const char *p = *s;
	while (*p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			v = UINT64_MAX;
		else
			v = v * 10 + d;
		p++;
		n++;
	}
	*s = p;
	*out = v;
	return n;
}

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

enum http_range_result http_range_parse(const char *header, uint64_t size, uint64_t *start,
                                        uint64_t *len)
{
	const char *p;
	uint64_t a = 0, b = 0;
	size_t na, nb;

	*start = 0;
	*len = size;
	if (!header)
		return HTTP_RANGE_NONE;
	p = skip_ows(header);
	if (strncasecmp(p, "bytes", 5))
		return HTTP_RANGE_NONE;
	p = skip_ows(p + 5);
	if (*p != '=')
		return HTTP_RANGE_NONE;
	p = skip_ows(p + 1);
	if (strchr(p, ','))
		return HTTP_RANGE_NONE; /* several ranges: we send the whole body */
	na = parse_u64_sat(&p, &a);
	p = skip_ows(p);
	if (*p != '-')
		return HTTP_RANGE_NONE;
	p = skip_ows(p + 1);
	nb = parse_u64_sat(&p, &b);
	p = skip_ows(p);
	if (*p)
		return HTTP_RANGE_NONE;
	if (!na && !nb)
		return HTTP_RANGE_NONE;
	if (!na) {
		/* Suffix range: the last b bytes. */
		if (b == 0 || size == 0)
			return HTTP_RANGE_UNSATISFIABLE;
		if (b > size)
			b = size;
		*start = size - b;
		*len = b;
		return HTTP_RANGE_OK;
	}
	if (nb && b < a)
		return HTTP_RANGE_NONE; /* invalid: ignored (RFC 9110 14.1.1) */
	if (a >= size)
		return HTTP_RANGE_UNSATISFIABLE;
	if (!nb || b >= size)
		b = size - 1;
	*start = a;
	*len = b - a + 1;
	return HTTP_RANGE_OK;
}

char *http_header_sanitize(const char *value, size_t max)
{
	size_t n = strlen(value);
	char *o;
	if (n > max)
		n = max;
	o = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)value[i];
		o[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	o[n] = 0;
	return o;
}

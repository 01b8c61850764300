/*
 * test_http.c: the pure parts of the HTTP layer: percent-decoding, path
 * segments, route patterns, the Range header and header hygiene.
 */
#include "core/core.h"
#include "http/http.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void test_pct_decode(void)
{
	char *o;
	CHECK_EQ_INT(http_pct_decode("a%2Fb", 5, 0, &o), 0);
	CHECK_EQ_STR(o, "a/b");
	free(o);
	CHECK_EQ_INT(http_pct_decode("a+b%20c", 7, 1, &o), 0);
	CHECK_EQ_STR(o, "a b c");
	free(o);
	CHECK_EQ_INT(http_pct_decode("a+b", 3, 0, &o), 0);
	CHECK_EQ_STR(o, "a+b");
	free(o);
	CHECK_EQ_INT(http_pct_decode("%C3%A9t%c3%a9", 13, 0, &o), 0);
	CHECK_EQ_STR(o, "\xc3\xa9t\xc3\xa9");
	free(o);
	/* Bad escapes, NUL, invalid and overlong UTF-8 are refused. */
	CHECK_EQ_INT(http_pct_decode("a%2", 3, 0, &o), HD_EINVAL);
	CHECK(o == NULL);
	CHECK_EQ_INT(http_pct_decode("a%", 2, 0, &o), HD_EINVAL);
	CHECK_EQ_INT(http_pct_decode("a%zz", 4, 0, &o), HD_EINVAL);
	CHECK_EQ_INT(http_pct_decode("a%00b", 5, 0, &o), HD_EINVAL);
	CHECK_EQ_INT(http_pct_decode("%ff", 3, 0, &o), HD_EINVAL);
	CHECK_EQ_INT(http_pct_decode("%c0%ae", 6, 0, &o), HD_EINVAL); /* overlong '.' */
	CHECK_EQ_INT(http_pct_decode("%ed%a0%80", 9, 0, &o), HD_EINVAL); /* surrogate */
	/* Only n bytes are read. */
	CHECK_EQ_INT(http_pct_decode("abc%41", 3, 0, &o), 0);
	CHECK_EQ_STR(o, "abc");
	free(o);
}

static void test_path_segments(void)
{
	char **s;
	size_t n;
	CHECK_EQ_INT(http_path_segments("main/sub%2Fdir/a.txt", &s, &n), 0);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_STR(s[0], "main");
	CHECK_EQ_STR(s[1], "sub/dir");
	CHECK_EQ_STR(s[2], "a.txt");
	free(s);
	CHECK_EQ_INT(http_path_segments("", &s, &n), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_STR(s[0], "");
	free(s);
	CHECK_EQ_INT(http_path_segments("a//b/", &s, &n), 0);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_STR(s[1], "");
	CHECK_EQ_STR(s[3], "");
	free(s);
	CHECK_EQ_INT(http_path_segments("a/%zz", &s, &n), HD_EINVAL);
	CHECK(s == NULL);
}

static void test_pct_encode(void)
{
	struct buf b = BUF_INIT;
	http_pct_encode(&b, "a b/c?d=é~", 0);
	CHECK_EQ_STR(b.data, "a%20b%2Fc%3Fd%3D%C3%A9~");
	buf_reset(&b);
	http_pct_encode(&b, "alice/x y", 1);
	CHECK_EQ_STR(b.data, "alice/x%20y");
	buf_release(&b);
}

/* Looks a capture up by name. */
static const char *cap(struct http_cap *caps, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (caps[i].name_len == strlen(name) &&
		    !memcmp(caps[i].name, name, caps[i].name_len))
			return caps[i].value;
	return NULL;
}

static void test_route_match(void)
{
	struct http_cap caps[8];
	size_t n;
	const char *pat = "/api/:T=models|datasets|spaces/:ns/:name/tree/*tail";

	CHECK_EQ_INT(http_route_match(pat, "/api/models/alice/x/tree/main/sub%2Fdir", caps, 8, &n),
	             1);
	CHECK_EQ_INT(n, 4);
	CHECK_EQ_STR(cap(caps, n, "T"), "models");
	CHECK_EQ_STR(cap(caps, n, "ns"), "alice");
	CHECK_EQ_STR(cap(caps, n, "name"), "x");
	CHECK_EQ_STR(cap(caps, n, "tail"), "main/sub%2Fdir"); /* rest stays raw */
	http_caps_free(caps, n);

	/* Not one of the alternatives. */
	CHECK_EQ_INT(http_route_match(pat, "/api/collections/a/b/tree/main", caps, 8, &n), 0);
	CHECK_EQ_INT(n, 0);
	/* Literal mismatch, too short, too long. */
	CHECK_EQ_INT(http_route_match(pat, "/api/models/alice/x/blob/main", caps, 8, &n), 0);
	CHECK_EQ_INT(http_route_match("/api/whoami-v2", "/api/whoami-v2/x", caps, 8, &n), 0);
	CHECK_EQ_INT(http_route_match("/api/whoami-v2", "/api", caps, 8, &n), 0);
	CHECK_EQ_INT(http_route_match("/api/whoami-v2", "/api/whoami-v2", caps, 8, &n), 1);
	CHECK_EQ_INT(n, 0);
	/* An empty segment never fills a :capture. */
	CHECK_EQ_INT(http_route_match("/:ns/:name", "//x", caps, 8, &n), 0);
	CHECK_EQ_INT(http_route_match("/:ns/:name", "/a/", caps, 8, &n), 0);
	/* A trailing *rest may be empty, with or without the slash. */
	CHECK_EQ_INT(http_route_match("/a/*r", "/a", caps, 8, &n), 1);
	CHECK_EQ_STR(cap(caps, n, "r"), "");
	http_caps_free(caps, n);
	CHECK_EQ_INT(http_route_match("/a/*r", "/a/", caps, 8, &n), 1);
	CHECK_EQ_STR(cap(caps, n, "r"), "");
	http_caps_free(caps, n);
	/* Captures are decoded one segment at a time. */
	CHECK_EQ_INT(http_route_match("/:ns/:name/resolve/*t", "/al%69ce/x.git/resolve/m/f", caps,
	                              8, &n),
	             1);
	CHECK_EQ_STR(cap(caps, n, "ns"), "alice");
	CHECK_EQ_STR(cap(caps, n, "name"), "x.git");
	http_caps_free(caps, n);
	/* A capture that does not decode is an error, not a miss. */
	CHECK_EQ_INT(http_route_match("/:ns/:name", "/a%00/b", caps, 8, &n), HD_EINVAL);
	CHECK_EQ_INT(http_route_match("/:ns/:name", "/a/%ff", caps, 8, &n), HD_EINVAL);
	/* "%2F" inside a capture is data, not a separator. */
	CHECK_EQ_INT(http_route_match("/:ns/:name", "/a%2Fb/c", caps, 8, &n), 1);
	CHECK_EQ_STR(cap(caps, n, "ns"), "a/b");
	http_caps_free(caps, n);
	/* Not rooted. */
	CHECK_EQ_INT(http_route_match("/a", "a", caps, 8, &n), 0);
}

static void test_range(void)
{
	uint64_t s, l;
	CHECK_EQ_INT(http_range_parse(NULL, 10, &s, &l), HTTP_RANGE_NONE);
	CHECK(s == 0 && l == 10);
	CHECK_EQ_INT(http_range_parse("bytes=0-0", 17, &s, &l), HTTP_RANGE_OK);
	CHECK(s == 0 && l == 1);
	CHECK_EQ_INT(http_range_parse("bytes=10-19", 100, &s, &l), HTTP_RANGE_OK);
	CHECK(s == 10 && l == 10);
	CHECK_EQ_INT(http_range_parse("bytes=10-", 100, &s, &l), HTTP_RANGE_OK);
	CHECK(s == 10 && l == 90);
	CHECK_EQ_INT(http_range_parse("bytes=90-500", 100, &s, &l), HTTP_RANGE_OK);
	CHECK(s == 90 && l == 10);
	CHECK_EQ_INT(http_range_parse("bytes=-5", 100, &s, &l), HTTP_RANGE_OK);
	CHECK(s == 95 && l == 5);
	CHECK_EQ_INT(http_range_parse("bytes=-500", 100, &s, &l), HTTP_RANGE_OK);
	CHECK(s == 0 && l == 100);
	CHECK_EQ_INT(http_range_parse(" Bytes = 1 - 2 ", 100, &s, &l), HTTP_RANGE_OK);
	CHECK(s == 1 && l == 2);
	/* Unsatisfiable: start at or past the end, empty suffix. */
	CHECK_EQ_INT(http_range_parse("bytes=100-", 100, &s, &l), HTTP_RANGE_UNSATISFIABLE);
	CHECK_EQ_INT(http_range_parse("bytes=999999999-", 100, &s, &l), HTTP_RANGE_UNSATISFIABLE);
	CHECK_EQ_INT(http_range_parse("bytes=-0", 100, &s, &l), HTTP_RANGE_UNSATISFIABLE);
	CHECK_EQ_INT(http_range_parse("bytes=0-0", 0, &s, &l), HTTP_RANGE_UNSATISFIABLE);
	/* 2^64 and beyond saturate instead of wrapping. */
	CHECK_EQ_INT(http_range_parse("bytes=18446744073709551616-", 100, &s, &l),
	             HTTP_RANGE_UNSATISFIABLE);
	CHECK_EQ_INT(http_range_parse("bytes=0-99999999999999999999999", 100, &s, &l),
	             HTTP_RANGE_OK);
	CHECK(s == 0 && l == 100);
	CHECK_EQ_INT(http_range_parse("bytes=-99999999999999999999999", 100, &s, &l),
	             HTTP_RANGE_OK);
	CHECK(s == 0 && l == 100);
	/* Ignored: several ranges, other units, syntax errors, reversed. */
	CHECK_EQ_INT(http_range_parse("bytes=0-1,5-6", 100, &s, &l), HTTP_RANGE_NONE);
	CHECK_EQ_INT(http_range_parse("bytes=0-,0-,0-,0-", 100, &s, &l), HTTP_RANGE_NONE);
	CHECK_EQ_INT(http_range_parse("items=0-1", 100, &s, &l), HTTP_RANGE_NONE);
	CHECK_EQ_INT(http_range_parse("bytes=a-b", 100, &s, &l), HTTP_RANGE_NONE);
	CHECK_EQ_INT(http_range_parse("bytes=5-1", 100, &s, &l), HTTP_RANGE_NONE);
	CHECK_EQ_INT(http_range_parse("bytes=-", 100, &s, &l), HTTP_RANGE_NONE);
	CHECK_EQ_INT(http_range_parse("bytes=1-2x", 100, &s, &l), HTTP_RANGE_NONE);
	CHECK_EQ_INT(http_range_parse("bytes", 100, &s, &l), HTTP_RANGE_NONE);
	CHECK(s == 0 && l == 100);
}

static void test_header_sanitize(void)
{
	char *s = http_header_sanitize("ok\r\nSet-Cookie: x\x01\xc3\xa9", 100);
	CHECK_EQ_STR(s, "ok??Set-Cookie: x???");
	free(s);
	s = http_header_sanitize("abcdef", 3);
	CHECK_EQ_STR(s, "abc");
	free(s);
}

int main(void)
{
	RUN(test_pct_decode);
	RUN(test_path_segments);
	RUN(test_pct_encode);
	RUN(test_route_match);
	RUN(test_range);
	RUN(test_header_sanitize);
	return test_summary();
}

/*
 * fuzz_http.c: the HTTP layer's parsers of request bytes: percent-decoding
 * (paths and query strings), path segments, route matching against patterns
 * of the shapes the API uses, and the Range header. The first byte picks the parser.
 * Everything must end in a result or a clean error, with no crash or leak;
 * decoded text is always valid UTF-8 without NUL.
 */
#include "core/core.h"
#include "http/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *dec;
	uint8_t which;

	if (size < 1)
		return 0;
	which = data[0] % 4;
	s = xstrndup((const char *)data + 1, size - 1); /* stops at a NUL, like a C-string path */
	switch (which) {
	case 0:
		if (http_pct_decode(s, strlen(s), data[0] & 4, &dec) == 0) {
			if (!utf8_valid(dec, strlen(dec)))
				abort();
			free(dec);
		}
		break;
	case 1: {
		char **segs;
		size_t n;
		if (http_path_segments(s, &segs, &n) == 0) {
			if (n == 0)
				abort();
			free(segs);
		}
		break;
	}
	case 2: {
		static const char *const patterns[] = {
		        "/api/whoami-v2",
		        "/api/:T=models|datasets|spaces",
		        "/api/:T=models|datasets|spaces/:ns/:name",
		        "/api/:T=models|datasets|spaces/:ns/:name/tree/*tail",
		        "/api/lfs/part/:uid/:oid/:size/:chunk/:part",
		        "/datasets/:ns/:name/resolve/*tail",
		        "/:ns/:name/info/lfs/locks/*rest",
		        "/:ns/:name/git-upload-pack",
		};
		size_t n_caps;
		struct http_cap caps[8];
		for (size_t i = 0; i < ARRAY_SIZE(patterns); i++) {
			int m = http_route_match(patterns[i], s, caps, 8, &n_caps);
			if (m == 1) {
				for (size_t k = 0; k < n_caps; k++)
					if (!caps[k].value)
						abort();
				http_caps_free(caps, n_caps);
			} else if (n_caps) {
				abort();
			}
		}
		break;
	}
	default: {
		uint64_t start, len, sz = (uint64_t)(data[0] >> 2) * 1000003u;
		enum http_range_result r = http_range_parse(s, sz, &start, &len);
		if (r == HTTP_RANGE_OK && (len == 0 || start >= sz || len > sz - start))
			abort();
		break;
	}
	}
	free(s);
	return 0;
}

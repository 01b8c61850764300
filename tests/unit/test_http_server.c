/*
 * test_http_server.c: the real HTTP server (libmicrohttpd) on a free port,
 * with test routes, driven by libcurl: routing and errors, query parsing,
 * buffered and streamed bodies and their caps, early rejection, file and
 * streamed responses, HEAD, request ids and deferred cleanups.
 */
#include "core/core.h"
#include "http/http.h"
#include "test.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int port;
static int cleanups_completed, cleanups_aborted;

/* ---- routes under test ------------------------------------------------------ */

static void h_hello(struct http_req *req)
{
	const char *vals[8];
	size_t n = http_req_query_all(req, "f", vals, 8);
	json_t *fs = json_array();
	for (size_t i = 0; i < n && i < 8; i++)
		json_array_append_new(fs, json_string(vals[i]));
	http_resp_header(req, "X-Evil", "a\r\nSet-Cookie: x=1");
	http_respond_json(
	        req, 200,
	        json_pack("{s:s,s:s,s:o,s:b,s:s}", "ns", http_req_param(req, "ns"), "rest",
	                  http_req_param(req, "rest"), "f", fs, "flag",
	                  http_req_query_bool(req, "flag"), "q",
	                  http_req_query(req, "q") ? http_req_query(req, "q") : "(none)"));
}

static void h_echo(struct http_req *req)
{
	size_t n;
	const char *b = http_req_body(req, &n);
	http_respond(req, 200, "application/octet-stream", b, n);
}

struct sink {
	uint64_t n;
	unsigned sum;
};

static void on_cleanup(void *arg, int completed)
{
	(void)arg;
	/* Runs on the server's thread, after the response went out. */
	if (completed)
		__atomic_fetch_add(&cleanups_completed, 1, __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_add(&cleanups_aborted, 1, __ATOMIC_SEQ_CST);
}

static int s_begin(struct http_req *req)
{
	struct sink *s;
	if (http_req_query(req, "reject")) {
		http_respond_error(req, 403, "Nope", "rejected before the body");
		return -1;
	}
	s = http_req_alloc(req, sizeof(*s));
	http_req_set_ctx(req, s);
	http_req_defer(req, on_cleanup, s);
	return 0;
}

static int s_body(struct http_req *req, const void *data, size_t n)
{
	struct sink *s = http_req_ctx(req);
	const unsigned char *p = data;
	if (!s)
		return -1;
	for (size_t i = 0; i < n; i++)
		s->sum += p[i];
	s->n += n;
	return 0;
}

static void s_end(struct http_req *req)
{
	struct sink *s = http_req_ctx(req);
	http_respond_json(req, 200,
	                  json_pack("{s:I,s:I}", "n", (json_int_t)s->n, "sum", (json_int_t)s->sum));
}

static char file_path[64];

static void h_file(struct http_req *req)
{
	int fd = open(file_path, O_RDONLY);
	uint64_t start, len;
	enum http_range_result r =
	        http_range_parse(http_req_header(req, "Range"), 10, &start, &len);
	if (r == HTTP_RANGE_OK) {
		http_resp_headerf(req, "Content-Range", "bytes %llu-%llu/10",
		                  (unsigned long long)start, (unsigned long long)(start + len - 1));
		http_respond_fd(req, 206, "text/plain", fd, start, len);
	} else {
		http_respond_fd(req, 200, "text/plain", fd, 0, 10);
	}
}

struct gen {
	int left;
};

static long gen_read(void *ctx, char *buf, size_t max)
{
	struct gen *g = ctx;
	if (g->left == 0)
		return 0;
	if (max < 6)
		return -1;
	memcpy(buf, "chunk\n", 6);
	g->left--;
	return 6;
}

static void gen_done(void *ctx)
{
	free(ctx);
}

static void h_stream(struct http_req *req)
{
	struct gen *g = xmalloc(sizeof(*g));
	g->left = 3;
	http_respond_stream(req, 200, "text/plain", HTTP_SIZE_UNKNOWN, gen_read, gen_done, g);
}

/* A stream that never has data: it only watches for the client leaving. */
static int gone_seen, gone_done;

static long wait_read(void *ctx, char *buf, size_t max)
{
	struct http_req *req = ctx;
	(void)buf;
	(void)max;
	for (int i = 0; i < 500; i++) {
		if (http_req_client_gone(req)) {
			__atomic_store_n(&gone_seen, 1, __ATOMIC_SEQ_CST);
			return -1;
		}
		usleep(10000);
	}
	return 0;
}

static void wait_done(void *ctx)
{
	(void)ctx;
	__atomic_store_n(&gone_done, 1, __ATOMIC_SEQ_CST);
}

static void h_wait(struct http_req *req)
{
	http_respond_stream(req, 200, "text/event-stream", HTTP_SIZE_UNKNOWN, wait_read, wait_done,
	                    req);
}

static void h_noresponse(struct http_req *req)
{
	(void)req;
}

static const struct http_route routes[] = {
        {HTTP_GET, "/hello/:ns/*rest", h_hello, NULL, NULL, 0, NULL},
        {HTTP_POST | HTTP_PUT, "/echo", h_echo, NULL, NULL, 1000, NULL},
        {HTTP_PUT, "/sink", s_end, s_begin, s_body, 0, NULL},
        {HTTP_GET | HTTP_HEAD, "/file", h_file, NULL, NULL, 0, NULL},
        {HTTP_GET, "/stream", h_stream, NULL, NULL, 0, NULL},
        {HTTP_GET, "/nothing", h_noresponse, NULL, NULL, 0, NULL},
        {HTTP_GET, "/wait", h_wait, NULL, NULL, 0, NULL},
};

/* ---- a small libcurl client -------------------------------------------------- */

struct resp {
	long status;
	struct buf body;
	struct buf headers;
};

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
	buf_append(arg, p, sz * n);
	return sz * n;
}

/* method NULL = GET; body NULL = none; chunked: send with Transfer-Encoding. */
static int request(const char *method, const char *path, const char *body, size_t body_len,
                   int chunked, const char *extra_header, struct resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[512];
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	buf_init(&r->body);
	buf_init(&r->headers);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (!extra_header || strncasecmp(extra_header, "Expect:", 7))
		h = curl_slist_append(h, "Expect:");
	if (extra_header)
		h = curl_slist_append(h, extra_header);
	if (chunked)
		h = curl_slist_append(h, "Transfer-Encoding: chunked");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (method && !strcmp(method, "HEAD"))
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (method)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (!r->body.data)
		buf_puts(&r->body, "");
	if (!r->headers.data)
		buf_puts(&r->headers, "");
	return rc == CURLE_OK ? 0 : -1;
}

static void resp_release(struct resp *r)
{
	buf_release(&r->body);
	buf_release(&r->headers);
}

static int has_header(const struct resp *r, const char *line)
{
	return strcasestr(r->headers.data, line) != NULL;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_routing(void)
{
	struct resp r;
	CHECK_EQ_INT(request(NULL, "/hello/al%69ce/a%2Fb/c?f=1&f=two+2&flag&q=%C3%A9", NULL, 0, 0,
	                     NULL, &r),
	             0);
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.body.data, "\"ns\":\"alice\""));
	CHECK(strstr(r.body.data, "\"rest\":\"a%2Fb/c\""));
	CHECK(strstr(r.body.data, "\"f\":[\"1\",\"two 2\"]"));
	CHECK(strstr(r.body.data, "\"flag\":true"));
	CHECK(strstr(r.body.data, "\"q\":\"\xc3\xa9\""));
	CHECK(has_header(&r, "X-Request-Id: "));
	CHECK(has_header(&r, "Content-Type: application/json"));
	/* Header values cannot inject new headers. */
	CHECK(has_header(&r, "X-Evil: a??Set-Cookie: x=1"));
	CHECK(!has_header(&r, "\nSet-Cookie"));
	resp_release(&r);

	CHECK_EQ_INT(request(NULL, "/nope", NULL, 0, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 404);
	CHECK(strstr(r.body.data, "\"error\""));
	CHECK(has_header(&r, "X-Error-Message: Not Found"));
	resp_release(&r);

	CHECK_EQ_INT(request("DELETE", "/hello/a/b", NULL, 0, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 405);
	resp_release(&r);

	CHECK_EQ_INT(request(NULL, "/hello/a%zz/b", NULL, 0, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 400);
	resp_release(&r);
	CHECK_EQ_INT(request(NULL, "/hello/a%00/b", NULL, 0, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 400);
	resp_release(&r);
	CHECK_EQ_INT(request(NULL, "/hello/a/b?q=%ff", NULL, 0, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 400);
	resp_release(&r);

	CHECK_EQ_INT(request(NULL, "/nothing", NULL, 0, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 500);
	resp_release(&r);
}

static void test_bodies(void)
{
	struct resp r;
	char *big = xmalloc(5000);
	memset(big, 'x', 5000);

	CHECK_EQ_INT(request("POST", "/echo", "hello", 5, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body.data, "hello");
	resp_release(&r);
	CHECK_EQ_INT(request("POST", "/echo", "chunky", 6, 1, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body.data, "chunky");
	resp_release(&r);
	/* Over the route's cap (1000): 413 with the error shape, announced
	 * by Content-Length or found while reading a chunked body. */
	CHECK_EQ_INT(request("POST", "/echo", big, 5000, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 413);
	CHECK(strstr(r.body.data, "\"error\""));
	resp_release(&r);
	CHECK_EQ_INT(request("PUT", "/echo", big, 5000, 1, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 413);
	resp_release(&r);
	/* A client waiting for "100 Continue" gets the 413 at once. */
	CHECK_EQ_INT(request("POST", "/echo", big, 5000, 0, "Expect: 100-continue", &r), 0);
	CHECK_EQ_INT(r.status, 413);
	resp_release(&r);
	/* Transfer codings other than plain chunked are refused (SECURITY H1). */
	CHECK_EQ_INT(request("POST", "/echo", "abc", 3, 0, "Transfer-Encoding: gzip", &r), 0);
	CHECK_EQ_INT(r.status, 400);
	resp_release(&r);
	/* The connection pool still works afterwards. */
	CHECK_EQ_INT(request("POST", "/echo", "ok", 2, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	resp_release(&r);
	free(big);
}

static void test_streamed_body(void)
{
	struct resp r;
	size_t n = 3 << 20;
	char *big = xmalloc(n);
	unsigned sum = 0;
	char expect[128];
	int before = __atomic_load_n(&cleanups_completed, __ATOMIC_SEQ_CST);

	for (size_t i = 0; i < n; i++) {
		big[i] = (char)(i * 7);
		sum += (unsigned char)big[i];
	}
	snprintf(expect, sizeof(expect), "{\"n\":%zu,\"sum\":%u}", n, sum);
	CHECK_EQ_INT(request("PUT", "/sink", big, n, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body.data, expect);
	resp_release(&r);
	CHECK_EQ_INT(request("PUT", "/sink", big, n, 1, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body.data, expect);
	resp_release(&r);
	/* The cleanups run just after the responses are sent: wait a little. */
	for (int i = 0;
	     i < 200 && __atomic_load_n(&cleanups_completed, __ATOMIC_SEQ_CST) < before + 2; i++)
		usleep(10000);
	CHECK_EQ_INT(__atomic_load_n(&cleanups_completed, __ATOMIC_SEQ_CST), before + 2);
	/* Rejected in begin: the body is drained, the client reads the 403. */
	CHECK_EQ_INT(request("PUT", "/sink?reject=1", big, n, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 403);
	CHECK(has_header(&r, "X-Error-Code: Nope"));
	CHECK(strstr(r.body.data, "rejected before the body"));
	resp_release(&r);
	free(big);
}

/* Sends raw request bytes on a fresh connection; returns the status of the
 * first response line (0 when none came). */
static int raw_status(const char *req, size_t n)
{
	struct sockaddr_in sa;
	struct timeval tv = {5, 0};
	char resp[256];
	size_t got = 0;
	int status = 0, fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, req, n) == (ssize_t)n) {
		ssize_t k;
		while (got < sizeof(resp) - 1 &&
		       (k = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
			got += (size_t)k;
	}
	close(fd);
	resp[got] = 0;
	if (sscanf(resp, "HTTP/1.1 %d", &status) != 1)
		status = 0;
	return status;
}

#define RAW(s) raw_status(s, sizeof(s) - 1)

/* Framing a smuggling attack relies on is refused (SECURITY H1, H2). */
static void test_framing(void)
{
	/* The control: a plain request works. */
	CHECK_EQ_INT(RAW("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
	                 "Connection: close\r\n\r\nok"),
	             200);
	CHECK_EQ_INT(RAW("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
	                 "Connection: close\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
	             200);
	/* Content-Length with Transfer-Encoding, in either order. */
	CHECK_EQ_INT(RAW("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
	                 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"),
	             400);
	CHECK_EQ_INT(RAW("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
	                 "Content-Length: 5\r\nConnection: close\r\n\r\n0\r\n\r\n"),
	             400);
	/* Two Content-Lengths, equal or not; two Transfer-Encodings. */
	CHECK_EQ_INT(RAW("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
	                 "Content-Length: 3\r\nConnection: close\r\n\r\nabc"),
	             400);
	CHECK_EQ_INT(RAW("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
	                 "Content-Length: 2\r\nConnection: close\r\n\r\nab"),
	             400);
	CHECK_EQ_INT(RAW("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
	                 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n"),
	             400);
	/* Obfuscated codings. */
	CHECK_EQ_INT(RAW("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, "
	                 "identity\r\nConnection: close\r\n\r\n0\r\n\r\n"),
	             400);
	/* Whitespace before the colon; a name that is not a token; a bare CR or
	 * another control character in a value. */
	CHECK_EQ_INT(RAW("GET /hello/a/b HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n"
	                 "Connection: close\r\n\r\n"),
	             400);
	CHECK_EQ_INT(RAW("GET /hello/a/b HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n"
	                 "Connection: close\r\n\r\n"),
	             400);
	CHECK_EQ_INT(RAW("GET /hello/a/b HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n"
	                 "Connection: close\r\n\r\n"),
	             400);
	CHECK_EQ_INT(RAW("GET /hello/a/b HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n"
	                 "Connection: close\r\n\r\n"),
	             400);
	/* NUL in a name: libmicrohttpd's own 400. */
	CHECK_EQ_INT(RAW("GET /hello/a/b HTTP/1.1\r\nHost: x\r\nX-\0A: 1\r\n"
	                 "Connection: close\r\n\r\n"),
	             400);
	/* A tab and non-ASCII bytes in a value are fine. */
	CHECK_EQ_INT(RAW("GET /hello/a/b HTTP/1.1\r\nHost: x\r\nX-A: a\tb \xc3\xa9\r\n"
	                 "Connection: close\r\n\r\n"),
	             200);
}

static void test_file_and_stream(void)
{
	struct resp r;
	CHECK_EQ_INT(request(NULL, "/file", NULL, 0, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body.data, "0123456789");
	resp_release(&r);
	CHECK_EQ_INT(request(NULL, "/file", NULL, 0, 0, "Range: bytes=3-5", &r), 0);
	CHECK_EQ_INT(r.status, 206);
	CHECK_EQ_STR(r.body.data, "345");
	CHECK(has_header(&r, "Content-Range: bytes 3-5/10"));
	resp_release(&r);
	/* HEAD: the same headers, Content-Length of the body, no body. */
	CHECK_EQ_INT(request("HEAD", "/file", NULL, 0, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK(has_header(&r, "Content-Length: 10"));
	CHECK_EQ_INT(r.body.len, 0);
	resp_release(&r);
	CHECK_EQ_INT(request(NULL, "/stream", NULL, 0, 0, NULL, &r), 0);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(r.body.data, "chunk\nchunk\nchunk\n");
	CHECK(has_header(&r, "Transfer-Encoding: chunked"));
	resp_release(&r);
}

/* A client that leaves in the middle of a stream is noticed at once, not
 * when the stream next has data. */
static void test_client_gone(void)
{
	CURL *c = curl_easy_init();
	char url[128];
	double t0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/wait", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 300L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	{
		struct buf sink = BUF_INIT;
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
		CHECK(curl_easy_perform(c) == CURLE_OPERATION_TIMEDOUT);
		buf_release(&sink);
	}
	curl_easy_cleanup(c);
	t0 = time_mono_s();
	while (!__atomic_load_n(&gone_done, __ATOMIC_SEQ_CST) && time_mono_s() - t0 < 3)
		usleep(10000);
	CHECK(__atomic_load_n(&gone_seen, __ATOMIC_SEQ_CST));
	CHECK(__atomic_load_n(&gone_done, __ATOMIC_SEQ_CST));
	CHECK(time_mono_s() - t0 < 1.0);
}

int main(void)
{
	struct http_server_opts opts;
	struct http_server *s;
	char err[256];
	int fd;

	log_min_level = LOG_WARN;
	snprintf(file_path, sizeof(file_path), "/tmp/test_http_server.%d", (int)getpid());
	fd = open(file_path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0 || write(fd, "0123456789", 10) != 10)
		return 1;
	close(fd);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	http_server_opts_init(&opts);
	opts.port = 0;
	opts.access_log = 0;
	s = http_server_new(&opts);
	http_server_add_routes(s, routes, ARRAY_SIZE(routes));
	if (http_server_start(s, err, sizeof(err)) < 0) {
		fprintf(stderr, "cannot start: %s\n", err);
		return 1;
	}
	port = http_server_port(s);
	CHECK(port > 0);
	RUN(test_routing);
	RUN(test_bodies);
	RUN(test_framing);
	RUN(test_streamed_body);
	RUN(test_file_and_stream);
	RUN(test_client_gone);
	http_server_free(s);
	curl_global_cleanup();
	unlink(file_path);
	CHECK_EQ_INT(__atomic_load_n(&cleanups_aborted, __ATOMIC_SEQ_CST), 0);
	return test_summary();
}

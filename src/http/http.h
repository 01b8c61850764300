/*
 * http: the HTTP server. The only module that knows libmicrohttpd; everything
 * above it (api handlers, the inference service, the web UI) sees requests and
 * responses through this header.
 *
 * Model: one thread per connection (blocking handlers are fine). A request is
 * routed on its raw path as soon as its headers are in; the route says how the
 * body is taken:
 *   - buffered (default): up to the route's cap (or the server's --max-body),
 *     larger bodies get 413 with the JSON error shape;
 *   - streamed: route.body is called with each chunk as it arrives (LFS
 *     uploads, git pushes), so nothing large is held in memory.
 * route.begin, when set, runs after the headers and before any body byte: it
 * may reject early (respond), and the body is then drained (up to a cap) and
 * thrown away before the response goes out, so clients always read it.
 * route.handle runs once the whole body is in and must respond.
 *
 * Memory that lives as long as the request comes from http_req_alloc and
 * friends and is freed in one go when the request ends; resources such as
 * file descriptors or upload writers register a cleanup with http_req_defer.
 */
#ifndef HD_HTTP_H
#define HD_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct http_server;
struct http_req;

enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_HEAD = 1 << 1,
	HTTP_POST = 1 << 2,
	HTTP_PUT = 1 << 3,
	HTTP_DELETE = 1 << 4,
	HTTP_PATCH = 1 << 5,
	HTTP_OPTIONS = 1 << 6,
};

typedef void (*http_handler_fn)(struct http_req *req);
/* Returns 0 to go on. To stop, respond (http_respond_*) and return < 0. */
typedef int (*http_begin_fn)(struct http_req *req);
/* One chunk of a streamed body. Returns 0 to go on; < 0 stops taking the
 * body: respond first, or the connection is closed without a response. */
typedef int (*http_body_fn)(struct http_req *req, const void *data, size_t n);

/*
 * A route. pattern is a path of segments separated by '/':
 *   literal       must equal the raw segment;
 *   :name         captures one segment, percent-decoded (http_req_param);
 *   :name=a|b|c   captures one segment that must be one of the literals;
 *   *name         (last only) captures the rest of the raw path, still
 *                 percent-encoded, possibly empty (http_req_param gives it raw;
 *                 split it with http_path_segments).
 * Routes are tried in order; the first whose pattern and method match wins.
 */
struct http_route {
	unsigned methods; /* enum http_method bits */
	const char *pattern;
	http_handler_fn handle;
	http_begin_fn begin; /* optional */
	http_body_fn body; /* optional: streams the body instead of buffering it */
	size_t max_body; /* buffered: a lower cap than the server's max_body; 0 = none */
	const void *data; /* route-specific constant, http_req_route_data */
};

/* ---- the server ------------------------------------------------------ */

struct http_server_opts {
	const char *host; /* address to bind, default "127.0.0.1" */
	int port; /* 0 picks a free port */
	size_t max_body; /* default cap for buffered bodies (bytes) */
	unsigned conn_limit; /* simultaneous connections (threads) */
	unsigned per_ip_limit; /* simultaneous connections from one address, 0 = none */
	unsigned timeout_s; /* idle connection timeout */
	size_t conn_memory; /* per-connection buffer: bounds the request head */
	int access_log; /* 1: one log line per request */
	void *app; /* handed to handlers through http_req_app */
};

/* Fills opts with the defaults above. */
void http_server_opts_init(struct http_server_opts *opts);

/* Adds a table of routes to the server (before http_server_start). The table
 * is borrowed and must outlive the server. */
struct http_server *http_server_new(const struct http_server_opts *opts);
void http_server_add_routes(struct http_server *s, const struct http_route *routes, size_t n);
/* Binds and starts accepting. 0, or a negative error with a message in err. */
int http_server_start(struct http_server *s, char *err, size_t err_size);
/* The bound port (the real one when the port was 0). */
int http_server_port(const struct http_server *s);
/* Stops accepting, closes every connection (in-flight requests are aborted:
 * their cleanups run with completed = 0) and frees the server. NULL is fine. */
void http_server_free(struct http_server *s);

/* ---- requests ----------------------------------------------------------- */

enum http_method http_req_method(const struct http_req *req);
const char *http_req_method_name(const struct http_req *req); /* "GET" */
const char *http_req_path(const struct http_req *req); /* raw path, no query */
const char *http_req_query_string(const struct http_req *req); /* raw, "" if none */
const char *http_req_id(const struct http_req *req); /* also sent as X-Request-Id */
const char *http_req_remote_addr(const struct http_req *req);
void *http_req_app(const struct http_req *req);
const void *http_req_route_data(const struct http_req *req);

/* A captured route parameter (see struct http_route), or NULL. */
const char *http_req_param(const struct http_req *req, const char *name);
/* A request header (case-insensitive name), or NULL. */
const char *http_req_header(const struct http_req *req, const char *name);
/* First decoded value of a query parameter ("" for `?x`), or NULL. */
const char *http_req_query(const struct http_req *req, const char *name);
/* Every decoded value of a query parameter, in order; returns the count and
 * stores at most max pointers in out. */
size_t http_req_query_all(const struct http_req *req, const char *name, const char **out,
                          size_t max);
/* 1 if the query parameter is "true" or "1" (also bare `?x`), else 0. */
int http_req_query_bool(const struct http_req *req, const char *name);
/* The buffered body (NUL-terminated; empty when there is none). */
const char *http_req_body(const struct http_req *req, size_t *len);
/* Bytes of body received so far (streamed or buffered). */
uint64_t http_req_body_received(const struct http_req *req);

/* Handler state carried from begin through body to handle. */
void http_req_set_ctx(struct http_req *req, void *ctx);
void *http_req_ctx(const struct http_req *req);

/* Request-scoped memory, freed when the request ends. */
void *http_req_alloc(struct http_req *req, size_t n); /* zeroed */
char *http_req_strdup(struct http_req *req, const char *s);
char *http_req_printf(struct http_req *req, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Runs fn(arg, completed) when the request ends, last registered first.
 * completed is 1 when the response was sent in full, 0 when the request was
 * aborted (client gone, server shutting down, timeout). */
void http_req_defer(struct http_req *req, void (*fn)(void *arg, int completed), void *arg);

/* ---- responses ------------------------------------------------------------
 * Each request gets exactly one response; a second one is ignored (and
 * logged). Headers added with http_resp_header go out with it. HEAD requests
 * get the same headers (Content-Length included) and no body.
 */
void http_resp_header(struct http_req *req, const char *name, const char *value);
void http_resp_headerf(struct http_req *req, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int http_responded(const struct http_req *req);

/* Copies data. content_type may be NULL. */
void http_respond(struct http_req *req, int status, const char *content_type, const void *data,
                  size_t len);
/* Serializes j (compact) as application/json and drops the reference. */
void http_respond_json(struct http_req *req, int status, json_t *j);
/* {"error": message} plus X-Error-Message (and X-Error-Code when code is not
 * NULL: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo...). */
void http_respond_error(struct http_req *req, int status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Sends len bytes of fd from offset off (sendfile where possible). Takes fd
 * (closed when the request ends, also on failure). */
void http_respond_fd(struct http_req *req, int status, const char *content_type, int fd,
                     uint64_t off, uint64_t len);

/* A response produced while it is sent (CGI output, server-sent events).
 * read fills up to max bytes and returns how many (> 0), 0 at the end, or < 0
 * on error (the connection is cut). It may block until it has data. done
 * runs once when the response ends, sent or not (cancel work there). size is
 * HTTP_SIZE_UNKNOWN for a chunked response. */
#define HTTP_SIZE_UNKNOWN UINT64_MAX
typedef long (*http_read_fn)(void *ctx, char *buf, size_t max);
void http_respond_stream(struct http_req *req, int status, const char *content_type, uint64_t size,
                         http_read_fn read, void (*done)(void *ctx), void *ctx);

/* 1 if the client has closed its side of the connection (checked without
 * blocking). A streamed response that waits a long time for data (SSE token
 * streams) calls this from its read function every so often, to stop work
 * for a client that went away. req stays valid while read may be called;
 * done must not use it. */
int http_req_client_gone(struct http_req *req);

/* ---- pure helpers (no server needed; unit-tested and fuzzed) -------------- */

/* Percent-decodes s[0..n) into a new NUL-terminated string (*out, caller
 * frees). plus_space: '+' means ' ' (query strings). Fails with HD_EINVAL on a
 * bad escape, a NUL byte or invalid UTF-8. */
int http_pct_decode(const char *s, size_t n, int plus_space, char **out);

/* Splits a raw path tail ("a/b%2Fc/d") into decoded segments; *segs is one
 * allocation (free it), *n_segs the count. Empty segments are kept. Fails
 * like http_pct_decode. */
int http_path_segments(const char *raw, char ***segs, size_t *n_segs);

/* Percent-encodes s for use as one path segment (RFC 3986 unreserved kept),
 * or with keep_slash, as a path (slashes kept). Appends to b. */
struct buf;
void http_pct_encode(struct buf *b, const char *s, int keep_slash);

/* Matches path (raw, no query) against a route pattern. On a match returns 1
 * and fills up to max_caps name/value pairs (values allocated, free with
 * http_caps_free); 0 on no match; HD_EINVAL when a captured segment does not
 * decode (bad escape, NUL, invalid UTF-8). */
struct http_cap {
	const char *name; /* points into the pattern; not NUL-terminated */
	size_t name_len;
	char *value;
};
int http_route_match(const char *pattern, const char *path, struct http_cap *caps, size_t max_caps,
                     size_t *n_caps);
void http_caps_free(struct http_cap *caps, size_t n);

/* Range header (RFC 9110 14.2) against a representation of size bytes.
 * Only a single range is honoured; several ranges, other units and syntax
 * errors are ignored (HTTP_RANGE_NONE: send everything). */
enum http_range_result {
	HTTP_RANGE_NONE = 0, /* no usable Range: 200 with the whole body */
	HTTP_RANGE_OK = 1, /* 206: [*start, *start + *len) */
	HTTP_RANGE_UNSATISFIABLE = 2, /* 416 with Content-Range: bytes * /size */
};
enum http_range_result http_range_parse(const char *header, uint64_t size, uint64_t *start,
                                        uint64_t *len);

/* Makes value safe for a header: printable ASCII kept, everything else
 * (CR, LF, control and non-ASCII bytes) replaced by '?', at most max bytes.
 * Returns a new string (caller frees). */
char *http_header_sanitize(const char *value, size_t max);

#endif

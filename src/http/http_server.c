/*
 * http_server.c: libmicrohttpd glue. Owns the daemon, turns libmicrohttpd's
 * three-phase access callback (headers, body chunks, end) into route.begin /
 * route.body / route.handle, keeps one struct http_req per request with its
 * arena, deferred cleanups and pending response, and writes the access log.
 *
 * libmicrohttpd runs a thread per connection, so handlers may block. The raw
 * request target is taken in the URI callback, before libmicrohttpd parses it;
 * the unescape callback is the identity, so every decoding step happens here
 * (http_util.c) where it is tested.
 */
#include "http/http.h"
#include "core/core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

/* A rejected request's body is read and dropped up to this many bytes so the
 * client sees the response; beyond it the connection is closed. */
#define DRAIN_CAP (64u << 20)
#define MAX_CAPS 8
#define MAX_ROUTE_TABLES 16

struct route_table {
	const struct http_route *routes;
	size_t n;
};

struct http_server {
	struct http_server_opts opts;
	struct route_table tables[MAX_ROUTE_TABLES];
	size_t n_tables;
	struct MHD_Daemon *daemon;
	int port;
};

struct arena_blk {
	struct arena_blk *next;
	max_align_t data[];
};

struct defer {
	struct defer *next;
	void (*fn)(void *arg, int completed);
	void *arg;
};

struct qparam {
	char *key;
	char *val;
};

struct hdr {
	char *name;
	char *value;
};

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	char *target; /* the raw request target, as received */
	char *path; /* raw path (target up to '?') */
	const char *query; /* raw query, "" if none */
	struct qparam *qv;
	size_t n_q;
	char method_name[16];
	enum http_method method;
	char id[17];
	char addr[64];
	double t0;

	int started; /* the access handler ran once (headers in) */
	int close; /* answer at once and close: the body cannot be trusted */
	const struct http_route *route;
	struct http_cap caps[MAX_CAPS];
	size_t n_caps;
	size_t body_cap;
	struct buf body;
	uint64_t received;
	void *ctx;

	struct MHD_Response *resp; /* pending, queued at the end of the body */
	int status;
	uint64_t resp_size;
	struct hdr *hdrs;
	size_t n_hdrs;

	struct arena_blk *arena;
	struct defer *defers;
};

/* ---- options --------------------------------------------------------- */

void http_server_opts_init(struct http_server_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = 8080;
	o->max_body = 64u << 20;
	o->conn_limit = 512;
	o->per_ip_limit = 0;
	o->timeout_s = 60;
	o->conn_memory = 128u << 10;
	o->access_log = 1;
}

/* ---- request memory ---------------------------------------------------- */

void *http_req_alloc(struct http_req *req, size_t n)
{
	struct arena_blk *b;
	if (n > SIZE_MAX - sizeof(*b))
		abort();
	b = xcalloc(1, sizeof(*b) + n);
	b->next = req->arena;
	req->arena = b;
	return b->data;
}

char *http_req_strdup(struct http_req *req, const char *s)
{
	size_t n = strlen(s);
	char *o = http_req_alloc(req, n + 1);
	memcpy(o, s, n);
	return o;
}

char *http_req_printf(struct http_req *req, const char *fmt, ...)
{
	va_list ap;
	char *tmp, *o;
	int n;
	va_start(ap, fmt);
	n = vasprintf(&tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	o = http_req_strdup(req, tmp);
	free(tmp);
	return o;
}

void http_req_defer(struct http_req *req, void (*fn)(void *arg, int completed), void *arg)
{
	struct defer *d = xmalloc(sizeof(*d));
	d->fn = fn;
	d->arg = arg;
	d->next = req->defers;
	req->defers = d;
}

/* ---- accessors ---------------------------------------------------------- */

enum http_method http_req_method(const struct http_req *req)
{
	return req->method;
}

const char *http_req_method_name(const struct http_req *req)
{
	return req->method_name;
}

const char *http_req_path(const struct http_req *req)
{
	return req->path;
}

const char *http_req_query_string(const struct http_req *req)
{
	return req->query;
}

const char *http_req_id(const struct http_req *req)
{
	return req->id;
}

const char *http_req_remote_addr(const struct http_req *req)
{
	return req->addr;
}

void *http_req_app(const struct http_req *req)
{
	return req->srv->opts.app;
}

const void *http_req_route_data(const struct http_req *req)
{
	return req->route ? req->route->data : NULL;
}

const char *http_req_param(const struct http_req *req, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < req->n_caps; i++)
		if (req->caps[i].name_len == n && !memcmp(req->caps[i].name, name, n))
			return req->caps[i].value;
	return NULL;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
	if (!req->conn)
		return NULL;
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(const struct http_req *req, const char *name)
{
	for (size_t i = 0; i < req->n_q; i++)
		if (!strcmp(req->qv[i].key, name))
			return req->qv[i].val;
	return NULL;
}

size_t http_req_query_all(const struct http_req *req, const char *name, const char **out,
                          size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < req->n_q; i++) {
		if (strcmp(req->qv[i].key, name))
			continue;
		if (n < max)
			out[n] = req->qv[i].val;
		n++;
	}
	return n;
}

int http_req_query_bool(const struct http_req *req, const char *name)
{
	const char *v = http_req_query(req, name);
	return v && (!*v || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "True"));
}

const char *http_req_body(const struct http_req *req, size_t *len)
{
	if (len)
		*len = req->body.len;
	return req->body.data ? req->body.data : "";
}

uint64_t http_req_body_received(const struct http_req *req)
{
	return req->received;
}

void http_req_set_ctx(struct http_req *req, void *ctx)
{
	req->ctx = ctx;
}

void *http_req_ctx(const struct http_req *req)
{
	return req->ctx;
}

/* ---- responses -------------------------------------------------------- */

int http_responded(const struct http_req *req)
{
	return req->resp != NULL;
}

void http_resp_header(struct http_req *req, const char *name, const char *value)
{
	req->hdrs = xrealloc(req->hdrs, (req->n_hdrs + 1) * sizeof(*req->hdrs));
	req->hdrs[req->n_hdrs].name = http_header_sanitize(name, 256);
	req->hdrs[req->n_hdrs].value = http_header_sanitize(value, 8192);
	req->n_hdrs++;
}

void http_resp_headerf(struct http_req *req, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *v;
	int n;
	va_start(ap, fmt);
	n = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	http_resp_header(req, name, v);
	free(v);
}

static int set_response(struct http_req *req, int status, struct MHD_Response *r, uint64_t size,
                        const char *content_type)
{
	if (!r) {
		log_error("http: could not create a response for %s", req->id);
		return -1;
	}
	if (req->resp) {
		log_warn("http: second response for request %s ignored", req->id);
		MHD_destroy_response(r);
		return -1;
	}
	if (content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	req->resp = r;
	req->status = status;
	req->resp_size = size;
	return 0;
}

void http_respond(struct http_req *req, int status, const char *content_type, const void *data,
                  size_t len)
{
	struct MHD_Response *r;
	if (req->resp) {
		log_warn("http: second response for request %s ignored", req->id);
		return;
	}
	r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	set_response(req, status, r, len, content_type);
}

void http_respond_json(struct http_req *req, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	if (!s) {
		static const char oops[] = "{\"error\":\"could not encode the response\"}";
		http_respond(req, 500, "application/json", oops, sizeof(oops) - 1);
		return;
	}
	http_respond(req, status, "application/json", s, strlen(s));
	free(s);
}

void http_respond_error(struct http_req *req, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int n;
	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	if (code)
		http_resp_header(req, "X-Error-Code", code);
	http_resp_header(req, "X-Error-Message", msg);
	http_respond_json(req, status, json_pack("{s:s}", "error", msg));
	free(msg);
}

void http_respond_fd(struct http_req *req, int status, const char *content_type, int fd,
                     uint64_t off, uint64_t len)
{
	struct MHD_Response *r;
	if (req->resp) {
		log_warn("http: second response for request %s ignored", req->id);
		close(fd);
		return;
	}
	r = MHD_create_response_from_fd_at_offset64(len, fd, off);
	if (!r) {
		close(fd);
		http_respond_error(req, 500, NULL, "could not send the file");
		return;
	}
	set_response(req, status, r, len, content_type);
}

struct stream_ctx {
	http_read_fn read;
	void (*done)(void *ctx);
	void *ctx;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_ctx *s = cls;
	long n;
	(void)pos;
	n = s->read(s->ctx, buf, max);
	if (n > 0)
		return n;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
	struct stream_ctx *s = cls;
	if (s->done)
		s->done(s->ctx);
	free(s);
}

void http_respond_stream(struct http_req *req, int status, const char *content_type, uint64_t size,
                         http_read_fn read, void (*done)(void *ctx), void *ctx)
{
	struct stream_ctx *s;
	struct MHD_Response *r;
	if (req->resp) {
		log_warn("http: second response for request %s ignored", req->id);
		if (done)
			done(ctx);
		return;
	}
	s = xmalloc(sizeof(*s));
	s->read = read;
	s->done = done;
	s->ctx = ctx;
	r = MHD_create_response_from_callback(size == HTTP_SIZE_UNKNOWN ? MHD_SIZE_UNKNOWN : size,
	                                      64 * 1024, stream_read, s, stream_free);
	if (!r) {
		stream_free(s);
		http_respond_error(req, 500, NULL, "could not start the response");
		return;
	}
	set_response(req, status, r, size, content_type);
}

int http_req_client_gone(struct http_req *req)
{
	const union MHD_ConnectionInfo *ci;
	struct pollfd p;
	if (!req->conn)
		return 1;
	ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return 0;
	p.fd = ci->connect_fd;
	p.events = POLLRDHUP;
	p.revents = 0;
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* ---- request life cycle --------------------------------------------------- */

static size_t unescape_identity(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_req *req = xcalloc(1, sizeof(*req));
	const union MHD_ConnectionInfo *ci;
	unsigned char rnd[8];

	req->srv = cls;
	req->t0 = time_mono_s();
	req->target = xstrdup(uri ? uri : "");
	rand_bytes(rnd, sizeof(rnd));
	hex_encode(req->id, rnd, sizeof(rnd));
	strcpy(req->addr, "-");
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET,
			          &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			          req->addr, sizeof(req->addr));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
			          &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			          req->addr, sizeof(req->addr));
	}
	return req;
}

static void req_free(struct http_req *req)
{
	while (req->arena) {
		struct arena_blk *b = req->arena;
		req->arena = b->next;
		free(b);
	}
	for (size_t i = 0; i < req->n_q; i++) {
		free(req->qv[i].key);
		free(req->qv[i].val);
	}
	free(req->qv);
	for (size_t i = 0; i < req->n_hdrs; i++) {
		free(req->hdrs[i].name);
		free(req->hdrs[i].value);
	}
	free(req->hdrs);
	http_caps_free(req->caps, req->n_caps);
	buf_release(&req->body);
	if (req->resp)
		MHD_destroy_response(req->resp);
	free(req->path);
	free(req->target);
	free(req);
}

/* Writes s into the access log with control and non-ASCII bytes escaped, so
 * a request line cannot forge log lines. */
static void log_escape(struct buf *b, const char *s, size_t max)
{
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			buf_printf(b, "\\x%02x", c);
		else
			buf_putc(b, (char)c);
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_req *req = *con_cls;
	(void)conn;
	if (!req)
		return;
	*con_cls = NULL;
	while (req->defers) {
		struct defer *d = req->defers;
		req->defers = d->next;
		d->fn(d->arg, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
		free(d);
	}
	if (s->opts.access_log) {
		/* The path only: the query string may carry credentials (T9). */
		struct buf line = BUF_INIT;
		const char *path = req->path ? req->path : req->target;
		size_t plen = strcspn(path, "?");
		buf_printf(&line, "access %s \"%s ", req->addr,
		           req->method_name[0] ? req->method_name : "-");
		log_escape(&line, path, plen < 1024 ? plen : 1024);
		buf_printf(&line, "\" %d %llu %.1fms id=%s%s", req->status,
		           (unsigned long long)req->received, (time_mono_s() - req->t0) * 1e3,
		           req->id, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
		log_info("%s", line.data);
		buf_release(&line);
	}
	req_free(req);
}

static enum http_method method_of(const char *m)
{
	static const struct {
		const char *name;
		enum http_method m;
	} t[] = {{"GET", HTTP_GET},        {"HEAD", HTTP_HEAD},     {"POST", HTTP_POST},
	         {"PUT", HTTP_PUT},        {"DELETE", HTTP_DELETE}, {"PATCH", HTTP_PATCH},
	         {"OPTIONS", HTTP_OPTIONS}};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (!strcmp(m, t[i].name))
			return t[i].m;
	return 0;
}

/* Splits the query into decoded key/value pairs. */
static int parse_query(struct http_req *req)
{
	const char *p = req->query;
	while (*p) {
		size_t n = strcspn(p, "&");
		const char *eq = memchr(p, '=', n);
		char *k = NULL, *v = NULL;
		if (n) {
			size_t kn = eq ? (size_t)(eq - p) : n;
			if (http_pct_decode(p, kn, 1, &k) < 0)
				return HD_EINVAL;
			if (http_pct_decode(eq ? eq + 1 : p + n, eq ? n - kn - 1 : 0, 1, &v) < 0) {
				free(k);
				return HD_EINVAL;
			}
			if (req->n_q >= 256) {
				free(k);
				free(v);
				return HD_ETOOBIG;
			}
			req->qv = xrealloc(req->qv, (req->n_q + 1) * sizeof(*req->qv));
			req->qv[req->n_q].key = k;
			req->qv[req->n_q].val = v;
			req->n_q++;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* Finds the route; on failure responds (400, 404, 405). */
static void route_request(struct http_req *req)
{
	struct http_server *s = req->srv;
	int path_matched = 0;

	for (size_t t = 0; t < s->n_tables; t++) {
		for (size_t i = 0; i < s->tables[t].n; i++) {
			const struct http_route *r = &s->tables[t].routes[i];
			int m = http_route_match(r->pattern, req->path, req->caps, MAX_CAPS,
			                         &req->n_caps);
			if (m < 0) {
				http_respond_error(req, 400, NULL,
				                   "Invalid path: bad percent-encoding or UTF-8");
				return;
			}
			if (!m)
				continue;
			if (!(r->methods & req->method)) {
				path_matched = 1;
				http_caps_free(req->caps, req->n_caps);
				req->n_caps = 0;
				continue;
			}
			req->route = r;
			return;
		}
	}
	if (path_matched)
		http_respond_error(req, 405, NULL, "Method not allowed");
	else
		http_respond_error(req, 404, NULL, "Not Found");
}

static enum MHD_Result queue(struct http_req *req)
{
	enum MHD_Result ret;
	if (!req->resp)
		http_respond_error(req, 500, NULL, "the handler gave no response");
	MHD_add_response_header(req->resp, "X-Request-Id", req->id);
	for (size_t i = 0; i < req->n_hdrs; i++)
		if (MHD_add_response_header(req->resp, req->hdrs[i].name, req->hdrs[i].value) !=
		    MHD_YES)
			log_warn("http: header %s refused", req->hdrs[i].name);
	if (req->close)
		MHD_add_response_header(req->resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(req->conn, (unsigned)req->status, req->resp);
	MHD_destroy_response(req->resp);
	req->resp = NULL;
	return ret;
}

/* RFC 9110 5.6.2 token characters (header names). */
static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

struct framing {
	int n_cl, n_te, bad;
};

/* One request header: counts the framing headers and flags a name that is not
 * a token (e.g. "Name :", which libmicrohttpd keeps as "Name ") and a value
 * with control characters other than HTAB (a bare CR, say). libmicrohttpd
 * 0.9.75 reads header lines as C strings: a NUL in a name already gets its
 * own 400, a NUL in a value cuts the value there and cannot be seen here;
 * the sizes are checked anyway for builds where it reports them. */
static enum MHD_Result check_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
	struct framing *f = cls;
	(void)kind;
	if (!key || !key_size || strlen(key) != key_size || (value && strlen(value) != value_size))
		f->bad = 1;
	for (size_t i = 0; key && i < key_size && !f->bad; i++)
		if (!is_tchar((unsigned char)key[i]))
			f->bad = 1;
	for (size_t i = 0; value && i < value_size && !f->bad; i++) {
		unsigned char c = (unsigned char)value[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			f->bad = 1;
	}
	if (key && !strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH))
		f->n_cl++;
	if (key && !strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING))
		f->n_te++;
	return MHD_YES;
}

/* Request framing libmicrohttpd lets through but we refuse (SECURITY H1,
 * H2): Content-Length together with Transfer-Encoding, either one twice, a
 * Transfer-Encoding other than plain "chunked" (nobody may read the body
 * differently from us), malformed header names and control characters in
 * values. 1 if bad. */
static int bad_framing(struct http_req *req)
{
	const char *te = http_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	struct framing f = {0, 0, 0};
	if (te && strcasecmp(te, "chunked"))
		return 1;
	MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, check_header, &f);
	return f.bad || f.n_cl > 1 || f.n_te > 1 || (f.n_cl && f.n_te);
}

/* First call: the headers are in. Routes the request and checks the body
 * size against the cap before any of it is read. */
static void start_request(struct http_req *req, const char *method)
{
	const char *cl;
	const char *q;
	int64_t clen = -1;

	snprintf(req->method_name, sizeof(req->method_name), "%s", method);
	req->method = method_of(method);
	q = strchr(req->target, '?');
	req->path = q ? xstrndup(req->target, (size_t)(q - req->target)) : xstrdup(req->target);
	req->query = q ? q + 1 : "";
	if (req->path[0] != '/') {
		http_respond_error(req, 400, NULL, "Invalid request target");
		return;
	}
	if (!req->method) {
		http_respond_error(req, 405, NULL, "Method not allowed");
		return;
	}
	if (bad_framing(req)) {
		req->close = 1;
		http_respond_error(req, 400, NULL, "Malformed request headers");
		return;
	}
	if (parse_query(req) < 0) {
		http_respond_error(req, 400, NULL, "Invalid query string");
		return;
	}
	route_request(req);
	if (!req->route)
		return;
	/* --max-body is the ceiling; a route may only lower it. */
	req->body_cap = req->srv->opts.max_body;
	if (req->route->max_body && req->route->max_body < req->body_cap)
		req->body_cap = req->route->max_body;
	cl = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && (str_to_i64(cl, &clen) < 0 || clen < 0)) {
		http_respond_error(req, 400, NULL, "Invalid Content-Length");
		return;
	}
	if (!req->route->body && clen > 0 && (uint64_t)clen > req->body_cap) {
		http_respond_error(req, 413, NULL, "Request body too large (limit %zu bytes)",
		                   req->body_cap);
		return;
	}
	if (req->route->begin)
		req->route->begin(req);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct http_req *req = *con_cls;
	(void)cls;
	(void)url;
	(void)version;

	if (!req)
		return MHD_NO;
	if (!req->started) {
		req->started = 1;
		req->conn = conn;
		start_request(req, method);
		/* A response chosen before the body: when the client waits for
		 * "100 Continue" or the body is too large to drain, send it now
		 * (libmicrohttpd then closes the connection); else read and drop
		 * the body first so the client is not cut off while sending. */
		if (req->resp) {
			const char *cl = http_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
			const char *expect = http_req_header(req, MHD_HTTP_HEADER_EXPECT);
			int64_t clen = 0;
			if (req->close ||
			    (cl && str_to_i64(cl, &clen) == 0 && clen > (int64_t)DRAIN_CAP) ||
			    (expect && !strcasecmp(expect, "100-continue")))
				return queue(req);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		req->received += n;
		if (req->resp)
			return req->received > DRAIN_CAP ? MHD_NO : MHD_YES;
		if (req->route->body) {
			if (req->route->body(req, upload_data, n) < 0 && !req->resp)
				return MHD_NO;
			return MHD_YES;
		}
		if (req->body.len + n > req->body_cap) {
			buf_release(&req->body);
			http_respond_error(req, 413, NULL,
			                   "Request body too large (limit %zu bytes)",
			                   req->body_cap);
			return MHD_YES;
		}
		buf_append(&req->body, upload_data, n);
		return MHD_YES;
	}
	/* The whole request is in. */
	if (!req->resp)
		req->route->handle(req);
	return queue(req);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;
	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = 0;
	log_warn("http: %s", line);
}

/* ---- the server ----------------------------------------------------------- */

struct http_server *http_server_new(const struct http_server_opts *opts)
{
	struct http_server *s = xcalloc(1, sizeof(*s));
	s->opts = *opts;
	return s;
}

void http_server_add_routes(struct http_server *s, const struct http_route *routes, size_t n)
{
	if (s->n_tables >= MAX_ROUTE_TABLES) {
		log_error("http: too many route tables");
		abort();
	}
	s->tables[s->n_tables].routes = routes;
	s->tables[s->n_tables].n = n;
	s->n_tables++;
}

int http_server_start(struct http_server *s, char *err, size_t err_size)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
	                 MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	char port[16];
	int rc;

	if (s->opts.port < 0 || s->opts.port > 65535)
		return hd_fail(err, err_size, HD_EINVAL, "invalid port %d", s->opts.port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%d", s->opts.port);
	rc = getaddrinfo(s->opts.host, port, &hints, &ai);
	if (rc || !ai)
		return hd_fail(err, err_size, HD_EINVAL, "cannot resolve host '%s': %s",
		               s->opts.host, gai_strerror(rc));
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, ai->ai_addr, ai->ai_addrlen < sizeof(ss) ? ai->ai_addrlen : sizeof(ss));
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	freeaddrinfo(ai);

	s->daemon = MHD_start_daemon(
	        flags, (uint16_t)s->opts.port, NULL, NULL, on_request, s,
	        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
	        (struct sockaddr *)&ss, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
	        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_UNESCAPE_CALLBACK,
	        unescape_identity, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->opts.conn_limit,
	        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)s->opts.per_ip_limit,
	        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->opts.timeout_s,
	        MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->opts.conn_memory,
	        MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
	if (!s->daemon)
		return hd_fail(err, err_size, -EADDRINUSE, "cannot listen on %s:%d", s->opts.host,
		               s->opts.port);
	di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : s->opts.port;
	return 0;
}

int http_server_port(const struct http_server *s)
{
	return s->port;
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	if (s->daemon) {
		MHD_socket fd = MHD_quiesce_daemon(s->daemon);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
		MHD_stop_daemon(s->daemon);
	}
	free(s);
}

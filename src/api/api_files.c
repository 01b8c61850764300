/*
 * api_files.c: reading files: GET/HEAD /{P}{id}/resolve/{rev}/{path} and
 * /raw/ (with Range and the headers both clients need, HUB-API.md 1.3, 1.4
 * and 3.5), GET /api/{T}/{id}/tree/{rev}[/{path}] and POST
 * /api/{T}/{id}/paths-info/{rev} (3.6, 3.7).
 *
 * Bytes are served directly (no redirect): an LFS object or a large blob as
 * an open file (sendfile), a small git blob from memory. User files go out
 * with nosniff and, unless their type is on a short inline-safe list, as an
 * attachment (SECURITY W3).
 */
#include "api/api_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- resolve / raw ------------------------------------------------------------ */

struct ctype {
	const char *ext;
	const char *type;
};

/* Types a browser may show inline without running anything. SVG, HTML and
 * XML are deliberately absent: they can carry script. */
static const struct ctype inline_types[] = {
        {".txt", "text/plain; charset=utf-8"},
        {".md", "text/plain; charset=utf-8"},
        {".json", "text/plain; charset=utf-8"},
        {".jsonl", "text/plain; charset=utf-8"},
        {".csv", "text/plain; charset=utf-8"},
        {".tsv", "text/plain; charset=utf-8"},
        {".yaml", "text/plain; charset=utf-8"},
        {".yml", "text/plain; charset=utf-8"},
        {".py", "text/plain; charset=utf-8"},
        {".gitattributes", "text/plain; charset=utf-8"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".webp", "image/webp"},
};

static const char *inline_type(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (size_t i = 0; i < ARRAY_SIZE(inline_types); i++) {
		size_t bl = strlen(base), el = strlen(inline_types[i].ext);
		if (bl >= el && !strcasecmp(base + bl - el, inline_types[i].ext))
			return inline_types[i].type;
	}
	return NULL;
}

static void file_headers(struct http_req *req, const struct hub_file *f, const char *path)
{
	const char *base = strrchr(path, '/');
	http_resp_header(req, "X-Repo-Commit", f->commit);
	if (f->is_lfs) {
		http_resp_headerf(req, "ETag", "\"%s\"", f->lfs_oid);
		http_resp_headerf(req, "X-Linked-Etag", "\"%s\"", f->lfs_oid);
		http_resp_headerf(req, "X-Linked-Size", "%lld", (long long)f->size);
	} else {
		http_resp_headerf(req, "ETag", "\"%s\"", f->blob_oid);
	}
	http_resp_header(req, "Accept-Ranges", "bytes");
	http_resp_header(req, "X-Content-Type-Options", "nosniff");
	http_resp_header(req, "Cache-Control", "private, max-age=0, must-revalidate");
	/* ?download=true asks for an attachment whatever the type, as the Hub
	 * answers it. */
	if (!inline_type(path) || http_req_query_bool(req, "download")) {
		struct buf b = BUF_INIT;
		buf_puts(&b, "attachment; filename*=UTF-8''");
		http_pct_encode(&b, base ? base + 1 : path, 0);
		http_resp_header(req, "Content-Disposition", b.data);
		buf_release(&b);
	}
}

/* Does If-None-Match name etag (the quoted value we send)? "*" matches any;
 * weak tags compare by their value (RFC 9110 13.1.2). */
static int none_match(const char *header, const char *etag)
{
	size_t n = strlen(etag);
	const char *p = header;
	while (p && *p) {
		p += strspn(p, " \t,");
		if (*p == '*')
			return 1;
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (!strncmp(p, etag, n) &&
		    (p[n] == 0 || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
			return 1;
		p = strchr(p, ',');
	}
	return 0;
}

/* Sends bytes [start, start + len) of f. */
static void send_file_part(struct http_req *req, struct hub_file *f, int status, const char *ctype,
                           uint64_t start, uint64_t len)
{
	if (f->fd >= 0) {
		int fd = dup(f->fd);
		if (fd < 0) {
			http_respond_error(req, 500, NULL, "could not open the file");
			return;
		}
		http_respond_fd(req, status, ctype, fd, start, len);
	} else {
		http_respond(req, status, ctype, (const char *)f->data + start, (size_t)len);
	}
}

static void resolve(struct http_req *req, int raw)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	struct hub_file f;
	char *tail, *rev, *path;
	const char *range = http_req_header(req, "Range");
	const char *ctype;
	uint64_t start, len, size;
	int rc;

	if (!x || !(tail = api_decode_tail(req, http_req_param(req, "tail"))) ||
	    api_split_rev_path(req, &x->c, &x->ref, tail, &rev, &path) < 0)
		return;
	memset(&f, 0, sizeof(f));
	f.fd = -1;
	rc = hub_file_open(x->cfg->hub, &x->c, &x->ref, rev, path, raw, &f, &x->e);
	if (rc < 0) {
		/* EntryNotFound still names the commit (Python reads it). */
		if (rc == HD_ENOTFOUND && f.commit[0])
			http_resp_header(req, "X-Repo-Commit", f.commit);
		hub_file_release(&f);
		api_fail(req, &x->c, rc, &x->e);
		return;
	}
	file_headers(req, &f, path);
	ctype = inline_type(path);
	if (!ctype)
		ctype = "application/octet-stream";
	size = f.size > 0 ? (uint64_t)f.size : 0;
	const char *inm = http_req_header(req, "If-None-Match");
	char *etag = http_req_printf(req, "\"%s\"", f.is_lfs ? f.lfs_oid : f.blob_oid);
	if (inm && none_match(inm, etag)) {
		/* The client's copy is current: same headers, no bytes, no download. */
		http_respond(req, 304, NULL, "", 0);
		hub_file_release(&f);
		return;
	}
	if (size == 0) {
		/* A Range probe of an empty file: 200 with the size (HUB-API 1.3). */
		if (range)
			http_resp_header(req, "Content-Range", "bytes */0");
		http_respond(req, 200, ctype, "", 0);
	} else {
		switch (http_range_parse(range, size, &start, &len)) {
		case HTTP_RANGE_OK:
			http_resp_headerf(req, "Content-Range", "bytes %llu-%llu/%llu",
			                  (unsigned long long)start,
			                  (unsigned long long)(start + len - 1),
			                  (unsigned long long)size);
			send_file_part(req, &f, 206, ctype, start, len);
			break;
		case HTTP_RANGE_UNSATISFIABLE:
			http_resp_headerf(req, "Content-Range", "bytes */%llu",
			                  (unsigned long long)size);
			http_respond_error(req, 416, NULL, "Range not satisfiable");
			break;
		default: send_file_part(req, &f, 200, ctype, 0, size); break;
		}
	}
	/* A whole-file GET through resolve counts as a download (HEADs, Range
	 * probes and slices do not, so each client's download counts once). */
	if (!raw && !range && http_req_method(req) == HTTP_GET)
		hub_repo_count_download(x->cfg->hub, f.repo_uid);
	hub_file_release(&f);
}

void api_resolve(struct http_req *req)
{
	resolve(req, 0);
}

void api_raw(struct http_req *req)
{
	resolve(req, 1);
}

/* ---- tree ---------------------------------------------------------------------- */

/* The entries of a tree page or paths-info as the JSON array, with
 * X-Repo-Commit; releases the page. */
static void respond_entries(struct http_req *req, struct hub_tree_page *page, int expand)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < page->n; i++)
		json_array_append_new(arr, api_tree_entry_json(&page->entries[i], expand));
	http_resp_header(req, "X-Repo-Commit", page->commit);
	hub_tree_page_release(page);
	http_respond_json(req, 200, arr);
}

void api_tree(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	struct hub_tree_page page;
	int recursive = http_req_query_bool(req, "recursive");
	int expand = http_req_query_bool(req, "expand");
	char *tail, *rev, *path;
	size_t limit;
	int rc;

	if (!x || api_query_size(req, "limit", x->cfg->tree_page_size, &limit) < 0 ||
	    !(tail = api_decode_tail(req, http_req_param(req, "tail"))) ||
	    api_split_rev_path(req, &x->c, &x->ref, tail, &rev, &path) < 0)
		return;
	if (limit == 0 || limit > x->cfg->tree_page_size)
		limit = x->cfg->tree_page_size;
	memset(&page, 0, sizeof(page));
	rc = hub_tree_list(x->cfg->hub, &x->c, &x->ref, rev, path, recursive, expand, limit,
	                   http_req_query(req, "cursor"), &page, &x->e);
	if (rc < 0) {
		api_fail(req, &x->c, rc, &x->e);
		return;
	}
	if (page.next_cursor)
		api_link_next(req, page.next_cursor);
	respond_entries(req, &page, expand);
}

/* ---- paths-info -------------------------------------------------------------------- */

#define MAX_PATHS 1000

/* Python sends application/x-www-form-urlencoded: paths=a&paths=b&expand=true. */
static int parse_form(struct http_req *req, const char *body, size_t n, const char **paths,
                      size_t *n_paths, int *expand)
{
	const char *p = body, *end = body + n;
	*n_paths = 0;
	*expand = 0;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		size_t len = amp ? (size_t)(amp - p) : (size_t)(end - p);
		const char *eq = memchr(p, '=', len);
		char *k, *v;
		if (len) {
			size_t kl = eq ? (size_t)(eq - p) : len;
			if (http_pct_decode(p, kl, 1, &k) < 0)
				return HD_EINVAL;
			if (http_pct_decode(eq ? eq + 1 : p, eq ? len - kl - 1 : 0, 1, &v) < 0) {
				free(k);
				return HD_EINVAL;
			}
			if (!strcmp(k, "paths") || !strcmp(k, "paths[]")) {
				if (*n_paths >= MAX_PATHS) {
					free(k);
					free(v);
					return HD_ETOOBIG;
				}
				paths[(*n_paths)++] = http_req_strdup(req, v);
			} else if (!strcmp(k, "expand")) {
				*expand =
				        !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "True");
			}
			free(k);
			free(v);
		}
		p += len + (amp ? 1 : 0);
	}
	return 0;
}

static int parse_json_paths(struct http_req *req, const char **paths, size_t *n_paths, int *expand)
{
	json_t *body = api_json_body(req), *jp, *je;
	size_t i;
	json_t *v;
	if (!body)
		return HD_EINVAL;
	jp = json_object_get(body, "paths");
	je = json_object_get(body, "expand");
	*n_paths = 0;
	*expand =
	        json_is_true(je) || (json_is_string(je) && !strcmp(json_string_value(je), "true"));
	if (!json_is_array(jp)) {
		http_respond_error(req, 400, NULL, "'paths' must be a list of strings");
		return HD_EINVAL;
	}
	if (json_array_size(jp) > MAX_PATHS) {
		http_respond_error(req, 413, NULL, "Too many paths (at most %d)", MAX_PATHS);
		return HD_ETOOBIG;
	}
	json_array_foreach(jp, i, v)
	{
		if (!json_is_string(v)) {
			http_respond_error(req, 400, NULL, "'paths' must hold strings");
			return HD_EINVAL;
		}
		paths[(*n_paths)++] = json_string_value(v);
	}
	return 0;
}

void api_paths_info(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 0, 1);
	struct hub_tree_page page;
	const char *ct = http_req_header(req, "Content-Type");
	const char **paths;
	size_t n_paths = 0, n;
	const char *body = http_req_body(req, &n);
	char *rev;
	int expand = 0, rc;

	if (!x || !(rev = api_decode_tail(req, http_req_param(req, "rev"))))
		return;
	paths = http_req_alloc(req, (MAX_PATHS + 1) * sizeof(*paths));
	if (ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33)) {
		rc = parse_form(req, body, n, paths, &n_paths, &expand);
		if (rc < 0) {
			if (rc == HD_ETOOBIG)
				http_respond_error(req, 413, NULL, "Too many paths (at most %d)",
				                   MAX_PATHS);
			else
				http_respond_error(req, 400, NULL, "Malformed form body");
			return;
		}
	} else if (parse_json_paths(req, paths, &n_paths, &expand) < 0) {
		return;
	}
	memset(&page, 0, sizeof(page));
	rc = hub_paths_info(x->cfg->hub, &x->c, &x->ref, *rev ? rev : NULL, paths, n_paths, expand,
	                    &page, &x->e);
	if (rc < 0) {
		api_fail(req, &x->c, rc, &x->e);
		return;
	}
	respond_entries(req, &page, expand);
}

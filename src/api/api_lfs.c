/*
 * api_lfs.c: the Git LFS batch API and the hrefs it hands out (HUB-API.md
 * 3.9 and 6).
 *
 *   POST /{P}{id}.git/info/lfs/objects/batch     upload or download decisions
 *   POST /{P}{id}.git/info/lfs/objects/verify    verify with Bearer/Basic auth
 *   POST /api/lfs/verify/{uid}                       verify, signed (the href we hand out:
 *                                                    git-lfs sends no credentials there)
 *   PUT  /api/lfs/upload/{uid}/{oid}/{size}              basic upload
 *   PUT  /api/lfs/part/{uid}/{oid}/{size}/{chunk}/{n}    one multipart part
 *   POST /api/lfs/complete/{uid}/{oid}/{size}/{chunk}    multipart completion
 *   GET  /api/lfs/download/{uid}/{oid}                   git-lfs download
 *
 * The /api/lfs/ hrefs carry ?expires=UNIX&sig=HMAC (hub_sign over the method
 * and the path) and nothing else authorizes them: neither client sends
 * credentials there (HUB-API 1.5). The repo is named by its immutable uid so
 * a rename between batch and upload does not matter. Bodies stream straight
 * into the hub's verifying writers; nothing is published unless the bytes
 * hash to the oid with the declared size. No "xet" transfer is ever offered.
 */
#include "api/api_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LFS_JSON "application/vnd.git-lfs+json"
#define MAX_BATCH_OBJECTS 10000
#define DOWNLOAD_TTL_S 3600

/* Errors on LFS endpoints: git-lfs reads "message", the HF clients "error". */
static void lfs_fail(struct http_req *req, int status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void lfs_fail(struct http_req *req, int status, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	http_resp_header(req, "X-Error-Message", msg);
	if (status == 401) {
		http_resp_header(req, "WWW-Authenticate", "Basic realm=\"huddle\"");
		http_resp_header(req, "LFS-Authenticate", "Basic realm=\"huddle\"");
	}
	/* No request id in the body: two refusals must be byte-identical (V1);
	 * it is in X-Request-Id. */
	http_respond_json(req, status, json_pack("{s:s,s:s}", "message", msg, "error", msg));
	free(msg);
}

/* A hub error on an LFS endpoint. Anonymous callers refused (missing, private
 * or read-only) get a Basic challenge so git-lfs retries with credentials;
 * the answer is the same for a missing and a private repo. */
static void lfs_hub_fail(struct http_req *req, const struct auth_caller *c, int rc,
                         const struct hub_err *e)
{
	int status = api_status_of(rc);
	if (c->user_id == 0 && (status == 404 || status == 403)) {
		lfs_fail(req, 401, "Authentication required");
		return;
	}
	if (e && e->code[0])
		http_resp_header(req, "X-Error-Code", e->code);
	if (status >= 500) {
		log_error("api: lfs %s: %s (request %s)", http_req_path(req),
		          e && e->msg[0] ? e->msg : hd_strerror(rc), http_req_id(req));
		lfs_fail(req, status, "Internal error");
		return;
	}
	lfs_fail(req, status, "%s", e && e->msg[0] ? e->msg : hd_strerror(rc));
}

/* ---- signed hrefs ----------------------------------------------------------- */

static char *signed_href(struct http_req *req, const char *method, const char *path,
                         int64_t expires)
{
	char sig[65];
	hub_sign(api_cfg(req)->hub, method, path, expires, sig);
	return http_req_printf(req, "%s%s?expires=%lld&sig=%s", api_cfg(req)->public_url, path,
	                       (long long)expires, sig);
}

/* Checks ?expires=&sig= against method + this request's path. 0, or responds
 * 403 and returns < 0. HEAD is checked as GET. */
static int check_signature(struct http_req *req, const char *method)
{
	const char *exp = http_req_query(req, "expires");
	const char *sig = http_req_query(req, "sig");
	int64_t e;
	if (!exp || !sig || str_to_i64(exp, &e) < 0 ||
	    hub_sign_check(api_cfg(req)->hub, method, http_req_path(req), e, sig) < 0) {
		lfs_fail(req, 403, "Invalid or expired signature");
		return HD_EAUTH;
	}
	return 0;
}

/* Parses the numeric path parameter name (> 0 unless zero_ok). */
static int param_i64(struct http_req *req, const char *name, int zero_ok, int64_t *out)
{
	const char *v = http_req_param(req, name);
	if (!v || str_to_i64(v, out) < 0 || *out < 0 || (!zero_ok && *out == 0)) {
		lfs_fail(req, 400, "Invalid %s", name);
		return HD_EINVAL;
	}
	return 0;
}

static int oid_param(struct http_req *req, const char **oid, const char **uid)
{
	*oid = http_req_param(req, "oid");
	*uid = http_req_param(req, "uid");
	if (!*oid || !hub_oid_valid(*oid) || !*uid || strlen(*uid) != 32 ||
	    !hex_is_lower(*uid, 32)) {
		lfs_fail(req, 400, "Invalid object id");
		return HD_EINVAL;
	}
	return 0;
}

/* ---- batch -------------------------------------------------------------------- */

static json_t *upload_actions(struct http_req *req, const char *uid, const struct hub_lfs_object *o,
                              int multipart, int64_t expires, const char *verify_href)
{
	json_t *actions = json_object(), *upload = json_object(), *header = json_object();
	char ts[32];
	time_iso8601(ts, expires * 1000);
	if (multipart) {
		char key[24];
		json_object_set_new(header, "chunk_size",
		                    json_sprintf("%lld", (long long)o->chunk_size));
		for (int64_t p = 1; p <= o->n_parts; p++) {
			char *path = http_req_printf(req, "/api/lfs/part/%s/%s/%lld/%lld/%lld", uid,
			                             o->oid, (long long)o->size,
			                             (long long)o->chunk_size, (long long)p);
			snprintf(key, sizeof(key), "%05lld", (long long)p);
			json_object_set_new(header, key,
			                    json_string(signed_href(req, "PUT", path, expires)));
		}
		json_object_set_new(
		        upload, "href",
		        json_string(signed_href(req, "POST",
		                                http_req_printf(req,
		                                                "/api/lfs/complete/%s/%s/%lld/%lld",
		                                                uid, o->oid, (long long)o->size,
		                                                (long long)o->chunk_size),
		                                expires)));
	} else {
		json_object_set_new(
		        upload, "href",
		        json_string(signed_href(req, "PUT",
		                                http_req_printf(req, "/api/lfs/upload/%s/%s/%lld",
		                                                uid, o->oid, (long long)o->size),
		                                expires)));
	}
	json_object_set_new(upload, "header", header);
	json_object_set_new(upload, "expires_at", json_string(ts));
	json_object_set_new(actions, "upload", upload);
	json_object_set_new(actions, "verify",
	                    json_pack("{s:s,s:s}", "href", verify_href, "expires_at", ts));
	return actions;
}

void api_lfs_batch(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 1, 1);
	struct api_lfs_batch b;
	char uid[33] = "", errbuf[512];
	const char *body, *verify_href;
	int64_t expires;
	int any_multipart = 0, rc;
	size_t n;
	json_t *objs;

	if (!x)
		return;
	expires = (int64_t)time(NULL) + x->cfg->href_ttl_s;
	body = http_req_body(req, &n);
	rc = api_lfs_batch_parse(body, n, MAX_BATCH_OBJECTS, &b, errbuf, sizeof(errbuf));
	if (rc < 0) {
		lfs_fail(req, rc == HD_ETOOBIG ? 413 : 400, "Invalid batch request: %s", errbuf);
		return;
	}
	rc = hub_lfs_batch(x->cfg->hub, &x->c, &x->ref, b.op, b.objs, b.n_objs, uid, &x->e);
	if (rc < 0) {
		lfs_hub_fail(req, &x->c, rc, &x->e);
		api_lfs_batch_release(&b);
		return;
	}
	verify_href =
	        signed_href(req, "POST", http_req_printf(req, "/api/lfs/verify/%s", uid), expires);
	for (size_t i = 0; i < b.n_objs; i++)
		if (b.op == HUB_LFS_UPLOAD && b.objs[i].state == HUB_LFS_UPLOAD_NEEDED &&
		    b.objs[i].multipart && b.multipart_ok)
			any_multipart = 1;
	objs = json_array();
	for (size_t i = 0; i < b.n_objs; i++) {
		const struct hub_lfs_object *o = &b.objs[i];
		json_t *j = json_pack("{s:s,s:I}", "oid", o->oid, "size", (json_int_t)o->size);
		switch (o->state) {
		case HUB_LFS_UPLOAD_NEEDED:
			json_object_set_new(j, "authenticated", json_true());
			json_object_set_new(j, "actions",
			                    upload_actions(req, uid, o,
			                                   o->multipart && b.multipart_ok, expires,
			                                   verify_href));
			break;
		case HUB_LFS_PRESENT: break;
		case HUB_LFS_DOWNLOADABLE: {
			/* A download href outlives the access check that minted it (a
			 * repo made private, a token revoked): at most an hour. git-lfs
			 * asks again once expires_at has passed. */
			int64_t dl_expires = HD_MIN(expires, (int64_t)time(NULL) + DOWNLOAD_TTL_S);
			char ts[32];
			char *path = http_req_printf(req, "/api/lfs/download/%s/%s", uid, o->oid);
			time_iso8601(ts, dl_expires * 1000);
			json_object_set_new(j, "authenticated", json_true());
			json_object_set_new(j, "actions",
			                    json_pack("{s:{s:s,s:s}}", "download", "href",
			                              signed_href(req, "GET", path, dl_expires),
			                              "expires_at", ts));
			break;
		}
		case HUB_LFS_OBJ_NOT_FOUND:
			json_object_set_new(j, "error",
			                    json_pack("{s:i,s:s}", "code", 404, "message",
			                              "Object does not exist"));
			break;
		case HUB_LFS_OBJ_TOO_BIG:
			json_object_set_new(j, "error",
			                    json_pack("{s:i,s:s}", "code", 422, "message",
			                              "Object is larger than this hub accepts"));
			break;
		default:
			json_object_set_new(j, "error",
			                    json_pack("{s:i,s:s}", "code", 422, "message",
			                              "Invalid object id or size"));
			break;
		}
		json_array_append_new(objs, j);
	}
	api_lfs_batch_release(&b);
	{
		json_t *resp = json_pack("{s:s,s:s,s:o}", "transfer",
		                         any_multipart ? "multipart" : "basic", "hash_algo",
		                         "sha256", "objects", objs);
		char *s = json_dumps(resp, JSON_COMPACT);
		json_decref(resp);
		http_respond(req, 200, LFS_JSON, s, strlen(s));
		free(s);
	}
}

/* {"oid", "size"} of a verify body: 0, or < 0 after responding. */
static int verify_body(struct http_req *req, const char **oid, int64_t *size)
{
	json_t *body = api_json_body(req), *jo, *js;
	if (!body)
		return HD_EINVAL;
	jo = json_object_get(body, "oid");
	js = json_object_get(body, "size");
	if (!json_is_string(jo) || !hub_oid_valid(json_string_value(jo)) || !json_is_integer(js) ||
	    json_integer_value(js) < 0) {
		lfs_fail(req, 400, "Expected {\"oid\": sha256 hex, \"size\": integer}");
		return HD_EINVAL;
	}
	*oid = json_string_value(jo);
	*size = (int64_t)json_integer_value(js);
	return 0;
}

void api_lfs_verify(struct http_req *req)
{
	struct api_ctx *x = api_begin(req, 1, 1);
	const char *oid;
	int64_t size;
	int rc;

	if (!x || verify_body(req, &oid, &size) < 0)
		return;
	rc = hub_lfs_verify(x->cfg->hub, &x->c, &x->ref, oid, size, &x->e);
	if (rc < 0)
		lfs_hub_fail(req, &x->c, rc, &x->e);
	else
		http_respond(req, 200, LFS_JSON, "{}", 2);
}

/* The signed verify href: the repo (by uid) must have the object, with that
 * size. */
void api_lfs_verify_signed(struct http_req *req)
{
	struct hub_err e = {{0}, {0}};
	struct hub_file f;
	const char *uid = http_req_param(req, "uid"), *oid;
	int64_t size;

	if (check_signature(req, "POST") < 0)
		return;
	if (!uid || strlen(uid) != 32 || !hex_is_lower(uid, 32)) {
		lfs_fail(req, 400, "Invalid repository id");
		return;
	}
	if (verify_body(req, &oid, &size) < 0)
		return;
	memset(&f, 0, sizeof(f));
	f.fd = -1;
	if (hub_lfs_open(api_cfg(req)->hub, uid, oid, &f, &e) < 0)
		lfs_fail(req, 404, "Object not found");
	else if (f.size != size)
		lfs_fail(req, 422, "Object size does not match");
	else
		http_respond(req, 200, LFS_JSON, "{}", 2);
	hub_file_release(&f);
}

void api_lfs_locks(struct http_req *req)
{
	/* No locking API: git-lfs prints a warning and goes on. */
	lfs_fail(req, 404, "Locking is not supported by this hub");
}

/* ---- basic upload ----------------------------------------------------------------- */

static void writer_cleanup(void *arg, int completed)
{
	struct hub_lfs_writer **w = arg;
	(void)completed;
	hub_lfs_upload_abort(*w); /* NULL once finished */
	*w = NULL;
}

int api_lfs_upload_begin(struct http_req *req)
{
	struct hub_err e = {{0}, {0}};
	struct hub_lfs_writer **w;
	const char *oid, *uid;
	int64_t size;
	int rc;

	if (check_signature(req, "PUT") < 0 || oid_param(req, &oid, &uid) < 0 ||
	    param_i64(req, "size", 1, &size) < 0)
		return HD_EINVAL;
	w = http_req_alloc(req, sizeof(*w));
	rc = hub_lfs_upload_begin(api_cfg(req)->hub, uid, oid, size, w, &e);
	if (rc < 0) {
		lfs_fail(req, api_status_of(rc), "%s", e.msg[0] ? e.msg : hd_strerror(rc));
		return rc;
	}
	http_req_defer(req, writer_cleanup, w);
	http_req_set_ctx(req, w);
	return 0;
}

int api_lfs_upload_body(struct http_req *req, const void *data, size_t n)
{
	struct hub_lfs_writer **w = http_req_ctx(req);
	int rc;
	if (!w || !*w)
		return HD_EINVAL;
	rc = hub_lfs_upload_write(*w, data, n);
	if (rc < 0) {
		hub_lfs_upload_abort(*w);
		*w = NULL;
		if (rc == HD_ETOOBIG)
			lfs_fail(req, 400, "More bytes than the declared size");
		else
			lfs_fail(req, 500, "Could not store the upload");
		return rc;
	}
	return 0;
}

void api_lfs_upload_end(struct http_req *req)
{
	struct hub_lfs_writer **w = http_req_ctx(req);
	struct hub_err e = {{0}, {0}};
	int rc;
	if (!w || !*w) {
		lfs_fail(req, 500, "Upload state lost");
		return;
	}
	rc = hub_lfs_upload_finish(*w, &e);
	*w = NULL;
	if (rc < 0) {
		lfs_fail(req, rc == HD_ECORRUPT ? 400 : api_status_of(rc), "%s",
		         e.msg[0] ? e.msg
		                  : "The uploaded bytes do not match the object id and size");
		return;
	}
	http_resp_headerf(req, "ETag", "\"%s\"", http_req_param(req, "oid"));
	http_respond(req, 200, NULL, "", 0);
}

/* ---- multipart ---------------------------------------------------------------------- */

static void part_cleanup(void *arg, int completed)
{
	struct hub_lfs_part_writer **w = arg;
	(void)completed;
	hub_lfs_part_abort(*w);
	*w = NULL;
}

int api_lfs_part_begin(struct http_req *req)
{
	struct hub_err e = {{0}, {0}};
	struct hub_lfs_part_writer **w;
	const char *oid, *uid;
	int64_t size, chunk, part;
	int rc;

	if (check_signature(req, "PUT") < 0 || oid_param(req, &oid, &uid) < 0 ||
	    param_i64(req, "size", 0, &size) < 0 || param_i64(req, "chunk", 0, &chunk) < 0 ||
	    param_i64(req, "part", 0, &part) < 0)
		return HD_EINVAL;
	if (part > INT32_MAX) {
		lfs_fail(req, 400, "Invalid part");
		return HD_EINVAL;
	}
	w = http_req_alloc(req, sizeof(*w));
	rc = hub_lfs_part_begin(api_cfg(req)->hub, uid, oid, size, chunk, (int)part, w, &e);
	if (rc < 0) {
		lfs_fail(req, api_status_of(rc), "%s", e.msg[0] ? e.msg : hd_strerror(rc));
		return rc;
	}
	http_req_defer(req, part_cleanup, w);
	http_req_set_ctx(req, w);
	return 0;
}

int api_lfs_part_body(struct http_req *req, const void *data, size_t n)
{
	struct hub_lfs_part_writer **w = http_req_ctx(req);
	int rc;
	if (!w || !*w)
		return HD_EINVAL;
	rc = hub_lfs_part_write(*w, data, n);
	if (rc < 0) {
		hub_lfs_part_abort(*w);
		*w = NULL;
		if (rc == HD_ETOOBIG)
			lfs_fail(req, 400, "More bytes than the part holds");
		else
			lfs_fail(req, 500, "Could not store the part");
		return rc;
	}
	return 0;
}

void api_lfs_part_end(struct http_req *req)
{
	struct hub_lfs_part_writer **w = http_req_ctx(req);
	struct hub_err e = {{0}, {0}};
	char etag[65];
	int rc;
	if (!w || !*w) {
		lfs_fail(req, 500, "Upload state lost");
		return;
	}
	rc = hub_lfs_part_finish(*w, etag, &e);
	*w = NULL;
	if (rc < 0) {
		lfs_fail(req, api_status_of(rc), "%s", e.msg[0] ? e.msg : hd_strerror(rc));
		return;
	}
	http_resp_headerf(req, "ETag", "\"%s\"", etag);
	http_respond(req, 200, NULL, "", 0);
}

void api_lfs_complete(struct http_req *req)
{
	struct hub_err e = {{0}, {0}};
	const char *oid, *uid, *body;
	int64_t size, chunk, n_parts;
	char **etags = NULL, errbuf[256];
	size_t n;
	int rc;

	if (check_signature(req, "POST") < 0 || oid_param(req, &oid, &uid) < 0 ||
	    param_i64(req, "size", 0, &size) < 0 || param_i64(req, "chunk", 0, &chunk) < 0)
		return;
	n_parts = size / chunk + (size % chunk ? 1 : 0);
	if (n_parts < 1 || n_parts > 100000) {
		lfs_fail(req, 400, "Invalid number of parts");
		return;
	}
	body = http_req_body(req, &n);
	if (api_lfs_complete_parse(body, n, oid, (size_t)n_parts, &etags, errbuf, sizeof(errbuf)) <
	    0) {
		lfs_fail(req, 400, "Invalid completion request: %s", errbuf);
		return;
	}
	rc = hub_lfs_multipart_complete(api_cfg(req)->hub, uid, oid, size, chunk,
	                                (const char *const *)etags, (size_t)n_parts, &e);
	free(etags);
	if (rc < 0) {
		lfs_fail(req, rc == HD_ECORRUPT ? 400 : api_status_of(rc), "%s",
		         e.msg[0] ? e.msg : hd_strerror(rc));
		return;
	}
	http_respond(req, 200, LFS_JSON, "{}", 2);
}

/* ---- download (git-lfs) ------------------------------------------------------------- */

void api_lfs_download(struct http_req *req)
{
	struct hub_err e = {{0}, {0}};
	struct hub_file f;
	const char *oid, *uid;
	uint64_t start, len, size;
	int rc, fd;

	if (check_signature(req, "GET") < 0 || oid_param(req, &oid, &uid) < 0)
		return;
	memset(&f, 0, sizeof(f));
	f.fd = -1;
	rc = hub_lfs_open(api_cfg(req)->hub, uid, oid, &f, &e);
	if (rc < 0) {
		lfs_fail(req, api_status_of(rc), "%s", e.msg[0] ? e.msg : hd_strerror(rc));
		return;
	}
	size = f.size > 0 ? (uint64_t)f.size : 0;
	http_resp_headerf(req, "ETag", "\"%s\"", oid);
	http_resp_header(req, "Accept-Ranges", "bytes");
	http_resp_header(req, "X-Content-Type-Options", "nosniff");
	fd = f.fd >= 0 ? dup(f.fd) : -1;
	if (fd < 0 && size > 0) {
		hub_file_release(&f);
		lfs_fail(req, 500, "Could not open the object");
		return;
	}
	switch (size ? http_range_parse(http_req_header(req, "Range"), size, &start, &len)
	             : HTTP_RANGE_NONE) {
	case HTTP_RANGE_OK:
		http_resp_headerf(req, "Content-Range", "bytes %llu-%llu/%llu",
		                  (unsigned long long)start, (unsigned long long)(start + len - 1),
		                  (unsigned long long)size);
		http_respond_fd(req, 206, "application/octet-stream", fd, start, len);
		break;
	case HTTP_RANGE_UNSATISFIABLE:
		close(fd);
		http_resp_headerf(req, "Content-Range", "bytes */%llu", (unsigned long long)size);
		lfs_fail(req, 416, "Range not satisfiable");
		break;
	default:
		if (fd >= 0)
			http_respond_fd(req, 200, "application/octet-stream", fd, 0, size);
		else
			http_respond(req, 200, "application/octet-stream", "", 0);
		break;
	}
	hub_file_release(&f);
}

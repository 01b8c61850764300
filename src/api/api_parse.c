/*
 * api_parse.c: the parsers of untrusted request bodies that are more than
 * "one JSON object": the NDJSON commit body, the LFS batch request and the
 * multipart completion body, plus base64. Pure functions (bytes in, struct or
 * a clear error out) so tests/fuzz/fuzz_commit_ndjson.c and
 * fuzz_lfs_batch.c can hammer them without a server.
 *
 * JSON itself is jansson's job; these check the shape: which keys exist,
 * their types, that strings hold no NUL, and the limits.
 */
#include "api/api.h"
#include "core/core.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

/* ---- base64 ------------------------------------------------------------ */

static int b64_char(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int api_base64_decode(const char *s, size_t n, unsigned char **out, size_t *out_len)
{
	size_t pad = 0;
	unsigned char *o;
	int got;

	*out = NULL;
	*out_len = 0;
	if (n % 4 || n > (size_t)INT_MAX)
		return HD_EINVAL;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '=') {
			/* Padding only in the last two places, and nothing after it. */
			if (i < n - 2)
				return HD_EINVAL;
			pad++;
			continue;
		}
		if (pad || !b64_char(c))
			return HD_EINVAL;
	}
	o = xmalloc(n / 4 * 3 + 1);
	if (n) {
		got = EVP_DecodeBlock(o, (const unsigned char *)s, (int)n);
		if (got < 0 || (size_t)got != n / 4 * 3) {
			free(o);
			return HD_EINVAL;
		}
	}
	*out_len = n / 4 * 3 - pad;
	o[*out_len] = 0;
	*out = o;
	return 0;
}

/* ---- helpers --------------------------------------------------------------- */

/* A JSON string without NUL bytes (jansson allows "\u0000"), else NULL. */
static const char *jstring_clean(const json_t *v)
{
	const char *s;
	if (!json_is_string(v))
		return NULL;
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return NULL;
	return s;
}

/* 1 if every key of obj is in the NULL-terminated list. */
static int keys_known(json_t *obj, const char *const *known, const char **bad)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		size_t i;
		(void)v;
		for (i = 0; known[i]; i++)
			if (!strcmp(k, known[i]))
				break;
		if (!known[i]) {
			*bad = k;
			return 0;
		}
	}
	return 1;
}

static int oid_ok(const char *s)
{
	return s && strlen(s) == 64 && hex_is_lower(s, 64);
}

/* ---- the NDJSON commit body ---------------------------------------------------- */

void api_commit_release(struct api_commit *c)
{
	if (!c)
		return;
	free(c->summary);
	free(c->description);
	free(c->parent_commit);
	for (size_t i = 0; i < c->n_ops; i++) {
		free((char *)c->ops[i].path);
		free((void *)c->ops[i].content);
		free((char *)c->ops[i].lfs_oid);
	}
	free(c->ops);
	memset(c, 0, sizeof(*c));
}

/* An optional string field: absent or null gives NULL; anything else but a
 * clean string is an error. */
static int opt_string(json_t *obj, const char *key, char **out)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	s = jstring_clean(v);
	if (!s)
		return HD_EINVAL;
	*out = xstrdup(s);
	return 0;
}

static int parse_header(json_t *val, struct api_commit *c, char *err, size_t err_size, size_t line)
{
	static const char *const known[] = {"summary", "description", "parentCommit", NULL};
	const char *bad = NULL;
	const char *summary;
	if (!keys_known(val, known, &bad))
		return hd_fail(err, err_size, HD_EINVAL, "line %zu: unknown header field '%s'",
		               line, bad);
	summary = jstring_clean(json_object_get(val, "summary"));
	if (!summary)
		return hd_fail(err, err_size, HD_EINVAL,
		               "line %zu: header needs a string 'summary'", line);
	c->summary = xstrdup(summary);
	if (opt_string(val, "description", &c->description) < 0)
		return hd_fail(err, err_size, HD_EINVAL,
		               "line %zu: header 'description' must be a string", line);
	if (opt_string(val, "parentCommit", &c->parent_commit) < 0)
		return hd_fail(err, err_size, HD_EINVAL,
		               "line %zu: header 'parentCommit' must be a string", line);
	return 0;
}

static int parse_op(const char *key, json_t *val, struct hub_commit_op *op, char *err,
                    size_t err_size, size_t line)
{
	static const char *const k_file[] = {"path", "content", "encoding", NULL};
	static const char *const k_lfs[] = {"path", "algo", "oid", "size", NULL};
	static const char *const k_del[] = {"path", NULL};
	const char *bad = NULL, *path;

	memset(op, 0, sizeof(*op));
	if (!strcmp(key, "file")) {
		op->kind = HUB_OP_FILE;
		if (!keys_known(val, k_file, &bad))
			goto unknown;
	} else if (!strcmp(key, "lfsFile")) {
		op->kind = HUB_OP_LFS_FILE;
		if (!keys_known(val, k_lfs, &bad))
			goto unknown;
	} else if (!strcmp(key, "deletedFile") || !strcmp(key, "deletedFolder")) {
		op->kind = strcmp(key, "deletedFile") ? HUB_OP_DELETE_FOLDER : HUB_OP_DELETE_FILE;
		if (!keys_known(val, k_del, &bad))
			goto unknown;
	} else {
		return hd_fail(err, err_size, HD_EINVAL, "line %zu: unknown operation key '%s'",
		               line, key);
	}
	path = jstring_clean(json_object_get(val, "path"));
	if (!path)
		return hd_fail(err, err_size, HD_EINVAL, "line %zu: %s needs a string 'path'", line,
		               key);
	op->path = xstrdup(path);

	if (op->kind == HUB_OP_FILE) {
		json_t *jc = json_object_get(val, "content");
		const char *enc = NULL;
		json_t *je = json_object_get(val, "encoding");
		if (!json_is_string(jc))
			return hd_fail(err, err_size, HD_EINVAL,
			               "line %zu: file needs a string 'content'", line);
		if (je && !json_is_null(je)) {
			enc = jstring_clean(je);
			if (!enc)
				return hd_fail(err, err_size, HD_EINVAL,
				               "line %zu: 'encoding' must be a string", line);
		}
		if (enc && !strcmp(enc, "base64")) {
			unsigned char *bytes;
			size_t len;
			if (api_base64_decode(json_string_value(jc), json_string_length(jc), &bytes,
			                      &len) < 0)
				return hd_fail(err, err_size, HD_EINVAL,
				               "line %zu: 'content' of %s is not valid base64",
				               line, path);
			op->content = bytes;
			op->content_size = len;
		} else if (!enc || !strcmp(enc, "utf-8") || !strcmp(enc, "utf8")) {
			size_t len = json_string_length(jc);
			char *bytes = xmalloc(len + 1);
			memcpy(bytes, json_string_value(jc), len + 1);
			op->content = bytes;
			op->content_size = len;
		} else {
			return hd_fail(err, err_size, HD_EINVAL, "line %zu: unknown encoding '%s'",
			               line, enc);
		}
	} else if (op->kind == HUB_OP_LFS_FILE) {
		json_t *ja = json_object_get(val, "algo");
		json_t *js = json_object_get(val, "size");
		const char *oid = jstring_clean(json_object_get(val, "oid"));
		if (ja && (!jstring_clean(ja) || strcmp(json_string_value(ja), "sha256")))
			return hd_fail(err, err_size, HD_EINVAL,
			               "line %zu: lfsFile 'algo' must be \"sha256\"", line);
		if (!oid_ok(oid))
			return hd_fail(
			        err, err_size, HD_EINVAL,
			        "line %zu: lfsFile 'oid' must be 64 lowercase hex characters",
			        line);
		op->lfs_oid = xstrdup(oid);
		op->lfs_size = -1;
		if (js && !json_is_null(js)) {
			if (!json_is_integer(js) || json_integer_value(js) < 0)
				return hd_fail(err, err_size, HD_EINVAL,
				               "line %zu: lfsFile 'size' must be an integer >= 0",
				               line);
			op->lfs_size = (int64_t)json_integer_value(js);
		}
	}
	return 0;
unknown:
	return hd_fail(err, err_size, HD_EINVAL, "line %zu: unknown %s field '%s'", line, key, bad);
}

int api_commit_parse(const char *body, size_t n, size_t max_ops, struct api_commit *out, char *err,
                     size_t err_size)
{
	size_t cap = 0, line_no = 0;
	const char *p = body, *end = body + n;
	json_t *obj = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t len = (size_t)(le - p);
		json_error_t jerr;
		json_t *jkey, *val;
		const char *key, *bad = NULL;
		static const char *const top[] = {"key", "value", NULL};
		int blank = 1;

		line_no++;
		for (size_t i = 0; i < len; i++)
			if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') {
				blank = 0;
				break;
			}
		if (blank)
			goto next;
		obj = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr);
		if (!obj) {
			rc = hd_fail(err, err_size, HD_EINVAL, "line %zu: malformed JSON: %s",
			             line_no, jerr.text);
			goto fail;
		}
		if (!json_is_object(obj)) {
			rc = hd_fail(err, err_size, HD_EINVAL, "line %zu: expected a JSON object",
			             line_no);
			goto fail_obj;
		}
		if (!keys_known(obj, top, &bad)) {
			rc = hd_fail(err, err_size, HD_EINVAL, "line %zu: unknown field '%s'",
			             line_no, bad);
			goto fail_obj;
		}
		jkey = json_object_get(obj, "key");
		val = json_object_get(obj, "value");
		key = jstring_clean(jkey);
		if (!key || !json_is_object(val)) {
			rc = hd_fail(err, err_size, HD_EINVAL,
			             "line %zu: expected {\"key\": string, \"value\": object}",
			             line_no);
			goto fail_obj;
		}
		if (!strcmp(key, "header")) {
			if (out->summary || out->n_ops) {
				rc = hd_fail(err, err_size, HD_EINVAL,
				             "line %zu: the header must come first, once", line_no);
				goto fail_obj;
			}
			rc = parse_header(val, out, err, err_size, line_no);
			if (rc < 0)
				goto fail_obj;
		} else {
			if (!out->summary) {
				rc = hd_fail(err, err_size, HD_EINVAL,
				             "line %zu: the first line must be the header",
				             line_no);
				goto fail_obj;
			}
			if (out->n_ops >= max_ops) {
				rc = hd_fail(err, err_size, HD_ETOOBIG,
				             "too many operations in one commit (limit %zu)",
				             max_ops);
				goto fail_obj;
			}
			if (out->n_ops == cap) {
				cap = cap ? cap * 2 : 16;
				out->ops = xrealloc(out->ops, cap * sizeof(*out->ops));
			}
			rc = parse_op(key, val, &out->ops[out->n_ops], err, err_size, line_no);
			out->n_ops++; /* counted even on failure so release frees its strings */
			if (rc < 0)
				goto fail_obj;
		}
		json_decref(obj);
		obj = NULL;
	next:
		p = nl ? nl + 1 : end;
	}
	if (!out->summary) {
		rc = hd_fail(err, err_size, HD_EINVAL, "the commit has no header line");
		goto fail;
	}
	return 0;
fail_obj:
	json_decref(obj);
fail:
	api_commit_release(out);
	return rc;
}

/* ---- the LFS batch request ---------------------------------------------------------- */

void api_lfs_batch_release(struct api_lfs_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_objs; i++)
		free((char *)b->objs[i].oid);
	free(b->objs);
	free(b->ref_name);
	memset(b, 0, sizeof(*b));
}

int api_lfs_batch_parse(const char *body, size_t n, size_t max_objs, struct api_lfs_batch *out,
                        char *err, size_t err_size)
{
	json_error_t jerr;
	json_t *root, *v, *objs;
	const char *s;
	int rc = HD_EINVAL;

	memset(out, 0, sizeof(*out));
	root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return hd_fail(err, err_size, HD_EINVAL, "malformed JSON: %s", jerr.text);
	if (!json_is_object(root)) {
		hd_fail(err, err_size, HD_EINVAL, "expected a JSON object");
		goto out;
	}
	s = jstring_clean(json_object_get(root, "operation"));
	if (s && !strcmp(s, "upload")) {
		out->op = HUB_LFS_UPLOAD;
	} else if (s && !strcmp(s, "download")) {
		out->op = HUB_LFS_DOWNLOAD;
	} else {
		hd_fail(err, err_size, HD_EINVAL, "'operation' must be \"upload\" or \"download\"");
		goto out;
	}
	v = json_object_get(root, "transfers");
	if (!v || json_is_null(v)) {
		out->basic_ok = 1;
	} else if (json_is_array(v)) {
		size_t i;
		json_t *t;
		json_array_foreach(v, i, t)
		{
			const char *name = jstring_clean(t);
			if (!name) {
				hd_fail(err, err_size, HD_EINVAL, "'transfers' must hold strings");
				goto out;
			}
			if (!strcmp(name, "basic"))
				out->basic_ok = 1;
			else if (!strcmp(name, "multipart"))
				out->multipart_ok = 1;
		}
	} else {
		hd_fail(err, err_size, HD_EINVAL, "'transfers' must be an array");
		goto out;
	}
	v = json_object_get(root, "hash_algo");
	if (v && !json_is_null(v)) {
		s = jstring_clean(v);
		if (!s || (strcmp(s, "sha256") && strcmp(s, "sha_256"))) {
			hd_fail(err, err_size, HD_EINVAL, "unsupported hash_algo (only sha256)");
			goto out;
		}
	}
	v = json_object_get(root, "ref");
	if (v && !json_is_null(v)) {
		json_t *name = json_is_object(v) ? json_object_get(v, "name") : NULL;
		if (!json_is_object(v) || (name && !json_is_null(name) && !jstring_clean(name))) {
			hd_fail(err, err_size, HD_EINVAL, "'ref' must be {\"name\": string}");
			goto out;
		}
		if (name && json_is_string(name))
			out->ref_name = xstrdup(json_string_value(name));
	}
	objs = json_object_get(root, "objects");
	if (!json_is_array(objs)) {
		hd_fail(err, err_size, HD_EINVAL, "'objects' must be an array");
		goto out;
	}
	if (json_array_size(objs) > max_objs) {
		rc = hd_fail(err, err_size, HD_ETOOBIG, "too many objects in one batch (limit %zu)",
		             max_objs);
		goto out;
	}
	out->objs = xcalloc(json_array_size(objs) + 1, sizeof(*out->objs));
	for (size_t i = 0; i < json_array_size(objs); i++) {
		json_t *o = json_array_get(objs, i);
		json_t *js = json_is_object(o) ? json_object_get(o, "size") : NULL;
		const char *oid =
		        json_is_object(o) ? jstring_clean(json_object_get(o, "oid")) : NULL;
		if (!oid_ok(oid)) {
			hd_fail(err, err_size, HD_EINVAL,
			        "objects[%zu].oid must be 64 lowercase hex characters", i);
			goto out;
		}
		if (!json_is_integer(js) || json_integer_value(js) < 0) {
			hd_fail(err, err_size, HD_EINVAL,
			        "objects[%zu].size must be an integer >= 0", i);
			goto out;
		}
		out->objs[out->n_objs].oid = xstrdup(oid);
		out->objs[out->n_objs].size = (int64_t)json_integer_value(js);
		out->n_objs++;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		api_lfs_batch_release(out);
	return rc;
}

/* ---- the multipart completion body ------------------------------------------------------ */

int api_lfs_complete_parse(const char *body, size_t n, const char *expect_oid, size_t n_parts,
                           char ***etags, char *err, size_t err_size)
{
	json_error_t jerr;
	json_t *root, *parts;
	const char *oid;
	char **v = NULL;
	size_t text = 0;
	int rc = HD_EINVAL;

	*etags = NULL;
	root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return hd_fail(err, err_size, HD_EINVAL, "malformed JSON: %s", jerr.text);
	oid = json_is_object(root) ? jstring_clean(json_object_get(root, "oid")) : NULL;
	parts = json_is_object(root) ? json_object_get(root, "parts") : NULL;
	if (!oid || strcmp(oid, expect_oid)) {
		hd_fail(err, err_size, HD_EINVAL, "'oid' does not match the upload");
		goto out;
	}
	if (!json_is_array(parts) || json_array_size(parts) != n_parts) {
		hd_fail(err, err_size, HD_EINVAL, "'parts' must list all %zu parts", n_parts);
		goto out;
	}
	/* First pass: check and size; second: copy into one allocation. */
	{
		const char **tmp = xcalloc(n_parts + 1, sizeof(*tmp));
		char *dst;
		for (size_t i = 0; i < n_parts; i++) {
			json_t *p = json_array_get(parts, i);
			json_t *jn = json_is_object(p) ? json_object_get(p, "partNumber") : NULL;
			const char *etag = json_is_object(p)
			                           ? jstring_clean(json_object_get(p, "etag"))
			                           : NULL;
			json_int_t no;
			if (!json_is_integer(jn) || !etag) {
				free(tmp);
				hd_fail(err, err_size, HD_EINVAL,
				        "parts[%zu] needs an integer 'partNumber' and a string "
				        "'etag'",
				        i);
				goto out;
			}
			no = json_integer_value(jn);
			if (no < 1 || (size_t)no > n_parts || tmp[no - 1]) {
				free(tmp);
				hd_fail(err, err_size, HD_EINVAL,
				        "parts[%zu].partNumber is out of range or repeated", i);
				goto out;
			}
			tmp[no - 1] = etag;
			text += strlen(etag) + 1;
		}
		v = xmalloc(n_parts * sizeof(*v) + text + 1);
		dst = (char *)(v + n_parts);
		for (size_t i = 0; i < n_parts; i++) {
			size_t l = strlen(tmp[i]) + 1;
			memcpy(dst, tmp[i], l);
			v[i] = dst;
			dst += l;
		}
		free(tmp);
	}
	*etags = v;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

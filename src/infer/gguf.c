/*
 * gguf.c: the GGUF reader (v2, v3) and writer (v3).
 *
 * File layout (little-endian):
 *   u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x { string key, u32 type, value },
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset },
 *   padding to general.alignment (default 32), the data section.
 * A string is u64 length + bytes; an array is u32 element type + u64 count
 * + elements.
 *
 * The reader trusts nothing: every count is bounded by the bytes left in
 * the file before anything is allocated for it, so a hostile header cannot
 * make us allocate more than a small multiple of the file's own size.
 */
#include "infer/gguf.h"

#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" read as a little-endian u32 */
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_ALIGNMENT (1u << 20)
#define GGUF_MAX_DIMS 4

/* ---- hash index over keys and tensor names ----------------------------- */

struct gguf_index {
	uint64_t kv_cap; /* power of two; slots hold index + 1, 0 = empty */
	uint64_t *kv_slots;
	uint64_t t_cap;
	uint64_t *t_slots;
};

static uint64_t hash_bytes(const char *p, uint64_t n)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (uint64_t i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static int str_eq2(struct gguf_str a, const char *b, uint64_t blen)
{
	return a.len == blen && (blen == 0 || memcmp(a.data, b, blen) == 0);
}

static uint64_t index_cap(uint64_t n)
{
	uint64_t cap = 16;
	while (cap < 2 * n)
		cap <<= 1;
	return cap;
}

/* ---- reader -------------------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t size;
	size_t pos;
	char *err;
	size_t err_size;
};

static size_t rd_left(const struct rd *r)
{
	return r->size - r->pos;
}

static int rd_need(struct rd *r, size_t n, const char *what)
{
	if (n > rd_left(r))
		return hd_fail(r->err, r->err_size, HD_ECORRUPT,
		               "gguf: truncated file: %s needs %zu bytes at offset %zu, %zu left",
		               what, n, r->pos, rd_left(r));
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *what)
{
	int rc = rd_need(r, 4, what);
	if (rc)
		return rc;
	memcpy(v, r->p + r->pos, 4);
	r->pos += 4;
	return 0;
}

static int rd_u64(struct rd *r, uint64_t *v, const char *what)
{
	int rc = rd_need(r, 8, what);
	if (rc)
		return rc;
	memcpy(v, r->p + r->pos, 8);
	r->pos += 8;
	return 0;
}

static int rd_str(struct rd *r, struct gguf_str *s, const char *what)
{
	uint64_t len;
	int rc = rd_u64(r, &len, what);
	if (rc)
		return rc;
	if (len > rd_left(r))
		return hd_fail(
		        r->err, r->err_size, HD_ECORRUPT,
		        "gguf: %s: string length %llu at offset %zu runs past the end of the "
		        "file",
		        what, (unsigned long long)len, r->pos - 8);
	s->data = (const char *)r->p + r->pos;
	s->len = len;
	r->pos += (size_t)len;
	return 0;
}

/* Size of a scalar of type t, 0 for strings/arrays, -1 for unknown types. */
static int scalar_size(uint32_t t)
{
	switch (t) {
	case GGUF_TYPE_UINT8:
	case GGUF_TYPE_INT8:
	case GGUF_TYPE_BOOL: return 1;
	case GGUF_TYPE_UINT16:
	case GGUF_TYPE_INT16: return 2;
	case GGUF_TYPE_UINT32:
	case GGUF_TYPE_INT32:
	case GGUF_TYPE_FLOAT32: return 4;
	case GGUF_TYPE_UINT64:
	case GGUF_TYPE_INT64:
	case GGUF_TYPE_FLOAT64: return 8;
	case GGUF_TYPE_STRING:
	case GGUF_TYPE_ARRAY: return 0;
	default: return -1;
	}
}

struct strpool {
	struct gguf_str *v;
	uint64_t n, cap;
};

static uint64_t pool_push(struct strpool *sp, struct gguf_str s)
{
	if (sp->n == sp->cap) {
		sp->cap = sp->cap ? sp->cap * 2 : 64;
		sp->v = xrealloc(sp->v, sp->cap * sizeof(*sp->v));
	}
	sp->v[sp->n] = s;
	return sp->n++;
}

static int read_kv(struct rd *r, struct gguf_kv *kv, struct strpool *sp, uint64_t *str_first,
                   uint64_t idx)
{
	uint32_t type;
	int rc;

	rc = rd_str(r, &kv->key, "key");
	if (rc)
		return rc;
	if (kv->key.len == 0)
		return hd_fail(r->err, r->err_size, HD_ECORRUPT, "gguf: key %llu is empty",
		               (unsigned long long)idx);
	rc = rd_u32(r, &type, "value type");
	if (rc)
		return rc;
	if (scalar_size(type) < 0)
		return hd_fail(r->err, r->err_size, HD_ECORRUPT,
		               "gguf: key '%.*s' has unknown value type %u",
		               (int)HD_MIN(kv->key.len, 200), kv->key.data, type);
	kv->type = (enum gguf_type)type;
	kv->arr_type = kv->type;
	kv->arr_n = 1;
	kv->data = r->p + r->pos;
	*str_first = UINT64_MAX;

	if (type == GGUF_TYPE_STRING) {
		struct gguf_str s;
		rc = rd_str(r, &s, "string value");
		if (rc)
			return rc;
		*str_first = pool_push(sp, s);
		return 0;
	}
	if (type != GGUF_TYPE_ARRAY) {
		int n = scalar_size(type);
		rc = rd_need(r, (size_t)n, "value");
		if (rc)
			return rc;
		r->pos += (size_t)n;
		return 0;
	}

	uint32_t et;
	uint64_t n;
	rc = rd_u32(r, &et, "array element type");
	if (!rc)
		rc = rd_u64(r, &n, "array length");
	if (rc)
		return rc;
	if (et == GGUF_TYPE_ARRAY || scalar_size(et) < 0)
		return hd_fail(r->err, r->err_size, HD_ECORRUPT,
		               "gguf: key '%.*s': array element type %u is not allowed",
		               (int)HD_MIN(kv->key.len, 200), kv->key.data, et);
	kv->arr_type = (enum gguf_type)et;
	kv->arr_n = n;
	kv->data = r->p + r->pos;
	if (et == GGUF_TYPE_STRING) {
		/* each element takes at least its 8-byte length */
		if (n > rd_left(r) / 8)
			return hd_fail(
			        r->err, r->err_size, HD_ECORRUPT,
			        "gguf: key '%.*s': %llu strings cannot fit in the %zu bytes left",
			        (int)HD_MIN(kv->key.len, 200), kv->key.data, (unsigned long long)n,
			        rd_left(r));
		*str_first = sp->n;
		for (uint64_t i = 0; i < n; i++) {
			struct gguf_str s;
			rc = rd_str(r, &s, "array string");
			if (rc)
				return rc;
			pool_push(sp, s);
		}
		return 0;
	}
	size_t es = (size_t)scalar_size(et);
	if (n > rd_left(r) / es)
		return hd_fail(
		        r->err, r->err_size, HD_ECORRUPT,
		        "gguf: key '%.*s': array of %llu elements of %zu bytes runs past the end "
		        "of the file",
		        (int)HD_MIN(kv->key.len, 200), kv->key.data, (unsigned long long)n, es);
	r->pos += (size_t)n * es;
	return 0;
}

static int read_tensor_info(struct rd *r, struct gguf_tensor *t, uint64_t idx)
{
	uint32_t n_dims, type;
	int rc;

	rc = rd_str(r, &t->name, "tensor name");
	if (rc)
		return rc;
	if (t->name.len == 0)
		return hd_fail(r->err, r->err_size, HD_ECORRUPT, "gguf: tensor %llu has no name",
		               (unsigned long long)idx);
	rc = rd_u32(r, &n_dims, "tensor n_dims");
	if (rc)
		return rc;
	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return hd_fail(r->err, r->err_size, HD_ECORRUPT,
		               "gguf: tensor '%.*s' has %u dimensions (1 to %d allowed)",
		               (int)HD_MIN(t->name.len, 200), t->name.data, n_dims, GGUF_MAX_DIMS);
	t->n_dims = n_dims;
	for (int i = 0; i < 4; i++)
		t->ne[i] = 1;
	for (uint32_t i = 0; i < n_dims; i++) {
		uint64_t d;
		rc = rd_u64(r, &d, "tensor dimension");
		if (rc)
			return rc;
		if (d == 0 || d > (uint64_t)INT64_MAX)
			return hd_fail(r->err, r->err_size, HD_ECORRUPT,
			               "gguf: tensor '%.*s': dimension %u is %llu",
			               (int)HD_MIN(t->name.len, 200), t->name.data, i,
			               (unsigned long long)d);
		t->ne[i] = (int64_t)d;
	}
	/* the element count must fit int64 (ggml's convention) */
	int64_t nel = 1;
	for (int i = 0; i < 4; i++) {
		if (t->ne[i] > INT64_MAX / nel)
			return hd_fail(r->err, r->err_size, HD_ECORRUPT,
			               "gguf: tensor '%.*s': element count overflows",
			               (int)HD_MIN(t->name.len, 200), t->name.data);
		nel *= t->ne[i];
	}
	rc = rd_u32(r, &type, "tensor type");
	if (!rc)
		rc = rd_u64(r, &t->offset, "tensor offset");
	if (rc)
		return rc;
	const struct tensor_type_info *ti = tensor_type_info(type);
	if (!ti)
		return hd_fail(r->err, r->err_size, HD_EUNSUPPORTED,
		               "gguf: tensor '%.*s' has unknown type %u",
		               (int)HD_MIN(t->name.len, 200), t->name.data, type);
	t->type = type;
	rc = tensor_nbytes(type, t->ne, (int)n_dims, &t->size);
	if (rc == HD_EINVAL)
		return hd_fail(
		        r->err, r->err_size, HD_ECORRUPT,
		        "gguf: tensor '%.*s': row length %lld is not a multiple of %s's block "
		        "size %lld",
		        (int)HD_MIN(t->name.len, 200), t->name.data, (long long)t->ne[0], ti->name,
		        (long long)ti->block_size);
	if (rc)
		return hd_fail(r->err, r->err_size, HD_ECORRUPT,
		               "gguf: tensor '%.*s': byte size overflows",
		               (int)HD_MIN(t->name.len, 200), t->name.data);
	return 0;
}

static int build_index(struct gguf_file *f, char *err, size_t err_size)
{
	struct gguf_index *ix = xcalloc(1, sizeof(*ix));
	f->index = ix;
	ix->kv_cap = index_cap(f->n_kv);
	ix->kv_slots = xcalloc(ix->kv_cap, sizeof(uint64_t));
	for (uint64_t i = 0; i < f->n_kv; i++) {
		struct gguf_str k = f->kv[i].key;
		uint64_t h = hash_bytes(k.data, k.len) & (ix->kv_cap - 1);
		while (ix->kv_slots[h]) {
			if (str_eq2(f->kv[ix->kv_slots[h] - 1].key, k.data, k.len))
				return hd_fail(err, err_size, HD_ECORRUPT,
				               "gguf: duplicate key '%.*s'",
				               (int)HD_MIN(k.len, 200), k.data);
			h = (h + 1) & (ix->kv_cap - 1);
		}
		ix->kv_slots[h] = i + 1;
	}
	ix->t_cap = index_cap(f->n_tensors);
	ix->t_slots = xcalloc(ix->t_cap, sizeof(uint64_t));
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		struct gguf_str k = f->tensors[i].name;
		uint64_t h = hash_bytes(k.data, k.len) & (ix->t_cap - 1);
		while (ix->t_slots[h]) {
			if (str_eq2(f->tensors[ix->t_slots[h] - 1].name, k.data, k.len))
				return hd_fail(err, err_size, HD_ECORRUPT,
				               "gguf: duplicate tensor '%.*s'",
				               (int)HD_MIN(k.len, 200), k.data);
			h = (h + 1) & (ix->t_cap - 1);
		}
		ix->t_slots[h] = i + 1;
	}
	return 0;
}

static int parse(struct gguf_file *f, char *err, size_t err_size)
{
	struct rd r = {f->base, f->size, 0, err, err_size};
	struct strpool sp = {0};
	uint64_t *str_first = NULL;
	uint32_t magic, version;
	int rc;

	rc = rd_u32(&r, &magic, "magic");
	if (rc)
		return rc;
	if (magic != GGUF_MAGIC)
		return hd_fail(err, err_size, HD_ECORRUPT, "gguf: not a GGUF file (bad magic)");
	rc = rd_u32(&r, &version, "version");
	if (rc)
		return rc;
	if (version == 1)
		return hd_fail(err, err_size, HD_EUNSUPPORTED,
		               "gguf: version 1 files are not supported (convert to v3)");
	if (version != 2 && version != 3) {
		if ((version & 0xffff) == 0)
			return hd_fail(err, err_size, HD_EUNSUPPORTED,
			               "gguf: big-endian files are not supported");
		return hd_fail(err, err_size, HD_EUNSUPPORTED, "gguf: unknown version %u", version);
	}
	f->version = version;
	rc = rd_u64(&r, &f->n_tensors, "tensor count");
	if (!rc)
		rc = rd_u64(&r, &f->n_kv, "key/value count");
	if (rc)
		return rc;
	/* A KV takes at least 8 (key length) + 1 (key) + 4 (type) + 1 bytes, a
	 * tensor info at least 8 + 1 + 4 + 8 + 4 + 8: counts beyond what the
	 * file can hold are refused before anything is allocated for them. */
	if (f->n_kv > rd_left(&r) / 14)
		return hd_fail(err, err_size, HD_ECORRUPT,
		               "gguf: key/value count %llu cannot fit in a %zu-byte file",
		               (unsigned long long)f->n_kv, f->size);
	if (f->n_tensors > rd_left(&r) / 33)
		return hd_fail(err, err_size, HD_ECORRUPT,
		               "gguf: tensor count %llu cannot fit in a %zu-byte file",
		               (unsigned long long)f->n_tensors, f->size);

	f->kv = xcalloc(f->n_kv ? f->n_kv : 1, sizeof(*f->kv));
	str_first = xcalloc(f->n_kv ? f->n_kv : 1, sizeof(*str_first));
	for (uint64_t i = 0; i < f->n_kv; i++) {
		rc = read_kv(&r, &f->kv[i], &sp, &str_first[i], i);
		if (rc)
			goto out;
	}
	f->str_pool = sp.v;
	sp.v = NULL;
	for (uint64_t i = 0; i < f->n_kv; i++)
		f->kv[i].strs = str_first[i] == UINT64_MAX || !f->str_pool
		                        ? NULL /* not a string, or an empty array with no strings */
		                        : &f->str_pool[str_first[i]];

	/* general.alignment */
	f->alignment = GGUF_DEFAULT_ALIGNMENT;
	const struct gguf_kv *akv = NULL;
	for (uint64_t i = 0; i < f->n_kv; i++)
		if (gguf_str_eq(f->kv[i].key, "general.alignment"))
			akv = &f->kv[i];
	if (akv) {
		uint32_t a;
		if (akv->type != GGUF_TYPE_UINT32) {
			rc = hd_fail(err, err_size, HD_ECORRUPT,
			             "gguf: general.alignment must be a uint32 (type %u)",
			             akv->type);
			goto out;
		}
		memcpy(&a, akv->data, 4);
		if (a == 0 || (a & (a - 1)) || a > GGUF_MAX_ALIGNMENT) {
			rc = hd_fail(err, err_size, HD_ECORRUPT,
			             "gguf: general.alignment %u is not a power of two in [1, %u]",
			             a, GGUF_MAX_ALIGNMENT);
			goto out;
		}
		f->alignment = a;
	}

	f->tensors = xcalloc(f->n_tensors ? f->n_tensors : 1, sizeof(*f->tensors));
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		rc = read_tensor_info(&r, &f->tensors[i], i);
		if (rc)
			goto out;
	}

	rc = build_index(f, err, err_size);
	if (rc)
		goto out;

	/* The data section starts at the next multiple of the alignment. */
	size_t pad = (f->alignment - r.pos % f->alignment) % f->alignment;
	if (pad > rd_left(&r)) {
		if (f->n_tensors) {
			rc = hd_fail(err, err_size, HD_ECORRUPT,
			             "gguf: the data section would start past the end of the file");
			goto out;
		}
		pad = rd_left(&r);
	}
	f->data_offset = r.pos + pad;
	size_t data_size = f->size - f->data_offset;
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		struct gguf_tensor *t = &f->tensors[i];
		if (t->offset % f->alignment) {
			rc = hd_fail(err, err_size, HD_ECORRUPT,
			             "gguf: tensor '%.*s': offset %llu is not aligned to %zu",
			             (int)HD_MIN(t->name.len, 200), t->name.data,
			             (unsigned long long)t->offset, f->alignment);
			goto out;
		}
		if (t->offset > data_size || t->size > data_size - t->offset) {
			rc = hd_fail(
			        err, err_size, HD_ECORRUPT,
			        "gguf: tensor '%.*s': %zu bytes at offset %llu run past the end "
			        "of the file (%zu data bytes)",
			        (int)HD_MIN(t->name.len, 200), t->name.data, t->size,
			        (unsigned long long)t->offset, data_size);
			goto out;
		}
		t->data = f->base + f->data_offset + t->offset;
	}
	rc = 0;
out:
	free(sp.v);
	free(str_first);
	return rc;
}

static void file_free(struct gguf_file *f)
{
	if (!f)
		return;
	if (f->index) {
		struct gguf_index *ix = f->index;
		free(ix->kv_slots);
		free(ix->t_slots);
		free(ix);
	}
	free(f->kv);
	free(f->tensors);
	free(f->str_pool);
	if (f->map)
		munmap(f->map, f->map_size);
	free(f);
}

int gguf_parse(const void *data, size_t size, struct gguf_file **out, char *err, size_t err_size)
{
	struct gguf_file *f = xcalloc(1, sizeof(*f));
	int rc;

	*out = NULL;
	f->base = data;
	f->size = size;
	rc = parse(f, err, err_size);
	if (rc) {
		file_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

int gguf_open_fd(int fd, struct gguf_file **out, char *err, size_t err_size)
{
	struct stat st;
	void *map;
	int rc;

	*out = NULL;
	if (fstat(fd, &st) < 0)
		return hd_fail(err, err_size, -errno, "gguf: stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return hd_fail(err, err_size, HD_EINVAL, "gguf: not a regular file");
	if (st.st_size < 24)
		return hd_fail(err, err_size, HD_ECORRUPT,
		               "gguf: file is %lld bytes, too small for a GGUF header",
		               (long long)st.st_size);
	if ((uint64_t)st.st_size > SIZE_MAX)
		return hd_fail(err, err_size, HD_ETOOBIG, "gguf: file too large");
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return hd_fail(err, err_size, -errno, "gguf: mmap: %s", strerror(errno));
	rc = gguf_parse(map, (size_t)st.st_size, out, err, err_size);
	if (rc) {
		munmap(map, (size_t)st.st_size);
		return rc;
	}
	(*out)->map = map;
	(*out)->map_size = (size_t)st.st_size;
	return 0;
}

int gguf_open(const char *path, struct gguf_file **out, char *err, size_t err_size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	*out = NULL;
	if (fd < 0)
		return hd_fail(err, err_size, -errno, "%s: %s", path, strerror(errno));
	rc = gguf_open_fd(fd, out, err, err_size);
	close(fd);
	return rc;
}

void gguf_close(struct gguf_file *f)
{
	file_free(f);
}

/* ---- lookups ------------------------------------------------------------- */

int gguf_str_eq(struct gguf_str s, const char *c)
{
	return str_eq2(s, c, strlen(c));
}

const struct gguf_kv *gguf_find(const struct gguf_file *f, const char *key)
{
	const struct gguf_index *ix = f->index;
	uint64_t n = strlen(key);
	uint64_t h = hash_bytes(key, n) & (ix->kv_cap - 1);
	while (ix->kv_slots[h]) {
		const struct gguf_kv *kv = &f->kv[ix->kv_slots[h] - 1];
		if (str_eq2(kv->key, key, n))
			return kv;
		h = (h + 1) & (ix->kv_cap - 1);
	}
	return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name)
{
	const struct gguf_index *ix = f->index;
	uint64_t n = strlen(name);
	uint64_t h = hash_bytes(name, n) & (ix->t_cap - 1);
	while (ix->t_slots[h]) {
		const struct gguf_tensor *t = &f->tensors[ix->t_slots[h] - 1];
		if (str_eq2(t->name, name, n))
			return t;
		h = (h + 1) & (ix->t_cap - 1);
	}
	return NULL;
}

/* Reads an integer scalar as a signed/unsigned pair: *neg set when the
 * value is negative (then *mag is its absolute value). */
static int kv_int(const struct gguf_kv *kv, int *neg, uint64_t *mag)
{
	const uint8_t *p = kv->data;
	*neg = 0;
	switch (kv->type) {
	case GGUF_TYPE_UINT8: *mag = p[0]; return 0;
	case GGUF_TYPE_INT8: {
		int8_t v = (int8_t)p[0];
		*neg = v < 0;
		*mag = v < 0 ? (uint64_t)(-(int64_t)v) : (uint64_t)v;
		return 0;
	}
	case GGUF_TYPE_UINT16: {
		uint16_t v;
		memcpy(&v, p, 2);
		*mag = v;
		return 0;
	}
	case GGUF_TYPE_INT16: {
		int16_t v;
		memcpy(&v, p, 2);
		*neg = v < 0;
		*mag = v < 0 ? (uint64_t)(-(int64_t)v) : (uint64_t)v;
		return 0;
	}
	case GGUF_TYPE_UINT32: {
		uint32_t v;
		memcpy(&v, p, 4);
		*mag = v;
		return 0;
	}
	case GGUF_TYPE_INT32: {
		int32_t v;
		memcpy(&v, p, 4);
		*neg = v < 0;
		*mag = v < 0 ? (uint64_t)(-(int64_t)v) : (uint64_t)v;
		return 0;
	}
	case GGUF_TYPE_UINT64: memcpy(mag, p, 8); return 0;
	case GGUF_TYPE_INT64: {
		int64_t v;
		memcpy(&v, p, 8);
		*neg = v < 0;
		*mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
		return 0;
	}
	default: return HD_EINVAL;
	}
}

int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out)
{
	const struct gguf_kv *kv = gguf_find(f, key);
	int neg;
	uint64_t mag;
	if (!kv)
		return HD_ENOTFOUND;
	if (kv_int(kv, &neg, &mag) || (neg && mag) || mag > UINT32_MAX)
		return HD_EINVAL;
	*out = (uint32_t)mag;
	return 0;
}

int gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out)
{
	const struct gguf_kv *kv = gguf_find(f, key);
	int neg;
	uint64_t mag;
	if (!kv)
		return HD_ENOTFOUND;
	if (kv_int(kv, &neg, &mag))
		return HD_EINVAL;
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return HD_EINVAL;
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return HD_EINVAL;
		*out = (int64_t)mag;
	}
	return 0;
}

int gguf_get_f32(const struct gguf_file *f, const char *key, float *out)
{
	const struct gguf_kv *kv = gguf_find(f, key);
	if (!kv)
		return HD_ENOTFOUND;
	if (kv->type == GGUF_TYPE_FLOAT32) {
		memcpy(out, kv->data, 4);
		return 0;
	}
	if (kv->type == GGUF_TYPE_FLOAT64) {
		double d;
		memcpy(&d, kv->data, 8);
		*out = (float)d;
		return 0;
	}
	return HD_EINVAL;
}

int gguf_get_bool(const struct gguf_file *f, const char *key, int *out)
{
	const struct gguf_kv *kv = gguf_find(f, key);
	if (!kv)
		return HD_ENOTFOUND;
	if (kv->type != GGUF_TYPE_BOOL)
		return HD_EINVAL;
	*out = *(const uint8_t *)kv->data != 0;
	return 0;
}

int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out)
{
	const struct gguf_kv *kv = gguf_find(f, key);
	if (!kv)
		return HD_ENOTFOUND;
	if (kv->type != GGUF_TYPE_STRING)
		return HD_EINVAL;
	*out = kv->strs[0];
	return 0;
}

int gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_type *elem_type, uint64_t *n,
                 const struct gguf_kv **kvp)
{
	const struct gguf_kv *kv = gguf_find(f, key);
	if (!kv)
		return HD_ENOTFOUND;
	if (kv->type != GGUF_TYPE_ARRAY)
		return HD_EINVAL;
	if (elem_type)
		*elem_type = kv->arr_type;
	if (n)
		*n = kv->arr_n;
	if (kvp)
		*kvp = kv;
	return 0;
}

/* ---- writer -------------------------------------------------------------- */

struct wkv {
	char *key;
	struct buf val; /* serialized: u32 type + value */
};

struct wtensor {
	char *name;
	uint32_t type;
	int n_dims;
	int64_t ne[4];
	size_t size;
	void *data; /* owned copy, or NULL when fill is set */
	gguf_fill_fn fill;
	void *ctx;
};

struct gguf_writer {
	struct wkv *kv;
	size_t n_kv, cap_kv;
	struct wtensor *t;
	size_t n_t, cap_t;
	uint32_t alignment;
};

struct gguf_writer *gguf_writer_new(void)
{
	struct gguf_writer *w = xcalloc(1, sizeof(*w));
	w->alignment = GGUF_DEFAULT_ALIGNMENT;
	return w;
}

void gguf_writer_free(struct gguf_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_kv; i++) {
		free(w->kv[i].key);
		buf_release(&w->kv[i].val);
	}
	for (size_t i = 0; i < w->n_t; i++) {
		free(w->t[i].name);
		free(w->t[i].data);
	}
	free(w->kv);
	free(w->t);
	free(w);
}

/* The value buffer for key, emptied (an existing key is replaced in place). */
static struct buf *wkv_slot(struct gguf_writer *w, const char *key)
{
	for (size_t i = 0; i < w->n_kv; i++)
		if (!strcmp(w->kv[i].key, key)) {
			buf_reset(&w->kv[i].val);
			return &w->kv[i].val;
		}
	if (w->n_kv == w->cap_kv) {
		w->cap_kv = w->cap_kv ? w->cap_kv * 2 : 32;
		w->kv = xrealloc(w->kv, w->cap_kv * sizeof(*w->kv));
	}
	struct wkv *e = &w->kv[w->n_kv++];
	e->key = xstrdup(key);
	buf_init(&e->val);
	return &e->val;
}

static void put_u32(struct buf *b, uint32_t v)
{
	buf_append(b, &v, 4);
}

static void put_u64(struct buf *b, uint64_t v)
{
	buf_append(b, &v, 8);
}

static void put_str(struct buf *b, const char *s)
{
	size_t n = strlen(s);
	put_u64(b, n);
	buf_append(b, s, n);
}

void gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
	struct buf *b = wkv_slot(w, key);
	put_u32(b, GGUF_TYPE_UINT32);
	put_u32(b, v);
	if (!strcmp(key, "general.alignment") && v && !(v & (v - 1)) && v <= GGUF_MAX_ALIGNMENT)
		w->alignment = v;
}

void gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v)
{
	struct buf *b = wkv_slot(w, key);
	put_u32(b, GGUF_TYPE_INT32);
	buf_append(b, &v, 4);
}

void gguf_writer_set_u64(struct gguf_writer *w, const char *key, uint64_t v)
{
	struct buf *b = wkv_slot(w, key);
	put_u32(b, GGUF_TYPE_UINT64);
	put_u64(b, v);
}

void gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v)
{
	struct buf *b = wkv_slot(w, key);
	put_u32(b, GGUF_TYPE_FLOAT32);
	buf_append(b, &v, 4);
}

void gguf_writer_set_bool(struct gguf_writer *w, const char *key, int v)
{
	struct buf *b = wkv_slot(w, key);
	uint8_t c = v ? 1 : 0;
	put_u32(b, GGUF_TYPE_BOOL);
	buf_append(b, &c, 1);
}

void gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v)
{
	struct buf *b = wkv_slot(w, key);
	put_u32(b, GGUF_TYPE_STRING);
	put_str(b, v);
}

void gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *v, size_t n)
{
	struct buf *b = wkv_slot(w, key);
	put_u32(b, GGUF_TYPE_ARRAY);
	put_u32(b, GGUF_TYPE_STRING);
	put_u64(b, n);
	for (size_t i = 0; i < n; i++)
		put_str(b, v[i]);
}

void gguf_writer_set_arr_f32(struct gguf_writer *w, const char *key, const float *v, size_t n)
{
	struct buf *b = wkv_slot(w, key);
	put_u32(b, GGUF_TYPE_ARRAY);
	put_u32(b, GGUF_TYPE_FLOAT32);
	put_u64(b, n);
	buf_append(b, v, n * 4);
}

void gguf_writer_set_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v, size_t n)
{
	struct buf *b = wkv_slot(w, key);
	put_u32(b, GGUF_TYPE_ARRAY);
	put_u32(b, GGUF_TYPE_INT32);
	put_u64(b, n);
	buf_append(b, v, n * 4);
}

static int add_tensor(struct gguf_writer *w, const char *name, uint32_t type, int n_dims,
                      const int64_t *ne, struct wtensor **out)
{
	size_t size;
	int rc;

	if (!name || !*name || n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return HD_EINVAL;
	rc = tensor_nbytes(type, ne, n_dims, &size);
	if (rc)
		return rc;
	for (size_t i = 0; i < w->n_t; i++)
		if (!strcmp(w->t[i].name, name))
			return HD_EEXIST;
	if (w->n_t == w->cap_t) {
		w->cap_t = w->cap_t ? w->cap_t * 2 : 64;
		w->t = xrealloc(w->t, w->cap_t * sizeof(*w->t));
	}
	struct wtensor *t = &w->t[w->n_t++];
	memset(t, 0, sizeof(*t));
	t->name = xstrdup(name);
	t->type = type;
	t->n_dims = n_dims;
	for (int i = 0; i < 4; i++)
		t->ne[i] = i < n_dims ? ne[i] : 1;
	t->size = size;
	*out = t;
	return 0;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, int n_dims,
                           const int64_t *ne, const void *data, size_t n)
{
	struct wtensor *t;
	size_t size;
	int rc = tensor_nbytes(type, ne, n_dims, &size);
	if (rc)
		return rc;
	if (size != n)
		return HD_EINVAL;
	rc = add_tensor(w, name, type, n_dims, ne, &t);
	if (rc)
		return rc;
	t->data = xmalloc(n ? n : 1);
	memcpy(t->data, data, n);
	return 0;
}

int gguf_writer_add_tensor_fill(struct gguf_writer *w, const char *name, uint32_t type, int n_dims,
                                const int64_t *ne, gguf_fill_fn fill, void *ctx)
{
	struct wtensor *t;
	int rc;
	if (!fill)
		return HD_EINVAL;
	rc = add_tensor(w, name, type, n_dims, ne, &t);
	if (rc)
		return rc;
	t->fill = fill;
	t->ctx = ctx;
	return 0;
}

static int write_all(int fd, const void *data, size_t n)
{
	const char *p = data;
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static size_t align_up(size_t x, size_t a)
{
	return (x + a - 1) / a * a;
}

int gguf_writer_write(struct gguf_writer *w, const char *path)
{
	struct buf hdr = BUF_INIT;
	static const uint8_t zeros[GGUF_DEFAULT_ALIGNMENT * 2];
	char *tmp = xasprintf("%s.tmp.%d.XXXXXX", path, (int)getpid());
	size_t off = 0;
	int fd, rc = 0;

	put_u32(&hdr, GGUF_MAGIC);
	put_u32(&hdr, 3);
	put_u64(&hdr, w->n_t);
	put_u64(&hdr, w->n_kv);
	for (size_t i = 0; i < w->n_kv; i++) {
		put_str(&hdr, w->kv[i].key);
		buf_append(&hdr, w->kv[i].val.data, w->kv[i].val.len);
	}
	for (size_t i = 0; i < w->n_t; i++) {
		struct wtensor *t = &w->t[i];
		put_str(&hdr, t->name);
		put_u32(&hdr, (uint32_t)t->n_dims);
		for (int d = 0; d < t->n_dims; d++)
			put_u64(&hdr, (uint64_t)t->ne[d]);
		put_u32(&hdr, t->type);
		put_u64(&hdr, off);
		off = align_up(off + t->size, w->alignment);
	}
	{
		size_t pad = align_up(hdr.len, w->alignment) - hdr.len;
		while (pad) {
			size_t k = HD_MIN(pad, sizeof(zeros));
			buf_append(&hdr, zeros, k);
			pad -= k;
		}
	}

	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	/* model files are meant to be shared (mkostemp creates them 0600) */
	if (fchmod(fd, 0644) < 0) {
		rc = -errno;
		close(fd);
		unlink(tmp);
		goto out;
	}
	rc = write_all(fd, hdr.data, hdr.len);
	for (size_t i = 0; i < w->n_t && !rc; i++) {
		struct wtensor *t = &w->t[i];
		if (t->fill) {
			void *scratch = xmalloc(t->size ? t->size : 1);
			rc = t->fill(t->ctx, scratch, t->size);
			if (!rc)
				rc = write_all(fd, scratch, t->size);
			free(scratch);
		} else {
			rc = write_all(fd, t->data, t->size);
		}
		size_t pad = align_up(t->size, w->alignment) - t->size;
		while (!rc && pad) {
			size_t k = HD_MIN(pad, sizeof(zeros));
			rc = write_all(fd, zeros, k);
			pad -= k;
		}
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		goto out;
	}
	{
		char *dir = xstrdup(path), *slash = strrchr(dir, '/');
		if (slash) {
			*slash = 0;
			rc = fs_fsync_dir(*dir ? dir : "/");
		} else {
			rc = fs_fsync_dir(".");
		}
		free(dir);
	}
out:
	free(tmp);
	buf_release(&hdr);
	return rc;
}

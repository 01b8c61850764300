/*
 * gguf.h: reading and writing GGUF files (v2 and v3).
 *
 * The reader maps the file (or parses a caller's buffer) and validates
 * every length, count, offset, alignment and type before use (SECURITY.md
 * F2): a hostile file gets an error with a message, never a crash or an
 * allocation sized by the file beyond what the file's own size justifies.
 * Strings and tensor data point into the mapping: they are borrowed and
 * live until gguf_close(). Strings are NOT NUL-terminated.
 */
#ifndef HD_INFER_GGUF_H
#define HD_INFER_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "infer/tensor.h"

enum gguf_type {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
};

struct gguf_str {
	const char *data; /* into the mapping; not NUL-terminated */
	uint64_t len;
};

struct gguf_kv {
	struct gguf_str key;
	enum gguf_type type; /* value type; GGUF_TYPE_ARRAY for arrays */
	enum gguf_type
	        arr_type; /* element type of an array (never ARRAY: nested arrays are refused) */
	uint64_t arr_n; /* number of array elements */
	const void *data; /* scalar value or first array element, in the mapping (unaligned) */
	const struct gguf_str *strs; /* for string arrays and string values: arr_n (or 1) entries */
};

struct gguf_tensor {
	struct gguf_str name;
	uint32_t n_dims; /* 1..4 */
	int64_t ne[4]; /* ne[0] is the row length; unused dims are 1 */
	uint32_t type; /* enum tensor_type, validated */
	uint64_t offset; /* relative to the data section, aligned */
	size_t size; /* bytes, from tensor_nbytes() */
	const void *data; /* into the mapping; offset+size checked against the file */
};

struct gguf_file {
	uint32_t version;
	uint64_t n_kv;
	struct gguf_kv *kv;
	uint64_t n_tensors;
	struct gguf_tensor *tensors;
	size_t alignment; /* general.alignment or 32 */
	size_t data_offset; /* start of the tensor data section in the file */
	const uint8_t *base; /* the whole file */
	size_t size;
	/* private */
	void *map;
	size_t map_size;
	struct gguf_str *str_pool;
	void *index; /* hash index over keys and tensor names */
};

/* Opens and validates a GGUF file (read-only mmap). 0 or a negative error
 * with a message in err. */
int gguf_open(const char *path, struct gguf_file **out, char *err, size_t err_size);
/* The same over an open fd (not closed; the mapping is kept). */
int gguf_open_fd(int fd, struct gguf_file **out, char *err, size_t err_size);
/* Parses a buffer that the caller keeps alive until gguf_close (for fuzzing
 * and in-memory files). */
int gguf_parse(const void *data, size_t size, struct gguf_file **out, char *err, size_t err_size);
void gguf_close(struct gguf_file *f);

/* Lookups. Return NULL / HD_ENOTFOUND when absent, HD_EINVAL when the
 * stored type does not convert without loss. Integer getters accept any
 * integer type whose value fits. */
const struct gguf_kv *gguf_find(const struct gguf_file *f, const char *key);
int gguf_get_u32(const struct gguf_file *f, const char *key, uint32_t *out);
int gguf_get_i64(const struct gguf_file *f, const char *key, int64_t *out);
int gguf_get_f32(const struct gguf_file *f, const char *key, float *out); /* f32 or f64 */
int gguf_get_bool(const struct gguf_file *f, const char *key, int *out);
int gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out);
/* Array of any element type: n elements starting at data (unaligned; for
 * strings use kv->strs). */
int gguf_get_arr(const struct gguf_file *f, const char *key, enum gguf_type *elem_type, uint64_t *n,
                 const struct gguf_kv **kv);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name);
/* 1 if s equals the NUL-terminated c. */
int gguf_str_eq(struct gguf_str s, const char *c);

/* ---- writer ----------------------------------------------------------
 * Builds a GGUF v3 file in memory order: key/values, tensor infos, then the
 * aligned data. Values are copied. gguf_writer_write publishes atomically.
 */
struct gguf_writer;
struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);
void gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_u64(struct gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(struct gguf_writer *w, const char *key, int v);
void gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v);
void gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *v,
                             size_t n);
void gguf_writer_set_arr_f32(struct gguf_writer *w, const char *key, const float *v, size_t n);
void gguf_writer_set_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v, size_t n);
/* data is n bytes already in the type's layout (tensor_nbytes of ne). */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, int n_dims,
                           const int64_t *ne, const void *data, size_t n);
/* A tensor whose bytes are produced at write time, for files too large to
 * hold in memory: fill(ctx, dst, n) writes the n bytes into dst and returns
 * 0 or a negative error (which aborts the write). ctx must live until
 * gguf_writer_write returns. */
typedef int (*gguf_fill_fn)(void *ctx, void *dst, size_t n);
int gguf_writer_add_tensor_fill(struct gguf_writer *w, const char *name, uint32_t type, int n_dims,
                                const int64_t *ne, gguf_fill_fn fill, void *ctx);
int gguf_writer_write(struct gguf_writer *w, const char *path);

#endif

/*
 * test_gguf.c: the GGUF writer and reader round trip, the real
 * stories260K.gguf, and hostile headers (SECURITY.md F2) that must be
 * refused with a message.
 */
#include "core/core.h"
#include "infer/gguf.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static char tmpdir[256];

static char *tmp_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void test_roundtrip(void)
{
	struct gguf_writer *w = gguf_writer_new();
	const char *strs[] = {"a", "", "hello"};
	float fa[3] = {1.5f, -2, 3};
	int32_t ia[2] = {-7, 9};
	float t0[6] = {1, 2, 3, 4, 5, 6};
	uint16_t t1[32];
	int64_t ne0[2] = {3, 2}, ne1[1] = {32};
	char *path = tmp_path("rt.gguf"), err[256] = "";
	struct gguf_file *f = NULL;

	for (int i = 0; i < 32; i++)
		t1[i] = f32_to_fp16((float)i);
	gguf_writer_set_str(w, "general.architecture", "llama");
	gguf_writer_set_u32(w, "llama.context_length", 128);
	gguf_writer_set_u32(w, "llama.context_length", 256); /* replaces */
	gguf_writer_set_i32(w, "neg", -5);
	gguf_writer_set_u64(w, "big", 1ull << 40);
	gguf_writer_set_f32(w, "eps", 1e-5f);
	gguf_writer_set_bool(w, "flag", 1);
	gguf_writer_set_arr_str(w, "strs", strs, 3);
	gguf_writer_set_arr_f32(w, "fa", fa, 3);
	gguf_writer_set_arr_i32(w, "ia", ia, 2);
	CHECK_EQ_INT(gguf_writer_add_tensor(w, "t0", TENSOR_F32, 2, ne0, t0, sizeof(t0)), 0);
	CHECK_EQ_INT(gguf_writer_add_tensor(w, "t1", TENSOR_F16, 1, ne1, t1, sizeof(t1)), 0);
	CHECK_EQ_INT(gguf_writer_add_tensor(w, "t1", TENSOR_F16, 1, ne1, t1, sizeof(t1)),
	             HD_EEXIST);
	CHECK_EQ_INT(gguf_writer_add_tensor(w, "bad", TENSOR_F16, 1, ne1, t1, 3), HD_EINVAL);
	CHECK_EQ_INT(gguf_writer_write(w, path), 0);
	gguf_writer_free(w);

	CHECK_EQ_INT(gguf_open(path, &f, err, sizeof(err)), 0);
	if (!f) {
		fprintf(stderr, "%s\n", err);
		free(path);
		return;
	}
	CHECK_EQ_INT(f->version, 3);
	CHECK_EQ_INT(f->n_kv, 9);
	CHECK_EQ_INT(f->n_tensors, 2);
	struct gguf_str s;
	CHECK_EQ_INT(gguf_get_str(f, "general.architecture", &s), 0);
	CHECK(gguf_str_eq(s, "llama"));
	uint32_t u;
	CHECK_EQ_INT(gguf_get_u32(f, "llama.context_length", &u), 0);
	CHECK_EQ_INT(u, 256);
	CHECK_EQ_INT(gguf_get_u32(f, "neg", &u), HD_EINVAL);
	CHECK_EQ_INT(gguf_get_u32(f, "big", &u), HD_EINVAL);
	int64_t i64;
	CHECK_EQ_INT(gguf_get_i64(f, "neg", &i64), 0);
	CHECK_EQ_INT(i64, -5);
	CHECK_EQ_INT(gguf_get_i64(f, "big", &i64), 0);
	CHECK_EQ_INT(i64, 1ll << 40);
	float fv;
	CHECK_EQ_INT(gguf_get_f32(f, "eps", &fv), 0);
	CHECK(fv == 1e-5f);
	CHECK_EQ_INT(gguf_get_f32(f, "neg", &fv), HD_EINVAL);
	int b;
	CHECK_EQ_INT(gguf_get_bool(f, "flag", &b), 0);
	CHECK_EQ_INT(b, 1);
	CHECK_EQ_INT(gguf_get_bool(f, "missing", &b), HD_ENOTFOUND);
	enum gguf_type et;
	uint64_t n;
	const struct gguf_kv *kv;
	CHECK_EQ_INT(gguf_get_arr(f, "strs", &et, &n, &kv), 0);
	CHECK_EQ_INT(et, GGUF_TYPE_STRING);
	CHECK_EQ_INT(n, 3);
	CHECK(gguf_str_eq(kv->strs[0], "a"));
	CHECK(gguf_str_eq(kv->strs[1], ""));
	CHECK(gguf_str_eq(kv->strs[2], "hello"));
	CHECK_EQ_INT(gguf_get_arr(f, "ia", &et, &n, &kv), 0);
	CHECK_EQ_INT(et, GGUF_TYPE_INT32);
	int32_t iv[2];
	memcpy(iv, kv->data, 8);
	CHECK_EQ_INT(iv[0], -7);
	CHECK_EQ_INT(iv[1], 9);
	CHECK_EQ_INT(gguf_get_arr(f, "eps", &et, &n, &kv), HD_EINVAL);

	const struct gguf_tensor *t = gguf_find_tensor(f, "t0");
	CHECK(t != NULL);
	if (t) {
		CHECK_EQ_INT(t->n_dims, 2);
		CHECK_EQ_INT(t->ne[0], 3);
		CHECK_EQ_INT(t->ne[1], 2);
		CHECK_EQ_INT(t->ne[2], 1);
		CHECK_EQ_INT(t->size, 24);
		CHECK(memcmp(t->data, t0, 24) == 0);
		CHECK_EQ_INT(((uintptr_t)t->data - (uintptr_t)f->base) % 32, 0);
	}
	t = gguf_find_tensor(f, "t1");
	CHECK(t && t->type == TENSOR_F16 && t->size == 64 && !memcmp(t->data, t1, 64));
	CHECK(gguf_find_tensor(f, "t2") == NULL);
	gguf_close(f);
	unlink(path);
	free(path);
}

static int fill(void *ctx, void *dst, size_t n)
{
	float *p = dst;
	(*(int *)ctx)++;
	for (size_t i = 0; i < n / 4; i++)
		p[i] = (float)i;
	return 0;
}

static void test_fill_and_alignment(void)
{
	struct gguf_writer *w = gguf_writer_new();
	char *path = tmp_path("fill.gguf"), err[256] = "";
	int64_t ne[1] = {100};
	struct gguf_file *f = NULL;
	int calls = 0;

	gguf_writer_set_u32(w, "general.alignment", 64);
	CHECK_EQ_INT(gguf_writer_add_tensor_fill(w, "a", TENSOR_F32, 1, ne, fill, &calls), 0);
	CHECK_EQ_INT(gguf_writer_add_tensor_fill(w, "b", TENSOR_F32, 1, ne, fill, &calls), 0);
	CHECK_EQ_INT(gguf_writer_write(w, path), 0);
	gguf_writer_free(w);
	CHECK_EQ_INT(calls, 2);
	CHECK_EQ_INT(gguf_open(path, &f, err, sizeof(err)), 0);
	if (f) {
		CHECK_EQ_INT(f->alignment, 64);
		const struct gguf_tensor *t = gguf_find_tensor(f, "b");
		CHECK(t && t->offset == 448); /* 400 rounded up to 64 */
		CHECK(t && ((const float *)t->data)[99] == 99.0f);
		gguf_close(f);
	}
	unlink(path);
	free(path);
}

/* Version 2 has version 3's layout (64-bit counts and lengths, little
 * endian; v3 only added big-endian files): the same bytes with version 2
 * read the same. */
static void test_v2(void)
{
	struct gguf_writer *w = gguf_writer_new();
	char *path = tmp_path("v2.gguf"), err[256] = "";
	int64_t ne[2] = {32, 3};
	struct gguf_file *f3 = NULL, *f2 = NULL;
	struct buf b = BUF_INIT;
	int calls = 0;
	const char *strs[] = {"x", "yz"};

	gguf_writer_set_str(w, "general.architecture", "llama");
	gguf_writer_set_arr_str(w, "tokens", strs, 2);
	CHECK_EQ_INT(gguf_writer_add_tensor_fill(w, "w", TENSOR_F32, 2, ne, fill, &calls), 0);
	CHECK_EQ_INT(gguf_writer_write(w, path), 0);
	gguf_writer_free(w);
	CHECK_EQ_INT(fs_read_file(path, &b, 1 << 20), 0);
	CHECK(b.len > 8 && b.data[4] == 3 && b.data[5] == 0);
	CHECK_EQ_INT(gguf_parse(b.data, b.len, &f3, err, sizeof(err)), 0);
	b.data[4] = 2;
	CHECK_EQ_INT(gguf_parse(b.data, b.len, &f2, err, sizeof(err)), 0);
	if (f2 && f3) {
		CHECK_EQ_INT(f2->version, 2);
		CHECK_EQ_INT(f2->n_kv, f3->n_kv);
		CHECK_EQ_INT(f2->n_tensors, 1);
		struct gguf_str s;
		CHECK_EQ_INT(gguf_get_str(f2, "general.architecture", &s), 0);
		CHECK(gguf_str_eq(s, "llama"));
		const struct gguf_tensor *t = gguf_find_tensor(f2, "w");
		CHECK(t && t->ne[0] == 32 && t->ne[1] == 3 &&
		      t->data == gguf_find_tensor(f3, "w")->data);
		CHECK(t && ((const float *)t->data)[95] == 95.0f);
	} else {
		fprintf(stderr, "v2: %s\n", err);
	}
	gguf_close(f2);
	gguf_close(f3);
	buf_release(&b);
	unlink(path);
	free(path);
}

static void test_stories(void)
{
	/* the shared data sits beside the checkout ($HUDDLE_SHARED_DATA from
	 * scripts/check; tests run in the build dir); missing data fails */
	const char *env = getenv("HUDDLE_SHARED_DATA");
	char *from_env = env && *env ? xasprintf("%s/models/stories260K.gguf", env) : NULL;
	const char *const paths[] = {from_env ? from_env : "",
	                             "../../shared/data/models/stories260K.gguf",
	                             "../shared/data/models/stories260K.gguf",
	                             "/work/shared/data/models/stories260K.gguf"};
	const char *path = NULL;
	struct gguf_file *f = NULL;
	char err[256] = "";
	for (size_t i = 0; i < ARRAY_SIZE(paths) && !path; i++)
		if (*paths[i] && access(paths[i], R_OK) == 0)
			path = paths[i];
	if (!path) {
		fprintf(stderr, "stories260K.gguf not found: set HUDDLE_SHARED_DATA\n");
		CHECK(path != NULL);
		free(from_env);
		return;
	}
	CHECK_EQ_INT(gguf_open(path, &f, err, sizeof(err)), 0);
	if (!f) {
		fprintf(stderr, "%s\n", err);
		free(from_env);
		return;
	}
	struct gguf_str s;
	CHECK_EQ_INT(gguf_get_str(f, "general.architecture", &s), 0);
	CHECK(gguf_str_eq(s, "llama"));
	enum gguf_type et;
	uint64_t n;
	const struct gguf_kv *kv;
	CHECK_EQ_INT(gguf_get_arr(f, "tokenizer.ggml.tokens", &et, &n, &kv), 0);
	CHECK_EQ_INT(n, 512);
	const struct gguf_tensor *t = gguf_find_tensor(f, "token_embd.weight");
	CHECK(t != NULL);
	gguf_close(f);
	free(from_env);
}

/* ---- hostile headers ------------------------------------------------- */

static void put32(struct buf *b, uint32_t v)
{
	buf_append(b, &v, 4);
}
static void put64(struct buf *b, uint64_t v)
{
	buf_append(b, &v, 8);
}
static void putstr(struct buf *b, const char *s)
{
	put64(b, strlen(s));
	buf_puts(b, s);
}

static void hdr(struct buf *b, uint32_t version, uint64_t n_t, uint64_t n_kv)
{
	buf_reset(b);
	put32(b, 0x46554747u);
	put32(b, version);
	put64(b, n_t);
	put64(b, n_kv);
}

static int parse_fails(struct buf *b, const char *what)
{
	struct gguf_file *f = NULL;
	char err[256] = "";
	int rc = gguf_parse(b->data, b->len, &f, err, sizeof(err));
	if (rc == 0) {
		fprintf(stderr, "%s: accepted\n", what);
		gguf_close(f);
		return 0;
	}
	if (!err[0]) {
		fprintf(stderr, "%s: refused without a message\n", what);
		return 0;
	}
	return f == NULL;
}

/* one tensor info: name, dims, type, offset */
static void tinfo(struct buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                  uint32_t type, uint64_t off)
{
	putstr(b, name);
	put32(b, n_dims);
	for (uint32_t i = 0; i < n_dims; i++)
		put64(b, ne[i]);
	put32(b, type);
	put64(b, off);
}

static void pad_data(struct buf *b, size_t align, size_t data)
{
	while (b->len % align)
		buf_putc(b, 0);
	for (size_t i = 0; i < data; i++)
		buf_putc(b, 0);
}

static void test_hostile(void)
{
	struct buf b = BUF_INIT;
	uint64_t ne[4] = {32, 1, 1, 1};

	buf_puts(&b, "GGUX0000000000000000000000");
	CHECK(parse_fails(&b, "bad magic"));
	hdr(&b, 1, 0, 0);
	CHECK(parse_fails(&b, "v1"));
	hdr(&b, 3u << 24, 0, 0);
	CHECK(parse_fails(&b, "big endian"));
	hdr(&b, 3, 0, 0);
	b.len -= 3;
	CHECK(parse_fails(&b, "truncated header"));

	/* an empty but valid file */
	hdr(&b, 3, 0, 0);
	{
		struct gguf_file *f = NULL;
		CHECK_EQ_INT(gguf_parse(b.data, b.len, &f, NULL, 0), 0);
		gguf_close(f);
	}

	hdr(&b, 3, 0, UINT64_MAX);
	CHECK(parse_fails(&b, "n_kv 2^64-1"));
	hdr(&b, 3, UINT64_MAX / 2, 0);
	CHECK(parse_fails(&b, "n_tensors 2^63"));
	hdr(&b, 3, 0, 1);
	put64(&b, UINT64_MAX);
	CHECK(parse_fails(&b, "key length 2^64-1"));
	hdr(&b, 3, 0, 1);
	putstr(&b, "k");
	put32(&b, GGUF_TYPE_STRING);
	put64(&b, 1000);
	buf_puts(&b, "short");
	CHECK(parse_fails(&b, "string longer than file"));
	hdr(&b, 3, 0, 1);
	putstr(&b, "k");
	put32(&b, 99);
	put32(&b, 0);
	CHECK(parse_fails(&b, "unknown value type"));
	hdr(&b, 3, 0, 1);
	putstr(&b, "k");
	put32(&b, GGUF_TYPE_ARRAY);
	put32(&b, GGUF_TYPE_ARRAY);
	put64(&b, 0);
	CHECK(parse_fails(&b, "nested array"));
	hdr(&b, 3, 0, 1);
	putstr(&b, "k");
	put32(&b, GGUF_TYPE_ARRAY);
	put32(&b, GGUF_TYPE_STRING);
	put64(&b, 1ull << 62);
	put64(&b, 0);
	CHECK(parse_fails(&b, "string array count 2^62"));
	hdr(&b, 3, 0, 1);
	putstr(&b, "k");
	put32(&b, GGUF_TYPE_ARRAY);
	put32(&b, GGUF_TYPE_UINT64);
	put64(&b, 1ull << 61); /* 2^61 * 8 overflows 64 bits */
	put64(&b, 0);
	CHECK(parse_fails(&b, "u64 array byte size overflow"));
	hdr(&b, 3, 0, 1);
	putstr(&b, "k");
	put32(&b, GGUF_TYPE_ARRAY);
	put32(&b, 13);
	put64(&b, 1);
	put64(&b, 0);
	CHECK(parse_fails(&b, "unknown array element type"));
	hdr(&b, 3, 0, 2);
	putstr(&b, "k");
	put32(&b, GGUF_TYPE_UINT8);
	buf_putc(&b, 1);
	putstr(&b, "k");
	put32(&b, GGUF_TYPE_UINT8);
	buf_putc(&b, 1);
	CHECK(parse_fails(&b, "duplicate key"));

	uint32_t aligns[] = {0, 3, 48, 1u << 31};
	for (size_t i = 0; i < ARRAY_SIZE(aligns); i++) {
		hdr(&b, 3, 0, 1);
		putstr(&b, "general.alignment");
		put32(&b, GGUF_TYPE_UINT32);
		put32(&b, aligns[i]);
		CHECK(parse_fails(&b, "bad alignment"));
	}
	hdr(&b, 3, 0, 1);
	putstr(&b, "general.alignment");
	put32(&b, GGUF_TYPE_STRING);
	putstr(&b, "32");
	CHECK(parse_fails(&b, "alignment of the wrong type"));

	/* tensors */
	hdr(&b, 3, 1, 0);
	tinfo(&b, "t", 1, ne, TENSOR_F32, 0);
	pad_data(&b, 32, 128);
	{
		struct gguf_file *f = NULL;
		CHECK_EQ_INT(gguf_parse(b.data, b.len, &f, NULL, 0), 0);
		gguf_close(f);
	}
	b.len--;
	CHECK(parse_fails(&b, "tensor data one byte short"));
	hdr(&b, 3, 1, 0);
	tinfo(&b, "t", 5, (uint64_t[]){1, 1, 1, 1, 1}, TENSOR_F32, 0);
	pad_data(&b, 32, 4);
	CHECK(parse_fails(&b, "n_dims 5"));
	hdr(&b, 3, 1, 0);
	putstr(&b, "t");
	put32(&b, 0xffffffffu);
	pad_data(&b, 32, 64);
	CHECK(parse_fails(&b, "n_dims huge"));
	hdr(&b, 3, 1, 0);
	tinfo(&b, "t", 2, (uint64_t[]){32, 0}, TENSOR_F32, 0);
	pad_data(&b, 32, 128);
	CHECK(parse_fails(&b, "zero dimension"));
	hdr(&b, 3, 1, 0);
	tinfo(&b, "t", 1, ne, 5, 0); /* 5 was Q4_2, removed */
	pad_data(&b, 32, 128);
	CHECK(parse_fails(&b, "removed type"));
	hdr(&b, 3, 1, 0);
	tinfo(&b, "t", 1, ne, 1000, 0);
	pad_data(&b, 32, 128);
	CHECK(parse_fails(&b, "unknown type"));
	hdr(&b, 3, 1, 0);
	tinfo(&b, "t", 1, (uint64_t[]){33}, TENSOR_Q4_0, 0);
	pad_data(&b, 32, 128);
	CHECK(parse_fails(&b, "row not a block multiple"));
	hdr(&b, 3, 1, 0);
	tinfo(&b, "t", 4, (uint64_t[]){1ull << 40, 1ull << 20, 1ull << 2, 1}, TENSOR_Q4_0, 0);
	pad_data(&b, 32, 128);
	CHECK(parse_fails(&b, "quantized byte size 2^62 elements"));
	hdr(&b, 3, 1, 0);
	tinfo(&b, "t", 2, (uint64_t[]){1ull << 62, 4}, TENSOR_F32, 0);
	pad_data(&b, 32, 128);
	CHECK(parse_fails(&b, "element count overflow"));
	hdr(&b, 3, 1, 0);
	tinfo(&b, "t", 1, ne, TENSOR_F32, 16);
	pad_data(&b, 32, 256);
	CHECK(parse_fails(&b, "unaligned offset"));
	hdr(&b, 3, 1, 0);
	tinfo(&b, "t", 1, ne, TENSOR_F32, UINT64_MAX - 31);
	pad_data(&b, 32, 256);
	CHECK(parse_fails(&b, "offset near 2^64"));
	hdr(&b, 3, 1, 0);
	tinfo(&b, "t", 1, ne, TENSOR_F32, 1u << 20);
	pad_data(&b, 32, 256);
	CHECK(parse_fails(&b, "offset past EOF"));
	hdr(&b, 3, 2, 0);
	tinfo(&b, "t", 1, ne, TENSOR_F32, 0);
	tinfo(&b, "t", 1, ne, TENSOR_F32, 128);
	pad_data(&b, 32, 256);
	CHECK(parse_fails(&b, "duplicate tensor"));
	hdr(&b, 3, 1, 0);
	tinfo(&b, "", 1, ne, TENSOR_F32, 0);
	pad_data(&b, 32, 256);
	CHECK(parse_fails(&b, "empty tensor name"));
	buf_release(&b);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_gguf.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	RUN(test_roundtrip);
	RUN(test_fill_and_alignment);
	RUN(test_v2);
	RUN(test_stories);
	RUN(test_hostile);
	rmdir(tmpdir);
	return test_summary();
}

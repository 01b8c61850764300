#include "core/core.h"
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

static void test_buf(void)
{
	struct buf b = BUF_INIT;
	buf_puts(&b, "abc");
	buf_printf(&b, "%d-%s", 42, "x");
	CHECK_EQ_STR(b.data, "abc42-x");
	CHECK_EQ_INT(b.len, 7);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%04d", i);
	CHECK_EQ_INT(b.len, 7 + 4000);
	CHECK(b.data[b.len] == 0);
	buf_release(&b);
	CHECK(b.data == NULL);
}

static void test_hex(void)
{
	char out[9];
	unsigned char raw[4] = {0xde, 0xad, 0xbe, 0xef}, back[4];
	hex_encode(out, raw, 4);
	CHECK_EQ_STR(out, "deadbeef");
	CHECK_EQ_INT(hex_decode(back, "DEADbeef", 4), 0);
	CHECK(memcmp(back, raw, 4) == 0);
	CHECK(hex_decode(back, "deadbeeg", 4) != 0);
	CHECK(hex_is_lower("0af9", 4));
	CHECK(!hex_is_lower("0aF9", 4));
}

static void test_sha256(void)
{
	char h[65];
	sha256_hex(h, "abc", 3);
	CHECK_EQ_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_time(void)
{
	char ts[32];
	time_iso8601(ts, 1704067200123LL);
	CHECK_EQ_STR(ts, "2024-01-01T00:00:00.123Z");
}

static void test_utf8(void)
{
	CHECK(utf8_valid("h\xc3\xa9llo", 6));
	CHECK(!utf8_valid("\xc0\xae", 2)); /* overlong '.' */
	CHECK(!utf8_valid("\xed\xa0\x80", 3)); /* surrogate */
	CHECK(!utf8_valid("\xff", 1));
}

static void test_fs(void)
{
	char dir[] = "/tmp/hdtest.XXXXXX";
	struct buf b = BUF_INIT;
	CHECK(mkdtemp(dir) != NULL);
	char *sub = xasprintf("%s/a/b/c", dir);
	char *file = xasprintf("%s/f.txt", sub);
	CHECK_EQ_INT(fs_mkdir_p(sub, 0755), 0);
	CHECK_EQ_INT(fs_write_atomic(file, "hello", 5), 0);
	CHECK_EQ_INT(fs_read_file(file, &b, 100), 0);
	CHECK_EQ_STR(b.data, "hello");
	buf_reset(&b);
	CHECK_EQ_INT(fs_read_file(file, &b, 3), HD_ETOOBIG);
	CHECK_EQ_INT(fs_rm_rf(dir), 0);
	CHECK(!fs_exists(dir));
	buf_release(&b);
	free(sub);
	free(file);
}

static void test_str(void)
{
	int64_t v;
	CHECK_EQ_INT(str_to_i64("123", &v), 0);
	CHECK_EQ_INT(v, 123);
	CHECK(str_to_i64("12x", &v) != 0);
	CHECK(str_to_i64("", &v) != 0);
	CHECK(str_to_i64(" 1", &v) != 0);
	CHECK(str_to_i64("99999999999999999999", &v) != 0);
	CHECK(str_starts_with("hf_abc", "hf_"));
	CHECK(str_ends_with("x.gguf", ".gguf"));
}

int main(void)
{
	RUN(test_buf);
	RUN(test_hex);
	RUN(test_sha256);
	RUN(test_time);
	RUN(test_utf8);
	RUN(test_fs);
	RUN(test_str);
	return test_summary();
}

/*
 * test_api_parse.c: the parsers of untrusted API bodies: the NDJSON commit,
 * the LFS batch request, the multipart completion body and base64.
 */
#include "api/api.h"
#include "core/core.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define OID1 "3dc9995c8c2be6e1d2ec9e4ff8e4ac8bd0d5b17acd7bff2ad0c5e00cd55c6a36"
#define OID2 "0000000000000000000000000000000000000000000000000000000000000001"

static int parse(const char *body, struct api_commit *c, char *err)
{
	return api_commit_parse(body, strlen(body), 100, c, err, 256);
}

static void test_base64(void)
{
	unsigned char *o;
	size_t n;
	CHECK_EQ_INT(api_base64_decode("eyJoZWxsbyI6IndvcmxkIn0=", 24, &o, &n), 0);
	CHECK_EQ_INT(n, 17);
	CHECK(!memcmp(o, "{\"hello\":\"world\"}", 17));
	free(o);
	CHECK_EQ_INT(api_base64_decode("", 0, &o, &n), 0);
	CHECK_EQ_INT(n, 0);
	free(o);
	CHECK_EQ_INT(api_base64_decode("YQ==", 4, &o, &n), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(o[0], 'a');
	free(o);
	CHECK_EQ_INT(api_base64_decode("AAEC/w==", 8, &o, &n), 0);
	CHECK_EQ_INT(n, 4);
	CHECK(o[0] == 0 && o[1] == 1 && o[2] == 2 && o[3] == 0xff);
	free(o);
	CHECK_EQ_INT(api_base64_decode("YQ=", 3, &o, &n), HD_EINVAL);
	CHECK_EQ_INT(api_base64_decode("Y===", 4, &o, &n), HD_EINVAL);
	CHECK_EQ_INT(api_base64_decode("YQ=a", 4, &o, &n), HD_EINVAL);
	CHECK_EQ_INT(api_base64_decode("Y Q=", 4, &o, &n), HD_EINVAL);
	CHECK_EQ_INT(api_base64_decode("YQ-_", 4, &o, &n), HD_EINVAL);
	CHECK(o == NULL);
}

static void test_commit_ok(void)
{
	struct api_commit c;
	char err[256] = "";
	const char *body =
	        "{\"key\":\"header\",\"value\":{\"summary\":\"Add 2 files\",\"description\":\"d\","
	        "\"parentCommit\":\"abc\"}}\n"
	        "{\"key\":\"file\",\"value\":{\"content\":\"eyJoZWxsbyI6IndvcmxkIn0=\","
	        "\"path\":\"config.json\",\"encoding\":\"base64\"}}\r\n"
	        "\n"
	        "{\"key\":\"lfsFile\",\"value\":{\"path\":\"model.bin\",\"algo\":\"sha256\","
	        "\"size\":11534336,\"oid\":\"" OID1 "\"}}\n"
	        "{\"key\":\"deletedFile\",\"value\":{\"path\":\"old.txt\"}}\n"
	        "{\"key\":\"deletedFolder\",\"value\":{\"path\":\"dir\"}}\n"
	        "{\"key\":\"file\",\"value\":{\"content\":\"plain\",\"path\":\"p.txt\"}}";
	CHECK_EQ_INT(parse(body, &c, err), 0);
	CHECK_EQ_STR(c.summary, "Add 2 files");
	CHECK_EQ_STR(c.description, "d");
	CHECK_EQ_STR(c.parent_commit, "abc");
	CHECK_EQ_INT(c.n_ops, 5);
	CHECK_EQ_INT(c.ops[0].kind, HUB_OP_FILE);
	CHECK_EQ_STR(c.ops[0].path, "config.json");
	CHECK_EQ_INT(c.ops[0].content_size, 17);
	CHECK(!memcmp(c.ops[0].content, "{\"hello\":\"world\"}", 17));
	CHECK_EQ_INT(c.ops[1].kind, HUB_OP_LFS_FILE);
	CHECK_EQ_STR(c.ops[1].lfs_oid, OID1);
	CHECK_EQ_INT(c.ops[1].lfs_size, 11534336);
	CHECK_EQ_INT(c.ops[2].kind, HUB_OP_DELETE_FILE);
	CHECK_EQ_STR(c.ops[2].path, "old.txt");
	CHECK_EQ_INT(c.ops[3].kind, HUB_OP_DELETE_FOLDER);
	CHECK_EQ_INT(c.ops[4].content_size, 5);
	api_commit_release(&c);

	/* Python's header: description "" and no parentCommit; null is absent. */
	CHECK_EQ_INT(
	        parse("{\"key\":\"header\",\"value\":{\"summary\":\"s\",\"description\":null}}", &c,
	              err),
	        0);
	CHECK(c.description == NULL && c.parent_commit == NULL && c.n_ops == 0);
	api_commit_release(&c);
}

static void test_commit_bad(void)
{
	struct api_commit c;
	char err[256];
	static const char *const bad[] = {
	        "",
	        "\n\n",
	        "not json",
	        "[1,2]",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n{\"key\":\"file\"",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\",\"extra\":1}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"},\"more\":1}",
	        "{\"key\":\"header\",\"value\":{}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":5}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"a\\u0000b\"}}",
	        "{\"key\":\"file\",\"value\":{\"path\":\"a\",\"content\":\"\"}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n"
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n"
	        "{\"key\":\"copyFile\",\"value\":{\"path\":\"a\"}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n"
	        "{\"key\":\"file\",\"value\":{\"path\":\"a\",\"content\":\"!!\",\"encoding\":"
	        "\"base64\"}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n"
	        "{\"key\":\"file\",\"value\":{\"path\":\"a\",\"content\":\"x\",\"encoding\":"
	        "\"rot13\"}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n"
	        "{\"key\":\"file\",\"value\":{\"path\":\"a\",\"content\":\"x\",\"mode\":\"x\"}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n"
	        "{\"key\":\"lfsFile\",\"value\":{\"path\":\"a\",\"oid\":\"abc\",\"size\":1}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n"
	        "{\"key\":\"lfsFile\",\"value\":{\"path\":\"a\",\"oid\":\"" OID1 "\",\"size\":-1}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n"
	        "{\"key\":\"lfsFile\",\"value\":{\"path\":\"a\",\"oid\":\"" OID1
	        "\",\"size\":1,\"algo\":\"md5\"}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n"
	        "{\"key\":\"deletedFile\",\"value\":{\"path\":7}}",
	        "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n"
	        "{\"key\":\"deletedFile\",\"value\":{\"path\":\"a\",\"path\":\"b\"}}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = 0;
		int rc = parse(bad[i], &c, err);
		if (rc != HD_EINVAL)
			fprintf(stderr, "case %zu: rc %d\n", i, rc);
		CHECK_EQ_INT(rc, HD_EINVAL);
		CHECK(err[0] != 0);
		CHECK(c.n_ops == 0 && c.summary == NULL);
	}
}

static void test_commit_limit(void)
{
	struct api_commit c;
	char err[256];
	struct buf b = BUF_INIT;
	buf_puts(&b, "{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n");
	for (int i = 0; i < 101; i++)
		buf_printf(&b, "{\"key\":\"deletedFile\",\"value\":{\"path\":\"f%d\"}}\n", i);
	CHECK_EQ_INT(api_commit_parse(b.data, b.len, 100, &c, err, sizeof(err)), HD_ETOOBIG);
	CHECK_EQ_INT(api_commit_parse(b.data, b.len, 101, &c, err, sizeof(err)), 0);
	CHECK_EQ_INT(c.n_ops, 101);
	api_commit_release(&c);
	buf_release(&b);
}

static int batch(const char *body, struct api_lfs_batch *b)
{
	char err[256];
	return api_lfs_batch_parse(body, strlen(body), 3, b, err, sizeof(err));
}

static void test_batch(void)
{
	struct api_lfs_batch b;
	CHECK_EQ_INT(
	        batch("{\"operation\":\"upload\",\"transfers\":[\"basic\",\"multipart\",\"xet\"],"
	              "\"hash_algo\":\"sha_256\",\"ref\":{\"name\":\"main\"},\"objects\":[{"
	              "\"oid\":\"" OID1 "\",\"size\":11534336},{\"oid\":\"" OID2 "\",\"size\":0}]}",
	              &b),
	        0);
	CHECK_EQ_INT(b.op, HUB_LFS_UPLOAD);
	CHECK(b.basic_ok && b.multipart_ok);
	CHECK_EQ_STR(b.ref_name, "main");
	CHECK_EQ_INT(b.n_objs, 2);
	CHECK_EQ_STR(b.objs[0].oid, OID1);
	CHECK_EQ_INT(b.objs[0].size, 11534336);
	CHECK_EQ_INT(b.objs[1].size, 0);
	api_lfs_batch_release(&b);

	/* git-lfs: no multipart, extra fields ignored; no transfers = basic. */
	CHECK_EQ_INT(batch("{\"operation\":\"download\",\"transfers\":[\"lfs-standalone-file\","
	                   "\"basic\",\"ssh\"],\"objects\":[],\"something\":1}",
	                   &b),
	             0);
	CHECK_EQ_INT(b.op, HUB_LFS_DOWNLOAD);
	CHECK(b.basic_ok && !b.multipart_ok);
	api_lfs_batch_release(&b);
	CHECK_EQ_INT(batch("{\"operation\":\"download\",\"objects\":[]}", &b), 0);
	CHECK(b.basic_ok);
	api_lfs_batch_release(&b);

	/* SECURITY P5: short, long, uppercase, non-hex, traversal oids. */
	CHECK_EQ_INT(
	        batch("{\"operation\":\"upload\",\"objects\":[{\"oid\":\"abc\",\"size\":1}]}", &b),
	        HD_EINVAL);
	CHECK_EQ_INT(batch("{\"operation\":\"upload\",\"objects\":[{\"oid\":\"" OID1
	                   "0\",\"size\":1}]}",
	                   &b),
	             HD_EINVAL);
	CHECK_EQ_INT(batch("{\"operation\":\"upload\",\"objects\":[{\"oid\":"
	                   "\"3DC9995C8C2BE6E1D2EC9E4FF8E4AC8BD0D5B17ACD7BFF2AD0C5E00CD55C6A36\","
	                   "\"size\":1}]}",
	                   &b),
	             HD_EINVAL);
	CHECK_EQ_INT(batch("{\"operation\":\"upload\",\"objects\":[{\"oid\":"
	                   "\"../../../../etc/passwd0000000000000000000000000000000000000000000\","
	                   "\"size\":1}]}",
	                   &b),
	             HD_EINVAL);
	/* Sizes: negative, fractional, string, beyond int64 (jansson refuses). */
	CHECK_EQ_INT(batch("{\"operation\":\"upload\",\"objects\":[{\"oid\":\"" OID1
	                   "\",\"size\":-1}]}",
	                   &b),
	             HD_EINVAL);
	CHECK_EQ_INT(batch("{\"operation\":\"upload\",\"objects\":[{\"oid\":\"" OID1
	                   "\",\"size\":1.5}]}",
	                   &b),
	             HD_EINVAL);
	CHECK_EQ_INT(batch("{\"operation\":\"upload\",\"objects\":[{\"oid\":\"" OID1
	                   "\",\"size\":\"1\"}]}",
	                   &b),
	             HD_EINVAL);
	CHECK_EQ_INT(batch("{\"operation\":\"upload\",\"objects\":[{\"oid\":\"" OID1
	                   "\",\"size\":18446744073709551616}]}",
	                   &b),
	             HD_EINVAL);
	CHECK_EQ_INT(batch("{\"operation\":\"delete\",\"objects\":[]}", &b), HD_EINVAL);
	CHECK_EQ_INT(batch("{\"operation\":\"upload\"}", &b), HD_EINVAL);
	CHECK_EQ_INT(batch("{\"operation\":\"upload\",\"objects\":[],\"hash_algo\":\"md5\"}", &b),
	             HD_EINVAL);
	CHECK_EQ_INT(batch("{\"operation\":\"upload\",\"objects\":[],\"transfers\":\"basic\"}", &b),
	             HD_EINVAL);
	CHECK_EQ_INT(batch("[]", &b), HD_EINVAL);
	CHECK_EQ_INT(batch("{", &b), HD_EINVAL);
	/* Over the object limit (3 here). */
	CHECK_EQ_INT(batch("{\"operation\":\"upload\",\"objects\":[{\"oid\":\"" OID1
	                   "\",\"size\":1},{\"oid\":\"" OID1 "\",\"size\":1},{\"oid\":\"" OID1
	                   "\",\"size\":1},{\"oid\":\"" OID1 "\",\"size\":1}]}",
	                   &b),
	             HD_ETOOBIG);
	CHECK(b.objs == NULL && b.n_objs == 0);
}

static void test_complete(void)
{
	char **etags, err[256];
	const char *ok =
	        "{\"oid\":\"" OID1 "\",\"parts\":[{\"partNumber\":2,\"etag\":\"\\\"b\\\"\"},"
	        "{\"partNumber\":1,\"etag\":\"a\"}]}";
	CHECK_EQ_INT(api_lfs_complete_parse(ok, strlen(ok), OID1, 2, &etags, err, sizeof(err)), 0);
	CHECK_EQ_STR(etags[0], "a");
	CHECK_EQ_STR(etags[1], "\"b\"");
	free(etags);
	/* Wrong oid, missing part, repeated part, out of range, wrong count. */
	CHECK_EQ_INT(api_lfs_complete_parse(ok, strlen(ok), OID2, 2, &etags, err, sizeof(err)),
	             HD_EINVAL);
	CHECK_EQ_INT(api_lfs_complete_parse(ok, strlen(ok), OID1, 3, &etags, err, sizeof(err)),
	             HD_EINVAL);
	{
		const char *rep =
		        "{\"oid\":\"" OID1 "\",\"parts\":[{\"partNumber\":1,\"etag\":\"a\"},"
		        "{\"partNumber\":1,\"etag\":\"a\"}]}";
		const char *oor =
		        "{\"oid\":\"" OID1 "\",\"parts\":[{\"partNumber\":0,\"etag\":\"a\"},"
		        "{\"partNumber\":3,\"etag\":\"a\"}]}";
		CHECK_EQ_INT(
		        api_lfs_complete_parse(rep, strlen(rep), OID1, 2, &etags, err, sizeof(err)),
		        HD_EINVAL);
		CHECK_EQ_INT(
		        api_lfs_complete_parse(oor, strlen(oor), OID1, 2, &etags, err, sizeof(err)),
		        HD_EINVAL);
	}
	CHECK_EQ_INT(api_lfs_complete_parse("x", 1, OID1, 1, &etags, err, sizeof(err)), HD_EINVAL);
	CHECK(etags == NULL);
}

int main(void)
{
	RUN(test_base64);
	RUN(test_commit_ok);
	RUN(test_commit_bad);
	RUN(test_commit_limit);
	RUN(test_batch);
	RUN(test_complete);
	return test_summary();
}

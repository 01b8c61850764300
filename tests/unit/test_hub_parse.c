/*
 * test_hub_parse.c: the hub's parsers and grammars without a data dir:
 * model-card front matter, .gitattributes rules, LFS pointers, revision and
 * branch names, file paths, repo types.
 */
#include "core/core.h"
#include "hub/hub.h"
#include "hub/hub_int.h" /* attrs_* and lfs_pointer_* are module-internal */
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void test_card_fields(void)
{
	const char *text = "---\n"
	                   "license: apache-2.0\n"
	                   "library_name: transformers\n"
	                   "pipeline_tag: text-generation\n"
	                   "tags:\n  - llama\n  - gguf\n  - 42\n"
	                   "base_model: meta/llama\n"
	                   "datasets: [a/b, c/d]\n"
	                   "language: en\n"
	                   "widget:\n  - text: \"<script>alert(1)</script>\"\n"
	                   "nested: {a: [1, 2.5, true, null, ~]}\n"
	                   "---\n"
	                   "# Title\n";
	struct hub_card c;
	char err[256] = "";
	CHECK_EQ_INT(hub_card_parse(text, strlen(text), &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.license, "apache-2.0");
	CHECK_EQ_STR(c.library_name, "transformers");
	CHECK_EQ_STR(c.pipeline_tag, "text-generation");
	CHECK_EQ_INT(c.n_tags, 3);
	CHECK_EQ_STR(c.tags[0], "llama");
	CHECK_EQ_STR(c.tags[2], "42");
	CHECK_EQ_INT(c.n_base_models, 1);
	CHECK_EQ_STR(c.base_models[0], "meta/llama");
	CHECK_EQ_INT(c.n_datasets, 2);
	CHECK_EQ_STR(c.datasets[1], "c/d");
	CHECK_EQ_INT(c.n_languages, 1);
	CHECK_EQ_STR(c.languages[0], "en");
	CHECK(c.json != NULL);
	CHECK(strstr(c.json, "\"nested\": {\"a\": [1, 2.5, true, null, null]}") ||
	      strstr(c.json, "\"nested\":{\"a\":[1,2.5,true,null,null]}"));
	CHECK_EQ_STR(text + c.body_offset, "# Title\n");
	hub_card_release(&c);
	hub_card_release(&c); /* twice is fine */
}

static void test_card_edges(void)
{
	struct hub_card c;
	char err[256];
	const char *none[] = {"# no front matter\n",
	                      "",
	                      "---",
	                      "--- \nlicense: mit\n",
	                      "----\nlicense: mit\n---\n",
	                      "x---\nlicense: mit\n---\n"};
	for (size_t i = 0; i < ARRAY_SIZE(none); i++) {
		CHECK_EQ_INT(hub_card_parse(none[i], strlen(none[i]), &c, err, sizeof(err)), 0);
		CHECK(c.json == NULL && c.license == NULL);
		hub_card_release(&c);
	}
	/* CRLF and trailing spaces around the fences. */
	const char *crlf = "---\r\nlicense: mit\r\n---  \r\nbody";
	CHECK_EQ_INT(hub_card_parse(crlf, strlen(crlf), &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.license, "mit");
	CHECK_EQ_STR(crlf + c.body_offset, "body");
	hub_card_release(&c);
	/* Empty front matter. */
	const char *empty = "---\n---\n";
	CHECK_EQ_INT(hub_card_parse(empty, strlen(empty), &c, err, sizeof(err)), 0);
	CHECK(c.json == NULL);
	hub_card_release(&c);
	/* Malformed, non-mapping, wrong field types. */
	const char *bad[] = {"---\nlicense: [unclosed\n---\n", "---\n- a\n- b\n---\n",
	                     "---\njust a string\n---\n", "---\n? [a, b]\n: c\n---\n"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ_INT(hub_card_parse(bad[i], strlen(bad[i]), &c, err, sizeof(err)),
		             HD_EINVAL);
		CHECK(err[0] != 0);
		CHECK(c.json == NULL);
		hub_card_release(&c);
	}
	const char *types = "---\nlicense: {a: b}\ntags: {x: y}\npipeline_tag: [a]\n---\n";
	CHECK_EQ_INT(hub_card_parse(types, strlen(types), &c, err, sizeof(err)), 0);
	CHECK(c.license == NULL && c.tags == NULL && c.pipeline_tag == NULL);
	hub_card_release(&c);
	/* Aliases cannot blow up ("billion laughs"), and cycles are bounded. */
	struct buf b = BUF_INIT;
	buf_puts(&b, "---\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 12; i++)
		buf_printf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i,
		           i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
	buf_puts(&b, "---\n");
	CHECK_EQ_INT(hub_card_parse(b.data, b.len, &c, err, sizeof(err)), HD_EINVAL);
	CHECK(strstr(err, "nodes") != NULL);
	hub_card_release(&c);
	buf_reset(&b);
	buf_puts(&b, "---\nx: ");
	for (int i = 0; i < 100; i++)
		buf_putc(&b, '[');
	for (int i = 0; i < 100; i++)
		buf_putc(&b, ']');
	buf_puts(&b, "\n---\n");
	CHECK_EQ_INT(hub_card_parse(b.data, b.len, &c, err, sizeof(err)), HD_EINVAL);
	hub_card_release(&c);
	buf_release(&b);
	/* Invalid UTF-8 is an error, not a crash. */
	const char *utf = "---\nlicense: \xff\xfe\n---\n";
	CHECK_EQ_INT(hub_card_parse(utf, strlen(utf), &c, err, sizeof(err)), HD_EINVAL);
	hub_card_release(&c);
	/* NUL inside the text: the length rules. */
	const char nul[] = "---\nlicense: mit\n---\n\0after";
	CHECK_EQ_INT(hub_card_parse(nul, sizeof(nul) - 1, &c, err, sizeof(err)), 0);
	CHECK_EQ_STR(c.license, "mit");
	hub_card_release(&c);
}

static void test_revisions(void)
{
	const char *good[] = {"main",
	                      "dev",
	                      "feature/x",
	                      "v1.0",
	                      "refs/pr/1",
	                      "HEAD",
	                      "0123456789abcdef0123456789abcdef01234567",
	                      "a-b_c"};
	const char *bad[] = {"",        "-o",      "--upload-pack=x",
	                     "a..b",    "a b",     "a~1",
	                     "a^",      "a:b",     "a?",
	                     "a*",      "a[",      "a\\b",
	                     "/a",      "a/",      "a//b",
	                     ".a",      "a/.b",    "a.lock",
	                     "a@{1",    "@",       "a.",
	                     "x\ny",    "HEAD;id", "$(id)",
	                     "main\x7f"};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		CHECK(hub_rev_valid(good[i]));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (hub_rev_valid(bad[i]))
			fprintf(stderr, "accepted bad revision '%s'\n", bad[i]);
		CHECK(!hub_rev_valid(bad[i]));
	}
	CHECK(!hub_branch_name_valid("HEAD"));
	CHECK(!hub_rev_valid(NULL));
}

static void test_paths_and_oids(void)
{
	const char *good[] = {"a",
	                      "README.md",
	                      "sub/dir/a.txt",
	                      "weird name (1).bin",
	                      "ünïcode/ok",
	                      ".gitattributes",
	                      ".github/x",
	                      "a.git",
	                      "%41",
	                      "100%",
	                      "logs/2024-01-01T00:00:00.json",
	                      "run-10:30/x",
	                      "a/b-1:c",
	                      "1:x"};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		if (!hub_path_valid(good[i]))
			fprintf(stderr, "refused good path '%s'\n", good[i]);
		CHECK(hub_path_valid(good[i]));
	}
	/* ':' only where Windows reads it: drive letters and NTFS streams. */
	const char *bad[] = {"C:",      "C:x",        "c:/x",   "sub/D:x",   "x::$DATA",
	                     "x:$DATA", "a/b::$DATA", "x::",    "x:s:$DATA", "C:\\x",
	                     "a\\b",    "a/../b",     ".git/x", "x\001y",    "%2e%2e/x"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (hub_path_valid(bad[i]))
			fprintf(stderr, "accepted bad path '%s'\n", bad[i]);
		CHECK(!hub_path_valid(bad[i]));
	}
	char long_seg[300];
	memset(long_seg, 'a', sizeof(long_seg) - 1);
	long_seg[sizeof(long_seg) - 1] = 0;
	CHECK(!hub_path_valid(long_seg));
	long_seg[255] = 0;
	CHECK(hub_path_valid(long_seg));
	CHECK(hub_oid_valid("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
	CHECK(!hub_oid_valid("0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
	CHECK(!hub_oid_valid("../../../../../../../../../../../../../../../../../../../../aa"));
	CHECK(!hub_oid_valid(NULL));
}

static void test_gitattributes(void)
{
	const char *d = attrs_default(HUB_REPO_MODEL);
	CHECK(attrs_is_lfs(d, "model.bin"));
	CHECK(attrs_is_lfs(d, "deep/dir/model.safetensors"));
	CHECK(attrs_is_lfs(d, "x.tar.gz"));
	CHECK(attrs_is_lfs(d, "saved_model/a/b/variables"));
	CHECK(attrs_is_lfs(d, "events.out.tfevents.123"));
	CHECK(attrs_is_lfs(d, "m.gguf"));
	CHECK(!attrs_is_lfs(d, "config.json"));
	CHECK(!attrs_is_lfs(d, "README.md"));
	CHECK(!attrs_is_lfs(d, "binary"));
	CHECK(!attrs_is_lfs(d, "image.png"));
	CHECK(attrs_is_lfs(attrs_default(HUB_REPO_DATASET), "image.png"));
	const char *custom = "# comment\n"
	                     "*.txt filter=lfs\n"
	                     "keep.txt -filter\n"
	                     "/root.dat filter=lfs diff=lfs\n"
	                     "data/**/*.csv filter=lfs\n"
	                     "[ab]?.raw filter=lfs\n"
	                     "\"quoted.bin\" filter=lfs\n"
	                     "other.txt filter=other\n";
	CHECK(attrs_is_lfs(custom, "a.txt"));
	CHECK(attrs_is_lfs(custom, "x/y/a.txt"));
	CHECK(!attrs_is_lfs(custom, "keep.txt"));
	CHECK(!attrs_is_lfs(custom, "other.txt"));
	CHECK(attrs_is_lfs(custom, "root.dat"));
	CHECK(!attrs_is_lfs(custom, "sub/root.dat"));
	CHECK(attrs_is_lfs(custom, "data/x.csv"));
	CHECK(attrs_is_lfs(custom, "data/a/b/x.csv"));
	CHECK(!attrs_is_lfs(custom, "other/x.csv"));
	CHECK(attrs_is_lfs(custom, "a1.raw"));
	CHECK(!attrs_is_lfs(custom, "c1.raw"));
	CHECK(attrs_is_lfs(custom, "quoted.bin"));
	CHECK(!attrs_is_lfs(NULL, "a.txt"));
	/* Globs: '*' stays in a segment, '**' crosses; hostile patterns end. */
	CHECK(attrs_glob("*.bin", "a.bin"));
	CHECK(!attrs_glob("*.bin", "d/a.bin"));
	CHECK(attrs_glob("**/a.bin", "a.bin"));
	CHECK(attrs_glob("**/a.bin", "x/y/a.bin"));
	CHECK(attrs_glob("x/**", "x/y/z"));
	CHECK(attrs_glob("a\\*b", "a*b"));
	CHECK(!attrs_glob("a\\*b", "axb"));
	CHECK(attrs_glob("[!a]x", "bx"));
	CHECK(!attrs_glob("[!a]x", "ax"));
	CHECK(attrs_glob("[a-c]", "b"));
	CHECK(!attrs_glob("[a", "b"));
	CHECK(attrs_glob("[a", "[a"));
	char evil[200], subject[300];
	snprintf(evil, sizeof(evil), "%s", "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b");
	memset(subject, 'a', sizeof(subject) - 1);
	subject[sizeof(subject) - 1] = 0;
	CHECK(!attrs_glob(evil, subject)); /* returns (the work budget), no match */

	/* Parsed once: only lines that set or unset the filter are rules, and
	 * the last matching one decides. */
	struct attrs a;
	attrs_parse(&a, custom);
	CHECK_EQ_INT(a.n, 7); /* the comment is not a rule; "other.txt filter=other" is */
	CHECK(attrs_match_lfs(&a, "a.txt"));
	CHECK(!attrs_match_lfs(&a, "keep.txt"));
	CHECK(attrs_match_lfs(&a, "data/a/x.csv"));
	attrs_release(&a);
	attrs_parse(&a, "*.txt filter=lfs\n*.txt diff=x\nnote.txt\n*.txt -filter\n");
	CHECK_EQ_INT(a.n, 2);
	CHECK(!attrs_match_lfs(&a, "a.txt"));
	attrs_release(&a);
	attrs_parse(&a, NULL);
	CHECK_EQ_INT(a.n, 0);
	CHECK(!attrs_match_lfs(&a, "a.txt"));
	attrs_release(&a);
	/* Thousands of hostile rules before an ordinary one: the budget is per
	 * path, so deciding stops; the result is "no match", not a hang. */
	struct buf many = BUF_INIT;
	buf_puts(&many, "*.bin filter=lfs\n");
	for (int i = 0; i < 5000; i++)
		buf_printf(&many, "%s filter=lfs\n", evil);
	attrs_parse(&a, many.data);
	CHECK_EQ_INT(a.n, 5001);
	CHECK(!attrs_match_lfs(&a, subject));
	attrs_release(&a);
	buf_release(&many);
}

static void test_lfs_pointers(void)
{
	char oid[65];
	int64_t size = -1;
	const char *ok =
	        "version https://git-lfs.github.com/spec/v1\n"
	        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
	        "size 12345\n";
	CHECK(lfs_pointer_parse(ok, strlen(ok), oid, &size));
	CHECK_EQ_STR(oid, "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393");
	CHECK_EQ_INT(size, 12345);
	struct buf b = BUF_INIT;
	lfs_pointer_format(&b, oid, size);
	CHECK_EQ_STR(b.data, ok);
	buf_release(&b);
	const char *ext =
	        "version https://git-lfs.github.com/spec/v1\n"
	        "ext-0-foo sha256:00\n"
	        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
	        "size 0\n";
	CHECK(lfs_pointer_parse(ext, strlen(ext), oid, &size));
	CHECK_EQ_INT(size, 0);
	const char *bad[] = {
	        "",
	        "hello world\n",
	        "version https://git-lfs.github.com/spec/v1\nsize 1\n",
	        "version https://git-lfs.github.com/spec/v1\n"
	        "oid sha256:4D7A214614AB2935C943F9E0FF69D22EADBB8F32B1258DAAA5E2CA24D17E2393\nsize "
	        "1\n",
	        "version https://git-lfs.github.com/spec/v1\n"
	        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize "
	        "-1\n",
	        "version https://git-lfs.github.com/spec/v1\n"
	        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
	        "size 99999999999999999999\n",
	        "version https://git-lfs.github.com/spec/v1\n"
	        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize "
	        "01\n",
	        "version https://git-lfs.github.com/spec/v1\n"
	        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize "
	        "1",
	        "version https://git-lfs.github.com/spec/v1\n"
	        "oid sha256:../../../../etc/passwd\nsize 1\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK(!lfs_pointer_parse(bad[i], strlen(bad[i]), oid, &size));
}

static void test_types(void)
{
	enum hub_repo_type t;
	CHECK_EQ_INT(hub_repo_type_parse("datasets", &t), 0);
	CHECK_EQ_INT(t, HUB_REPO_DATASET);
	CHECK_EQ_INT(hub_repo_type_parse("space", &t), 0);
	CHECK_EQ_INT(t, HUB_REPO_SPACE);
	CHECK_EQ_INT(hub_repo_type_parse(NULL, &t), 0);
	CHECK_EQ_INT(t, HUB_REPO_MODEL);
	CHECK_EQ_INT(hub_repo_type_parse("weird", &t), HD_EINVAL);
	CHECK_EQ_STR(hub_repo_type_prefix(HUB_REPO_DATASET), "datasets/");
	CHECK_EQ_STR(hub_repo_type_prefix(HUB_REPO_MODEL), "");
	CHECK_EQ_STR(hub_repo_type_plural(HUB_REPO_SPACE), "spaces");
}

int main(void)
{
	RUN(test_card_fields);
	RUN(test_card_edges);
	RUN(test_revisions);
	RUN(test_paths_and_oids);
	RUN(test_gitattributes);
	RUN(test_lfs_pointers);
	RUN(test_types);
	return test_summary();
}

/*
 * test_tok.c: the tokenizers.
 *
 *  - SentencePiece and byte-level BPE on small vocabularies built in
 *    memory: score order, merge rank order, byte fallback, dummy prefix,
 *    special-token splitting, invalid UTF-8;
 *  - hostile tokenizer metadata in GGUF form (written with the GGUF writer,
 *    read back with gguf_parse): a clear error, never a crash;
 *  - the conformance suite: every vocabulary in shared/data/tokenizer-vocabs
 *    must reproduce its .out ids for each .inp text (no BOS, specials not
 *    parsed), and decoding must give the text back where the reference is
 *    lossless;
 *  - 1 MB inputs of several shapes (no quadratic blowup; not timed).
 */
#include "infer/gguf.h"
#include "infer/tok.h"
#include "infer/tok_int.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers --------------------------------------------------------- */

struct ids {
	int32_t *v;
	size_t n, cap;
};

static int enc(const struct tok *t, const char *s, int flags, struct ids *out)
{
	out->n = 0;
	return tok_encode(t, s, strlen(s), flags, &out->v, &out->n, &out->cap);
}

/* "1 2 3" of the ids, for readable checks. */
static const char *ids_str(const struct ids *x)
{
	static char s[4096];
	size_t w = 0;
	s[0] = 0;
	for (size_t i = 0; i < x->n && w + 16 < sizeof(s); i++)
		w += (size_t)snprintf(s + w, sizeof(s) - w, "%s%d", i ? " " : "", x->v[i]);
	return s;
}

static const char *enc_str(const struct tok *t, const char *s, int flags)
{
	struct ids x = {0};
	int rc = enc(t, s, flags, &x);
	const char *r = rc < 0 ? "error" : ids_str(&x);
	free(x.v);
	return r;
}

static char *decode(const struct tok *t, const int32_t *ids, size_t n, int special)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < n; i++)
		tok_piece(t, ids[i], special, &b);
	buf_putc(&b, 0);
	b.len--;
	return buf_detach(&b, NULL);
}

/* ---- SentencePiece on a small vocabulary ------------------------------ */

enum { SPM_BYTE0 = 3 }; /* <0x00> is id 3 */

static struct tok *small_spm(void)
{
	static const char *const words[] = {"\xe2\x96\x81",
	                                    "a",
	                                    "b",
	                                    "c",
	                                    "ab",
	                                    "bc",
	                                    "\xe2\x96\x81"
	                                    "a",
	                                    "\xe2\x96\x81"
	                                    "ab",
	                                    "<x>",
	                                    "d"};
	static const float word_scores[] = {-1, -2, -2, -2, -3, -1.5f, -4, -5, 0, -2};
	const char *tokens[3 + 256 + ARRAY_SIZE(words)];
	char bytes[256][8];
	float scores[ARRAY_SIZE(tokens)];
	int32_t types[ARRAY_SIZE(tokens)];
	uint32_t n = 0;

	tokens[n] = "<unk>", types[n] = TOK_TYPE_UNKNOWN, scores[n++] = 0;
	tokens[n] = "<s>", types[n] = TOK_TYPE_CONTROL, scores[n++] = 0;
	tokens[n] = "</s>", types[n] = TOK_TYPE_CONTROL, scores[n++] = 0;
	for (int b = 0; b < 256; b++) {
		snprintf(bytes[b], sizeof(bytes[b]), "<0x%02X>", b);
		tokens[n] = bytes[b], types[n] = TOK_TYPE_BYTE, scores[n++] = 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		tokens[n] = words[i];
		scores[n] = word_scores[i];
		types[n] = !strcmp(words[i], "<x>") ? TOK_TYPE_USER_DEFINED : TOK_TYPE_NORMAL;
		n++;
	}
	struct tok_src src;
	tok_src_init(&src);
	src.model = "llama";
	src.n_tokens = n;
	src.tokens = tokens;
	src.scores = scores;
	src.types = types;
	struct tok *t = NULL;
	char err[256];
	if (tok_build(&src, &t, err, sizeof(err)) < 0)
		fprintf(stderr, "small_spm: %s\n", err);
	return t;
}

/* ids of the words above */
#define W(i) (3 + 256 + (i))
enum {
	SP = W(0),
	A = W(1),
	B = W(2),
	C = W(3),
	AB = W(4),
	BC = W(5),
	SP_A = W(6),
	SP_AB = W(7),
	UDEF = W(8),
	D = W(9)
};

static void test_spm_small(void)
{
	struct tok *t = small_spm();
	char want[256];
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_EQ_INT(tok_bos(t), 1);
	CHECK_EQ_INT(tok_eos(t), 2);
	CHECK_EQ_INT(tok_add_bos_default(t), 1);
	CHECK(tok_is_eog(t, 2));
	CHECK(!tok_is_eog(t, 1));

	/* "bc" scores higher than "ab": a + bc; the dummy prefix stays alone
	 * because "▁a" scores lower than "bc" took "b" */
	snprintf(want, sizeof(want), "%d %d", SP_A, BC);
	CHECK_EQ_STR(enc_str(t, "abc", 0), want);

	/* without the merge of b,c: ▁ab from ▁a + b */
	snprintf(want, sizeof(want), "%d", SP_AB);
	CHECK_EQ_STR(enc_str(t, "ab", 0), want);

	/* BOS */
	snprintf(want, sizeof(want), "1 %d", SP_AB);
	CHECK_EQ_STR(enc_str(t, "ab", TOK_ADD_BOS), want);

	/* byte fallback for what the vocabulary lacks: é = C3 A9 */
	snprintf(want, sizeof(want), "%d %d %d", SP, SPM_BYTE0 + 0xc3, SPM_BYTE0 + 0xa9);
	CHECK_EQ_STR(enc_str(t, "\xc3\xa9", 0), want);

	/* invalid UTF-8 is bytes (0xFF announces four bytes: "\xffd" is one symbol) */
	snprintf(want, sizeof(want), "%d %d %d", SP, SPM_BYTE0 + 0xff, SPM_BYTE0 + 'd');
	CHECK_EQ_STR(enc_str(t,
	                     "\xff"
	                     "d",
	                     0),
	             want);

	/* a lead byte whose sequence is cut short at the end */
	snprintf(want, sizeof(want), "%d %d %d", SP_A, SPM_BYTE0 + 0xe2, SPM_BYTE0 + 0x96);
	CHECK_EQ_STR(enc_str(t, "a\xe2\x96", 0), want);

	/* control tokens are text unless parsed; user-defined ones always split;
	 * text after a special token gets the dummy prefix again */
	snprintf(want, sizeof(want), "%d %d %d", SP_A, UDEF, SP_A);
	CHECK_EQ_STR(enc_str(t, "a<x>a", 0), want);
	snprintf(want, sizeof(want), "%d 1 %d", SP_A, SP_A);
	CHECK_EQ_STR(enc_str(t, "a<s>a", TOK_PARSE_SPECIAL), want);
	struct ids x = {0};
	CHECK_EQ_INT(enc(t, "a<s>a", 0, &x), 0);
	CHECK(x.n > 3); /* "<s>" spelled out as text */
	for (size_t i = 0; i < x.n; i++)
		CHECK(x.v[i] != 1);

	/* empty text: nothing (not even a dummy prefix) */
	CHECK_EQ_INT(enc(t, "", 0, &x), 0);
	CHECK_EQ_INT(x.n, 0);
	CHECK_EQ_INT(enc(t, "", TOK_ADD_BOS, &x), 0);
	CHECK_EQ_INT(x.n, 1);

	/* decoding */
	CHECK_EQ_INT(enc(t, "ab c\xc3\xa9", 0, &x), 0);
	char *d = decode(t, x.v, x.n, 0);
	CHECK_EQ_STR(d, " ab c\xc3\xa9");
	free(d);
	int32_t ctl[] = {1, SP_A, 2};
	d = decode(t, ctl, 3, 0);
	CHECK_EQ_STR(d, " a");
	free(d);
	d = decode(t, ctl, 3, 1);
	CHECK_EQ_STR(d, "<s> a</s>");
	free(d);
	struct buf b = BUF_INIT;
	CHECK_EQ_INT(tok_piece(t, -1, 1, &b), HD_EINVAL);
	CHECK_EQ_INT(tok_piece(t, tok_n_vocab(t), 1, &b), HD_EINVAL);
	buf_release(&b);
	CHECK_EQ_STR(tok_text(t, SP_AB), "\xe2\x96\x81"
	                                 "ab");
	CHECK(tok_text(t, -5) == NULL);
	free(x.v);
	tok_free(t);
}

/* A token with U+2581 inside: merging must then reach across words. */
static void test_spm_inner_space(void)
{
	static const char *const tokens[] = {"<unk>",
	                                     "<s>",
	                                     "</s>",
	                                     "a",
	                                     "b",
	                                     "\xe2\x96\x81",
	                                     "\xe2\x96\x81"
	                                     "a",
	                                     "a\xe2\x96\x81",
	                                     "a\xe2\x96\x81"
	                                     "b"};
	static const float scores[] = {0, 0, 0, -9, -9, -9, -5, -1, -0.5f};
	struct tok_src src;
	struct tok *t = NULL;
	char err[256];
	tok_src_init(&src);
	src.model = "llama";
	src.n_tokens = ARRAY_SIZE(tokens);
	src.tokens = tokens;
	src.scores = scores;
	CHECK_EQ_INT(tok_build(&src, &t, err, sizeof(err)), 0);
	if (!t)
		return;
	CHECK(!t->spm_word_cuts);
	CHECK_EQ_STR(enc_str(t, "a b", 0), "5 8"); /* ▁ + a▁b */
	tok_free(t);
	t = small_spm();
	CHECK(t && t->spm_word_cuts);
	tok_free(t);
}

/* ---- byte-level BPE on a small vocabulary ----------------------------- */

static struct tok *small_bpe(const char *pre, const char *const *merges, uint32_t n_merges)
{
	/* byte-level spellings: "Ġ" is the space, "Ċ" the newline */
	static const char *const tokens[] = {"a",
	                                     "b",
	                                     "c",
	                                     "\xc4\xa0",
	                                     "\xc4\x8a",
	                                     "ab",
	                                     "abc",
	                                     "\xc4\xa0"
	                                     "a",
	                                     "<|endoftext|>",
	                                     "1",
	                                     "2",
	                                     "12",
	                                     "!"};
	static const int32_t types[] = {1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 1, 1};
	struct tok_src src;
	tok_src_init(&src);
	src.model = "gpt2";
	src.pre = pre;
	src.n_tokens = ARRAY_SIZE(tokens);
	src.tokens = tokens;
	src.types = types;
	src.merges = merges;
	src.n_merges = n_merges;
	src.special[TOK_SP_BOS] = 8;
	src.special[TOK_SP_EOS] = 8;
	struct tok *t = NULL;
	char err[256];
	if (tok_build(&src, &t, err, sizeof(err)) < 0)
		fprintf(stderr, "small_bpe: %s\n", err);
	return t;
}

static void test_bpe_small(void)
{
	static const char *const merges[] = {"a b", "ab c", "\xc4\xa0 a", "1 2"};
	struct tok *t = small_bpe("gpt-2", merges, ARRAY_SIZE(merges));
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_EQ_INT(tok_add_bos_default(t), 0);
	CHECK(tok_is_eog(t, 8));
	/* rank order: a+b (0) before Ġ+a (2), so " ab" is Ġ + ab */
	CHECK_EQ_STR(enc_str(t, " ab", 0), "3 5");
	CHECK_EQ_STR(enc_str(t, "abc", 0), "6");
	CHECK_EQ_STR(enc_str(t, " a", 0), "7");
	/* gpt-2 splits numbers from letters: "12" is one word, merged */
	CHECK_EQ_STR(enc_str(t, "12", 0), "11");
	CHECK_EQ_STR(enc_str(t, "a\n", 0), "0 4");
	/* control text is plain text unless parsed */
	CHECK_EQ_STR(enc_str(t, "<|endoftext|>", TOK_PARSE_SPECIAL), "8");
	CHECK_EQ_STR(enc_str(t, "a<|endoftext|>", TOK_PARSE_SPECIAL | TOK_ADD_BOS), "8 0 8");
	/* bytes the vocabulary lacks are dropped, as the reference does */
	CHECK_EQ_STR(enc_str(t, "a<|", 0), "0");
	/* invalid UTF-8 becomes U+FFFD (not in this vocabulary): no crash */
	CHECK_EQ_STR(enc_str(t,
	                     "\xff\xc0\x80\xed\xa0\x80\xf7\xbf\xbf\xbf"
	                     "ab",
	                     0),
	             "5");
	/* decoding undoes the byte-level spelling */
	int32_t ids[] = {3, 5, 4, 8};
	char *d = decode(t, ids, 4, 0);
	CHECK_EQ_STR(d, " ab\n");
	free(d);
	d = decode(t, ids, 4, 1);
	CHECK_EQ_STR(d, " ab\n<|endoftext|>");
	free(d);
	tok_free(t);

	/* without the merges: bytes */
	t = small_bpe("gpt-2", merges, 0);
	CHECK(t != NULL);
	if (t) {
		CHECK_EQ_STR(enc_str(t, " ab", 0), "3 0 1");
		tok_free(t);
	}

	/* llama3 takes a word that is a token whole (ignore_merges) */
	t = small_bpe("llama-bpe", merges, 1);
	CHECK(t != NULL);
	if (t) {
		CHECK_EQ_STR(enc_str(t, "abc", 0), "6");
		CHECK_EQ_INT(tok_add_bos_default(t), 1);
		tok_free(t);
	}
	/* unknown pre-tokenizer: refused */
	char err[256] = "";
	struct tok *u = NULL;
	struct tok_src src;
	static const char *const one[] = {"a"};
	tok_src_init(&src);
	src.model = "gpt2";
	src.pre = "no-such-pre";
	src.n_tokens = 1;
	src.tokens = one;
	src.merges = merges;
	CHECK(tok_build(&src, &u, err, sizeof(err)) == HD_EUNSUPPORTED);
	CHECK(strstr(err, "no-such-pre") != NULL);
	CHECK(u == NULL);
}

/* Every pre-tokenizer in the table compiles and splits a mixed text. */
static void test_pre_all(void)
{
	static const char *const merges[] = {"a b"};
	static const char text[] =
	        "Hello, y'all! How are you \xf0\x9f\x98\x81 ?\xe6\x88\x91\xe6\x83\xb3"
	        "apple1314151\xef\xbd\x9e \n\n\t \xe3\x80\x80 x  \xc3\xa9t\xc3\xa9 "
	        "<sentinel:3> IMGIMGABZ";
	size_t n_pre = 0;
	for (size_t i = 0; tok_pre_name(i); i++) {
		struct tok *t = small_bpe(tok_pre_name(i), merges, 1);
		CHECK(t != NULL);
		if (!t) {
			fprintf(stderr, "pre %s failed\n", tok_pre_name(i));
			continue;
		}
		struct ids x = {0};
		CHECK_EQ_INT(enc(t, text, 0, &x), 0);
		CHECK(x.n > 0);
		free(x.v);
		tok_free(t);
		n_pre++;
	}
	CHECK(n_pre > 60);
}

/* ---- hostile metadata in GGUF form ------------------------------------ */

/* Writes a GGUF with the given tokenizer keys and loads its tokenizer from
 * the bytes with gguf_parse. Returns tok_load_gguf's result. */
typedef void (*fill_fn)(struct gguf_writer *w);

static int load_from(fill_fn fill, struct tok **out, char *err, size_t err_size)
{
	char path[] = "/tmp/test_tok_XXXXXX";
	int fd = mkstemp(path);
	struct gguf_writer *w = gguf_writer_new();
	struct gguf_file *f = NULL;
	struct buf b = BUF_INIT;
	int rc;

	if (fd >= 0)
		close(fd);
	fill(w);
	rc = gguf_writer_write(w, path);
	gguf_writer_free(w);
	if (rc < 0) {
		unlink(path);
		return hd_fail(err, err_size, rc, "writer failed");
	}
	rc = fs_read_file(path, &b, 1 << 26);
	unlink(path);
	if (rc < 0)
		return hd_fail(err, err_size, rc, "read failed");
	rc = gguf_parse(b.data, b.len, &f, err, err_size);
	if (rc == 0) {
		rc = tok_load_gguf(f, out, err, err_size);
		gguf_close(f);
	}
	buf_release(&b);
	return rc;
}

static const char *const h_tokens[] = {"<unk>", "<s>", "</s>", "a", "b", "ab"};

static void h_base(struct gguf_writer *w)
{
	gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
	gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", h_tokens, ARRAY_SIZE(h_tokens));
}
static void h_ok(struct gguf_writer *w)
{
	static const float scores[] = {0, 0, 0, -1, -1, -0.5f};
	static const int32_t types[] = {2, 3, 3, 1, 1, 1};
	h_base(w);
	gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, 6);
	gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, 6);
	gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
	gguf_writer_set_u32(w, "tokenizer.ggml.seperator_token_id", 4294967295u);
	gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", 0);
}
static void h_short_scores(struct gguf_writer *w)
{
	static const float scores[] = {0, 0, 0};
	h_base(w);
	gguf_writer_set_arr_f32(w, "tokenizer.ggml.scores", scores, 3);
}
static void h_short_types(struct gguf_writer *w)
{
	static const int32_t types[] = {1, 1};
	h_base(w);
	gguf_writer_set_arr_i32(w, "tokenizer.ggml.token_type", types, 2);
}
static void h_types_wrong(struct gguf_writer *w)
{
	static const float types[] = {1, 1, 1, 1, 1, 1};
	h_base(w);
	gguf_writer_set_arr_f32(w, "tokenizer.ggml.token_type", types, 6);
}
static void h_no_model(struct gguf_writer *w)
{
	gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", h_tokens, 6);
}
static void h_bad_model(struct gguf_writer *w)
{
	gguf_writer_set_str(w, "tokenizer.ggml.model", "rwkv");
	gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", h_tokens, 6);
}
static void h_no_tokens(struct gguf_writer *w)
{
	gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
}
static void h_tokens_not_str(struct gguf_writer *w)
{
	static const int32_t v[] = {1, 2, 3};
	gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
	gguf_writer_set_arr_i32(w, "tokenizer.ggml.tokens", v, 3);
}
static void h_dup(struct gguf_writer *w)
{
	static const char *const t[] = {"<unk>", "<s>", "</s>", "a", "a"};
	gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
	gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", t, 5);
}
static void h_not_utf8(struct gguf_writer *w)
{
	static const char *const t[] = {"<unk>", "<s>", "</s>", "a\xff"};
	gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
	gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", t, 4);
}
static void h_bos_range(struct gguf_writer *w)
{
	h_base(w);
	gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1000000);
	gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 7);
}
static void h_add_bos_no_bos(struct gguf_writer *w)
{
	static const char *const t[] = {"a"};
	gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
	gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", t, 1);
}
static void h_bpe_no_merges(struct gguf_writer *w)
{
	gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
	gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2");
	gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", h_tokens, 6);
}
static void h_bpe_odd_merges(struct gguf_writer *w)
{
	/* merges naming unknown strings, without a space, empty, with a leading space */
	static const char *const m[] = {"zz qq", "nospace", "", " a", "a ", "a b", "\xff\xfe \x80"};
	gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
	gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama-bpe");
	gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", h_tokens, 6);
	gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", m, ARRAY_SIZE(m));
	gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
}
static void h_flag_wrong(struct gguf_writer *w)
{
	h_base(w);
	gguf_writer_set_str(w, "tokenizer.ggml.add_bos_token", "yes");
}

static void test_hostile_gguf(void)
{
	static const struct {
		fill_fn fill;
		int rc;
		const char *msg;
	} cases[] = {
	        {h_short_scores, HD_EINVAL, "scores"},
	        {h_short_types, HD_EINVAL, "token_type"},
	        {h_types_wrong, HD_EINVAL, "token_type"},
	        {h_no_model, HD_EINVAL, "tokenizer.ggml.model"},
	        {h_bad_model, HD_EUNSUPPORTED, "rwkv"},
	        {h_no_tokens, HD_EINVAL, "tokenizer.ggml.tokens"},
	        {h_tokens_not_str, HD_EINVAL, "tokenizer.ggml.tokens"},
	        {h_dup, HD_EINVAL, "duplicate"},
	        {h_not_utf8, HD_EINVAL, "UTF-8"},
	        {h_add_bos_no_bos, HD_EINVAL, "BOS"},
	        {h_bpe_no_merges, HD_EINVAL, "merges"},
	        {h_flag_wrong, HD_EINVAL, "boolean"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct tok *t = NULL;
		char err[256] = "";
		int rc = load_from(cases[i].fill, &t, err, sizeof(err));
		CHECK_EQ_INT(rc, cases[i].rc);
		CHECK(t == NULL);
		if (!strstr(err, cases[i].msg)) {
			fprintf(stderr, "case %zu: message '%s' lacks '%s'\n", i, err,
			        cases[i].msg);
			CHECK(0);
		}
	}

	/* oversized declarations are refused before anything is read */
	{
		static const char *const one[] = {"a"};
		struct tok_src src;
		struct tok *t = NULL;
		char err[256] = "";
		tok_src_init(&src);
		src.model = "llama";
		src.tokens = one;
		src.n_tokens = TOK_MAX_VOCAB + 1;
		CHECK_EQ_INT(tok_build(&src, &t, err, sizeof(err)), HD_ETOOBIG);
		CHECK(t == NULL && strstr(err, "vocabulary") != NULL);
		src.n_tokens = 1;
		src.model = "gpt2";
		src.merges = one;
		src.n_merges = TOK_MAX_MERGES + 1;
		CHECK_EQ_INT(tok_build(&src, &t, err, sizeof(err)), HD_ETOOBIG);
		CHECK(t == NULL && strstr(err, "merges") != NULL);
	}

	/* a good one, with an out-of-range id ignored and a flag read */
	struct tok *t = NULL;
	char err[256] = "";
	CHECK_EQ_INT(load_from(h_ok, &t, err, sizeof(err)), 0);
	if (t) {
		CHECK_EQ_INT(tok_n_vocab(t), 6);
		CHECK_EQ_INT(tok_bos(t), 1);
		CHECK_EQ_STR(enc_str(t, "ab", TOK_ADD_BOS), "1 5"); /* no dummy prefix */
		tok_free(t);
	}
	/* out-of-range BOS from metadata keeps the default; EOS 7 is out of range */
	t = NULL;
	CHECK_EQ_INT(load_from(h_bos_range, &t, err, sizeof(err)), 0);
	if (t) {
		CHECK_EQ_INT(tok_bos(t), 1);
		CHECK_EQ_INT(tok_eos(t), 2);
		tok_free(t);
	}
	/* odd merges load and stay inert */
	t = NULL;
	CHECK_EQ_INT(load_from(h_bpe_odd_merges, &t, err, sizeof(err)), 0);
	if (t) {
		CHECK_EQ_STR(enc_str(t, "ab", 0), "5");
		CHECK_EQ_STR(enc_str(t, "zzqq", 0), "");
		tok_free(t);
	} else {
		fprintf(stderr, "odd merges: %s\n", err);
	}
}

/* ---- conformance suite ------------------------------------------------ */

static const char *data_dir(void)
{
	static const char *const dirs[] = {"../../shared/data", "../shared/data",
	                                   "/work/shared/data"};
	const char *env = getenv("HUDDLE_SHARED_DATA");
	if (env && *env)
		return env;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		char p[512];
		snprintf(p, sizeof(p), "%s/tokenizer-vocabs", dirs[i]);
		if (access(p, R_OK) == 0)
			return dirs[i];
	}
	return NULL;
}

static struct tok *load_path(const char *path)
{
	struct gguf_file *f = NULL;
	struct tok *t = NULL;
	char err[256] = "";
	if (gguf_open(path, &f, err, sizeof(err)) < 0 || tok_load_gguf(f, &t, err, sizeof(err)) < 0)
		fprintf(stderr, "%s: %s\n", path, err);
	gguf_close(f);
	return t;
}

/* Splits the .inp texts; returns the count. texts[i] point into buf. */
static size_t split_inp(struct buf *b, char **texts, size_t *lens, size_t max)
{
	static const char sep[] = "\n__ggml_vocab_test__\n";
	size_t n = 0, off = 0;
	while (off < b->len && n < max) {
		char *m = memmem(b->data + off, b->len - off, sep, sizeof(sep) - 1);
		if (!m)
			break;
		texts[n] = b->data + off;
		lens[n] = (size_t)(m - (b->data + off));
		n++;
		off = (size_t)(m - b->data) + sizeof(sep) - 1;
	}
	return n;
}

static const char *const vocabs[] = {"llama-spm",      "phi-3",   "gpt-2",  "mpt",
                                     "starcoder",      "refact",  "falcon", "deepseek-llm",
                                     "deepseek-coder", "bert-bge"};

static void test_conformance(void)
{
	const char *dir = data_dir();
	if (!dir) {
		if (getenv("HUDDLE_NO_SHARED_DATA")) {
			fprintf(stderr, "skip: shared data not found\n");
			return;
		}
		fprintf(stderr, "shared/data/tokenizer-vocabs not found beside the checkout "
		                "(set HUDDLE_SHARED_DATA, or HUDDLE_NO_SHARED_DATA=1 to skip)\n");
		CHECK(0);
		return;
	}
	for (size_t v = 0; v < ARRAY_SIZE(vocabs); v++) {
		char path[600], pin[640], pout[640];
		struct buf bin = BUF_INIT, bout = BUF_INIT;
		char *texts[256];
		size_t lens[256];
		snprintf(path, sizeof(path), "%s/tokenizer-vocabs/ggml-vocab-%s.gguf", dir,
		         vocabs[v]);
		snprintf(pin, sizeof(pin), "%s.inp", path);
		snprintf(pout, sizeof(pout), "%s.out", path);
		struct tok *t = load_path(path);
		CHECK(t != NULL);
		if (!t || fs_read_file(pin, &bin, 1 << 24) < 0 ||
		    fs_read_file(pout, &bout, 1 << 24) < 0) {
			fprintf(stderr, "%s: cannot read the suite\n", vocabs[v]);
			CHECK(0);
			tok_free(t);
			buf_release(&bin);
			buf_release(&bout);
			continue;
		}
		size_t n = split_inp(&bin, texts, lens, 256);
		size_t ok = 0, rt_ok = 0, rt_n = 0;
		char *line = bout.data;
		struct ids x = {0};
		for (size_t i = 0; i < n; i++) {
			char *nl = line ? strchr(line, '\n') : NULL;
			if (nl)
				*nl = 0;
			x.n = 0;
			int rc = tok_encode(t, texts[i], lens[i], 0, &x.v, &x.n, &x.cap);
			const char *got = rc < 0 ? "error" : ids_str(&x);
			const char *want = line ? line : "";
			while (*want == ' ')
				want++;
			if (!strcmp(got, want)) {
				ok++;
			} else {
				fprintf(stderr,
				        "%s: text %zu: got  [%s]\n%s: text %zu: want [%s]\n",
				        vocabs[v], i, got, vocabs[v], i, want);
			}
			/* decoding gives the text back (the SentencePiece dummy prefix
			 * is one leading space; WordPiece normalizes, so it is lossy) */
			if (strcmp(vocabs[v], "bert-bge") && rc == 0) {
				char *d = decode(t, x.v, x.n, 1);
				const char *cmp = d;
				if (t->type == TOK_MODEL_SPM && t->add_space_prefix && *cmp == ' ')
					cmp++;
				rt_n++;
				if (strlen(cmp) == lens[i] && !memcmp(cmp, texts[i], lens[i]))
					rt_ok++;
				else
					fprintf(stderr, "%s: text %zu does not round-trip\n",
					        vocabs[v], i);
				free(d);
			}
			line = nl ? nl + 1 : NULL;
		}
		printf("conformance %-15s %zu/%zu texts", vocabs[v], ok, n);
		if (rt_n)
			printf(", round trip %zu/%zu", rt_ok, rt_n);
		printf("\n");
		CHECK(n > 30);
		CHECK_EQ_INT(ok, n);
		CHECK_EQ_INT(rt_ok, rt_n);
		free(x.v);
		tok_free(t);
		buf_release(&bin);
		buf_release(&bout);
	}
}

/* stories260K: the ids node-llama-cpp (llama.cpp) gives for these prompts,
 * without BOS, and the BOS default. The JS test checks the same against
 * the live reference. */
static void test_stories(void)
{
	const char *dir = data_dir();
	char path[600];
	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/models/stories260K.gguf", dir);
	struct tok *t = load_path(path);
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_EQ_INT(tok_n_vocab(t), 512);
	CHECK_EQ_INT(tok_add_bos_default(t), 1);
	CHECK_EQ_STR(enc_str(t, "Once upon a time", TOK_ADD_BOS), "1 403 407 261 378");
	tok_free(t);
}

/* ---- long inputs ------------------------------------------------------- */

static void check_long(const struct tok *t, const char *name, const char *s, size_t n)
{
	struct ids x = {0};
	double t0 = time_mono_s();
	int rc = tok_encode(t, s, n, 0, &x.v, &x.n, &x.cap);
	double dt = time_mono_s() - t0;
	CHECK_EQ_INT(rc, 0);
	CHECK(x.n > 0);
	char *d = decode(t, x.v, x.n, 1);
	const char *cmp = d;
	if (t->type == TOK_MODEL_SPM && *cmp == ' ')
		cmp++;
	CHECK(strlen(cmp) == n && !memcmp(cmp, s, n));
	printf("long input %-28s %zu bytes -> %zu tokens (%.2f s)\n", name, n, x.n, dt);
	free(d);
	free(x.v);
}

static void test_long(void)
{
	const char *dir = data_dir();
	static const char *const which[] = {"llama-spm", "gpt-2", "deepseek-llm", "falcon"};
	static const char sentence[] = "Hello, y'all! How are you \xf0\x9f\x98\x81 ? "
	                               "\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8"
	                               "apple 1314151 \n\t ";
	const size_t n = 1 << 20;
	char *mixed = xmalloc(n), *spaces = xmalloc(n), *letters = xmalloc(n);
	for (size_t i = 0; i < n; i++) {
		mixed[i] = sentence[i % (sizeof(sentence) - 1)];
		spaces[i] = i % 4096 == 4095 ? 'x' : ' ';
		letters[i] = (char)('a' + (i * 7) % 26);
	}
	/* cut the mixed text at a character boundary */
	size_t nm = n;
	while (nm > 0 && ((unsigned char)mixed[nm - 1] & 0xc0) == 0x80)
		nm--;
	while (nm > 0 && ((unsigned char)mixed[nm - 1] & 0x80))
		nm--;
	if (!dir)
		goto done;
	for (size_t v = 0; v < ARRAY_SIZE(which); v++) {
		char path[600], name[64];
		snprintf(path, sizeof(path), "%s/tokenizer-vocabs/ggml-vocab-%s.gguf", dir,
		         which[v]);
		struct tok *t = load_path(path);
		CHECK(t != NULL);
		if (!t)
			continue;
		snprintf(name, sizeof(name), "%s mixed", which[v]);
		check_long(t, name, mixed, nm);
		snprintf(name, sizeof(name), "%s spaces", which[v]);
		check_long(t, name, spaces, n);
		snprintf(name, sizeof(name), "%s one long word", which[v]);
		check_long(t, name, letters, n);
		tok_free(t);
	}
done:
	free(mixed);
	free(spaces);
	free(letters);
}

/* Special tokens in a long text (the 4-gram filter path), for a vocabulary
 * with thousands of user-defined tokens. */
static void test_partition_long(void)
{
	const char *dir = data_dir();
	char path[600];
	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/tokenizer-vocabs/ggml-vocab-deepseek-llm.gguf", dir);
	struct tok *t = load_path(path);
	CHECK(t != NULL);
	if (!t)
		return;
	struct buf b = BUF_INIT;
	for (int i = 0; i < 300; i++)
		buf_puts(&b, i % 3 ? "ab [PAD100015] " : "[PAD1000 x[PAD102399]");
	struct ids x = {0};
	CHECK_EQ_INT(tok_encode(t, b.data, b.len, 0, &x.v, &x.n, &x.cap), 0);
	int n15 = 0, n399 = 0;
	for (size_t i = 0; i < x.n; i++) {
		n15 += x.v[i] == 100015;
		n399 += x.v[i] == 102399;
	}
	CHECK_EQ_INT(n15, 200);
	CHECK_EQ_INT(n399, 100);
	char *d = decode(t, x.v, x.n, 1);
	CHECK_EQ_STR(d, b.data);
	free(d);
	free(x.v);
	buf_release(&b);
	tok_free(t);
}

/* WordPiece's longest match on a vocabulary built to make it slow: every
 * token length up to 1024, all sharing the text's prefix (matches are
 * bounded at 128 bytes). */
static void test_wpm_hostile_long(void)
{
	enum { L = 1024 };
	const char *tokens[L + 4];
	char *store = xmalloc((size_t)L * (L + 4));
	uint32_t n = 0;
	tokens[n++] = "[UNK]";
	for (int len = 1; len <= L; len++) {
		char *s = store + (size_t)(len - 1) * (L + 4);
		memcpy(s, "\xe2\x96\x81", 3);
		memset(s + 3, 'a', (size_t)len);
		s[3 + len - 1] = len == 1 ? 'a' : 'b'; /* "▁a", "▁ab", "▁aab", ... */
		s[3 + len] = 0;
		tokens[n++] = s;
	}
	tokens[n++] = "a";
	struct tok_src src;
	struct tok *t = NULL;
	char err[256];
	tok_src_init(&src);
	src.model = "bert";
	src.tokens = tokens;
	src.n_tokens = n;
	src.special[TOK_SP_UNK] = 0;
	src.add_bos = 0;
	src.add_sep = 0;
	CHECK_EQ_INT(tok_build(&src, &t, err, sizeof(err)), 0);
	if (t) {
		const size_t len = 1 << 18;
		char *text = xmalloc(len);
		memset(text, 'a', len);
		struct ids x = {0};
		double t0 = time_mono_s();
		CHECK_EQ_INT(tok_encode(t, text, len, 0, &x.v, &x.n, &x.cap), 0);
		/* "▁a" then "a" for each following byte */
		CHECK_EQ_INT(x.n, len);
		CHECK(x.n > 1 && x.v[0] == 1 && x.v[1] == (int32_t)n - 1);
		printf("long input wordpiece hostile            %zu bytes -> %zu tokens (%.2f s)\n",
		       len, x.n, time_mono_s() - t0);
		free(x.v);
		free(text);
		tok_free(t);
	}
	free(store);
}

int main(void)
{
	RUN(test_spm_small);
	RUN(test_spm_inner_space);
	RUN(test_bpe_small);
	RUN(test_pre_all);
	RUN(test_hostile_gguf);
	RUN(test_conformance);
	RUN(test_stories);
	RUN(test_long);
	RUN(test_partition_long);
	RUN(test_wpm_hostile_long);
	return test_summary();
}

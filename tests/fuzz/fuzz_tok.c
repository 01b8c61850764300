/*
 * fuzz_tok.c: the tokenizers, on hostile metadata and hostile text.
 *
 * Input: one mode byte, then
 *  - mode & 3 == 0: a little-endian u32 length L, L bytes of a GGUF file
 *    (tokenizer metadata; parsed with gguf_parse, loaded with
 *    tok_load_gguf), then text to encode with what loaded;
 *  - otherwise: text, encoded with one of the built-in vocabularies (a
 *    SentencePiece, a WordPiece and a byte-level BPE vocabulary per
 *    pre-tokenizer the engine knows, plus the real vocabularies of the
 *    conformance suite when shared/data is beside the checkout).
 * Encoding flags come from the mode byte. Every id that comes out must be
 * in range; each is decoded both ways.
 */
#include "infer/gguf.h"
#include "infer/tok.h"
#include "infer/tok_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run_text(const struct tok *t, const uint8_t *text, size_t len, uint8_t mode)
{
	/* an exact-size copy, so a read past the end is caught */
	char *s = malloc(len ? len : 1);
	int32_t *ids = NULL;
	size_t n = 0, cap = 0;
	int flags = ((mode >> 4) & 1 ? TOK_ADD_BOS : 0) |
	            ((mode >> 5) & 1 ? TOK_PARSE_SPECIAL : 0) | ((mode >> 6) & 1 ? TOK_ADD_EOS : 0);
	memcpy(s, text, len);
	if (tok_encode(t, s, len, flags, &ids, &n, &cap) == 0) {
		struct buf b = BUF_INIT;
		for (size_t i = 0; i < n; i++) {
			if (ids[i] < 0 || ids[i] >= tok_n_vocab(t))
				abort(); /* an id out of range is a bug */
			if (tok_piece(t, ids[i], 1, &b) < 0 || tok_piece(t, ids[i], 0, &b) < 0 ||
			    !tok_text(t, ids[i]))
				abort();
			(void)tok_is_eog(t, ids[i]);
		}
		buf_release(&b);
	}
	free(ids);
	free(s);
}

static struct tok *build(const char *model, const char *pre, const char *const *tokens, uint32_t n,
                         const float *scores, const int32_t *types, const char *const *merges,
                         uint32_t n_merges)
{
	struct tok_src src;
	struct tok *t = NULL;
	char err[256];
	tok_src_init(&src);
	src.model = model;
	src.pre = pre;
	src.tokens = tokens;
	src.n_tokens = n;
	src.scores = scores;
	src.types = types;
	src.merges = merges;
	src.n_merges = n_merges;
	if (tok_build(&src, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_tok: built-in vocabulary: %s\n", err);
		abort();
	}
	return t;
}

static const char *const words[] = {"the", "he",    "ll", "llo", "hello", "wor",
                                    "ld",  "world", "in", "ing", "er",    "an",
                                    "12",  "123",   "!!", "..",  "<x>",   "<ctl>"};

static struct tok *builtin_spm(void)
{
	static char names[256 + ARRAY_SIZE(words) * 2][16];
	const char *tokens[3 + ARRAY_SIZE(names) + 27];
	float scores[ARRAY_SIZE(tokens)];
	int32_t types[ARRAY_SIZE(tokens)];
	uint32_t n = 0;
	tokens[n] = "<unk>", types[n] = TOK_TYPE_UNKNOWN, scores[n++] = 0;
	tokens[n] = "<s>", types[n] = TOK_TYPE_CONTROL, scores[n++] = 0;
	tokens[n] = "</s>", types[n] = TOK_TYPE_CONTROL, scores[n++] = 0;
	for (int b = 0; b < 256; b++) {
		snprintf(names[b], sizeof(names[b]), "<0x%02X>", b);
		tokens[n] = names[b], types[n] = TOK_TYPE_BYTE, scores[n++] = 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		int user = !strcmp(words[i], "<x>"), ctl = !strcmp(words[i], "<ctl>");
		tokens[n] = words[i];
		types[n] = user ? TOK_TYPE_USER_DEFINED : ctl ? TOK_TYPE_CONTROL : TOK_TYPE_NORMAL;
		scores[n++] = -(float)i;
		if (user || ctl)
			continue;
		char *w = names[256 + i];
		snprintf(w, sizeof(names[0]), "\xe2\x96\x81%s", words[i]);
		tokens[n] = w, types[n] = TOK_TYPE_NORMAL, scores[n++] = -(float)i - 0.5f;
	}
	for (char c = 'a'; c <= 'z'; c++) {
		static char letters[26][2];
		letters[c - 'a'][0] = c;
		tokens[n] = letters[c - 'a'], types[n] = TOK_TYPE_NORMAL, scores[n++] = -50;
	}
	tokens[n] = "\xe2\x96\x81", types[n] = TOK_TYPE_NORMAL, scores[n++] = -40;
	return build("llama", NULL, tokens, n, scores, types, NULL, 0);
}

static struct tok *builtin_wpm(void)
{
	static char names[ARRAY_SIZE(words) + 40][16];
	const char *tokens[8 + 2 * ARRAY_SIZE(names)];
	int32_t types[ARRAY_SIZE(tokens)];
	uint32_t n = 0, k = 0;
	static const char *const head[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
	for (size_t i = 0; i < ARRAY_SIZE(head); i++)
		tokens[n] = head[i], types[n++] = i == 1 ? TOK_TYPE_UNKNOWN : TOK_TYPE_CONTROL;
	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		tokens[n] = words[i], types[n++] = TOK_TYPE_NORMAL;
		snprintf(names[k], sizeof(names[k]), "\xe2\x96\x81%s", words[i]);
		tokens[n] = names[k++], types[n++] = TOK_TYPE_NORMAL;
	}
	for (char c = 'a'; c <= 'z'; c++) {
		snprintf(names[k], sizeof(names[k]), "\xe2\x96\x81%c", c);
		tokens[n] = names[k++], types[n++] = TOK_TYPE_NORMAL;
	}
	struct tok_src src;
	struct tok *t = NULL;
	char err[256];
	tok_src_init(&src);
	src.model = "bert";
	src.tokens = tokens;
	src.n_tokens = n;
	src.types = types;
	src.special[TOK_SP_BOS] = 2;
	src.special[TOK_SP_UNK] = 1;
	src.special[TOK_SP_SEP] = 3;
	src.special[TOK_SP_MASK] = 4;
	if (tok_build(&src, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_tok: wpm: %s\n", err);
		abort();
	}
	return t;
}

static struct tok *builtin_bpe(const char *pre)
{
	/* every byte-level character, some words, two specials */
	static char chars[256][4];
	static int init;
	const char *tokens[320];
	int32_t types[ARRAY_SIZE(tokens)];
	static const char *const merges[] = {"h e",
	                                     "l l",
	                                     "he ll",
	                                     "hell o",
	                                     "w o",
	                                     "wo r",
	                                     "l d",
	                                     "wor ld",
	                                     "t h",
	                                     "th e",
	                                     "\xc4\xa0 t",
	                                     "\xc4\xa0t he",
	                                     "i n",
	                                     "in g",
	                                     "e r",
	                                     "a n",
	                                     "1 2",
	                                     "12 3",
	                                     "! !",
	                                     ". .",
	                                     "\xc4\xa0 \xc4\xa0",
	                                     "\xc4\x8a \xc4\x8a"};
	uint32_t n = 0;
	if (!init) {
		uint32_t next = 256;
		for (int b = 0; b < 256; b++) {
			int printable =
			        (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
			uint32_t cp = printable ? (uint32_t)b : next++;
			chars[b][tok_utf8_put(chars[b], cp)] = 0;
		}
		init = 1;
	}
	for (int b = 0; b < 256; b++)
		tokens[n] = chars[b], types[n++] = TOK_TYPE_NORMAL;
	static const char *const more[] = {"he",
	                                   "ll",
	                                   "hell",
	                                   "hello",
	                                   "wo",
	                                   "wor",
	                                   "ld",
	                                   "world",
	                                   "th",
	                                   "the",
	                                   "\xc4\xa0t",
	                                   "\xc4\xa0the",
	                                   "in",
	                                   "ing",
	                                   "er",
	                                   "an",
	                                   "12",
	                                   "123",
	                                   "!!",
	                                   "..",
	                                   "\xc4\xa0\xc4\xa0",
	                                   "\xc4\x8a\xc4\x8a"};
	for (size_t i = 0; i < ARRAY_SIZE(more); i++)
		tokens[n] = more[i], types[n++] = TOK_TYPE_NORMAL;
	tokens[n] = "<|endoftext|>", types[n++] = TOK_TYPE_CONTROL;
	tokens[n] = "<|user|>", types[n++] = TOK_TYPE_USER_DEFINED;
	struct tok_src src;
	struct tok *t = NULL;
	char err[256];
	tok_src_init(&src);
	src.model = "gpt2";
	src.pre = pre;
	src.tokens = tokens;
	src.n_tokens = n;
	src.types = types;
	src.merges = merges;
	src.n_merges = ARRAY_SIZE(merges);
	src.special[TOK_SP_BOS] = n - 2;
	src.special[TOK_SP_EOS] = n - 2;
	if (tok_build(&src, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_tok: bpe %s: %s\n", pre, err);
		abort();
	}
	return t;
}

static struct tok *real_vocab(const char *name)
{
	static const char *const dirs[] = {"../../shared/data", "../shared/data",
	                                   "/work/shared/data"};
	const char *env = getenv("HUDDLE_SHARED_DATA");
	for (size_t i = 0; i < ARRAY_SIZE(dirs) + 1; i++) {
		const char *d = i == 0 ? env : dirs[i - 1];
		char path[600];
		struct gguf_file *f = NULL;
		struct tok *t = NULL;
		char err[256];
		if (!d || !*d)
			continue;
		snprintf(path, sizeof(path), "%s/tokenizer-vocabs/ggml-vocab-%s.gguf", d, name);
		if (access(path, R_OK) != 0)
			continue;
		if (gguf_open(path, &f, err, sizeof(err)) == 0) {
			if (tok_load_gguf(f, &t, err, sizeof(err)) < 0)
				t = NULL;
			gguf_close(f);
		}
		return t;
	}
	return NULL;
}

/* The i-th built-in tokenizer (kept for the whole run), or NULL. */
static const struct tok *builtin(size_t i)
{
	static const char *const reals[] = {"llama-spm", "gpt-2", "deepseek-llm", "falcon",
	                                    "bert-bge"};
	static struct tok **cache;
	static size_t n_cache;
	if (!cache) {
		size_t n_pre = 0;
		while (tok_pre_name(n_pre))
			n_pre++;
		n_cache = 2 + n_pre + ARRAY_SIZE(reals);
		cache = calloc(n_cache, sizeof(*cache));
		cache[0] = builtin_spm();
		cache[1] = builtin_wpm();
		for (size_t k = 0; k < n_pre; k++)
			cache[2 + k] = builtin_bpe(tok_pre_name(k));
		for (size_t k = 0; k < ARRAY_SIZE(reals); k++)
			cache[2 + n_pre + k] = real_vocab(reals[k]);
	}
	return cache[i % n_cache];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	log_min_level = LOG_ERROR; /* hostile metadata warns on every input */
	if (size < 2)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	if ((mode & 3) == 0) {
		uint32_t glen;
		if (size < 4)
			return 0;
		memcpy(&glen, data, 4);
		data += 4;
		size -= 4;
		if (glen > size)
			glen = (uint32_t)size;
		uint8_t *g = malloc(glen ? glen : 1);
		struct gguf_file *f = NULL;
		struct tok *t = NULL;
		char err[256];
		memcpy(g, data, glen);
		if (gguf_parse(g, glen, &f, err, sizeof(err)) == 0) {
			int rc = tok_load_gguf(f, &t, err, sizeof(err));
			gguf_close(f); /* the tokenizer keeps nothing of the file */
			if (rc == 0) {
				run_text(t, data + glen, size - glen, mode);
				tok_free(t);
			} else if (t) {
				abort(); /* a failed load hands out nothing */
			}
		}
		free(g);
		return 0;
	}
	const struct tok *t = builtin((size_t)data[0] | (size_t)(mode >> 7) << 8);
	if (t)
		run_text(t, data + 1, size - 1, mode);
	return 0;
}

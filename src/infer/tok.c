/*
 * tok.c: loading a vocabulary from GGUF metadata, the special-token
 * partition that runs before any model, and decoding.
 *
 * The behaviour follows the reference engine (llama.cpp) where the
 * conformance suite and node-llama-cpp compare us with it:
 *  - token types become attribute bits; a few well-known texts (EOT, FIM,
 *    "unused") are detected by name, as the reference does;
 *  - before the model runs, the text is cut at occurrences of special
 *    tokens, longest token first: user-defined tokens always, control and
 *    unknown tokens only with TOK_PARSE_SPECIAL;
 *  - SentencePiece fragments get the dummy space prefix when they start
 *    the text or follow a special token.
 * Untrusted metadata is checked as it is read: mismatched array lengths,
 * ids out of range, non-UTF-8 or duplicate token text and oversized
 * vocabularies are refused with a message.
 */
#include "infer/tok_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small helpers --------------------------------------------------- */

uint64_t tok_hash(const char *s, size_t n)
{
	uint64_t h = TOK_FNV_INIT;
	for (size_t i = 0; i < n; i++)
		h = tok_fnv_step(h, (unsigned char)s[i]);
	return tok_hash_fin(h);
}

int32_t tok_find_hashed(const struct tok *t, const char *s, size_t n, uint64_t hash)
{
	uint32_t i = (uint32_t)hash & t->map.mask;
	for (;;) {
		int32_t id = t->map.slots[i];
		if (id < 0)
			return -1;
		if (t->str_len[id] == n && !memcmp(t->pool + t->str_off[id], s, n))
			return id;
		i = (i + 1) & t->map.mask;
	}
}

int32_t tok_find(const struct tok *t, const char *s, size_t n)
{
	return tok_find_hashed(t, s, n, tok_hash(s, n));
}

void tok_out_push(struct tok_out *o, int32_t id)
{
	if (*o->n == *o->cap) {
		size_t cap = *o->cap ? *o->cap * 2 : 64;
		*o->ids = xrealloc(*o->ids, cap * sizeof(int32_t));
		*o->cap = cap;
	}
	(*o->ids)[(*o->n)++] = id;
}

uint32_t tok_utf8_next(const char *s, size_t n, size_t *i)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k = *i;
	unsigned c = u[k];
	if (!(c & 0x80)) {
		*i = k + 1;
		return c;
	}
	if (c & 0x40) {
		if (!(c & 0x20)) {
			if (k + 1 < n && (u[k + 1] & 0xc0) == 0x80) {
				*i = k + 2;
				return ((c & 0x1fu) << 6) | (u[k + 1] & 0x3fu);
			}
		} else if (!(c & 0x10)) {
			if (k + 2 < n && (u[k + 1] & 0xc0) == 0x80 && (u[k + 2] & 0xc0) == 0x80) {
				*i = k + 3;
				return ((c & 0x0fu) << 12) | ((u[k + 1] & 0x3fu) << 6) |
				       (u[k + 2] & 0x3fu);
			}
		} else if (!(c & 0x08)) {
			if (k + 3 < n && (u[k + 1] & 0xc0) == 0x80 && (u[k + 2] & 0xc0) == 0x80 &&
			    (u[k + 3] & 0xc0) == 0x80) {
				*i = k + 4;
				return ((c & 0x07u) << 18) | ((u[k + 1] & 0x3fu) << 12) |
				       ((u[k + 2] & 0x3fu) << 6) | (u[k + 3] & 0x3fu);
			}
		}
	}
	*i = k + 1;
	return 0xfffd;
}

size_t tok_utf8_put(char *dst, uint32_t cp)
{
	unsigned char *d = (unsigned char *)dst;
	if (cp < 0x80) {
		d[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (unsigned char)(0xc0 | (cp >> 6));
		d[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (unsigned char)(0xe0 | (cp >> 12));
		d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		d[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (unsigned char)(0xf0 | (cp >> 18));
	d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	d[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* ---- building -------------------------------------------------------- */

void tok_src_init(struct tok_src *src)
{
	memset(src, 0, sizeof(*src));
	for (int i = 0; i < TOK_SP_COUNT; i++)
		src->special[i] = TOK_SRC_ABSENT;
	src->add_bos = src->add_eos = src->add_sep = src->add_space_prefix = -1;
	src->lowercase = src->strip_accents = -1;
}

/* Grows the string table (ids and hash slots) so one more string fits. */
static void table_reserve(struct tok *t)
{
	if (t->n_strings == t->str_cap) {
		t->str_cap = t->str_cap ? t->str_cap * 2 : 1024;
		t->str_off = xrealloc(t->str_off, (size_t)t->str_cap * sizeof(uint32_t));
		t->str_len = xrealloc(t->str_len, (size_t)t->str_cap * sizeof(uint32_t));
	}
	if ((uint64_t)(t->n_strings + 1) * 2 > (uint64_t)t->map.mask + 1) {
		uint32_t cap = (t->map.mask + 1) * 2;
		free(t->map.slots);
		t->map.slots = xmalloc_array(cap, sizeof(int32_t));
		memset(t->map.slots, 0xff, (size_t)cap * sizeof(int32_t));
		t->map.mask = cap - 1;
		for (uint32_t id = 0; id < t->n_strings; id++) {
			uint32_t i = (uint32_t)tok_hash(tok_str(t, (int32_t)id), t->str_len[id]) &
			             t->map.mask;
			while (t->map.slots[i] >= 0)
				i = (i + 1) & t->map.mask;
			t->map.slots[i] = (int32_t)id;
		}
	}
}

/* Appends a string that is not in the table yet; returns its id, or -1
 * when the pool would pass 4 GiB. */
static int32_t table_add(struct tok *t, const char *s, size_t n)
{
	if (t->pool_len + n + 1 > UINT32_MAX)
		return -1;
	table_reserve(t);
	if (t->pool_len + n + 1 > t->pool_cap) {
		size_t cap = t->pool_cap ? t->pool_cap : 4096;
		while (cap < t->pool_len + n + 1)
			cap *= 2;
		t->pool = xrealloc(t->pool, cap);
		t->pool_cap = cap;
	}
	memcpy(t->pool + t->pool_len, s, n);
	t->pool[t->pool_len + n] = 0;
	int32_t id = (int32_t)t->n_strings++;
	t->str_off[id] = (uint32_t)t->pool_len;
	t->str_len[id] = (uint32_t)n;
	t->pool_len += n + 1;
	uint32_t i = (uint32_t)tok_hash(s, n) & t->map.mask;
	while (t->map.slots[i] >= 0)
		i = (i + 1) & t->map.mask;
	t->map.slots[i] = id;
	return id;
}

int32_t tok_intern(struct tok *t, const char *s, size_t n)
{
	int32_t id = tok_find(t, s, n);
	return id >= 0 ? id : table_add(t, s, n);
}

static int32_t find_cstr(const struct tok *t, const char *s)
{
	return tok_find(t, s, strlen(s));
}

/* Texts the reference recognizes by name (token metadata often lacks them). */
static const char *const eot_texts[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "<|end_of_text|>",
                                        "<EOT>",
                                        "_<EOT>",
                                        "[EOT]",
                                        "<\xef\xbd\x9c"
                                        "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                        "<end_of_utterance>",
                                        NULL};
static const char *const eom_texts[] = {"<|eom_id|>", NULL};
static const char *const fim_pre_texts[] = {"<|fim_prefix|>",
                                            "<fim-prefix>",
                                            "<fim_prefix>",
                                            "<\xef\xbd\x9c"
                                            "fim\xe2\x96\x81"
                                            "begin\xef\xbd\x9c>",
                                            "<PRE>",
                                            "\xe2\x96\x81<PRE>",
                                            "<|code_prefix|>",
                                            "<|prefix|>",
                                            NULL};
static const char *const fim_suf_texts[] = {"<|fim_suffix|>",
                                            "<fim-suffix>",
                                            "<fim_suffix>",
                                            "<\xef\xbd\x9c"
                                            "fim\xe2\x96\x81hole\xef\xbd\x9c>",
                                            "<SUF>",
                                            "\xe2\x96\x81<SUF>",
                                            "<|code_suffix|>",
                                            "<|suffix|>",
                                            NULL};
static const char *const fim_mid_texts[] = {"<|fim_middle|>",
                                            "<fim-middle>",
                                            "<fim_middle>",
                                            "<\xef\xbd\x9c"
                                            "fim\xe2\x96\x81"
                                            "end\xef\xbd\x9c>",
                                            "<MID>",
                                            "\xe2\x96\x81<MID>",
                                            "<|code_middle|>",
                                            "<|middle|>",
                                            NULL};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>",
                                            "<PAD>",       "[PAD]",     NULL};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                            "<REPO>",       "<reponame>",    NULL};
static const char *const fim_sep_texts[] = {"<|file_sep|>", NULL};
static const char *const eog_texts[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<|return|>",
                                        "<|call|>",
                                        "<|flush|>",
                                        "<|calls|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "</s>",
                                        "<|eom_id|>",
                                        "<EOT>",
                                        "_<EOT>",
                                        "[EOT]",
                                        "[EOS]",
                                        "<|end_of_text|>",
                                        "<end_of_utterance>",
                                        "<eos>",
                                        "<turn|>",
                                        "<|tool_response>",
                                        "<\xef\xbd\x9c"
                                        "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
                                        "[e~[",
                                        NULL};

/* The lowest id among the tokens with one of these texts, or -1. */
static int32_t first_of(const struct tok *t, const char *const *texts)
{
	int32_t best = -1;
	for (; *texts; texts++) {
		int32_t id = find_cstr(t, *texts);
		if (id >= 0 && id < (int32_t)t->n_vocab && (best < 0 || id < best))
			best = id;
	}
	return best;
}

/* The special ids the reference finds by text when metadata lacks them
 * (it takes whichever its hash map yields first; we take the lowest id). */
static void detect_by_text(struct tok *t, int sp, const char *const *texts)
{
	if (t->special[sp] >= 0)
		return;
	int32_t id = first_of(t, texts);
	if (id >= 0) {
		t->special[sp] = id;
		t->attr[id] |= TOK_ATTR_CONTROL;
	}
}

/* Ors bits into the attributes of every token with one of these texts. */
static void mark_texts(struct tok *t, const char *const *texts, uint16_t bits)
{
	for (; *texts; texts++) {
		int32_t id = find_cstr(t, *texts);
		if (id >= 0 && id < (int32_t)t->n_vocab)
			t->attr[id] |= bits;
	}
}

static void set_eog(struct tok *t, int32_t id)
{
	if (id >= 0 && (uint32_t)id < t->n_vocab)
		t->attr[id] |= TOK_ATTR_EOG;
}

static void finish_specials(struct tok *t)
{
	detect_by_text(t, TOK_SP_EOT, eot_texts);
	detect_by_text(t, TOK_SP_EOM, eom_texts);
	detect_by_text(t, TOK_SP_FIM_PRE, fim_pre_texts);
	detect_by_text(t, TOK_SP_FIM_SUF, fim_suf_texts);
	detect_by_text(t, TOK_SP_FIM_MID, fim_mid_texts);
	detect_by_text(t, TOK_SP_FIM_PAD, fim_pad_texts);
	detect_by_text(t, TOK_SP_FIM_REP, fim_rep_texts);
	detect_by_text(t, TOK_SP_FIM_SEP, fim_sep_texts);

	/* control tokens named "unused..." are unused */
	for (uint32_t id = 0; id < t->n_vocab; id++)
		if ((t->attr[id] & TOK_ATTR_CONTROL) && strstr(tok_str(t, (int32_t)id), "unused"))
			t->attr[id] |= TOK_ATTR_UNUSED;

	set_eog(t, t->special[TOK_SP_FIM_PAD]);
	set_eog(t, t->special[TOK_SP_FIM_REP]);
	set_eog(t, t->special[TOK_SP_FIM_SEP]);
	mark_texts(t, eog_texts, TOK_ATTR_EOG | TOK_ATTR_CONTROL);
	/* gpt-oss: these always render */
	static const char *const always_render[] = {"<|channel|>", "<|message|>", "<|start|>",
	                                            "<|constrain|>", NULL};
	for (const char *const *p = always_render; *p; p++) {
		int32_t id = find_cstr(t, *p);
		if (id >= 0 && id < (int32_t)t->n_vocab)
			t->attr[id] = TOK_ATTR_USER_DEFINED | (t->attr[id] & TOK_ATTR_EOG);
	}
	set_eog(t, t->special[TOK_SP_EOS]);
	set_eog(t, t->special[TOK_SP_EOT]);
	set_eog(t, t->special[TOK_SP_EOM]);

#define IS_EOG(x) ((x) >= 0 && (x) < (int32_t)t->n_vocab && (t->attr[x] & TOK_ATTR_EOG))
	/* o200k_harmony and solar-open: "<|end|>" does not end generation there */
	int32_t end_id = find_cstr(t, "<|end|>");
	if (end_id >= 0 && end_id < (int32_t)t->n_vocab && (t->attr[end_id] & TOK_ATTR_EOG)) {
		int32_t ret = find_cstr(t, "<|return|>"), call = find_cstr(t, "<|call|>");
		int32_t calls = find_cstr(t, "<|calls|>"), flush = find_cstr(t, "<|flush|>");
		int has_call = IS_EOG(call) || IS_EOG(calls);
		if ((IS_EOG(ret) && has_call) || (has_call && IS_EOG(flush)))
			t->attr[end_id] = TOK_ATTR_USER_DEFINED;
	}
	/* gemma4 and paddleocr: "</s>" does not end generation when "<|tool_response>" exists */
	int32_t tr = find_cstr(t, "<|tool_response>"), s_id = find_cstr(t, "</s>");
	if (IS_EOG(tr) && IS_EOG(s_id))
		t->attr[s_id] = TOK_ATTR_NORMAL;
#undef IS_EOG
}

static int cmp_special(const void *a, const void *b, void *ctx)
{
	const struct tok *t = ctx;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	if (t->str_len[x] != t->str_len[y])
		return t->str_len[x] > t->str_len[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int contains_ci(const char *s, const char *needle)
{
	if (!s)
		return 0;
	size_t n = strlen(needle);
	for (; *s; s++)
		if (!strncasecmp(s, needle, n))
			return 1;
	return 0;
}

static void set_attr_text(struct tok *t, const char *text, uint16_t bit, int on)
{
	int32_t id = find_cstr(t, text);
	if (id < 0 || id >= (int32_t)t->n_vocab)
		return;
	if (on)
		t->attr[id] |= bit;
	else
		t->attr[id] &= (uint16_t)~bit;
}

static void build_special_cache(struct tok *t, const struct tok_src *src)
{
	uint32_t n = 0;
	t->special_cache = xmalloc_array(t->n_vocab, sizeof(int32_t));
	for (uint32_t id = 0; id < t->n_vocab; id++)
		if (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
			t->special_cache[n++] = (int32_t)id;
	t->n_special_cache = n;
	qsort_r(t->special_cache, n, sizeof(int32_t), cmp_special, t);

	/* per-model strip rules the reference applies by name */
	if ((src->pre && (strstr(src->pre, "jina-v2-de") || strstr(src->pre, "jina-v2-es") ||
	                  strstr(src->pre, "jina-v2-code"))) ||
	    (src->arch &&
	     (strstr(src->arch, "nomic-bert-moe") || strstr(src->arch, "jina-bert-v3")))) {
		set_attr_text(t, "<mask>", TOK_ATTR_LSTRIP, 1);
	} else if (contains_ci(src->name, "phi-3") || contains_ci(src->name, "phi3")) {
		for (uint32_t i = 0; i < n; i++)
			t->attr[t->special_cache[i]] |= TOK_ATTR_RSTRIP;
		set_attr_text(t, "</s>", TOK_ATTR_RSTRIP, 1);
		set_attr_text(t, "<unk>", TOK_ATTR_RSTRIP, 0);
		set_attr_text(t, "<s>", TOK_ATTR_RSTRIP, 0);
		set_attr_text(t, "<|endoftext|>", TOK_ATTR_RSTRIP, 0);
	} else if (contains_ci(src->name, "modern-bert")) {
		set_attr_text(t, "[MASK]", TOK_ATTR_LSTRIP, 1);
	}
}

static uint16_t attr_of_type(int32_t type)
{
	switch (type) {
	case TOK_TYPE_NORMAL: return TOK_ATTR_NORMAL;
	case TOK_TYPE_UNKNOWN: return TOK_ATTR_UNKNOWN;
	case TOK_TYPE_CONTROL: return TOK_ATTR_CONTROL;
	case TOK_TYPE_USER_DEFINED: return TOK_ATTR_USER_DEFINED;
	case TOK_TYPE_UNUSED: return TOK_ATTR_UNUSED;
	case TOK_TYPE_BYTE: return TOK_ATTR_BYTE;
	default: return 0;
	}
}

static const char *const special_names[TOK_SP_COUNT] = {
        "bos_token_id",     "eos_token_id",       "eot_token_id",     "eom_token_id",
        "unknown_token_id", "seperator_token_id", "padding_token_id", "mask_token_id",
        "fim_pre_token_id", "fim_suf_token_id",   "fim_mid_token_id", "fim_pad_token_id",
        "fim_rep_token_id", "fim_sep_token_id"};

int tok_build(const struct tok_src *src, struct tok **out, char *err, size_t err_size)
{
	struct tok *t;
	int rc;

	*out = NULL;
	if (!src->model)
		return hd_fail(err, err_size, HD_EINVAL, "tokenizer.ggml.model is missing");
	if (src->n_tokens == 0 || !src->tokens)
		return hd_fail(err, err_size, HD_EINVAL, "the vocabulary is empty");
	if (src->n_tokens > TOK_MAX_VOCAB)
		return hd_fail(err, err_size, HD_ETOOBIG, "vocabulary of %u tokens (limit %u)",
		               src->n_tokens, TOK_MAX_VOCAB);
	if (src->n_merges > TOK_MAX_MERGES)
		return hd_fail(err, err_size, HD_ETOOBIG, "%u merges (limit %u)", src->n_merges,
		               TOK_MAX_MERGES);

	t = xcalloc(1, sizeof(*t));
	for (int i = 0; i < TOK_SP_COUNT; i++)
		t->special[i] = -1;
	t->lowercase = t->strip_accents = 0;
	if (!strcmp(src->model, "llama")) {
		t->type = TOK_MODEL_SPM;
		t->special[TOK_SP_BOS] = 1;
		t->special[TOK_SP_EOS] = 2;
		t->special[TOK_SP_UNK] = 0;
		t->add_space_prefix = 1;
		t->add_bos = 1;
	} else if (!strcmp(src->model, "gpt2")) {
		t->type = TOK_MODEL_BPE;
		t->special[TOK_SP_BOS] = 11;
		t->special[TOK_SP_EOS] = 11;
	} else if (!strcmp(src->model, "bert")) {
		t->type = TOK_MODEL_WPM;
		t->special[TOK_SP_BOS] = 101;
		t->special[TOK_SP_UNK] = 100;
		t->special[TOK_SP_SEP] = 102;
		t->special[TOK_SP_PAD] = 0;
		t->special[TOK_SP_MASK] = 103;
		t->add_bos = 1;
		t->add_sep = 1;
	} else {
		free(t);
		return hd_fail(err, err_size, HD_EUNSUPPORTED,
		               "unsupported tokenizer model '%.64s'", src->model);
	}

	/* tokens: the table holds the vocabulary and, for BPE, merge strings */
	t->map.mask = 15;
	t->map.slots = xmalloc_array(16, sizeof(int32_t));
	memset(t->map.slots, 0xff, 16 * sizeof(int32_t));
	t->n_vocab = src->n_tokens;
	t->scores = xcalloc(src->n_tokens, sizeof(float));
	t->attr = xcalloc(src->n_tokens, sizeof(uint16_t));
	for (uint32_t i = 0; i < src->n_tokens; i++) {
		const char *s = src->tokens[i];
		size_t n = src->token_lens ? src->token_lens[i] : (s ? strlen(s) : 0);
		char empty[32];
		if (!s && n) {
			rc = hd_fail(err, err_size, HD_EINVAL, "token %u has no text", i);
			goto fail;
		}
		if (n == 0) {
			/* the reference renames empty tokens the same way */
			n = (size_t)snprintf(empty, sizeof(empty), "[EMPTY_%u]", i);
			s = empty;
		}
		if (n > TOK_MAX_TOKEN_LEN) {
			rc = hd_fail(err, err_size, HD_ETOOBIG,
			             "token %u is %zu bytes long (limit %d)", i, n,
			             TOK_MAX_TOKEN_LEN);
			goto fail;
		}
		if (memchr(s, 0, n) || !utf8_valid(s, n)) {
			rc = hd_fail(err, err_size, HD_EINVAL, "token %u is not valid UTF-8 text",
			             i);
			goto fail;
		}
		if (tok_find(t, s, n) >= 0) {
			rc = hd_fail(err, err_size, HD_EINVAL,
			             "duplicate token in vocabulary: token %u repeats token %d", i,
			             tok_find(t, s, n));
			goto fail;
		}
		if (table_add(t, s, n) < 0) {
			rc = hd_fail(err, err_size, HD_ETOOBIG, "vocabulary text over 4 GiB");
			goto fail;
		}
		if ((int32_t)n > t->max_token_len)
			t->max_token_len = (int32_t)n;
		t->scores[i] = src->scores ? src->scores[i] : 0.0f;
		t->attr[i] = src->types ? attr_of_type(src->types[i]) : TOK_ATTR_NORMAL;
	}

	if (t->type == TOK_MODEL_BPE) {
		rc = tok_bpe_init(t, src->pre, src, err, err_size);
		if (rc < 0)
			goto fail;
	}

	/* special ids: defaults out of range are dropped; metadata out of range is ignored */
	for (int i = 0; i < TOK_SP_COUNT; i++) {
		if (t->special[i] >= (int32_t)t->n_vocab)
			t->special[i] = -1;
		int64_t v = src->special[i];
		if (v == TOK_SRC_ABSENT)
			continue;
		if (v == -1 || v == UINT32_MAX)
			continue; /* "not set", as converters write it */
		if (v < 0 || v >= (int64_t)t->n_vocab) {
			log_warn("tokenizer: ignoring tokenizer.ggml.%s = %lld (vocabulary has %u "
			         "tokens)",
			         special_names[i], (long long)v, t->n_vocab);
			continue;
		}
		t->special[i] = (int32_t)v;
	}
	if (src->add_bos >= 0)
		t->add_bos = src->add_bos;
	if (src->add_eos >= 0)
		t->add_eos = src->add_eos;
	if (src->add_sep >= 0)
		t->add_sep = src->add_sep;
	if (src->add_space_prefix >= 0 && t->type == TOK_MODEL_SPM)
		t->add_space_prefix = src->add_space_prefix;
	if (t->add_bos && t->special[TOK_SP_BOS] < 0) {
		rc = hd_fail(err, err_size, HD_EINVAL,
		             "tokenizer.ggml.add_bos_token is true but there is no BOS token");
		goto fail;
	}
	if (t->add_eos && t->special[TOK_SP_EOS] < 0) {
		rc = hd_fail(err, err_size, HD_EINVAL,
		             "tokenizer.ggml.add_eos_token is true but there is no EOS token");
		goto fail;
	}
	if (t->type == TOK_MODEL_WPM) {
		t->len_used = xcalloc((size_t)t->max_token_len + 2, 1);
		for (uint32_t i = 0; i < t->n_vocab; i++)
			t->len_used[t->str_len[i]] = 1;
		t->lowercase = src->lowercase >= 0 ? src->lowercase : 1;
		t->strip_accents = src->strip_accents >= 0 ? src->strip_accents : t->lowercase;
	}

	finish_specials(t);
	build_special_cache(t, src);

	/* SPM: may merging run word by word? Only if no token has U+2581
	 * after bytes that are not U+2581 */
	t->spm_word_cuts = t->type == TOK_MODEL_SPM;
	for (uint32_t id = 0; id < t->n_vocab && t->spm_word_cuts; id++) {
		const char *s = tok_str(t, (int32_t)id);
		uint32_t n = t->str_len[id], run = 0; /* bytes of U+2581 run so far */
		for (uint32_t k = 0; k + 3 <= n;) {
			if (!memcmp(s + k, "\xe2\x96\x81", 3)) {
				if (k != run) {
					t->spm_word_cuts = 0;
					break;
				}
				run += 3;
				k += 3;
			} else {
				k++;
			}
		}
	}

	/* byte fallback: "<0xXX>", else the one-byte token */
	for (int b = 0; b < 256; b++) {
		char name[8];
		snprintf(name, sizeof(name), "<0x%02X>", b);
		int32_t id = find_cstr(t, name);
		if (id < 0 || id >= (int32_t)t->n_vocab) {
			char c = (char)b;
			id = tok_find(t, &c, 1);
		}
		t->byte_tok[b] = id < (int32_t)t->n_vocab ? id : -1;
	}

	*out = t;
	return 0;
fail:
	tok_free(t);
	return rc;
}

void tok_free(struct tok *t)
{
	if (!t)
		return;
	tok_bpe_release(t);
	free(t->pool);
	free(t->str_off);
	free(t->str_len);
	free(t->scores);
	free(t->attr);
	free(t->map.slots);
	free(t->special_cache);
	free(t->len_used);
	free(t);
}

/* ---- loading from GGUF ----------------------------------------------- */

/* A NUL-terminated copy of a string value, or NULL when absent. */
static char *get_cstr(const struct gguf_file *f, const char *key)
{
	struct gguf_str s;
	if (gguf_get_str(f, key, &s) < 0)
		return NULL;
	return xstrndup(s.data, (size_t)s.len);
}

static int get_bool_opt(const struct gguf_file *f, const char *key, int *out)
{
	int v;
	int rc = gguf_get_bool(f, key, &v);
	if (rc == HD_ENOTFOUND) {
		*out = -1;
		return 0;
	}
	if (rc < 0)
		return rc;
	*out = v ? 1 : 0;
	return 0;
}

static int read_i32_le(const void *p)
{
	int32_t v;
	memcpy(&v, p, 4);
	return v;
}

int tok_load_gguf(const struct gguf_file *f, struct tok **out, char *err, size_t err_size)
{
	struct tok_src src;
	const struct gguf_kv *kv;
	enum gguf_type et;
	uint64_t n;
	char *model = NULL, *pre = NULL, *name = NULL, *arch = NULL;
	const char **tokens = NULL, **merges = NULL;
	uint32_t *token_lens = NULL, *merge_lens = NULL;
	float *scores = NULL;
	int32_t *types = NULL;
	int rc;

	*out = NULL;
	tok_src_init(&src);
	model = get_cstr(f, "tokenizer.ggml.model");
	if (!model) {
		rc = hd_fail(err, err_size, HD_EINVAL,
		             "no tokenizer in this file (tokenizer.ggml.model missing)");
		goto done;
	}
	pre = get_cstr(f, "tokenizer.ggml.pre");
	name = get_cstr(f, "general.name");
	arch = get_cstr(f, "general.architecture");
	src.model = model;
	src.pre = pre;
	src.name = name;
	src.arch = arch;

	rc = gguf_get_arr(f, "tokenizer.ggml.tokens", &et, &n, &kv);
	if (rc < 0 || et != GGUF_TYPE_STRING) {
		rc = hd_fail(err, err_size, HD_EINVAL,
		             "tokenizer.ggml.tokens is missing or not an array of strings");
		goto done;
	}
	if (n == 0 || n > TOK_MAX_VOCAB) {
		rc = hd_fail(err, err_size, n ? HD_ETOOBIG : HD_EINVAL,
		             "tokenizer.ggml.tokens has %llu entries (1..%u allowed)",
		             (unsigned long long)n, TOK_MAX_VOCAB);
		goto done;
	}
	src.n_tokens = (uint32_t)n;
	tokens = xmalloc_array(n, sizeof(char *));
	token_lens = xmalloc_array(n, sizeof(uint32_t));
	for (uint64_t i = 0; i < n; i++) {
		if (kv->strs[i].len > TOK_MAX_TOKEN_LEN) {
			rc = hd_fail(err, err_size, HD_ETOOBIG, "token %llu is too long",
			             (unsigned long long)i);
			goto done;
		}
		tokens[i] = kv->strs[i].data;
		token_lens[i] = (uint32_t)kv->strs[i].len;
	}
	src.tokens = tokens;
	src.token_lens = token_lens;

	rc = gguf_get_arr(f, "tokenizer.ggml.scores", &et, &n, &kv);
	if (rc == 0) {
		if (et != GGUF_TYPE_FLOAT32 && et != GGUF_TYPE_INT32) {
			rc = hd_fail(err, err_size, HD_EINVAL,
			             "tokenizer.ggml.scores has the wrong type");
			goto done;
		}
		if (n < src.n_tokens) {
			rc = hd_fail(err, err_size, HD_EINVAL,
			             "tokenizer.ggml.scores has %llu entries for %u tokens",
			             (unsigned long long)n, src.n_tokens);
			goto done;
		}
		scores = xmalloc_array(src.n_tokens, sizeof(float));
		for (uint32_t i = 0; i < src.n_tokens; i++) {
			const char *p = (const char *)kv->data + 4 * (size_t)i;
			if (et == GGUF_TYPE_FLOAT32)
				memcpy(&scores[i], p, 4);
			else
				scores[i] = (float)read_i32_le(p);
		}
		src.scores = scores;
	} else if (rc != HD_ENOTFOUND) {
		rc = hd_fail(err, err_size, HD_EINVAL, "tokenizer.ggml.scores is not an array");
		goto done;
	}

	rc = gguf_get_arr(f, "tokenizer.ggml.token_type", &et, &n, &kv);
	if (rc == 0) {
		if (et != GGUF_TYPE_INT32) {
			rc = hd_fail(err, err_size, HD_EINVAL,
			             "tokenizer.ggml.token_type is not an array of int32");
			goto done;
		}
		if (n < src.n_tokens) {
			rc = hd_fail(err, err_size, HD_EINVAL,
			             "tokenizer.ggml.token_type has %llu entries for %u tokens",
			             (unsigned long long)n, src.n_tokens);
			goto done;
		}
		types = xmalloc_array(src.n_tokens, sizeof(int32_t));
		for (uint32_t i = 0; i < src.n_tokens; i++)
			types[i] = read_i32_le((const char *)kv->data + 4 * (size_t)i);
		src.types = types;
	} else if (rc != HD_ENOTFOUND) {
		rc = hd_fail(err, err_size, HD_EINVAL, "tokenizer.ggml.token_type is not an array");
		goto done;
	}

	rc = gguf_get_arr(f, "tokenizer.ggml.merges", &et, &n, &kv);
	if (rc == 0) {
		if (et != GGUF_TYPE_STRING) {
			rc = hd_fail(err, err_size, HD_EINVAL,
			             "tokenizer.ggml.merges is not an array of strings");
			goto done;
		}
		if (n > TOK_MAX_MERGES) {
			rc = hd_fail(err, err_size, HD_ETOOBIG,
			             "tokenizer.ggml.merges has %llu entries",
			             (unsigned long long)n);
			goto done;
		}
		src.n_merges = (uint32_t)n;
		merges = xmalloc_array(n ? n : 1, sizeof(char *));
		merge_lens = xmalloc_array(n ? n : 1, sizeof(uint32_t));
		for (uint64_t i = 0; i < n; i++) {
			if (kv->strs[i].len > 2 * TOK_MAX_TOKEN_LEN + 1) {
				rc = hd_fail(err, err_size, HD_ETOOBIG, "merge %llu is too long",
				             (unsigned long long)i);
				goto done;
			}
			merges[i] = kv->strs[i].data;
			merge_lens[i] = (uint32_t)kv->strs[i].len;
		}
		src.merges = merges;
		src.merge_lens = merge_lens;
	} else if (rc != HD_ENOTFOUND) {
		rc = hd_fail(err, err_size, HD_EINVAL, "tokenizer.ggml.merges is not an array");
		goto done;
	}

	for (int i = 0; i < TOK_SP_COUNT; i++) {
		char key[64];
		int64_t v;
		snprintf(key, sizeof(key), "tokenizer.ggml.%s", special_names[i]);
		if (gguf_get_i64(f, key, &v) == 0)
			src.special[i] = v;
	}
	/* deprecated names of the FIM ids */
	static const struct {
		const char *key;
		int sp;
	} old_fim[] = {{"tokenizer.ggml.prefix_token_id", TOK_SP_FIM_PRE},
	               {"tokenizer.ggml.suffix_token_id", TOK_SP_FIM_SUF},
	               {"tokenizer.ggml.middle_token_id", TOK_SP_FIM_MID}};
	for (size_t i = 0; i < ARRAY_SIZE(old_fim); i++) {
		int64_t v;
		if (src.special[old_fim[i].sp] == TOK_SRC_ABSENT &&
		    gguf_get_i64(f, old_fim[i].key, &v) == 0)
			src.special[old_fim[i].sp] = v;
	}
	if (get_bool_opt(f, "tokenizer.ggml.add_bos_token", &src.add_bos) < 0 ||
	    get_bool_opt(f, "tokenizer.ggml.add_eos_token", &src.add_eos) < 0 ||
	    get_bool_opt(f, "tokenizer.ggml.add_sep_token", &src.add_sep) < 0 ||
	    get_bool_opt(f, "tokenizer.ggml.add_space_prefix", &src.add_space_prefix) < 0 ||
	    get_bool_opt(f, "tokenizer.ggml.lowercase", &src.lowercase) < 0 ||
	    get_bool_opt(f, "tokenizer.ggml.strip_accents", &src.strip_accents) < 0) {
		rc = hd_fail(err, err_size, HD_EINVAL, "a tokenizer.ggml flag is not a boolean");
		goto done;
	}

	rc = tok_build(&src, out, err, err_size);
done:
	free(model);
	free(pre);
	free(name);
	free(arch);
	free(tokens);
	free(token_lens);
	free(merges);
	free(merge_lens);
	free(scores);
	free(types);
	return rc;
}

/* ---- queries --------------------------------------------------------- */

int32_t tok_n_vocab(const struct tok *t)
{
	return (int32_t)t->n_vocab;
}

const char *tok_model_name(const struct tok *t)
{
	switch (t->type) {
	case TOK_MODEL_SPM: return "llama";
	case TOK_MODEL_BPE: return "gpt2";
	case TOK_MODEL_WPM: return "bert";
	}
	return "?";
}

int32_t tok_bos(const struct tok *t)
{
	return t->special[TOK_SP_BOS];
}

int32_t tok_eos(const struct tok *t)
{
	return t->special[TOK_SP_EOS];
}

int tok_is_eog(const struct tok *t, int32_t id)
{
	return id >= 0 && (uint32_t)id < t->n_vocab && (t->attr[id] & TOK_ATTR_EOG) != 0;
}

int tok_add_bos_default(const struct tok *t)
{
	return t->add_bos;
}

int tok_add_eos_default(const struct tok *t)
{
	return t->type == TOK_MODEL_WPM ? t->add_sep : t->add_eos;
}

const char *tok_text(const struct tok *t, int32_t id)
{
	if (id < 0 || (uint32_t)id >= t->n_vocab)
		return NULL;
	return tok_str(t, id);
}

/* ---- encoding -------------------------------------------------------- */

struct frag {
	int32_t id; /* special token, or -1 for raw text */
	size_t off, len;
};

struct frags {
	struct frag *v;
	size_t n, cap;
};

static void frags_push(struct frags *f, int32_t id, size_t off, size_t len)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		f->v = xrealloc(f->v, f->cap * sizeof(*f->v));
	}
	f->v[f->n++] = (struct frag){id, off, len};
}

/* Which 4-byte windows a long text has (a bit per hashed window), so a
 * special token with a window the text lacks is skipped without a scan:
 * vocabularies with thousands of special tokens would otherwise cost a
 * full search of the text per token. */
struct grams {
	uint64_t *bits;
	uint32_t shift;
};

static uint32_t gram_at(const char *p, uint32_t shift)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return (v * 0x9e3779b1u) >> shift;
}

static void grams_init(struct grams *g, const char *text, size_t len)
{
	uint32_t log2 = 12;
	while (log2 < 24 && ((size_t)1 << log2) < len * 8)
		log2++;
	g->shift = 32 - log2;
	g->bits = xcalloc(((size_t)1 << log2) / 64, sizeof(uint64_t));
	for (size_t i = 0; i + 4 <= len; i++) {
		uint32_t h = gram_at(text + i, g->shift);
		g->bits[h / 64] |= 1ull << (h % 64);
	}
}

/* 0 when s cannot occur in the text (one of its windows is missing). */
static int grams_may_have(const struct grams *g, const char *s, size_t n)
{
	for (size_t i = 0; i + 4 <= n; i++) {
		uint32_t h = gram_at(s + i, g->shift);
		if (!(g->bits[h / 64] & (1ull << (h % 64))))
			return 0;
	}
	return 1;
}

/* Cuts text at special tokens, longest token text first, as the reference
 * does (each token is searched in what the longer ones left as text). */
static void partition(const struct tok *t, const char *text, size_t len, int parse_special,
                      struct frags *cur)
{
	struct frags next = {0};
	struct grams g = {0};

	cur->n = 0;
	if (len == 0)
		return;
	frags_push(cur, -1, 0, len);
	if (len >= 1024 && t->n_special_cache >= 32)
		grams_init(&g, text, len);
	for (uint32_t k = 0; k < t->n_special_cache; k++) {
		int32_t id = t->special_cache[k];
		uint16_t attr = t->attr[id];
		const char *s = tok_str(t, id);
		size_t sn = t->str_len[id];
		if (!parse_special && (attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)))
			continue;
		if (sn > len || (g.bits && !grams_may_have(&g, s, sn)) || !memmem(text, len, s, sn))
			continue;
		next.n = 0;
		for (size_t i = 0; i < cur->n; i++) {
			struct frag fr = cur->v[i];
			if (fr.id >= 0) {
				frags_push(&next, fr.id, 0, 0);
				continue;
			}
			size_t off = fr.off, n = fr.len;
			while (n > 0) {
				const char *m = memmem(text + off, n, s, sn);
				if (!m) {
					frags_push(&next, -1, off, n);
					break;
				}
				size_t pos = (size_t)(m - text);
				size_t left = pos - off;
				if (attr & TOK_ATTR_LSTRIP)
					while (left > 0 &&
					       isspace((unsigned char)text[off + left - 1]))
						left--;
				if (left > 0)
					frags_push(&next, -1, off, left);
				frags_push(&next, id, 0, 0);
				size_t roff = pos + sn, rn = off + n - roff;
				if (attr & TOK_ATTR_RSTRIP)
					while (rn > 0 && isspace((unsigned char)text[roff])) {
						roff++;
						rn--;
					}
				off = roff;
				n = rn;
			}
		}
		struct frags tmp = *cur;
		*cur = next;
		next = tmp;
	}
	free(next.v);
	free(g.bits);
}

int tok_encode(const struct tok *t, const char *text, size_t len, int flags, int32_t **ids,
               size_t *n, size_t *cap)
{
	struct tok_out o = {ids, n, cap};
	struct frags fr = {0};
	size_t n0 = *n;
	int rc = 0, prev_special = 1;

	if (len > TOK_MAX_TEXT)
		return HD_ETOOBIG;
	if (!text)
		len = 0;
	partition(t, text, len, (flags & TOK_PARSE_SPECIAL) != 0, &fr);
	if ((flags & TOK_ADD_BOS) && t->special[TOK_SP_BOS] >= 0)
		tok_out_push(&o, t->special[TOK_SP_BOS]);
	for (size_t i = 0; i < fr.n && rc == 0; i++) {
		if (fr.v[i].id >= 0) {
			tok_out_push(&o, fr.v[i].id);
			prev_special = 1;
			continue;
		}
		const char *s = text + fr.v[i].off;
		switch (t->type) {
		case TOK_MODEL_SPM:
			rc = tok_spm_encode(t, s, fr.v[i].len, t->add_space_prefix && prev_special,
			                    &o);
			break;
		case TOK_MODEL_BPE: rc = tok_bpe_encode(t, s, fr.v[i].len, &o); break;
		case TOK_MODEL_WPM: rc = tok_wpm_encode(t, s, fr.v[i].len, &o); break;
		}
		prev_special = 0;
	}
	if (rc == 0 && (flags & TOK_ADD_EOS)) {
		int32_t end =
		        t->type == TOK_MODEL_WPM ? t->special[TOK_SP_SEP] : t->special[TOK_SP_EOS];
		if (end >= 0)
			tok_out_push(&o, end);
	}
	free(fr.v);
	if (rc < 0)
		*n = n0;
	return rc;
}

/* ---- decoding -------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int tok_piece(const struct tok *t, int32_t id, int render_special, struct buf *out)
{
	if (id < 0 || (uint32_t)id >= t->n_vocab)
		return HD_EINVAL;
	uint16_t attr = t->attr[id];
	const char *s = tok_str(t, id);
	size_t n = t->str_len[id];

	if (!render_special && (attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL)))
		return 0;
	if (attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED)) {
		buf_append(out, s, n);
		return 0;
	}
	if (attr & TOK_ATTR_NORMAL) {
		if (t->type == TOK_MODEL_BPE) {
			/* byte-level text back to bytes; other characters pass through */
			size_t i = 0;
			while (i < n) {
				size_t st = i;
				uint32_t cp = tok_utf8_next(s, n, &i);
				if (cp < 0x144 && t->char_byte[cp] >= 0)
					buf_putc(out, (char)t->char_byte[cp]);
				else
					buf_append(out, s + st, i - st);
			}
		} else {
			/* U+2581 is a space */
			size_t i = 0;
			while (i < n) {
				if (i + 3 <= n && !memcmp(s + i, "\xe2\x96\x81", 3)) {
					buf_putc(out, ' ');
					i += 3;
				} else {
					buf_putc(out, s[i++]);
				}
			}
		}
		return 0;
	}
	if (attr & TOK_ATTR_BYTE) {
		if (n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && hexval(s[3]) >= 0 &&
		    hexval(s[4]) >= 0)
			buf_putc(out, (char)(hexval(s[3]) * 16 + hexval(s[4])));
		return 0;
	}
	return 0;
}

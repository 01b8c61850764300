/*
 * tok_bpe.c: byte-level BPE ("gpt2" vocabularies) and its pre-tokenizers.
 *
 * Encoding a fragment:
 *  1. Decode it leniently (an invalid byte becomes U+FFFD, as the reference
 *     does), re-encode as UTF-8.
 *  2. Split it into words with the regular expressions that
 *     tokenizer.ggml.pre names, one after the other: each expression cuts
 *     every piece so far into its matches and the gaps between them (the
 *     "Isolated" split of Hugging Face tokenizers). PCRE2 with UTF and UCP.
 *  3. Per word, BPE over bytes: each byte starts as its byte-level
 *     character (GPT-2's bytes_to_unicode), then the adjacent pair with the
 *     lowest merge rank is merged, leftmost first on ties, until no pair has
 *     a merge. Strings are interned at load time, so a merge is a lookup of
 *     two integer ids; a priority queue keeps it O(n log n).
 *
 * The reference runs most expressions through std::regex, where a
 * non-ASCII whitespace character is replaced by U+000B before matching.
 * We give PCRE2 a copy of the text in which each such character is
 * replaced by a stand-in of the same UTF-8 length that the expressions
 * below treat exactly as the reference's \s, so literal ranges such as
 * U+3000..U+3002 behave the same, and offsets stay those of the text.
 */
#include "infer/tok_int.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

/* \s as the reference sees it, after the stand-ins (U+0085 for the
 * two-byte whitespace characters, U+2028 for the three-byte ones). */
#define WS "\\t-\\r \\x{85}\\x{2028}"
#define S "[" WS "]"
#define NS "[^" WS "]"
#define CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"

#define RE_GPT2                                                                                    \
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|" S "+(?!" NS ")|" S \
	"+"
#define RE_LLAMA3                                                         \
	CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^" WS \
	             "\\p{L}\\p{N}]+[\\r\\n]*|" S "*[\\r\\n]+|" S "+(?!" NS ")|" S "+"
#define RE_QWEN2                                                                                  \
	CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|" S \
	             "*[\\r\\n]+|" S "+(?!" NS ")|" S "+"
#define RE_PORO    \
	" ?[^(" WS \
	"|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c)]+"
/* [^a-z] letters and [^A-Z] letters, as the reference spells \p{Lu}-ish classes */
#define UPPERISH "((?=[\\p{L}])([^a-z]))"
#define LOWERISH "((?=[\\p{L}])([^A-Z]))"
#define RE_DEEPSEEK3_MAIN                                                        \
	"[!\"#$%&'()*+,\\-./"                                                    \
	":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}" \
	"\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|" S "*[\\r\\n]+|" S "+(?!" NS ")|" S "+"
#define RE_CJK_KANA "[\xe4\xb8\x80-\xe9\xbe\xa5\xe3\x81\x80-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+"

/* Pre-tokenizers by tokenizer.ggml.pre. The expressions are those of the
 * models' tokenizer.json files in the form the reference engine uses. */
struct tok_pre {
	const char *const *names; /* NULL-terminated */
	const char *regex[7]; /* NULL-terminated */
	unsigned ignore_merges : 1; /* a word that is a token is taken whole */
	unsigned add_bos : 1; /* default add_bos_token */
	unsigned no_bos : 1; /* the vocabulary has no BOS */
};

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct tok_pre pre_table[] = {
        {NAMES("default"),
         {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"},
         0,
         0,
         0},
        {NAMES("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
               "lfm2", "jina-v5-nano"),
         {RE_LLAMA3},
         1,
         1,
         0},
        {NAMES("dbrx", "smaug-bpe"), {RE_LLAMA3}, 0, 0, 0},
        {NAMES("glm4", "chatglm-bpe"), {RE_LLAMA3}, 0, 0, 1},
        {NAMES("deepseek-llm"),
         {"[\\r\\n]",
          "\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf"
          "\xc7\x84-\xca\x93\xca\x95-\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd"
          "\xcd\xbf\xce\x86\xce\x88-\xce\x8a\xce\x8c\xce\x8e-\xce\xa1\xce\xa3-\xcf\xb5\xcf\xb7-"
          "\xd2\x81\xd2\x8a-\xd4\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85\xe1\x8e\xa0-"
          "\xe1\x8f\xb5\xe1\x8f\xb8-\xe1\x8f\xbd\xe1\xb2\x90-\xe1\xb2\xba\xe1\xb2\xbd-\xe1\xb2\xbf"
          "\xe1\xb4\x80-\xe1\xb4\xab\xe1\xb5\xab-\xe1\xb5\xb7\xe1\xb5\xb9-\xe1\xb6\x9a\xe1\xb8\x80-"
          "\xe1\xbc\x95\xe1\xbc\x98-\xe1\xbc\x9d\xe1\xbc\xa0-\xe1\xbd\x85\xe1\xbd\x88-\xe1\xbd\x8d"
          "\xe1\xbd\x90-\xe1\xbd\x97\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d\xe1\xbd\x9f-\xe1\xbd\xbd"
          "\xe1\xbe\x80-\xe1\xbe\xb4\xe1\xbe\xb6-\xe1\xbe\xbc\xe1\xbe\xbe\xe1\xbf\x82-\xe1\xbf\x84"
          "\xe1\xbf\x86-\xe1\xbf\x8c\xe1\xbf\x90-\xe1\xbf\x93\xe1\xbf\x96-\xe1\xbf\x9b\xe1\xbf\xa0-"
          "\xe1\xbf\xac\xe1\xbf\xb2-\xe1\xbf\xb4\xe1\xbf\xb6-\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87"
          "\xe2\x84\x8a-\xe2\x84\x93\xe2\x84\x95\xe2\x84\x99-\xe2\x84\x9d\xe2\x84\xa4\xe2\x84\xa6"
          "\xe2\x84\xa8\xe2\x84\xaa-\xe2\x84\xad\xe2\x84\xaf-\xe2\x84\xb4\xe2\x84\xb9\xe2\x84\xbc-"
          "\xe2\x84\xbf\xe2\x85\x85-\xe2\x85\x89\xe2\x85\x8e\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80-"
          "\xe2\xb1\xbb\xe2\xb1\xbe-\xe2\xb3\xa4\xe2\xb3\xab-\xe2\xb3\xae\xe2\xb3\xb2\xe2\xb3\xb3"
          "\xea\x99\x80-\xea\x99\xad\xea\x9a\x80-\xea\x9a\x9b\xea\x9c\xa2-\xea\x9d\xaf\xea\x9d\xb1-"
          "\xea\x9e\x87\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf\xef\xac\x80-\xef\xac\x86"
          "\xef\xac\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a\xf0\x90\x90"
          "\x80-\xf0\x90\x91\x8f\xf0\x90\x92\xb0-\xf0\x90\x93\x93\xf0\x90\x93\x98-\xf0\x90\x93\xbb"
          "\xf0\x90\xb2\x80-\xf0\x90\xb2\xb2\xf0\x90\xb3\x80-\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0-"
          "\xf0\x91\xa3\x9f\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+",
          "\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f"
          "\xe3\x80\x80-\xe3\x80\x82]+",
          "(?<!\\s)\\s+$", /* \s+$ without quadratic retries inside long runs */
          "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+",
          "\\p{N}+"},
         0,
         0,
         0},
        {NAMES("deepseek-coder"),
         {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+",
          "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+",
          "\\p{N}"},
         0,
         0,
         0},
        {NAMES("deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"),
         {"\\p{N}{1,3}", RE_CJK_KANA, RE_DEEPSEEK3_MAIN},
         0,
         0,
         0},
        {NAMES("spark2_5"),
         {"\\p{N}{1,3}", RE_CJK_KANA,
          "[!\"#$%&'()*+,\\-./"
          ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}"
          "\\p{M}]+| ?[\\p{P}\\p{S}]+|[\\r\\n]|" S "+(?!" NS ")|" S "+",
          "\\p{N}"},
         0,
         0,
         0},
        {NAMES("falcon"), {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}, 0, 0, 0},
        {NAMES("starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b",
               "mellum2"),
         {"\\p{N}", RE_GPT2},
         0,
         0,
         0},
        {NAMES("gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
               "a.x-4.0", "mellum", "modern-bert", "mpt", "olmo", "jais", "trillion",
               "granite-docling", "exaone4", "jina-v1-en", "jina-v2-code", "roberta-bpe"),
         {RE_GPT2},
         0,
         0,
         0},
        {NAMES("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "stablelm2", "hunyuan",
               "solar-open", "megrez"),
         {RE_QWEN2},
         0,
         0,
         0},
        {NAMES("qwen35"),
         {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^" WS
                       "\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|" S "*[\\r\\n]+|" S "+(?!" NS ")|" S "+"},
         0,
         0,
         0},
        {NAMES("grok-2"), {RE_QWEN2}, 0, 0, 0},
        {NAMES("poro-chat", "bloom", "gpt3-finnish"), {RE_PORO}, 0, 0, 0},
        {NAMES("viking"), {RE_PORO, "\\p{N}"}, 0, 0, 0},
        {NAMES("tekken"),
         {"[^\\r\\n\\p{L}\\p{N}]?" UPPERISH "*" LOWERISH "+|[^\\r\\n\\p{L}\\p{N}]?" UPPERISH
          "+" LOWERISH "*|\\p{N}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n/]*|" S "*[\\r\\n]+|" S "+(?!" NS
          ")|" S "+"},
         1,
         1,
         0},
        {NAMES("chameleon"),
         {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
          "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", RE_GPT2},
         0,
         1,
         0},
        {NAMES("gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"),
         {"[^\\r\\n\\p{L}\\p{N}]?" UPPERISH "*" LOWERISH "+" CONTRACTIONS
          "?|[^\\r\\n\\p{L}\\p{N}]?" UPPERISH "+" LOWERISH "*" CONTRACTIONS "?|\\p{N}{1,3}| ?[^" WS
          "\\p{L}\\p{N}]+[\\r\\n/]*|" S "*[\\r\\n]+|" S "+(?!" NS ")|" S "+"},
         0,
         0,
         0},
        {NAMES("seed-coder"),
         {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^" WS "\\p{L}\\p{N}\\r\\n]+|" S
                       "*[\\r\\n]+|" S "+(?!" NS ")|" S "+"},
         0,
         0,
         0},
        {NAMES("bailingmoe", "bailingmoe2", "llada-moe"),
         {"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^" WS
          "\\p{L}\\p{N}]+[\\r\\n]*|" S "*[\\r\\n]|" S "+(?!" NS ")|" S "+"},
         0,
         0,
         0},
        {NAMES("ufakzeka"),
         {"[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|" S
          "*[\\r\\n]+|" S "+(?!" NS ")|" S "+"},
         0,
         0,
         0},
        {NAMES("minicpm5"),
         {"\\p{N}{1,3}",
          CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|" S
                       "*[\\r\\n]+|" S "+(?!" NS ")|" S "+"},
         1,
         0,
         0},
        {NAMES("exaone-moe"),
         {CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^" WS
                       "\\p{L}\\p{N}]+[\\r\\n/]?|" S "*[\\r\\n]|" S "+(?!" NS ")|" S "+"},
         0,
         0,
         0},
        {NAMES("laguna"), {"[^\\n]+|[\\n]+", RE_QWEN2}, 0, 0, 0},
};

/* In the expressions above a bare \s means the reference's \s too: it is
 * rewritten to the class S when compiled (see compile_one). */

const struct tok_pre *tok_pre_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(pre_table); i++)
		for (const char *const *n = pre_table[i].names; *n; n++)
			if (!strcmp(*n, name))
				return &pre_table[i];
	return NULL;
}

const char *tok_pre_name(size_t i)
{
	for (size_t k = 0; k < ARRAY_SIZE(pre_table); k++)
		for (const char *const *n = pre_table[k].names; *n; n++)
			if (i-- == 0)
				return *n;
	return NULL;
}

/* Compiles one expression, replacing \s and \S by the reference's classes. */
static pcre2_code *compile_one(const char *re, char *err, size_t err_size)
{
	struct buf b = BUF_INIT;
	int in_class = 0;
	for (const char *p = re; *p; p++) {
		if (p[0] == '\\' && p[1]) {
			if (p[1] == 's' || p[1] == 'S') {
				if (in_class)
					buf_puts(&b, p[1] == 's' ? WS : "\\S");
				else
					buf_puts(&b, p[1] == 's' ? S : NS);
			} else {
				buf_append(&b, p, 2);
			}
			p++;
			continue;
		}
		if (*p == '[' && !in_class)
			in_class = 1;
		else if (*p == ']' && in_class)
			in_class = 0;
		buf_putc(&b, *p);
	}
	int code;
	PCRE2_SIZE off;
	pcre2_code *c =
	        pcre2_compile((PCRE2_SPTR)b.data, b.len,
	                      PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &code, &off, NULL);
	if (!c) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof(msg));
		hd_fail(err, err_size, HD_EINTERNAL, "pre-tokenizer expression %.60s: %s at %zu",
		        re, (const char *)msg, (size_t)off);
	} else {
		pcre2_jit_compile(c, PCRE2_JIT_COMPLETE); /* the interpreter remains if it fails */
	}
	buf_release(&b);
	return c;
}

/* GPT-2's byte-to-character map: printable Latin-1 bytes are themselves,
 * the others take the code points from U+0100 on, in byte order. */
static void byte_map_init(struct tok *t)
{
	uint32_t next = 256;
	for (int i = 0; i < 0x144; i++)
		t->char_byte[i] = -1;
	for (int b = 0; b < 256; b++) {
		int printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
		uint32_t cp = printable ? (uint32_t)b : next++;
		t->byte_char[b] = (uint16_t)cp;
		t->char_byte[cp] = (int16_t)b;
	}
}

static int merge_insert(struct tok *t, int32_t l, int32_t r, uint32_t rank, int32_t res)
{
	uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
	uint32_t i = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & t->merge_mask;
	while (t->merge_keys[i] != UINT64_MAX) {
		if (t->merge_keys[i] == key)
			return 0; /* the first rank of a pair wins */
		i = (i + 1) & t->merge_mask;
	}
	t->merge_keys[i] = key;
	t->merge_rank[i] = rank;
	t->merge_result[i] = res;
	return 1;
}

/* The merge of a pair of string ids: slot index or -1. */
static int64_t merge_find(const struct tok *t, int32_t l, int32_t r)
{
	uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
	uint32_t i = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & t->merge_mask;
	while (t->merge_keys[i] != UINT64_MAX) {
		if (t->merge_keys[i] == key)
			return i;
		i = (i + 1) & t->merge_mask;
	}
	return -1;
}

int tok_bpe_init(struct tok *t, const char *pre, const struct tok_src *src, char *err,
                 size_t err_size)
{
	const struct tok_pre *p = tok_pre_find(pre && *pre ? pre : "default");
	if (!p)
		return hd_fail(err, err_size, HD_EUNSUPPORTED, "unknown pre-tokenizer type '%.64s'",
		               pre);
	t->pre = p;
	t->ignore_merges = p->ignore_merges;
	if (p->add_bos)
		t->add_bos = 1;
	if (p->no_bos)
		t->special[TOK_SP_BOS] = -1;
	for (t->n_regex = 0; p->regex[t->n_regex]; t->n_regex++) {
		t->regex[t->n_regex] = compile_one(p->regex[t->n_regex], err, err_size);
		if (!t->regex[t->n_regex])
			return HD_EINTERNAL;
	}

	byte_map_init(t);
	if (!src->merges)
		return hd_fail(err, err_size, HD_EINVAL, "tokenizer.ggml.merges is missing");
	uint32_t cap = 16;
	while (cap < (uint64_t)src->n_merges * 2)
		cap *= 2;
	t->merge_mask = cap - 1;
	t->merge_keys = xmalloc_array(cap, sizeof(uint64_t));
	memset(t->merge_keys, 0xff, (size_t)cap * sizeof(uint64_t));
	t->merge_rank = xmalloc_array(cap, sizeof(uint32_t));
	t->merge_result = xmalloc_array(cap, sizeof(int32_t));

	char *tmp = xmalloc(2 * TOK_MAX_TOKEN_LEN + 2);
	for (uint32_t i = 0; i < src->n_merges; i++) {
		const char *m = src->merges[i];
		size_t n = src->merge_lens ? src->merge_lens[i] : (m ? strlen(m) : 0);
		const char *sp = n > 1 ? memchr(m + 1, ' ', n - 1) : NULL;
		if (!sp || n > 2 * TOK_MAX_TOKEN_LEN + 1)
			continue; /* not "left right": matches no pair (the reference keeps it inert too) */
		size_t ln = (size_t)(sp - m), rn = n - ln - 1;
		if (rn == 0)
			continue;
		memcpy(tmp, m, ln);
		memcpy(tmp + ln, sp + 1, rn);
		int32_t l = tok_intern(t, m, ln);
		int32_t r = tok_intern(t, sp + 1, rn);
		int32_t res = tok_intern(t, tmp, ln + rn);
		if (l < 0 || r < 0 || res < 0) {
			free(tmp);
			return hd_fail(err, err_size, HD_ETOOBIG,
			               "merges: vocabulary text over 4 GiB");
		}
		merge_insert(t, l, r, i, res);
	}
	free(tmp);
	/* the byte-level character of each byte, as a string id (after the
	 * merges: a merge may name a character that is not a token) */
	for (int b = 0; b < 256; b++) {
		char u[4];
		size_t n = tok_utf8_put(u, t->byte_char[b]);
		t->byte_sid[b] = tok_find(t, u, n);
	}
	return 0;
}

void tok_bpe_release(struct tok *t)
{
	for (uint32_t i = 0; i < t->n_regex; i++)
		pcre2_code_free(t->regex[i]);
	t->n_regex = 0;
	free(t->merge_keys);
	free(t->merge_rank);
	free(t->merge_result);
	t->merge_keys = NULL;
	t->merge_rank = NULL;
	t->merge_result = NULL;
}

/* ---- pre-tokenizing -------------------------------------------------- */

struct span {
	uint32_t off, len;
};

struct spans {
	struct span *v;
	size_t n, cap;
};

static void spans_push(struct spans *s, size_t off, size_t len)
{
	if (len == 0)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = (struct span){(uint32_t)off, (uint32_t)len};
}

static int is_ws_nonascii(uint32_t cp)
{
	return cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
	       cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

/* Decodes text as the reference does and writes the clean UTF-8 to clean
 * and the copy the expressions see to subj (same length). Returns the length. */
static size_t clean_text(const char *text, size_t len, char *clean, char *subj)
{
	size_t i = 0, w = 0;
	while (i < len) {
		uint32_t cp = tok_utf8_next(text, len, &i);
		uint32_t scp = cp;
		size_t n;
		if (cp > 0x10ffff)
			cp = scp = 0xfffd;
		if (cp >= 0xd800 && cp <= 0xdfff) {
			/* kept as three bytes, as the reference re-encodes it; a
			 * private-use stand-in of the same class for the expressions */
			clean[w] = (char)(0xe0 | (cp >> 12));
			clean[w + 1] = (char)(0x80 | ((cp >> 6) & 0x3f));
			clean[w + 2] = (char)(0x80 | (cp & 0x3f));
			tok_utf8_put(subj + w, 0xe000);
			w += 3;
			continue;
		}
		if (is_ws_nonascii(cp))
			scp = cp < 0x800 ? 0x85 : 0x2028;
		n = tok_utf8_put(clean + w, cp);
		tok_utf8_put(subj + w, scp);
		w += n;
	}
	return w;
}

struct re_ctx {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jit;
};

/* Splits every span of cur by expression re into matches and gaps. */
static int split_one(const pcre2_code *re, const char *subj, struct spans *cur, struct spans *out,
                     struct re_ctx *rc)
{
	out->n = 0;
	for (size_t k = 0; k < cur->n; k++) {
		const char *s = subj + cur->v[k].off;
		size_t len = cur->v[k].len, pos = 0, last = 0;
		while (pos < len) {
			int r = pcre2_match(re, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, rc->md,
			                    rc->mctx);
			if (r == PCRE2_ERROR_JIT_STACKLIMIT && !rc->jit) {
				rc->jit = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, NULL);
				rc->mctx = pcre2_match_context_create(NULL);
				if (!rc->jit || !rc->mctx)
					return HD_EINTERNAL;
				pcre2_jit_stack_assign(rc->mctx, NULL, rc->jit);
				continue;
			}
			if (r == PCRE2_ERROR_NOMATCH)
				break;
			if (r < 0)
				return HD_EINTERNAL;
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(rc->md);
			size_t ms = ov[0], me = ov[1];
			if (me <= ms) {
				/* an empty match: step one character on */
				pos = ms + 1;
				while (pos < len && ((unsigned char)s[pos] & 0xc0) == 0x80)
					pos++;
				continue;
			}
			spans_push(out, cur->v[k].off + last, ms - last);
			spans_push(out, cur->v[k].off + ms, me - ms);
			last = pos = me;
		}
		spans_push(out, cur->v[k].off + last, len - last);
	}
	return 0;
}

/* ---- BPE over one word ----------------------------------------------- */

struct bpe_sym {
	int32_t prev, next;
	int32_t sid; /* string id of the text, -1 when it is no known string */
	uint32_t start, n;
};

struct bpe_pair {
	uint32_t rank;
	int32_t left, right;
	int32_t lsid, rsid, res;
};

struct bpe_heap {
	struct bpe_pair *v;
	size_t n, cap;
};

static int bpair_before(const struct bpe_pair *a, const struct bpe_pair *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void bheap_push(struct bpe_heap *h, struct bpe_pair p)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 64;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	size_t i = h->n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!bpair_before(&p, &h->v[parent]))
			break;
		h->v[i] = h->v[parent];
		i = parent;
	}
	h->v[i] = p;
}

static struct bpe_pair bheap_pop(struct bpe_heap *h)
{
	struct bpe_pair top = h->v[0], last = h->v[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && bpair_before(&h->v[c + 1], &h->v[c]))
			c++;
		if (!bpair_before(&h->v[c], &last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}

static void bpe_try(const struct tok *t, const struct bpe_sym *sym, struct bpe_heap *h,
                    int32_t left, int32_t right)
{
	if (left < 0 || right < 0 || sym[left].sid < 0 || sym[right].sid < 0)
		return;
	int64_t slot = merge_find(t, sym[left].sid, sym[right].sid);
	if (slot < 0)
		return;
	bheap_push(h, (struct bpe_pair){t->merge_rank[slot], left, right, sym[left].sid,
	                                sym[right].sid, t->merge_result[slot]});
}

/* The byte-level spelling of raw bytes. */
static void byte_encode(const struct tok *t, const char *s, size_t n, struct buf *out)
{
	buf_reset(out);
	buf_grow(out, 2 * n);
	for (size_t i = 0; i < n; i++) {
		char u[4];
		size_t k = tok_utf8_put(u, t->byte_char[(unsigned char)s[i]]);
		buf_append(out, u, k);
	}
}

static void bpe_word(const struct tok *t, const char *w, size_t n, struct bpe_sym *sym,
                     struct bpe_heap *h, struct buf *scratch, struct tok_out *o)
{
	if (t->ignore_merges) {
		byte_encode(t, w, n, scratch);
		int32_t id = tok_find(t, scratch->data, scratch->len);
		if (id >= 0 && (uint32_t)id < t->n_vocab) {
			tok_out_push(o, id);
			return;
		}
	}
	for (size_t i = 0; i < n; i++) {
		sym[i].prev = (int32_t)i - 1;
		sym[i].next = i + 1 == n ? -1 : (int32_t)i + 1;
		sym[i].sid = t->byte_sid[(unsigned char)w[i]];
		sym[i].start = (uint32_t)i;
		sym[i].n = 1;
	}
	h->n = 0;
	for (size_t i = 1; i < n; i++)
		bpe_try(t, sym, h, (int32_t)i - 1, (int32_t)i);
	while (h->n) {
		struct bpe_pair p = bheap_pop(h);
		struct bpe_sym *l = &sym[p.left], *r = &sym[p.right];
		if (l->n == 0 || r->n == 0 || l->next != p.right || l->sid != p.lsid ||
		    r->sid != p.rsid)
			continue;
		l->n += r->n;
		l->sid = p.res;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			sym[r->next].prev = p.left;
		bpe_try(t, sym, h, l->prev, p.left);
		bpe_try(t, sym, h, p.left, l->next);
	}
	for (int32_t i = 0; i != -1; i = sym[i].next) {
		int32_t sid = sym[i].sid;
		if (sid >= 0 && (uint32_t)sid < t->n_vocab) {
			tok_out_push(o, sid);
			continue;
		}
		/* not a token: each byte of its byte-level spelling, where that
		 * one byte is a token (the reference's fallback) */
		byte_encode(t, w + sym[i].start, sym[i].n, scratch);
		for (size_t k = 0; k < scratch->len; k++) {
			int32_t id = tok_find(t, scratch->data + k, 1);
			if (id >= 0 && (uint32_t)id < t->n_vocab)
				tok_out_push(o, id);
		}
	}
}

int tok_bpe_encode(const struct tok *t, const char *text, size_t len, struct tok_out *o)
{
	/* decoding can grow the text: a lone byte becomes U+FFFD (3 bytes) */
	size_t cap = 3 * len + 4;
	char *clean = xmalloc(cap), *subj = xmalloc(cap);
	struct spans a = {0}, b = {0};
	struct re_ctx rc = {0};
	struct bpe_heap h = {0};
	struct buf scratch = BUF_INIT;
	struct bpe_sym *sym = NULL;
	size_t max_word = 0;
	int err = 0;

	size_t n = clean_text(text, len, clean, subj);
	if (n > UINT32_MAX / 2) {
		err = HD_ETOOBIG;
		goto done;
	}
	rc.md = pcre2_match_data_create(32, NULL);
	if (!rc.md) {
		err = HD_EINTERNAL;
		goto done;
	}
	spans_push(&a, 0, n);
	for (uint32_t i = 0; i < t->n_regex && err == 0; i++) {
		err = split_one(t->regex[i], subj, &a, &b, &rc);
		struct spans tmp = a;
		a = b;
		b = tmp;
	}
	if (err)
		goto done;
	for (size_t k = 0; k < a.n; k++)
		max_word = HD_MAX(max_word, a.v[k].len);
	sym = xmalloc_array(max_word ? max_word : 1, sizeof(*sym));
	for (size_t k = 0; k < a.n; k++)
		bpe_word(t, clean + a.v[k].off, a.v[k].len, sym, &h, &scratch, o);
done:
	if (rc.md)
		pcre2_match_data_free(rc.md);
	if (rc.mctx)
		pcre2_match_context_free(rc.mctx);
	if (rc.jit)
		pcre2_jit_stack_free(rc.jit);
	free(sym);
	free(h.v);
	free(a.v);
	free(b.v);
	buf_release(&scratch);
	free(clean);
	free(subj);
	return err;
}

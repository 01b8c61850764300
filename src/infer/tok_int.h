/*
 * tok_int.h: internals shared by the tokenizer files (tok.c loads and
 * dispatches, tok_spm.c, tok_bpe.c and tok_wpm.c encode). Not a public
 * header: other modules use tok.h.
 *
 * The vocabulary is one string table: ids 0..n_vocab-1 are the tokens,
 * ids above are strings that only BPE merges mention (a merge may name a
 * string that is not a token). Every string lives in one pool, each
 * followed by a NUL so tok_text can hand out C strings.
 */
#ifndef HD_INFER_TOK_INT_H
#define HD_INFER_TOK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "infer/tok.h"

/* Hard limits on what a vocabulary may declare (the file size already
 * bounds them; these keep our int32 ids and offsets valid). */
#define TOK_MAX_VOCAB (1u << 22)
#define TOK_MAX_MERGES (1u << 23)
#define TOK_MAX_TOKEN_LEN 4096
#define TOK_MAX_TEXT ((size_t)INT32_MAX / 4)

enum tok_model_type {
	TOK_MODEL_SPM = 1, /* "llama": SentencePiece BPE with scores and byte fallback */
	TOK_MODEL_BPE = 2, /* "gpt2": byte-level BPE with merges and a pre-tokenizer */
	TOK_MODEL_WPM = 3, /* "bert": WordPiece */
};

/* Token attributes (a bit set, as the reference keeps them). */
enum tok_attr {
	TOK_ATTR_UNKNOWN = 1 << 0,
	TOK_ATTR_UNUSED = 1 << 1,
	TOK_ATTR_NORMAL = 1 << 2,
	TOK_ATTR_CONTROL = 1 << 3,
	TOK_ATTR_USER_DEFINED = 1 << 4,
	TOK_ATTR_BYTE = 1 << 5,
	TOK_ATTR_LSTRIP = 1 << 7,
	TOK_ATTR_RSTRIP = 1 << 8,
	TOK_ATTR_EOG = 1 << 12, /* ours: ends generation */
};

/* GGUF tokenizer.ggml.token_type values. */
enum tok_gguf_type {
	TOK_TYPE_UNDEFINED = 0,
	TOK_TYPE_NORMAL = 1,
	TOK_TYPE_UNKNOWN = 2,
	TOK_TYPE_CONTROL = 3,
	TOK_TYPE_USER_DEFINED = 4,
	TOK_TYPE_UNUSED = 5,
	TOK_TYPE_BYTE = 6,
};

/* Special ids read from metadata, in this order. */
enum tok_special {
	TOK_SP_BOS,
	TOK_SP_EOS,
	TOK_SP_EOT,
	TOK_SP_EOM,
	TOK_SP_UNK,
	TOK_SP_SEP,
	TOK_SP_PAD,
	TOK_SP_MASK,
	TOK_SP_FIM_PRE,
	TOK_SP_FIM_SUF,
	TOK_SP_FIM_MID,
	TOK_SP_FIM_PAD,
	TOK_SP_FIM_REP,
	TOK_SP_FIM_SEP,
	TOK_SP_COUNT
};

/* Pre-tokenizer regex sets (tokenizer.ggml.pre); see tok_bpe.c. */
struct tok_pre;
/* The pre-tokenizer of a tokenizer.ggml.pre value, or NULL when unknown. */
const struct tok_pre *tok_pre_find(const char *name);
/* Every pre-tokenizer name (for tests): the i-th, or NULL past the end. */
const char *tok_pre_name(size_t i);

/* Everything a vocabulary is built from. tok_load_gguf fills it from GGUF
 * metadata; the unit tests fill it by hand. Arrays are borrowed for the
 * duration of tok_build only. */
struct tok_src {
	const char *model; /* tokenizer.ggml.model */
	const char *pre; /* tokenizer.ggml.pre or NULL */
	const char *name; /* general.name or NULL (a few per-model quirks key on it) */
	const char *arch; /* general.architecture or NULL */
	uint32_t n_tokens;
	const char *const *tokens; /* n_tokens strings ... */
	const uint32_t *token_lens; /* ... of these lengths (NULL: NUL-terminated) */
	const float *scores; /* n_tokens or NULL */
	const int32_t *types; /* n_tokens GGUF token types or NULL */
	uint32_t n_merges;
	const char *const *merges; /* "left right" */
	const uint32_t *merge_lens; /* NULL: NUL-terminated */
	int64_t special[TOK_SP_COUNT]; /* metadata value, or TOK_SRC_ABSENT */
	int add_bos, add_eos, add_sep, add_space_prefix; /* 0/1, or -1 when absent */
	int lowercase, strip_accents; /* WordPiece normalizer options; -1 when absent */
};
#define TOK_SRC_ABSENT INT64_MIN

/* Initializes src with everything absent. */
void tok_src_init(struct tok_src *src);
/* Builds a tokenizer; 0 or a negative error with a message. */
int tok_build(const struct tok_src *src, struct tok **out, char *err, size_t err_size);

/* Open-addressing hash table from a byte string to a string id. */
struct tok_strmap {
	int32_t *slots; /* -1 empty */
	uint32_t mask;
};

struct tok {
	enum tok_model_type type;
	uint32_t n_vocab;
	uint32_t n_strings; /* tokens + strings only merges mention */
	uint32_t str_cap;
	char *pool; /* every string, each followed by a NUL */
	size_t pool_len, pool_cap;
	uint32_t *str_off; /* n_strings offsets into pool */
	uint32_t *str_len; /* n_strings lengths */
	float *scores; /* n_vocab */
	uint16_t *attr; /* n_vocab tok_attr bits */
	struct tok_strmap map; /* every string -> id */
	int32_t max_token_len;
	uint8_t *len_used; /* WordPiece: [len] is 1 when some token is len bytes long */

	int32_t special[TOK_SP_COUNT]; /* -1 when none */
	int add_bos, add_eos, add_sep, add_space_prefix;
	int ignore_merges;
	/* SPM: no token has U+2581 right after another character, so no merge
	 * can reach across the start of a word (merging runs word by word) */
	int spm_word_cuts;
	int lowercase, strip_accents;

	/* tokens split out of the text before the model runs (control,
	 * user-defined and unknown), longest text first */
	int32_t *special_cache;
	uint32_t n_special_cache;

	/* SPM: the id of "<0xXX>" (or of the one-byte token) per byte, -1 when absent */
	int32_t byte_tok[256];

	/* BPE */
	const struct tok_pre *pre;
	void *regex[8]; /* compiled pcre2_code per pre-tokenizer expression */
	uint32_t n_regex;
	int32_t byte_sid[256]; /* string id of the byte-level character of each byte */
	uint16_t byte_char[256]; /* the code point each byte maps to */
	int16_t char_byte[0x144]; /* and back: the byte of each such code point, -1 for others */
	uint64_t *merge_keys; /* (left sid << 32 | right sid), open addressing, 0 empty */
	uint32_t *merge_rank; /* rank per slot */
	int32_t *merge_result; /* string id of the merged text per slot */
	uint32_t merge_mask;
};

/* String table. The hash is FNV-1a over the bytes, then a final mix, so
 * the hashes of all prefixes of a string come in one pass. */
#define TOK_FNV_INIT 0xcbf29ce484222325ull
static inline uint64_t tok_fnv_step(uint64_t h, unsigned char c)
{
	return (h ^ c) * 0x100000001b3ull;
}
static inline uint64_t tok_hash_fin(uint64_t h)
{
	h ^= h >> 31;
	h *= 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	return h;
}
uint64_t tok_hash(const char *s, size_t n);
int32_t tok_find(const struct tok *t, const char *s, size_t n); /* -1 when absent */
/* The same with the hash already known (tok_hash(s, n)). */
int32_t tok_find_hashed(const struct tok *t, const char *s, size_t n, uint64_t hash);
/* The id of a string, added to the table if new (building only); -1 when the pool is full. */
int32_t tok_intern(struct tok *t, const char *s, size_t n);
static inline const char *tok_str(const struct tok *t, int32_t id)
{
	return t->pool + t->str_off[id];
}

/* A growable output id array (tok_encode's). */
struct tok_out {
	int32_t **ids;
	size_t *n, *cap;
};
void tok_out_push(struct tok_out *o, int32_t id);

/* Model encoders over one text fragment (no special tokens inside). */
int tok_spm_encode(const struct tok *t, const char *text, size_t len, int space_prefix,
                   struct tok_out *o);
int tok_bpe_encode(const struct tok *t, const char *text, size_t len, struct tok_out *o);
int tok_wpm_encode(const struct tok *t, const char *text, size_t len, struct tok_out *o);

/* BPE setup (tok_bpe.c): picks and compiles the pre-tokenizer of a
 * tokenizer.ggml.pre value, builds the byte map and the merge table. */
int tok_bpe_init(struct tok *t, const char *pre, const struct tok_src *src, char *err,
                 size_t err_size);
void tok_bpe_release(struct tok *t);

/* Lenient UTF-8 decoding as the reference does it: returns the code
 * point at s[*i] and advances *i; an invalid sequence yields U+FFFD and
 * advances one byte. May return surrogates and values above U+10FFFF for
 * sequences that are well-formed in shape but not in value. */
uint32_t tok_utf8_next(const char *s, size_t n, size_t *i);
/* Appends the UTF-8 of cp (1..4 bytes; cp must be <= 0x10FFFF) to dst, returns the length. */
size_t tok_utf8_put(char *dst, uint32_t cp);
/* The byte length a lead byte announces (1 for continuation bytes), as the reference counts. */
static inline size_t tok_utf8_len(unsigned char c)
{
	static const unsigned char lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
	return lens[c >> 4];
}

#endif

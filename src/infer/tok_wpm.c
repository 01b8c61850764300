/*
 * tok_wpm.c: WordPiece ("bert" vocabularies, as GGUF stores them: a word
 * start is spelled with a U+2581 prefix instead of continuations with "##").
 *
 * The text is normalized the way BERT's tokenizer does (through utf8proc):
 * optionally accents stripped (first code point of the canonical
 * decomposition, combining marks dropped) and lowercased; control
 * characters dropped; split at whitespace; punctuation, ASCII symbols and
 * CJK ideographs become words of their own. Each word is then matched
 * greedily, longest vocabulary entry first; a word with a part that
 * matches nothing becomes the unknown token.
 */
#include "infer/tok_int.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static int is_ws(uint32_t cp)
{
	return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 ||
	       cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

static int is_chinese(uint32_t cp)
{
	return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
	       (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
	       (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) ||
	       (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/* The longest piece matched (bytes). WordPiece vocabularies hold words
 * (bert's longest is 21 bytes); the bound keeps a hostile vocabulary of
 * long tokens from making each position of the text cost thousands of
 * lookups. Special tokens of any length are split out before this runs. */
#define WPM_MAX_MATCH 128

/* Encodes one word (its U+2581 prefix already in w) greedily, longest
 * match first. The hashes of all prefixes from a position come in one
 * pass and only lengths some token has are probed, so a position costs
 * O(match bound), not its square. */
static void wpm_word(const struct tok *t, const char *w, size_t n, uint64_t *hashes,
                     struct tok_out *o)
{
	size_t start = *o->n;
	for (size_t i = 0; i < n;) {
		size_t m = HD_MIN(n - i, HD_MIN((size_t)t->max_token_len, WPM_MAX_MATCH));
		uint64_t h = TOK_FNV_INIT;
		int32_t id = -1;
		size_t len;
		for (size_t k = 0; k < m; k++) {
			h = tok_fnv_step(h, (unsigned char)w[i + k]);
			hashes[k + 1] = h;
		}
		for (len = m; len > 0; len--) {
			if (!t->len_used[len])
				continue;
			id = tok_find_hashed(t, w + i, len, tok_hash_fin(hashes[len]));
			if (id >= 0 && (uint32_t)id < t->n_vocab)
				break;
			id = -1;
		}
		if (id < 0) {
			*o->n = start; /* no match: drop the word's tokens */
			break;
		}
		tok_out_push(o, id);
		i += len;
	}
	if (*o->n == start && t->special[TOK_SP_UNK] >= 0)
		tok_out_push(o, t->special[TOK_SP_UNK]);
}

int tok_wpm_encode(const struct tok *t, const char *text, size_t len, struct tok_out *o)
{
	/* the current word, after a U+2581 prefix */
	struct buf w = BUF_INIT;
	size_t i = 0;
	uint64_t *hashes = xmalloc_array((size_t)t->max_token_len + 2, sizeof(uint64_t));

	buf_puts(&w, "\xe2\x96\x81");
	while (i < len) {
		uint32_t cp = tok_utf8_next(text, len, &i);
		if (cp > 0x10ffff)
			cp = 0xfffd;
		if (is_ws(cp)) {
			if (w.len > 3)
				wpm_word(t, w.data, w.len, hashes, o);
			w.len = 3;
			continue;
		}
		if (t->strip_accents && cp >= 0x80 &&
		    utf8proc_codepoint_valid((utf8proc_int32_t)cp)) {
			utf8proc_int32_t dec[8];
			int last = 0;
			utf8proc_ssize_t nd = utf8proc_decompose_char((utf8proc_int32_t)cp, dec, 8,
			                                              UTF8PROC_DECOMPOSE, &last);
			if (nd > 0 && nd <= 8)
				cp = (uint32_t)dec[0];
		}
		utf8proc_category_t cat = cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff)
		                                  ? utf8proc_category((utf8proc_int32_t)cp)
		                                  : UTF8PROC_CATEGORY_CS;
		if (cp == 0 || cp == 0xfffd || cat == UTF8PROC_CATEGORY_CC ||
		    cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CO ||
		    cat == UTF8PROC_CATEGORY_CS)
			continue;
		if (t->strip_accents &&
		    (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
		     cat == UTF8PROC_CATEGORY_ME))
			continue;
		uint32_t out = t->lowercase && cat != UTF8PROC_CATEGORY_CS
		                       ? (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp)
		                       : cp;
		char u[4];
		size_t un;
		if (out >= 0xd800 && out <= 0xdfff) {
			u[0] = (char)(0xe0 | (out >> 12));
			u[1] = (char)(0x80 | ((out >> 6) & 0x3f));
			u[2] = (char)(0x80 | (out & 0x3f));
			un = 3;
		} else {
			un = tok_utf8_put(u, out);
		}
		int punct = cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
		int sym = cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO;
		if (punct || (cp < 0x7f && sym) || is_chinese(cp)) {
			if (w.len > 3)
				wpm_word(t, w.data, w.len, hashes, o);
			w.len = 3;
			buf_append(&w, u, un);
			wpm_word(t, w.data, w.len, hashes, o);
			w.len = 3;
		} else {
			buf_append(&w, u, un);
		}
	}
	if (w.len > 3)
		wpm_word(t, w.data, w.len, hashes, o);
	buf_release(&w);
	free(hashes);
	return 0;
}

/*
 * tok_spm.c: SentencePiece-style BPE ("llama" vocabularies).
 *
 * Spaces become U+2581 (with one in front when the caller asks for the
 * dummy prefix), the text is cut into UTF-8 characters, then the adjacent
 * pair whose concatenation is the highest-scoring token is merged, again
 * and again, leftmost first on ties. A priority queue of candidate pairs
 * makes it O(n log n); stale entries are skipped when popped. What is left
 * that is not a token falls back to byte tokens (<0xXX>).
 */
#include "infer/tok_int.h"

#include <stdlib.h>
#include <string.h>

struct spm_sym {
	int32_t prev, next;
	uint32_t start, n; /* bytes of the escaped text; n == 0 once merged away */
};

struct spm_pair {
	float score;
	int32_t left, right;
	uint32_t size;
};

struct spm_heap {
	struct spm_pair *v;
	size_t n, cap;
};

/* a comes out before b: higher score, then the leftmost */
static int pair_before(const struct spm_pair *a, const struct spm_pair *b)
{
	return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(struct spm_heap *h, struct spm_pair p)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 256;
		h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
	}
	size_t i = h->n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!pair_before(&p, &h->v[parent]))
			break;
		h->v[i] = h->v[parent];
		i = parent;
	}
	h->v[i] = p;
}

static struct spm_pair heap_pop(struct spm_heap *h)
{
	struct spm_pair top = h->v[0], last = h->v[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && pair_before(&h->v[c + 1], &h->v[c]))
			c++;
		if (!pair_before(&h->v[c], &last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n)
		h->v[i] = last;
	return top;
}

static void try_pair(const struct tok *t, const char *buf, const struct spm_sym *sym,
                     struct spm_heap *h, int32_t left, int32_t right)
{
	if (left < 0 || right < 0)
		return;
	uint32_t size = sym[left].n + sym[right].n;
	int32_t id = tok_find(t, buf + sym[left].start, size);
	if (id < 0 || (uint32_t)id >= t->n_vocab)
		return;
	heap_push(h, (struct spm_pair){t->scores[id], left, right, size});
}

int tok_spm_encode(const struct tok *t, const char *text, size_t len, int space_prefix,
                   struct tok_out *o)
{
	static const char sp[3] = {'\xe2', '\x96', '\x81'};
	size_t n_spaces = 0, blen, nsym = 0;
	char *buf;
	struct spm_sym *sym;
	struct spm_heap h = {0};

	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		n_spaces += text[i] == ' ';
	blen = len + 2 * n_spaces + (space_prefix ? 3 : 0);
	if (blen > UINT32_MAX / 2)
		return HD_ETOOBIG;

	/* escape: ' ' -> U+2581 */
	buf = xmalloc(blen);
	size_t w = 0;
	if (space_prefix) {
		memcpy(buf, sp, 3);
		w = 3;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ') {
			memcpy(buf + w, sp, 3);
			w += 3;
		} else {
			buf[w++] = text[i];
		}
	}

	/* one symbol per character (as long as its lead byte says, clipped at the end) */
	for (size_t off = 0; off < blen; nsym++)
		off += HD_MIN(tok_utf8_len((unsigned char)buf[off]), blen - off);
	sym = xmalloc_array(nsym, sizeof(*sym));
	nsym = 0;
	for (size_t off = 0; off < blen;) {
		size_t n = HD_MIN(tok_utf8_len((unsigned char)buf[off]), blen - off);
		sym[nsym].start = (uint32_t)off;
		sym[nsym].n = (uint32_t)n;
		sym[nsym].prev = (int32_t)nsym - 1;
		off += n;
		sym[nsym].next = off == blen ? -1 : (int32_t)nsym + 1;
		nsym++;
	}

	/* Merge. Where no token has U+2581 after another character, no merge
	 * reaches across the start of a word (a U+2581 after anything else), so
	 * each word runs on its own small heap: the same merges, in cache. */
	for (size_t a = 0; a < nsym;) {
		size_t b = a + 1;
		if (t->spm_word_cuts) {
			while (b < nsym &&
			       !(sym[b].n == 3 && !memcmp(buf + sym[b].start, sp, 3) &&
			         !(sym[b - 1].n == 3 && !memcmp(buf + sym[b - 1].start, sp, 3))))
				b++;
		} else {
			b = nsym;
		}
		sym[a].prev = -1;
		sym[b - 1].next = -1;
		h.n = 0;
		for (size_t i = a + 1; i < b; i++)
			try_pair(t, buf, sym, &h, (int32_t)i - 1, (int32_t)i);
		while (h.n) {
			struct spm_pair p = heap_pop(&h);
			struct spm_sym *l = &sym[p.left], *r = &sym[p.right];
			if (l->n == 0 || r->n == 0 || l->n + r->n != p.size)
				continue;
			l->n += r->n;
			r->n = 0;
			l->next = r->next;
			if (r->next >= 0)
				sym[r->next].prev = p.left;
			try_pair(t, buf, sym, &h, l->prev, p.left);
			try_pair(t, buf, sym, &h, p.left, l->next);
		}
		/* relink the word to the next one for the output walk */
		if (b < nsym) {
			int32_t last = (int32_t)b - 1;
			while (sym[last].n == 0)
				last--;
			sym[last].next = (int32_t)b;
		}
		a = b;
	}

	/* a merged symbol is always a token; a lone character may not be */
	for (int32_t i = 0; i != -1; i = sym[i].next) {
		int32_t id = tok_find(t, buf + sym[i].start, sym[i].n);
		if (id >= 0 && (uint32_t)id < t->n_vocab) {
			tok_out_push(o, id);
			continue;
		}
		for (uint32_t k = 0; k < sym[i].n; k++) {
			int32_t b = t->byte_tok[(unsigned char)buf[sym[i].start + k]];
			if (b < 0)
				b = t->special[TOK_SP_UNK];
			if (b >= 0)
				tok_out_push(o, b);
		}
	}
	free(h.v);
	free(sym);
	free(buf);
	return 0;
}

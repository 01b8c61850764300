/*
 * search.c: the in-memory listing index (see search.h for the design).
 *
 * Documents are numbered in insertion order (uint32_t "doc numbers"), so
 * posting lists stay sorted by appending. Removing a document marks it dead:
 * it leaves the sort arrays at once and the posting lists lazily (queries
 * skip dead documents); when dead documents outnumber live ones, the whole
 * index is rebuilt with fresh numbers.
 */
#include "hub/search.h"
#include "core/core.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_TYPES 3
#define N_SORTS 6 /* downloads, likes, modified, created, id, trending */
#define SORT_ID 4
#define SORT_TRENDING 5
#define GRAM_BASE 41 /* 40 id characters + "other" */
#define N_TRI (GRAM_BASE * GRAM_BASE * GRAM_BASE)
#define N_BI (GRAM_BASE * GRAM_BASE)
#define LIMIT_MAX 1000
#define INTERSECT_SMALL 2048 /* stop intersecting below this many candidates */
#define HEAP_DIRECT 4096 /* smaller candidate lists go straight to the heap */
#define SCAN_FIRST_MAX 20000 /* most entries a speculative walk of the sort order visits */

struct vec {
	uint32_t *v;
	uint32_t n, cap;
};

static void vec_push(struct vec *a, uint32_t x)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 4;
		a->v = xrealloc(a->v, a->cap * sizeof(uint32_t));
	}
	a->v[a->n++] = x;
}

static void vec_free(struct vec *a)
{
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

struct sblock {
	uint32_t *v;
	uint32_t n;
};

struct sarr {
	struct sblock *b;
	uint32_t nb, cap_b, total;
	struct vec bulk; /* appended while bulk loading, sorted at the end */
};

struct spos {
	uint32_t b, i; /* block, index in the block; b == nb: the end */
};

struct doc {
	int64_t repo_id, owner_id;
	int64_t val[N_SORTS]; /* downloads, likes, modified, created, 0 (id), recent downloads */
	char *lid; /* lowercase id */
	uint32_t author; /* interned lowercase namespace */
	uint32_t *tags; /* interned lowercase tags */
	uint32_t n_tags;
	uint8_t type, is_private, owner_is_org, alive;
};

/* String interning: a string -> dense id table (open addressing). */
struct intern {
	char **strs; /* by id */
	uint32_t n, cap;
	uint32_t *slots; /* id + 1, 0 = empty */
	uint32_t n_slots;
};

/* repo_id -> doc number (open addressing; UINT32_MAX = empty). */
struct idmap {
	int64_t *keys;
	uint32_t *vals;
	uint32_t n, n_slots;
};

struct search_index {
	struct doc *docs;
	uint32_t n_docs, cap_docs, n_dead;
	uint32_t n_live[N_TYPES];
	struct idmap map;
	struct sarr sorted[N_TYPES][N_SORTS];
	int bulk; /* search_bulk_begin: sort arrays filled at the end */
	struct vec *tri[N_TYPES]; /* N_TRI each, allocated on first use */
	struct vec *bi[N_TYPES];
	struct intern authors, tags;
	struct vec *author_docs[N_TYPES]; /* by author id */
	uint32_t author_docs_cap[N_TYPES];
	struct vec *tag_docs[N_TYPES];
	uint32_t tag_docs_cap[N_TYPES];
};

/* ---- small helpers ----------------------------------------------------------- */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static uint64_t hash_i64(int64_t x)
{
	uint64_t h = (uint64_t)x * 0x9E3779B97F4A7C15ull;
	return h ^ (h >> 29);
}

static char *lower_dup(const char *s)
{
	char *d = xstrdup(s);
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

static int gram_code(char c)
{
	if (c >= 'a' && c <= 'z')
		return c - 'a';
	if (c >= '0' && c <= '9')
		return 26 + (c - '0');
	switch (c) {
	case '.': return 36;
	case '_': return 37;
	case '-': return 38;
	case '/': return 39;
	default: return 40;
	}
}

/* ---- interning ---------------------------------------------------------------- */
static void intern_grow(struct intern *t)
{
	uint32_t ns = t->n_slots ? t->n_slots * 2 : 64;
	uint32_t *slots = xcalloc(ns, sizeof(uint32_t));
	for (uint32_t id = 0; id < t->n; id++) {
		uint32_t i = (uint32_t)hash_str(t->strs[id]) & (ns - 1);
		while (slots[i])
			i = (i + 1) & (ns - 1);
		slots[i] = id + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->n_slots = ns;
}

/* Returns the id of s (lowercase already), or UINT32_MAX when absent and
 * !add. */
static uint32_t intern_get(struct intern *t, const char *s, int add)
{
	if (t->n_slots) {
		uint32_t i = (uint32_t)hash_str(s) & (t->n_slots - 1);
		while (t->slots[i]) {
			if (!strcmp(t->strs[t->slots[i] - 1], s))
				return t->slots[i] - 1;
			i = (i + 1) & (t->n_slots - 1);
		}
	}
	if (!add)
		return UINT32_MAX;
	if ((t->n + 1) * 2 > t->n_slots)
		intern_grow(t);
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->strs = xrealloc(t->strs, t->cap * sizeof(char *));
	}
	uint32_t id = t->n++;
	t->strs[id] = xstrdup(s);
	uint32_t i = (uint32_t)hash_str(s) & (t->n_slots - 1);
	while (t->slots[i])
		i = (i + 1) & (t->n_slots - 1);
	t->slots[i] = id + 1;
	return id;
}

static uint32_t intern_find(const struct intern *t, const char *s)
{
	return intern_get((struct intern *)t, s, 0);
}

static void intern_free(struct intern *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->strs[i]);
	free(t->strs);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* ---- id map --------------------------------------------------------------------- */
static void idmap_set(struct idmap *m, int64_t key, uint32_t val);

static void idmap_grow(struct idmap *m)
{
	struct idmap old = *m;
	m->n_slots = old.n_slots ? old.n_slots * 2 : 1024;
	m->keys = xmalloc_array(m->n_slots, sizeof(int64_t));
	m->vals = xmalloc_array(m->n_slots, sizeof(uint32_t));
	memset(m->vals, 0xff, m->n_slots * sizeof(uint32_t));
	m->n = 0;
	for (uint32_t i = 0; i < old.n_slots; i++)
		if (old.vals[i] != UINT32_MAX)
			idmap_set(m, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
}

static uint32_t idmap_get(const struct idmap *m, int64_t key)
{
	if (!m->n_slots)
		return UINT32_MAX;
	uint32_t i = (uint32_t)hash_i64(key) & (m->n_slots - 1);
	while (m->vals[i] != UINT32_MAX) {
		if (m->keys[i] == key)
			return m->vals[i];
		i = (i + 1) & (m->n_slots - 1);
	}
	return UINT32_MAX;
}

static void idmap_set(struct idmap *m, int64_t key, uint32_t val)
{
	if ((m->n + 1) * 2 > m->n_slots)
		idmap_grow(m);
	uint32_t i = (uint32_t)hash_i64(key) & (m->n_slots - 1);
	while (m->vals[i] != UINT32_MAX) {
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return;
		}
		i = (i + 1) & (m->n_slots - 1);
	}
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
}

/* Deletion with backward-shift, keeping probe chains intact. */
static void idmap_del(struct idmap *m, int64_t key)
{
	if (!m->n_slots)
		return;
	uint32_t mask = m->n_slots - 1, i = (uint32_t)hash_i64(key) & mask;
	while (m->vals[i] != UINT32_MAX && m->keys[i] != key)
		i = (i + 1) & mask;
	if (m->vals[i] == UINT32_MAX)
		return;
	m->vals[i] = UINT32_MAX;
	m->n--;
	for (uint32_t j = (i + 1) & mask; m->vals[j] != UINT32_MAX; j = (j + 1) & mask) {
		int64_t k = m->keys[j];
		uint32_t v = m->vals[j];
		m->vals[j] = UINT32_MAX;
		m->n--;
		idmap_set(m, k, v);
	}
}

/* ---- ordering ---------------------------------------------------------------------- */
/* sort index: 0 downloads, 1 likes, 2 modified, 3 created, 4 id, 5 trending */
static int sort_index(enum hub_sort s)
{
	switch (s) {
	case HUB_SORT_DOWNLOADS: return 0;
	case HUB_SORT_LIKES: return 1;
	case HUB_SORT_LAST_MODIFIED: return 2;
	case HUB_SORT_ID: return 4;
	case HUB_SORT_TRENDING: return 5;
	case HUB_SORT_CREATED:
	case HUB_SORT_DEFAULT:
	default: return 3;
	}
}

/* Ascending order of (value, lid). */
static int cmp_key(int64_t va, const char *la, int64_t vb, const char *lb)
{
	if (va != vb)
		return va < vb ? -1 : 1;
	return strcmp(la, lb);
}

static int64_t doc_val(const struct doc *d, int si)
{
	return d->val[si];
}

static int cmp_full(const struct search_index *idx, int si, uint32_t dn, int64_t v, const char *lid,
                    uint32_t dn2);

/* The total order of documents under sort si. */
static int cmp_docs(const struct search_index *idx, int si, uint32_t a, uint32_t b)
{
	const struct doc *db = &idx->docs[b];
	return cmp_full(idx, si, a, doc_val(db, si), db->lid, b);
}

/* ---- sorted arrays --------------------------------------------------------------
 * The documents of one type in the order of one sort key, as a list of
 * blocks of at most SARR_BLOCK doc numbers ("tiered vector"): finding a
 * position is a binary search over the blocks' last keys then inside one
 * block, and an insertion or removal moves at most one block's entries, so
 * a download that reorders a repo costs microseconds, not a memmove of the
 * whole million. Keys are (value, lowercase id, doc number): unique, so a
 * document is always found again for removal.
 */
#define SARR_BLOCK 512 /* a block holds up to 2 * SARR_BLOCK entries */

static int cmp_full(const struct search_index *idx, int si, uint32_t dn, int64_t v, const char *lid,
                    uint32_t dn2)
{
	const struct doc *d = &idx->docs[dn];
	int c = cmp_key(doc_val(d, si), d->lid, v, lid);
	if (c || dn2 == UINT32_MAX)
		return c;
	return dn < dn2 ? -1 : dn > dn2;
}

/* First position whose key is >= (v, lid[, dn]) (> when strict). dn ==
 * UINT32_MAX compares on (v, lid) only. */
static struct spos sarr_bound(const struct search_index *idx, const struct sarr *a, int si,
                              int64_t v, const char *lid, uint32_t dn, int strict)
{
	struct spos p = {0, 0};
	uint32_t lo = 0, hi = a->nb;
	/* the first block whose last key is >= (or >) the key */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct sblock *b = &a->b[mid];
		int c = cmp_full(idx, si, b->v[b->n - 1], v, lid, dn);
		if (c < 0 || (strict && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	p.b = lo;
	if (lo == a->nb)
		return p;
	const struct sblock *b = &a->b[lo];
	uint32_t l = 0, h = b->n;
	while (l < h) {
		uint32_t mid = l + (h - l) / 2;
		int c = cmp_full(idx, si, b->v[mid], v, lid, dn);
		if (c < 0 || (strict && c == 0))
			l = mid + 1;
		else
			h = mid;
	}
	p.i = l;
	return p;
}

static void sarr_new_block(struct sarr *a, uint32_t at)
{
	if (a->nb == a->cap_b) {
		a->cap_b = a->cap_b ? a->cap_b * 2 : 16;
		a->b = xrealloc(a->b, a->cap_b * sizeof(struct sblock));
	}
	memmove(a->b + at + 1, a->b + at, (a->nb - at) * sizeof(struct sblock));
	a->b[at].v = xmalloc_array(2 * SARR_BLOCK, sizeof(uint32_t));
	a->b[at].n = 0;
	a->nb++;
}

static void sorted_insert(struct search_index *idx, int type, int si, uint32_t dn)
{
	struct sarr *a = &idx->sorted[type][si];
	const struct doc *d = &idx->docs[dn];

	if (idx->bulk) {
		vec_push(&a->bulk, dn);
		return;
	}
	struct spos p = sarr_bound(idx, a, si, doc_val(d, si), d->lid, dn, 0);
	if (a->nb == 0) {
		sarr_new_block(a, 0);
		p.b = p.i = 0;
	} else if (p.b == a->nb) {
		p.b = a->nb - 1;
		p.i = a->b[p.b].n;
	}
	struct sblock *b = &a->b[p.b];
	memmove(b->v + p.i + 1, b->v + p.i, (b->n - p.i) * sizeof(uint32_t));
	b->v[p.i] = dn;
	b->n++;
	a->total++;
	if (b->n == 2 * SARR_BLOCK) { /* split in halves */
		sarr_new_block(a, p.b + 1);
		b = &a->b[p.b];
		memcpy(a->b[p.b + 1].v, b->v + SARR_BLOCK, SARR_BLOCK * sizeof(uint32_t));
		a->b[p.b + 1].n = SARR_BLOCK;
		b->n = SARR_BLOCK;
	}
}

static void sorted_remove(struct search_index *idx, int type, int si, uint32_t dn)
{
	struct sarr *a = &idx->sorted[type][si];
	const struct doc *d = &idx->docs[dn];

	if (idx->bulk)
		return; /* dead documents are dropped when the bulk load ends */
	struct spos p = sarr_bound(idx, a, si, doc_val(d, si), d->lid, dn, 0);
	if (p.b == a->nb || a->b[p.b].v[p.i] != dn)
		return;
	struct sblock *b = &a->b[p.b];
	memmove(b->v + p.i, b->v + p.i + 1, (b->n - p.i - 1) * sizeof(uint32_t));
	b->n--;
	a->total--;
	if (b->n == 0) {
		free(b->v);
		memmove(a->b + p.b, a->b + p.b + 1, (a->nb - p.b - 1) * sizeof(struct sblock));
		a->nb--;
	}
}

static void sarr_free(struct sarr *a)
{
	for (uint32_t i = 0; i < a->nb; i++)
		free(a->b[i].v);
	free(a->b);
	vec_free(&a->bulk);
	memset(a, 0, sizeof(*a));
}

/* Bulk loading sorts each order once at the end. Comparing (value, lid,
 * doc number) straight from the documents is a string compare through a
 * pointer for every tie, and "likes" is nearly all ties. So the id order is
 * sorted first, on keys holding the first 16 bytes of the id (strcmp only
 * past them); then each value order is a stable radix sort by value of the
 * documents taken in id order, which leaves ties in id order: exactly
 * (value, lid, doc number). */
struct idkey {
	uint64_t p0, p1; /* the first 16 bytes of lid, big-endian, zero-padded */
	uint32_t dn;
};

static void lid_prefix(const char *s, uint64_t *p0, uint64_t *p1)
{
	uint64_t a = 0, b = 0;
	size_t i = 0;
	for (; i < 8 && s[i]; i++)
		a |= (uint64_t)(uint8_t)s[i] << (56 - 8 * i);
	for (; i >= 8 && i < 16 && s[i]; i++)
		b |= (uint64_t)(uint8_t)s[i] << (56 - 8 * (i - 8));
	*p0 = a;
	*p1 = b;
}

static int cmp_idkey(const void *x, const void *y, void *arg)
{
	const struct idkey *a = x, *b = y;
	const struct doc *docs = arg;
	if (a->p0 != b->p0)
		return a->p0 < b->p0 ? -1 : 1;
	if (a->p1 != b->p1)
		return a->p1 < b->p1 ? -1 : 1;
	const char *la = docs[a->dn].lid, *lb = docs[b->dn].lid;
	if (strnlen(la, 16) == 16) { /* equal 16 bytes, both go on */
		int c = strcmp(la + 16, lb + 16);
		if (c)
			return c;
	}
	return a->dn < b->dn ? -1 : a->dn > b->dn;
}

/* Sorts the id order's bulk list by (lid, doc number). */
static void sort_bulk_ids(const struct search_index *idx, struct vec *v)
{
	struct idkey *k = xmalloc_array(v->n + 1, sizeof(*k));
	for (uint32_t i = 0; i < v->n; i++) {
		k[i].dn = v->v[i];
		lid_prefix(idx->docs[k[i].dn].lid, &k[i].p0, &k[i].p1);
	}
	qsort_r(k, v->n, sizeof(*k), cmp_idkey, idx->docs);
	for (uint32_t i = 0; i < v->n; i++)
		v->v[i] = k[i].dn;
	free(k);
}

/* Replaces v's contents with the n documents of in_id_order (alive, each
 * once, in id order) stably sorted by their value under si: least
 * significant byte first, skipping the bytes every value shares. */
static void sort_by_value(const struct search_index *idx, const uint32_t *in_id_order, uint32_t n,
                          int si, struct vec *v)
{
	uint64_t *key = xmalloc_array(2 * (size_t)n + 1, sizeof(uint64_t)), *key2 = key + n;
	uint32_t *dn = xmalloc_array(2 * (size_t)n + 1, sizeof(uint32_t)), *dn2 = dn + n;
	for (uint32_t i = 0; i < n; i++) {
		dn[i] = in_id_order[i];
		/* signed order as unsigned: flip the sign bit */
		key[i] = (uint64_t)doc_val(&idx->docs[dn[i]], si) ^ (1ull << 63);
	}
	for (int shift = 0; shift < 64; shift += 8) {
		uint32_t count[257] = {0};
		for (uint32_t i = 0; i < n; i++)
			count[((key[i] >> shift) & 0xff) + 1]++;
		if (n && count[((key[0] >> shift) & 0xff) + 1] == n)
			continue; /* one value for this byte: already in order */
		for (int b = 0; b < 256; b++)
			count[b + 1] += count[b];
		for (uint32_t i = 0; i < n; i++) {
			uint32_t at = count[(key[i] >> shift) & 0xff]++;
			key2[at] = key[i];
			dn2[at] = dn[i];
		}
		memcpy(key, key2, n * sizeof(uint64_t));
		memcpy(dn, dn2, n * sizeof(uint32_t));
	}
	vec_free(v);
	v->v = dn;
	v->n = n;
	v->cap = 2 * n + 1;
	free(key);
}

/* Cuts a sorted bulk list into blocks, dropping dead documents and the
 * repeats of one left by updates during the load. */
static void sarr_cut_bulk(struct search_index *idx, struct sarr *a)
{
	struct vec *v = &a->bulk;
	/* Blocks filled to 7/8, leaving room for inserts before a split. */
	const uint32_t fill = 2 * SARR_BLOCK - SARR_BLOCK / 4;
	for (uint32_t i = 0; i < v->n; i++) {
		uint32_t dn = v->v[i];
		if (!idx->docs[dn].alive || (i > 0 && v->v[i - 1] == dn))
			continue;
		if (a->nb == 0 || a->b[a->nb - 1].n == fill)
			sarr_new_block(a, a->nb);
		struct sblock *b = &a->b[a->nb - 1];
		b->v[b->n++] = dn;
		a->total++;
	}
	vec_free(v);
}

/* ---- index maintenance -------------------------------------------------------------- */
struct search_index *search_new(void)
{
	return xcalloc(1, sizeof(struct search_index));
}

static void free_structures(struct search_index *idx)
{
	for (int t = 0; t < N_TYPES; t++) {
		for (int s = 0; s < N_SORTS; s++)
			sarr_free(&idx->sorted[t][s]);
		if (idx->tri[t])
			for (uint32_t i = 0; i < N_TRI; i++)
				vec_free(&idx->tri[t][i]);
		if (idx->bi[t])
			for (uint32_t i = 0; i < N_BI; i++)
				vec_free(&idx->bi[t][i]);
		free(idx->tri[t]);
		free(idx->bi[t]);
		idx->tri[t] = idx->bi[t] = NULL;
		for (uint32_t i = 0; i < idx->author_docs_cap[t]; i++)
			vec_free(&idx->author_docs[t][i]);
		for (uint32_t i = 0; i < idx->tag_docs_cap[t]; i++)
			vec_free(&idx->tag_docs[t][i]);
		free(idx->author_docs[t]);
		free(idx->tag_docs[t]);
		idx->author_docs[t] = idx->tag_docs[t] = NULL;
		idx->author_docs_cap[t] = idx->tag_docs_cap[t] = 0;
		idx->n_live[t] = 0;
	}
}

static void free_docs(struct search_index *idx)
{
	for (uint32_t i = 0; i < idx->n_docs; i++) {
		free(idx->docs[i].lid);
		free(idx->docs[i].tags);
	}
	free(idx->docs);
	idx->docs = NULL;
	idx->n_docs = idx->cap_docs = idx->n_dead = 0;
	free(idx->map.keys);
	free(idx->map.vals);
	memset(&idx->map, 0, sizeof(idx->map));
}

void search_free(struct search_index *idx)
{
	if (!idx)
		return;
	free_structures(idx);
	free_docs(idx);
	intern_free(&idx->authors);
	intern_free(&idx->tags);
	free(idx);
}

static struct vec *list_for(struct vec **lists, uint32_t *cap, uint32_t id)
{
	if (id >= *cap) {
		uint32_t nc = *cap ? *cap : 64;
		while (nc <= id)
			nc *= 2;
		*lists = xrealloc(*lists, nc * sizeof(struct vec));
		memset(*lists + *cap, 0, (nc - *cap) * sizeof(struct vec));
		*cap = nc;
	}
	return &(*lists)[id];
}

/* Adds doc dn (alive, fields set) to every structure. */
static void index_doc(struct search_index *idx, uint32_t dn)
{
	struct doc *d = &idx->docs[dn];
	int t = d->type;
	size_t n = strlen(d->lid);

	for (int s = 0; s < N_SORTS; s++)
		sorted_insert(idx, t, s, dn);
	if (!idx->tri[t]) {
		idx->tri[t] = xcalloc(N_TRI, sizeof(struct vec));
		idx->bi[t] = xcalloc(N_BI, sizeof(struct vec));
	}
	/* Distinct grams only: a doc number appears once per list. Since dn is
	 * the largest number so far, "already added" is "last element == dn". */
	for (size_t i = 0; i + 2 < n; i++) {
		int a = gram_code(d->lid[i]), b = gram_code(d->lid[i + 1]),
		    c = gram_code(d->lid[i + 2]);
		struct vec *l = &idx->tri[t][(a * GRAM_BASE + b) * GRAM_BASE + c];
		if (!l->n || l->v[l->n - 1] != dn)
			vec_push(l, dn);
	}
	for (size_t i = 0; i + 1 < n; i++) {
		struct vec *l =
		        &idx->bi[t][gram_code(d->lid[i]) * GRAM_BASE + gram_code(d->lid[i + 1])];
		if (!l->n || l->v[l->n - 1] != dn)
			vec_push(l, dn);
	}
	vec_push(list_for(&idx->author_docs[t], &idx->author_docs_cap[t], d->author), dn);
	for (uint32_t i = 0; i < d->n_tags; i++) {
		struct vec *l = list_for(&idx->tag_docs[t], &idx->tag_docs_cap[t], d->tags[i]);
		if (!l->n || l->v[l->n - 1] != dn)
			vec_push(l, dn);
	}
	idx->n_live[t]++;
}

static uint32_t add_doc(struct search_index *idx, const struct search_doc *sd)
{
	if (idx->n_docs == idx->cap_docs) {
		idx->cap_docs = idx->cap_docs ? idx->cap_docs * 2 : 1024;
		idx->docs = xrealloc(idx->docs, idx->cap_docs * sizeof(struct doc));
	}
	uint32_t dn = idx->n_docs++;
	struct doc *d = &idx->docs[dn];
	memset(d, 0, sizeof(*d));
	d->repo_id = sd->repo_id;
	d->owner_id = sd->owner_id;
	d->val[0] = sd->downloads;
	d->val[1] = sd->likes;
	d->val[2] = sd->modified_ms;
	d->val[3] = sd->created_ms;
	d->val[SORT_TRENDING] = sd->recent_downloads > 0 ? sd->recent_downloads : 0;
	d->lid = lower_dup(sd->id);
	char *slash = strchr(d->lid, '/');
	if (slash)
		*slash = 0;
	d->author = intern_get(&idx->authors, d->lid, 1);
	if (slash)
		*slash = '/';
	d->tags = sd->n_tags ? xmalloc_array(sd->n_tags, sizeof(uint32_t)) : NULL;
	for (size_t i = 0; i < sd->n_tags; i++) {
		char *lt = lower_dup(sd->tags[i]);
		uint32_t tid = intern_get(&idx->tags, lt, 1);
		free(lt);
		int dup = 0;
		for (uint32_t j = 0; j < d->n_tags; j++)
			dup |= d->tags[j] == tid;
		if (!dup)
			d->tags[d->n_tags++] = tid;
	}
	d->type = (uint8_t)(sd->type < N_TYPES ? sd->type : 0);
	d->is_private = !!sd->is_private;
	d->owner_is_org = !!sd->owner_is_org;
	d->alive = 1;
	idmap_set(&idx->map, sd->repo_id, dn);
	index_doc(idx, dn);
	return dn;
}

/* Renumbers the live documents and rebuilds every structure. */
static void rebuild(struct search_index *idx)
{
	struct doc *old = idx->docs;
	uint32_t n_old = idx->n_docs;

	free_structures(idx);
	free(idx->map.keys);
	free(idx->map.vals);
	memset(&idx->map, 0, sizeof(idx->map));
	idx->docs = xmalloc_array(n_old - idx->n_dead + 1, sizeof(struct doc));
	idx->cap_docs = n_old - idx->n_dead + 1;
	idx->n_docs = 0;
	idx->n_dead = 0;
	int was_bulk = idx->bulk;
	idx->bulk = 1;
	for (uint32_t i = 0; i < n_old; i++) {
		if (!old[i].alive) {
			free(old[i].lid);
			free(old[i].tags);
			continue;
		}
		uint32_t dn = idx->n_docs++;
		idx->docs[dn] = old[i];
		idmap_set(&idx->map, old[i].repo_id, dn);
		index_doc(idx, dn);
	}
	free(old);
	if (!was_bulk)
		search_bulk_end(idx);
}

void search_bulk_begin(struct search_index *idx)
{
	idx->bulk = 1;
}

void search_bulk_end(struct search_index *idx)
{
	if (!idx->bulk)
		return;
	idx->bulk = 0;
	for (int t = 0; t < N_TYPES; t++) {
		struct sarr *by_id = &idx->sorted[t][SORT_ID];
		sort_bulk_ids(idx, &by_id->bulk);
		/* the live documents, once each, in id order */
		uint32_t *order = xmalloc_array(by_id->bulk.n + 1, sizeof(uint32_t)), n = 0;
		for (uint32_t i = 0; i < by_id->bulk.n; i++) {
			uint32_t dn = by_id->bulk.v[i];
			if (idx->docs[dn].alive && (i == 0 || by_id->bulk.v[i - 1] != dn))
				order[n++] = dn;
		}
		sarr_cut_bulk(idx, by_id);
		for (int si = 0; si < N_SORTS; si++) {
			if (si == SORT_ID)
				continue;
			sort_by_value(idx, order, n, si, &idx->sorted[t][si].bulk);
			sarr_cut_bulk(idx, &idx->sorted[t][si]);
		}
		free(order);
	}
}

void search_remove(struct search_index *idx, int64_t repo_id)
{
	uint32_t dn = idmap_get(&idx->map, repo_id);
	if (dn == UINT32_MAX)
		return;
	struct doc *d = &idx->docs[dn];
	for (int s = 0; s < N_SORTS; s++)
		sorted_remove(idx, d->type, s, dn);
	d->alive = 0;
	idx->n_live[d->type]--;
	idx->n_dead++;
	idmap_del(&idx->map, repo_id);
	if (idx->n_dead > 1024 && idx->n_dead > idx->n_docs / 2)
		rebuild(idx);
}

static int same_tags(const struct search_index *idx, const struct doc *d,
                     const struct search_doc *sd)
{
	size_t distinct = 0;
	for (size_t i = 0; i < sd->n_tags; i++) {
		char *lt = lower_dup(sd->tags[i]);
		uint32_t tid = intern_find(&idx->tags, lt);
		free(lt);
		int found = 0;
		for (uint32_t j = 0; j < d->n_tags; j++)
			found |= d->tags[j] == tid;
		if (!found || tid == UINT32_MAX)
			return 0;
		int dup = 0;
		for (size_t k = 0; k < i; k++)
			dup |= !strcasecmp(sd->tags[k], sd->tags[i]);
		distinct += !dup;
	}
	return distinct == d->n_tags;
}

void search_put(struct search_index *idx, const struct search_doc *sd)
{
	uint32_t dn = idmap_get(&idx->map, sd->repo_id);
	if (dn != UINT32_MAX) {
		struct doc *d = &idx->docs[dn];
		if (d->type == sd->type && !strcasecmp(d->lid, sd->id) && same_tags(idx, d, sd)) {
			search_update_counts(idx, sd->repo_id, sd->downloads, sd->likes,
			                     sd->modified_ms);
			d = &idx->docs[dn];
			d->is_private = !!sd->is_private;
			d->owner_id = sd->owner_id;
			d->owner_is_org = !!sd->owner_is_org;
			if (d->val[3] != sd->created_ms) {
				sorted_remove(idx, d->type, 3, dn);
				d->val[3] = sd->created_ms;
				sorted_insert(idx, d->type, 3, dn);
			}
			if (sd->recent_downloads >= 0)
				search_update_trending(idx, sd->repo_id, sd->recent_downloads);
			return;
		}
		int64_t recent = d->val[SORT_TRENDING];
		search_remove(idx, sd->repo_id);
		if (sd->recent_downloads < 0) {
			struct search_doc keep = *sd;
			keep.recent_downloads = recent;
			add_doc(idx, &keep);
			return;
		}
	}
	add_doc(idx, sd);
}

void search_update_counts(struct search_index *idx, int64_t repo_id, int64_t downloads,
                          int64_t likes, int64_t modified_ms)
{
	uint32_t dn = idmap_get(&idx->map, repo_id);
	if (dn == UINT32_MAX)
		return;
	struct doc *d = &idx->docs[dn];
	int64_t nv[3] = {downloads, likes, modified_ms};
	for (int s = 0; s < 3; s++) {
		if (d->val[s] == nv[s])
			continue;
		if (idx->bulk) { /* sorted when the bulk load ends */
			d->val[s] = nv[s];
			continue;
		}
		sorted_remove(idx, d->type, s, dn);
		d->val[s] = nv[s];
		sorted_insert(idx, d->type, s, dn);
	}
}

void search_update_trending(struct search_index *idx, int64_t repo_id, int64_t recent)
{
	uint32_t dn = idmap_get(&idx->map, repo_id);
	if (dn == UINT32_MAX)
		return;
	struct doc *d = &idx->docs[dn];
	if (d->val[SORT_TRENDING] == recent)
		return;
	if (!idx->bulk)
		sorted_remove(idx, d->type, SORT_TRENDING, dn);
	d->val[SORT_TRENDING] = recent;
	if (!idx->bulk)
		sorted_insert(idx, d->type, SORT_TRENDING, dn);
}

/* Every document's recent count at once: zero, then the n given ones; the
 * trending orders are then sorted again from the id orders (a radix sort
 * per type, as at the end of a bulk load). */
void search_set_trending_all(struct search_index *idx, const int64_t *repo_ids,
                             const int64_t *recent, size_t n)
{
	for (uint32_t i = 0; i < idx->n_docs; i++)
		idx->docs[i].val[SORT_TRENDING] = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t dn = idmap_get(&idx->map, repo_ids[i]);
		if (dn != UINT32_MAX)
			idx->docs[dn].val[SORT_TRENDING] = recent[i];
	}
	if (idx->bulk)
		return; /* sorted when the bulk load ends */
	for (int t = 0; t < N_TYPES; t++) {
		const struct sarr *by_id = &idx->sorted[t][SORT_ID];
		struct sarr *a = &idx->sorted[t][SORT_TRENDING];
		uint32_t *order = xmalloc_array(by_id->total + 1, sizeof(uint32_t)), k = 0;
		for (uint32_t b = 0; b < by_id->nb; b++)
			for (uint32_t i = 0; i < by_id->b[b].n; i++)
				order[k++] = by_id->b[b].v[i];
		sarr_free(a);
		sort_by_value(idx, order, k, SORT_TRENDING, &a->bulk);
		sarr_cut_bulk(idx, a);
		free(order);
	}
}

void search_set_private(struct search_index *idx, int64_t repo_id, int is_private)
{
	uint32_t dn = idmap_get(&idx->map, repo_id);
	if (dn != UINT32_MAX)
		idx->docs[dn].is_private = !!is_private;
}

size_t search_count(const struct search_index *idx)
{
	size_t n = 0;
	for (int t = 0; t < N_TYPES; t++)
		n += idx->n_live[t];
	return n;
}

size_t search_memory(const struct search_index *idx)
{
	size_t m = sizeof(*idx) + idx->cap_docs * sizeof(struct doc) +
	           idx->map.n_slots * (sizeof(int64_t) + sizeof(uint32_t));
	for (uint32_t i = 0; i < idx->n_docs; i++)
		m += strlen(idx->docs[i].lid) + 1 + idx->docs[i].n_tags * sizeof(uint32_t);
	for (int t = 0; t < N_TYPES; t++) {
		for (int s = 0; s < N_SORTS; s++)
			m += idx->sorted[t][s].nb *
			     (sizeof(struct sblock) + 2 * SARR_BLOCK * sizeof(uint32_t));
		if (idx->tri[t]) {
			m += (N_TRI + N_BI) * sizeof(struct vec);
			for (uint32_t i = 0; i < N_TRI; i++)
				m += idx->tri[t][i].cap * sizeof(uint32_t);
			for (uint32_t i = 0; i < N_BI; i++)
				m += idx->bi[t][i].cap * sizeof(uint32_t);
		}
		for (uint32_t i = 0; i < idx->author_docs_cap[t]; i++)
			m += sizeof(struct vec) + idx->author_docs[t][i].cap * sizeof(uint32_t);
		for (uint32_t i = 0; i < idx->tag_docs_cap[t]; i++)
			m += sizeof(struct vec) + idx->tag_docs[t][i].cap * sizeof(uint32_t);
	}
	return m;
}

/* ---- queries ------------------------------------------------------------------------- */
struct qctx {
	const struct search_index *idx;
	const struct search_query *q;
	int type, si, desc;
	char *needle; /* lowercase search string or NULL */
	uint32_t author; /* UINT32_MAX = any */
	uint32_t *tags;
	size_t n_tags;
	int has_cursor;
	int64_t cur_val;
	char *cur_lid;
};

/* Is doc dn strictly after the cursor in scan order? */
static int after_cursor(const struct qctx *x, const struct doc *d)
{
	if (!x->has_cursor)
		return 1;
	int c = cmp_key(doc_val(d, x->si), d->lid, x->cur_val, x->cur_lid);
	return x->desc ? c < 0 : c > 0;
}

static int matches(const struct qctx *x, uint32_t dn)
{
	const struct doc *d = &x->idx->docs[dn];
	if (!d->alive || d->type != x->type)
		return 0;
	if (x->author != UINT32_MAX && d->author != x->author)
		return 0;
	for (size_t i = 0; i < x->n_tags; i++) {
		int found = 0;
		for (uint32_t j = 0; j < d->n_tags && !found; j++)
			found = d->tags[j] == x->tags[i];
		if (!found)
			return 0;
	}
	if (x->needle && !strstr(d->lid, x->needle))
		return 0;
	if (d->is_private) {
		char key[512];
		snprintf(key, sizeof(key), "%s/%s", hub_repo_type_name((enum hub_repo_type)d->type),
		         d->lid);
		if (!x->q->visible || !x->q->visible(x->q->ctx, d->owner_id, d->owner_is_org, key))
			return 0;
	}
	return 1;
}

/* Is a before b in scan order? */
static int scan_before(const struct qctx *x, uint32_t a, uint32_t b)
{
	int c = cmp_docs(x->idx, x->si, a, b);
	return x->desc ? c > 0 : c < 0;
}

/* Intersection of sorted lists a and b into out (galloping through b). */
static void intersect(const struct vec *a, const struct vec *b, struct vec *out)
{
	uint32_t j = 0;
	out->n = 0;
	for (uint32_t i = 0; i < a->n && j < b->n; i++) {
		uint32_t x = a->v[i];
		if (b->v[j] < x) {
			uint32_t step = 1, lo = j, hi;
			while (lo + step < b->n && b->v[lo + step] < x) {
				lo += step;
				step *= 2;
			}
			hi = HD_MIN(lo + step, b->n);
			/* b[lo] < x; find the first >= x in (lo, hi] */
			while (lo + 1 < hi) {
				uint32_t mid = lo + (hi - lo) / 2;
				if (b->v[mid] < x)
					lo = mid;
				else
					hi = mid;
			}
			j = hi;
		}
		if (j < b->n && b->v[j] == x)
			vec_push(out, x);
	}
}

static int cmp_vec_size(const void *a, const void *b)
{
	const struct vec *const *x = a, *const *y = b;
	return (*x)->n < (*y)->n ? -1 : (*x)->n > (*y)->n;
}

/* Cursor: "<si>_<a|d>_<value>_<hex of lid>". */
static char *make_cursor(const struct qctx *x, uint32_t dn)
{
	const struct doc *d = &x->idx->docs[dn];
	size_t n = strlen(d->lid);
	char *hex = xmalloc(2 * n + 1);
	hex_encode(hex, d->lid, n);
	char *c = xasprintf("%d_%c_%lld_%s", x->si, x->desc ? 'd' : 'a',
	                    (long long)doc_val(d, x->si), hex);
	free(hex);
	return c;
}

static int parse_cursor(struct qctx *x, const char *cursor)
{
	char *copy = xstrdup(cursor), *save = NULL;
	char *f_si = strtok_r(copy, "_", &save), *f_dir = strtok_r(NULL, "_", &save);
	char *f_val = strtok_r(NULL, "_", &save), *f_hex = strtok_r(NULL, "_", &save);
	int64_t si, val;
	int rc = HD_EINVAL;

	if (!f_si || !f_dir || !f_val || !f_hex || strtok_r(NULL, "_", &save))
		goto out;
	if (str_to_i64(f_si, &si) || si != x->si || strlen(f_dir) != 1 ||
	    f_dir[0] != (x->desc ? 'd' : 'a') || str_to_i64(f_val, &val))
		goto out;
	size_t hl = strlen(f_hex);
	if (hl % 2 || hl == 0 || hl > 1024)
		goto out;
	x->cur_lid = xcalloc(1, hl / 2 + 1);
	if (hex_decode(x->cur_lid, f_hex, hl / 2) || memchr(x->cur_lid, 0, hl / 2)) {
		free(x->cur_lid);
		x->cur_lid = NULL;
		goto out;
	}
	x->cur_val = val;
	x->has_cursor = 1;
	rc = 0;
out:
	free(copy);
	return rc;
}

/* Walks the sort array from the cursor, keeping hits (optionally only docs
 * in the candidate bitmap), until `want` hits or `budget` entries looked
 * at. Returns 1 if it stopped on the budget (the answer is incomplete). */
static int run_scan(struct qctx *x, const uint64_t *bitmap, size_t want, size_t budget,
                    struct vec *hits)
{
	const struct sarr *a = &x->idx->sorted[x->type][x->si];
	size_t seen = 0;
	struct spos p = {0, 0};

	if (!x->desc) {
		if (x->has_cursor)
			p = sarr_bound(x->idx, a, x->si, x->cur_val, x->cur_lid, UINT32_MAX, 1);
		for (; p.b < a->nb; p.b++, p.i = 0) {
			const struct sblock *b = &a->b[p.b];
			for (; p.i < b->n; p.i++) {
				if (hits->n >= want)
					return 0;
				if (seen++ >= budget)
					return 1;
				uint32_t dn = b->v[p.i];
				if (bitmap && !(bitmap[dn >> 6] >> (dn & 63) & 1))
					continue;
				if (matches(x, dn))
					vec_push(hits, dn);
			}
		}
	} else {
		if (x->has_cursor)
			p = sarr_bound(x->idx, a, x->si, x->cur_val, x->cur_lid, UINT32_MAX, 0);
		else
			p.b = a->nb;
		/* p is the first entry not to visit; walk backwards from it */
		for (;;) {
			if (p.b == a->nb || p.i == 0) {
				if (p.b == 0)
					break;
				p.b--;
				p.i = a->b[p.b].n;
			}
			const struct sblock *b = &a->b[p.b];
			while (p.i > 0) {
				if (hits->n >= want)
					return 0;
				if (seen++ >= budget)
					return 1;
				uint32_t dn = b->v[--p.i];
				if (bitmap && !(bitmap[dn >> 6] >> (dn & 63) & 1))
					continue;
				if (matches(x, dn))
					vec_push(hits, dn);
			}
		}
	}
	return 0;
}

/* Restores the heap of n after its root changed: the root moves down while
 * a child comes later in scan order. */
static void sift_down(const struct qctx *x, uint32_t *heap, size_t n)
{
	size_t k = 0;
	for (;;) {
		size_t l = 2 * k + 1, r = l + 1, m = k;
		if (l < n && scan_before(x, heap[m], heap[l]))
			m = l;
		if (r < n && scan_before(x, heap[m], heap[r]))
			m = r;
		if (m == k)
			return;
		uint32_t t = heap[m];
		heap[m] = heap[k];
		heap[k] = t;
		k = m;
	}
}

/* Top `want` of the candidates in scan order, through a max-heap whose root
 * is the worst kept. */
static void run_heap(struct qctx *x, const struct vec *cand, size_t want, struct vec *hits)
{
	uint32_t *heap = xmalloc_array(want + 1, sizeof(uint32_t));
	size_t n = 0;

	for (uint32_t i = 0; i < cand->n; i++) {
		uint32_t dn = cand->v[i];
		if (!matches(x, dn) || !after_cursor(x, &x->idx->docs[dn]))
			continue;
		if (n < want) {
			size_t k = n++;
			heap[k] = dn;
			while (k > 0) { /* sift up: parent must be "later" than child */
				size_t p = (k - 1) / 2;
				if (!scan_before(x, heap[p], heap[k]))
					break;
				uint32_t t = heap[p];
				heap[p] = heap[k];
				heap[k] = t;
				k = p;
			}
		} else if (scan_before(x, dn, heap[0])) {
			heap[0] = dn;
			sift_down(x, heap, n);
		}
	}
	/* Pop in reverse: the root is the latest in scan order. */
	hits->n = 0;
	for (size_t i = 0; i < n; i++)
		vec_push(hits, 0);
	while (n > 0) {
		hits->v[n - 1] = heap[0];
		heap[0] = heap[--n];
		sift_down(x, heap, n);
	}
	free(heap);
}

int search_query(const struct search_index *idx, const struct search_query *q,
                 struct search_result *out)
{
	struct qctx x = {0};
	struct vec *sources[64];
	size_t n_sources = 0, limit = q->limit ? q->limit : LIMIT_MAX;
	struct vec hits = {0}, cand = {0}, tmp = {0};
	int rc = 0, empty = 0;

	memset(out, 0, sizeof(*out));
	if (limit > LIMIT_MAX)
		limit = LIMIT_MAX;
	x.idx = idx;
	x.q = q;
	x.type = q->type < N_TYPES ? (int)q->type : 0;
	x.si = sort_index(q->sort);
	x.desc = q->direction ? q->direction < 0 : x.si != SORT_ID;
	x.author = UINT32_MAX;
	if (q->cursor && *q->cursor && parse_cursor(&x, q->cursor))
		return HD_EINVAL;
	if (q->search && *q->search) {
		x.needle = lower_dup(q->search);
		size_t n = strlen(x.needle);
		for (size_t i = 0; i < n; i++)
			if (gram_code(x.needle[i]) == 40)
				empty = 1; /* ids hold no such character */
		if (!empty && n >= 3 && idx->tri[x.type]) {
			for (size_t i = 0; i + 2 < n && n_sources < 32; i++) {
				int g = (gram_code(x.needle[i]) * GRAM_BASE +
				         gram_code(x.needle[i + 1])) *
				                GRAM_BASE +
				        gram_code(x.needle[i + 2]);
				sources[n_sources++] = &idx->tri[x.type][g];
			}
		} else if (!empty && n == 2 && idx->bi[x.type]) {
			sources[n_sources++] = &idx->bi[x.type][gram_code(x.needle[0]) * GRAM_BASE +
			                                        gram_code(x.needle[1])];
		} else if (!idx->tri[x.type]) {
			empty = 1;
		}
	}
	if (q->author && *q->author) {
		char *la = lower_dup(q->author);
		x.author = intern_find(&idx->authors, la);
		free(la);
		if (x.author == UINT32_MAX || x.author >= idx->author_docs_cap[x.type])
			empty = 1;
		else
			sources[n_sources++] = &idx->author_docs[x.type][x.author];
	}
	if (q->n_filters) {
		x.tags = xmalloc_array(q->n_filters, sizeof(uint32_t));
		for (size_t i = 0; i < q->n_filters; i++) {
			char *lt = lower_dup(q->filters[i]);
			uint32_t tid = intern_find(&idx->tags, lt);
			free(lt);
			if (tid == UINT32_MAX || tid >= idx->tag_docs_cap[x.type]) {
				empty = 1;
				break;
			}
			x.tags[x.n_tags++] = tid;
			if (n_sources < ARRAY_SIZE(sources))
				sources[n_sources++] = &idx->tag_docs[x.type][tid];
		}
	}
	if (empty)
		goto done;

	if (n_sources == 0) {
		run_scan(&x, NULL, limit + 1, SIZE_MAX, &hits);
	} else {
		qsort(sources, n_sources, sizeof(sources[0]), cmp_vec_size);
		if (sources[0]->n == 0)
			goto done;
		uint32_t n_type = idx->n_live[x.type] ? idx->n_live[x.type] : 1;
		/* Dense query: the hits are probably near the top of the sort
		 * order; walk it for a bounded number of entries first (about 3x
		 * what the smallest list's density predicts). */
		size_t budget = 3 * (limit + 1) * (size_t)n_type / sources[0]->n + 1024;
		if (sources[0]->n > HEAP_DIRECT + 8 * limit && budget <= SCAN_FIRST_MAX) {
			if (!run_scan(&x, NULL, limit + 1, budget, &hits))
				goto done;
			hits.n = 0;
		}
		/* Narrow the candidates by intersecting the smallest lists. */
		const struct vec *c = sources[0];
		for (size_t i = 1; i < n_sources && c->n > INTERSECT_SMALL; i++) {
			intersect(c, sources[i], &tmp);
			struct vec t = cand;
			cand = tmp;
			tmp = t;
			c = &cand;
		}
		/* Few candidates: check each and keep the top ones (each check is a
		 * random access, ~100 ns). Many: walk the sort order testing a
		 * bitmap of the candidates (~2 ns an entry) and check only those,
		 * stopping at `limit` hits after about limit * n / c entries. */
		if ((uint64_t)c->n * c->n <= (uint64_t)(limit + 1) * n_type / 64) {
			run_heap(&x, c, limit + 1, &hits);
		} else {
			size_t words = (idx->n_docs + 63) / 64;
			uint64_t *bitmap = xcalloc(words ? words : 1, sizeof(uint64_t));
			for (uint32_t i = 0; i < c->n; i++)
				bitmap[c->v[i] >> 6] |= 1ull << (c->v[i] & 63);
			run_scan(&x, bitmap, limit + 1, SIZE_MAX, &hits);
			free(bitmap);
		}
	}
done:
	if (hits.n > limit) {
		out->next_cursor = make_cursor(&x, hits.v[limit - 1]);
		hits.n = (uint32_t)limit;
	}
	out->repo_ids = xmalloc_array(hits.n ? hits.n : 1, sizeof(int64_t));
	for (uint32_t i = 0; i < hits.n; i++)
		out->repo_ids[i] = idx->docs[hits.v[i]].repo_id;
	out->n = hits.n;
	vec_free(&hits);
	vec_free(&cand);
	vec_free(&tmp);
	free(x.needle);
	free(x.tags);
	free(x.cur_lid);
	return rc;
}

void search_result_release(struct search_result *r)
{
	if (!r)
		return;
	free(r->repo_ids);
	free(r->next_cursor);
	memset(r, 0, sizeof(*r));
}

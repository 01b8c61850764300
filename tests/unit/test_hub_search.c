/*
 * test_hub_search.c: the in-memory listing index against a brute-force
 * model. Random repos, random queries (substring search, author, tags,
 * every sort and direction, small pages followed through cursors), random
 * updates in between; every page sequence must equal the model's answer.
 */
#include "core/core.h"
#include "hub/search.h"
#include "test.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define N_DOCS 8000
#define N_AUTHORS 40
#define N_TAGS 12

struct mdoc {
	int alive;
	int64_t repo_id;
	int type;
	char id[64];
	int64_t owner_id;
	int owner_is_org, is_private;
	int64_t downloads, likes, created, modified, recent;
	char *tags[3];
	size_t n_tags;
};

static struct mdoc docs[N_DOCS * 2];
static size_t n_docs;
static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *const words[] = {"llama", "bert", "gpt", "mistral", "qwen",  "tiny", "base",
                                    "chat",  "gguf", "v2",  "x",       "model", "7b",   "instruct"};
static const char *const tag_names[N_TAGS] = {"gguf",        "llama",    "license:mit", "en",
                                              "dataset:foo", "Text-Gen", "pytorch",     "fr",
                                              "safetensors", "a",        "b",           "c"};

static void make_id(char *out, size_t n, int64_t owner)
{
	char name[48] = "";
	int parts = 1 + (int)(rnd() % 3);
	for (int i = 0; i < parts; i++) {
		if (i)
			strcat(name, rnd() % 2 ? "-" : ".");
		strcat(name, words[rnd() % ARRAY_SIZE(words)]);
	}
	snprintf(out, n, "%s%lld/%s-%llu", rnd() % 2 ? "User" : "org", (long long)owner, name,
	         (unsigned long long)(rnd() % 1000));
}

static void to_search_doc(const struct mdoc *m, struct search_doc *d)
{
	d->repo_id = m->repo_id;
	d->type = (enum hub_repo_type)m->type;
	d->id = m->id;
	d->owner_id = m->owner_id;
	d->owner_is_org = m->owner_is_org;
	d->is_private = m->is_private;
	d->downloads = m->downloads;
	d->likes = m->likes;
	d->created_ms = m->created;
	d->modified_ms = m->modified;
	d->recent_downloads = m->recent;
	d->tags = (const char *const *)m->tags;
	d->n_tags = m->n_tags;
}

static void new_doc(struct search_index *idx, int64_t repo_id)
{
	struct mdoc *m = &docs[n_docs++];
	struct search_doc d;
	memset(m, 0, sizeof(*m));
	m->alive = 1;
	m->repo_id = repo_id;
	m->type = (int)(rnd() % 3 == 0 ? rnd() % 3 : 0);
	m->owner_id = (int64_t)(rnd() % N_AUTHORS);
	m->owner_is_org = m->owner_id % 2;
	char tmp[64];
	make_id(tmp, sizeof(tmp), m->owner_id);
	/* The namespace's name is tied to the owner (one author, one name). */
	snprintf(m->id, sizeof(m->id), "%s%lld%s-%lld", m->owner_is_org ? "org" : "User",
	         (long long)m->owner_id, strchr(tmp, '/'), (long long)repo_id);
	m->is_private = rnd() % 10 == 0;
	m->downloads = (int64_t)(rnd() % 50); /* many ties */
	m->likes = (int64_t)(rnd() % 5);
	m->created = (int64_t)(rnd() % 100000);
	m->modified = (int64_t)(rnd() % 100000);
	m->recent = (int64_t)(rnd() % 20);
	m->n_tags = rnd() % 4;
	for (size_t i = 0; i < m->n_tags; i++)
		m->tags[i] = (char *)tag_names[rnd() % N_TAGS];
	to_search_doc(m, &d);
	search_put(idx, &d);
}

/* The viewer: user 3, member of org 5. */
static int visible(void *ctx, int64_t owner_id, int owner_is_org, const char *key)
{
	(void)ctx;
	(void)key;
	return (!owner_is_org && owner_id == 3) || (owner_is_org && owner_id == 5);
}

static int model_visible(const struct mdoc *m)
{
	return !m->is_private || visible(NULL, m->owner_id, m->owner_is_org, NULL);
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static const struct search_query *cur_q;

static int64_t key_of(const struct mdoc *m, enum hub_sort s)
{
	switch (s) {
	case HUB_SORT_DOWNLOADS: return m->downloads;
	case HUB_SORT_LIKES: return m->likes;
	case HUB_SORT_LAST_MODIFIED: return m->modified;
	case HUB_SORT_ID: return 0;
	case HUB_SORT_TRENDING: return m->recent;
	default: return m->created;
	}
}

static int model_cmp(const void *a, const void *b)
{
	const struct mdoc *x = *(const struct mdoc *const *)a, *y = *(const struct mdoc *const *)b;
	int64_t kx = key_of(x, cur_q->sort), ky = key_of(y, cur_q->sort);
	int c;
	char lx[64], ly[64];
	if (kx != ky) {
		c = kx < ky ? -1 : 1;
	} else {
		snprintf(lx, sizeof(lx), "%s", x->id);
		snprintf(ly, sizeof(ly), "%s", y->id);
		lower(lx);
		lower(ly);
		c = strcmp(lx, ly);
	}
	int desc = cur_q->direction ? cur_q->direction < 0 : cur_q->sort != HUB_SORT_ID;
	return desc ? -c : c;
}

static int model_match(const struct mdoc *m, const struct search_query *q)
{
	char lid[64], needle[64], ns[64];
	if (!m->alive || m->type != (int)q->type || !model_visible(m))
		return 0;
	snprintf(lid, sizeof(lid), "%s", m->id);
	lower(lid);
	if (q->search && *q->search) {
		snprintf(needle, sizeof(needle), "%s", q->search);
		lower(needle);
		if (!strstr(lid, needle))
			return 0;
	}
	if (q->author && *q->author) {
		snprintf(ns, sizeof(ns), "%s", lid);
		*strchr(ns, '/') = 0;
		char la[64];
		snprintf(la, sizeof(la), "%s", q->author);
		lower(la);
		if (strcmp(ns, la))
			return 0;
	}
	for (size_t i = 0; i < q->n_filters; i++) {
		int found = 0;
		for (size_t j = 0; j < m->n_tags; j++)
			found |= !strcasecmp(m->tags[j], q->filters[i]);
		if (!found)
			return 0;
	}
	return 1;
}

/* Runs q through every page; compares with the model. */
static int check_query(struct search_index *idx, struct search_query q)
{
	struct mdoc **want = xmalloc_array(n_docs + 1, sizeof(*want));
	size_t n_want = 0, got = 0;
	char *cursor = NULL;
	int ok = 1;

	for (size_t i = 0; i < n_docs; i++)
		if (model_match(&docs[i], &q))
			want[n_want++] = &docs[i];
	cur_q = &q;
	qsort(want, n_want, sizeof(*want), model_cmp);
	for (int page = 0; page < 10000 && ok; page++) {
		struct search_result r;
		q.cursor = cursor;
		if (search_query(idx, &q, &r)) {
			ok = 0;
			break;
		}
		for (size_t i = 0; i < r.n && ok; i++, got++)
			ok = got < n_want && r.repo_ids[i] == want[got]->repo_id;
		if (r.n == 0 && r.next_cursor)
			ok = 0; /* an empty page with a next link would loop */
		free(cursor);
		cursor = r.next_cursor ? xstrdup(r.next_cursor) : NULL;
		search_result_release(&r);
		if (!cursor)
			break;
	}
	if (ok && got != n_want)
		ok = 0;
	if (!ok)
		fprintf(stderr,
		        "query mismatch: search=%s author=%s filters=%zu sort=%d dir=%d limit=%zu "
		        "(got %zu of %zu)\n",
		        q.search ? q.search : "-", q.author ? q.author : "-", q.n_filters, q.sort,
		        q.direction, q.limit, got, n_want);
	free(cursor);
	free(want);
	return ok;
}

static struct search_query random_query(char *search_buf, char *author_buf, const char **filters)
{
	struct search_query q = {0};
	q.type = (enum hub_repo_type)(rnd() % 4 == 0 ? 1 + rnd() % 2 : 0);
	q.sort = (enum hub_sort)(rnd() % 7); /* every sort, trending included */
	q.direction = (int)(rnd() % 3) - 1;
	q.limit = 1 + rnd() % 60;
	if (rnd() % 8 == 0)
		q.limit = 0; /* default 1000 */
	q.visible = visible;
	switch (rnd() % 4) {
	case 0: break;
	case 1: { /* a substring of an existing id, random case */
		const struct mdoc *m = &docs[rnd() % n_docs];
		size_t len = strlen(m->id), start = rnd() % len, n = 1 + rnd() % 8;
		if (start + n > len)
			n = len - start;
		memcpy(search_buf, m->id + start, n);
		search_buf[n] = 0;
		for (char *p = search_buf; *p; p++)
			if (rnd() % 2)
				*p = (char)toupper((unsigned char)*p);
		q.search = search_buf;
		break;
	}
	case 2:
		snprintf(search_buf, 32, "%s", words[rnd() % ARRAY_SIZE(words)]);
		q.search = search_buf;
		break;
	default: snprintf(search_buf, 32, "zq%c", (char)('a' + rnd() % 26)); q.search = search_buf;
	}
	if (rnd() % 4 == 0) {
		snprintf(author_buf, 32, "%s%d", rnd() % 2 ? "USER" : "org",
		         (int)(rnd() % N_AUTHORS));
		q.author = author_buf;
	}
	size_t nf = rnd() % 5 == 0 ? 1 + rnd() % 2 : 0;
	for (size_t i = 0; i < nf; i++)
		filters[i] = tag_names[rnd() % N_TAGS];
	q.filters = filters;
	q.n_filters = nf;
	return q;
}

static void test_random(void)
{
	struct search_index *idx = search_new();
	char sbuf[64], abuf[64];
	const char *filters[4];
	int64_t next_id = 1;
	int bad = 0;

	/* The first half bulk-loaded (as the hub does at open), the rest one
	 * by one. */
	search_bulk_begin(idx);
	for (int i = 0; i < N_DOCS / 2; i++)
		new_doc(idx, next_id++);
	search_bulk_end(idx);
	for (int i = N_DOCS / 2; i < N_DOCS; i++)
		new_doc(idx, next_id++);
	CHECK_EQ_INT(search_count(idx), N_DOCS);
	for (int round = 0; round < 400; round++) {
		struct search_query q = random_query(sbuf, abuf, filters);
		bad += !check_query(idx, q);
		/* Random updates between queries. */
		for (int k = 0; k < 5; k++) {
			struct mdoc *m = &docs[rnd() % n_docs];
			struct search_doc d;
			switch (rnd() % 6) {
			case 5: /* trending: one repo's count, or the daily shift for all */
				if (rnd() % 20) {
					m->recent = (int64_t)(rnd() % 20);
					if (m->alive)
						search_update_trending(idx, m->repo_id, m->recent);
				} else {
					int64_t ids[N_DOCS * 2], vals[N_DOCS * 2];
					size_t n = 0;
					for (size_t i = 0; i < n_docs; i++) {
						docs[i].recent =
						        rnd() % 3 ? 0 : (int64_t)(rnd() % 20);
						if (docs[i].recent) {
							ids[n] = docs[i].repo_id;
							vals[n++] = docs[i].recent;
						}
					}
					search_set_trending_all(idx, ids, vals, n);
				}
				break;
			case 0:
				m->downloads = (int64_t)(rnd() % 50);
				m->likes = (int64_t)(rnd() % 5);
				m->modified = (int64_t)(rnd() % 100000);
				if (m->alive)
					search_update_counts(idx, m->repo_id, m->downloads,
					                     m->likes, m->modified);
				break;
			case 1:
				m->is_private = !m->is_private;
				if (m->alive)
					search_set_private(idx, m->repo_id, m->is_private);
				break;
			case 2:
				if (m->alive) {
					m->alive = 0;
					search_remove(idx, m->repo_id);
				}
				break;
			case 3: /* a rename or retag: put again with new content */
				if (m->alive) {
					m->n_tags = rnd() % 4;
					for (size_t t = 0; t < m->n_tags; t++)
						m->tags[t] = (char *)tag_names[rnd() % N_TAGS];
					if (rnd() % 2)
						snprintf(strchr(m->id, '/') + 1, 24,
						         "renamed-%d-%lld", (int)(rnd() % 1000),
						         (long long)m->repo_id);
					to_search_doc(m, &d);
					search_put(idx, &d);
				}
				break;
			default:
				if (n_docs < ARRAY_SIZE(docs))
					new_doc(idx, next_id++);
			}
		}
	}
	CHECK_EQ_INT(bad, 0);
	size_t alive = 0;
	for (size_t i = 0; i < n_docs; i++)
		alive += docs[i].alive;
	CHECK_EQ_INT(search_count(idx), alive);
	search_free(idx);
}

/* Paging stays correct when repos are added between pages: every repo that
 * existed throughout appears exactly once. */
/* All the pages of query q, the repo ids in order. */
static size_t all_pages(struct search_index *idx, struct search_query q, int64_t *out, size_t max)
{
	size_t n = 0;
	char *cursor = NULL;
	for (;;) {
		struct search_result r;
		q.cursor = cursor;
		if (search_query(idx, &q, &r))
			break;
		for (size_t i = 0; i < r.n && n < max; i++)
			out[n++] = r.repo_ids[i];
		free(cursor);
		cursor = r.next_cursor;
		r.next_cursor = NULL;
		search_result_release(&r);
		if (!cursor)
			break;
	}
	free(cursor);
	return n;
}

/* A bulk load (one sort per order at the end, by id ranks) gives exactly
 * the orders that inserting one by one gives: ids sharing long prefixes and
 * ids shorter than the 16-byte key (ids are unique, as repo keys are), many
 * equal values, documents put twice during the load. */
static void test_bulk_equals_incremental(void)
{
	enum { N = 3000 };
	struct search_index *bulk = search_new(), *inc = search_new();
	static char ids[N][80];
	static int64_t a[N], b[N];
	const char *tag = "gguf";

	search_bulk_begin(bulk);
	for (int i = 0; i < N; i++) {
		switch (i % 4) {
		case 0:
			snprintf(ids[i], sizeof(ids[i]), "averyverylongorganization/m-%d",
			         (i * 7919) % N);
			break;
		case 1:
			snprintf(ids[i], sizeof(ids[i]), "averyverylongorganization/m-%d-x", i);
			break;
		case 2: snprintf(ids[i], sizeof(ids[i]), "o%d/x", i); break;
		default: snprintf(ids[i], sizeof(ids[i]), "User%d/Model", i); break;
		}
		struct search_doc d = {.repo_id = i + 1,
		                       .type = HUB_REPO_MODEL,
		                       .id = ids[i],
		                       .owner_id = i % 50,
		                       .downloads = (int64_t)(rnd() % 4),
		                       .likes = (int64_t)(rnd() % 2),
		                       .created_ms = (int64_t)(rnd() % 10),
		                       .modified_ms = (int64_t)(rnd() % 3),
		                       .recent_downloads = (int64_t)(rnd() % 3),
		                       .tags = &tag,
		                       .n_tags = i % 3 == 0};
		search_put(bulk, &d);
		search_put(inc, &d);
		if (i % 10 == 0) { /* updated while loading */
			d.created_ms += 5;
			d.downloads += 1;
			search_put(bulk, &d);
			search_put(inc, &d);
		}
	}
	search_bulk_end(bulk);
	CHECK_EQ_INT(search_count(bulk), N);
	int same = 1;
	for (int sort = HUB_SORT_DEFAULT; sort <= HUB_SORT_TRENDING; sort++) {
		for (int dir = -1; dir <= 1; dir++) {
			struct search_query q = {.type = HUB_REPO_MODEL,
			                         .sort = (enum hub_sort)sort,
			                         .direction = dir,
			                         .limit = 700,
			                         .visible = visible};
			size_t na = all_pages(bulk, q, a, N), nb = all_pages(inc, q, b, N);
			same &= na == N && nb == N && !memcmp(a, b, sizeof(a));
			q.search = "verylong";
			na = all_pages(bulk, q, a, N);
			nb = all_pages(inc, q, b, N);
			same &= na == N / 2 && na == nb && !memcmp(a, b, na * sizeof(a[0]));
		}
	}
	CHECK(same);
	search_free(bulk);
	search_free(inc);
}

static void test_cursor_stability(void)
{
	struct search_index *idx = search_new();
	n_docs = 0;
	for (int i = 0; i < 300; i++)
		new_doc(idx, 10000 + i);
	for (int sort = 1; sort <= 5; sort++) {
		struct search_query q = {.type = HUB_REPO_MODEL,
		                         .sort = (enum hub_sort)sort,
		                         .limit = 7,
		                         .visible = visible};
		int *seen = xcalloc(20000 + 1000, sizeof(int));
		char *cursor = NULL;
		for (int page = 0; page < 1000; page++) {
			struct search_result r;
			q.cursor = cursor;
			CHECK_EQ_INT(search_query(idx, &q, &r), 0);
			for (size_t i = 0; i < r.n; i++)
				seen[r.repo_ids[i] - 10000]++;
			free(cursor);
			cursor = r.next_cursor ? xstrdup(r.next_cursor) : NULL;
			search_result_release(&r);
			if (!cursor)
				break;
			if (n_docs < ARRAY_SIZE(docs))
				new_doc(idx, 10000 + (int64_t)n_docs);
		}
		for (int i = 0; i < 300; i++) {
			const struct mdoc *m = &docs[i];
			if (m->type == 0 && model_visible(m) && seen[i] != 1) {
				fprintf(stderr, "sort %d: repo %d seen %d times\n", sort, i,
				        seen[i]);
				CHECK(0);
			}
		}
		free(seen);
	}
	/* Cursors from another sort or garbage are refused. */
	struct search_query q = {
	        .type = HUB_REPO_MODEL, .sort = HUB_SORT_DOWNLOADS, .limit = 1, .visible = visible};
	struct search_result r;
	CHECK_EQ_INT(search_query(idx, &q, &r), 0);
	CHECK(r.next_cursor != NULL);
	q.cursor = r.next_cursor;
	q.sort = HUB_SORT_LIKES;
	struct search_result r2;
	CHECK_EQ_INT(search_query(idx, &q, &r2), HD_EINVAL);
	const char *garbage[] = {"x",        "0_d_1",    "0_d_1_zz",   "0_d_1_61_62",
	                         "9_d_1_61", "0_x_1_61", "0_d_abc_61", ""};
	q.sort = HUB_SORT_DOWNLOADS;
	for (size_t i = 0; i + 1 < ARRAY_SIZE(garbage); i++) {
		q.cursor = garbage[i];
		CHECK_EQ_INT(search_query(idx, &q, &r2), HD_EINVAL);
	}
	search_result_release(&r);
	search_free(idx);
}

int main(void)
{
	RUN(test_random);
	RUN(test_bulk_equals_incremental);
	RUN(test_cursor_stability);
	return test_summary();
}

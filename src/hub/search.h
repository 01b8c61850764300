/*
 * search.h: the in-memory listing index of the hub (search.c).
 *
 * Listing must stay fast at a million repos (p99 under 10 ms), which naive
 * SQL does not do for substring search ordered by downloads. The index keeps,
 * per repo type:
 *   - one array of documents per sort key (downloads, likes, lastModified,
 *     createdAt, id, trending = downloads of the last days) kept in order, so an unfiltered or a dense query walks
 *     it from the cursor and stops after `limit` hits;
 *   - posting lists (sorted doc numbers) for every trigram and bigram of the
 *     lowercase id "ns/name", for every author and for every tag, so a
 *     selective query starts from the intersection of the smallest lists and
 *     picks the top `limit` with a heap.
 * The cursor is (sort, direction, last key value, last id): stable when
 * repos are added or removed between pages.
 *
 * Not thread-safe by itself: the hub guards it with a rwlock (queries under
 * the read lock). The bench/search program drives it directly.
 */
#ifndef HD_HUB_SEARCH_H
#define HD_HUB_SEARCH_H

#include "hub/hub.h"

#include <stddef.h>
#include <stdint.h>

struct search_index;

struct search_doc {
	int64_t repo_id; /* the key: one document per repo */
	enum hub_repo_type type;
	const char *id; /* "ns/name" */
	int64_t owner_id;
	int owner_is_org;
	int is_private;
	int64_t downloads, likes, created_ms, modified_ms;
	int64_t recent_downloads; /* the trending key: downloads of the last days;
	                             < 0: keep the document's current one (0 if new) */
	const char *const *tags; /* the repo's tag set (matched case-insensitively) */
	size_t n_tags;
};

struct search_query {
	enum hub_repo_type type;
	const char *search; /* substring of the id, case-insensitive; NULL = any */
	const char *author; /* NULL = any */
	const char *const *filters; /* all must be tags of the repo */
	size_t n_filters;
	enum hub_sort sort;
	int direction; /* -1, 1, or 0 for the sort's default */
	size_t limit; /* 1..1000 (0 = 1000) */
	const char *cursor;
	/* Called for private repos only: may the caller see it? key is the
	 * lowercase "type/ns/name". */
	int (*visible)(void *ctx, int64_t owner_id, int owner_is_org, const char *key);
	void *ctx;
};

struct search_result {
	int64_t *repo_ids;
	size_t n;
	char *next_cursor; /* NULL when there is no next page */
};

struct search_index *search_new(void);
void search_free(struct search_index *idx);
/* Inserts or replaces the document of d->repo_id. */
void search_put(struct search_index *idx, const struct search_doc *d);
void search_remove(struct search_index *idx, int64_t repo_id);
/* Loading many documents: between begin and end, search_put appends and
 * the sort orders are built once at the end (queries must wait for end). */
void search_bulk_begin(struct search_index *idx);
void search_bulk_end(struct search_index *idx);
/* Cheap updates that keep the document (no re-indexing of grams). */
void search_update_counts(struct search_index *idx, int64_t repo_id, int64_t downloads,
                          int64_t likes, int64_t modified_ms);
/* The trending key of one document, or of all of them (those not listed get
 * 0; for the daily shift of the window). */
void search_update_trending(struct search_index *idx, int64_t repo_id, int64_t recent);
void search_set_trending_all(struct search_index *idx, const int64_t *repo_ids,
                             const int64_t *recent, size_t n);
void search_set_private(struct search_index *idx, int64_t repo_id, int is_private);
/* 0, or HD_EINVAL for a malformed cursor or one from another sort. */
int search_query(const struct search_index *idx, const struct search_query *q,
                 struct search_result *out);
void search_result_release(struct search_result *r);
size_t search_count(const struct search_index *idx); /* live documents */
size_t search_memory(const struct search_index *idx); /* bytes, approximate */

#endif

/*
 * search.c: benchmark of the hub's listing index (src/hub/search.c) at a
 * million synthetic listings. Run by bench/search.
 *
 *   bench_search [-n N_REPOS] [-q QUERIES_PER_WORKLOAD] [-s SEED]
 *
 * Builds N repos with Hub-like ids ("namespace/name": Zipf-distributed
 * authors, names made of model-family words, sizes and variants), tags,
 * Pareto-distributed downloads and likes, 1% private; then runs workloads
 * of the queries the Hub API sees (front page, common and rare substrings,
 * authors, tags, other sorts, deep pages through cursors, a large limit)
 * and prints the latency distribution of each (p50, p90, p99, max) plus
 * build time, index memory and the cost of updates. Latency is the query
 * thread's CPU time (the figure that does not depend on how busy a shared
 * machine is) and, beside it, wall-clock time. BENCH_SLOW_MS=X prints every
 * query slower than X ms of CPU to stderr.
 */
#include "core/core.h"
#include "hub/search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) / (double)(1ull << 53);
}

/* Zipf-like index in [0, n): heavy head, long tail. */
static size_t zipf(size_t n)
{
	double u = rnd01();
	size_t k = (size_t)(pow((double)n, u)) - 1;
	return k < n ? k : n - 1;
}

static const char *const families[] = {"llama",   "mistral",   "qwen",      "gemma",
                                       "phi",     "bert",      "roberta",   "t5",
                                       "gpt2",    "falcon",    "mixtral",   "deepseek",
                                       "whisper", "clip",      "vit",       "stable-diffusion",
                                       "sdxl",    "yolo",      "bloom",     "opt",
                                       "pythia",  "starcoder", "codellama", "vicuna",
                                       "zephyr",  "olmo",      "smol"};
static const char *const variants[] = {
        "instruct", "chat",       "base", "it",  "gguf", "awq", "gptq", "finetuned", "lora",
        "merged",   "uncensored", "dpo",  "sft", "onnx", "mlx", "exl2", "q4_k_m",    "fp16"};
static const char *const sizes[] = {"7b",  "8b",    "13b",   "70b",  "1.5b", "3b", "0.5b",
                                    "14b", "small", "large", "tiny", "mini", "xl"};
static const char *const libraries[] = {"transformers",          "gguf", "diffusers", "peft",
                                        "sentence-transformers", "timm", "mlx",       "onnx"};
static const char *const pipelines[] = {"text-generation",      "text-classification",
                                        "image-classification", "automatic-speech-recognition",
                                        "feature-extraction",   "text-to-image",
                                        "translation"};
static const char *const licenses[] = {"license:apache-2.0", "license:mit", "license:llama3",
                                       "license:other", "license:cc-by-4.0"};
static const char *const langs[] = {"en", "fr", "de", "zh", "ja", "es", "ru", "ko"};

struct gen {
	char id[96];
	const char *tags[5];
	size_t n_tags;
};

static char **authors;
static size_t n_authors;

static void make_author(char *out, size_t n, size_t i)
{
	static const char *const syl[] = {"ka", "ro", "mi", "ne", "lu", "ta", "so", "vi",
	                                  "de", "ax", "qu", "zo", "be", "in", "or", "ha"};
	char buf[64] = "";
	size_t x = i + 7;
	int parts = 2 + (int)(i % 3);
	for (int p = 0; p < parts; p++) {
		strcat(buf, syl[x % ARRAY_SIZE(syl)]);
		x /= ARRAY_SIZE(syl);
		x += i * 31 + (size_t)p;
	}
	snprintf(out, n, "%s%s%zu", buf, i % 5 == 0 ? "-ai" : "", i % 97);
}

static void make_repo(struct gen *g, size_t i)
{
	const char *fam = families[zipf(ARRAY_SIZE(families))];
	const char *size = sizes[rnd() % ARRAY_SIZE(sizes)];
	const char *var = variants[zipf(ARRAY_SIZE(variants))];
	const char *author = authors[zipf(n_authors)];
	switch (rnd() % 4) {
	case 0: snprintf(g->id, sizeof(g->id), "%s/%s-%s-%s", author, fam, size, var); break;
	case 1: snprintf(g->id, sizeof(g->id), "%s/%s-%s-v%zu", author, fam, var, i % 13); break;
	case 2: snprintf(g->id, sizeof(g->id), "%s/%s_%s_%zu", author, fam, size, i); break;
	default: snprintf(g->id, sizeof(g->id), "%s/%s-%zu", author, fam, i);
	}
	g->n_tags = 0;
	g->tags[g->n_tags++] = libraries[zipf(ARRAY_SIZE(libraries))];
	g->tags[g->n_tags++] = pipelines[zipf(ARRAY_SIZE(pipelines))];
	if (rnd() % 2)
		g->tags[g->n_tags++] = licenses[zipf(ARRAY_SIZE(licenses))];
	if (rnd() % 3 == 0)
		g->tags[g->n_tags++] = langs[zipf(ARRAY_SIZE(langs))];
}

static int visible(void *ctx, int64_t owner_id, int owner_is_org, const char *key)
{
	(void)key;
	(void)owner_is_org;
	return owner_id == *(const int64_t *)ctx;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct stats {
	double *ms; /* thread CPU time per query */
	double *wall; /* wall-clock time per query */
	size_t n;
	size_t results;
};

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const char *name, struct stats *s)
{
	qsort(s->ms, s->n, sizeof(double), cmp_double);
	qsort(s->wall, s->n, sizeof(double), cmp_double);
	double sum = 0;
	for (size_t i = 0; i < s->n; i++)
		sum += s->ms[i];
	printf("%-42s %5zu %7.3f %7.3f %7.3f %7.3f %7.3f | %7.3f %7.3f %7.1f\n", name, s->n,
	       sum / (double)s->n, s->ms[s->n / 2], s->ms[s->n * 9 / 10], s->ms[s->n * 99 / 100],
	       s->ms[s->n - 1], s->wall[s->n / 2], s->wall[s->n * 99 / 100],
	       (double)s->results / (double)s->n);
	fflush(stdout);
}

static char **ids; /* every generated id, to draw substrings from */
static size_t n_ids;

/* Runs one workload of nq queries built by make(q, i, buf). pages > 1
 * follows the cursor and times each page separately. */
static void workload(struct search_index *idx, const char *name, size_t nq, int pages,
                     void (*make)(struct search_query *q, size_t i, char *buf))
{
	struct stats s = {xcalloc(nq * (size_t)pages, sizeof(double)),
	                  xcalloc(nq * (size_t)pages, sizeof(double)), 0, 0};
	char buf[128];
	static int64_t viewer = 12345;

	for (size_t i = 0; i < nq; i++) {
		struct search_query q = {.type = HUB_REPO_MODEL,
		                         .sort = HUB_SORT_DOWNLOADS,
		                         .limit = 100,
		                         .visible = visible,
		                         .ctx = &viewer};
		make(&q, i, buf);
		char *cursor = NULL;
		for (int p = 0; p < pages; p++) {
			struct search_result r;
			q.cursor = cursor;
			double t0 = time_mono_s(), c0 = cpu_s();
			int rc = search_query(idx, &q, &r);
			double t1 = time_mono_s(), c1 = cpu_s();
			if (rc) {
				fprintf(stderr, "query failed\n");
				exit(1);
			}
			if (getenv("BENCH_SLOW_MS") &&
			    (c1 - c0) * 1e3 > atof(getenv("BENCH_SLOW_MS")))
				fprintf(stderr,
				        "slow: %.2f ms cpu: search=%s author=%s filter=%s sort=%d "
				        "limit=%zu page=%d hits=%zu\n",
				        (c1 - c0) * 1e3, q.search ? q.search : "-",
				        q.author ? q.author : "-", q.n_filters ? q.filters[0] : "-",
				        q.sort, q.limit, p, r.n);
			s.wall[s.n] = (t1 - t0) * 1e3;
			s.ms[s.n++] = (c1 - c0) * 1e3;
			s.results += r.n;
			free(cursor);
			cursor = r.next_cursor ? xstrdup(r.next_cursor) : NULL;
			search_result_release(&r);
			if (!cursor)
				break;
		}
		free(cursor);
	}
	report(name, &s);
	free(s.ms);
	free(s.wall);
}

static void q_front(struct search_query *q, size_t i, char *buf)
{
	(void)i;
	(void)buf;
	(void)q;
}

static void q_common_word(struct search_query *q, size_t i, char *buf)
{
	snprintf(buf, 64, "%s", families[i % 8]);
	q->search = buf;
}

static void q_substring(struct search_query *q, size_t i, char *buf)
{
	(void)i;
	const char *id = ids[rnd() % n_ids];
	size_t len = strlen(id), n = 3 + rnd() % 8, start;
	if (n > len)
		n = len;
	start = rnd() % (len - n + 1);
	memcpy(buf, id + start, n);
	buf[n] = 0;
	q->search = buf;
}

static void q_rare(struct search_query *q, size_t i, char *buf)
{
	(void)i;
	/* 4-6 random letters and digits: almost never a substring. */
	static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t n = 4 + rnd() % 3;
	for (size_t k = 0; k < n; k++)
		buf[k] = al[rnd() % (sizeof(al) - 1)];
	buf[n] = 0;
	q->search = buf;
}

static void q_common_trigrams_rare_whole(struct search_query *q, size_t i, char *buf)
{
	/* Every trigram frequent, the whole string rare: the intersection case. */
	static const char *const qs[] = {"llama-bert", "mistral-qwen",     "gemma_phi",
	                                 "chat-base",  "instruct-7b-chat", "lama-8b-gguf-v"};
	snprintf(buf, 64, "%s", qs[i % ARRAY_SIZE(qs)]);
	q->search = buf;
}

static void q_two_chars(struct search_query *q, size_t i, char *buf)
{
	(void)i;
	static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789-_.";
	buf[0] = al[rnd() % (sizeof(al) - 1)];
	buf[1] = al[rnd() % (sizeof(al) - 1)];
	buf[2] = 0;
	q->search = buf;
}

static void q_author(struct search_query *q, size_t i, char *buf)
{
	(void)i;
	snprintf(buf, 96, "%s", authors[zipf(n_authors)]);
	q->author = buf;
}

static void q_author_uniform(struct search_query *q, size_t i, char *buf)
{
	(void)i;
	snprintf(buf, 96, "%s", authors[rnd() % n_authors]);
	q->author = buf;
}

static const char *filter_one[1];

static void q_tag_rare(struct search_query *q, size_t i, char *buf)
{
	(void)buf;
	filter_one[0] = langs[4 + i % 4];
	q->filters = filter_one;
	q->n_filters = 1;
	q->sort = HUB_SORT_LIKES;
}

static void q_tag_common(struct search_query *q, size_t i, char *buf)
{
	(void)buf;
	filter_one[0] = i % 2 ? "transformers" : "text-generation";
	q->filters = filter_one;
	q->n_filters = 1;
}

static void q_search_and_tag(struct search_query *q, size_t i, char *buf)
{
	snprintf(buf, 64, "%s", families[i % ARRAY_SIZE(families)]);
	q->search = buf;
	filter_one[0] = libraries[i % ARRAY_SIZE(libraries)];
	q->filters = filter_one;
	q->n_filters = 1;
}

static void q_modified(struct search_query *q, size_t i, char *buf)
{
	q_substring(q, i, buf);
	q->sort = i % 2 ? HUB_SORT_LAST_MODIFIED : HUB_SORT_CREATED;
}

static void q_id_asc(struct search_query *q, size_t i, char *buf)
{
	q_common_word(q, i, buf);
	q->sort = HUB_SORT_ID;
}

static void q_limit_1000(struct search_query *q, size_t i, char *buf)
{
	q_common_word(q, i, buf);
	q->limit = 1000;
}

static void q_limit_1000_sub(struct search_query *q, size_t i, char *buf)
{
	q_substring(q, i, buf);
	q->limit = 1000;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	size_t n = 1000000, nq = 2000;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-n"))
			n = (size_t)strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "-q"))
			nq = (size_t)strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "-s"))
			rng_state = strtoull(argv[i + 1], NULL, 10) | 1;
	}
	n_authors = n / 20 + 1;
	authors = xmalloc_array(n_authors, sizeof(char *));
	for (size_t i = 0; i < n_authors; i++) {
		char buf[96];
		make_author(buf, sizeof(buf), i);
		authors[i] = xstrdup(buf);
	}
	ids = xmalloc_array(n, sizeof(char *));
	long rss0 = rss_kib();
	struct search_index *idx = search_new();
	double t0 = time_mono_s(), c0 = cpu_s();
	search_bulk_begin(idx);
	for (size_t i = 0; i < n; i++) {
		struct gen g;
		make_repo(&g, i);
		ids[n_ids++] = xstrdup(g.id);
		double dl = 1.0 / pow(rnd01() + 1e-9, 1.2); /* Pareto */
		struct search_doc d = {
		        .repo_id = (int64_t)i + 1,
		        .type = rnd() % 10 == 0 ? HUB_REPO_DATASET : HUB_REPO_MODEL,
		        .id = g.id,
		        .owner_id = (int64_t)(i % 50000),
		        .owner_is_org = 0,
		        .is_private = rnd() % 100 == 0,
		        .downloads = (int64_t)(dl > 1e9 ? 1e9 : dl),
		        .likes = (int64_t)(dl / 50),
		        .created_ms = 1600000000000ll + (int64_t)(rnd() % 150000000000ull),
		        .modified_ms = 1600000000000ll + (int64_t)(rnd() % 150000000000ull),
		        .tags = g.tags,
		        .n_tags = g.n_tags,
		};
		search_put(idx, &d);
	}
	search_bulk_end(idx);
	double build_s = time_mono_s() - t0, build_cpu = cpu_s() - c0;
	printf("listings: %zu (%zu models), authors: %zu\n", search_count(idx),
	       search_count(idx) - n / 10, n_authors);
	printf("build (bulk, as at hub open; incl. generating): %.2f s wall, %.2f s cpu; index "
	       "memory: %.0f MiB (RSS grew %.0f MiB incl. generator strings)\n\n",
	       build_s, build_cpu, (double)search_memory(idx) / (1 << 20),
	       (double)(rss_kib() - rss0) / 1024);
	printf("%-42s %5s %7s %7s %7s %7s %7s | %7s %7s %7s\n", "", "", "cpu ms", "", "", "", "",
	       "wall ms", "", "");
	printf("%-42s %5s %7s %7s %7s %7s %7s | %7s %7s %7s\n", "workload (limit 100 unless noted)",
	       "n", "mean", "p50", "p90", "p99", "max", "p50", "p99", "hits/q");
	workload(idx, "front page: no filter, sort=downloads", nq, 1, q_front);
	workload(idx, "search common word (llama...), downloads", nq, 1, q_common_word);
	workload(idx, "search random substring of an id (3-10)", nq, 1, q_substring);
	workload(idx, "search rare random string (4-6)", nq, 1, q_rare);
	workload(idx, "search frequent trigrams, rare whole", nq, 1, q_common_trigrams_rare_whole);
	workload(idx, "search 2 characters", nq, 1, q_two_chars);
	workload(idx, "author (Zipf: popular authors)", nq, 1, q_author);
	workload(idx, "author (uniform)", nq, 1, q_author_uniform);
	workload(idx, "filter rare language tag, sort=likes", nq, 1, q_tag_rare);
	workload(idx, "filter common tag", nq, 1, q_tag_common);
	workload(idx, "search word + filter library", nq, 1, q_search_and_tag);
	workload(idx, "substring, sort=lastModified/createdAt", nq, 1, q_modified);
	workload(idx, "common word, sort=id ascending", nq, 1, q_id_asc);
	workload(idx, "common word, pages 1-10 via cursor", nq / 10, 10, q_common_word);
	workload(idx, "substring, pages 1-10 via cursor", nq / 10, 10, q_substring);
	workload(idx, "common word, limit=1000", nq / 4, 1, q_limit_1000);
	workload(idx, "substring, limit=1000", nq / 4, 1, q_limit_1000_sub);

	/* Updates: a download moves a repo in the downloads order. */
	size_t nu = 20000;
	t0 = cpu_s();
	for (size_t i = 0; i < nu; i++) {
		int64_t id = (int64_t)(rnd() % n) + 1;
		search_update_counts(idx, id, (int64_t)(rnd() % 1000000), 1, 1700000000000ll);
	}
	double per_update = (cpu_s() - t0) / (double)nu * 1e6;
	t0 = cpu_s();
	for (size_t i = 0; i < 2000; i++) {
		struct gen g;
		make_repo(&g, n + i);
		struct search_doc d = {.repo_id = (int64_t)(n + i + 1),
		                       .type = HUB_REPO_MODEL,
		                       .id = g.id,
		                       .owner_id = 1,
		                       .downloads = 0,
		                       .created_ms = 1800000000000ll,
		                       .modified_ms = 1800000000000ll,
		                       .tags = g.tags,
		                       .n_tags = g.n_tags};
		search_put(idx, &d);
	}
	double per_insert = (cpu_s() - t0) / 2000 * 1e6;
	printf("\nupdate counts (download/like): %.1f us cpu each; insert a repo: %.1f us cpu "
	       "each\n",
	       per_update, per_insert);
	search_free(idx);
	for (size_t i = 0; i < n_ids; i++)
		free(ids[i]);
	free(ids);
	for (size_t i = 0; i < n_authors; i++)
		free(authors[i]);
	free(authors);
	return 0;
}

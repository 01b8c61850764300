/*
 * hub_open.c: what opening the hub costs with a big data dir: hub_open()
 * reads every repo row from SQLite into the in-memory listing index before
 * `huddle serve` can listen. Run by bench/hub-open.
 *
 *   bench_hub_open -d DIR [-n N_REPOS] [-r RUNS]
 *
 * The first run fills DIR/huddle.db with N synthetic repo rows (Hub-like
 * ids, 20 repos an author, card metadata and a tag list as a commit leaves
 * them, 1% private; rows only, no git repositories) and reuses them after.
 * Then it times, RUNS times: a plain scan of the rows (the SQLite part),
 * and hub_open() (scan + parsing the rows + building the index), with the
 * resident memory hub_open added.
 */
#include "auth/auth.h"
#include "core/core.h"
#include "hub/hub.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *const words[] = {"llama", "mistral", "qwen",   "gemma",   "phi",  "bert",
                                    "t5",    "gpt2",    "falcon", "whisper", "clip", "vit",
                                    "sdxl",  "olmo",    "smol",   "zephyr",  "yolo", "bloom"};
static const char *const variants[] = {"instruct", "chat", "base", "gguf", "awq",
                                       "lora",     "dpo",  "sft",  "onnx", "fp16"};
static const char *const libs[] = {"transformers", "gguf", "diffusers", "peft", "timm"};
static const char *const pipes[] = {"text-generation", "text-classification",
                                    "image-classification", "feature-extraction"};
static const char *const licenses[] = {"apache-2.0", "mit", "llama3", "other"};

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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

static int fill(struct store *st, size_t n)
{
	struct store_db *db = store_db_get(st);
	size_t n_authors = n / 20 + 1;
	int64_t first_account = 0, have = 0;
	int rc;

	if (store_query_i64(db, &have, "SELECT count(*) FROM repos", NULL) == 0 && have > 0) {
		store_db_put(st, db);
		if ((size_t)have != n)
			fprintf(stderr, "note: the data dir holds %lld repos (not -n %zu)\n",
			        (long long)have, n);
		return 0;
	}
	printf("filling %zu repos (%zu authors)...\n", n, n_authors);
	double t0 = time_mono_s();
	rc = store_begin(db);
	for (size_t a = 0; !rc && a < n_authors; a++) {
		char name[64], key[64];
		snprintf(name, sizeof(name), "%s-lab%zu", words[a % ARRAY_SIZE(words)], a);
		snprintf(key, sizeof(key), "%s", name);
		rc = store_exec(
		        db,
		        "INSERT INTO accounts(kind, name, name_key, created) VALUES (0, ?, ?, ?)",
		        "tti", name, key, (int64_t)1700000000000ll);
		rc = rc < 0 ? rc : 0;
		if (a == 0)
			first_account = store_last_insert_id(db);
	}
	for (size_t i = 0; !rc && i < n; i++) {
		size_t a = (size_t)(rnd() % n_authors);
		char ns[64], name[96], id_key[200], uid[33], sha[41], card[512], tags[512];
		uint8_t raw[20];
		const char *lib = libs[rnd() % ARRAY_SIZE(libs)];
		const char *pipe = pipes[rnd() % ARRAY_SIZE(pipes)];
		const char *lic = licenses[rnd() % ARRAY_SIZE(licenses)];
		snprintf(ns, sizeof(ns), "%s-lab%zu", words[a % ARRAY_SIZE(words)], a);
		snprintf(name, sizeof(name), "%s-%llub-%s-%zu", words[rnd() % ARRAY_SIZE(words)],
		         (unsigned long long)(rnd() % 70 + 1),
		         variants[rnd() % ARRAY_SIZE(variants)], i);
		snprintf(id_key, sizeof(id_key), "model/%s/%s", ns, name);
		rand_bytes(raw, sizeof(raw));
		hex_encode(uid, raw, 16);
		hex_encode(sha, raw, 20);
		snprintf(card, sizeof(card),
		         "{\"license\":\"%s\",\"library_name\":\"%s\",\"pipeline_tag\":\"%s\","
		         "\"tags\":[\"%s\",\"%s\"],\"language\":[\"en\"]}",
		         lic, lib, pipe, words[rnd() % ARRAY_SIZE(words)], variants[i % 10]);
		snprintf(tags, sizeof(tags), "[\"%s\",\"%s\",\"%s\",\"%s\",\"license:%s\",\"en\"]",
		         words[rnd() % ARRAY_SIZE(words)], variants[i % 10], lib, pipe, lic);
		uint64_t dl = rnd() % 1000 == 0 ? rnd() % 10000000 : rnd() % 1000;
		int64_t created = 1600000000000ll + (int64_t)(rnd() % 150000000000ull);
		rc = store_exec(
		        db,
		        "INSERT INTO repos(uid, type, owner_id, namespace, name, key, private,"
		        " created, last_modified, downloads, likes, sha, license,"
		        " pipeline_tag, library_name, card_json, tags)"
		        " VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		        "titttiiiiittttt", uid, first_account + (int64_t)a, ns, name, id_key,
		        (int64_t)(rnd() % 100 == 0), created, created + 1000, (int64_t)dl,
		        (int64_t)(dl / 50), sha, lic, pipe, lib, card, tags);
		rc = rc < 0 ? rc : 0;
	}
	if (!rc)
		rc = store_commit(db);
	else
		store_rollback(db);
	store_db_put(st, db);
	printf("filled in %.1f s\n", time_mono_s() - t0);
	return rc;
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	size_t n = 1000000;
	int runs = 3;
	char err[256] = "";
	struct store *st;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "-d"))
			dir = argv[i + 1];
		else if (!strcmp(argv[i], "-n"))
			n = (size_t)strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "-r"))
			runs = atoi(argv[i + 1]);
	}
	if (!dir) {
		fprintf(stderr, "usage: bench_hub_open -d DIR [-n N_REPOS] [-r RUNS]\n");
		return 2;
	}
	if (store_open(dir, &st, err, sizeof(err)) || fill(st, n)) {
		fprintf(stderr, "cannot prepare %s: %s\n", dir, err);
		return 1;
	}
	for (int r = 0; r < runs; r++) {
		/* The SQLite part alone: the same query, every column touched. */
		struct store_db *db = store_db_get(st);
		struct store_stmt *s;
		size_t rows = 0, bytes = 0;
		double t0 = time_mono_s(), c0 = cpu_s();
		if (store_stmt(
		            db,
		            "SELECT r.id, r.uid, r.type, r.owner_id, a.kind, r.namespace, r.name,"
		            " r.key, r.private, r.gated, r.sdk, r.created, r.last_modified,"
		            " r.downloads, r.likes, r.sha, r.license, r.pipeline_tag,"
		            " r.library_name, r.card_json, r.tags"
		            " FROM repos r JOIN accounts a ON a.id = r.owner_id",
		            &s) == 0) {
			while (store_step(s) == 1) {
				rows++;
				for (int c = 0; c < 21; c++) {
					const char *t = store_col_text(s, c);
					bytes += t ? strlen(t) : 0;
				}
			}
			store_stmt_done(s);
		}
		store_db_put(st, db);
		double scan_s = time_mono_s() - t0, scan_cpu = cpu_s() - c0;

		struct hub *h = NULL;
		struct hub_err herr;
		long rss0 = rss_kib();
		t0 = time_mono_s();
		c0 = cpu_s();
		if (hub_open(dir, NULL, &h, &herr)) {
			fprintf(stderr, "hub_open: %s\n", herr.msg);
			return 1;
		}
		double open_s = time_mono_s() - t0, open_cpu = cpu_s() - c0;
		long rss1 = rss_kib();
		printf("run %d: %zu rows (%.0f MiB of text): scan %.2f s (%.2f cpu); hub_open %.2f "
		       "s "
		       "(%.2f cpu), +%.0f MiB resident\n",
		       r + 1, rows, (double)bytes / (1 << 20), scan_s, scan_cpu, open_s, open_cpu,
		       (double)(rss1 - rss0) / 1024);
		fflush(stdout);
		hub_close(h);
	}
	store_close(st);
	return 0;
}

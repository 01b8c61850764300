/*
 * registry.c: the loaded models (engines) and how a request's model id finds
 * one.
 *
 * A file named with --model is loaded at start and stays. A hub id is
 * resolved for the caller on every request: the revision (access checked by
 * the hub: a repo the caller may not read is "not found", worded exactly as
 * for a missing one), then the GGUF to serve at that commit (a tree listing,
 * cached per repo, commit and quant tag), then the loaded model keyed by
 * that file's content id (its LFS sha256 or git blob id). A new push changes
 * the commit, so the next request looks again; only a changed file loads
 * again. Loading opens the LFS object of the blob store and maps it, without
 * a copy. Several requests asking for a model being loaded wait for the one
 * load.
 *
 * Memory: each model counts its file, its KV caches (all slots, full
 * context) and its activations. Before a load, idle models (no request, no
 * job) are evicted least-recently-used until the new one fits the budget.
 */
#include "serve/serve_int.h"

#include "auth/auth.h"
#include "hub/hub.h"
#include "infer/jinja.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define RES_MAX 512 /* cached (repo, commit, quant) -> file resolutions */
#define TREE_MAX_PAGES 20

struct serve_res {
	char *key; /* "ns/name@sha:quant", lowercase id */
	char *path;
	int64_t size;
	char oid[65]; /* LFS sha256, or the git blob id */
};

/* ---- engines ------------------------------------------------------------------- */

static uint64_t kv_bytes_per_pos(const struct infer_hparams *hp)
{
	/* K and V, f16, every layer */
	return 4ull * (uint64_t)hp->n_layer * (uint64_t)hp->n_head_kv * (uint64_t)hp->head_dim;
}

static int serve_engine_load(struct serve *s, struct serve_model *mm, const char *path, int fd,
                             uint64_t file_size, char *err, size_t err_size)
{
	struct infer_model *im = NULL;
	const struct serve_config *cfg = &s->cfg;
	int rc = path ? infer_model_load(path, &im, err, err_size)
	              : infer_model_load_fd(fd, &im, err, err_size);
	if (rc)
		return rc;
	const struct infer_hparams *hp = infer_model_hparams(im);
	const uint64_t kv_pos = kv_bytes_per_pos(hp);
	int32_t n_ctx = cfg->n_ctx > 0 ? HD_MIN(cfg->n_ctx, hp->n_ctx_train)
	                               : HD_MIN(hp->n_ctx_train, 4096);
	if (cfg->n_ctx > hp->n_ctx_train)
		log_warn("serve: %s: --ctx %d is more than the trained context; using %d", mm->name,
		         cfg->n_ctx, n_ctx);
	int par = cfg->n_parallel;
	if (par <= 0) {
		uint64_t fit = (uint64_t)s->kv_budget / (kv_pos * (uint64_t)n_ctx);
		par = fit < 1 ? 1 : fit > 16 ? 16 : (int)fit;
	}
	if ((uint64_t)par * (uint64_t)n_ctx * kv_pos > (uint64_t)s->kv_budget && cfg->n_ctx <= 0) {
		/* the parallel sequences asked for do not fit: shorter contexts */
		uint64_t c = (uint64_t)s->kv_budget / ((uint64_t)par * kv_pos);
		n_ctx = (int32_t)HD_MAX(HD_MIN(c, (uint64_t)n_ctx), (uint64_t)HD_MIN(256, n_ctx));
	}
	mm->m = im;
	mm->tok = infer_model_tok(im);
	mm->n_vocab = hp->n_vocab;
	mm->n_ctx = n_ctx;
	mm->n_parallel = par;
	mm->prefill_chunk = cfg->prefill_chunk;
	const int32_t max_batch = par + cfg->prefill_chunk;
	mm->x = infer_exec_new(im, s->n_threads, max_batch);
	mm->slots = xcalloc((size_t)par, sizeof(*mm->slots));
	mm->items = xcalloc((size_t)max_batch, sizeof(*mm->items));
	mm->item_job = xcalloc((size_t)max_batch, sizeof(*mm->item_job));
	mm->order = xcalloc((size_t)par, sizeof(*mm->order));
	mm->scratch = xmalloc_array((size_t)hp->n_vocab, sizeof(float));
	if (serve_chat_template_new(im, &mm->tpl, mm->tpl_err, sizeof(mm->tpl_err)) < 0) {
		mm->tpl = NULL;
		log_warn(
		        "serve: %s: the chat template cannot be used (chat completions will fail): "
		        "%s",
		        mm->name, mm->tpl_err);
	}
	const uint64_t kv = (uint64_t)par * (uint64_t)n_ctx * kv_pos;
	const uint64_t act = (uint64_t)max_batch *
	                             ((uint64_t)hp->n_vocab + 8ull * (uint64_t)hp->n_embd +
	                              2ull * (uint64_t)hp->n_ff) *
	                             4ull +
	                     (uint64_t)s->n_threads * (uint64_t)hp->n_ctx_train * 6ull;
	mm->mem_bytes = file_size + kv + act;
	const struct gguf_file *g = infer_model_gguf(im);
	struct gguf_str ts;
	log_info("serve: model %s: %s, %.1f MiB; context %d (trained %d), %d parallel "
	         "sequences, KV cache %.1f MiB (budget %.1f MiB), %d threads, prefill chunk %d, "
	         "chat template %s",
	         mm->name, infer_model_desc(im), (double)file_size / 1048576.0, n_ctx,
	         hp->n_ctx_train, par, (double)kv / 1048576.0, (double)s->kv_budget / 1048576.0,
	         s->n_threads, cfg->prefill_chunk,
	         !mm->tpl                                               ? "broken"
	         : gguf_get_str(g, "tokenizer.chat_template", &ts) == 0 ? "from the GGUF"
	                                                                : "ChatML (default)");
	return 0;
}

void serve_engine_free(struct serve_model *m)
{
	if (!m)
		return;
	for (int i = 0; m->slots && i < m->n_parallel; i++) {
		infer_session_free(m->slots[i].sess);
		free(m->slots[i].cache);
	}
	free(m->slots);
	free(m->items);
	free(m->item_job);
	free(m->order);
	free(m->scratch);
	infer_exec_free(m->x);
	jinja_template_free(m->tpl);
	infer_model_free(m->m);
	free(m->key);
	free(m->name);
	free(m);
}

/* ---- memory ---------------------------------------------------------------------- */

static uint64_t mem_used(const struct serve *s)
{
	uint64_t u = 0;
	for (const struct serve_model *m = s->models; m; m = m->next)
		u += m->mem_bytes;
	return u;
}

static void unlink_model(struct serve *s, struct serve_model *m)
{
	for (struct serve_model **pp = &s->models; *pp; pp = &(*pp)->next)
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	if (s->rr == m)
		s->rr = NULL;
	m->next = NULL;
}

/* Evicts idle models, least recently used first, until need more bytes fit
 * (s->mu held). The evicted are chained on *freed (free them unlocked).
 * Returns 1 if it fits now. */
static int evict_for(struct serve *s, uint64_t need, const struct serve_model *keep,
                     struct serve_model **freed)
{
	while (mem_used(s) + need > (uint64_t)s->mem_budget) {
		struct serve_model *lru = NULL;
		for (struct serve_model *m = s->models; m; m = m->next)
			if (m != keep && !m->local && m->state == SERVE_READY && m->refs == 0 &&
			    !m->stepping && !m->n_active && !m->n_queued &&
			    (!lru || m->last_used < lru->last_used))
				lru = m;
		if (!lru)
			return 0;
		unlink_model(s, lru);
		log_info("serve: evicting %s (least recently used) to make room", lru->name);
		atomic_fetch_add(&s->metrics.evictions, 1);
		lru->next = *freed;
		*freed = lru;
	}
	return 1;
}

static void free_chain(struct serve_model *m)
{
	while (m) {
		struct serve_model *n = m->next;
		serve_engine_free(m);
		m = n;
	}
}

/* ---- lookups --------------------------------------------------------------------- */

static int not_found(struct serve_err *e, const char *id)
{
	return serve_fail(e, 404, "invalid_request_error", "model", "model_not_found",
	                  "The model `%.200s` does not exist or you do not have access to it.", id);
}

void serve_model_put(struct serve *s, struct serve_model *m)
{
	int free_it;
	if (!m)
		return;
	pthread_mutex_lock(&s->mu);
	free_it = --m->refs == 0 && m->state == SERVE_FAILED;
	pthread_mutex_unlock(&s->mu);
	if (free_it)
		serve_engine_free(m);
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int caller_in_scope(const struct auth_caller *c, const char *ns, const char *name)
{
	char key[2 * AUTH_NAME_MAX + 16];
	if (!c || !c->scopes)
		return 1;
	snprintf(key, sizeof(key), "model/%s/%s", ns, name);
	lower(key);
	for (size_t i = 0; i < c->n_scopes; i++)
		if (!strcmp(c->scopes[i], key))
			return 1;
	return 0;
}

static struct serve_res *res_find(struct serve *s, const char *key)
{
	for (size_t i = 0; i < s->n_res; i++)
		if (!strcmp(s->res[i].key, key))
			return &s->res[i];
	return NULL;
}

static void res_clear(struct serve *s)
{
	for (size_t i = 0; i < s->n_res; i++) {
		free(s->res[i].key);
		free(s->res[i].path);
	}
	free(s->res);
	s->res = NULL;
	s->n_res = 0;
}

/* The GGUF to serve for (repo, commit, quant): from the cache, or by listing
 * the tree. 0, or an error in e. */
static int resolve_file(struct serve *s, const struct auth_caller *c,
                        const struct hub_repo_ref *ref, const char *sha, const char *quant,
                        const char *id, struct serve_res *out, struct serve_err *e)
{
	char key[600];
	struct serve_res *r;
	char **paths = NULL, **oids = NULL;
	int64_t *sizes = NULL;
	size_t n = 0, cap = 0;
	char *cursor = NULL;
	struct hub_err herr;
	int rc = 0, pick;

	snprintf(key, sizeof(key), "%s/%s@%s:%s", ref->ns, ref->name, sha, quant ? quant : "");
	lower(key);
	pthread_mutex_lock(&s->mu);
	r = res_find(s, key);
	if (r) {
		out->path = xstrdup(r->path);
		out->size = r->size;
		memcpy(out->oid, r->oid, sizeof(out->oid));
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	pthread_mutex_unlock(&s->mu);

	for (int page = 0; page < TREE_MAX_PAGES; page++) {
		struct hub_tree_page tp;
		memset(&herr, 0, sizeof(herr));
		rc = hub_tree_list(s->hub, c, ref, sha, "", 1, 0, 1000, cursor, &tp, &herr);
		free(cursor);
		cursor = NULL;
		if (rc) {
			rc = not_found(e, id);
			break;
		}
		for (size_t i = 0; i < tp.n; i++) {
			const struct hub_tree_entry *te = &tp.entries[i];
			size_t l = strlen(te->path);
			if (te->is_dir || l < 5 || strcasecmp(te->path + l - 5, ".gguf"))
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				paths = xrealloc(paths, cap * sizeof(*paths));
				oids = xrealloc(oids, cap * sizeof(*oids));
				sizes = xrealloc(sizes, cap * sizeof(*sizes));
			}
			paths[n] = xstrdup(te->path);
			oids[n] = xstrdup(te->is_lfs ? te->lfs_oid : te->oid);
			sizes[n++] = te->size;
		}
		cursor = tp.next_cursor ? xstrdup(tp.next_cursor) : NULL;
		hub_tree_page_release(&tp);
		if (!cursor)
			break;
	}
	free(cursor);
	if (rc == 0) {
		pick = serve_pick_gguf((const char *const *)paths, sizes, n, quant,
		                       s->mem_budget / 2);
		if (pick < 0 && !n)
			rc = serve_fail(e, 404, "invalid_request_error", "model", "model_not_found",
			                "The model `%.200s` has no GGUF file", id);
		else if (pick < 0)
			rc = serve_fail(e, 404, "invalid_request_error", "model", "model_not_found",
			                "The model `%.200s` has no GGUF file %s", id,
			                quant ? "with that quantization tag"
			                      : "that this server can load (split files and "
			                        "projectors are not served)");
		else {
			out->path = xstrdup(paths[pick]);
			out->size = sizes[pick];
			snprintf(out->oid, sizeof(out->oid), "%s", oids[pick]);
			pthread_mutex_lock(&s->mu);
			if (s->n_res >= RES_MAX)
				res_clear(s);
			if (!res_find(s, key)) {
				s->res = xrealloc(s->res, (s->n_res + 1) * sizeof(*s->res));
				s->res[s->n_res].key = xstrdup(key);
				s->res[s->n_res].path = xstrdup(out->path);
				s->res[s->n_res].size = out->size;
				memcpy(s->res[s->n_res].oid, out->oid, sizeof(out->oid));
				s->n_res++;
			}
			pthread_mutex_unlock(&s->mu);
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(paths[i]);
		free(oids[i]);
	}
	free(paths);
	free(oids);
	free(sizes);
	return rc;
}

/* Opens the file of a hub model as an fd to map: the LFS object itself, or
 * (a small GGUF committed as a regular git blob) a memfd holding it. */
static int open_hub_file(struct serve *s, const struct auth_caller *c,
                         const struct hub_repo_ref *ref, const char *sha, const char *path,
                         int *fd_out, uint64_t *size, char *err, size_t err_size)
{
	struct hub_file f;
	struct hub_err herr;
	int rc;

	memset(&herr, 0, sizeof(herr));
	rc = hub_file_open(s->hub, c, ref, sha, path, 0, &f, &herr);
	if (rc) {
		hub_file_release(&f);
		return hd_fail(err, err_size, rc, "%s", herr.msg[0] ? herr.msg : hd_strerror(rc));
	}
	*size = (uint64_t)f.size;
	if (f.fd >= 0) {
		*fd_out = dup(f.fd);
	} else {
		int fd = memfd_create("huddle-gguf", MFD_CLOEXEC);
		const char *p = f.data;
		size_t left = (size_t)f.size;
		while (fd >= 0 && left) {
			ssize_t w = write(fd, p, left);
			if (w <= 0) {
				close(fd);
				fd = -1;
				break;
			}
			p += w;
			left -= (size_t)w;
		}
		*fd_out = fd;
	}
	hub_file_release(&f);
	if (*fd_out < 0)
		return hd_fail(err, err_size, HD_EINTERNAL, "cannot open the model file");
	return 0;
}

/* Finds the loaded model of key or loads it (from the hub when ref is set,
 * else from path). On success *out holds a reference. */
static int get_or_load(struct serve *s, const struct auth_caller *c, const struct hub_repo_ref *ref,
                       const char *sha, const char *path, uint64_t file_size, const char *key,
                       const char *name, int local, struct serve_model **out, struct serve_err *e)
{
	struct serve_model *m, *freed = NULL;
	char err[300];
	int rc, fd = -1;

	pthread_mutex_lock(&s->mu);
	for (m = s->models; m; m = m->next)
		if (!strcmp(m->key, key))
			break;
	if (m) {
		m->refs++;
		while (m->state == SERVE_LOADING && !s->stop)
			pthread_cond_wait(&s->load_cv, &s->mu);
		if (m->state == SERVE_READY) {
			m->last_used = time_mono_s();
			pthread_mutex_unlock(&s->mu);
			*out = m;
			return 0;
		}
		snprintf(err, sizeof(err), "%s", m->load_err[0] ? m->load_err : "shutting down");
		int free_it = --m->refs == 0 && m->state == SERVE_FAILED;
		pthread_mutex_unlock(&s->mu);
		if (free_it)
			serve_engine_free(m);
		return serve_fail(e, 500, "server_error", "model", "model_load_failed",
		                  "The model `%.200s` cannot be loaded: %s", name, err);
	}
	if (file_size > (uint64_t)s->mem_budget) {
		pthread_mutex_unlock(&s->mu);
		return serve_fail(e, 503, "server_error", "model", "model_too_large",
		                  "The model `%.200s` (%.0f MiB) does not fit this server's memory "
		                  "budget (%.0f MiB)",
		                  name, (double)file_size / 1048576.0,
		                  (double)s->mem_budget / 1048576.0);
	}
	if (!evict_for(s, file_size, NULL, &freed) && !local) {
		pthread_mutex_unlock(&s->mu);
		free_chain(freed);
		rc = serve_fail(e, 503, "server_error", "model", "server_busy",
		                "The models in use fill this server's memory budget: retry later");
		e->retry_after = 5;
		return rc;
	}
	m = xcalloc(1, sizeof(*m));
	m->key = xstrdup(key);
	m->name = xstrdup(name);
	m->local = local;
	m->state = SERVE_LOADING;
	m->refs = 1;
	m->mem_bytes = file_size;
	m->next = s->models;
	s->models = m;
	pthread_mutex_unlock(&s->mu);
	free_chain(freed);
	freed = NULL;

	double t0 = time_mono_s();
	rc = 0;
	if (ref)
		rc = open_hub_file(s, c, ref, sha, path, &fd, &file_size, err, sizeof(err));
	if (rc == 0)
		rc = serve_engine_load(s, m, ref ? NULL : path, fd, file_size, err, sizeof(err));
	if (fd >= 0)
		close(fd); /* the mapping stays */

	pthread_mutex_lock(&s->mu);
	if (rc) {
		m->state = SERVE_FAILED;
		snprintf(m->load_err, sizeof(m->load_err), "%.200s", err);
		unlink_model(s, m);
		pthread_cond_broadcast(&s->load_cv);
		int free_it = --m->refs == 0;
		pthread_mutex_unlock(&s->mu);
		log_warn("serve: cannot load %s: %s", name, err);
		if (free_it)
			serve_engine_free(m);
		return serve_fail(e, 500, "server_error", "model", "model_load_failed",
		                  "The model `%.200s` cannot be loaded: %s", name, err);
	}
	m->state = SERVE_READY;
	m->created = time_now_ms() / 1000;
	m->last_used = time_mono_s();
	/* the exact size is known now */
	if (!evict_for(s, 0, m, &freed))
		log_warn("serve: the loaded models use %.0f MiB, more than the budget (%.0f MiB)",
		         (double)mem_used(s) / 1048576.0, (double)s->mem_budget / 1048576.0);
	atomic_fetch_add(&s->metrics.loads, 1);
	pthread_cond_broadcast(&s->load_cv);
	pthread_mutex_unlock(&s->mu);
	free_chain(freed);
	log_info("serve: %s loaded in %.2f s", name, time_mono_s() - t0);
	*out = m;
	return 0;
}

int serve_model_load_file(struct serve *s, const char *name, const char *path, struct serve_err *e)
{
	struct serve_model *m = NULL;
	char *abs = realpath(path, NULL), *key;
	int rc;
	if (!abs)
		return serve_fail(e, 400, "invalid_request_error", NULL, NULL, "%s: no such file",
		                  path);
	struct stat st;
	if (stat(abs, &st) || !S_ISREG(st.st_mode)) {
		free(abs);
		return serve_fail(e, 400, "invalid_request_error", NULL, NULL, "%s: not a file",
		                  path);
	}
	key = xasprintf("file:%s", abs);
	rc = get_or_load(s, NULL, NULL, NULL, abs, (uint64_t)st.st_size, key, name, 1, &m, e);
	free(key);
	free(abs);
	if (rc)
		return rc;
	pthread_mutex_lock(&s->mu);
	if (!s->default_model)
		s->default_model = m;
	m->refs--;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int serve_model_get(struct serve *s, const struct auth_caller *c, const char *id,
                    struct serve_model **out, struct serve_err *e)
{
	struct serve_model_id mid;
	struct hub_err herr;
	struct serve_res res = {0};
	char sha[41], key[100], name[600];
	int rc;

	*out = NULL;
	pthread_mutex_lock(&s->mu);
	if (!id || !*id || str_starts_with(id, "http://") || str_starts_with(id, "https://")) {
		struct serve_model *d = s->default_model;
		if (d)
			d->refs++;
		pthread_mutex_unlock(&s->mu);
		if (!d)
			return serve_bad(e, "model",
			                 "'model' is required: this server has no default model");
		*out = d;
		return 0;
	}
	for (struct serve_model *m = s->models; m; m = m->next)
		if (m->local && m->state == SERVE_READY && !strcmp(m->name, id)) {
			m->refs++;
			m->last_used = time_mono_s();
			pthread_mutex_unlock(&s->mu);
			*out = m;
			return 0;
		}
	pthread_mutex_unlock(&s->mu);

	if (!s->hub || serve_model_id_parse(id, &mid) || !caller_in_scope(c, mid.ns, mid.name))
		return not_found(e, id);
	struct hub_repo_ref ref = {HUB_REPO_MODEL, mid.ns, mid.name};
	memset(&herr, 0, sizeof(herr));
	if (hub_rev_resolve(s->hub, c, &ref, mid.rev, sha, &herr))
		return not_found(e, id);
	if ((rc = resolve_file(s, c, &ref, sha, mid.quant, id, &res, e)))
		return rc;
	snprintf(key, sizeof(key), "blob:%s", res.oid);
	snprintf(name, sizeof(name), "%s/%s@%.12s:%s", mid.ns, mid.name, sha, res.path);
	rc = get_or_load(s, c, &ref, sha, res.path, (uint64_t)res.size, key, name, 0, out, e);
	free(res.path);
	return rc;
}

void serve_models_list(struct serve *s, const struct auth_caller *c, json_t *arr)
{
	pthread_mutex_lock(&s->mu);
	for (struct serve_model *m = s->models; m; m = m->next)
		if (m->local && m->state == SERVE_READY)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:s}", "id", m->name,
			                                     "object", "model", "created",
			                                     (json_int_t)m->created, "owned_by",
			                                     "huddle"));
	pthread_mutex_unlock(&s->mu);
	if (!s->hub)
		return;
	const char *filters[] = {"gguf"};
	char *cursor = NULL;
	for (int page = 0; page < 10; page++) {
		struct hub_list_query q = {0};
		struct hub_repo_list l;
		q.type = HUB_REPO_MODEL;
		q.filters = filters;
		q.n_filters = 1;
		q.sort = HUB_SORT_ID;
		q.limit = 1000;
		q.cursor = cursor;
		int rc = hub_repo_list(s->hub, c, &q, &l, NULL);
		free(cursor);
		cursor = NULL;
		if (rc)
			break;
		for (size_t i = 0; i < l.n; i++) {
			const struct hub_repo *r = &l.items[i];
			if (!caller_in_scope(c, r->ns, r->name))
				continue;
			json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:s}", "id", r->id,
			                                     "object", "model", "created",
			                                     (json_int_t)(r->created_ms / 1000),
			                                     "owned_by", r->ns));
		}
		cursor = l.next_cursor ? xstrdup(l.next_cursor) : NULL;
		hub_repo_list_release(&l);
		if (!cursor)
			break;
	}
	free(cursor);
}

void serve_registry_free(struct serve *s)
{
	struct serve_model *m = s->models;
	s->models = NULL;
	while (m) {
		struct serve_model *n = m->next;
		serve_engine_free(m);
		m = n;
	}
	res_clear(s);
}

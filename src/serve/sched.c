/*
 * sched.c: jobs and the scheduler thread (continuous batching).
 *
 * One thread owns every engine. It waits until some model has work, then
 * runs steps, taking the models with work in turn. A step of one model:
 *
 *   1. jobs whose client left are ended and their slots freed; queued jobs
 *      take free slots (the slot whose cached tokens share the longest
 *      prefix with the prompt, among those last used by the same caller;
 *      that prefix is kept in the KV cache and skipped);
 *   2. the batch: the next token of every decoding job, then prompt tokens
 *      of jobs still prefilling, oldest first, up to prefill_chunk tokens
 *      (or the whole batch when nothing decodes);
 *   3. one infer_forward over the batch, without the lock;
 *   4. for each job, from its logits: sample the next token (its own
 *      sampler and seed), log-probabilities, the text; stop strings and
 *      incomplete UTF-8 are held back until they are decided;
 *   5. under the lock, the released text and entries go to the job's
 *      output, waiters are woken, finished jobs leave their slots.
 *
 * A job's tokens depend only on its own logits, and a row of a batched
 * forward pass equals the same row computed alone (kern.h, model_exec.c),
 * so a seeded request gives the same output alone or batched.
 *
 * Locking: s->mu guards the queues, counts, slots' job pointers and every
 * field a job shares with its HTTP thread; the fields marked "scheduler
 * thread only" in serve_int.h are touched without it.
 */
#include "serve/serve_int.h"

#include "infer/tok.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* ---- per-caller counts (s->mu) ----------------------------------------------------- */

struct serve_caller_count {
	char key[96];
	int n;
};

static struct serve_caller_count *caller_find(struct serve *s, const char *key, int create)
{
	for (size_t i = 0; i < s->n_callers; i++)
		if (!strcmp(s->callers[i].key, key))
			return &s->callers[i];
	if (!create)
		return NULL;
	s->callers = xrealloc(s->callers, (s->n_callers + 1) * sizeof(*s->callers));
	struct serve_caller_count *c = &s->callers[s->n_callers++];
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->n = 0;
	return c;
}

static void caller_dec(struct serve *s, const char *key)
{
	struct serve_caller_count *c = caller_find(s, key, 0);
	if (c && --c->n <= 0) {
		*c = s->callers[--s->n_callers];
		if (!s->n_callers) {
			free(s->callers);
			s->callers = NULL;
		}
	}
}

/* ---- jobs ----------------------------------------------------------------------------- */

static void job_free(struct serve_job *j)
{
	infer_sampler_free(j->smp);
	free(j->prompt);
	free(j->bias_ids);
	free(j->bias);
	for (size_t i = 0; i < j->n_stop; i++)
		free(j->stop[i]);
	free(j->stop);
	free(j->counts);
	buf_release(&j->gen);
	buf_release(&j->rel);
	buf_release(&j->out);
	free(j->lp_pending);
	free(j->lp_ready);
	free(j->lps);
	free(j->plps);
	pthread_cond_destroy(&j->cv);
	free(j);
}

/* Drops a reference; s->mu held. Returns the job if it must be freed
 * (outside the lock), else NULL. */
static struct serve_job *job_unref_locked(struct serve_job *j)
{
	if (--j->refs > 0)
		return NULL;
	j->model->refs--;
	return j;
}

void serve_job_put(struct serve_job *j)
{
	struct serve *s;
	if (!j)
		return;
	s = j->srv;
	pthread_mutex_lock(&s->mu);
	j = job_unref_locked(j);
	pthread_mutex_unlock(&s->mu);
	if (j)
		job_free(j);
}

void serve_job_cancel(struct serve_job *j)
{
	struct serve *s = j->srv;
	pthread_mutex_lock(&s->mu);
	if (j->state != SERVE_JOB_DONE && !j->cancelled) {
		j->cancelled = 1;
		pthread_cond_signal(&s->work_cv);
	}
	pthread_mutex_unlock(&s->mu);
}

static struct serve_job *job_new(struct serve *s, struct serve_model *m,
                                 const struct serve_params *p, const int32_t *prompt,
                                 int32_t n_prompt, int64_t tenant, const char *caller_key)
{
	struct serve_job *j = xcalloc(1, sizeof(*j));
	j->srv = s;
	j->model = m;
	j->prompt = xmalloc_array((size_t)n_prompt, sizeof(int32_t));
	memcpy(j->prompt, prompt, (size_t)n_prompt * sizeof(int32_t));
	j->n_prompt = n_prompt;
	j->max_tokens = p->max_tokens;
	j->sp = p->sp;
	if (!p->seed_set)
		rand_bytes(&j->sp.seed, sizeof(j->sp.seed));
	j->presence_penalty = p->presence_penalty;
	j->frequency_penalty = p->frequency_penalty;
	if (p->n_bias) {
		j->bias_ids = xmalloc_array(p->n_bias, sizeof(int32_t));
		j->bias = xmalloc_array(p->n_bias, sizeof(float));
		memcpy(j->bias_ids, p->bias_ids, p->n_bias * sizeof(int32_t));
		memcpy(j->bias, p->bias, p->n_bias * sizeof(float));
		j->n_bias = p->n_bias;
	}
	if (p->n_stop) {
		j->stop = xcalloc(p->n_stop, sizeof(char *));
		for (size_t i = 0; i < p->n_stop; i++) {
			j->stop[i] = xstrdup(p->stop[i]);
			j->max_stop_len = HD_MAX(j->max_stop_len, strlen(j->stop[i]));
		}
		j->n_stop = p->n_stop;
	}
	j->logprobs = p->logprobs;
	j->top_logprobs = p->top_logprobs;
	j->prompt_logprobs = p->echo && p->logprobs;
	j->keep_eog = p->kind == SERVE_COMPLETION;
	if (j->prompt_logprobs)
		j->plps = xcalloc((size_t)n_prompt, sizeof(*j->plps));
	if (p->presence_penalty != 0 || p->frequency_penalty != 0)
		j->counts = xcalloc((size_t)m->n_vocab, sizeof(int32_t));
	j->tenant = tenant;
	snprintf(j->caller_key, sizeof(j->caller_key), "%s", caller_key ? caller_key : "");
	j->smp = infer_sampler_new(&j->sp, m->n_vocab);
	for (int32_t i = 0; i < n_prompt; i++)
		infer_sampler_accept(j->smp, prompt[i]);
	j->usage_prompt = n_prompt;
	j->t_submit = time_mono_s();
	pthread_cond_init(&j->cv, NULL);
	j->refs = 2; /* the submitter and the scheduler */
	return j;
}

static int retry_after(const struct serve_model *m)
{
	int r = 1 + m->n_queued / (m->n_parallel > 0 ? m->n_parallel : 1);
	return r > 60 ? 60 : r;
}

int serve_job_submit_many(struct serve *s, struct serve_model *m, const struct serve_params *p,
                          int32_t *const *prompts, const int32_t *n_prompts, size_t n,
                          int64_t tenant, const char *caller_key, struct serve_job **jobs,
                          struct serve_err *e)
{
	struct serve_caller_count *cc;

	pthread_mutex_lock(&s->mu);
	if (s->stop) {
		pthread_mutex_unlock(&s->mu);
		return serve_fail(e, 503, "server_error", NULL, NULL,
		                  "The server is shutting down");
	}
	if (m->n_active + m->n_queued + (int64_t)n > m->n_parallel + s->cfg.max_queue) {
		int ra = retry_after(m);
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_add(&s->metrics.rejected, 1);
		serve_fail(e, 429, "rate_limit_exceeded", NULL, "queue_full",
		           "The model %s is busy (all %d slots taken and the queue is full): retry "
		           "later",
		           m->name, m->n_parallel);
		e->retry_after = ra;
		return HD_ETOOBIG;
	}
	cc = caller_find(s, caller_key ? caller_key : "", 1);
	if (cc->n + (int64_t)n > s->cfg.max_per_caller) {
		if (cc->n == 0)
			caller_dec(s, caller_key ? caller_key : "");
		pthread_mutex_unlock(&s->mu);
		atomic_fetch_add(&s->metrics.rejected, 1);
		serve_fail(e, 429, "rate_limit_exceeded", NULL, "too_many_requests",
		           "Too many requests in flight for this caller (at most %d): retry later",
		           s->cfg.max_per_caller);
		e->retry_after = 1;
		return HD_ETOOBIG;
	}
	cc->n += (int)n;
	for (size_t i = 0; i < n; i++) {
		struct serve_job *j =
		        job_new(s, m, p, prompts[i], n_prompts[i], tenant, caller_key);
		m->refs++;
		if (m->q_tail)
			m->q_tail->next = j;
		else
			m->q_head = j;
		m->q_tail = j;
		m->n_queued++;
		jobs[i] = j;
	}
	atomic_fetch_add(&s->metrics.requests[p->kind], 1);
	pthread_cond_signal(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

struct serve_job *serve_job_submit(struct serve *s, struct serve_model *m,
                                   const struct serve_params *p, const int32_t *prompt,
                                   int32_t n_prompt, int64_t tenant, const char *caller_key,
                                   struct serve_err *e)
{
	struct serve_job *j = NULL;
	int32_t *pp = (int32_t *)prompt;
	if (serve_job_submit_many(s, m, p, &pp, &n_prompt, 1, tenant, caller_key, &j, e))
		return NULL;
	return j;
}

/* Ends a job (s->mu held): frees its slot, wakes its waiter, drops the
 * scheduler's reference. Returns the job if it must be freed. */
static struct serve_job *job_finish(struct serve *s, struct serve_model *m, struct serve_job *j,
                                    const char *reason, int error, const char *errmsg)
{
	if (j->state == SERVE_JOB_DONE)
		return NULL;
	if (j->slot) {
		j->slot->job = NULL;
		j->slot->last_used = time_mono_s();
		j->slot = NULL;
		m->n_active--;
	}
	if (j->state == SERVE_JOB_QUEUED)
		m->n_queued--;
	j->state = SERVE_JOB_DONE;
	j->finish = reason;
	if (error) {
		j->error = error;
		snprintf(j->errmsg, sizeof(j->errmsg), "%s", errmsg ? errmsg : "error");
	}
	if (j->cancelled && !reason)
		atomic_fetch_add(&s->metrics.cancelled, 1);
	caller_dec(s, j->caller_key);
	pthread_cond_broadcast(&j->cv);
	return job_unref_locked(j);
}

/* ---- sampling and text ------------------------------------------------------------------- */

static void lp_push(struct serve_lp **a, size_t *n, size_t *cap, const struct serve_lp *e)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*a = xrealloc(*a, *cap * sizeof(**a));
	}
	(*a)[(*n)++] = *e;
}

/* The log-probability of tok under logits and the top_n best tokens. */
static void lp_fill(const float *logits, int32_t n_vocab, int32_t tok, int top_n,
                    struct serve_lp *e)
{
	float mx = logits[0];
	double sum = 0;
	for (int32_t i = 1; i < n_vocab; i++)
		mx = logits[i] > mx ? logits[i] : mx;
	for (int32_t i = 0; i < n_vocab; i++)
		sum += exp((double)logits[i] - mx);
	if (!(sum >= 1)) /* NaN or infinite logits: keep the numbers finite-ish */
		sum = 1;
	const double lse = mx + log(sum);
	memset(e, 0, sizeof(*e));
	e->id = tok;
	e->lp = (float)(logits[tok] - lse);
	if (top_n <= 0)
		return;
	int n = 0;
	for (int32_t i = 0; i < n_vocab; i++) {
		const float v = logits[i];
		if (n == top_n && v <= logits[e->top_id[n - 1]])
			continue;
		int k = n < top_n ? n++ : n - 1;
		while (k > 0 && logits[e->top_id[k - 1]] < v) {
			e->top_id[k] = e->top_id[k - 1];
			k--;
		}
		e->top_id[k] = i;
	}
	e->n_top = (uint8_t)n;
	for (int i = 0; i < n; i++)
		e->top_lp[i] = (float)(logits[e->top_id[i]] - lse);
}

/* The job's next token from its row of logits. A logit_bias alone (the
 * common case: a few ids) is applied in place on the row, which belongs to
 * this job until the next step, and undone after the draw, so the
 * vocabulary is not copied (the scratch keeps the old values); presence
 * and frequency penalties, which touch any token, and a bias longer than
 * the scratch go through a copy. */
static int32_t sample(struct serve_model *m, struct serve_job *j, const float *logits)
{
	if (j->counts || j->n_bias > (size_t)m->n_vocab) {
		float *sc = m->scratch;
		memcpy(sc, logits, (size_t)m->n_vocab * sizeof(float));
		for (size_t i = 0; i < j->n_bias; i++)
			if (j->bias_ids[i] < m->n_vocab)
				sc[j->bias_ids[i]] += j->bias[i];
		for (int32_t t = 0; j->counts && t < m->n_vocab; t++)
			if (j->counts[t])
				sc[t] -= j->presence_penalty +
				         j->frequency_penalty * (float)j->counts[t];
		return infer_sampler_sample(j->smp, sc);
	}
	if (!j->n_bias)
		return infer_sampler_sample(j->smp, logits);
	float *row = (float *)logits, *old = m->scratch; /* old: the biased entries */
	for (size_t i = 0; i < j->n_bias; i++)
		if (j->bias_ids[i] < m->n_vocab) {
			old[i] = row[j->bias_ids[i]];
			row[j->bias_ids[i]] += j->bias[i];
		}
	const int32_t tok = infer_sampler_sample(j->smp, row);
	for (size_t i = j->n_bias; i-- > 0;) /* backwards: a repeated id ends as it was */
		if (j->bias_ids[i] < m->n_vocab)
			row[j->bias_ids[i]] = old[i];
	return tok;
}

/* Hands out the generated text that is decided: all of it when the job
 * ends, else up to where a stop string might start, on a UTF-8 boundary. */
static void release_text(struct serve_job *j)
{
	size_t r = j->gen.len;
	if (!j->fin) {
		r = serve_stop_holdback(j->gen.data, j->gen.len, j->n_released,
		                        (const char *const *)j->stop, j->n_stop);
		r = serve_utf8_complete(j->gen.data, r);
		if (r < j->n_released)
			r = j->n_released;
	}
	if (r > j->n_released) {
		buf_append(&j->rel, j->gen.data + j->n_released, r - j->n_released);
		j->n_released = r;
	}
	size_t k = 0;
	for (size_t i = 0; i < j->n_lp_pending; i++) {
		if (j->fin || (size_t)j->lp_pending[i].offset < r)
			lp_push(&j->lp_ready, &j->n_lp_ready, &j->cap_lp_ready, &j->lp_pending[i]);
		else
			j->lp_pending[k++] = j->lp_pending[i];
	}
	j->n_lp_pending = k;
}

/* One sampled token from logits: the job's next token, its text, the stop
 * checks. */
static void take_token(struct serve_model *m, struct serve_job *j, const float *logits)
{
	struct serve_lp e;
	struct buf piece = BUF_INIT;
	const int32_t tok = sample(m, j, logits);

	j->n_gen++;
	j->usage_gen++;
	if (!j->first_token && j->n_gen == 1)
		j->first_token = 1;
	if (j->logprobs)
		lp_fill(logits, m->n_vocab, tok, j->top_logprobs, &e);
	if (tok_is_eog(m->tok, tok)) {
		if (j->logprobs && j->keep_eog) {
			e.offset = (int32_t)j->gen.len;
			lp_push(&j->lp_pending, &j->n_lp_pending, &j->cap_lp_pending, &e);
		}
		j->fin = "stop";
		return;
	}
	infer_sampler_accept(j->smp, tok);
	if (j->counts)
		j->counts[tok]++;
	const size_t old = j->gen.len;
	tok_piece(m->tok, tok, 0, &piece);
	buf_append(&j->gen, piece.data ? piece.data : "", piece.len);
	buf_release(&piece);
	if (j->logprobs) {
		e.offset = (int32_t)old;
		lp_push(&j->lp_pending, &j->n_lp_pending, &j->cap_lp_pending, &e);
	}
	if (j->n_stop) {
		size_t hit = serve_stop_find(j->gen.data, j->gen.len, old,
		                             (const char *const *)j->stop, j->n_stop);
		if (hit < j->gen.len) {
			j->gen.len = hit;
			j->gen.data[hit] = 0;
			size_t k = 0;
			for (size_t i = 0; i < j->n_lp_pending; i++)
				if ((size_t)j->lp_pending[i].offset < hit)
					j->lp_pending[k++] = j->lp_pending[i];
			j->n_lp_pending = k;
			j->fin = "stop";
			return;
		}
	}
	if (j->max_tokens >= 0 && j->n_gen >= j->max_tokens)
		j->fin = "length";
	j->next_tok = tok;
	j->decoding = 1;
}

/* ---- a step ---------------------------------------------------------------------------------- */

static int32_t common_prefix(const int32_t *a, int32_t na, const int32_t *b, int32_t nb)
{
	int32_t n = HD_MIN(na, nb), i = 0;
	while (i < n && a[i] == b[i])
		i++;
	return i;
}

static void admit(struct serve *s, struct serve_model *m)
{
	(void)s;
	while (m->q_head && m->n_active < m->n_parallel) {
		struct serve_job *j = m->q_head;
		struct serve_slot *best = NULL;
		int32_t best_common = -1;
		for (int i = 0; i < m->n_parallel; i++) {
			struct serve_slot *sl = &m->slots[i];
			int32_t c = 0;
			if (sl->job)
				continue;
			if (sl->sess && j->tenant > 0 && sl->tenant == j->tenant &&
			    !j->prompt_logprobs)
				c = common_prefix(sl->cache, sl->n_cache, j->prompt, j->n_prompt);
			if (c > best_common ||
			    (c == best_common && sl->last_used < best->last_used)) {
				best = sl;
				best_common = c;
			}
		}
		if (best_common * 2 < j->n_prompt) {
			/* little to reuse: keep the caches worth keeping, take the
			 * least recently used slot (an empty one first) */
			for (int i = 0; i < m->n_parallel; i++) {
				struct serve_slot *sl = &m->slots[i];
				if (!sl->job && sl->last_used < best->last_used)
					best = sl;
			}
			best_common = 0;
			if (best->sess && j->tenant > 0 && best->tenant == j->tenant &&
			    !j->prompt_logprobs)
				best_common = common_prefix(best->cache, best->n_cache, j->prompt,
				                            j->n_prompt);
		}
		m->q_head = j->next;
		if (!m->q_head)
			m->q_tail = NULL;
		j->next = NULL;
		m->n_queued--;
		int32_t reuse = HD_MIN(best_common, j->n_prompt - 1);
		if (reuse < 0)
			reuse = 0;
		if (!best->sess) {
			best->sess = infer_session_new(m->m, m->n_ctx);
			best->cap_cache = m->n_ctx;
			best->cache = xmalloc_array((size_t)m->n_ctx, sizeof(int32_t));
		}
		infer_session_truncate(best->sess, HD_MIN(reuse, infer_session_n_past(best->sess)));
		best->n_cache = infer_session_n_past(best->sess);
		best->tenant = j->tenant;
		best->job = j;
		j->slot = best;
		j->n_fed = best->n_cache;
		j->reused = best->n_cache;
		j->state = SERVE_JOB_RUNNING;
		m->n_active++;
	}
}

/* Jobs to free once the lock is released. */
struct free_list {
	struct serve_job **v;
	size_t n, cap;
};

static void free_later(struct free_list *fl, struct serve_job *j)
{
	if (!j)
		return;
	if (fl->n == fl->cap) {
		fl->cap = fl->cap ? fl->cap * 2 : 16;
		fl->v = xrealloc(fl->v, fl->cap * sizeof(*fl->v));
	}
	fl->v[fl->n++] = j;
}

/* Frees them (s->mu not held). */
static void free_now(struct free_list *fl)
{
	for (size_t i = 0; i < fl->n; i++)
		job_free(fl->v[i]);
	fl->n = 0;
}

/* Ends the cancelled jobs of m. */
static void reap(struct serve *s, struct serve_model *m, struct free_list *fl)
{
	for (int i = 0; i < m->n_parallel; i++) {
		struct serve_job *j = m->slots[i].job;
		if (j && j->cancelled)
			free_later(fl, job_finish(s, m, j, NULL, 0, NULL));
	}
	for (struct serve_job **pp = &m->q_head; *pp;) {
		struct serve_job *j = *pp;
		if (!j->cancelled) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		j->next = NULL;
		free_later(fl, job_finish(s, m, j, NULL, 0, NULL));
	}
	m->q_tail = NULL;
	for (struct serve_job *j = m->q_head; j; j = j->next)
		m->q_tail = j;
}

/* Jobs in m's slots that are prefilling, oldest first. */
static int prefill_order(struct serve_model *m, struct serve_job **out)
{
	int n = 0;
	for (int i = 0; i < m->n_parallel; i++) {
		struct serve_job *j = m->slots[i].job;
		if (!j || j->decoding || j->fin || j->n_fed >= j->n_prompt)
			continue;
		int k = n++;
		while (k > 0 && out[k - 1]->t_submit > j->t_submit) {
			out[k] = out[k - 1];
			k--;
		}
		out[k] = j;
	}
	return n;
}

/* Publishes what the step produced for j (s->mu held). */
static struct serve_job *publish(struct serve *s, struct serve_model *m, struct serve_job *j)
{
	j->touched = 0;
	if (j->rel.len) {
		serve_utf8_sanitize(&j->out, j->rel.data, j->rel.len);
		buf_reset(&j->rel);
	}
	for (size_t i = 0; i < j->n_lp_ready; i++)
		lp_push(&j->lps, &j->n_lps, &j->cap_lps, &j->lp_ready[i]);
	j->n_lp_ready = 0;
	if (j->now_prefilled) {
		j->prefilled = 1;
		j->now_prefilled = 0;
	}
	if (j->first_token == 1) {
		j->first_token = 2;
		j->t_first = time_mono_s();
		serve_metrics_ttft(&s->metrics, j->t_first - j->t_submit);
	}
	if (j->fin)
		return job_finish(s, m, j, j->fin, 0, NULL);
	pthread_cond_broadcast(&j->cv);
	return NULL;
}

/* One step of model m; s->mu held on entry and on return. */
static void step(struct serve *s, struct serve_model *m)
{
	struct serve_job **order = m->order;
	struct free_list fl = {NULL, 0, 0};
	char err[256];
	const double t_enter = time_mono_s();

	reap(s, m, &fl);

	admit(s, m);
	const int32_t max_b = infer_exec_max_batch(m->x);
	int32_t n = 0, n_decode = 0;
	for (int i = 0; i < m->n_parallel && n < max_b; i++) {
		struct serve_slot *sl = &m->slots[i];
		struct serve_job *j = sl->job;
		if (!j || !j->decoding)
			continue;
		if (sl->n_cache >= m->n_ctx) { /* the context is full */
			j->fin = "length";
			free_later(&fl, publish(s, m, j));
			continue;
		}
		m->items[n] = (struct infer_batch_item){sl->sess, sl->n_cache, j->next_tok, 1};
		m->item_job[n++] = j;
		n_decode++;
	}
	int32_t budget = n_decode ? m->prefill_chunk : max_b;
	budget = HD_MIN(budget, max_b - n);
	int n_pre = prefill_order(m, order);
	for (int k = 0; k < n_pre && budget > 0; k++) {
		struct serve_job *j = order[k];
		const int32_t take = HD_MIN(j->n_prompt - j->n_fed, budget);
		for (int32_t i = 0; i < take; i++) {
			const int32_t pos = j->n_fed + i;
			const int want = j->prompt_logprobs || pos == j->n_prompt - 1;
			m->items[n] =
			        (struct infer_batch_item){j->slot->sess, pos, j->prompt[pos], want};
			m->item_job[n++] = j;
		}
		budget -= take;
	}
	if (n == 0) {
		pthread_mutex_unlock(&s->mu);
		free_now(&fl);
		free(fl.v);
		pthread_mutex_lock(&s->mu);
		return;
	}

	m->stepping = 1;
	pthread_mutex_unlock(&s->mu);
	free_now(&fl);

	const double t0 = time_mono_s();
	int rc = infer_forward(m->x, m->items, n, err, sizeof(err));
	const double tf = time_mono_s();
	int64_t n_sampled = 0;
	for (int32_t i = 0; i < n && rc == 0; i++) {
		struct serve_job *j = m->item_job[i];
		const struct infer_batch_item *it = &m->items[i];
		const float *lg = it->logits ? infer_exec_logits(m->x, i) : NULL;
		struct serve_slot *sl = j->slot;
		j->touched = 1;
		if (sl->n_cache < sl->cap_cache)
			sl->cache[sl->n_cache++] = it->token;
		if (it->pos < j->n_prompt && !j->decoding) { /* a prompt token */
			j->n_fed++;
			if (j->prompt_logprobs && lg && it->pos + 1 < j->n_prompt) {
				lp_fill(lg, m->n_vocab, j->prompt[it->pos + 1], j->top_logprobs,
				        &j->plps[it->pos + 1]);
			}
			if (it->pos == j->n_prompt - 1) {
				j->now_prefilled = 1;
				if (j->max_tokens == 0) {
					j->fin = "length";
					j->first_token = 1;
				} else {
					take_token(m, j, lg);
					n_sampled++;
				}
				release_text(j);
			}
		} else {
			take_token(m, j, lg);
			n_sampled++;
			release_text(j);
		}
	}
	const double dt = time_mono_s() - t0;

	pthread_mutex_lock(&s->mu);
	m->stepping = 0;
	for (int32_t i = 0; i < n; i++) {
		struct serve_job *j = m->item_job[i];
		if (!j->touched && rc == 0)
			continue;
		if (rc) {
			if (j->state == SERVE_JOB_DONE)
				continue;
			if (j->slot)
				j->slot->n_cache = 0; /* the KV cache is in an unknown state */
			free_later(&fl, job_finish(s, m, j, NULL, 500, err));
		} else {
			free_later(&fl, publish(s, m, j));
		}
	}
	if (rc)
		log_error("serve: %s: forward pass failed: %s", m->name, err);
	atomic_fetch_add(&s->metrics.steps, 1);
	atomic_fetch_add(&s->metrics.step_items, n);
	atomic_fetch_add(&s->metrics.step_decode, n_decode);
	atomic_fetch_add(&s->metrics.gen_tokens, n_sampled);
	atomic_fetch_add(&s->metrics.prompt_tokens, n - n_decode);
	atomic_store(&s->metrics.last_batch, n);
	if (n_sampled && dt > 0) {
		double tps = (double)n_sampled / dt, old = atomic_load(&s->metrics.decode_tps);
		atomic_store(&s->metrics.decode_tps, old > 0 ? 0.9 * old + 0.1 * tps : tps);
	}
	if (fl.n) {
		pthread_mutex_unlock(&s->mu);
		free_now(&fl);
		pthread_mutex_lock(&s->mu);
	}
	free(fl.v);
	serve_metrics_add(&s->metrics.forward_s, tf - t0);
	serve_metrics_add(&s->metrics.overhead_s, (t0 - t_enter) + (time_mono_s() - tf));
}

/* The next model with work after the one stepped last (s->mu held). */
static struct serve_model *next_with_work(struct serve *s)
{
	struct serve_model *start = s->rr && s->rr->next ? s->rr->next : s->models;
	struct serve_model *m = start;
	if (!m)
		return NULL;
	do {
		if (m->state == SERVE_READY &&
		    (m->n_queued || m->n_active || (m->q_head && m->q_head->cancelled)))
			return s->rr = m;
		m = m->next ? m->next : s->models;
	} while (m != start);
	return NULL;
}

/* Ends every job of every model (shutting down; s->mu held). */
static void fail_all(struct serve *s)
{
	for (struct serve_model *m = s->models; m; m = m->next) {
		while (m->q_head) {
			struct serve_job *j = m->q_head, *f;
			m->q_head = j->next;
			j->next = NULL;
			f = job_finish(s, m, j, NULL, 503, "The server is shutting down");
			if (f) {
				pthread_mutex_unlock(&s->mu);
				job_free(f);
				pthread_mutex_lock(&s->mu);
			}
		}
		m->q_tail = NULL;
		for (int i = 0; i < m->n_parallel; i++) {
			struct serve_job *j = m->slots ? m->slots[i].job : NULL, *f;
			if (!j)
				continue;
			f = job_finish(s, m, j, NULL, 503, "The server is shutting down");
			if (f) {
				pthread_mutex_unlock(&s->mu);
				job_free(f);
				pthread_mutex_lock(&s->mu);
			}
		}
	}
}

static void *sched_main(void *arg)
{
	struct serve *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		struct serve_model *m = next_with_work(s);
		if (!m) {
			pthread_cond_wait(&s->work_cv, &s->mu);
			continue;
		}
		step(s, m);
	}
	fail_all(s);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int serve_sched_start(struct serve *s, char *err, size_t err_size)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay with the main thread */
	int rc = pthread_create(&s->thread, NULL, sched_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return hd_fail(err, err_size, -rc, "serve: cannot start the scheduler thread");
	s->thread_started = 1;
	return 0;
}

void serve_sched_stop(struct serve *s)
{
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->work_cv);
	pthread_cond_broadcast(&s->load_cv);
	pthread_mutex_unlock(&s->mu);
	if (s->thread_started) {
		pthread_join(s->thread, NULL);
		s->thread_started = 0;
	}
}

void serve_sched_counts(struct serve *s, int *n_models, int *n_active, int *n_queued, int *n_slots)
{
	*n_models = *n_active = *n_queued = *n_slots = 0;
	for (struct serve_model *m = s->models; m; m = m->next) {
		if (m->state != SERVE_READY)
			continue;
		(*n_models)++;
		*n_active += m->n_active;
		*n_queued += m->n_queued;
		*n_slots += m->n_parallel;
	}
}

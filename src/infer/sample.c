/*
 * sample.c: choosing the next token from logits.
 *
 * The chain and its order are the ones llama.cpp's tools use: repetition
 * penalty over the last N tokens of the context (logit / penalty when
 * positive, * penalty when not), top-k, top-p (the smallest prefix of the
 * sorted distribution whose mass reaches p), min-p (tokens with at least
 * min_p times the top probability), temperature, then a draw. With a
 * temperature <= 0 it is greedy: the arg max after the penalty (the first
 * one on ties). The random stream is our own xoshiro256** seeded through
 * splitmix64, so a seed gives the same tokens on every machine.
 */
#include "infer/infer.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct cand {
	int32_t id;
	float logit;
};

struct infer_sampler {
	struct infer_sampler_params p;
	int32_t n_vocab;
	struct cand *c; /* (n_vocab) */
	float *prob; /* (n_vocab) */
	uint8_t *seen; /* (n_vocab) */
	int32_t *hist; /* ring of the last repeat_last_n tokens */
	int32_t n_hist, hist_head;
	uint64_t rng[4];
};

void infer_sampler_params_default(struct infer_sampler_params *p)
{
	p->temp = 0.8f;
	p->top_k = 40;
	p->top_p = 0.95f;
	p->min_p = 0.05f;
	p->repeat_penalty = 1.0f;
	p->repeat_last_n = 64;
	p->seed = 0;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t *s)
{
	const uint64_t result = rotl(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* uniform in [0, 1) with 53 random bits */
static double rng_uniform(struct infer_sampler *s)
{
	return (double)(xoshiro_next(s->rng) >> 11) * 0x1.0p-53;
}

struct infer_sampler *infer_sampler_new(const struct infer_sampler_params *p, int32_t n_vocab)
{
	struct infer_sampler *s = xcalloc(1, sizeof(*s));
	uint64_t seed = p->seed;
	s->p = *p;
	if (s->p.repeat_last_n < 0)
		s->p.repeat_last_n = 0;
	s->n_vocab = n_vocab;
	s->c = xmalloc_array((size_t)n_vocab, sizeof(*s->c));
	s->prob = xmalloc_array((size_t)n_vocab, sizeof(float));
	s->seen = xcalloc((size_t)n_vocab, 1);
	s->hist = xmalloc_array((size_t)HD_MAX(s->p.repeat_last_n, 1), sizeof(int32_t));
	for (int i = 0; i < 4; i++)
		s->rng[i] = splitmix64(&seed);
	return s;
}

void infer_sampler_free(struct infer_sampler *s)
{
	if (!s)
		return;
	free(s->c);
	free(s->prob);
	free(s->seen);
	free(s->hist);
	free(s);
}

void infer_sampler_reset(struct infer_sampler *s)
{
	s->n_hist = 0;
	s->hist_head = 0;
}

void infer_sampler_accept(struct infer_sampler *s, int32_t token)
{
	if (s->p.repeat_last_n == 0)
		return;
	s->hist[s->hist_head] = token;
	s->hist_head = (s->hist_head + 1) % s->p.repeat_last_n;
	if (s->n_hist < s->p.repeat_last_n)
		s->n_hist++;
}

static int cmp_cand_desc(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->logit != y->logit)
		return x->logit > y->logit ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* 1 if a ranks below b (lower logit; on ties the higher id) */
static int below(const struct cand *a, const struct cand *b)
{
	return a->logit < b->logit || (a->logit == b->logit && a->id > b->id);
}

static void sift_down(struct cand *h, int32_t n, int32_t i)
{
	for (;;) {
		int32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && below(&h[l], &h[m]))
			m = l;
		if (r < n && below(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		struct cand t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/* Keeps the k best of c[0..n) in c[0..k), sorted best first. */
static int32_t top_k(struct cand *c, int32_t n, int32_t k)
{
	if (k <= 0 || k >= n) {
		qsort(c, (size_t)n, sizeof(*c), cmp_cand_desc);
		return n;
	}
	/* a min-heap of the k best in c[0..k) */
	for (int32_t i = k / 2 - 1; i >= 0; i--)
		sift_down(c, k, i);
	for (int32_t i = k; i < n; i++) {
		if (below(&c[0], &c[i])) {
			c[0] = c[i];
			sift_down(c, k, 0);
		}
	}
	qsort(c, (size_t)k, sizeof(*c), cmp_cand_desc);
	return k;
}

/* probabilities of the sorted candidates c[0..n) at temperature 1 */
static void softmax_sorted(const struct cand *c, int32_t n, float *p)
{
	const float max = c[0].logit;
	double sum = 0;
	for (int32_t i = 0; i < n; i++) {
		p[i] = expf(c[i].logit - max);
		sum += p[i];
	}
	for (int32_t i = 0; i < n; i++)
		p[i] = (float)(p[i] / sum);
}

/* The repeat penalty's value of logit v. */
static float penalized(float v, float penalty)
{
	return v <= 0 ? v * penalty : v / penalty;
}

/* Greedy: the arg max after the repeat penalty (the first one on ties),
 * read straight from the logits: no copy of the vocabulary, and the penalty
 * touches only the tokens of the history. The unpenalized maximum is found
 * first; then every penalized token is compared with its penalized value,
 * and unpenalized ties before it win. */
static int32_t greedy(struct infer_sampler *s, const float *logits)
{
	const int32_t nv = s->n_vocab;
	const int pen = s->p.repeat_penalty != 1.0f && s->n_hist > 0;
	int32_t best = -1;
	float bv = 0;

	if (pen)
		for (int32_t i = 0; i < s->n_hist; i++)
			if (s->hist[i] >= 0 && s->hist[i] < nv)
				s->seen[s->hist[i]] = 1;
	/* the best unpenalized token */
	for (int32_t i = 0; i < nv; i++) {
		if (pen && s->seen[i])
			continue;
		if (best < 0 || logits[i] > bv) {
			best = i;
			bv = logits[i];
		}
	}
	if (pen) {
		for (int32_t i = 0; i < s->n_hist; i++) {
			const int32_t t = s->hist[i];
			if (t < 0 || t >= nv || !s->seen[t])
				continue;
			s->seen[t] = 0; /* each token once */
			const float v = penalized(logits[t], s->p.repeat_penalty);
			if (best < 0 || v > bv || (v == bv && t < best)) {
				best = t;
				bv = v;
			}
		}
	}
	return best < 0 ? 0 : best;
}

int32_t infer_sampler_sample(struct infer_sampler *s, const float *logits)
{
	const struct infer_sampler_params *p = &s->p;
	const int32_t nv = s->n_vocab;
	struct cand *c = s->c;
	int32_t n = nv;

	if (p->temp <= 0)
		return greedy(s, logits);
	for (int32_t i = 0; i < nv; i++) {
		c[i].id = i;
		c[i].logit = logits[i];
	}
	if (p->repeat_penalty != 1.0f && s->n_hist > 0) {
		for (int32_t i = 0; i < s->n_hist; i++) {
			int32_t t = s->hist[i];
			if (t < 0 || t >= nv || s->seen[t])
				continue;
			s->seen[t] = 1;
			c[t].logit = penalized(c[t].logit, p->repeat_penalty);
		}
		for (int32_t i = 0; i < s->n_hist; i++)
			if (s->hist[i] >= 0 && s->hist[i] < nv)
				s->seen[s->hist[i]] = 0;
	}
	n = top_k(c, n, p->top_k);
	if (p->top_p < 1.0f) {
		softmax_sorted(c, n, s->prob);
		double cum = 0;
		for (int32_t i = 0; i < n; i++) {
			cum += s->prob[i];
			if (cum >= p->top_p) {
				n = i + 1;
				break;
			}
		}
	}
	if (p->min_p > 0.0f) {
		const float min_logit = c[0].logit + logf(p->min_p);
		int32_t k = 1;
		while (k < n && c[k].logit >= min_logit)
			k++;
		n = k;
	}
	for (int32_t i = 0; i < n; i++)
		c[i].logit /= p->temp;
	softmax_sorted(c, n, s->prob);
	double r = rng_uniform(s), cum = 0;
	for (int32_t i = 0; i < n; i++) {
		cum += s->prob[i];
		if (r < cum)
			return c[i].id;
	}
	return c[n - 1].id;
}

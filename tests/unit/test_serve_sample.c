/*
 * test_serve_sample.c: the greedy draw the service makes for every token
 * of a temperature-0 request (infer_sampler_sample's path that reads the
 * logits in place, without copying the vocabulary) against its definition:
 * the arg max of a penalized copy of the logits, the first one on ties.
 * Random logits with many ties, histories with repeats and out-of-range
 * ids, penalties above and below 1.
 */
#include "core/core.h"
#include "infer/infer.h"
#include "test.h"

#include <stdlib.h>

#define NV 300

static uint64_t rng = 88172645463325252ull;

static uint32_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/* the definition: penalize a copy, each token of the window once */
static int32_t reference(const float *l, const int32_t *hist, int n_hist, float penalty)
{
	float c[NV];
	unsigned char seen[NV] = {0};
	for (int i = 0; i < NV; i++)
		c[i] = l[i];
	for (int i = 0; i < n_hist && penalty != 1.0f; i++) {
		const int32_t t = hist[i];
		if (t < 0 || t >= NV || seen[t])
			continue;
		seen[t] = 1;
		c[t] = c[t] <= 0 ? c[t] * penalty : c[t] / penalty;
	}
	int32_t best = 0;
	for (int i = 1; i < NV; i++)
		if (c[i] > c[best])
			best = i;
	return best;
}

static void test_greedy_matches_definition(void)
{
	const float penalties[] = {1.0f, 1.3f, 0.7f, 2.0f};
	int mismatches = 0, runs = 0;
	for (int round = 0; round < 400; round++) {
		struct infer_sampler_params p;
		infer_sampler_params_default(&p);
		p.temp = 0;
		p.repeat_penalty = penalties[round % 4];
		p.repeat_last_n = 1 + (int32_t)(next() % 12);
		struct infer_sampler *s = infer_sampler_new(&p, NV);
		int32_t hist[64] = {0};
		int n_hist = 0;
		float l[NV];
		for (int step = 0; step < 8; step++) {
			/* few distinct values: ties everywhere, signs both ways */
			for (int i = 0; i < NV; i++)
				l[i] = (float)((int)(next() % 9) - 4) * 0.5f;
			/* now and then the maximum sits on a history token */
			if (n_hist && next() % 3 == 0)
				l[hist[n_hist - 1] >= 0 && hist[n_hist - 1] < NV ? hist[n_hist - 1]
				                                                 : 0] = 2.5f;
			const int keep = n_hist < p.repeat_last_n ? n_hist : p.repeat_last_n;
			const int32_t want =
			        reference(l, hist + n_hist - keep, keep, p.repeat_penalty);
			const int32_t got = infer_sampler_sample(s, l);
			runs++;
			if (got != want)
				mismatches++;
			/* the next token of the history: repeats and an id past the vocabulary */
			int32_t t = next() % 5 == 0 && n_hist ? hist[next() % (unsigned)n_hist]
			                                      : (int32_t)(next() % NV);
			if (next() % 17 == 0)
				t = NV + 3;
			infer_sampler_accept(s, t);
			hist[n_hist++] = t;
		}
		infer_sampler_free(s);
	}
	CHECK_EQ_INT(mismatches, 0);
	CHECK_EQ_INT(runs, 3200);
}

int main(void)
{
	RUN(test_greedy_matches_definition);
	return test_summary();
}

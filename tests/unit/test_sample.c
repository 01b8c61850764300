/*
 * test_sample.c: the sampler: greedy, penalties with their window, top-k,
 * top-p, min-p, temperature, and the seeded random stream (reproducible,
 * and drawing with the right frequencies).
 */
#include "core/core.h"
#include "infer/infer.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

#define NV 8

static struct infer_sampler_params params(float temp)
{
	struct infer_sampler_params p;
	infer_sampler_params_default(&p);
	p.temp = temp;
	p.top_k = 0;
	p.top_p = 1.0f;
	p.min_p = 0.0f;
	p.repeat_penalty = 1.0f;
	p.seed = 1234;
	return p;
}

static void test_greedy(void)
{
	float l[NV] = {0.1f, 2.0f, -1.0f, 3.0f, 3.0f, 0.0f, -5.0f, 1.0f};
	struct infer_sampler_params p = params(0);
	struct infer_sampler *s = infer_sampler_new(&p, NV);
	CHECK_EQ_INT(infer_sampler_sample(s, l), 3); /* first of the tie */
	CHECK_EQ_INT(infer_sampler_sample(s, l), 3);
	infer_sampler_free(s);
}

static void test_repeat_penalty(void)
{
	float l[NV] = {0.1f, 2.0f, -1.0f, 3.0f, 2.9f, 0.0f, -5.0f, 1.0f};
	struct infer_sampler_params p = params(0);
	p.repeat_penalty = 1.5f;
	p.repeat_last_n = 2;
	struct infer_sampler *s = infer_sampler_new(&p, NV);
	infer_sampler_accept(s, 3);
	/* 3.0 / 1.5 = 2.0 < 2.9 */
	CHECK_EQ_INT(infer_sampler_sample(s, l), 4);
	infer_sampler_accept(s, 4);
	/* both penalized: 2.0, 1.93; token 1 (2.0) ties with 3 and comes first */
	CHECK_EQ_INT(infer_sampler_sample(s, l), 1);
	infer_sampler_accept(s, 0);
	infer_sampler_accept(s, 0);
	/* 3 and 4 left the window of 2 */
	CHECK_EQ_INT(infer_sampler_sample(s, l), 3);
	infer_sampler_free(s);

	/* a negative logit is multiplied, so a repeated token gets less likely */
	float neg[NV] = {-1.0f, -1.2f, -9, -9, -9, -9, -9, -9};
	p.repeat_last_n = 64;
	s = infer_sampler_new(&p, NV);
	infer_sampler_accept(s, 0);
	infer_sampler_accept(s, 0); /* counted once */
	CHECK_EQ_INT(infer_sampler_sample(s, neg), 1);
	infer_sampler_reset(s);
	CHECK_EQ_INT(infer_sampler_sample(s, neg), 0);
	infer_sampler_free(s);
}

/* frequencies of n draws */
static void draw(struct infer_sampler *s, const float *l, int n, int *counts)
{
	memset(counts, 0, NV * sizeof(int));
	for (int i = 0; i < n; i++) {
		int32_t t = infer_sampler_sample(s, l);
		CHECK(t >= 0 && t < NV);
		if (t >= 0 && t < NV)
			counts[t]++;
	}
}

static void test_distribution(void)
{
	float l[NV] = {0, 1, 2, 3, -1, -2, 0.5f, 1.5f};
	struct infer_sampler_params p = params(1.0f);
	struct infer_sampler *s = infer_sampler_new(&p, NV);
	int counts[NV], n = 200000;
	double z = 0;
	draw(s, l, n, counts);
	for (int i = 0; i < NV; i++)
		z += exp(l[i]);
	for (int i = 0; i < NV; i++) {
		double e = exp(l[i]) / z * n;
		/* within 5 standard deviations of the binomial count */
		double sd = sqrt(e * (1 - e / n));
		if (fabs(counts[i] - e) > 5 * sd + 1) {
			fprintf(stderr, "token %d: %d draws, expected %.0f\n", i, counts[i], e);
			CHECK(0);
		}
	}
	infer_sampler_free(s);

	/* temperature 0.5 doubles the logits */
	p = params(0.5f);
	s = infer_sampler_new(&p, NV);
	draw(s, l, n, counts);
	z = 0;
	for (int i = 0; i < NV; i++)
		z += exp(2 * l[i]);
	double e3 = exp(6.0) / z * n;
	CHECK(fabs(counts[3] - e3) < 5 * sqrt(e3) + 1);
	infer_sampler_free(s);
}

static void test_truncation(void)
{
	float l[NV] = {0, 1, 2, 3, -1, -2, 0.5f, 1.5f};
	int counts[NV];

	struct infer_sampler_params p = params(1.0f);
	p.top_k = 2;
	struct infer_sampler *s = infer_sampler_new(&p, NV);
	draw(s, l, 5000, counts);
	CHECK_EQ_INT(counts[3] + counts[2], 5000);
	CHECK(counts[2] > 0 && counts[3] > counts[2]);
	infer_sampler_free(s);

	/* probabilities: 3: .531, 2: .195, 7: .118, 1: .072 ... top-p 0.8 keeps 3, 2, 7 */
	p = params(1.0f);
	p.top_p = 0.8f;
	s = infer_sampler_new(&p, NV);
	draw(s, l, 5000, counts);
	CHECK_EQ_INT(counts[3] + counts[2] + counts[7], 5000);
	CHECK(counts[7] > 0);
	infer_sampler_free(s);

	/* min-p 0.3: keep p >= 0.3 * p(3), i.e. logit >= 3 + ln 0.3 = 1.796: 3, 2 */
	p = params(1.0f);
	p.min_p = 0.3f;
	s = infer_sampler_new(&p, NV);
	draw(s, l, 5000, counts);
	CHECK_EQ_INT(counts[3] + counts[2], 5000);
	infer_sampler_free(s);

	/* top-k 1 is greedy whatever the temperature */
	p = params(5.0f);
	p.top_k = 1;
	s = infer_sampler_new(&p, NV);
	draw(s, l, 100, counts);
	CHECK_EQ_INT(counts[3], 100);
	infer_sampler_free(s);
}

static void test_seeded(void)
{
	enum { N = 300 };
	float *l = malloc(N * sizeof(float));
	for (int i = 0; i < N; i++)
		l[i] = (float)((i * 37) % 11) * 0.3f;
	struct infer_sampler_params p;
	infer_sampler_params_default(&p);
	p.seed = 99;
	p.top_k = 50;
	struct infer_sampler *a = infer_sampler_new(&p, N), *b = infer_sampler_new(&p, N);
	p.seed = 100;
	struct infer_sampler *c = infer_sampler_new(&p, N);
	int same = 1, differ = 0;
	for (int i = 0; i < 200; i++) {
		int32_t x = infer_sampler_sample(a, l), y = infer_sampler_sample(b, l),
		        z = infer_sampler_sample(c, l);
		same &= x == y;
		differ |= x != z;
	}
	CHECK(same);
	CHECK(differ);
	infer_sampler_free(a);
	infer_sampler_free(b);
	infer_sampler_free(c);
	free(l);
}

int main(void)
{
	RUN(test_greedy);
	RUN(test_repeat_penalty);
	RUN(test_distribution);
	RUN(test_truncation);
	RUN(test_seeded);
	return test_summary();
}

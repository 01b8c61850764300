/*
 * test_pool.c: the persistent thread pool. Every thread runs every job
 * exactly once with the right (ith, nth), back-to-back runs (the spinning
 * path) and runs after a long idle (the futex path) both complete, the
 * per-thread scratch grows and stays private, and pools of one thread or
 * NULL run on the caller.
 */
#include "core/core.h"
#include "infer/pool.h"
#include "test.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

struct job {
	atomic_int calls[16];
	atomic_int bad_nth;
	int nth_want;
	long long sum[16];
	struct pool *p;
	size_t scratch_size;
	atomic_int scratch_bad;
};

static void job_fn(void *arg, int ith, int nth)
{
	struct job *j = arg;
	atomic_fetch_add(&j->calls[ith], 1);
	if (nth != j->nth_want)
		atomic_fetch_add(&j->bad_nth, 1);
	/* a little work of a known result */
	long long s = 0;
	for (int i = 0; i < 1000; i++)
		s += i * (ith + 1);
	j->sum[ith] += s;
	if (j->scratch_size) {
		unsigned char *m = pool_scratch(j->p, ith, j->scratch_size);
		if (((uintptr_t)m & 63) != 0)
			atomic_fetch_add(&j->scratch_bad, 1);
		memset(m, ith + 1, j->scratch_size);
		for (size_t i = 0; i < j->scratch_size; i += 997)
			if (m[i] != ith + 1)
				atomic_fetch_add(&j->scratch_bad, 1);
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void check_pool(int n, int runs, int idle_ms)
{
	struct pool *p = pool_new(n);
	struct job j;
	CHECK(p != NULL);
	if (!p)
		return;
	CHECK_EQ_INT(pool_size(p), n);
	memset(&j, 0, sizeof(j));
	j.nth_want = n;
	j.p = p;
	for (int r = 0; r < runs; r++) {
		j.scratch_size = (size_t)(r % 7) * 5000;
		pool_run(p, job_fn, &j);
		if (idle_ms)
			sleep_ms(idle_ms);
	}
	for (int i = 0; i < n; i++) {
		CHECK_EQ_INT(atomic_load(&j.calls[i]), runs);
		CHECK(j.sum[i] == (long long)runs * 499500LL * (i + 1));
	}
	CHECK_EQ_INT(atomic_load(&j.bad_nth), 0);
	CHECK_EQ_INT(atomic_load(&j.scratch_bad), 0);
	pool_free(p);
}

static void test_back_to_back(void)
{
	check_pool(1, 1000, 0);
	check_pool(2, 20000, 0);
	check_pool(3, 5000, 0);
	check_pool(4, 5000, 0);
}

static void test_after_idle(void)
{
	/* long enough gaps that every worker has gone to sleep on the futex */
	check_pool(2, 12, 30);
	check_pool(4, 6, 30);
}

static void test_null_and_bad(void)
{
	struct job j;
	memset(&j, 0, sizeof(j));
	j.nth_want = 1;
	pool_run(NULL, job_fn, &j);
	CHECK_EQ_INT(atomic_load(&j.calls[0]), 1);
	CHECK_EQ_INT(pool_size(NULL), 1);
	CHECK(pool_new(0) == NULL);
	CHECK(pool_new(-3) == NULL);
	pool_free(NULL);
}

int main(void)
{
	RUN(test_back_to_back);
	RUN(test_after_idle);
	RUN(test_null_and_bad);
	return test_summary();
}

/*
 * pool.c: persistent worker threads for the forward pass.
 *
 * A run is nth shares of work: fn(ctx, ith, nth) for ith < nth. The caller
 * publishes (fn, ctx), resets the share counter and bumps a generation
 * counter; workers spin on the generation for a short while (so the many
 * back-to-back runs of one token never touch the kernel), then sleep on it
 * with a futex. Every thread, the caller included, claims shares from the
 * counter until none are left, and the caller returns when all nth shares
 * are done. So a worker that the scheduler has not run yet (the machine is
 * busy, or it is asleep) never holds the caller up: its share is simply
 * taken by someone who is running. Nothing is allocated per run; the
 * per-share scratch buffers grow only when a larger one is first asked for.
 *
 * Wake-ups use the store-then-load pattern on two sequentially consistent
 * atomics (the generation and a sleeper count), so a wake-up is never lost:
 * either the publisher sees the sleeper and calls FUTEX_WAKE, or the
 * sleeper's FUTEX_WAIT sees the new generation and returns at once.
 */
#include "infer/pool.h"

#include "core/core.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

#define POOL_SPIN 10000 /* pause iterations before sleeping (~0.2 ms) */

struct pool_share {
	void *scratch;
	size_t scratch_size;
} __attribute__((aligned(64)));

struct pool_thread {
	struct pool *p;
	int started;
	pthread_t tid;
};

struct pool {
	int n;
	int spin; /* pause iterations before sleeping; 0 when threads outnumber CPUs */
	struct pool_thread *th;
	struct pool_share *share;
	pool_fn fn;
	void *ctx;
	_Alignas(64) atomic_uint gen; /* bumped once per run (futex word) */
	atomic_int n_sleep; /* workers asleep on gen */
	atomic_int stop;
	_Alignas(64) atomic_int next; /* next unclaimed share */
	_Alignas(64) atomic_uint done; /* shares finished this run (futex word) */
	atomic_int caller_sleep;
};

static void futex_wait(atomic_uint *addr, unsigned val)
{
	syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(atomic_uint *addr, int n)
{
	syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Claims and runs shares until none are left. The claim (acquire) pairs
 * with the caller's release of the reset counter, so fn and ctx read after
 * a successful claim are those of the run the share belongs to. */
static void run_shares(struct pool *p, int from_caller)
{
	for (;;) {
		const int ith = atomic_fetch_add_explicit(&p->next, 1, memory_order_acquire);
		if (ith >= p->n)
			return;
		p->fn(p->ctx, ith, p->n);
		const unsigned d = atomic_fetch_add(&p->done, 1) + 1;
		if (!from_caller && d == (unsigned)p->n && atomic_load(&p->caller_sleep))
			futex_wake(&p->done, 1);
	}
}

static void *worker_main(void *arg)
{
	struct pool *p = ((struct pool_thread *)arg)->p;
	/* the generation at creation, not at thread start: a worker that first
	 * runs after some runs (or after pool_free) must see the change */
	unsigned seen = 0;

	for (;;) {
		unsigned g;
		int spins = 0;
		while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
			if (++spins < p->spin) {
				cpu_relax();
				continue;
			}
			atomic_fetch_add(&p->n_sleep, 1);
			futex_wait(&p->gen, seen);
			atomic_fetch_sub(&p->n_sleep, 1);
			spins = 0;
		}
		seen = g;
		if (atomic_load_explicit(&p->stop, memory_order_acquire))
			break;
		run_shares(p, 0);
	}
	return NULL;
}

struct pool *pool_new(int n_threads)
{
	struct pool *p;

	if (n_threads < 1 || n_threads > 1024)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->n = n_threads;
	/* Spinning only pays when every thread has a CPU of its own; with more
	 * threads than CPUs a spinner steals the time slice of the one it waits for. */
	const long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
	p->spin = n_cpu > 0 && n_threads > n_cpu ? 0 : POOL_SPIN;
	p->th = xcalloc((size_t)n_threads, sizeof(*p->th));
	if (posix_memalign((void **)&p->share, 64, sizeof(*p->share) * (size_t)n_threads))
		abort(); /* out of memory, like xmalloc */
	memset(p->share, 0, sizeof(*p->share) * (size_t)n_threads);
	atomic_init(&p->gen, 0);
	atomic_init(&p->n_sleep, 0);
	atomic_init(&p->stop, 0);
	atomic_init(&p->next, n_threads); /* nothing to claim until the first run */
	atomic_init(&p->done, 0);
	atomic_init(&p->caller_sleep, 0);
	for (int i = 1; i < n_threads; i++) {
		p->th[i].p = p;
		if (pthread_create(&p->th[i].tid, NULL, worker_main, &p->th[i])) {
			log_error("pool: cannot start thread %d of %d", i, n_threads);
			pool_free(p);
			return NULL;
		}
		p->th[i].started = 1;
	}
	return p;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	atomic_store(&p->stop, 1);
	atomic_fetch_add(&p->gen, 1);
	futex_wake(&p->gen, INT_MAX);
	for (int i = 1; i < p->n; i++)
		if (p->th[i].started)
			pthread_join(p->th[i].tid, NULL);
	for (int i = 0; i < p->n; i++)
		free(p->share[i].scratch);
	free(p->share);
	free(p->th);
	free(p);
}

int pool_size(const struct pool *p)
{
	return p ? p->n : 1;
}

void pool_run(struct pool *p, pool_fn fn, void *ctx)
{
	if (!p || p->n == 1) {
		fn(ctx, 0, 1);
		return;
	}
	p->fn = fn;
	p->ctx = ctx;
	atomic_store_explicit(&p->done, 0, memory_order_relaxed);
	atomic_store_explicit(&p->next, 1, memory_order_release); /* share 0 is the caller's */
	atomic_fetch_add(&p->gen, 1); /* seq_cst */
	if (atomic_load(&p->n_sleep) > 0)
		futex_wake(&p->gen, INT_MAX);

	fn(ctx, 0, p->n);
	atomic_fetch_add(&p->done, 1);
	run_shares(p, 1); /* shares no running worker has claimed yet */

	const unsigned want = (unsigned)p->n;
	int spins = 0;
	unsigned d;
	while ((d = atomic_load_explicit(&p->done, memory_order_acquire)) != want) {
		if (++spins < p->spin) {
			cpu_relax();
			continue;
		}
		atomic_store(&p->caller_sleep, 1);
		d = atomic_load(&p->done);
		if (d != want)
			futex_wait(&p->done, d);
		atomic_store(&p->caller_sleep, 0);
		spins = 0;
	}
}

void *pool_scratch(struct pool *p, int ith, size_t size)
{
	struct pool_share *t = &p->share[ith];

	if (size > t->scratch_size) {
		void *m;
		size = (size + 4095) & ~(size_t)4095;
		if (posix_memalign(&m, 64, size))
			abort(); /* out of memory, like xmalloc */
		free(t->scratch);
		t->scratch = m;
		t->scratch_size = size;
	}
	return t->scratch;
}

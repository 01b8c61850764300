/*
 * pool.h: a persistent thread pool for the forward pass. Threads are
 * created once; pool_run wakes them, runs fn(ctx, ith, nth) once for each
 * share ith < nth (nth = the pool size) and returns when all are done. Work
 * is split by the callee from (ith, nth), so results do not depend on
 * scheduling. ith names a share of the work, not an OS thread: the caller
 * runs share 0 and then any share no worker has started yet (a busy machine
 * may not have scheduled it), so never keep per-thread state keyed by ith
 * outside pool_scratch.
 */
#ifndef HD_INFER_POOL_H
#define HD_INFER_POOL_H

#include <stddef.h>

struct pool;

typedef void (*pool_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1, counting the caller. NULL if the threads cannot be
 * started (or n_threads is out of range, 1..1024). */
struct pool *pool_new(int n_threads);
void pool_free(struct pool *p);
int pool_size(const struct pool *p);
/* Not reentrant: one pool_run at a time per pool. p may be NULL (runs fn on
 * the caller alone, nth = 1). */
void pool_run(struct pool *p, pool_fn fn, void *ctx);

/* A 64-byte aligned buffer of at least size bytes private to share ith,
 * for use inside fn while running that share (or by the caller between
 * runs). It grows (allocates) only when a larger size is first asked for,
 * so steady-state runs allocate nothing; it stays valid until the next
 * larger request for the same ith or pool_free. p must not be NULL. */
void *pool_scratch(struct pool *p, int ith, size_t size);

#endif

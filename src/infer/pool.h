/*
 * pool.h: a persistent thread pool for the forward pass. Threads are
 * created once; pool_run wakes them, runs fn on every thread (the caller is
 * thread 0) and returns when all are done. Work is split by the callee from
 * (ith, nth), so results do not depend on scheduling.
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

/* A 64-byte aligned buffer of at least size bytes private to thread ith
 * (0 is the caller), for use inside fn by that thread (or by the caller
 * between runs for ith = 0). It grows (allocates) only when a larger size is
 * first asked for, so steady-state runs allocate nothing; it stays valid
 * until the next larger request for the same ith or pool_free. */
void *pool_scratch(struct pool *p, int ith, size_t size);

#endif

/*
 * pool.h: a persistent thread pool for the forward pass. Threads are
 * created once; pool_run wakes them, runs fn on every thread (the caller is
 * thread 0) and returns when all are done. Work is split by the callee from
 * (ith, nth), so results do not depend on scheduling.
 */
#ifndef HD_INFER_POOL_H
#define HD_INFER_POOL_H

struct pool;

typedef void (*pool_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1, counting the caller. */
struct pool *pool_new(int n_threads);
void pool_free(struct pool *p);
int pool_size(const struct pool *p);
/* Not reentrant: one pool_run at a time per pool. */
void pool_run(struct pool *p, pool_fn fn, void *ctx);

#endif

/*
 * matmul.c: out = W x^T over the thread pool.
 *
 * 1. The n_tok activation rows are quantized ("packed", kern_impl.h) into
 *    the caller's scratch, split over the threads when there are several.
 * 2. The weight rows are cut into tiles of tile_m rows. A thread takes the
 *    next unclaimed group of tiles (an atomic counter), unpacks each tile
 *    into its own pool scratch (so the weights are read from memory once)
 *    and multiplies it with every activation row, tile_n at a time, in the
 *    ISA's register-blocked dot kernel.
 *
 * Every output element is one dot product computed by one kernel call in a
 * fixed order, and the packed kernels give the same bits for an element
 * whatever tile it falls in, so the result does not depend on the thread
 * count or on which thread took which rows.
 */
#include "infer/kern_impl.h"

#include "core/core.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#ifndef ROWS_PER_ITEM_GEMV
#define ROWS_PER_ITEM_GEMV 32 /* rows a thread claims at once when n_tok is small */
#endif
#ifndef PF_TILES
#define PF_TILES 1 /* how many tiles ahead the generation path prefetches */
#endif
/* k-slice of a generation-sized matmul (a multiple of 256): a 6-10 KB tile */
#define KS_GEMV(G) ((G) == 16 ? 256 : 512)
#ifndef KC_INT
#define KC_INT 2048 /* k-slice: 4 rows of levels + lane scales = 16 KB, in L1 */
#endif
#ifndef KC_FLOAT
#define KC_FLOAT 1024 /* 6 rows of floats = 24 KB */
#endif

struct mm_ctx {
	struct pool *pool;
	const struct kern_isa_ops *o;
	uint32_t t;
	struct kern_shape sh;
	const uint8_t *w;
	size_t w_row; /* bytes per weight row */
	int64_t n_rows, n_tok;
	const float *x;
	uint8_t *xp; /* packed activations, n_tok rows of sh.stride */
	float *out;
	int64_t rows_per_item;
	atomic_llong next_item;
};

size_t kern_matmul_scratch_size(uint32_t t, int64_t n_cols, int64_t n_tok)
{
	struct kern_shape sh;
	if (n_tok < 1 || kern_shape_init(&sh, t, n_cols))
		return 0;
	return sh.stride * (size_t)n_tok + 64;
}

static void pack_worker(void *arg, int ith, int nth)
{
	struct mm_ctx *c = arg;
	const int64_t per = (c->n_tok + nth - 1) / nth;
	const int64_t j0 = per * ith, j1 = HD_MIN(c->n_tok, j0 + per);
	for (int64_t j = j0; j < j1; j++)
		c->o->pack[c->t](c->x + j * c->sh.k, &c->sh, c->xp + (size_t)j * c->sh.stride);
}

/* Streaming the weights: the hardware prefetcher loses the stream while a
 * tile computes, so ask for the rows of the next tile ahead of time. */
static void prefetch(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 64)
		__builtin_prefetch(p + i, 0, 3);
}

/* The int path. Prompt-sized batches: the whole tile is unpacked once, then
 * k-slices of it meet every activation row. Generation-sized ones: each
 * k-slice is unpacked and used at once, so the tile never leaves L1, while
 * the next tile's rows are prefetched. */
static void mm_rows_int(struct mm_ctx *c, int64_t i, int mr, uint8_t *wbuf, float *accb)
{
	const struct kern_isa_ops *o = c->o;
	const int tm = o->rows;
	const int64_t k = c->sh.k, G = c->sh.group;
	const size_t wblk = kern_wblk(&c->sh, tm);
	const uint8_t *rows = c->w + (size_t)i * c->w_row;

	if (c->n_tok >= 4) {
		o->unpack_tile[c->t](rows, c->w_row, mr, &c->sh, 0, c->sh.nb, wbuf, NULL, 0);
		for (int64_t k0 = 0; k0 < k; k0 += KC_INT) {
			const int64_t k1 = HD_MIN(k, k0 + KC_INT);
			const struct kern_span sp = {k0, k1, k0 == 0, k1 == k, accb, tm};
			o->tile_int(mr, (int)c->n_tok, &c->sh, wbuf + wblk * (size_t)(k0 / G),
			            c->xp, &sp, c->out + i, c->n_rows);
		}
		return;
	}
	const uint8_t *pf = NULL;
	size_t pf_len = 0;
	if (i + PF_TILES * tm < c->n_rows) {
		pf = c->w + (size_t)(i + PF_TILES * tm) * c->w_row;
		pf_len = c->w_row * (size_t)HD_MIN((int64_t)tm, c->n_rows - i - PF_TILES * tm);
	}
	if (o->gemv && mr == tm) { /* fused: no tile to keep small, one pass */
		const struct kern_span sp = {0, k, 1, 1, accb, tm};
		o->gemv(c->t, rows, c->w_row, &c->sh, c->xp, (int)c->n_tok, &sp, c->out + i,
		        c->n_rows, pf, pf_len);
		return;
	}
	for (int64_t k0 = 0; k0 < k; k0 += KS_GEMV(G)) {
		const int64_t k1 = HD_MIN(k, k0 + KS_GEMV(G));
		const size_t p0 = pf_len * (size_t)k0 / (size_t)k,
		             p1 = pf_len * (size_t)k1 / (size_t)k;
		const struct kern_span sp = {k0, k1, k0 == 0, k1 == k, accb, tm};
		o->unpack_tile[c->t](rows, c->w_row, mr, &c->sh, k0 / G, k1 / G, wbuf,
		                     pf ? pf + p0 : NULL, p1 - p0);
		o->tile_int(mr, (int)c->n_tok, &c->sh, wbuf, c->xp, &sp, c->out + i, c->n_rows);
	}
}

static void mm_worker(void *arg, int ith, int nth)
{
	struct mm_ctx *c = arg;
	const struct kern_isa_ops *o = c->o;
	const int is_int = c->sh.path == KERN_PATH_INT;
	const int tm = is_int ? o->rows : o->tile_m_float;
	size_t wsize, asize;
	if (is_int) {
		const int64_t blocks =
		        c->n_tok >= 4 ? c->sh.nb : KS_GEMV(c->sh.group) / c->sh.group;
		wsize = kern_wblk(&c->sh, tm) * (size_t)blocks;
		asize = (size_t)tm * (size_t)c->n_tok * sizeof(float);
	} else {
		wsize = (size_t)tm * c->sh.stride;
		asize = (size_t)tm * (size_t)c->n_tok * 16 * sizeof(float);
	}
	wsize = (wsize + 63) & ~(size_t)63;
	uint8_t *wbuf = pool_scratch(c->pool, ith, wsize + asize);
	float *accb = (float *)(void *)(wbuf + wsize);
	(void)nth;

	for (;;) {
		const int64_t item =
		        atomic_fetch_add_explicit(&c->next_item, 1, memory_order_relaxed);
		const int64_t r0 = item * c->rows_per_item;
		if (r0 >= c->n_rows)
			break;
		const int64_t r1 = HD_MIN(c->n_rows, r0 + c->rows_per_item);
		for (int64_t i = r0; i < r1; i += tm) {
			const int mr = (int)HD_MIN((int64_t)tm, r1 - i);
			if (is_int) {
				mm_rows_int(c, i, mr, wbuf, accb);
				continue;
			}
			if (c->n_tok < 4 && o->gemv_float) {
				const int64_t next = HD_MIN((int64_t)tm, c->n_rows - i - tm);
				o->gemv_float(c->t, c->w + (size_t)i * c->w_row, c->w_row, mr,
				              &c->sh, c->xp, (int)c->n_tok, c->out + i, c->n_rows,
				              next > 0 ? c->w + (size_t)(i + tm) * c->w_row : NULL,
				              next > 0 ? c->w_row * (size_t)next : 0);
				continue;
			}
			if (c->n_tok < 4 && i + tm < c->n_rows)
				prefetch(c->w + (size_t)(i + tm) * c->w_row,
				         c->w_row *
				                 (size_t)HD_MIN((int64_t)tm, c->n_rows - i - tm));
			for (int r = 0; r < mr; r++)
				o->unpack[c->t](c->w + (size_t)(i + r) * c->w_row, &c->sh,
				                wbuf + (size_t)r * c->sh.stride);
			/* k-slices: the tile's slice of weights stays in L1 while every
			 * activation row passes by */
			const int64_t kend = c->sh.kp;
			const int sliced = c->n_tok >= 4 && kend > KC_FLOAT;
			for (int64_t k0 = 0; k0 < kend; k0 += sliced ? KC_FLOAT : kend) {
				const int64_t k1 = sliced ? HD_MIN(kend, k0 + KC_FLOAT) : kend;
				const struct kern_span sp = {k0, k1, k0 == 0, k1 == kend, accb, tm};
				const int tn = o->tile_n_float;
				for (int64_t j = 0; j < c->n_tok; j += tn) {
					struct kern_span spj = sp;
					const int nr = (int)HD_MIN((int64_t)tn, c->n_tok - j);
					spj.acc = accb + j * tm * 16;
					o->tile_float(mr, nr, &c->sh, wbuf,
					              c->xp + (size_t)j * c->sh.stride, &spj,
					              c->out + j * c->n_rows + i, c->n_rows);
				}
			}
		}
	}
}

void kern_matmul(struct pool *p, uint32_t t, const void *w, int64_t n_rows, int64_t n_cols,
                 const float *x, int64_t n_tok, float *out, void *scratch)
{
	struct mm_ctx c;
	size_t w_row;

	memset(&c, 0, sizeof(c));
	if (n_rows < 1 || n_tok < 1 || kern_shape_init(&c.sh, t, n_cols) ||
	    tensor_row_size(t, n_cols, &w_row)) {
		for (int64_t i = 0; i < (n_rows > 0 && n_tok > 0 ? n_rows * n_tok : 0); i++)
			out[i] = NAN; /* a caller bug: the model loader checks types and shapes */
		return;
	}
	c.pool = p;
	c.o = kern_ops();
	c.t = t;
	c.w = w;
	c.w_row = w_row;
	c.n_rows = n_rows;
	c.n_tok = n_tok;
	c.x = x;
	c.xp = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
	c.out = out;
	atomic_init(&c.next_item, 0);

	const int nth = pool_size(p);
	if (n_tok >= 4 && nth > 1)
		pool_run(p, pack_worker, &c);
	else
		pack_worker(&c, 0, 1);

	/* Small batches are memory-bound: hand out rows in larger groups. Large
	 * ones: one tile at a time, so the threads finish together. */
	const int tm = c.sh.path == KERN_PATH_INT ? c.o->rows : c.o->tile_m_float;
	c.rows_per_item = n_tok < 4 ? ROWS_PER_ITEM_GEMV : tm;
	if (c.rows_per_item % tm)
		c.rows_per_item += tm - c.rows_per_item % tm;
	pool_run(p, mm_worker, &c);
}

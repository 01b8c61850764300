/*
 * matmul.c: out = W x^T over the thread pool, for one weight matrix or for
 * several that share their input (a layer's q, k and v; gate and up).
 *
 * 1. The n_tok activation rows are quantized ("packed", kern_impl.h) into
 *    the caller's scratch once per packing the matrices need, split over the
 *    threads when there are many rows.
 * 2. The weight rows are cut into items of whole tiles, numbered across all
 *    the matrices, and the items into one contiguous stretch per thread.
 *    A thread takes the items of its stretch in order (streaming its part
 *    of the weights from front to back), then the last items left in the
 *    others' stretches, and runs the ISA's kernels on each: for a
 *    prompt-sized batch (more than 32 rows) each tile is unpacked once and
 *    its k-slices meet every activation row; for a decode-sized one (a
 *    token, or one token from each of several sessions) the fused kernel
 *    reads the weights straight from the GGUF rows once for all the rows
 *    (as many as the ISA's gemv_rows; past that a tile is unpacked a slice
 *    at a time into L1) and prefetches the next tile's.
 *
 * Every output element is computed by one kernel call with a fixed order of
 * operations, whatever tile, slice or thread it falls to, so the result does
 * not depend on the thread count and a batch row equals the same row alone.
 */
#include "infer/kern_impl.h"

#include "core/core.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#ifndef ROWS_PER_ITEM_GEMV
#define ROWS_PER_ITEM_GEMV 64 /* rows a thread claims at once when n_tok is small */
#endif
/* Batches up to this many rows are decode-sized: the weights stream from
 * memory once for all of them, a k-slice of a tile at a time (prefetched,
 * unpacked into L1, then met by every activation row); larger ones are
 * prompt-sized (a whole tile unpacked, then k-sliced over the rows). */
#ifndef SMALL_TOK
#define SMALL_TOK 32
#endif
#define GEMV_TOK 3 /* the fused kernels take up to this many rows (unless the ops say) */
#define GEMV_ROWS(o) ((o)->gemv_rows ? (int64_t)(o)->gemv_rows : GEMV_TOK)
/* k-slice of a generation-sized matmul (a multiple of 256): a 6-10 KB tile */
#ifndef PF_BLOCKS
#define PF_BLOCKS 48 /* blocks of work between a prefetch and its use, at least */
#endif
#define KS_GEMV(G) ((G) == 16 ? 256 : 512)
#ifndef KC_INT
#define KC_INT 2048 /* k-slice of a prompt-sized one: 16 rows x 2048 = 40 KB of tile */
#endif
#ifndef KC_FLOAT
#define KC_FLOAT 1024 /* 6 rows of floats = 24 KB */
#endif

struct mm_mat {
	uint32_t t;
	struct kern_shape sh;
	const uint8_t *w;
	size_t w_row; /* bytes per weight row */
	int64_t n_rows;
	float *out;
	uint8_t *xp; /* packed activations (possibly another matrix's), n_tok rows */
	int own_pack; /* this matrix packs xp */
	int tm; /* rows per tile */
	int pf_tiles; /* how many tiles ahead generation prefetches */
	int64_t rows_per_item, first_item, n_items;
};

/* The items still to do of one share: [lo, hi) packed in one word, lo in
 * the low 32 bits. The owner takes items from the front, in order, so it
 * streams through one contiguous stretch of the weights (and knows which
 * rows come next, to prefetch them); a share that has run out takes them
 * from the back of another's. */
#ifndef MM_RANGES
#define MM_RANGES 64
#endif
struct mm_range {
	_Alignas(64) atomic_ullong v;
};

struct mm_ctx {
	struct pool *pool;
	const struct kern_isa_ops *o;
	int64_t n_tok;
	const float *x;
	int n_mat;
	struct mm_mat mat[KERN_MULTI_MAX];
	int64_t n_items;
	size_t wsize, asize; /* per-thread tile buffer and accumulators */
	int n_ranges;
	struct mm_range ranges[MM_RANGES];
};

/* Two matrices can share packed activations if they pack them alike. */
static int same_pack(const struct kern_shape *a, uint32_t ta, const struct kern_shape *b,
                     uint32_t tb)
{
	if (a->path != b->path)
		return 0;
	if (a->path == KERN_PATH_FLOAT)
		return ta == tb;
	return kern_vec_dot_type(ta) == kern_vec_dot_type(tb) && a->group == b->group;
}

static size_t packed_size(const struct kern_shape *sh, int64_t n_tok)
{
	return sh->stride * (size_t)n_tok + 64;
}

size_t kern_matmul_multi_scratch_size(const struct kern_mat *m, int n_mat, int64_t n_cols,
                                      int64_t n_tok)
{
	struct kern_shape sh[KERN_MULTI_MAX];
	size_t size = 0;
	if (n_mat < 1 || n_mat > KERN_MULTI_MAX || n_tok < 1)
		return 0;
	for (int i = 0; i < n_mat; i++) {
		int shared = 0;
		if (kern_shape_init(&sh[i], m[i].t, n_cols))
			return 0;
		for (int j = 0; j < i && !shared; j++)
			shared = same_pack(&sh[i], m[i].t, &sh[j], m[j].t);
		if (!shared)
			size += packed_size(&sh[i], n_tok);
	}
	return size;
}

size_t kern_matmul_scratch_size(uint32_t t, int64_t n_cols, int64_t n_tok)
{
	const struct kern_mat m = {t, NULL, 1, NULL};
	return kern_matmul_multi_scratch_size(&m, 1, n_cols, n_tok);
}

static void pack_worker(void *arg, int ith, int nth)
{
	struct mm_ctx *c = arg;
	for (int m = 0; m < c->n_mat; m++) {
		const struct mm_mat *mm = &c->mat[m];
		if (!mm->own_pack)
			continue;
		const int64_t per = (c->n_tok + nth - 1) / nth;
		const int64_t j0 = per * ith, j1 = HD_MIN(c->n_tok, j0 + per);
		for (int64_t j = j0; j < j1; j++)
			c->o->pack[mm->t](c->x + j * mm->sh.k, &mm->sh,
			                  mm->xp + (size_t)j * mm->sh.stride);
	}
}

/* Streaming the weights: the hardware prefetcher loses the stream while a
 * tile computes, so ask for the rows of the next tile ahead of time. */
static void prefetch(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 64)
		__builtin_prefetch(p + i, 0, 3);
}

/* The int path for rows [i, i + mr) of one matrix; next: the first row of
 * the tile this thread will probably do next (-1: none). */
static void rows_int(const struct mm_ctx *c, const struct mm_mat *m, int64_t i, int mr,
                     int64_t next, uint8_t *wbuf, float *accb)
{
	const struct kern_isa_ops *o = c->o;
	const int tm = m->tm;
	const int64_t k = m->sh.k, G = m->sh.group;
	const size_t wblk = kern_wblk(&m->sh, tm);
	const uint8_t *rows = m->w + (size_t)i * m->w_row;

	if (c->n_tok > SMALL_TOK) {
		/* prompt-sized: unpack the tile once, then its k-slices meet every
		 * activation row while they stay in cache */
		o->unpack_tile[m->t](rows, m->w_row, mr, &m->sh, 0, m->sh.nb, wbuf, NULL, 0);
		for (int64_t k0 = 0; k0 < k; k0 += KC_INT) {
			const int64_t k1 = HD_MIN(k, k0 + KC_INT);
			const struct kern_span sp = {k0, k1, k0 == 0, k1 == k, accb, tm};
			o->tile_int(mr, (int)c->n_tok, &m->sh, wbuf + wblk * (size_t)(k0 / G),
			            m->xp, &sp, m->out + i, m->n_rows);
		}
		return;
	}
	/* generation-sized: prefetch the next tile's rows meanwhile */
	const uint8_t *pf = NULL;
	size_t pf_len = 0;
	if (next >= 0 && next < m->n_rows) {
		pf = m->w + (size_t)next * m->w_row;
		pf_len = m->w_row * (size_t)HD_MIN((int64_t)tm, m->n_rows - next);
	}
	if (o->gemv && mr == tm && c->n_tok <= GEMV_ROWS(o)) {
		/* fused: no tile, one pass */
		const struct kern_span sp = {0, k, 1, 1, accb, tm};
		o->gemv(m->t, rows, m->w_row, &m->sh, m->xp, (int)c->n_tok, &sp, m->out + i,
		        m->n_rows, pf, pf_len);
		return;
	}
	for (int64_t k0 = 0; k0 < k; k0 += KS_GEMV(G)) { /* slices small enough for L1 */
		const int64_t k1 = HD_MIN(k, k0 + KS_GEMV(G));
		const size_t p0 = pf_len * (size_t)k0 / (size_t)k;
		const size_t p1 = pf_len * (size_t)k1 / (size_t)k;
		const struct kern_span sp = {k0, k1, k0 == 0, k1 == k, accb, tm};
		o->unpack_tile[m->t](rows, m->w_row, mr, &m->sh, k0 / G, k1 / G, wbuf,
		                     pf ? pf + p0 : NULL, p1 - p0);
		o->tile_int(mr, (int)c->n_tok, &m->sh, wbuf, m->xp, &sp, m->out + i, m->n_rows);
	}
}

/* The float path for rows [i, i + mr) of one matrix; next as rows_int. */
static void rows_float(const struct mm_ctx *c, const struct mm_mat *m, int64_t i, int mr,
                       int64_t next, uint8_t *wbuf, float *accb)
{
	const struct kern_isa_ops *o = c->o;
	const int tm = m->tm;
	const int64_t n_next = next >= 0 ? HD_MIN((int64_t)tm, m->n_rows - next) : 0;
	const uint8_t *pf = n_next > 0 ? m->w + (size_t)next * m->w_row : NULL;

	if (c->n_tok <= GEMV_ROWS(o) && o->gemv_float) {
		o->gemv_float(m->t, m->w + (size_t)i * m->w_row, m->w_row, mr, &m->sh, m->xp,
		              (int)c->n_tok, m->out + i, m->n_rows, pf,
		              pf ? m->w_row * (size_t)n_next : 0);
		return;
	}
	if (c->n_tok <= GEMV_TOK && pf)
		prefetch(pf, m->w_row * (size_t)n_next);
	for (int r = 0; r < mr; r++)
		o->unpack[m->t](m->w + (size_t)(i + r) * m->w_row, &m->sh,
		                wbuf + (size_t)r * m->sh.stride);
	/* k-slices: the tile's slice of weights stays in L1 while every
	 * activation row passes by */
	const int64_t kend = m->sh.kp;
	const int sliced = c->n_tok > GEMV_TOK && kend > KC_FLOAT;
	const int tn = o->tile_n_float;
	for (int64_t k0 = 0; k0 < kend; k0 += sliced ? KC_FLOAT : kend) {
		const int64_t k1 = sliced ? HD_MIN(kend, k0 + KC_FLOAT) : kend;
		const struct kern_span sp = {k0, k1, k0 == 0, k1 == kend, accb, tm};
		for (int64_t j = 0; j < c->n_tok; j += tn) {
			struct kern_span spj = sp;
			const int nr = (int)HD_MIN((int64_t)tn, c->n_tok - j);
			spj.acc = accb + j * tm * 16;
			o->tile_float(mr, nr, &m->sh, wbuf, m->xp + (size_t)j * m->sh.stride, &spj,
			              m->out + j * m->n_rows + i, m->n_rows);
		}
	}
}

static uint64_t range_pack(uint64_t lo, uint64_t hi)
{
	return lo | hi << 32;
}

/* Takes the first item of r (front) or its last (back); -1 if empty. */
static int64_t range_take(struct mm_range *r, int front)
{
	uint64_t v = atomic_load_explicit(&r->v, memory_order_relaxed);
	for (;;) {
		const uint64_t lo = v & 0xffffffffu, hi = v >> 32;
		if (lo >= hi)
			return -1;
		const uint64_t nv = front ? range_pack(lo + 1, hi) : range_pack(lo, hi - 1);
		if (atomic_compare_exchange_weak_explicit(&r->v, &v, nv, memory_order_relaxed,
		                                          memory_order_relaxed))
			return (int64_t)(front ? lo : hi - 1);
	}
}

/* The item range_take(r, front) would return now, or -1. */
static int64_t range_peek(struct mm_range *r, int front)
{
	const uint64_t v = atomic_load_explicit(&r->v, memory_order_relaxed);
	const uint64_t lo = v & 0xffffffffu, hi = v >> 32;
	return lo < hi ? (int64_t)(front ? lo : hi - 1) : -1;
}

static const struct mm_mat *item_mat(const struct mm_ctx *c, int64_t item)
{
	int m = 0;
	while (item >= c->mat[m].first_item + c->mat[m].n_items)
		m++;
	return &c->mat[m];
}

static void mm_worker(void *arg, int ith, int nth)
{
	struct mm_ctx *c = arg;
	uint8_t *wbuf = pool_scratch(c->pool, ith, c->wsize + c->asize);
	float *accb = (float *)(void *)(wbuf + c->wsize);
	struct mm_range *own = &c->ranges[ith % c->n_ranges];
	(void)nth;

	for (;;) {
		struct mm_range *from = own;
		int64_t item = range_take(own, 1);
		for (int v = 1; item < 0 && v < c->n_ranges; v++) {
			from = &c->ranges[(ith + v) % c->n_ranges];
			item = range_take(from, 0);
		}
		if (item < 0)
			break;
		const struct mm_mat *mm = item_mat(c, item);
		const int64_t r0 = (item - mm->first_item) * mm->rows_per_item;
		const int64_t r1 = HD_MIN(mm->n_rows, r0 + mm->rows_per_item);
		for (int64_t i = r0; i < r1; i += mm->tm) {
			const int mr = (int)HD_MIN((int64_t)mm->tm, r1 - i);
			/* the rows to prefetch: a tile of this item far enough ahead
			 * to hide the memory latency (short rows go quickly), or past
			 * its end one of the item this share will probably take next
			 * (another may take it first, which costs only the hint) */
			int64_t next = i + mm->pf_tiles * mm->tm;
			if (next >= r1) {
				const int64_t ni = range_peek(from, from == own);
				next = ni >= mm->first_item && ni < mm->first_item + mm->n_items
				               ? (ni - mm->first_item) * mm->rows_per_item + next -
				                         r1
				               : -1;
			}
			if (mm->sh.path == KERN_PATH_INT)
				rows_int(c, mm, i, mr, next, wbuf, accb);
			else
				rows_float(c, mm, i, mr, next, wbuf, accb);
		}
	}
}

void kern_matmul_multi(struct pool *p, const struct kern_mat *mats, int n_mat, int64_t n_cols,
                       const float *x, int64_t n_tok, void *scratch)
{
	struct mm_ctx c;
	uint8_t *sp = (uint8_t *)scratch;
	int bad = n_mat < 1 || n_mat > KERN_MULTI_MAX || n_tok < 1;

	memset(&c, 0, sizeof(c));
	c.pool = p;
	c.o = kern_ops();
	c.n_tok = n_tok;
	c.x = x;
	c.n_mat = bad ? 0 : n_mat;
	for (int i = 0; i < c.n_mat && !bad; i++) {
		struct mm_mat *m = &c.mat[i];
		m->t = mats[i].t;
		m->w = mats[i].w;
		m->n_rows = mats[i].n_rows;
		m->out = mats[i].out;
		bad = m->n_rows < 1 || kern_shape_init(&m->sh, m->t, n_cols) ||
		      tensor_row_size(m->t, n_cols, &m->w_row);
	}
	if (bad) {
		/* a caller bug: the model loader checks types and shapes */
		for (int i = 0; n_tok > 0 && i < n_mat && i < KERN_MULTI_MAX; i++)
			for (int64_t e = 0; e < (mats[i].n_rows > 0 ? mats[i].n_rows * n_tok : 0);
			     e++)
				mats[i].out[e] = NAN;
		return;
	}
	for (int i = 0; i < n_mat; i++) {
		struct mm_mat *m = &c.mat[i];
		const int is_int = m->sh.path == KERN_PATH_INT;
		for (int j = 0; j < i && !m->xp; j++)
			if (same_pack(&m->sh, m->t, &c.mat[j].sh, c.mat[j].t))
				m->xp = c.mat[j].xp;
		if (!m->xp) {
			m->xp = (uint8_t *)(((uintptr_t)sp + 63) & ~(uintptr_t)63);
			m->own_pack = 1;
			sp += packed_size(&m->sh, n_tok);
		}
		m->tm = is_int ? c.o->rows : c.o->tile_m_float;
		/* small batches are memory-bound: rows in larger groups; large
		 * ones one tile at a time, so the threads finish together */
		const int small = n_tok <= (is_int            ? SMALL_TOK
		                            : c.o->gemv_float ? GEMV_ROWS(c.o)
		                                              : GEMV_TOK);
		m->rows_per_item = small ? ROWS_PER_ITEM_GEMV : m->tm;
		if (m->rows_per_item % m->tm)
			m->rows_per_item += m->tm - m->rows_per_item % m->tm;
		/* at least ~48 blocks of work between a prefetch and its use */
		m->pf_tiles = (int)HD_MAX(1, HD_MIN(4, PF_BLOCKS / HD_MAX(1, n_cols / 32)));
		m->first_item = c.n_items;
		m->n_items = (m->n_rows + m->rows_per_item - 1) / m->rows_per_item;
		c.n_items += m->n_items;
		const size_t ws =
		        is_int ? kern_wblk(&m->sh, m->tm) *
		                         (size_t)(small ? KS_GEMV(m->sh.group) / m->sh.group
		                                        : m->sh.nb)
		               : (size_t)m->tm * m->sh.stride;
		const size_t as = (size_t)m->tm * (size_t)n_tok * sizeof(float) * (is_int ? 1 : 16);
		c.wsize = HD_MAX(c.wsize, (ws + 63) & ~(size_t)63);
		c.asize = HD_MAX(c.asize, as);
	}
	/* each share starts on its own contiguous stretch of the items */
	c.n_ranges = (int)HD_MIN((int64_t)HD_MIN(pool_size(p), MM_RANGES), c.n_items);
	c.n_ranges = HD_MAX(c.n_ranges, 1);
	for (int r = 0; r < c.n_ranges; r++)
		atomic_init(&c.ranges[r].v,
		            range_pack((uint64_t)(c.n_items * r / c.n_ranges),
		                       (uint64_t)(c.n_items * (r + 1) / c.n_ranges)));

	/* a decode-sized batch packs in microseconds: not worth a pool run
	 * (one more wait for every thread, long when one is descheduled) */
	if (n_tok > SMALL_TOK && pool_size(p) > 1)
		pool_run(p, pack_worker, &c);
	else
		pack_worker(&c, 0, 1);
	pool_run(p, mm_worker, &c);
}

void kern_matmul(struct pool *p, uint32_t t, const void *w, int64_t n_rows, int64_t n_cols,
                 const float *x, int64_t n_tok, float *out, void *scratch)
{
	const struct kern_mat m = {t, w, n_rows, out};
	kern_matmul_multi(p, &m, 1, n_cols, x, n_tok, scratch);
}

/*
 * model_exec.c: sessions (a KV cache each), execs (thread pool and
 * preallocated activations) and the forward pass of the llama/qwen2
 * decoder over a batch of (session, position, token) items.
 *
 * Per layer, for the whole batch at once:
 *   xb = rmsnorm(x) * attn_norm
 *   q, k, v = Wq xb (+ bq), Wk xb (+ bk), Wv xb (+ bv)      one matmul each
 *   rope(q, k) at each item's position; k, v stored (f16) in the item's session
 *   att = softmax(q k^T / sqrt(head_dim)) v  over positions [0, pos] of the session
 *   x += Wo att
 *   xb = rmsnorm(x) * ffn_norm
 *   x += W_down (silu(W_gate xb) * (W_up xb))
 * then logits = W_out (rmsnorm(x) * output_norm) for the items that ask.
 * All keys and values of the batch are stored before attention runs, so a
 * prompt processed in one call attends causally just as token by token.
 */
#include "infer/model.h"

#include "core/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct infer_exec {
	const struct infer_model *m;
	struct pool *pool;
	int n_threads;
	int32_t max_batch;
	int32_t max_ctx; /* attention scratch covers this many positions */
	/* activations, (max_batch, width) each */
	float *x, *xb, *xb2, *q, *k, *v, *att, *hb, *hb2;
	float *fused; /* (max_batch, max(n_q + 2 n_kv, 2 n_ff)): fused matmul outputs */
	float *rope_cs; /* (max_batch, n_rot) */
	float *logits; /* (max_batch, n_vocab) */
	int32_t *out_row; /* item -> logits row, -1 if none */
	int32_t *out_item;
	struct infer_batch_item *eval_items; /* (max_batch), for infer_eval */
	void *mm_scratch;
	/* attention scratch per thread */
	float *att_s; /* (n_threads, max_ctx) */
	float *att_q; /* (n_threads, head_dim) */
	/* the batch being run (for the pool callbacks) */
	const struct infer_batch_item *items;
	int32_t n_items;
	int32_t layer;
	int32_t n_out;
};

/* ---- sessions ------------------------------------------------------------ */

struct infer_session *infer_session_new(const struct infer_model *m, int32_t n_ctx)
{
	const struct infer_hparams *hp = &m->hp;
	struct infer_session *s = xcalloc(1, sizeof(*s));
	if (n_ctx <= 0 || n_ctx > hp->n_ctx_train)
		n_ctx = hp->n_ctx_train;
	s->m = m;
	s->n_ctx = n_ctx;
	s->kv_dim = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
	size_t n = (size_t)hp->n_layer * (size_t)n_ctx * s->kv_dim;
	s->k = xmalloc_array(n, sizeof(uint16_t));
	s->v = xmalloc_array(n, sizeof(uint16_t));
	return s;
}

void infer_session_free(struct infer_session *s)
{
	if (!s)
		return;
	free(s->k);
	free(s->v);
	free(s);
}

int32_t infer_session_n_ctx(const struct infer_session *s)
{
	return s->n_ctx;
}

int32_t infer_session_n_past(const struct infer_session *s)
{
	return s->n_past;
}

void infer_session_truncate(struct infer_session *s, int32_t n)
{
	if (n >= 0 && n < s->n_past)
		s->n_past = n;
}

/* ---- execs --------------------------------------------------------------- */

static size_t mm_scratch(const struct infer_weight *w, int32_t n_tok)
{
	return kern_matmul_scratch_size(w->type, w->n_cols, n_tok);
}

struct infer_exec *infer_exec_new(const struct infer_model *m, int n_threads, int32_t max_batch)
{
	const struct infer_hparams *hp = &m->hp;
	struct infer_exec *x = xcalloc(1, sizeof(*x));
	const size_t B = (size_t)(max_batch < 1 ? 1 : max_batch);
	const size_t n_q = (size_t)hp->n_head * (size_t)hp->head_dim;
	const size_t n_kv = (size_t)hp->n_head_kv * (size_t)hp->head_dim;

	x->m = m;
	x->n_threads = n_threads < 1 ? 1 : n_threads;
	x->pool = pool_new(x->n_threads);
	x->max_batch = (int32_t)B;
	x->max_ctx = hp->n_ctx_train;
	x->x = xmalloc_array(B * (size_t)hp->n_embd, sizeof(float));
	x->xb = xmalloc_array(B * HD_MAX((size_t)hp->n_embd, n_q), sizeof(float));
	x->xb2 = xmalloc_array(B * (size_t)hp->n_embd, sizeof(float));
	x->q = xmalloc_array(B * n_q, sizeof(float));
	x->k = xmalloc_array(B * n_kv, sizeof(float));
	x->v = xmalloc_array(B * n_kv, sizeof(float));
	x->att = xmalloc_array(B * n_q, sizeof(float));
	x->hb = xmalloc_array(B * (size_t)hp->n_ff, sizeof(float));
	x->hb2 = xmalloc_array(B * (size_t)hp->n_ff, sizeof(float));
	x->fused = xmalloc_array(B * HD_MAX(n_q + 2 * n_kv, 2 * (size_t)hp->n_ff), sizeof(float));
	x->rope_cs = xmalloc_array(B * (size_t)hp->n_rot, sizeof(float));
	x->logits = xmalloc_array(B * (size_t)hp->n_vocab, sizeof(float));
	x->out_row = xmalloc_array(B, sizeof(int32_t));
	x->out_item = xmalloc_array(B, sizeof(int32_t));
	x->eval_items = xmalloc_array(B, sizeof(*x->eval_items));
	size_t sc = mm_scratch(&m->output, (int32_t)B);
	for (int32_t l = 0; l < hp->n_layer; l++) {
		const struct infer_layer *ly = &m->layers[l];
		const struct infer_weight *ws[] = {&ly->wq,     &ly->wk,   &ly->wv,    &ly->wo,
		                                   &ly->w_gate, &ly->w_up, &ly->w_down};
		for (size_t i = 0; i < ARRAY_SIZE(ws); i++)
			sc = HD_MAX(sc, mm_scratch(ws[i], (int32_t)B));
	}
	x->mm_scratch = xmalloc(sc ? sc : 1);
	x->att_s = xmalloc_array((size_t)x->n_threads * (size_t)x->max_ctx, sizeof(float));
	x->att_q = xmalloc_array((size_t)x->n_threads * (size_t)hp->head_dim, sizeof(float));
	return x;
}

void infer_exec_free(struct infer_exec *x)
{
	if (!x)
		return;
	pool_free(x->pool);
	free(x->x);
	free(x->xb);
	free(x->xb2);
	free(x->q);
	free(x->k);
	free(x->v);
	free(x->att);
	free(x->hb);
	free(x->hb2);
	free(x->fused);
	free(x->rope_cs);
	free(x->logits);
	free(x->out_row);
	free(x->out_item);
	free(x->eval_items);
	free(x->mm_scratch);
	free(x->att_s);
	free(x->att_q);
	free(x);
}

int32_t infer_exec_max_batch(const struct infer_exec *x)
{
	return x->max_batch;
}

int infer_exec_n_threads(const struct infer_exec *x)
{
	return x->n_threads;
}

const float *infer_exec_logits(const struct infer_exec *x, int32_t i)
{
	if (i < 0 || i >= x->n_items || x->out_row[i] < 0)
		return NULL;
	return x->logits + (size_t)x->out_row[i] * (size_t)x->m->hp.n_vocab;
}

/* ---- the forward pass ---------------------------------------------------- */

static void matmul(struct infer_exec *x, const struct infer_weight *w, const float *in,
                   int32_t n_tok, float *out)
{
	kern_matmul(x->pool, w->type, w->data, w->n_rows, w->n_cols, in, n_tok, out, x->mm_scratch);
}

static void attn_task(void *ctx, int ith, int nth)
{
	struct infer_exec *x = ctx;
	const struct infer_hparams *hp = &x->m->hp;
	const int32_t n_head = hp->n_head, hd = hp->head_dim;
	const int32_t group = hp->n_head / hp->n_head_kv;
	const int64_t total = (int64_t)x->n_items * n_head;
	const int64_t per = (total + nth - 1) / nth;
	const int64_t begin = per * ith, end = HD_MIN(total, begin + per);
	const float scale = 1.0f / sqrtf((float)hd);
	float *s = x->att_s + (size_t)ith * (size_t)x->max_ctx;
	float *qf = x->att_q + (size_t)ith * (size_t)hd;
	const size_t n_q = (size_t)n_head * (size_t)hd;

	for (int64_t w = begin; w < end; w++) {
		const int32_t i = (int32_t)(w / n_head), head = (int32_t)(w % n_head);
		const struct infer_batch_item *it = &x->items[i];
		const struct infer_session *se = it->s;
		const size_t layer_off = (size_t)x->layer * (size_t)se->n_ctx * se->kv_dim;
		const size_t kv_off = layer_off + (size_t)(head / group) * (size_t)hd;
		ops_attn_head(x->att + (size_t)i * n_q + (size_t)head * (size_t)hd,
		              x->q + (size_t)i * n_q + (size_t)head * (size_t)hd, se->k + kv_off,
		              se->v + kv_off, se->kv_dim, hd, it->pos + 1, scale, s, qf);
	}
}

/* Moves the residual and attention rows of the items that want logits to
 * rows 0..n_out-1 (in item order) and records the item -> row map. */
static int32_t compact_out_rows(struct infer_exec *x, const struct infer_batch_item *items,
                                int32_t n)
{
	const size_t n_embd = (size_t)x->m->hp.n_embd;
	const size_t n_q = (size_t)x->m->hp.n_head * (size_t)x->m->hp.head_dim;
	int32_t k = 0;
	for (int32_t i = 0; i < n; i++) {
		x->out_row[i] = -1;
		if (!items[i].logits)
			continue;
		if (k != i) {
			memcpy(x->x + (size_t)k * n_embd, x->x + (size_t)i * n_embd,
			       n_embd * sizeof(float));
			memcpy(x->att + (size_t)k * n_q, x->att + (size_t)i * n_q,
			       n_q * sizeof(float));
		}
		x->out_row[i] = k;
		x->out_item[k++] = i;
	}
	x->n_out = k;
	return k;
}

static int validate(struct infer_exec *x, const struct infer_batch_item *items, int32_t n,
                    char *err, size_t err_size)
{
	const struct infer_hparams *hp = &x->m->hp;
	if (n < 1 || n > x->max_batch)
		return hd_fail(err, err_size, HD_EINVAL, "infer: batch of %d items (1 to %d)", n,
		               x->max_batch);
	for (int32_t i = 0; i < n; i++) {
		const struct infer_batch_item *it = &items[i];
		if (!it->s || it->s->m != x->m)
			return hd_fail(err, err_size, HD_EINVAL,
			               "infer: item %d has no session of this model", i);
		if (it->token < 0 || it->token >= hp->n_vocab)
			return hd_fail(err, err_size, HD_EINVAL,
			               "infer: token id %d is outside the vocabulary (%d)",
			               it->token, hp->n_vocab);
		if (it->pos < 0 || it->pos >= it->s->n_ctx || it->pos >= x->max_ctx)
			return hd_fail(err, err_size, HD_EINVAL,
			               "infer: position %d is outside the context (%d)", it->pos,
			               it->s->n_ctx);
		int32_t prev = -1;
		for (int32_t j = i - 1; j >= 0; j--)
			if (items[j].s == it->s) {
				prev = j;
				break;
			}
		if (prev >= 0 ? it->pos != items[prev].pos + 1 : it->pos > it->s->n_past)
			return hd_fail(err, err_size, HD_EINVAL,
			               "infer: item %d: position %d does not follow the session's "
			               "previous position",
			               i, it->pos);
	}
	return 0;
}

int infer_forward(struct infer_exec *x, const struct infer_batch_item *items, int32_t n, char *err,
                  size_t err_size)
{
	const struct infer_model *m = x->m;
	const struct infer_hparams *hp = &m->hp;
	const int64_t n_embd = hp->n_embd, hd = hp->head_dim;
	const size_t n_q = (size_t)hp->n_head * (size_t)hd;
	const size_t n_kv = (size_t)hp->n_head_kv * (size_t)hd;
	int rc;

	x->n_items = 0;
	rc = validate(x, items, n, err, err_size);
	if (rc)
		return rc;
	x->items = items;
	x->n_items = n;
	int32_t rows = n; /* rows of x still computed */

	for (int32_t i = 0; i < n; i++) {
		const uint8_t *row = (const uint8_t *)m->tok_embd.data +
		                     (size_t)items[i].token * m->tok_embd.row_size;
		kern_dequantize_row(m->tok_embd.type, row, x->x + (size_t)i * (size_t)n_embd,
		                    n_embd);
		ops_rope_cache(x->rope_cs + (size_t)i * (size_t)hp->n_rot, items[i].pos, hp,
		               m->rope_freqs);
	}

	for (int32_t l = 0; l < hp->n_layer; l++) {
		const struct infer_layer *ly = &m->layers[l];
		x->layer = l;
		for (int32_t i = 0; i < n; i++)
			ops_rmsnorm(x->xb + (size_t)i * (size_t)n_embd,
			            x->x + (size_t)i * (size_t)n_embd, ly->attn_norm, n_embd,
			            hp->norm_eps);
		if (ly->fused_qkv) {
			const size_t st = n_q + 2 * n_kv;
			matmul(x, &ly->w_qkv, x->xb, n, x->fused);
			for (int32_t i = 0; i < n; i++) {
				const float *f = x->fused + (size_t)i * st;
				memcpy(x->q + (size_t)i * n_q, f, n_q * sizeof(float));
				memcpy(x->k + (size_t)i * n_kv, f + n_q, n_kv * sizeof(float));
				memcpy(x->v + (size_t)i * n_kv, f + n_q + n_kv,
				       n_kv * sizeof(float));
			}
		} else {
			matmul(x, &ly->wq, x->xb, n, x->q);
			matmul(x, &ly->wk, x->xb, n, x->k);
			matmul(x, &ly->wv, x->xb, n, x->v);
		}
		for (int32_t i = 0; i < n; i++) {
			float *q = x->q + (size_t)i * n_q, *k = x->k + (size_t)i * n_kv,
			      *v = x->v + (size_t)i * n_kv;
			if (ly->bq) {
				ops_add(q, ly->bq, (int64_t)n_q);
				ops_add(k, ly->bk, (int64_t)n_kv);
				ops_add(v, ly->bv, (int64_t)n_kv);
			}
			const float *cs = x->rope_cs + (size_t)i * (size_t)hp->n_rot;
			ops_rope(q, hp->n_head, hp->head_dim, hp->n_rot, hp->rope_neox, cs);
			ops_rope(k, hp->n_head_kv, hp->head_dim, hp->n_rot, hp->rope_neox, cs);
			/* store k and v in the session's cache */
			struct infer_session *se = items[i].s;
			const size_t layer_off = (size_t)l * (size_t)se->n_ctx * se->kv_dim;
			const int32_t pos = items[i].pos;
			ops_f32_to_f16(se->k + layer_off + (size_t)pos * se->kv_dim, k,
			               (int64_t)n_kv);
			ops_f32_to_f16(se->v + layer_off + (size_t)pos * se->kv_dim, v,
			               (int64_t)n_kv);
		}
		pool_run(x->pool, attn_task, x);
		if (l == hp->n_layer - 1) {
			/* Only the rows that want logits matter from here on: move
			 * them to the front and finish the last layer with those. */
			rows = compact_out_rows(x, items, n);
			if (rows == 0)
				break;
		}
		matmul(x, &ly->wo, x->att, rows, x->xb2);
		ops_add(x->x, x->xb2, (int64_t)rows * n_embd);
		for (int32_t i = 0; i < rows; i++)
			ops_rmsnorm(x->xb + (size_t)i * (size_t)n_embd,
			            x->x + (size_t)i * (size_t)n_embd, ly->ffn_norm, n_embd,
			            hp->norm_eps);
		if (ly->fused_gate_up) {
			/* rows of [gate | up]: silu(gate) * up, packed to the front */
			const size_t nf = (size_t)hp->n_ff;
			matmul(x, &ly->w_gate_up, x->xb, rows, x->fused);
			for (int32_t i = 0; i < rows; i++) {
				float *g = x->fused + (size_t)i * 2 * nf;
				ops_silu_mul(g, g + nf, (int64_t)nf);
				if (i)
					memmove(x->fused + (size_t)i * nf, g, nf * sizeof(float));
			}
			matmul(x, &ly->w_down, x->fused, rows, x->xb2);
		} else {
			matmul(x, &ly->w_gate, x->xb, rows, x->hb);
			matmul(x, &ly->w_up, x->xb, rows, x->hb2);
			ops_silu_mul(x->hb, x->hb2, (int64_t)rows * hp->n_ff);
			matmul(x, &ly->w_down, x->hb, rows, x->xb2);
		}
		ops_add(x->x, x->xb2, (int64_t)rows * n_embd);
	}

	/* the sessions' filled lengths: the last position of each + 1 */
	for (int32_t i = 0; i < n; i++)
		items[i].s->n_past = items[i].pos + 1;

	for (int32_t k = 0; k < x->n_out; k++)
		ops_rmsnorm(x->xb + (size_t)k * (size_t)n_embd, x->x + (size_t)k * (size_t)n_embd,
		            m->output_norm, n_embd, hp->norm_eps);
	if (x->n_out)
		matmul(x, &m->output, x->xb, x->n_out, x->logits);
	return 0;
}

int infer_eval(struct infer_exec *x, struct infer_session *s, const int32_t *tokens, int32_t n,
               int all_logits, float *out, char *err, size_t err_size)
{
	const int32_t n_vocab = x->m->hp.n_vocab;
	struct infer_batch_item *items;
	int rc = 0;

	if (n < 1)
		return hd_fail(err, err_size, HD_EINVAL, "infer: nothing to evaluate");
	if (n > s->n_ctx - s->n_past)
		return hd_fail(err, err_size, HD_EINVAL,
		               "infer: %d tokens do not fit in the context (%d of %d used)", n,
		               s->n_past, s->n_ctx);
	items = x->eval_items;
	for (int32_t done = 0; done < n && !rc;) {
		const int32_t k = HD_MIN(n - done, x->max_batch);
		const int32_t base = s->n_past;
		for (int32_t i = 0; i < k; i++) {
			items[i].s = s;
			items[i].pos = base + i;
			items[i].token = tokens[done + i];
			items[i].logits = all_logits || done + i == n - 1;
		}
		rc = infer_forward(x, items, k, err, err_size);
		if (!rc && out) {
			for (int32_t i = 0; i < k; i++) {
				const float *lg = infer_exec_logits(x, i);
				if (!lg)
					continue;
				float *dst = all_logits ? out + (size_t)(done + i) * (size_t)n_vocab
				                        : out;
				memcpy(dst, lg, (size_t)n_vocab * sizeof(float));
			}
		}
		done += k;
	}
	return rc;
}

/*
 * jinja_eval.c: the evaluator and jinja_render.
 *
 * Statements append to a string builder; expressions return values. Scoping
 * follows @huggingface/jinja: a for loop opens one scope for all its
 * iterations, `set` inside if/else writes to the enclosing scope, and a
 * macro runs in a scope whose parent is the *caller's* scope (dynamic
 * scoping), while a call block's body runs where the block stands.
 *
 * Control flow: errors longjmp to jinja_render; {% break %} / {% continue %}
 * longjmp to the innermost running loop body (as the JavaScript original
 * throws), which drops what that iteration had rendered so far. Everything
 * is allocated in the render arena, so unwinding leaks nothing.
 */
#include "infer/jinja_int.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

/* Evaluator frames nested at once (expressions inside statements inside
 * macro calls); keeps the C stack bounded whatever the template does. */
#define MAX_EVAL_DEPTH 1000

struct jtrap {
	jmp_buf jb;
	struct jtrap *prev;
	unsigned depth, call_depth;
	size_t mark;
	const struct node *cur;
};

enum { TRAP_BREAK = 1, TRAP_CONTINUE = 2 };

const char jinja_chatml_template[] =
        "{%- for message in messages -%}\n"
        "{{- '<|im_start|>' + message['role'] + '\\n' -}}\n"
        "{%- if message['content'] is string -%}\n"
        "{{- message['content'] -}}\n"
        "{%- elif message['content'] is iterable -%}\n"
        "{%- for part in message['content'] -%}\n"
        "{%- if part is mapping and part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}\n"
        "{%- endfor -%}\n"
        "{%- endif -%}\n"
        "{{- '<|im_end|>\\n' -}}\n"
        "{%- endfor -%}\n"
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n";

void jinja_limits_default(struct jinja_limits *lim)
{
	lim->max_output = JINJA_DEFAULT_MAX_OUTPUT;
	lim->max_memory = JINJA_DEFAULT_MAX_MEMORY;
	lim->max_steps = JINJA_DEFAULT_MAX_STEPS;
	lim->max_iterations = JINJA_DEFAULT_MAX_ITERATIONS;
	lim->max_call_depth = JINJA_DEFAULT_MAX_CALL_DEPTH;
	lim->max_time_ms = JINJA_DEFAULT_MAX_TIME_MS;
}

void rt_fail(struct rt *rt, int code, const char *fmt, ...)
{
	if (!rt->err_code) {
		char msg[512];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (rt->cur) {
			unsigned line, col;
			jinja_line_col(rt->tpl->src, rt->tpl->src_len, rt->cur->pos, &line, &col);
			hd_fail(rt->err, rt->err_size, code, "line %u, column %u: %s", line, col,
			        msg);
		} else {
			hd_fail(rt->err, rt->err_size, code, "%s", msg);
		}
		rt->err_code = code;
	}
	longjmp(rt->jb, 1);
}

void *rt_alloc(struct rt *rt, size_t n)
{
	void *p = arena_try_alloc(&rt->arena, n);
	if (!p)
		rt_fail(rt, HD_ETOOBIG, "render needs more than the memory limit of %zu bytes",
		        rt->lim.max_memory);
	return p;
}

void rt_step(struct rt *rt)
{
	if (++rt->steps > rt->lim.max_steps)
		rt_fail(rt, HD_ETOOBIG, "render exceeds the limit of %llu steps",
		        (unsigned long long)rt->lim.max_steps);
	if (!(rt->steps & 4095) && rt->t_end > 0 && time_mono_s() > rt->t_end)
		rt_fail(rt, HD_ETOOBIG, "render exceeds the time limit of %u ms",
		        rt->lim.max_time_ms);
}

void rt_count_iterations(struct rt *rt, uint64_t n)
{
	rt_step(rt);
	if (n > rt->lim.max_iterations || rt->iterations > rt->lim.max_iterations - n)
		rt_fail(rt, HD_ETOOBIG, "render exceeds the limit of %llu loop iterations",
		        (unsigned long long)rt->lim.max_iterations);
	rt->iterations += n;
}

/* ---- scopes -------------------------------------------------------------- */

struct scope *scope_new(struct rt *rt, struct scope *parent)
{
	struct scope *s = rt_alloc(rt, sizeof(*s));
	s->parent = parent;
	s->n = s->cap = 0;
	s->v = NULL;
	return s;
}

static struct svar *scope_find(struct scope *sc, const char *name, size_t len)
{
	for (size_t i = 0; i < sc->n; i++)
		if (sc->v[i].len == len && !memcmp(sc->v[i].name, name, len))
			return &sc->v[i];
	return NULL;
}

void scope_set(struct rt *rt, struct scope *sc, const char *name, size_t len, struct jv v)
{
	struct svar *var = scope_find(sc, name, len);
	if (var) {
		var->v = v;
		return;
	}
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 8;
		struct svar *nv = rt_alloc(rt, cap * sizeof(*nv));
		if (sc->n)
			memcpy(nv, sc->v, sc->n * sizeof(*nv));
		sc->v = nv;
		sc->cap = cap;
	}
	sc->v[sc->n].name = name;
	sc->v[sc->n].len = len;
	sc->v[sc->n].v = v;
	sc->n++;
}

struct jv scope_lookup(struct scope *sc, const char *name, size_t len)
{
	for (; sc; sc = sc->parent) {
		struct svar *var = scope_find(sc, name, len);
		if (var)
			return var->v.k == JV_VOID ? jv_undef() : var->v;
	}
	return jv_undef();
}

/* ---- expressions ---------------------------------------------------------- */

static void exec_block(struct rt *rt, struct node **body, size_t n, struct scope *sc,
                       struct jsb *out);

static void put_value(struct rt *rt, struct jsb *out, struct jv v)
{
	if (v.k == JV_VOID)
		rt_fail(rt, HD_EINVAL, "cannot read properties of undefined");
	if (v.k == JV_NULL || v.k == JV_UNDEF)
		return;
	jv_put_str(rt, out, v);
}

/* Array.prototype.at / String.prototype.at (UTF-16 units). */
static struct jv index_at(struct rt *rt, struct jv obj, double idx)
{
	double len;
	if (isnan(idx))
		idx = 0;
	idx = trunc(idx);
	if (obj.k == JV_ARRAY) {
		len = (double)obj.u.a->n;
		if (idx < 0)
			idx += len;
		if (idx < 0 || idx >= len)
			return jv_undef();
		struct jv v = obj.u.a->v[(size_t)idx];
		return v.k == JV_VOID ? jv_undef() : v;
	}
	{
		const struct jstr *s = obj.u.s;
		size_t i = 0, unit = 0, target;
		uint32_t cp;
		len = (double)js_u16_len(s->s, s->len);
		if (idx < 0)
			idx += len;
		if (idx < 0 || idx >= len)
			return jv_undef();
		target = (size_t)idx;
		for (;;) {
			size_t start = i;
			utf8_next(s->s, s->len, &i, &cp);
			if (unit == target) {
				if (cp >= 0x10000)
					return jv_str(rt, "\xEF\xBF\xBD", 3); /* a lone surrogate */
				return jv_str(rt, s->s + start, i - start);
			}
			unit += cp >= 0x10000 ? 2 : 1;
			if (unit > target)
				return jv_str(rt, "\xEF\xBF\xBD", 3);
		}
	}
}

static double js_min(double a, double b)
{
	return isnan(a) || isnan(b) ? NAN : a < b ? a : b;
}

static double js_max(double a, double b)
{
	return isnan(a) || isnan(b) ? NAN : a > b ? a : b;
}

static struct jv eval_slice(struct rt *rt, struct jv obj, const struct node *sl, struct scope *sc)
{
	struct jv start, stop, step, *items = NULL;
	size_t len, n_out = 0, *starts = NULL;
	double a, b, st, dir;
	const struct jstr *s = NULL;

	if (obj.k != JV_ARRAY && obj.k != JV_STR)
		rt_fail(rt, HD_EINVAL, "slice object must be an array or string");
	start = sl->a ? rt_eval(rt, sl->a, sc) : jv_undef();
	stop = sl->b ? rt_eval(rt, sl->b, sc) : jv_undef();
	step = sl->c ? rt_eval(rt, sl->c, sc) : jv_undef();
	if ((start.k != JV_INT && start.k != JV_UNDEF) ||
	    (stop.k != JV_INT && stop.k != JV_UNDEF) || (step.k != JV_INT && step.k != JV_UNDEF))
		rt_fail(rt, HD_EINVAL, "slice indices must be integers or undefined");
	if (obj.k == JV_ARRAY) {
		len = obj.u.a->n;
	} else {
		/* Strings slice by code points (Array.from). */
		size_t i = 0, k = 0;
		uint32_t cp;
		s = obj.u.s;
		len = 0;
		while (utf8_next(s->s, s->len, &i, &cp))
			len++;
		starts = rt_alloc(rt, (len + 1) * sizeof(*starts));
		i = 0;
		while (k < len) {
			starts[k++] = i;
			utf8_next(s->s, s->len, &i, &cp);
		}
		starts[len] = s->len;
	}
	st = step.k == JV_UNDEF ? 1 : step.u.n;
	dir = isnan(st) ? NAN : st > 0 ? 1 : st < 0 ? -1 : 0;
	if (dir >= 0) {
		a = start.k == JV_UNDEF ? 0 : start.u.n;
		a = a < 0 ? js_max((double)len + a, 0) : js_min(a, (double)len);
		b = stop.k == JV_UNDEF ? (double)len : stop.u.n;
		b = b < 0 ? js_max((double)len + b, 0) : js_min(b, (double)len);
	} else {
		a = start.k == JV_UNDEF ? (double)len - 1 : start.u.n;
		a = a < 0 ? js_max((double)len + a, -1) : js_min(a, (double)len - 1);
		b = stop.k == JV_UNDEF ? -1 : stop.u.n;
		b = b < -1 ? js_max((double)len + b, -1) : js_min(b, (double)len - 1);
	}
	if (obj.k == JV_ARRAY)
		items = rt_alloc(rt, (len ? len : 1) * sizeof(*items));
	{
		struct jsb sb;
		if (s)
			sb_init(rt, &sb, s->len);
		for (double i = a; dir * i < dir * b; i += st) {
			size_t k = (size_t)i;
			rt_step(rt);
			if (obj.k == JV_ARRAY) {
				if (n_out == len)
					break;
				items[n_out++] = obj.u.a->v[k];
			} else {
				sb_put(rt, &sb, s->s + starts[k], starts[k + 1] - starts[k]);
			}
		}
		if (s)
			return sb_value(&sb);
	}
	{
		struct jarr *arr = jarr_new(rt, n_out);
		if (n_out)
			memcpy(arr->v, items, n_out * sizeof(*items));
		return jv_arr(arr, 0);
	}
}

static struct jv eval_member(struct rt *rt, const struct node *n, struct scope *sc)
{
	struct jv obj = rt_eval(rt, n->a, sc), prop;
	const struct node *pn = n->b;
	int found = 0;

	if (n->flags & NF_COMPUTED) {
		if (pn->kind == N_SLICE)
			return eval_slice(rt, obj, pn, sc);
		prop = rt_eval(rt, pn, sc);
	} else if (pn->kind == N_INT) {
		prop = jv_int(pn->num);
	} else {
		prop.k = JV_STR;
		prop.sub = 0;
		prop.u.s = NULL; /* the name is pn->s; not allocated */
	}
#define PROP_NAME (prop.u.s ? prop.u.s->s : pn->s)
#define PROP_LEN (prop.u.s ? prop.u.s->len : pn->slen)
	if (jv_is_attr(obj)) {
		struct jv *v, r;
		if (prop.k != JV_STR)
			rt_fail(rt, HD_EINVAL, "cannot access property with non-string: got %s",
			        jv_type_name(prop));
		v = jobj_get(obj.u.o, PROP_NAME, PROP_LEN);
		if (v && v->k != JV_VOID)
			return *v;
		if (obj.k == JV_OBJECT) {
			r = builtin_member(rt, obj, PROP_NAME, PROP_LEN, &found);
			if (found)
				return r;
		}
		return jv_undef();
	}
	if (obj.k == JV_ARRAY || obj.k == JV_STR) {
		if (prop.k == JV_INT)
			return index_at(rt, obj, prop.u.n);
		if (prop.k == JV_STR) {
			struct jv r = builtin_member(rt, obj, PROP_NAME, PROP_LEN, &found);
			return found ? r : jv_undef();
		}
		rt_fail(rt, HD_EINVAL, "cannot access property with non-string/non-number: got %s",
		        jv_type_name(prop));
	}
	if (prop.k != JV_STR)
		rt_fail(rt, HD_EINVAL, "cannot access property with non-string: got %s",
		        jv_type_name(prop));
	if (obj.k == JV_VOID)
		rt_fail(rt, HD_EINVAL, "cannot read properties of undefined (reading '%.*s')",
		        (int)PROP_LEN, PROP_NAME);
	return jv_undef();
#undef PROP_NAME
#undef PROP_LEN
}

void rt_eval_args(struct rt *rt, struct node **args, size_t n_args, struct scope *sc,
                  struct jv **pos, size_t *n_pos, struct jobj **kw)
{
	size_t n = 0, cap = n_args + 1;
	struct jv *v = rt_alloc(rt, cap * sizeof(*v));
	struct jobj *k = NULL;

	for (size_t i = 0; i < n_args; i++) {
		const struct node *a = args[i];
		if (a->kind == N_SPREAD) {
			struct jv arr = rt_eval(rt, a->a, sc);
			if (arr.k != JV_ARRAY)
				rt_fail(rt, HD_EINVAL, "cannot unpack non-iterable type: %s",
				        jv_type_name(arr));
			if (arr.u.a->n > cap - n) {
				size_t ncap = n + arr.u.a->n + n_args;
				struct jv *nv = rt_alloc(rt, ncap * sizeof(*nv));
				memcpy(nv, v, n * sizeof(*v));
				v = nv;
				cap = ncap;
			}
			memcpy(v + n, arr.u.a->v, arr.u.a->n * sizeof(*v));
			n += arr.u.a->n;
		} else if (a->kind != N_KWARG && a->kind != N_KWSPREAD) {
			v[n++] = rt_eval(rt, a, sc);
		}
	}
	for (size_t i = 0; i < n_args; i++) {
		const struct node *a = args[i];
		if (a->kind == N_KWARG) {
			struct jv val;
			if (!k)
				k = jobj_new(rt, 4);
			if (jobj_get(k, a->s, a->slen))
				rt_fail(rt, HD_EINVAL,
				        "got multiple values for keyword argument '%.*s'",
				        (int)a->slen, a->s);
			val = rt_eval(rt, a->a, sc);
			jobj_append(rt, k, jstr_new(rt, a->s, a->slen), val);
		} else if (a->kind == N_KWSPREAD) {
			struct jv m = rt_eval(rt, a->a, sc);
			if (m.k != JV_OBJECT)
				rt_fail(rt, HD_EINVAL,
				        "argument after ** must be a mapping, not %s",
				        jv_type_name(m));
			if (!k)
				k = jobj_new(rt, m.u.o->n + 1);
			for (size_t j = 0; j < m.u.o->n; j++) {
				const struct jstr *key = m.u.o->e[j].k;
				if (jobj_get(k, key->s, key->len))
					rt_fail(rt, HD_EINVAL,
					        "got multiple values for keyword argument '%s'",
					        key->s);
				jobj_append(rt, k, m.u.o->e[j].k, m.u.o->e[j].v);
			}
		}
	}
	*pos = v;
	*n_pos = n;
	*kw = k;
}

static struct jv eval_call(struct rt *rt, const struct node *n, struct scope *sc)
{
	struct jv *args, fn;
	size_t n_args;
	struct jobj *kw;

	rt_eval_args(rt, n->kids, n->n_kids, sc, &args, &n_args, &kw);
	if (kw && kw->n)
		args[n_args++] = jv_obj(kw, JV_OBJECT, 1);
	fn = rt_eval(rt, n->a, sc);
	if (fn.k != JV_FUNC)
		rt_fail(rt, HD_EINVAL, "cannot call something that is not a function: got %s",
		        jv_type_name(fn));
	return rt_call(rt, fn, args, n_args, sc);
}

static struct jv concat_raw(struct rt *rt, struct jv a, struct jv b)
{
	struct jsb sb;
	sb_init(rt, &sb, 64);
	jv_put_raw(rt, &sb, a);
	jv_put_raw(rt, &sb, b);
	return sb_value(&sb);
}

static int str_contains(const struct jstr *hay, const struct jstr *needle)
{
	if (!needle->len)
		return 1;
	return memmem(hay->s, hay->len, needle->s, needle->len) != NULL;
}

static const char *op_name(int op)
{
	switch (op) {
	case OP_EQ: return "==";
	case OP_NE: return "!=";
	case OP_LT: return "<";
	case OP_GT: return ">";
	case OP_LE: return "<=";
	case OP_GE: return ">=";
	case OP_IN: return "in";
	case OP_NOTIN: return "not in";
	case OP_ADD: return "+";
	case OP_SUB: return "-";
	case OP_CONCAT: return "~";
	case OP_MUL: return "*";
	case OP_DIV: return "/";
	case OP_FLOORDIV: return "//";
	case OP_MOD: return "%";
	case OP_POW: return "**";
	default: return "?";
	}
}

static struct jv eval_binary(struct rt *rt, const struct node *n, struct scope *sc)
{
	struct jv l = rt_eval(rt, n->a, sc), r;
	int op = n->op;

	if (op == OP_AND)
		return jv_truthy(rt, l) ? rt_eval(rt, n->b, sc) : l;
	if (op == OP_OR)
		return jv_truthy(rt, l) ? l : rt_eval(rt, n->b, sc);
	r = rt_eval(rt, n->b, sc);
	if (op == OP_EQ)
		return jv_bool(jv_loose_eq(rt, l, r));
	if (op == OP_NE)
		return jv_bool(!jv_loose_eq(rt, l, r));
	if (l.k == JV_VOID || r.k == JV_VOID)
		rt_fail(rt, HD_EINVAL, "cannot read properties of undefined");
	if (l.k == JV_UNDEF || r.k == JV_UNDEF) {
		if (r.k == JV_UNDEF && (op == OP_IN || op == OP_NOTIN))
			return jv_bool(op == OP_NOTIN);
		rt_fail(rt, HD_EINVAL, "cannot perform operation %s on undefined values",
		        op_name(op));
	}
	if (l.k == JV_NULL || r.k == JV_NULL)
		rt_fail(rt, HD_EINVAL, "cannot perform operation %s on null values", op_name(op));
	if (op == OP_CONCAT)
		return concat_raw(rt, l, r);
	if (op == OP_POW && (jv_is_num(l) || l.k == JV_BOOL) && (jv_is_num(r) || r.k == JV_BOOL)) {
		double a = l.k == JV_BOOL ? l.u.b : l.u.n, b = r.k == JV_BOOL ? r.u.b : r.u.n, res;
		if (a == 0 && b < 0)
			rt_fail(rt, HD_EINVAL, "0.0 cannot be raised to a negative power");
		res = pow(a, b);
		/* JavaScript: 1 ** Infinity and 1 ** NaN are NaN (C says 1). */
		if ((a == 1 || a == -1) && !isfinite(b))
			res = NAN;
		if (!isfinite(res))
			rt_fail(rt, HD_EINVAL, "exponentiation result is not a finite real number");
		return jv_num(res, l.k == JV_FLOAT || r.k == JV_FLOAT || b < 0);
	}
	if (jv_is_num(l) && jv_is_num(r)) {
		double a = l.u.n, b = r.u.n;
		int fl = l.k == JV_FLOAT || r.k == JV_FLOAT;
		switch (op) {
		case OP_ADD: return jv_num(a + b, fl);
		case OP_SUB: return jv_num(a - b, fl);
		case OP_MUL: return jv_num(a * b, fl);
		case OP_DIV: return jv_float(a / b);
		case OP_FLOORDIV: return jv_num(floor(a / b), fl);
		case OP_MOD: return jv_num(fmod(a, b), fl);
		case OP_LT: return jv_bool(a < b);
		case OP_GT: return jv_bool(a > b);
		case OP_GE: return jv_bool(a >= b);
		case OP_LE: return jv_bool(a <= b);
		default: break;
		}
	} else if (l.k == JV_ARRAY && r.k == JV_ARRAY) {
		if (op == OP_ADD) {
			struct jarr *a = jarr_new(rt, l.u.a->n + r.u.a->n);
			memcpy(a->v, l.u.a->v, l.u.a->n * sizeof(struct jv));
			memcpy(a->v + l.u.a->n, r.u.a->v, r.u.a->n * sizeof(struct jv));
			return jv_arr(a, 0);
		}
	} else if (r.k == JV_ARRAY) {
		if (op == OP_IN || op == OP_NOTIN) {
			int member = 0;
			for (size_t i = 0; i < r.u.a->n && !member; i++) {
				rt_step(rt);
				if (r.u.a->v[i].k == JV_VOID)
					continue; /* .find() would throw on it; nothing matches */
				member = jv_strict_eq(r.u.a->v[i], l);
			}
			return jv_bool(op == OP_IN ? member : !member);
		}
	}
	if ((l.k == JV_STR || r.k == JV_STR) && op == OP_ADD)
		return concat_raw(rt, l, r);
	if (l.k == JV_STR && r.k == JV_STR && (op == OP_IN || op == OP_NOTIN)) {
		int has = str_contains(r.u.s, l.u.s);
		return jv_bool(op == OP_IN ? has : !has);
	}
	if (l.k == JV_STR && r.k == JV_OBJECT && (op == OP_IN || op == OP_NOTIN)) {
		int has = jobj_get(r.u.o, l.u.s->s, l.u.s->len) != NULL;
		return jv_bool(op == OP_IN ? has : !has);
	}
	rt_fail(rt, HD_EINVAL, "unknown operator \"%s\" between %s and %s", op_name(op),
	        jv_type_name(l), jv_type_name(r));
}

static struct jv eval_unary(struct rt *rt, const struct node *n, struct scope *sc)
{
	struct jv v = rt_eval(rt, n->a, sc);
	if (n->op == OP_NOT)
		return jv_bool(!jv_truthy(rt, v));
	if (jv_is_num(v) || v.k == JV_BOOL) {
		double x = v.k == JV_BOOL ? v.u.b : v.u.n;
		double res = n->op == OP_NEG ? -1 * x : x;
		return jv_num(res, v.k == JV_FLOAT);
	}
	rt_fail(rt, HD_EINVAL, "unknown operator \"%s\" for %s", n->op == OP_NEG ? "-" : "+",
	        jv_type_name(v));
}

static struct jv eval_inner(struct rt *rt, const struct node *n, struct scope *sc)
{
	switch (n->kind) {
	case N_STR: return jv_strv((struct jstr *)n->str);
	case N_INT: return jv_int(n->num);
	case N_FLOAT: return jv_float(n->num);
	case N_IDENT: return scope_lookup(sc, n->s, n->slen);
	case N_ARRAY:
	case N_TUPLE: {
		struct jarr *a = jarr_new(rt, n->n_kids);
		for (size_t i = 0; i < n->n_kids; i++)
			a->v[i] = rt_eval(rt, n->kids[i], sc);
		return jv_arr(a, n->kind == N_TUPLE);
	}
	case N_OBJECT: {
		struct jobj *o = jobj_new(rt, n->n_kids);
		for (size_t i = 0; i < n->n_kids; i++) {
			struct jv k = rt_eval(rt, n->kids[i], sc);
			if (k.k != JV_STR)
				rt_fail(rt, HD_EINVAL, "object keys must be strings: got %s",
				        jv_type_name(k));
			jobj_set(rt, o, k.u.s, rt_eval(rt, n->alt[i], sc));
		}
		return jv_obj(o, JV_OBJECT, 0);
	}
	case N_MEMBER: return eval_member(rt, n, sc);
	case N_CALL: return eval_call(rt, n, sc);
	case N_BINARY: return eval_binary(rt, n, sc);
	case N_UNARY: return eval_unary(rt, n, sc);
	case N_FILTER: return builtin_filter(rt, rt_eval(rt, n->a, sc), n->b, sc);
	case N_TEST: {
		struct jv v = rt_eval(rt, n->a, sc);
		int known = 0, r = builtin_test(rt, n->s, n->slen, v, NULL, &known);
		if (!known)
			rt_fail(rt, HD_EINVAL, "unknown test: %.*s", (int)n->slen, n->s);
		return jv_bool((n->flags & NF_NEGATE) ? !r : r);
	}
	case N_SELECT:
		if (!jv_truthy(rt, rt_eval(rt, n->b, sc)))
			return jv_undef();
		return rt_eval(rt, n->a, sc);
	case N_TERNARY:
		return jv_truthy(rt, rt_eval(rt, n->a, sc)) ? rt_eval(rt, n->b, sc)
		                                            : rt_eval(rt, n->c, sc);
	default: break;
	}
	rt_fail(rt, HD_EINVAL, "unexpected node in an expression");
}

struct jv rt_eval(struct rt *rt, const struct node *n, struct scope *sc)
{
	const struct node *saved = rt->cur;
	struct jv v;
	rt_step(rt);
	if (++rt->depth > MAX_EVAL_DEPTH)
		rt_fail(rt, HD_ETOOBIG, "evaluation nested deeper than %d levels", MAX_EVAL_DEPTH);
	rt->cur = n;
	v = eval_inner(rt, n, sc);
	rt->cur = saved;
	rt->depth--;
	return v;
}

/* ---- calls ------------------------------------------------------------------ */

static void bind_params(struct rt *rt, const char *display, struct node **params, size_t n_params,
                        int flags, struct jv *args, size_t n, struct scope *sc)
{
	const struct jobj *kw = NULL;
	unsigned char *used = NULL;
	size_t *pending = NULL, n_pending = 0;

	if (n && args[n - 1].k == JV_OBJECT && args[n - 1].sub) {
		kw = args[n - 1].u.o;
		n--;
		used = rt_alloc(rt, kw->n + 1);
		memset(used, 0, kw->n + 1);
	}
	if (n_params)
		pending = rt_alloc(rt, n_params * sizeof(*pending));
	for (size_t i = 0; i < n_params; i++) {
		const struct node *p = params[i];
		struct jv v = i < n ? args[i] : jv_void();
		if (v.k == JV_VOID && kw) {
			for (size_t j = 0; j < kw->n; j++) {
				if (!used[j] && kw->e[j].k->len == p->slen &&
				    !memcmp(kw->e[j].k->s, p->s, p->slen)) {
					used[j] = 1;
					v = kw->e[j].v;
					break;
				}
			}
		}
		if (v.k == JV_VOID && p->kind == N_KWARG)
			pending[n_pending++] = i;
		scope_set(rt, sc, p->s, p->slen, v.k == JV_VOID ? jv_undef() : v);
	}
	if (flags & NF_USES_KWARGS) {
		struct jobj *rest = jobj_new(rt, kw ? kw->n : 0);
		for (size_t j = 0; kw && j < kw->n; j++)
			if (!used[j])
				jobj_append(rt, rest, kw->e[j].k, kw->e[j].v);
		scope_set(rt, sc, "kwargs", 6, jv_obj(rest, JV_OBJECT, 0));
	} else if (kw) {
		for (size_t j = 0; j < kw->n; j++)
			if (!used[j])
				rt_fail(rt, HD_EINVAL, "macro %s takes no keyword argument '%s'",
				        display, kw->e[j].k->s);
	}
	if (flags & NF_USES_VARARGS) {
		size_t extra = n > n_params ? n - n_params : 0;
		struct jarr *a = jarr_new(rt, extra);
		if (extra)
			memcpy(a->v, args + n_params, extra * sizeof(*args));
		scope_set(rt, sc, "varargs", 7, jv_arr(a, 0));
	} else if (n > n_params) {
		rt_fail(rt, HD_EINVAL, "macro %s takes not more than %zu argument(s)", display,
		        n_params);
	}
	for (size_t i = 0; i < n_pending; i++) {
		const struct node *p = params[pending[i]];
		scope_set(rt, sc, p->s, p->slen, rt_eval(rt, p->a, sc));
	}
}

static struct jv call_body(struct rt *rt, const char *display, const struct node *def,
                           struct scope *parent, struct jv *args, size_t n)
{
	struct scope *sc;
	struct jsb out;
	struct jv v;
	if (++rt->call_depth > rt->lim.max_call_depth)
		rt_fail(rt, HD_ETOOBIG, "macro calls nested deeper than %u levels",
		        rt->lim.max_call_depth);
	sc = scope_new(rt, parent);
	bind_params(rt, display, def->alt, def->n_alt, def->flags, args, n, sc);
	sb_init(rt, &out, 256);
	exec_block(rt, def->kids, def->n_kids, sc, &out);
	v = sb_value(&out);
	rt->call_depth--;
	return v;
}

struct jv rt_call(struct rt *rt, struct jv fn, struct jv *args, size_t n, struct scope *sc)
{
	const struct jfn *f = fn.u.f;
	if (f->type == FN_MACRO) {
		char display[80];
		snprintf(display, sizeof(display), "'%.*s'",
		         (int)(f->node->slen > 60 ? 60 : f->node->slen), f->node->s);
		return call_body(rt, display, f->node, sc, args, n);
	}
	if (f->type == FN_CALLER)
		return call_body(rt, "None", f->node, f->env, args, n);
	return builtin_call(rt, f, args, n, sc);
}

/* ---- statements ------------------------------------------------------------- */

static void bind_target(struct rt *rt, struct scope *sc, const struct node *t, struct jv v)
{
	if (t->kind == N_IDENT) {
		scope_set(rt, sc, t->s, t->slen, v);
		return;
	}
	for (size_t j = 0; j < t->n_kids; j++) {
		if (t->kids[j]->kind != N_IDENT)
			rt_fail(rt, HD_EINVAL, "cannot unpack to a non-identifier");
		scope_set(rt, sc, t->kids[j]->s, t->kids[j]->slen, v.u.a->v[j]);
	}
}

/* Runs one loop iteration's body; returns 0, TRAP_BREAK or TRAP_CONTINUE. */
static int run_body(struct rt *rt, const struct node *n, struct scope *sc, struct jsb *out)
{
	struct jtrap t;
	int r;
	t.prev = rt->trap;
	t.depth = rt->depth;
	t.call_depth = rt->call_depth;
	t.mark = out->len;
	t.cur = rt->cur;
	rt->trap = &t;
	r = setjmp(t.jb);
	if (!r) {
		exec_block(rt, n->kids, n->n_kids, sc, out);
		rt->trap = t.prev;
		return 0;
	}
	rt->trap = t.prev;
	rt->depth = t.depth;
	rt->call_depth = t.call_depth;
	rt->cur = t.cur;
	out->len = t.mark;
	return r;
}

static const char *const loop_keys[] = {"index", "index0", "revindex", "revindex0", "first",
                                        "last",  "length", "previtem", "nextitem"};

static void exec_for(struct rt *rt, const struct node *n, struct scope *parent, struct jsb *out)
{
	struct scope *sc = scope_new(rt, parent);
	const struct node *test = NULL, *target = n->a;
	struct jv it, *items;
	size_t n_items = 0, count;
	struct jobj *loop = NULL;
	int none = 1;

	if (n->b->kind == N_SELECT) {
		it = rt_eval(rt, n->b->a, sc);
		test = n->b->b;
	} else {
		it = rt_eval(rt, n->b, sc);
	}
	if (it.k == JV_OBJECT) {
		/* Iterating a mapping gives its keys. */
		struct jarr *keys = jarr_new(rt, it.u.o->n);
		for (size_t i = 0; i < it.u.o->n; i++)
			keys->v[i] = jv_strv(it.u.o->e[i].k);
		it = jv_arr(keys, 0);
	} else if (it.k != JV_ARRAY) {
		rt_fail(rt, HD_EINVAL, "expected iterable or object type in for loop: got %s",
		        jv_type_name(it));
	}
	count = it.u.a->n;
	/* Without a filter the items are the iterable's own. */
	items = test ? rt_alloc(rt, (count ? count : 1) * sizeof(*items)) : it.u.a->v;
	for (size_t i = 0; i < count; i++) {
		struct jv cur = it.u.a->v[i];
		rt_count_iterations(rt, 1);
		if (target->kind == N_TUPLE) {
			if (cur.k != JV_ARRAY || cur.sub)
				rt_fail(rt, HD_EINVAL, "cannot unpack non-iterable type: %s",
				        jv_type_name(cur));
			if (cur.u.a->n != target->n_kids)
				rt_fail(rt, HD_EINVAL, "too %s items to unpack",
				        target->n_kids > cur.u.a->n ? "few" : "many");
		}
		if (test) {
			struct scope *ls = scope_new(rt, sc);
			bind_target(rt, ls, target, cur);
			if (!jv_truthy(rt, rt_eval(rt, test, ls)))
				continue;
			items[n_items] = cur;
		}
		n_items++;
	}
	for (size_t i = 0; i < n_items; i++) {
		struct jv vals[9];
		int r;
		rt_count_iterations(rt, 1);
		vals[0] = jv_int((double)i + 1);
		vals[1] = jv_int((double)i);
		vals[2] = jv_int((double)(n_items - i));
		vals[3] = jv_int((double)(n_items - i - 1));
		vals[4] = jv_bool(i == 0);
		vals[5] = jv_bool(i == n_items - 1);
		vals[6] = jv_int((double)n_items);
		vals[7] = i > 0 ? items[i - 1] : jv_undef();
		vals[8] = i + 1 < n_items ? items[i + 1] : jv_undef();
		if (!loop || rt->tpl->loop_escapes) {
			loop = jobj_new(rt, 9);
			for (size_t k = 0; k < 9; k++)
				jobj_append(rt, loop,
				            jstr_new(rt, loop_keys[k], strlen(loop_keys[k])),
				            vals[k]);
		} else {
			for (size_t k = 0; k < 9; k++)
				loop->e[k].v = vals[k];
		}
		scope_set(rt, sc, "loop", 4, jv_obj(loop, JV_OBJECT, 0));
		bind_target(rt, sc, target, items[i]);
		r = run_body(rt, n, sc, out);
		if (r == TRAP_BREAK)
			break;
		if (r == TRAP_CONTINUE)
			continue;
		none = 0;
	}
	if (none)
		exec_block(rt, n->alt, n->n_alt, sc, out);
}

static void exec_set(struct rt *rt, const struct node *n, struct scope *sc)
{
	const struct node *t = n->a;
	struct jv rhs;
	if (n->b) {
		rhs = rt_eval(rt, n->b, sc);
	} else {
		struct jsb sb;
		sb_init(rt, &sb, 256);
		exec_block(rt, n->kids, n->n_kids, sc, &sb);
		rhs = sb_value(&sb);
	}
	if (t->kind == N_IDENT) {
		scope_set(rt, sc, t->s, t->slen, rhs);
	} else if (t->kind == N_TUPLE) {
		if (rhs.k != JV_ARRAY)
			rt_fail(rt, HD_EINVAL, "cannot unpack non-iterable type in set: %s",
			        jv_type_name(rhs));
		if (rhs.u.a->n != t->n_kids)
			rt_fail(rt, HD_EINVAL, "too %s items to unpack in set",
			        t->n_kids > rhs.u.a->n ? "few" : "many");
		for (size_t i = 0; i < t->n_kids; i++) {
			if (t->kids[i]->kind != N_IDENT)
				rt_fail(rt, HD_EINVAL, "cannot unpack to a non-identifier in set");
			scope_set(rt, sc, t->kids[i]->s, t->kids[i]->slen, rhs.u.a->v[i]);
		}
	} else if (t->kind == N_MEMBER) {
		struct jv obj = rt_eval(rt, t->a, sc);
		if (obj.k != JV_NS)
			rt_fail(rt, HD_EINVAL, "cannot assign attribute on non-namespace object");
		if (t->b->kind != N_IDENT)
			rt_fail(rt, HD_EINVAL,
			        "cannot assign to member with non-identifier property");
		jobj_set(rt, obj.u.o, jstr_new(rt, t->b->s, t->b->slen), rhs);
	} else {
		rt_fail(rt, HD_EINVAL, "invalid target of an assignment");
	}
}

static struct jfn *fn_new(struct rt *rt, int type, const struct node *node, struct scope *env)
{
	struct jfn *f = rt_alloc(rt, sizeof(*f));
	memset(f, 0, sizeof(*f));
	f->type = (uint8_t)type;
	f->node = node;
	f->env = env;
	return f;
}

static struct jv exec_callstmt(struct rt *rt, const struct node *n, struct scope *sc)
{
	const struct node *call = n->a;
	struct jv caller = {.k = JV_FUNC}, fn, *args;
	struct scope *env;
	struct jobj *kw;
	size_t n_args;

	caller.u.f = fn_new(rt, FN_CALLER, n, sc);
	rt_eval_args(rt, call->kids, call->n_kids, sc, &args, &n_args, &kw);
	args[n_args++] = jv_obj(kw ? kw : jobj_new(rt, 0), JV_OBJECT, 1);
	fn = rt_eval(rt, call->a, sc);
	if (fn.k != JV_FUNC)
		rt_fail(rt, HD_EINVAL, "cannot call something that is not a function: got %s",
		        jv_type_name(fn));
	env = scope_new(rt, sc);
	scope_set(rt, env, "caller", 6, caller);
	return rt_call(rt, fn, args, n_args, env);
}

static void exec(struct rt *rt, const struct node *n, struct scope *sc, struct jsb *out)
{
	switch (n->kind) {
	case N_STR: sb_put(rt, out, n->str->s, n->str->len); return;
	case N_COMMENT: return;
	case N_IF:
		if (jv_truthy(rt, rt_eval(rt, n->a, sc)))
			exec_block(rt, n->kids, n->n_kids, sc, out);
		else
			exec_block(rt, n->alt, n->n_alt, sc, out);
		return;
	case N_FOR: exec_for(rt, n, sc, out); return;
	case N_SET: exec_set(rt, n, sc); return;
	case N_MACRO: {
		struct jv f = {.k = JV_FUNC};
		f.u.f = fn_new(rt, FN_MACRO, n, NULL);
		scope_set(rt, sc, n->s, n->slen, f);
		return;
	}
	case N_CALLSTMT: put_value(rt, out, exec_callstmt(rt, n, sc)); return;
	case N_FILTERSTMT: {
		struct jsb body;
		sb_init(rt, &body, 256);
		exec_block(rt, n->kids, n->n_kids, sc, &body);
		put_value(rt, out, builtin_filter(rt, sb_value(&body), n->a, sc));
		return;
	}
	case N_BREAK:
	case N_CONTINUE:
		if (!rt->trap)
			rt_fail(rt, HD_EINVAL, "'%s' outside a loop",
			        n->kind == N_BREAK ? "break" : "continue");
		longjmp(rt->trap->jb, n->kind == N_BREAK ? TRAP_BREAK : TRAP_CONTINUE);
	default: put_value(rt, out, rt_eval(rt, n, sc)); return;
	}
}

static void exec_block(struct rt *rt, struct node **body, size_t n, struct scope *sc,
                       struct jsb *out)
{
	for (size_t i = 0; i < n; i++) {
		const struct node *saved = rt->cur;
		rt_step(rt);
		if (++rt->depth > MAX_EVAL_DEPTH)
			rt_fail(rt, HD_ETOOBIG, "evaluation nested deeper than %d levels",
			        MAX_EVAL_DEPTH);
		rt->cur = body[i];
		exec(rt, body[i], sc, out);
		rt->cur = saved;
		rt->depth--;
	}
}

/* ---- entry ------------------------------------------------------------------ */

static struct jv global_fn(struct rt *rt, int id)
{
	struct jv v = {.k = JV_FUNC};
	v.u.f = fn_new(rt, FN_GLOBAL, NULL, NULL);
	v.u.f->id = (uint8_t)id;
	return v;
}

static void render(struct rt *rt, const json_t *ctx, struct jsb *out)
{
	struct scope *g = scope_new(rt, NULL);
	const char *key;
	json_t *val;

	rt->globals = g;
	scope_set(rt, g, "namespace", 9, global_fn(rt, G_NAMESPACE));
	scope_set(rt, g, "false", 5, jv_bool(0));
	scope_set(rt, g, "true", 4, jv_bool(1));
	scope_set(rt, g, "none", 4, jv_null());
	scope_set(rt, g, "raise_exception", 15, global_fn(rt, G_RAISE));
	scope_set(rt, g, "range", 5, global_fn(rt, G_RANGE));
	scope_set(rt, g, "strftime_now", 12, global_fn(rt, G_STRFTIME));
	scope_set(rt, g, "True", 4, jv_bool(1));
	scope_set(rt, g, "False", 5, jv_bool(0));
	scope_set(rt, g, "None", 4, jv_null());
	if (ctx) {
		if (!json_is_object(ctx))
			rt_fail(rt, HD_EINVAL, "the context must be a JSON object");
		json_object_foreach((json_t *)ctx, key, val)
		{
			size_t len = strlen(key);
			struct jstr *k;
			if (scope_find(g, key, len))
				rt_fail(rt, HD_EINVAL, "variable already declared: %s", key);
			k = jstr_new(rt, key, len);
			scope_set(rt, g, k->s, k->len, jv_from_json(rt, val, 0));
		}
	}
	sb_init(rt, out, 4096);
	exec_block(rt, rt->tpl->body, rt->tpl->n_body, g, out);
}

int jinja_render(const struct jinja_template *tpl, const json_t *ctx,
                 const struct jinja_limits *lim, struct buf *out, char *err, size_t err_size)
{
	struct rt rt;
	struct jsb sb;

	memset(&rt, 0, sizeof(rt));
	rt.tpl = tpl;
	jinja_limits_default(&rt.lim);
	if (lim) {
		if (lim->max_output)
			rt.lim.max_output = lim->max_output;
		if (lim->max_memory)
			rt.lim.max_memory = lim->max_memory;
		if (lim->max_steps)
			rt.lim.max_steps = lim->max_steps;
		if (lim->max_iterations)
			rt.lim.max_iterations = lim->max_iterations;
		if (lim->max_call_depth)
			rt.lim.max_call_depth = lim->max_call_depth;
		rt.lim.max_time_ms = lim->max_time_ms;
	}
	if (rt.lim.max_time_ms)
		rt.t_end = time_mono_s() + rt.lim.max_time_ms / 1000.0;
	rt.err = err;
	rt.err_size = err_size;
	arena_init(&rt.arena, rt.lim.max_memory);
	if (setjmp(rt.jb)) {
		arena_release(&rt.arena);
		return rt.err_code ? rt.err_code : HD_EINTERNAL;
	}
	render(&rt, ctx, &sb);
	buf_append(out, sb.str->s, sb.len);
	arena_release(&rt.arena);
	if (err && err_size)
		err[0] = 0;
	return 0;
}

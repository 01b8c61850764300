/*
 * jinja_builtin.c: filters, tests, string / mapping methods and the global
 * functions (namespace, raise_exception, range, strftime_now), each with
 * the behaviour @huggingface/jinja gives it, including which argument types
 * it refuses. A filter or test it does not know is an error here too.
 */
#include "infer/jinja_int.h"

#include <math.h>
#include <string.h>
#include <time.h>

static struct jv method(struct rt *rt, struct jv self, int id)
{
	struct jv v = {.k = JV_FUNC};
	struct jfn *f = rt_alloc(rt, sizeof(*f));
	memset(f, 0, sizeof(*f));
	f->type = FN_METHOD;
	f->id = (uint8_t)id;
	f->self = self;
	v.u.f = f;
	return v;
}

static int name_is(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && !memcmp(s, name, len);
}

struct jv builtin_member(struct rt *rt, struct jv obj, const char *name, size_t len, int *found)
{
	static const struct {
		const char *name;
		int id;
	} str_methods[] =
	        {
	                {"upper", M_UPPER},           {"lower", M_LOWER},
	                {"strip", M_STRIP},           {"title", M_TITLE},
	                {"capitalize", M_CAPITALIZE}, {"rstrip", M_RSTRIP},
	                {"lstrip", M_LSTRIP},         {"startswith", M_STARTSWITH},
	                {"endswith", M_ENDSWITH},     {"split", M_SPLIT},
	                {"replace", M_REPLACE},
	        },
	  obj_methods[] = {
	          {"get", M_GET},       {"items", M_ITEMS},       {"keys", M_KEYS},
	          {"values", M_VALUES}, {"dictsort", M_DICTSORT},
	  };
	*found = 1;
	if (obj.k == JV_STR) {
		if (name_is(name, len, "length"))
			return jv_int((double)js_u16_len(obj.u.s->s, obj.u.s->len));
		for (size_t i = 0; i < ARRAY_SIZE(str_methods); i++)
			if (name_is(name, len, str_methods[i].name))
				return method(rt, obj, str_methods[i].id);
	} else if (obj.k == JV_ARRAY) {
		if (name_is(name, len, "length"))
			return jv_int((double)obj.u.a->n);
	} else if (obj.k == JV_OBJECT) {
		for (size_t i = 0; i < ARRAY_SIZE(obj_methods); i++)
			if (name_is(name, len, obj_methods[i].name))
				return method(rt, obj, obj_methods[i].id);
	}
	*found = 0;
	return jv_undef();
}

/* `args.at(i) ?? ...`: JavaScript's undefined counts as absent. */
static const struct jv *arg(struct jv *args, size_t n, size_t i)
{
	return i < n && args[i].k != JV_VOID ? &args[i] : NULL;
}

static const struct jv *kwarg(const struct jobj *kw, const char *name)
{
	const struct jv *v;
	if (!kw)
		return NULL;
	v = jobj_get(kw, name, strlen(name));
	return v && v->k != JV_VOID ? v : NULL;
}

static struct jv pair(struct rt *rt, struct jstr *k, struct jv v)
{
	struct jarr *a = jarr_new(rt, 2);
	a->v[0] = jv_strv(k);
	a->v[1] = v;
	return jv_arr(a, 0);
}

static struct jv obj_items(struct rt *rt, const struct jobj *o)
{
	struct jarr *a = jarr_new(rt, o->n);
	for (size_t i = 0; i < o->n; i++)
		a->v[i] = pair(rt, o->e[i].k, o->e[i].v);
	return jv_arr(a, 0);
}

/* ---- strings -------------------------------------------------------------- */

static struct jv str_trim(struct rt *rt, const struct jstr *s, int start, int end)
{
	size_t a = start ? js_trim_start(s->s, s->len) : 0;
	size_t b = end ? js_trim_end(s->s, s->len) : s->len;
	if (b < a)
		b = a;
	return jv_str(rt, s->s + a, b - a);
}

static int is_word_byte(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '_';
}

/* value.replace(/\b\w/g, c => c.toUpperCase()), \w being ASCII only. */
static struct jv str_title(struct rt *rt, const struct jstr *s)
{
	struct jstr *r = jstr_new(rt, s->s, s->len);
	int prev_word = 0;
	if (r == &jstr_empty)
		return jv_strv(r);
	for (size_t i = 0; i < r->len; i++) {
		int w = is_word_byte(r->s[i]);
		if (w && !prev_word && r->s[i] >= 'a' && r->s[i] <= 'z')
			r->s[i] = (char)(r->s[i] - 32);
		/* Bytes of multi-byte characters are never word characters. */
		prev_word = w;
	}
	return jv_strv(r);
}

/* charAt(0).toUpperCase() + slice(1): the first UTF-16 unit only. */
static struct jv str_capitalize(struct rt *rt, const struct jstr *s)
{
	size_t i = 0;
	uint32_t cp;
	struct jsb sb;
	struct jv up;
	if (!s->len)
		return jv_strv(&jstr_empty);
	utf8_next(s->s, s->len, &i, &cp);
	if (cp >= 0x10000)
		return jv_strv((struct jstr *)s);
	up = js_upper(rt, s->s, i);
	sb_init(rt, &sb, s->len + 4);
	sb_put(rt, &sb, up.u.s->s, up.u.s->len);
	sb_put(rt, &sb, s->s + i, s->len - i);
	return sb_value(&sb);
}

static int starts_with(const struct jstr *s, const struct jstr *p)
{
	return p->len <= s->len && !memcmp(s->s, p->s, p->len);
}

static int ends_with(const struct jstr *s, const struct jstr *p)
{
	return p->len <= s->len && !memcmp(s->s + s->len - p->len, p->s, p->len);
}

static struct jv str_affix(struct rt *rt, const struct jstr *s, struct jv *args, size_t n, int end)
{
	const char *name = end ? "endswith" : "startswith";
	if (!n)
		rt_fail(rt, HD_EINVAL, "%s() requires at least one argument", name);
	if (args[0].k == JV_STR)
		return jv_bool(end ? ends_with(s, args[0].u.s) : starts_with(s, args[0].u.s));
	if (args[0].k == JV_ARRAY) {
		const struct jarr *a = args[0].u.a;
		for (size_t i = 0; i < a->n; i++) {
			if (a->v[i].k != JV_STR)
				rt_fail(rt, HD_EINVAL, "%s() tuple elements must be strings", name);
			if (end ? ends_with(s, a->v[i].u.s) : starts_with(s, a->v[i].u.s))
				return jv_bool(1);
		}
		return jv_bool(0);
	}
	rt_fail(rt, HD_EINVAL, "%s() argument must be a string or tuple of strings", name);
}

/* A growable array of values in the arena. */
struct jvec {
	struct jv *v;
	size_t n, cap;
};

static void vec_push(struct rt *rt, struct jvec *a, struct jv v)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		struct jv *nv = rt_alloc(rt, cap * sizeof(*nv));
		if (a->n)
			memcpy(nv, a->v, a->n * sizeof(*nv));
		a->v = nv;
		a->cap = cap;
	}
	a->v[a->n++] = v;
}

static struct jv vec_array(struct rt *rt, const struct jvec *a)
{
	struct jarr *arr = jarr_new(rt, a->n);
	if (a->n)
		memcpy(arr->v, a->v, a->n * sizeof(*a->v));
	return jv_arr(arr, 0);
}

/* Python's str.split(sep=None, maxsplit=-1), as @huggingface/jinja has it. */
static struct jv str_split(struct rt *rt, const struct jstr *s, struct jv *args, size_t n)
{
	const struct jv *sep = arg(args, n, 0), *ms = arg(args, n, 1);
	struct jvec out = {0};
	double maxsplit = -1;

	if (sep && sep->k != JV_STR && sep->k != JV_NULL)
		rt_fail(rt, HD_EINVAL, "sep argument must be a string or null");
	if (ms) {
		if (ms->k != JV_INT)
			rt_fail(rt, HD_EINVAL, "maxsplit argument must be a number");
		maxsplit = ms->u.n;
	}
	if (!sep || sep->k == JV_NULL) {
		size_t start = js_trim_start(s->s, s->len), i = start;
		const char *text = s->s + start;
		size_t tlen = s->len - start;
		i = 0;
		while (i < tlen) {
			size_t ws, we;
			uint32_t cp;
			/* skip whitespace */
			while (i < tlen) {
				size_t j = i;
				utf8_next(text, tlen, &j, &cp);
				if (!js_is_space(cp))
					break;
				i = j;
			}
			if (i >= tlen)
				break;
			ws = i;
			while (i < tlen) {
				size_t j = i;
				utf8_next(text, tlen, &j, &cp);
				if (js_is_space(cp))
					break;
				i = j;
			}
			we = i;
			rt_step(rt);
			if (maxsplit != -1 && (double)out.n >= maxsplit) {
				vec_push(rt, &out, jv_str(rt, text + ws, tlen - ws));
				break;
			}
			vec_push(rt, &out, jv_str(rt, text + ws, we - ws));
		}
		return vec_array(rt, &out);
	}
	{
		const struct jstr *sp = sep->u.s;
		size_t i = 0, cut;
		if (!sp->len)
			rt_fail(rt, HD_EINVAL, "empty separator");
		for (;;) {
			const char *hit = memmem(s->s + i, s->len - i, sp->s, sp->len);
			rt_step(rt);
			if (!hit) {
				vec_push(rt, &out, jv_str(rt, s->s + i, s->len - i));
				break;
			}
			vec_push(rt, &out, jv_str(rt, s->s + i, (size_t)(hit - s->s) - i));
			i = (size_t)(hit - s->s) + sp->len;
		}
		if (maxsplit != -1 && (double)out.n > maxsplit) {
			/* result.push(result.splice(maxsplit).join(sep)) */
			struct jsb sb;
			double st = maxsplit < 0 ? fmax((double)out.n + maxsplit, 0) : maxsplit;
			cut = (size_t)st;
			sb_init(rt, &sb, s->len);
			for (size_t k = cut; k < out.n; k++) {
				if (k > cut)
					sb_put(rt, &sb, sp->s, sp->len);
				sb_put(rt, &sb, out.v[k].u.s->s, out.v[k].u.s->len);
			}
			out.n = cut;
			vec_push(rt, &out, sb_value(&sb));
		}
		return vec_array(rt, &out);
	}
}

/* utils.replace: count null or negative replaces all; an empty needle
 * matches at every code point boundary. */
static struct jv str_replace(struct rt *rt, const struct jstr *s, struct jv *args, size_t n)
{
	const struct jstr *old, *new;
	struct jv count = jv_null();
	double remaining;
	struct jsb sb;

	if (n < 2)
		rt_fail(rt, HD_EINVAL, "replace() requires at least two arguments");
	if (args[0].k != JV_STR || args[1].k != JV_STR)
		rt_fail(rt, HD_EINVAL, "replace() arguments must be strings");
	old = args[0].u.s;
	new = args[1].u.s;
	if (n > 2) {
		if (args[2].k == JV_OBJECT && args[2].sub) {
			const struct jv *c = kwarg(args[2].u.o, "count");
			count = c ? *c : jv_null();
		} else {
			count = args[2];
		}
	}
	if (count.k != JV_INT && count.k != JV_NULL)
		rt_fail(rt, HD_EINVAL, "replace() count argument must be a number or null");
	if (count.k == JV_INT && count.u.n == 0)
		return jv_strv((struct jstr *)s);
	remaining = count.k == JV_NULL || count.u.n < 0 ? INFINITY : count.u.n;
	sb_init(rt, &sb, s->len + 16);
	if (!old->len) {
		size_t i = 0;
		uint32_t cp;
		for (;;) {
			size_t at = i;
			rt_step(rt);
			if (remaining > 0) {
				sb_put(rt, &sb, new->s, new->len);
				remaining--;
			}
			if (!utf8_next(s->s, s->len, &i, &cp))
				break;
			sb_put(rt, &sb, s->s + at, i - at);
		}
		return sb_value(&sb);
	}
	{
		size_t i = 0;
		while (i <= s->len) {
			const char *hit = remaining > 0
			                          ? memmem(s->s + i, s->len - i, old->s, old->len)
			                          : NULL;
			rt_step(rt);
			if (!hit) {
				sb_put(rt, &sb, s->s + i, s->len - i);
				break;
			}
			sb_put(rt, &sb, s->s + i, (size_t)(hit - s->s) - i);
			sb_put(rt, &sb, new->s, new->len);
			remaining--;
			i = (size_t)(hit - s->s) + old->len;
		}
	}
	return sb_value(&sb);
}

/* ---- mappings ------------------------------------------------------------- */

struct dictsort_ctx {
	int by_value, case_sensitive, reverse;
};

static int dictsort_cmp(struct rt *rt, struct jv a, struct jv b, void *vctx)
{
	const struct dictsort_ctx *c = vctx;
	int idx = c->by_value ? 1 : 0;
	int r = jv_compare(rt, a.u.a->v[idx], b.u.a->v[idx], c->case_sensitive);
	return c->reverse ? -r : r;
}

static struct jv obj_dictsort(struct rt *rt, const struct jobj *o, struct jv *args, size_t n)
{
	const struct jobj *kw = NULL;
	struct jv pos[8];
	size_t n_pos = 0;
	const struct jv *cs, *by, *rev;
	struct dictsort_ctx ctx;
	struct jv items;

	for (size_t i = 0; i < n; i++) {
		if (args[i].k == JV_OBJECT && args[i].sub)
			kw = args[i].u.o;
		else if (n_pos < ARRAY_SIZE(pos))
			pos[n_pos++] = args[i];
	}
	cs = arg(pos, n_pos, 0);
	if (!cs)
		cs = kwarg(kw, "case_sensitive");
	by = arg(pos, n_pos, 1);
	if (!by)
		by = kwarg(kw, "by");
	rev = arg(pos, n_pos, 2);
	if (!rev)
		rev = kwarg(kw, "reverse");
	if (cs && cs->k != JV_BOOL)
		rt_fail(rt, HD_EINVAL, "case_sensitive must be a boolean");
	if (by && by->k != JV_STR)
		rt_fail(rt, HD_EINVAL, "by must be a string");
	if (by && !name_is(by->u.s->s, by->u.s->len, "key") &&
	    !name_is(by->u.s->s, by->u.s->len, "value"))
		rt_fail(rt, HD_EINVAL, "by must be either 'key' or 'value'");
	if (rev && rev->k != JV_BOOL)
		rt_fail(rt, HD_EINVAL, "reverse must be a boolean");
	ctx.case_sensitive = cs ? cs->u.b : 0;
	ctx.by_value = by ? name_is(by->u.s->s, by->u.s->len, "value") : 0;
	ctx.reverse = rev ? rev->u.b : 0;
	items = obj_items(rt, o);
	jv_sort(rt, items.u.a->v, items.u.a->n, dictsort_cmp, &ctx);
	return items;
}

/* ---- global functions --------------------------------------------------- */

struct jv builtin_namespace(struct rt *rt, struct jv *args, size_t n)
{
	const struct jobj *kw = NULL;
	struct jobj *o = jobj_new(rt, 4);

	if (n && args[n - 1].k == JV_OBJECT && args[n - 1].sub) {
		kw = args[n - 1].u.o;
		n--;
	}
	if (n > 1)
		rt_fail(rt, HD_EINVAL, "namespace expected at most 1 argument, got %zu", n);
	if (n == 1) {
		struct jv src = args[0];
		if (src.k == JV_OBJECT) {
			for (size_t i = 0; i < src.u.o->n; i++)
				jobj_set(rt, o, src.u.o->e[i].k, src.u.o->e[i].v);
		} else if (src.k == JV_ARRAY) {
			for (size_t i = 0; i < src.u.a->n; i++) {
				struct jv p = src.u.a->v[i], k, v;
				if (p.k == JV_ARRAY && p.u.a->n == 2) {
					k = p.u.a->v[0];
					v = p.u.a->v[1];
				} else if (p.k == JV_STR && js_u16_len(p.u.s->s, p.u.s->len) <= 4) {
					/* Array.from of a two-character string */
					size_t a = 0, b;
					uint32_t cp;
					int cnt = 0;
					while (utf8_next(p.u.s->s, p.u.s->len, &a, &cp))
						cnt++;
					if (cnt != 2)
						goto bad_pair;
					a = 0;
					utf8_next(p.u.s->s, p.u.s->len, &a, &cp);
					b = a;
					utf8_next(p.u.s->s, p.u.s->len, &b, &cp);
					k = jv_str(rt, p.u.s->s, a);
					v = jv_str(rt, p.u.s->s + a, b - a);
				} else {
					goto bad_pair;
				}
				if (k.k != JV_STR)
					rt_fail(rt, HD_EINVAL, "namespace keys must be strings");
				jobj_set(rt, o, k.u.s, v);
				continue;
			bad_pair:
				rt_fail(rt, HD_EINVAL,
				        "namespace expected an object or an iterable of [key, "
				        "value] pairs");
			}
		} else {
			rt_fail(rt, HD_EINVAL, "'%s' object is not iterable", jv_type_name(src));
		}
	}
	for (size_t i = 0; kw && i < kw->n; i++)
		jobj_set(rt, o, kw->e[i].k, kw->e[i].v);
	return jv_obj(o, JV_NS, 0);
}

/* The raw JavaScript value of an argument to a function given by the
 * context side of @huggingface/jinja (range, raise_exception, ...). */
static void need_raw(struct rt *rt, struct jv *args, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (args[i].k == JV_VOID)
			rt_fail(rt, HD_EINVAL, "cannot read properties of undefined");
}

static double range_num(struct rt *rt, struct jv v)
{
	switch (v.k) {
	case JV_INT:
	case JV_FLOAT: return v.u.n;
	case JV_BOOL: return v.u.b;
	case JV_NULL: /* its value is JavaScript's undefined */
	case JV_UNDEF: return NAN;
	default: rt_fail(rt, HD_EINVAL, "range() arguments must be numbers");
	}
}

static struct jv g_range(struct rt *rt, struct jv *args, size_t n)
{
	double start, stop, step = 1;
	size_t count = 0;
	struct jarr *arr;
	need_raw(rt, args, n);
	start = n == 0 ? NAN : range_num(rt, args[0]);
	if (n < 2 || args[1].k == JV_UNDEF || args[1].k == JV_NULL) {
		stop = start;
		start = 0;
	} else {
		stop = range_num(rt, args[1]);
	}
	if (n >= 3 && args[2].k != JV_UNDEF && args[2].k != JV_NULL)
		step = range_num(rt, args[2]);
	if (step == 0)
		rt_fail(rt, HD_EINVAL, "range() step must not be zero");
	/* Count first (by the same additions), then fill an exact array. */
	for (double i = start; step > 0 ? i < stop : i > stop; i += step) {
		rt_count_iterations(rt, 1);
		count++;
	}
	arr = jarr_new(rt, count);
	{
		double i = start;
		for (size_t k = 0; k < count; k++, i += step)
			arr->v[k] = jv_num(i, !(i == floor(i) && isfinite(i)));
	}
	return jv_arr(arr, 0);
}

static struct jv g_strftime(struct rt *rt, struct jv *args, size_t n)
{
	static const char *const months[] = {"January",   "February", "March",    "April",
	                                     "May",       "June",     "July",     "August",
	                                     "September", "October",  "November", "December"};
	struct jsb sb;
	const struct jstr *f;
	struct tm tm;
	time_t now = time(NULL);
	char num[16];

	need_raw(rt, args, n);
	if (!n || args[0].k != JV_STR)
		rt_fail(rt, HD_EINVAL, "strftime_now() needs a format string");
	f = args[0].u.s;
	localtime_r(&now, &tm);
	sb_init(rt, &sb, f->len + 16);
	for (size_t i = 0; i < f->len; i++) {
		if (f->s[i] != '%' || i + 1 >= f->len) {
			sb_putc(rt, &sb, f->s[i]);
			continue;
		}
		switch (f->s[i + 1]) {
		case 'Y': snprintf(num, sizeof(num), "%d", tm.tm_year + 1900); break;
		case 'm': snprintf(num, sizeof(num), "%02d", tm.tm_mon + 1); break;
		case 'd': snprintf(num, sizeof(num), "%02d", tm.tm_mday); break;
		case 'H': snprintf(num, sizeof(num), "%02d", tm.tm_hour); break;
		case 'M': snprintf(num, sizeof(num), "%02d", tm.tm_min); break;
		case 'b': snprintf(num, sizeof(num), "%.3s", months[tm.tm_mon]); break;
		case 'B': snprintf(num, sizeof(num), "%s", months[tm.tm_mon]); break;
		case '%': snprintf(num, sizeof(num), "%%"); break;
		default: sb_putc(rt, &sb, '%'); continue;
		}
		sb_puts(rt, &sb, num);
		i++;
	}
	return sb_value(&sb);
}

struct jv builtin_call(struct rt *rt, const struct jfn *f, struct jv *args, size_t n,
                       struct scope *sc)
{
	(void)sc;
	if (f->type == FN_GLOBAL) {
		switch (f->id) {
		case G_NAMESPACE: return builtin_namespace(rt, args, n);
		case G_RAISE: {
			struct jsb sb;
			need_raw(rt, args, n);
			sb_init(rt, &sb, 128);
			if (n && args[0].k != JV_UNDEF && args[0].k != JV_NULL)
				jv_put_raw(rt, &sb, args[0]);
			rt_fail(rt, HD_EINVAL, "%s",
			        sb.len ? sb_finish(&sb)->s : "raise_exception() with no message");
		}
		case G_RANGE: return g_range(rt, args, n);
		case G_STRFTIME: return g_strftime(rt, args, n);
		default: break;
		}
		rt_fail(rt, HD_EINTERNAL, "unknown function");
	}
	{
		struct jv self = f->self;
		switch (f->id) {
		case M_UPPER: return js_upper(rt, self.u.s->s, self.u.s->len);
		case M_LOWER: return js_lower(rt, self.u.s->s, self.u.s->len);
		case M_STRIP: return str_trim(rt, self.u.s, 1, 1);
		case M_LSTRIP: return str_trim(rt, self.u.s, 1, 0);
		case M_RSTRIP: return str_trim(rt, self.u.s, 0, 1);
		case M_TITLE: return str_title(rt, self.u.s);
		case M_CAPITALIZE: return str_capitalize(rt, self.u.s);
		case M_STARTSWITH: return str_affix(rt, self.u.s, args, n, 0);
		case M_ENDSWITH: return str_affix(rt, self.u.s, args, n, 1);
		case M_SPLIT: return str_split(rt, self.u.s, args, n);
		case M_REPLACE: return str_replace(rt, self.u.s, args, n);
		case M_GET: {
			const struct jv *v;
			if (!n || args[0].k != JV_STR)
				rt_fail(rt, HD_EINVAL, "object key must be a string: got %s",
				        n ? jv_type_name(args[0]) : "undefined");
			v = jobj_get(self.u.o, args[0].u.s->s, args[0].u.s->len);
			if (v && v->k != JV_VOID)
				return *v;
			if (n > 1 && args[1].k != JV_VOID)
				return args[1];
			return jv_null();
		}
		case M_ITEMS: return obj_items(rt, self.u.o);
		case M_KEYS: {
			struct jarr *a = jarr_new(rt, self.u.o->n);
			for (size_t i = 0; i < self.u.o->n; i++)
				a->v[i] = jv_strv(self.u.o->e[i].k);
			return jv_arr(a, 0);
		}
		case M_VALUES: {
			struct jarr *a = jarr_new(rt, self.u.o->n);
			for (size_t i = 0; i < self.u.o->n; i++)
				a->v[i] = self.u.o->e[i].v;
			return jv_arr(a, 0);
		}
		case M_DICTSORT: return obj_dictsort(rt, self.u.o, args, n);
		default: break;
		}
	}
	rt_fail(rt, HD_EINTERNAL, "unknown method");
}

/* ---- tests ----------------------------------------------------------------- */

static const char *const test_names[] = {
        "callable", "number",  "integer",   "mapping", "sequence", "boolean",  "odd",
        "even",     "false",   "true",      "none",    "string",   "iterable", "lower",
        "upper",    "defined", "undefined", "equalto", "eq",
};

static int test_known(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(test_names); i++)
		if (name_is(name, len, test_names[i]))
			return 1;
	return 0;
}

int builtin_test(struct rt *rt, const char *name, size_t len, struct jv a, const struct jv *b,
                 int *known)
{
	*known = 1;
	/* Tests that only use instanceof accept JavaScript's undefined. */
	if (name_is(name, len, "callable"))
		return a.k == JV_FUNC;
	if (name_is(name, len, "number"))
		return jv_is_num(a);
	if (name_is(name, len, "integer"))
		return a.k == JV_INT;
	if (name_is(name, len, "mapping"))
		return a.k == JV_OBJECT;
	if (name_is(name, len, "sequence"))
		return a.k == JV_ARRAY || a.k == JV_OBJECT || a.k == JV_STR;
	if (!test_known(name, len)) {
		*known = 0;
		return 0;
	}
	if (a.k == JV_VOID)
		rt_fail(rt, HD_EINVAL, "cannot read properties of undefined");
	if (name_is(name, len, "boolean"))
		return a.k == JV_BOOL;
	if (name_is(name, len, "odd") || name_is(name, len, "even")) {
		if (a.k != JV_INT)
			rt_fail(rt, HD_EINVAL, "cannot %.*s on %s", (int)len, name,
			        jv_type_name(a));
		return (fmod(a.u.n, 2) != 0) == (name[0] == 'o');
	}
	if (name_is(name, len, "false"))
		return a.k == JV_BOOL && !a.u.b;
	if (name_is(name, len, "true"))
		return a.k == JV_BOOL && a.u.b;
	if (name_is(name, len, "none"))
		return a.k == JV_NULL;
	if (name_is(name, len, "string"))
		return a.k == JV_STR;
	if (name_is(name, len, "iterable"))
		return (a.k == JV_ARRAY && !a.sub) || a.k == JV_STR;
	if (name_is(name, len, "lower") || name_is(name, len, "upper")) {
		struct jv c;
		if (a.k != JV_STR)
			return 0;
		c = name[0] == 'l' ? js_lower(rt, a.u.s->s, a.u.s->len)
		                   : js_upper(rt, a.u.s->s, a.u.s->len);
		return c.u.s->len == a.u.s->len && !memcmp(c.u.s->s, a.u.s->s, a.u.s->len);
	}
	if (name_is(name, len, "defined"))
		return a.k != JV_UNDEF;
	if (name_is(name, len, "undefined"))
		return a.k == JV_UNDEF;
	/* equalto / eq */
	if (!b || b->k == JV_VOID)
		rt_fail(rt, HD_EINVAL, "cannot read properties of undefined (reading 'value')");
	return jv_strict_eq(a, *b);
}

/* ---- filters ------------------------------------------------------------- */

/* getAttributeValue: "a.b.0" walks mappings by key and arrays by index. */
static struct jv attr_path(struct jv item, const struct jstr *path)
{
	size_t i = 0;
	struct jv v = item;
	while (i <= path->len) {
		const char *dot = memchr(path->s + i, '.', path->len - i);
		size_t plen = dot ? (size_t)(dot - path->s) - i : path->len - i;
		const char *part = path->s + i;
		if (jv_is_attr(v)) {
			const struct jv *x = jobj_get(v.u.o, part, plen);
			v = x && x->k != JV_VOID ? *x : jv_undef();
		} else if (v.k == JV_ARRAY) {
			double idx = js_parse_int(part, plen);
			if (isnan(idx) || idx < 0 || idx >= (double)v.u.a->n)
				return jv_undef();
			v = v.u.a->v[(size_t)idx];
		} else {
			return jv_undef();
		}
		if (!dot)
			break;
		i += plen + 1;
	}
	return v;
}

struct sort_ctx {
	int reverse, case_sensitive;
	const struct jstr *attr; /* NULL: the items themselves */
};

static int sort_cmp(struct rt *rt, struct jv a, struct jv b, void *vctx)
{
	const struct sort_ctx *c = vctx;
	int r;
	if (c->attr) {
		a = attr_path(a, c->attr);
		b = attr_path(b, c->attr);
	}
	r = jv_compare(rt, a, b, c->case_sensitive);
	return c->reverse ? -r : r;
}

static struct jv sorted(struct rt *rt, struct jv arr, const struct sort_ctx *ctx)
{
	struct jarr *a = jarr_new(rt, arr.u.a->n);
	if (a->n)
		memcpy(a->v, arr.u.a->v, a->n * sizeof(struct jv));
	jv_sort(rt, a->v, a->n, sort_cmp, (void *)ctx);
	return jv_arr(a, 0);
}

/* Array.prototype.join over raw values: null and undefined are empty. */
static void join_raw(struct rt *rt, struct jsb *sb, const struct jarr *a, const char *sep,
                     size_t sep_len)
{
	for (size_t i = 0; i < a->n; i++) {
		struct jv v = a->v[i];
		if (i)
			sb_put(rt, sb, sep, sep_len);
		if (v.k == JV_VOID)
			rt_fail(rt, HD_EINVAL,
			        "cannot read properties of undefined (reading 'value')");
		if (v.k == JV_NULL || v.k == JV_UNDEF)
			continue;
		jv_put_raw(rt, sb, v);
	}
}

static struct jv indent_str(struct rt *rt, const struct jstr *s, const char *pad, size_t pad_len,
                            int first, int blank)
{
	struct jsb sb;
	size_t i = 0, line = 0;
	sb_init(rt, &sb, s->len + 64);
	for (;;) {
		const char *nl = memchr(s->s + i, '\n', s->len - i);
		size_t end = nl ? (size_t)(nl - s->s) : s->len;
		int empty = end == i;
		rt_step(rt);
		if (!((!first && line == 0) || (!blank && empty)))
			sb_put(rt, &sb, pad, pad_len);
		sb_put(rt, &sb, s->s + i, end - i);
		if (!nl)
			break;
		sb_putc(rt, &sb, '\n');
		i = end + 1;
		line++;
	}
	return sb_value(&sb);
}

static struct jv str_value(struct rt *rt, struct jv v)
{
	struct jsb sb;
	sb_init(rt, &sb, 32);
	jv_put_str(rt, &sb, v);
	return sb_value(&sb);
}

__attribute__((noreturn)) static void unknown_filter(struct rt *rt, const char *kind,
                                                     const char *name, size_t len)
{
	rt_fail(rt, HD_EINVAL, "unknown %s filter: %.*s", kind, (int)len, name);
}

static struct jv filter_plain(struct rt *rt, struct jv v, const char *name, size_t len)
{
#define IS(x) name_is(name, len, x)
	if (IS("safe"))
		return v;
	if (IS("tojson")) {
		struct jsb sb;
		sb_init(rt, &sb, 128);
		jv_put_json(rt, &sb, v, NULL, 0, 1);
		return sb_value(&sb);
	}
	switch (v.k) {
	case JV_ARRAY: {
		const struct jarr *a = v.u.a;
		if (IS("list"))
			return v;
		if (IS("first"))
			return a->n ? a->v[0] : jv_void();
		if (IS("last"))
			return a->n ? a->v[a->n - 1] : jv_void();
		if (IS("length"))
			return jv_int((double)a->n);
		if (IS("reverse")) {
			struct jarr *r = jarr_new(rt, a->n);
			for (size_t i = 0; i < a->n; i++)
				r->v[i] = a->v[a->n - 1 - i];
			return jv_arr(r, 0);
		}
		if (IS("sort")) {
			struct sort_ctx ctx = {0, 0, NULL};
			return sorted(rt, v, &ctx);
		}
		if (IS("join")) {
			struct jsb sb;
			sb_init(rt, &sb, 64);
			join_raw(rt, &sb, a, "", 0);
			return sb_value(&sb);
		}
		if (IS("string")) {
			struct jsb sb;
			sb_init(rt, &sb, 64);
			jv_put_json(rt, &sb, v, NULL, 0, 0);
			return sb_value(&sb);
		}
		if (IS("unique")) {
			struct jvec out = {0};
			for (size_t i = 0; i < a->n; i++) {
				int seen = 0;
				if (a->v[i].k == JV_VOID)
					rt_fail(rt, HD_EINVAL,
					        "cannot read properties of undefined");
				for (size_t j = 0; j < out.n && !seen; j++) {
					rt_step(rt);
					seen = jv_same_value_zero(out.v[j], a->v[i]);
				}
				if (!seen)
					vec_push(rt, &out, a->v[i]);
			}
			return vec_array(rt, &out);
		}
		unknown_filter(rt, "ArrayValue", name, len);
	}
	case JV_STR: {
		const struct jstr *s = v.u.s;
		if (IS("length"))
			return jv_int((double)js_u16_len(s->s, s->len));
		if (IS("upper"))
			return js_upper(rt, s->s, s->len);
		if (IS("lower"))
			return js_lower(rt, s->s, s->len);
		if (IS("title"))
			return str_title(rt, s);
		if (IS("capitalize"))
			return str_capitalize(rt, s);
		if (IS("trim"))
			return str_trim(rt, s, 1, 1);
		if (IS("indent"))
			return indent_str(rt, s, "    ", 4, 0, 0);
		if (IS("join") || IS("string"))
			return v;
		if (IS("int")) {
			double d = js_parse_int(s->s, s->len);
			return jv_int(isnan(d) ? 0 : d);
		}
		if (IS("float")) {
			double d = js_parse_float(s->s, s->len);
			return jv_float(isnan(d) ? 0 : d);
		}
		unknown_filter(rt, "StringValue", name, len);
	}
	case JV_INT:
	case JV_FLOAT:
		if (IS("abs"))
			return jv_num(fabs(v.u.n), v.k == JV_FLOAT);
		if (IS("int"))
			return jv_int(floor(v.u.n));
		if (IS("float"))
			return jv_float(v.u.n);
		if (IS("string"))
			return str_value(rt, v);
		unknown_filter(rt, "NumericValue", name, len);
	case JV_OBJECT:
		if (IS("items"))
			return obj_items(rt, v.u.o);
		if (IS("length"))
			return jv_int((double)v.u.o->n);
		{
			int found;
			struct jv m = builtin_member(rt, v, name, len, &found);
			if (found)
				return builtin_call(rt, m.u.f, NULL, 0, NULL);
		}
		unknown_filter(rt, "ObjectValue", name, len);
	case JV_BOOL:
		if (IS("bool"))
			return v;
		if (IS("int"))
			return jv_int(v.u.b);
		if (IS("float"))
			return jv_float(v.u.b);
		if (IS("string"))
			return jv_cstr(rt, v.u.b ? "true" : "false");
		unknown_filter(rt, "BooleanValue", name, len);
	default: break;
	}
	rt_fail(rt, HD_EINVAL, "cannot apply filter \"%.*s\" to type: %s", (int)len, name,
	        jv_type_name(v));
#undef IS
}

static struct jv filter_tojson(struct rt *rt, struct jv v, const struct jobj *kw)
{
	const struct jv *indent = kwarg(kw, "indent"), *ascii = kwarg(kw, "ensure_ascii");
	const struct jv *sort = kwarg(kw, "sort_keys"), *seps = kwarg(kw, "separators");
	struct json_opts o = {0};
	struct jsb sb;

	if (indent && indent->k != JV_INT && indent->k != JV_NULL)
		rt_fail(rt, HD_EINVAL, "if set, indent must be a number");
	if (ascii && ascii->k != JV_BOOL)
		rt_fail(rt, HD_EINVAL, "if set, ensure_ascii must be a boolean");
	if (sort && sort->k != JV_BOOL)
		rt_fail(rt, HD_EINVAL, "if set, sort_keys must be a boolean");
	if (seps && seps->k == JV_ARRAY) {
		if (seps->u.a->n != 2 || seps->u.a->v[0].k != JV_STR || seps->u.a->v[1].k != JV_STR)
			rt_fail(rt, HD_EINVAL, "separators must be a tuple of two strings");
		o.item_sep = seps->u.a->v[0].u.s;
		o.key_sep = seps->u.a->v[1].u.s;
	} else if (seps && seps->k != JV_NULL) {
		rt_fail(rt, HD_EINVAL, "if set, separators must be a tuple of two strings");
	}
	if (indent && indent->k == JV_INT) {
		double d = indent->u.n;
		if (!isnan(d) && d != 0) {
			if (d < 0 || isinf(d))
				rt_fail(rt, HD_EINVAL, "invalid indent %g", d);
			o.indent =
			        d > (double)rt->lim.max_output ? rt->lim.max_output + 1 : (size_t)d;
		}
	}
	o.ensure_ascii = ascii ? ascii->u.b : 0;
	o.sort_keys = sort ? sort->u.b : 0;
	sb_init(rt, &sb, 128);
	jv_put_json(rt, &sb, v, &o, 0, 1);
	return sb_value(&sb);
}

static struct jv filter_selectattr(struct rt *rt, struct jv v, const struct node *call, int select,
                                   struct scope *sc)
{
	const struct jarr *a = v.u.a;
	struct jv attr, tname = jv_void(), value = jv_void();
	struct jvec out = {0};
	int known = 1;

	for (size_t i = 0; i < a->n; i++)
		if (!jv_is_attr(a->v[i]))
			rt_fail(rt, HD_EINVAL, "%s can only be applied to an array of objects",
			        select ? "selectattr" : "rejectattr");
	for (size_t i = 0; i < call->n_kids; i++)
		if (call->kids[i]->kind != N_STR)
			rt_fail(rt, HD_EINVAL, "arguments of %s must be strings",
			        select ? "selectattr" : "rejectattr");
	if (!call->n_kids)
		rt_fail(rt, HD_EINVAL, "cannot read properties of undefined (reading 'value')");
	attr = rt_eval(rt, call->kids[0], sc);
	if (call->n_kids > 1)
		tname = rt_eval(rt, call->kids[1], sc);
	if (call->n_kids > 2)
		value = rt_eval(rt, call->kids[2], sc);
	if (tname.k == JV_STR && !test_known(tname.u.s->s, tname.u.s->len))
		rt_fail(rt, HD_EINVAL, "unknown test: %s", tname.u.s->s);
	for (size_t i = 0; i < a->n; i++) {
		const struct jv *x = jobj_get(a->v[i].u.o, attr.u.s->s, attr.u.s->len);
		int r = 0;
		if (x && x->k != JV_VOID)
			r = tname.k == JV_STR ? builtin_test(rt, tname.u.s->s, tname.u.s->len, *x,
			                                     &value, &known)
			                      : jv_truthy(rt, *x);
		if (select ? r : !r)
			vec_push(rt, &out, a->v[i]);
	}
	return vec_array(rt, &out);
}

struct jv builtin_filter(struct rt *rt, struct jv v, const struct node *f, struct scope *sc)
{
	const char *name;
	size_t len;
	struct jv *args;
	size_t n;
	struct jobj *kw;

	if (f->kind == N_IDENT)
		return filter_plain(rt, v, f->s, f->slen);
	if (f->kind != N_CALL || f->a->kind != N_IDENT)
		rt_fail(rt, HD_EINVAL, "unknown filter");
	name = f->a->s;
	len = f->a->slen;
#define IS(x) name_is(name, len, x)
	if (IS("tojson")) {
		rt_eval_args(rt, f->kids, f->n_kids, sc, &args, &n, &kw);
		return filter_tojson(rt, v, kw);
	}
	if (IS("join")) {
		const struct jv *sep;
		struct jsb sb;
		if (v.k != JV_STR && v.k != JV_ARRAY)
			rt_fail(rt, HD_EINVAL, "cannot apply filter \"join\" to type: %s",
			        jv_type_name(v));
		rt_eval_args(rt, f->kids, f->n_kids, sc, &args, &n, &kw);
		sep = arg(args, n, 0);
		if (!sep)
			sep = kwarg(kw, "separator");
		if (sep && sep->k != JV_STR)
			rt_fail(rt, HD_EINVAL, "separator must be a string");
		sb_init(rt, &sb, 64);
		if (v.k == JV_STR) {
			size_t i = 0, at = 0;
			uint32_t cp;
			while (utf8_next(v.u.s->s, v.u.s->len, &i, &cp)) {
				if (at && sep)
					sb_put(rt, &sb, sep->u.s->s, sep->u.s->len);
				sb_put(rt, &sb, v.u.s->s + at, i - at);
				at = i;
			}
		} else {
			join_raw(rt, &sb, v.u.a, sep ? sep->u.s->s : "", sep ? sep->u.s->len : 0);
		}
		return sb_value(&sb);
	}
	if (IS("int") || IS("float")) {
		const struct jv *def;
		int is_int = IS("int");
		rt_eval_args(rt, f->kids, f->n_kids, sc, &args, &n, &kw);
		def = arg(args, n, 0);
		if (!def)
			def = kwarg(kw, "default");
		if (v.k == JV_STR) {
			double d = is_int ? js_parse_int(v.u.s->s, v.u.s->len)
			                  : js_parse_float(v.u.s->s, v.u.s->len);
			if (isnan(d))
				return def ? *def : jv_num(0, !is_int);
			return jv_num(d, !is_int);
		}
		if (jv_is_num(v))
			return v;
		if (v.k == JV_BOOL)
			return jv_num(v.u.b, !is_int);
		rt_fail(rt, HD_EINVAL, "cannot apply filter \"%s\" to type: %s",
		        is_int ? "int" : "float", jv_type_name(v));
	}
	if (IS("default")) {
		const struct jv *def, *boolean;
		rt_eval_args(rt, f->kids, f->n_kids, sc, &args, &n, &kw);
		def = arg(args, n, 0);
		boolean = arg(args, n, 1);
		if (!boolean)
			boolean = kwarg(kw, "boolean");
		if (boolean && boolean->k != JV_BOOL)
			rt_fail(rt, HD_EINVAL, "`default` filter flag must be a boolean");
		if (v.k == JV_UNDEF || (boolean && boolean->u.b && !jv_truthy(rt, v)))
			return def ? *def : jv_strv(&jstr_empty);
		return v;
	}
	if (v.k == JV_ARRAY) {
		if (IS("sort")) {
			const struct jv *rev, *cs, *attr;
			struct sort_ctx ctx = {0, 0, NULL};
			char nb[40];
			rt_eval_args(rt, f->kids, f->n_kids, sc, &args, &n, &kw);
			rev = arg(args, n, 0);
			if (!rev)
				rev = kwarg(kw, "reverse");
			cs = arg(args, n, 1);
			if (!cs)
				cs = kwarg(kw, "case_sensitive");
			attr = arg(args, n, 2);
			if (!attr)
				attr = kwarg(kw, "attribute");
			if (rev && rev->k != JV_BOOL)
				rt_fail(rt, HD_EINVAL, "reverse must be a boolean");
			if (cs && cs->k != JV_BOOL)
				rt_fail(rt, HD_EINVAL, "case_sensitive must be a boolean");
			if (attr && attr->k != JV_STR && attr->k != JV_INT && attr->k != JV_NULL)
				rt_fail(rt, HD_EINVAL,
				        "attribute must be a string, integer, or null");
			ctx.reverse = rev ? rev->u.b : 0;
			ctx.case_sensitive = cs ? cs->u.b : 0;
			if (attr && attr->k == JV_STR) {
				ctx.attr = attr->u.s;
			} else if (attr && attr->k == JV_INT) {
				js_num_fmt(nb, attr->u.n);
				ctx.attr = jstr_new(rt, nb, strlen(nb));
			}
			return sorted(rt, v, &ctx);
		}
		if (IS("selectattr") || IS("rejectattr"))
			return filter_selectattr(rt, v, f, IS("selectattr"), sc);
		if (IS("map")) {
			const struct jv *attr, *def;
			struct jarr *out;
			rt_eval_args(rt, f->kids, f->n_kids, sc, &args, &n, &kw);
			attr = kw ? jobj_get(kw, "attribute", 9) : NULL;
			if (!attr)
				rt_fail(rt, HD_EINVAL,
				        "`map` expressions without `attribute` set are not "
				        "supported");
			if (attr->k != JV_STR)
				rt_fail(rt, HD_EINVAL, "attribute must be a string");
			def = kwarg(kw, "default");
			out = jarr_new(rt, v.u.a->n);
			for (size_t i = 0; i < v.u.a->n; i++) {
				struct jv x;
				if (!jv_is_attr(v.u.a->v[i]))
					rt_fail(rt, HD_EINVAL, "items in map must be an object");
				x = attr_path(v.u.a->v[i], attr->u.s);
				out->v[i] = x.k == JV_UNDEF ? (def ? *def : jv_undef()) : x;
			}
			return jv_arr(out, 0);
		}
		unknown_filter(rt, "ArrayValue", name, len);
	}
	if (v.k == JV_STR) {
		if (IS("indent")) {
			const struct jv *width, *first, *blank;
			struct jsb pad;
			rt_eval_args(rt, f->kids, f->n_kids, sc, &args, &n, &kw);
			width = arg(args, n, 0);
			if (!width)
				width = kwarg(kw, "width");
			first = arg(args, n, 1);
			if (!first)
				first = kwarg(kw, "first");
			blank = arg(args, n, 2);
			if (!blank)
				blank = kwarg(kw, "blank");
			if (width && width->k != JV_INT)
				rt_fail(rt, HD_EINVAL, "width must be a number");
			sb_init(rt, &pad, 16);
			if (!width) {
				sb_puts(rt, &pad, "    ");
			} else {
				double w = width->u.n;
				if (w < 0 || isinf(w))
					rt_fail(rt, HD_EINVAL, "invalid count value: %g", w);
				for (double i = 0; i < w; i++)
					sb_putc(rt, &pad, ' ');
			}
			return indent_str(rt, v.u.s, pad.str->s, pad.len,
			                  first && jv_raw_truthy(*first),
			                  blank && jv_raw_truthy(*blank));
		}
		if (IS("replace")) {
			struct jv *all;
			rt_eval_args(rt, f->kids, f->n_kids, sc, &args, &n, &kw);
			all = rt_alloc(rt, (n + 1) * sizeof(*all));
			if (n)
				memcpy(all, args, n * sizeof(*args));
			all[n] = jv_obj(kw ? kw : jobj_new(rt, 0), JV_OBJECT, 1);
			return str_replace(rt, v.u.s, all, n + 1);
		}
		unknown_filter(rt, "StringValue", name, len);
	}
	if (v.k == JV_OBJECT) {
		int found;
		struct jv m = builtin_member(rt, v, name, len, &found);
		if (found) {
			rt_eval_args(rt, f->kids, f->n_kids, sc, &args, &n, &kw);
			if (kw && kw->n)
				args[n++] = jv_obj(kw, JV_OBJECT, 1);
			return builtin_call(rt, m.u.f, args, n, sc);
		}
		unknown_filter(rt, "ObjectValue", name, len);
	}
	rt_fail(rt, HD_EINVAL, "cannot apply filter \"%.*s\" to type: %s", (int)len, name,
	        jv_type_name(v));
#undef IS
}

/*
 * jinja_value.c: the values a template computes with, and the JavaScript
 * semantics @huggingface/jinja gives them: strings are UTF-8 here but count
 * and compare as UTF-16 as JavaScript's do, numbers are doubles printed as
 * Number.prototype.toString prints them, `==` is JavaScript's loose
 * equality, and tojson follows JSON.stringify with Python's separators.
 */
#include "infer/jinja_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

/* ---- arena ----------------------------------------------------------- */

struct jchunk {
	struct jchunk *next;
	size_t size, off;
	_Alignas(16) unsigned char data[];
};

#define CHUNK_MIN ((size_t)64 << 10)

void arena_init(struct arena *a, size_t cap)
{
	a->head = NULL;
	a->used = 0;
	a->cap = cap;
}

void arena_release(struct arena *a)
{
	struct jchunk *c = a->head;
	while (c) {
		struct jchunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->used = 0;
}

void *arena_try_alloc(struct arena *a, size_t n)
{
	struct jchunk *c = a->head;
	size_t need = (n + 15) & ~(size_t)15;
	if (need < n || (a->cap && (need > a->cap || a->used > a->cap - need)))
		return NULL;
	if (!c || c->size - c->off < need) {
		size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;
		c = xmalloc(sizeof(*c) + size);
		c->size = size;
		c->off = 0;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->off;
	c->off += need;
	a->used += need;
	return p;
}

/* Grows the most recent allocation in place when the chunk has room. */
static int arena_try_extend(struct arena *a, void *p, size_t old_n, size_t new_n)
{
	struct jchunk *c = a->head;
	size_t old_need = (old_n + 15) & ~(size_t)15, new_need = (new_n + 15) & ~(size_t)15;
	if (!c || (unsigned char *)p + old_need != c->data + c->off || new_need < old_need)
		return 0;
	if (c->size - (c->off - old_need) < new_need)
		return 0;
	if (a->cap && a->used - old_need + new_need > a->cap)
		return 0;
	c->off += new_need - old_need;
	a->used += new_need - old_need;
	return 1;
}

/* ---- strings ---------------------------------------------------------- */

union jstr_empty_storage jstr_empty_storage;

struct jstr *jstr_new(struct rt *rt, const char *s, size_t len)
{
	struct jstr *j;
	if (!len)
		return &jstr_empty;
	if (len > rt->lim.max_output)
		rt_fail(rt, HD_ETOOBIG, "a string of %zu bytes exceeds the limit of %zu bytes", len,
		        rt->lim.max_output);
	j = rt_alloc(rt, sizeof(*j) + len + 1);
	j->len = len;
	memcpy(j->s, s, len);
	j->s[len] = 0;
	return j;
}

struct jv jv_strv(struct jstr *s)
{
	struct jv v = {.k = JV_STR};
	v.u.s = s;
	return v;
}

struct jv jv_str(struct rt *rt, const char *s, size_t len)
{
	return jv_strv(jstr_new(rt, s, len));
}

struct jv jv_cstr(struct rt *rt, const char *s)
{
	return jv_str(rt, s, strlen(s));
}

void sb_init(struct rt *rt, struct jsb *sb, size_t hint)
{
	sb->cap = hint < 48 ? 48 : hint;
	if (sb->cap > rt->lim.max_output)
		sb->cap = rt->lim.max_output;
	sb->str = rt_alloc(rt, sizeof(struct jstr) + sb->cap + 1);
	sb->len = 0;
}

void sb_put(struct rt *rt, struct jsb *sb, const char *s, size_t n)
{
	if (!n)
		return;
	if (n > rt->lim.max_output - sb->len)
		rt_fail(rt, HD_ETOOBIG, "output longer than the limit of %zu bytes",
		        rt->lim.max_output);
	if (sb->len + n > sb->cap) {
		size_t cap = sb->cap * 2;
		if (cap < sb->len + n)
			cap = sb->len + n;
		if (cap > rt->lim.max_output)
			cap = rt->lim.max_output;
		if (!arena_try_extend(&rt->arena, sb->str, sizeof(struct jstr) + sb->cap + 1,
		                      sizeof(struct jstr) + cap + 1)) {
			struct jstr *ns = rt_alloc(rt, sizeof(struct jstr) + cap + 1);
			memcpy(ns->s, sb->str->s, sb->len);
			sb->str = ns;
		}
		sb->cap = cap;
	}
	memcpy(sb->str->s + sb->len, s, n);
	sb->len += n;
}

void sb_puts(struct rt *rt, struct jsb *sb, const char *s)
{
	sb_put(rt, sb, s, strlen(s));
}

void sb_putc(struct rt *rt, struct jsb *sb, char c)
{
	sb_put(rt, sb, &c, 1);
}

void sb_put_cp(struct rt *rt, struct jsb *sb, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (char)(0xF0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	sb_put(rt, sb, b, n);
}

struct jstr *sb_finish(struct jsb *sb)
{
	if (!sb->len)
		return &jstr_empty;
	sb->str->len = sb->len;
	sb->str->s[sb->len] = 0;
	return sb->str;
}

struct jv sb_value(struct jsb *sb)
{
	return jv_strv(sb_finish(sb));
}

/* ---- arrays and objects ----------------------------------------------- */

struct jarr *jarr_new(struct rt *rt, size_t n)
{
	struct jarr *a;
	if (n > (SIZE_MAX - sizeof(*a)) / sizeof(struct jv))
		rt_fail(rt, HD_ETOOBIG, "array too large");
	a = rt_alloc(rt, sizeof(*a) + n * sizeof(struct jv));
	a->n = n;
	return a;
}

struct jv jv_arr(struct jarr *a, int tuple)
{
	struct jv v = {.k = JV_ARRAY};
	v.sub = (uint8_t)tuple;
	v.u.a = a;
	return v;
}

struct jobj *jobj_new(struct rt *rt, size_t cap)
{
	struct jobj *o = rt_alloc(rt, sizeof(*o));
	o->n = 0;
	o->cap = cap;
	o->e = cap ? rt_alloc(rt, cap * sizeof(struct jent)) : NULL;
	return o;
}

struct jv jv_obj(struct jobj *o, uint8_t kind, int kwargs)
{
	struct jv v = {.k = kind};
	v.sub = (uint8_t)kwargs;
	v.u.o = o;
	return v;
}

struct jv *jobj_get(const struct jobj *o, const char *k, size_t len)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->e[i].k->len == len && !memcmp(o->e[i].k->s, k, len))
			return &o->e[i].v;
	return NULL;
}

void jobj_set(struct rt *rt, struct jobj *o, struct jstr *k, struct jv v)
{
	struct jv *old = jobj_get(o, k->s, k->len);
	if (old) {
		*old = v;
		return;
	}
	jobj_append(rt, o, k, v);
}

void jobj_append(struct rt *rt, struct jobj *o, struct jstr *k, struct jv v)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 4;
		struct jent *e = rt_alloc(rt, cap * sizeof(*e));
		if (o->n)
			memcpy(e, o->e, o->n * sizeof(*e));
		o->e = e;
		o->cap = cap;
	}
	o->e[o->n].k = k;
	o->e[o->n].v = v;
	o->n++;
}

/* ---- UTF-8 and JavaScript string semantics ----------------------------- */

int utf8_next(const char *s, size_t len, size_t *i, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k = *i, n;
	uint32_t c;
	if (k >= len)
		return 0;
	c = p[k];
	if (c < 0x80) {
		*cp = c;
		*i = k + 1;
		return 1;
	}
	if (c >= 0xF0)
		n = 3, c &= 0x07;
	else if (c >= 0xE0)
		n = 2, c &= 0x0F;
	else if (c >= 0xC0)
		n = 1, c &= 0x1F;
	else
		goto bad;
	if (k + n >= len)
		goto bad;
	for (size_t j = 1; j <= n; j++) {
		if ((p[k + j] & 0xC0) != 0x80)
			goto bad;
		c = (c << 6) | (p[k + j] & 0x3F);
	}
	*cp = c;
	*i = k + n + 1;
	return 1;
bad:
	*cp = 0xFFFD;
	*i = k + 1;
	return 1;
}

size_t utf8_prev(const char *s, size_t i)
{
	if (!i)
		return 0;
	i--;
	while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
		i--;
	return i;
}

int js_is_space(uint32_t cp)
{
	switch (cp) {
	case 0x09:
	case 0x0A:
	case 0x0B:
	case 0x0C:
	case 0x0D:
	case 0x20:
	case 0xA0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202F:
	case 0x205F:
	case 0x3000:
	case 0xFEFF: return 1;
	default: return cp >= 0x2000 && cp <= 0x200A;
	}
}

size_t js_u16_len(const char *s, size_t len)
{
	size_t n = 0, i = 0;
	uint32_t cp;
	while (utf8_next(s, len, &i, &cp))
		n += cp >= 0x10000 ? 2 : 1;
	return n;
}

size_t js_trim_start(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		uint32_t cp;
		utf8_next(s, len, &j, &cp);
		if (!js_is_space(cp))
			break;
		i = j;
	}
	return i;
}

size_t js_trim_end(const char *s, size_t len)
{
	while (len > 0) {
		size_t p = utf8_prev(s, len), q = p;
		uint32_t cp;
		utf8_next(s, len, &q, &cp);
		if (!js_is_space(cp))
			break;
		len = p;
	}
	return len;
}

struct u16it {
	const char *s;
	size_t len, i;
	uint32_t pending;
};

static int u16_next(struct u16it *it, uint32_t *u)
{
	uint32_t cp;
	if (it->pending) {
		*u = it->pending;
		it->pending = 0;
		return 1;
	}
	if (!utf8_next(it->s, it->len, &it->i, &cp))
		return 0;
	if (cp >= 0x10000) {
		cp -= 0x10000;
		*u = 0xD800 + (cp >> 10);
		it->pending = 0xDC00 + (cp & 0x3FF);
	} else {
		*u = cp;
	}
	return 1;
}

int js_str_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	struct u16it x = {a, alen, 0, 0}, y = {b, blen, 0, 0};
	for (;;) {
		uint32_t ua, ub;
		int ha = u16_next(&x, &ua), hb = u16_next(&y, &ub);
		if (!ha || !hb)
			return ha - hb;
		if (ua != ub)
			return ua < ub ? -1 : 1;
	}
}

/* Case mappings with the unconditional multi-character entries of Unicode's
 * SpecialCasing.txt that JavaScript applies; the rest are utf8proc's simple
 * mappings. */
static const struct {
	uint32_t cp;
	uint32_t to[3];
} upper_special[] = {
        {0x00DF, {0x53, 0x53, 0}},   {0x0149, {0x2BC, 0x4E, 0}},   {0x01F0, {0x4A, 0x30C, 0}},
        {0x0587, {0x535, 0x552, 0}}, {0xFB00, {0x46, 0x46, 0}},    {0xFB01, {0x46, 0x49, 0}},
        {0xFB02, {0x46, 0x4C, 0}},   {0xFB03, {0x46, 0x46, 0x49}}, {0xFB04, {0x46, 0x46, 0x4C}},
        {0xFB05, {0x53, 0x54, 0}},   {0xFB06, {0x53, 0x54, 0}},
};

struct jv js_upper(struct rt *rt, const char *s, size_t len)
{
	struct jsb sb;
	size_t i = 0;
	uint32_t cp;
	sb_init(rt, &sb, len);
	while (utf8_next(s, len, &i, &cp)) {
		if (cp < 0x80) {
			sb_putc(rt, &sb, (char)(cp >= 'a' && cp <= 'z' ? cp - 32 : cp));
			continue;
		}
		for (size_t k = 0; k < ARRAY_SIZE(upper_special); k++) {
			if (upper_special[k].cp == cp) {
				for (int j = 0; j < 3 && upper_special[k].to[j]; j++)
					sb_put_cp(rt, &sb, upper_special[k].to[j]);
				goto next;
			}
		}
		sb_put_cp(rt, &sb, (uint32_t)utf8proc_toupper((utf8proc_int32_t)cp));
	next:;
	}
	return sb_value(&sb);
}

static int is_cased_letter(uint32_t cp)
{
	utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
	return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

struct jv js_lower(struct rt *rt, const char *s, size_t len)
{
	struct jsb sb;
	size_t i = 0, prev_start = 0;
	uint32_t cp, prev = 0;
	sb_init(rt, &sb, len);
	(void)prev_start;
	while (utf8_next(s, len, &i, &cp)) {
		if (cp < 0x80) {
			sb_putc(rt, &sb, (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
		} else if (cp == 0x130) {
			sb_put_cp(rt, &sb, 0x69);
			sb_put_cp(rt, &sb, 0x307);
		} else if (cp == 0x3A3) {
			/* Final sigma: after a letter and not before one. */
			size_t j = i;
			uint32_t nx = 0;
			int next_letter = utf8_next(s, len, &j, &nx) && is_cased_letter(nx);
			sb_put_cp(rt, &sb,
			          prev && is_cased_letter(prev) && !next_letter ? 0x3C2 : 0x3C3);
		} else {
			sb_put_cp(rt, &sb, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
		}
		prev = cp;
	}
	return sb_value(&sb);
}

/* ---- numbers ----------------------------------------------------------- */

void js_num_fmt(char out[40], double x)
{
	char tmp[40], digits[32];
	int nd = 0, exp10, k, n;
	if (isnan(x)) {
		strcpy(out, "NaN");
		return;
	}
	if (isinf(x)) {
		strcpy(out, x < 0 ? "-Infinity" : "Infinity");
		return;
	}
	if (x == 0) {
		strcpy(out, "0");
		return;
	}
	/* Shortest digits that read back as x (what V8 prints). */
	for (int p = 1; p <= 17; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p - 1, x);
		if (strtod(tmp, NULL) == x)
			break;
	}
	{
		const char *t = tmp;
		char *o = out;
		if (*t == '-') {
			*o++ = '-';
			t++;
		}
		for (; *t && *t != 'e'; t++)
			if (*t != '.')
				digits[nd++] = *t;
		while (nd > 1 && digits[nd - 1] == '0')
			nd--;
		exp10 = atoi(t + 1);
		k = nd;
		n = exp10 + 1; /* x = 0.d1d2... * 10^n */
		if (k <= n && n <= 21) {
			memcpy(o, digits, (size_t)k);
			o += k;
			for (int i = 0; i < n - k; i++)
				*o++ = '0';
		} else if (0 < n && n <= 21) {
			memcpy(o, digits, (size_t)n);
			o += n;
			*o++ = '.';
			memcpy(o, digits + n, (size_t)(k - n));
			o += k - n;
		} else if (-6 < n && n <= 0) {
			*o++ = '0';
			*o++ = '.';
			for (int i = 0; i < -n; i++)
				*o++ = '0';
			memcpy(o, digits, (size_t)k);
			o += k;
		} else {
			*o++ = digits[0];
			if (k > 1) {
				*o++ = '.';
				memcpy(o, digits + 1, (size_t)(k - 1));
				o += k - 1;
			}
			o += sprintf(o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
		}
		*o = 0;
	}
}

/* Scans a decimal literal ([+-]digits[.digits][e[+-]digits] or Infinity)
 * at s; returns its length, 0 if none. */
static size_t scan_decimal(const char *s, size_t len, int allow_partial)
{
	size_t i = 0, int_digits = 0, frac_digits = 0;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	if (len - i >= 8 && !memcmp(s + i, "Infinity", 8))
		return i + 8;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, int_digits++;
	if (i < len && s[i] == '.') {
		size_t j = i + 1;
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++, frac_digits++;
		if (int_digits || frac_digits)
			i = j;
	}
	if (!int_digits && !frac_digits)
		return 0;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1, ed = 0;
		if (j < len && (s[j] == '+' || s[j] == '-'))
			j++;
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++, ed++;
		if (ed)
			i = j;
		else if (!allow_partial)
			return 0;
	}
	return i;
}

static double decimal_value(const char *s, size_t n)
{
	char buf[64];
	char *heap = NULL, *p = buf;
	double d;
	size_t i = 0;
	if (n >= sizeof(buf))
		p = heap = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	while (p[i] == '+' || p[i] == '-')
		i++;
	if (!strncmp(p + i, "Infinity", 8))
		d = p[0] == '-' ? -INFINITY : INFINITY;
	else
		d = strtod(p, NULL);
	free(heap);
	return d;
}

double js_str_to_num(const char *s, size_t len)
{
	size_t a = js_trim_start(s, len), e = js_trim_end(s, len), n;
	if (e <= a)
		return 0;
	s += a;
	len = e - a;
	if (len > 2 && s[0] == '0' &&
	    (s[1] == 'x' || s[1] == 'X' || s[1] == 'o' || s[1] == 'O' || s[1] == 'b' ||
	     s[1] == 'B')) {
		int base = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
		double v = 0;
		for (size_t i = 2; i < len; i++) {
			int d;
			char c = s[i];
			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (c >= 'a' && c <= 'f')
				d = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			else
				return NAN;
			if (d >= base)
				return NAN;
			v = v * base + d;
		}
		return v;
	}
	n = scan_decimal(s, len, 0);
	if (n != len)
		return NAN;
	return decimal_value(s, n);
}

double js_parse_int(const char *s, size_t len)
{
	size_t i = js_trim_start(s, len), start;
	int neg = 0;
	double v = 0;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	start = i;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		v = v * 10 + (s[i++] - '0');
	if (i == start)
		return NAN;
	if (i - start > 15) {
		/* Long digit strings: let strtod round once, as V8 does. */
		v = decimal_value(s + start, i - start);
	}
	return neg ? -v : v;
}

double js_parse_float(const char *s, size_t len)
{
	size_t i = js_trim_start(s, len), n;
	n = scan_decimal(s + i, len - i, 1);
	if (!n)
		return NAN;
	return decimal_value(s + i, n);
}

/* ---- conversions to text -------------------------------------------- */

const char *jv_type_name(struct jv v)
{
	switch (v.k) {
	case JV_VOID: return "undefined";
	case JV_UNDEF: return "UndefinedValue";
	case JV_NULL: return "NullValue";
	case JV_BOOL: return "BooleanValue";
	case JV_INT: return "IntegerValue";
	case JV_FLOAT: return "FloatValue";
	case JV_STR: return "StringValue";
	case JV_ARRAY: return v.sub ? "TupleValue" : "ArrayValue";
	case JV_OBJECT: return v.sub ? "KeywordArgumentsValue" : "ObjectValue";
	case JV_NS: return "NamespaceValue";
	case JV_FUNC: return "FunctionValue";
	}
	return "?";
}

static void put_num(struct rt *rt, struct jsb *sb, double n)
{
	char b[40];
	js_num_fmt(b, n);
	sb_puts(rt, sb, b);
}

static void put_float(struct rt *rt, struct jsb *sb, double n)
{
	char b[400];
	if (n == 0 && signbit(n)) {
		sb_puts(rt, sb, "-0.0");
	} else if (isfinite(n) && n == floor(n) && fabs(n) < 1e21) {
		snprintf(b, sizeof(b), "%.1f", n);
		sb_puts(rt, sb, b);
	} else {
		put_num(rt, sb, n);
	}
}

#define JSON_MAX_DEPTH 512

void jv_put_str(struct rt *rt, struct jsb *sb, struct jv v)
{
	switch (v.k) {
	case JV_STR: sb_put(rt, sb, v.u.s->s, v.u.s->len); return;
	case JV_INT: put_num(rt, sb, v.u.n); return;
	case JV_FLOAT: put_float(rt, sb, v.u.n); return;
	case JV_BOOL: sb_puts(rt, sb, v.u.b ? "true" : "false"); return;
	/* @huggingface/jinja builds NullValue without a value: it holds
	 * JavaScript's undefined, and prints so. */
	case JV_NULL:
	case JV_UNDEF: sb_puts(rt, sb, "undefined"); return;
	case JV_ARRAY:
	case JV_OBJECT:
	case JV_NS: jv_put_json(rt, sb, v, NULL, 0, 0); return;
	case JV_FUNC: rt_fail(rt, HD_EINVAL, "cannot convert a function to a string");
	case JV_VOID: break;
	}
	rt_fail(rt, HD_EINVAL, "cannot read properties of undefined");
}

void jv_put_raw(struct rt *rt, struct jsb *sb, struct jv v)
{
	switch (v.k) {
	case JV_FLOAT: put_num(rt, sb, v.u.n); return;
	case JV_ARRAY:
		/* Array.prototype.toString: the elements' toString(), joined by ",". */
		for (size_t i = 0; i < v.u.a->n; i++) {
			if (i)
				sb_putc(rt, sb, ',');
			if (v.u.a->v[i].k != JV_VOID)
				jv_put_str(rt, sb, v.u.a->v[i]);
		}
		return;
	case JV_OBJECT:
	case JV_NS: sb_puts(rt, sb, "[object Map]"); return;
	default: jv_put_str(rt, sb, v); return;
	}
}

static void put_json_string(struct rt *rt, struct jsb *sb, const char *s, size_t len, int ascii)
{
	size_t i = 0, run = 0;
	uint32_t cp;
	sb_putc(rt, sb, '"');
	while (i < len) {
		size_t at = i;
		unsigned char c = (unsigned char)s[i];
		char esc[16];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7F) {
			i++;
			run++;
			continue;
		}
		if (run) {
			sb_put(rt, sb, s + at - run, run);
			run = 0;
		}
		utf8_next(s, len, &i, &cp);
		switch (cp) {
		case '"': sb_puts(rt, sb, "\\\""); continue;
		case '\\': sb_puts(rt, sb, "\\\\"); continue;
		case '\b': sb_puts(rt, sb, "\\b"); continue;
		case '\f': sb_puts(rt, sb, "\\f"); continue;
		case '\n': sb_puts(rt, sb, "\\n"); continue;
		case '\r': sb_puts(rt, sb, "\\r"); continue;
		case '\t': sb_puts(rt, sb, "\\t"); continue;
		default: break;
		}
		if (cp < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", cp);
			sb_puts(rt, sb, esc);
		} else if (!ascii) {
			sb_put(rt, sb, s + at, i - at);
		} else if (cp < 0x10000) {
			snprintf(esc, sizeof(esc), "\\u%04x", cp);
			sb_puts(rt, sb, esc);
		} else {
			cp -= 0x10000;
			snprintf(esc, sizeof(esc), "\\u%04x\\u%04x", 0xD800 + (cp >> 10),
			         0xDC00 + (cp & 0x3FF));
			sb_puts(rt, sb, esc);
		}
	}
	if (run)
		sb_put(rt, sb, s + i - run, run);
	sb_putc(rt, sb, '"');
}

/* An approximation of String.prototype.localeCompare (ICU root collation)
 * for the keys of tojson(sort_keys=true). Primary level: strings folded
 * (compatibility decomposition, case folding, accents stripped) and
 * compared by groups: whitespace and punctuation, then symbols (emoji
 * among them), digits, Latin letters, then other scripts by code point.
 * Ties are broken by accents (none first), then case (lower first). */
static uint64_t collate_weight(uint32_t cp)
{
	static const char order[] = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~";
	const char *p;
	utf8proc_category_t cat;
	if (cp >= 'a' && cp <= 'z')
		return ((uint64_t)4 << 32) | cp;
	if (cp >= '0' && cp <= '9')
		return ((uint64_t)3 << 32) | cp;
	if (cp == '$')
		return ((uint64_t)2 << 32) | 0x200000; /* currency after other symbols */
	if (cp < 0x80 && cp && (p = strchr(order, (int)cp)) != NULL)
		return ((uint64_t)1 << 32) | (uint64_t)(p - order);
	cat = utf8proc_category((utf8proc_int32_t)cp);
	switch (cat) {
	case UTF8PROC_CATEGORY_ZS:
	case UTF8PROC_CATEGORY_PC:
	case UTF8PROC_CATEGORY_PD:
	case UTF8PROC_CATEGORY_PS:
	case UTF8PROC_CATEGORY_PE:
	case UTF8PROC_CATEGORY_PI:
	case UTF8PROC_CATEGORY_PF:
	case UTF8PROC_CATEGORY_PO: return ((uint64_t)1 << 32) | (0x1000 + cp);
	case UTF8PROC_CATEGORY_SC: return ((uint64_t)2 << 32) | (0x200000 + cp);
	case UTF8PROC_CATEGORY_SM:
	case UTF8PROC_CATEGORY_SK:
	case UTF8PROC_CATEGORY_SO: return ((uint64_t)2 << 32) | cp;
	case UTF8PROC_CATEGORY_ND: return ((uint64_t)3 << 32) | (0x1000 + cp);
	default: break;
	}
	if (cp < 0x80)
		return cp; /* controls */
	return ((uint64_t)5 << 32) | cp;
}

static char *collate_fold(const struct jstr *s, int options)
{
	utf8proc_uint8_t *out = NULL;
	if (utf8proc_map((const utf8proc_uint8_t *)s->s, (utf8proc_ssize_t)s->len, &out,
	                 (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPAT | options)) < 0)
		return NULL;
	return (char *)out;
}

static int collate_level(const char *a, const char *b, int primary)
{
	size_t i = 0, j = 0, la = strlen(a), lb = strlen(b);
	for (;;) {
		uint32_t ca, cb;
		int ha = utf8_next(a, la, &i, &ca), hb = utf8_next(b, lb, &j, &cb);
		if (!ha || !hb)
			return ha - hb;
		if (primary) {
			uint64_t wa = collate_weight(ca), wb = collate_weight(cb);
			if (wa != wb)
				return wa < wb ? -1 : 1;
		} else if (ca != cb) {
			return ca < cb ? -1 : 1;
		}
	}
}

static int locale_cmp(const struct jstr *a, const struct jstr *b)
{
	static const int levels[] = {
	        UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK, /* base letters */
	        UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD, /* accents */
	};
	int r = 0;
	for (size_t k = 0; k < ARRAY_SIZE(levels) && !r; k++) {
		char *fa = collate_fold(a, levels[k]), *fb = collate_fold(b, levels[k]);
		if (fa && fb)
			r = collate_level(fa, fb, k == 0);
		free(fa);
		free(fb);
	}
	if (!r) {
		/* Case and variants: lower case first, plain ASCII before the rest. */
		size_t i = 0, j = 0;
		for (;;) {
			uint32_t ca, cb;
			int ha = utf8_next(a->s, a->len, &i, &ca),
			    hb = utf8_next(b->s, b->len, &j, &cb);
			if (!ha || !hb)
				return ha - hb;
			if (ca == cb)
				continue;
			if (ca < 0x80 && cb < 0x80)
				return ca > cb ? -1 : 1;
			if ((ca < 0x80) != (cb < 0x80))
				return ca < 0x80 ? -1 : 1;
			return ca < cb ? -1 : 1;
		}
	}
	return r;
}

static int key_cmp(struct rt *rt, struct jv a, struct jv b, void *ctx)
{
	(void)rt;
	(void)ctx;
	return locale_cmp(a.u.s, b.u.s);
}

static void put_indent(struct rt *rt, struct jsb *sb, size_t indent, unsigned depth)
{
	sb_putc(rt, sb, '\n');
	for (unsigned d = 0; d < depth; d++)
		for (size_t i = 0; i < indent; i++)
			sb_putc(rt, sb, ' ');
}

void jv_put_json(struct rt *rt, struct jsb *sb, struct jv v, const struct json_opts *o,
                 unsigned depth, int undef_as_null)
{
	static const struct json_opts none = {0};
	const char *item_sep, *key_sep;
	size_t item_len, key_len;

	if (!o)
		o = &none;
	if (depth > JSON_MAX_DEPTH)
		rt_fail(rt, HD_ETOOBIG, "value nested deeper than %d levels", JSON_MAX_DEPTH);
	rt_step(rt);
	if (o->item_sep) {
		item_sep = o->item_sep->s;
		item_len = o->item_sep->len;
		key_sep = o->key_sep->s;
		key_len = o->key_sep->len;
	} else {
		item_sep = o->indent ? "," : ", ";
		item_len = o->indent ? 1 : 2;
		key_sep = ": ";
		key_len = 2;
	}
	switch (v.k) {
	case JV_NULL: sb_puts(rt, sb, "null"); return;
	case JV_UNDEF: sb_puts(rt, sb, undef_as_null ? "null" : "undefined"); return;
	case JV_INT:
	case JV_FLOAT:
		if (!isfinite(v.u.n))
			sb_puts(rt, sb, "null");
		else
			put_num(rt, sb, v.u.n);
		return;
	case JV_BOOL: sb_puts(rt, sb, v.u.b ? "true" : "false"); return;
	case JV_STR: put_json_string(rt, sb, v.u.s->s, v.u.s->len, o->ensure_ascii); return;
	case JV_ARRAY:
		if (v.sub)
			break;
		sb_putc(rt, sb, '[');
		for (size_t i = 0; i < v.u.a->n; i++) {
			if (i)
				sb_put(rt, sb, item_sep, item_len);
			if (o->indent)
				put_indent(rt, sb, o->indent, depth + 1);
			jv_put_json(rt, sb, v.u.a->v[i], o, depth + 1, undef_as_null);
		}
		if (o->indent && v.u.a->n)
			put_indent(rt, sb, o->indent, depth);
		sb_putc(rt, sb, ']');
		return;
	case JV_OBJECT:
	case JV_NS: {
		const struct jobj *ob = v.u.o;
		size_t n = ob->n;
		struct jv *order = NULL;
		if (v.sub)
			break;
		if (o->sort_keys && n > 1) {
			order = rt_alloc(rt, n * sizeof(*order));
			for (size_t i = 0; i < n; i++) {
				order[i] = jv_strv(ob->e[i].k);
				order[i].sub = 0;
			}
			jv_sort(rt, order, n, key_cmp, NULL);
		}
		sb_putc(rt, sb, '{');
		for (size_t i = 0; i < n; i++) {
			const struct jstr *k = order ? order[i].u.s : ob->e[i].k;
			const struct jv *val = order ? jobj_get(ob, k->s, k->len) : &ob->e[i].v;
			if (i)
				sb_put(rt, sb, item_sep, item_len);
			if (o->indent)
				put_indent(rt, sb, o->indent, depth + 1);
			put_json_string(rt, sb, k->s, k->len, o->ensure_ascii);
			sb_put(rt, sb, key_sep, key_len);
			jv_put_json(rt, sb, *val, o, depth + 1, undef_as_null);
		}
		if (o->indent && n)
			put_indent(rt, sb, o->indent, depth);
		sb_putc(rt, sb, '}');
		return;
	}
	case JV_VOID: rt_fail(rt, HD_EINVAL, "cannot read properties of undefined");
	case JV_FUNC: break;
	}
	rt_fail(rt, HD_EINVAL, "cannot convert to JSON: %s", jv_type_name(v));
}

/* ---- truth and comparison --------------------------------------------- */

int jv_truthy(struct rt *rt, struct jv v)
{
	switch (v.k) {
	case JV_UNDEF:
	case JV_NULL: return 0;
	case JV_BOOL: return v.u.b;
	case JV_INT:
	case JV_FLOAT: return v.u.n != 0 && !isnan(v.u.n);
	case JV_STR: return v.u.s->len > 0;
	case JV_ARRAY: return v.u.a->n > 0;
	case JV_OBJECT: return v.u.o->n > 0;
	case JV_NS:
	case JV_FUNC: return 1;
	case JV_VOID: break;
	}
	rt_fail(rt, HD_EINVAL, "cannot read properties of undefined");
}

int jv_raw_truthy(struct jv v)
{
	switch (v.k) {
	case JV_VOID:
	case JV_UNDEF:
	case JV_NULL: return 0;
	case JV_BOOL: return v.u.b;
	case JV_INT:
	case JV_FLOAT: return v.u.n != 0 && !isnan(v.u.n);
	case JV_STR: return v.u.s->len > 0;
	default: return 1;
	}
}

/* The identity of a JavaScript object behind a value. */
static const void *jv_identity(struct jv v)
{
	switch (v.k) {
	case JV_ARRAY: return v.u.a;
	case JV_OBJECT:
	case JV_NS: return v.u.o;
	case JV_FUNC: return v.u.f;
	default: return NULL;
	}
}

static int str_eq(const struct jstr *a, const struct jstr *b)
{
	return a->len == b->len && !memcmp(a->s, b->s, a->len);
}

int jv_strict_eq(struct jv a, struct jv b)
{
	if (jv_is_num(a) && jv_is_num(b))
		return a.u.n == b.u.n;
	/* none's value is JavaScript's undefined too */
	if ((a.k == JV_NULL || a.k == JV_UNDEF) && (b.k == JV_NULL || b.k == JV_UNDEF))
		return 1;
	if (a.k != b.k) {
		/* ObjectValue / kwargs, ArrayValue / tuple share JS types. */
		return 0;
	}
	switch (a.k) {
	case JV_VOID:
	case JV_UNDEF:
	case JV_NULL: return 1;
	case JV_BOOL: return a.u.b == b.u.b;
	case JV_STR: return str_eq(a.u.s, b.u.s);
	default: return jv_identity(a) == jv_identity(b);
	}
}

int jv_same_value_zero(struct jv a, struct jv b)
{
	if (jv_is_num(a) && jv_is_num(b) && isnan(a.u.n) && isnan(b.u.n))
		return 1;
	return jv_strict_eq(a, b);
}

/* ToPrimitive of an object operand of ==, as a string. */
static struct jstr *to_primitive(struct rt *rt, struct jv v)
{
	struct jsb sb;
	if (v.k == JV_FUNC)
		return NULL;
	sb_init(rt, &sb, 32);
	jv_put_raw(rt, &sb, v);
	return sb_finish(&sb);
}

int jv_loose_eq(struct rt *rt, struct jv a, struct jv b)
{
	int ao, bo;
	if (a.k == JV_VOID || b.k == JV_VOID)
		rt_fail(rt, HD_EINVAL, "cannot read properties of undefined");
	if (jv_is_num(a) && jv_is_num(b))
		return a.u.n == b.u.n;
	if (a.k == b.k || (jv_identity(a) && jv_identity(b)))
		return jv_strict_eq(a, b) ||
		       (jv_identity(a) && jv_identity(b) && jv_identity(a) == jv_identity(b));
	if ((a.k == JV_NULL || a.k == JV_UNDEF) && (b.k == JV_NULL || b.k == JV_UNDEF))
		return 1;
	if (a.k == JV_NULL || a.k == JV_UNDEF || b.k == JV_NULL || b.k == JV_UNDEF)
		return 0;
	if (jv_is_num(a) && b.k == JV_STR)
		return a.u.n == js_str_to_num(b.u.s->s, b.u.s->len);
	if (a.k == JV_STR && jv_is_num(b))
		return b.u.n == js_str_to_num(a.u.s->s, a.u.s->len);
	if (a.k == JV_BOOL)
		return jv_loose_eq(rt, jv_int(a.u.b), b);
	if (b.k == JV_BOOL)
		return jv_loose_eq(rt, a, jv_int(b.u.b));
	ao = jv_identity(a) != NULL;
	bo = jv_identity(b) != NULL;
	if (ao != bo) {
		struct jstr *p = to_primitive(rt, ao ? a : b);
		struct jv other = ao ? b : a;
		if (!p)
			return 0;
		return jv_loose_eq(rt, jv_strv(p), other);
	}
	return 0;
}

static int is_numeric_like(struct jv v)
{
	return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL;
}

static double numeric_value(struct jv v)
{
	return v.k == JV_BOOL ? (double)v.u.b : v.u.n;
}

int jv_compare(struct rt *rt, struct jv a, struct jv b, int case_sensitive)
{
	if (a.k == JV_VOID || b.k == JV_VOID)
		rt_fail(rt, HD_EINVAL, "cannot read properties of undefined");
	if (a.k == JV_NULL && b.k == JV_NULL)
		return 0;
	if (a.k == JV_NULL || b.k == JV_NULL)
		rt_fail(rt, HD_EINVAL, "cannot compare %s with %s", jv_type_name(a),
		        jv_type_name(b));
	if (a.k == JV_UNDEF && b.k == JV_UNDEF)
		return 0;
	if (a.k == JV_UNDEF || b.k == JV_UNDEF)
		rt_fail(rt, HD_EINVAL, "cannot compare %s with %s", jv_type_name(a),
		        jv_type_name(b));
	if (is_numeric_like(a) && is_numeric_like(b)) {
		double x = numeric_value(a), y = numeric_value(b);
		return x < y ? -1 : x > y ? 1 : 0;
	}
	if (a.k != b.k || a.sub != b.sub)
		rt_fail(rt, HD_EINVAL, "cannot compare different types: %s and %s", jv_type_name(a),
		        jv_type_name(b));
	if (a.k == JV_STR) {
		if (case_sensitive)
			return js_str_cmp(a.u.s->s, a.u.s->len, b.u.s->s, b.u.s->len);
		struct jv la = js_lower(rt, a.u.s->s, a.u.s->len);
		struct jv lb = js_lower(rt, b.u.s->s, b.u.s->len);
		return js_str_cmp(la.u.s->s, la.u.s->len, lb.u.s->s, lb.u.s->len);
	}
	rt_fail(rt, HD_EINVAL, "cannot compare type: %s", jv_type_name(a));
}

void jv_sort(struct rt *rt, struct jv *v, size_t n,
             int (*cmp)(struct rt *rt, struct jv a, struct jv b, void *ctx), void *ctx)
{
	struct jv *tmp;
	if (n < 2)
		return;
	tmp = rt_alloc(rt, n * sizeof(*tmp));
	/* Bottom-up merge sort: stable, O(n log n), no recursion. */
	for (size_t width = 1; width < n; width *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * width) {
			size_t mid = lo + width < n ? lo + width : n;
			size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi) {
				rt_step(rt);
				if (cmp(rt, v[j], v[i], ctx) < 0)
					tmp[k++] = v[j++];
				else
					tmp[k++] = v[i++];
			}
			while (i < mid)
				tmp[k++] = v[i++];
			while (j < hi)
				tmp[k++] = v[j++];
		}
		memcpy(v, tmp, n * sizeof(*v));
	}
}

/* ---- JSON data to values ---------------------------------------------- */

/* JavaScript orders an object's integer-like keys ("0", "17", below
 * 2^32 - 1, no leading zeros) first, ascending; Object.entries shows that. */
static int array_index_key(const char *k, size_t len, double *idx)
{
	double v = 0;
	if (!len || len > 10 || (len > 1 && k[0] == '0'))
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (k[i] < '0' || k[i] > '9')
			return 0;
		v = v * 10 + (k[i] - '0');
	}
	if (v >= 4294967295.0)
		return 0;
	*idx = v;
	return 1;
}

static int index_cmp(struct rt *rt, struct jv a, struct jv b, void *ctx)
{
	(void)rt;
	(void)ctx;
	return a.u.n < b.u.n ? -1 : a.u.n > b.u.n;
}

struct jv jv_from_json(struct rt *rt, const json_t *j, unsigned depth)
{
	if (depth > JSON_MAX_DEPTH)
		rt_fail(rt, HD_EINVAL, "context nested deeper than %d levels", JSON_MAX_DEPTH);
	rt_step(rt);
	switch (json_typeof(j)) {
	case JSON_NULL: return jv_null();
	case JSON_TRUE: return jv_bool(1);
	case JSON_FALSE: return jv_bool(0);
	case JSON_INTEGER: {
		double d = (double)json_integer_value(j);
		return jv_int(d);
	}
	case JSON_REAL: {
		double d = json_real_value(j);
		return jv_num(d, !(isfinite(d) && d == floor(d)));
	}
	case JSON_STRING: return jv_str(rt, json_string_value(j), json_string_length(j));
	case JSON_ARRAY: {
		size_t n = json_array_size(j);
		struct jarr *a = jarr_new(rt, n);
		for (size_t i = 0; i < n; i++)
			a->v[i] = jv_from_json(rt, json_array_get(j, i), depth + 1);
		return jv_arr(a, 0);
	}
	case JSON_OBJECT: {
		size_t n = json_object_size(j), n_idx = 0;
		struct jobj *o = jobj_new(rt, n);
		struct jv *idx = NULL;
		const char *k;
		json_t *val;
		void *it;
		/* Integer-like keys first, in numeric order. */
		json_object_foreach((json_t *)j, k, val)
		{
			double d;
			if (array_index_key(k, strlen(k), &d)) {
				if (!idx)
					idx = rt_alloc(rt, n * sizeof(*idx));
				idx[n_idx] = jv_int(d);
				idx[n_idx].u.n = d;
				n_idx++;
			}
		}
		if (n_idx) {
			jv_sort(rt, idx, n_idx, index_cmp, NULL);
			for (size_t i = 0; i < n_idx; i++) {
				char kb[16];
				snprintf(kb, sizeof(kb), "%.0f", idx[i].u.n);
				val = json_object_get(j, kb);
				jobj_append(rt, o, jstr_new(rt, kb, strlen(kb)),
				            jv_from_json(rt, val, depth + 1));
			}
		}
		for (it = json_object_iter((json_t *)j); it;
		     it = json_object_iter_next((json_t *)j, it)) {
			double d;
			k = json_object_iter_key(it);
			if (array_index_key(k, strlen(k), &d))
				continue;
			jobj_append(rt, o, jstr_new(rt, k, strlen(k)),
			            jv_from_json(rt, json_object_iter_value(it), depth + 1));
		}
		return jv_obj(o, JV_OBJECT, 0);
	}
	}
	return jv_undef();
}

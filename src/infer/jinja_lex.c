/*
 * jinja_lex.c: whitespace preprocessing and the tokenizer.
 *
 * As @huggingface/jinja does, the template is first rewritten: one trailing
 * newline is dropped, lstrip_blocks removes spaces and tabs before a block
 * tag at the start of a line, trim_blocks removes the newline after a block
 * tag, and the transformers-specific {% generation %} / {% endgeneration %}
 * tags are removed (honouring their - modifiers). A position map from the
 * rewritten text back to the original keeps error positions exact.
 *
 * The tokenizer then splits text from tags. Inside tags, `{%-`, `-%}`,
 * `{{-`, `-}}`, `{#-` and `-#}` strip the whitespace next to them; a `-` or
 * `+` directly after an operator, an opening bracket or a keyword is a sign
 * (and folds into a following number literal).
 */
#include "infer/jinja_int.h"

#include <stdarg.h>
#include <string.h>

/* A rewritten text and, per byte, its offset in the original. */
struct pp {
	char *s;
	uint32_t *map;
	size_t len;
};

static void *tmp_alloc(struct jcompile *c, size_t n)
{
	void *p = arena_try_alloc(&c->tmp, n);
	if (!p)
		jc_fail(c, 0, "template too large");
	return p;
}

/* keep: the text outlives tokenizing (tokens point into it). */
static void pp_alloc(struct jcompile *c, struct pp *p, size_t cap, int keep)
{
	p->s = keep ? jc_alloc(c, cap + 1) : tmp_alloc(c, cap + 1);
	p->map = tmp_alloc(c, (cap + 1) * sizeof(uint32_t));
	p->len = 0;
}

static void pp_copy(struct pp *o, const struct pp *in, size_t from, size_t n)
{
	memcpy(o->s + o->len, in->s + from, n);
	memcpy(o->map + o->len, in->map + from, n * sizeof(uint32_t));
	o->len += n;
}

static void pp_end(struct pp *o, uint32_t end_pos)
{
	o->s[o->len] = 0;
	o->map[o->len] = end_pos;
}

static int is_line_break_at(const struct pp *p, size_t i, size_t *n)
{
	if (p->s[i] == '\n' || p->s[i] == '\r') {
		*n = 1;
		return 1;
	}
	/* U+2028 and U+2029 end lines for JavaScript's ^ with the m flag. */
	if ((unsigned char)p->s[i] == 0xE2 && i + 2 < p->len &&
	    (unsigned char)p->s[i + 1] == 0x80 &&
	    ((unsigned char)p->s[i + 2] == 0xA8 || (unsigned char)p->s[i + 2] == 0xA9)) {
		*n = 3;
		return 1;
	}
	return 0;
}

/* /^[ \t]*({[#%-])/gm -> "$1" */
static void pp_lstrip_blocks(struct jcompile *c, const struct pp *in, struct pp *o)
{
	size_t i = 0, n;

	pp_alloc(c, o, in->len, 0);
	while (i < in->len) {
		/* i starts a line */
		size_t j = i, run;
		while (j < in->len && (in->s[j] == ' ' || in->s[j] == '\t'))
			j++;
		if (j + 1 < in->len && in->s[j] == '{' &&
		    (in->s[j + 1] == '#' || in->s[j + 1] == '%' || in->s[j + 1] == '-'))
			i = j;
		/* copy through the end of the line */
		for (j = i; j < in->len && !is_line_break_at(in, j, &n); j++)
			;
		run = j < in->len ? j + n - i : j - i;
		pp_copy(o, in, i, run);
		i += run;
	}
	pp_end(o, in->map[in->len]);
}

/* /([#%-]})\n/g -> "$1" */
static void pp_trim_blocks(struct jcompile *c, const struct pp *in, struct pp *o)
{
	size_t i = 0, last = 0;

	pp_alloc(c, o, in->len, 0);
	while (i + 2 < in->len) {
		char ch = in->s[i];
		if ((ch == '#' || ch == '%' || ch == '-') && in->s[i + 1] == '}' &&
		    in->s[i + 2] == '\n') {
			pp_copy(o, in, last, i + 2 - last);
			i += 3;
			last = i;
			continue;
		}
		i++;
	}
	pp_copy(o, in, last, in->len - last);
	pp_end(o, in->map[in->len]);
}

static size_t skip_space_fwd(const char *s, size_t len, size_t i)
{
	while (i < len) {
		size_t j = i;
		uint32_t cp;
		if (!utf8_next(s, len, &j, &cp) || !js_is_space(cp))
			break;
		i = j;
	}
	return i;
}

/* Matches {%-?\s*(?:end)?generation\s*-?%} at i; returns the end or 0. */
static size_t match_generation(const char *s, size_t len, size_t i, int *lstrip, int *rstrip)
{
	if (i + 2 > len || s[i] != '{' || s[i + 1] != '%')
		return 0;
	i += 2;
	*lstrip = i < len && s[i] == '-';
	i += *lstrip;
	i = skip_space_fwd(s, len, i);
	if (i + 3 <= len && !memcmp(s + i, "end", 3))
		i += 3;
	if (i + 10 > len || memcmp(s + i, "generation", 10))
		return 0;
	i = skip_space_fwd(s, len, i + 10);
	*rstrip = i < len && s[i] == '-';
	i += *rstrip;
	if (i + 2 > len || s[i] != '%' || s[i + 1] != '}')
		return 0;
	return i + 2;
}

/* /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs ->
 * (lstrip ? "" : before) + (rstrip ? "" : after) */
static void pp_generation(struct jcompile *c, const struct pp *in, struct pp *o)
{
	size_t i = 0, last = 0;

	pp_alloc(c, o, in->len, 1);
	while (i + 1 < in->len) {
		int ls, rs;
		size_t end, before, after_end;
		if (in->s[i] != '{' || in->s[i + 1] != '%' ||
		    !(end = match_generation(in->s, in->len, i, &ls, &rs))) {
			i++;
			continue;
		}
		before = i;
		while (before > last) {
			size_t p = utf8_prev(in->s, before);
			size_t q = p;
			uint32_t cp;
			if (p < last || !utf8_next(in->s, in->len, &q, &cp) || !js_is_space(cp))
				break;
			before = p;
		}
		after_end = skip_space_fwd(in->s, in->len, end);
		pp_copy(o, in, last, before - last);
		if (!ls)
			pp_copy(o, in, before, i - before);
		if (!rs)
			pp_copy(o, in, end, after_end - end);
		last = i = after_end;
	}
	pp_copy(o, in, last, in->len - last);
	pp_end(o, in->map[in->len]);
}

/* ---- tokenizer --------------------------------------------------------- */

struct lexer {
	struct jcompile *c;
	const char *s;
	const uint32_t *map;
	size_t len, i;
	struct token *toks;
	size_t n, cap;
	int curly;
};

static void lx_push(struct lexer *lx, int type, const char *s, size_t len, size_t at)
{
	if (lx->n + 1 >= lx->cap) {
		size_t cap = lx->cap ? lx->cap * 2 : 256;
		struct token *t = tmp_alloc(lx->c, cap * sizeof(*t));
		if (lx->n)
			memcpy(t, lx->toks, lx->n * sizeof(*t));
		lx->toks = t;
		lx->cap = cap;
	}
	lx->toks[lx->n].type = (uint8_t)type;
	lx->toks[lx->n].s = s;
	lx->toks[lx->n].len = len;
	lx->toks[lx->n].pos = lx->map[at];
	lx->n++;
}

__attribute__((noreturn)) static void lx_fail(struct lexer *lx, size_t at, const char *msg)
{
	jc_fail(lx->c, lx->map[at < lx->len ? at : lx->len], "%s", msg);
}

static int last_type(const struct lexer *lx)
{
	return lx->n ? lx->toks[lx->n - 1].type : -1;
}

static int at_str(const struct lexer *lx, const char *seq)
{
	size_t n = strlen(seq);
	return lx->i + n <= lx->len && !memcmp(lx->s + lx->i, seq, n);
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int is_word(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}

static void strip_trailing_ws(struct lexer *lx)
{
	struct token *t;
	if (!lx->n || lx->toks[lx->n - 1].type != T_TEXT)
		return;
	t = &lx->toks[lx->n - 1];
	t->len = js_trim_end(t->s, t->len);
	if (!t->len)
		lx->n--;
}

static void skip_ws(struct lexer *lx)
{
	lx->i = skip_space_fwd(lx->s, lx->len, lx->i);
}

static size_t scan_digits(struct lexer *lx)
{
	size_t start = lx->i;
	while (lx->i < lx->len && is_digit(lx->s[lx->i]))
		lx->i++;
	if (lx->i > start && lx->i >= lx->len)
		lx_fail(lx, lx->i, "unexpected end of template");
	return lx->i - start;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Appends a UTF-16 code unit; pairs of surrogates become one code point, a
 * lone one becomes U+FFFD (what it is once written out as UTF-8). */
static void put_unit(char *out, size_t *o, uint32_t *pending, uint32_t u)
{
	uint32_t cp;
	if (*pending) {
		if (u >= 0xDC00 && u <= 0xDFFF) {
			cp = 0x10000 + ((*pending - 0xD800) << 10) + (u - 0xDC00);
			*pending = 0;
			goto emit;
		}
		*pending = 0;
		put_unit(out, o, pending, 0xFFFD);
	}
	if (u >= 0xD800 && u <= 0xDBFF) {
		*pending = u;
		return;
	}
	cp = (u >= 0xDC00 && u <= 0xDFFF) ? 0xFFFD : u;
emit:
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xC0 | (cp >> 6));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xE0 | (cp >> 12));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		out[(*o)++] = (char)(0xF0 | (cp >> 18));
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	}
}

static void flush_pending(char *out, size_t *o, uint32_t *pending)
{
	if (*pending) {
		*pending = 0;
		put_unit(out, o, pending, 0xFFFD);
	}
}

static void lex_string(struct lexer *lx)
{
	char quote = lx->s[lx->i];
	size_t start = lx->i, o = 0, j;
	uint32_t pending = 0;
	char *out;

	/* The decoded text is never longer than the source (+1 for a lone
	 * surrogate at the end, which takes 3 bytes for its 6-byte escape). */
	for (j = start + 1; j < lx->len && lx->s[j] != quote; j++)
		if (lx->s[j] == '\\')
			j++;
	out = tmp_alloc(lx->c, j - start + 4);
	lx->i++;
	for (;;) {
		char ch;
		if (lx->i >= lx->len)
			lx_fail(lx, start, "unterminated string literal");
		ch = lx->s[lx->i];
		if (ch == quote)
			break;
		if (ch == '\\') {
			char e;
			if (++lx->i >= lx->len)
				lx_fail(lx, start, "unterminated string literal");
			e = lx->s[lx->i++];
			if (e == 'x' || e == 'u') {
				size_t n = e == 'x' ? 2 : 4;
				uint32_t u = 0;
				if (lx->i + n > lx->len)
					lx_fail(lx, lx->i - 2,
					        "invalid hexadecimal escape sequence");
				for (size_t k = 0; k < n; k++) {
					int h = hexval(lx->s[lx->i + k]);
					if (h < 0)
						lx_fail(lx, lx->i - 2,
						        "invalid hexadecimal escape sequence");
					u = u * 16 + (uint32_t)h;
				}
				lx->i += n;
				put_unit(out, &o, &pending, u);
				continue;
			}
			switch (e) {
			case 'n': ch = '\n'; break;
			case 't': ch = '\t'; break;
			case 'r': ch = '\r'; break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'v': ch = '\v'; break;
			case '\'': ch = '\''; break;
			case '"': ch = '"'; break;
			case '\\': ch = '\\'; break;
			default: lx_fail(lx, lx->i - 2, "unexpected escaped character");
			}
			flush_pending(out, &o, &pending);
			out[o++] = ch;
			continue;
		}
		flush_pending(out, &o, &pending);
		out[o++] = ch;
		lx->i++;
	}
	flush_pending(out, &o, &pending);
	out[o] = 0;
	lx->i++; /* the closing quote */
	lx_push(lx, T_STR, out, o, start);
}

static const struct {
	const char *seq;
	int type;
} ops[] = {
        {"{%", T_OPEN_STMT}, {"%}", T_CLOSE_STMT}, {"{{", T_OPEN_EXPR}, {"}}", T_CLOSE_EXPR},
        {"(", T_LPAREN},     {")", T_RPAREN},      {"{", T_LBRACE},     {"}", T_RBRACE},
        {"[", T_LBRACKET},   {"]", T_RBRACKET},    {",", T_COMMA},      {".", T_DOT},
        {":", T_COLON},      {"|", T_PIPE},        {"<=", T_CMP},       {">=", T_CMP},
        {"==", T_CMP},       {"!=", T_CMP},        {"<", T_CMP},        {">", T_CMP},
        {"+", T_ADD},        {"-", T_ADD},         {"~", T_ADD},        {"**", T_POW},
        {"*", T_MUL},        {"//", T_MUL},        {"/", T_MUL},        {"%", T_MUL},
        {"=", T_EQUALS},
};

static void lex_tokens(struct lexer *lx)
{
	while (lx->i < lx->len) {
		int lt = last_type(lx);
		char ch;

		if (lt < 0 || lt == T_CLOSE_STMT || lt == T_CLOSE_EXPR || lt == T_COMMENT) {
			size_t start = lx->i;
			while (lx->i < lx->len &&
			       !(lx->s[lx->i] == '{' && lx->i + 1 < lx->len &&
			         (lx->s[lx->i + 1] == '%' || lx->s[lx->i + 1] == '{' ||
			          lx->s[lx->i + 1] == '#')))
				lx->i++;
			if (lx->i > start) {
				lx_push(lx, T_TEXT, lx->s + start, lx->i - start, start);
				continue;
			}
		}

		if (at_str(lx, "{#")) {
			size_t start = lx->i, cstart, cend;
			int strip_before, strip_after;
			lx->i += 2;
			strip_before = lx->i < lx->len && lx->s[lx->i] == '-';
			lx->i += strip_before;
			cstart = lx->i;
			while (!(lx->i + 1 < lx->len && lx->s[lx->i] == '#' &&
			         lx->s[lx->i + 1] == '}')) {
				if (lx->i + 2 >= lx->len)
					lx_fail(lx, start, "missing end of comment tag");
				lx->i++;
			}
			cend = lx->i;
			strip_after = cend > cstart && lx->s[cend - 1] == '-';
			if (strip_before)
				strip_trailing_ws(lx);
			lx_push(lx, T_COMMENT, lx->s + cstart, cend - cstart - (size_t)strip_after,
			        start);
			lx->i += 2;
			if (strip_after)
				skip_ws(lx);
			continue;
		}
		if (at_str(lx, "{%-")) {
			strip_trailing_ws(lx);
			lx_push(lx, T_OPEN_STMT, "{%", 2, lx->i);
			lx->i += 3;
			continue;
		}
		if (at_str(lx, "{{-")) {
			strip_trailing_ws(lx);
			lx_push(lx, T_OPEN_EXPR, "{{", 2, lx->i);
			lx->curly = 0;
			lx->i += 3;
			continue;
		}
		skip_ws(lx);
		if (lx->i >= lx->len)
			lx_fail(lx, lx->i, "unexpected end of template inside a tag");
		if (at_str(lx, "-%}")) {
			lx_push(lx, T_CLOSE_STMT, "%}", 2, lx->i);
			lx->i += 3;
			skip_ws(lx);
			continue;
		}
		if (at_str(lx, "-}}")) {
			lx_push(lx, T_CLOSE_EXPR, "}}", 2, lx->i);
			lx->i += 3;
			skip_ws(lx);
			continue;
		}
		ch = lx->s[lx->i];
		if (ch == '-' || ch == '+') {
			lt = last_type(lx);
			if (lt < 0 || lt == T_TEXT)
				lx_fail(lx, lx->i, "unexpected character");
			if (lt != T_IDENT && lt != T_NUM && lt != T_STR && lt != T_RPAREN &&
			    lt != T_RBRACKET) {
				size_t start = lx->i, nd;
				lx->i++;
				nd = scan_digits(lx);
				if (nd > 0 && lx->i + 1 < lx->len && lx->s[lx->i] == '.' &&
				    is_digit(lx->s[lx->i + 1])) {
					lx->i++;
					scan_digits(lx);
				}
				lx_push(lx, nd ? T_NUM : T_UNARY, lx->s + start, lx->i - start,
				        start);
				continue;
			}
		}
		for (size_t k = 0; k < ARRAY_SIZE(ops); k++) {
			size_t n;
			if (ops[k].seq[0] != ch)
				continue;
			n = ops[k].seq[1] ? 2 : 1;
			if (ops[k].type == T_CLOSE_EXPR && lx->curly > 0)
				continue;
			if (lx->i + n <= lx->len && !memcmp(lx->s + lx->i, ops[k].seq, n)) {
				lx_push(lx, ops[k].type, lx->s + lx->i, n, lx->i);
				if (ops[k].type == T_OPEN_EXPR)
					lx->curly = 0;
				else if (ops[k].type == T_LBRACE)
					lx->curly++;
				else if (ops[k].type == T_RBRACE)
					lx->curly--;
				lx->i += n;
				goto next;
			}
		}
		if (ch == '\'' || ch == '"') {
			lex_string(lx);
			continue;
		}
		if (is_digit(ch)) {
			size_t start = lx->i;
			scan_digits(lx);
			if (last_type(lx) != T_DOT && lx->i + 1 < lx->len && lx->s[lx->i] == '.' &&
			    is_digit(lx->s[lx->i + 1])) {
				lx->i++;
				scan_digits(lx);
			}
			lx_push(lx, T_NUM, lx->s + start, lx->i - start, start);
			continue;
		}
		if (is_word(ch)) {
			size_t start = lx->i;
			while (lx->i < lx->len && is_word(lx->s[lx->i]))
				lx->i++;
			if (lx->i >= lx->len)
				lx_fail(lx, lx->i, "unexpected end of template");
			lx_push(lx, T_IDENT, lx->s + start, lx->i - start, start);
			continue;
		}
		lx_fail(lx, lx->i, "unexpected character");
	next:;
	}
	lx_push(lx, T_EOF, "", 0, lx->len);
}

void jinja_tokenize(struct jcompile *c)
{
	struct pp p0, p1, p2, p3;
	struct lexer lx = {0};
	size_t n = c->src_len;

	p0.s = (char *)c->src;
	p0.map = tmp_alloc(c, (n + 1) * sizeof(uint32_t));
	for (size_t i = 0; i <= n; i++)
		p0.map[i] = (uint32_t)i;
	p0.len = n;
	if (p0.len && p0.s[p0.len - 1] == '\n')
		p0.len--;
	pp_lstrip_blocks(c, &p0, &p1);
	pp_trim_blocks(c, &p1, &p2);
	pp_generation(c, &p2, &p3);

	lx.c = c;
	lx.s = p3.s;
	lx.map = p3.map;
	lx.len = p3.len;
	lex_tokens(&lx);
	c->toks = lx.toks;
	c->n_toks = lx.n;
}

void jinja_line_col(const char *src, size_t len, size_t pos, unsigned *line, unsigned *col)
{
	unsigned l = 1, cl = 1;
	if (pos > len)
		pos = len;
	for (size_t i = 0; i < pos; i++) {
		unsigned char ch = (unsigned char)src[i];
		if (ch == '\n') {
			l++;
			cl = 1;
		} else if ((ch & 0xC0) != 0x80) {
			cl++;
		}
	}
	*line = l;
	*col = cl;
}

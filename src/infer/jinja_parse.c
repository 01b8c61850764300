/*
 * jinja_parse.c: tokens to an AST, and jinja_template_new.
 *
 * A recursive-descent parser with @huggingface/jinja's grammar and
 * precedence, lowest first:
 *
 *   x if c else y  (and `x if c` without else: a select, undefined if false)
 *   or, and, not
 *   == != < > <= >= in, not in   (left-associative chains)
 *   + - ~
 *   * / // %
 *   **                           (left-associative, as in Jinja2)
 *   is [not] TEST
 *   | FILTER[(args)]
 *   unary + -
 *   member access .x [i] [a:b:c], calls
 *   literals, names, ( ), [ ], { }
 *
 * Everything is allocated in the compile arena, which the template keeps.
 * Nesting (blocks and expressions) is bounded by JINJA_MAX_NESTING so that
 * neither this parser nor the evaluator can exhaust the C stack.
 */
#include "infer/jinja_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void jc_fail(struct jcompile *c, uint32_t pos, const char *fmt, ...)
{
	char msg[400];
	unsigned line, col;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jinja_line_col(c->src, c->src_len, pos, &line, &col);
	hd_fail(c->err, c->err_size, HD_EINVAL, "line %u, column %u: %s", line, col, msg);
	longjmp(c->jb, 1);
}

void *jc_alloc(struct jcompile *c, size_t n)
{
	void *p = arena_try_alloc(&c->arena, n);
	if (!p)
		jc_fail(c, 0, "template too large");
	return p;
}

struct parser {
	struct jcompile *c;
	size_t cur;
	unsigned depth;
};

/* ---- helpers ------------------------------------------------------------ */

static const struct token *tok_at(const struct parser *p, size_t k)
{
	size_t i = p->cur + k;
	if (i >= p->c->n_toks)
		i = p->c->n_toks - 1; /* the T_EOF sentinel */
	return &p->c->toks[i];
}

static const struct token *tok(const struct parser *p)
{
	return tok_at(p, 0);
}

static const char *tok_desc(const struct token *t)
{
	static const char *const names[] = {
	        [T_EOF] = "end of template", [T_TEXT] = "text",       [T_NUM] = "number",
	        [T_STR] = "string",          [T_IDENT] = "name",      [T_EQUALS] = "'='",
	        [T_LPAREN] = "'('",          [T_RPAREN] = "')'",      [T_OPEN_STMT] = "'{%'",
	        [T_CLOSE_STMT] = "'%}'",     [T_OPEN_EXPR] = "'{{'",  [T_CLOSE_EXPR] = "'}}'",
	        [T_LBRACKET] = "'['",        [T_RBRACKET] = "']'",    [T_LBRACE] = "'{'",
	        [T_RBRACE] = "'}'",          [T_COMMA] = "','",       [T_DOT] = "'.'",
	        [T_COLON] = "':'",           [T_PIPE] = "'|'",        [T_ADD] = "operator",
	        [T_MUL] = "operator",        [T_POW] = "'**'",        [T_CMP] = "comparison",
	        [T_UNARY] = "sign",          [T_COMMENT] = "comment",
	};
	return t->type < ARRAY_SIZE(names) && names[t->type] ? names[t->type] : "token";
}

__attribute__((noreturn, format(printf, 2, 3))) static void p_fail(struct parser *p,
                                                                   const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jc_fail(p->c, tok(p)->pos, "%s (found %s)", msg, tok_desc(tok(p)));
}

static int is(const struct parser *p, int type)
{
	return tok(p)->type == type;
}

static int tok_is_ident(const struct token *t, const char *name)
{
	size_t n = strlen(name);
	return t->type == T_IDENT && t->len == n && !memcmp(t->s, name, n);
}

static int is_ident(const struct parser *p, const char *name)
{
	return tok_is_ident(tok(p), name);
}

static int is_statement(const struct parser *p, const char *a, const char *b, const char *c)
{
	const struct token *t1;
	if (tok(p)->type != T_OPEN_STMT)
		return 0;
	t1 = tok_at(p, 1);
	return tok_is_ident(t1, a) || (b && tok_is_ident(t1, b)) || (c && tok_is_ident(t1, c));
}

static const struct token *advance(struct parser *p)
{
	const struct token *t = tok(p);
	if (t->type == T_EOF)
		p_fail(p, "unexpected end of template");
	p->cur++;
	return t;
}

static void expect(struct parser *p, int type, const char *what)
{
	if (tok(p)->type != type)
		p_fail(p, "expected %s", what);
	p->cur++;
}

static void expect_ident(struct parser *p, const char *name)
{
	if (!is_ident(p, name))
		p_fail(p, "expected '%s'", name);
	p->cur++;
}

static void enter(struct parser *p)
{
	if (++p->depth > JINJA_MAX_NESTING)
		p_fail(p, "nested deeper than %d levels", JINJA_MAX_NESTING);
}

static void leave(struct parser *p)
{
	p->depth--;
}

static uint16_t depth_of(const struct node *n)
{
	return n ? n->depth : 0;
}

/* Sets n->depth from its children and refuses too deep a tree. */
static struct node *finish(struct parser *p, struct node *n)
{
	unsigned d = depth_of(n->a);
	if (depth_of(n->b) > d)
		d = depth_of(n->b);
	if (depth_of(n->c) > d)
		d = depth_of(n->c);
	for (size_t i = 0; i < n->n_kids; i++)
		if (depth_of(n->kids[i]) > d)
			d = depth_of(n->kids[i]);
	for (size_t i = 0; i < n->n_alt; i++)
		if (depth_of(n->alt[i]) > d)
			d = depth_of(n->alt[i]);
	if (d + 1 > JINJA_MAX_NESTING)
		jc_fail(p->c, n->pos, "expression or block nested deeper than %d levels",
		        JINJA_MAX_NESTING);
	n->depth = (uint16_t)(d + 1);
	return n;
}

/* Gives an N_STR node its value as a struct jstr, ready for the evaluator. */
static void set_str(struct parser *p, struct node *n, const char *s, size_t len)
{
	struct jstr *j = jc_alloc(p->c, sizeof(*j) + len + 1);
	j->len = len;
	memcpy(j->s, s, len);
	j->s[len] = 0;
	n->str = j;
	n->s = j->s;
	n->slen = len;
}

static struct node *mk(struct parser *p, int kind, uint32_t pos)
{
	struct node *n = jc_alloc(p->c, sizeof(*n));
	memset(n, 0, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->pos = pos;
	return n;
}

static struct node *mk2(struct parser *p, int kind, uint32_t pos, struct node *a, struct node *b)
{
	struct node *n = mk(p, kind, pos);
	n->a = a;
	n->b = b;
	return finish(p, n);
}

/* A growable list of nodes in the compile arena. */
struct nlist {
	struct node **v;
	size_t n, cap;
};

static void nl_push(struct parser *p, struct nlist *l, struct node *n)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct node **v = jc_alloc(p->c, cap * sizeof(*v));
		if (l->n)
			memcpy(v, l->v, l->n * sizeof(*v));
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = n;
}

/* ---- expressions --------------------------------------------------------- */

static struct node *parse_expression(struct parser *p);
static struct node *parse_primary(struct parser *p);
static struct node *parse_any(struct parser *p);

static struct node *parse_sequence(struct parser *p, int primary)
{
	uint32_t pos = tok(p)->pos;
	struct node *first = primary ? parse_primary(p) : parse_expression(p);
	struct nlist l = {0};
	struct node *n;
	if (!is(p, T_COMMA))
		return first;
	nl_push(p, &l, first);
	while (is(p, T_COMMA)) {
		p->cur++;
		nl_push(p, &l, primary ? parse_primary(p) : parse_expression(p));
	}
	n = mk(p, N_TUPLE, pos);
	n->kids = l.v;
	n->n_kids = l.n;
	return finish(p, n);
}

enum { ARGS_CALL, ARGS_PARAMS };

static int name_in(const struct nlist *names, const char *s, size_t len)
{
	for (size_t i = 0; i < names->n; i++)
		if (names->v[i]->slen == len && !memcmp(names->v[i]->s, s, len))
			return 1;
	return 0;
}

static void parse_args(struct parser *p, int mode, struct node ***out, size_t *n_out)
{
	struct nlist args = {0}, names = {0};
	int saw_kw = 0, saw_spread = 0;

	expect(p, T_LPAREN, "'(' to open the argument list");
	while (!is(p, T_RPAREN)) {
		const struct token *t = tok(p);
		int kw_spread = t->type == T_POW;
		int spread = t->type == T_MUL && t->len == 1 && t->s[0] == '*';
		struct node *arg;

		if (t->type == T_EOF)
			p_fail(p, "expected ')' to close the argument list");
		if (mode == ARGS_PARAMS && (kw_spread || spread))
			p_fail(p, "argument unpacking is not allowed in parameter declarations");
		if (kw_spread) {
			p->cur++;
			arg = mk(p, N_KWSPREAD, t->pos);
			arg->a = parse_expression(p);
			nl_push(p, &args, finish(p, arg));
			if (is(p, T_COMMA))
				p->cur++;
			if (!is(p, T_RPAREN))
				p_fail(p, "'**' must be applied to the final argument");
			break;
		}
		if (spread) {
			if (saw_spread)
				p_fail(p, "only one '*' argument unpacking is allowed");
			saw_spread = 1;
			p->cur++;
			arg = mk(p, N_SPREAD, t->pos);
			arg->a = parse_expression(p);
			arg = finish(p, arg);
		} else {
			arg = parse_expression(p);
			if (is(p, T_EQUALS)) {
				struct node *kw;
				p->cur++;
				if (arg->kind != N_IDENT)
					p_fail(p, mode == ARGS_PARAMS
					                  ? "expected a name for the parameter"
					                  : "expected a name for the keyword "
					                    "argument");
				kw = mk(p, N_KWARG, arg->pos);
				kw->s = arg->s;
				kw->slen = arg->slen;
				kw->a = parse_expression(p);
				arg = finish(p, kw);
			}
			if (mode == ARGS_PARAMS) {
				if (arg->kind != N_IDENT && arg->kind != N_KWARG)
					p_fail(p, "expected a name for the parameter");
				if (name_in(&names, arg->s, arg->slen))
					p_fail(p, "duplicate parameter name '%.*s'", (int)arg->slen,
					       arg->s);
				nl_push(p, &names, arg);
			}
			if (arg->kind == N_KWARG)
				saw_kw = 1;
			else if (saw_kw)
				p_fail(p,
				       mode == ARGS_CALL
				               ? "positional arguments must come before keyword "
				                 "arguments"
				               : "non-default argument follows default argument");
			else if (saw_spread)
				p_fail(p, "positional arguments must not follow '*' unpacking");
		}
		nl_push(p, &args, arg);
		if (is(p, T_COMMA))
			p->cur++;
	}
	expect(p, T_RPAREN, "')' to close the argument list");
	*out = args.v;
	*n_out = args.n;
}

static struct node *parse_member(struct parser *p, struct node *obj);

static struct node *parse_call(struct parser *p, struct node *callee)
{
	struct node *n = mk(p, N_CALL, callee->pos);
	n->a = callee;
	parse_args(p, ARGS_CALL, &n->kids, &n->n_kids);
	n = parse_member(p, finish(p, n));
	if (is(p, T_LPAREN))
		n = parse_call(p, n);
	return n;
}

static struct node *parse_subscript(struct parser *p)
{
	struct node *slots[4] = {0};
	size_t n = 0;
	int is_slice = 0;
	uint32_t pos = tok(p)->pos;

	while (!is(p, T_RBRACKET)) {
		struct node *e = NULL;
		if (tok(p)->type == T_EOF)
			p_fail(p, "expected ']'");
		if (is(p, T_COLON)) {
			p->cur++;
			is_slice = 1;
		} else {
			e = parse_expression(p);
			if (is(p, T_COLON)) {
				p->cur++;
				is_slice = 1;
			}
		}
		if (n < 4)
			slots[n] = e;
		n++;
	}
	if (!n)
		p_fail(p, "expected an index or a slice");
	if (is_slice) {
		struct node *s;
		if (n > 3)
			p_fail(p, "a slice takes at most 3 parts");
		s = mk(p, N_SLICE, pos);
		s->a = slots[0];
		s->b = slots[1];
		s->c = slots[2];
		return finish(p, s);
	}
	return slots[0];
}

static struct node *parse_member(struct parser *p, struct node *obj)
{
	while (is(p, T_DOT) || is(p, T_LBRACKET)) {
		int computed = is(p, T_LBRACKET);
		struct node *prop, *m;
		p->cur++;
		if (computed) {
			prop = parse_subscript(p);
			expect(p, T_RBRACKET, "']'");
		} else {
			prop = parse_primary(p);
			if (prop->kind != N_IDENT && prop->kind != N_INT)
				p_fail(p, "expected a name or an integer after '.'");
		}
		m = mk2(p, N_MEMBER, obj->pos, obj, prop);
		m->flags = computed ? NF_COMPUTED : 0;
		obj = m;
	}
	return obj;
}

static struct node *parse_call_member(struct parser *p)
{
	struct node *m = parse_member(p, parse_primary(p));
	if (is(p, T_LPAREN))
		return parse_call(p, m);
	return m;
}

static struct node *parse_unary_sign(struct parser *p)
{
	const struct token *t = tok(p);
	if ((t->type == T_UNARY || t->type == T_ADD) && t->len == 1 &&
	    (t->s[0] == '-' || t->s[0] == '+')) {
		struct node *n;
		p->cur++;
		enter(p);
		n = mk(p, N_UNARY, t->pos);
		n->op = t->s[0] == '-' ? OP_NEG : OP_POS;
		n->a = parse_unary_sign(p);
		leave(p);
		return finish(p, n);
	}
	return parse_call_member(p);
}

static struct node *parse_filter_expr(struct parser *p)
{
	struct node *operand = parse_unary_sign(p);
	while (is(p, T_PIPE)) {
		struct node *f;
		uint32_t pos = tok(p)->pos;
		p->cur++;
		f = parse_primary(p);
		if (f->kind != N_IDENT)
			p_fail(p, "expected a filter name");
		if (is(p, T_LPAREN))
			f = parse_call(p, f);
		operand = mk2(p, N_FILTER, pos, operand, f);
	}
	return operand;
}

static struct node *parse_test_expr(struct parser *p)
{
	struct node *operand = parse_filter_expr(p);
	while (is_ident(p, "is")) {
		struct node *n, *t;
		uint32_t pos = tok(p)->pos;
		int negate;
		p->cur++;
		negate = is_ident(p, "not");
		if (negate)
			p->cur++;
		t = parse_primary(p);
		if (t->kind != N_IDENT)
			p_fail(p, "expected a test name");
		n = mk(p, N_TEST, pos);
		n->a = operand;
		n->s = t->s;
		n->slen = t->slen;
		n->flags = negate ? NF_NEGATE : 0;
		operand = finish(p, n);
	}
	return operand;
}

static struct node *binary(struct parser *p, int op, uint32_t pos, struct node *a, struct node *b)
{
	struct node *n = mk2(p, N_BINARY, pos, a, b);
	n->op = (uint8_t)op;
	return n;
}

static struct node *parse_power(struct parser *p)
{
	struct node *left = parse_test_expr(p);
	while (is(p, T_POW)) {
		uint32_t pos = tok(p)->pos;
		p->cur++;
		left = binary(p, OP_POW, pos, left, parse_test_expr(p));
	}
	return left;
}

static struct node *parse_multiplicative(struct parser *p)
{
	struct node *left = parse_power(p);
	while (is(p, T_MUL)) {
		const struct token *t = advance(p);
		int op = t->len == 2      ? OP_FLOORDIV
		         : t->s[0] == '*' ? OP_MUL
		         : t->s[0] == '/' ? OP_DIV
		                          : OP_MOD;
		left = binary(p, op, t->pos, left, parse_power(p));
	}
	return left;
}

static struct node *parse_additive(struct parser *p)
{
	struct node *left = parse_multiplicative(p);
	while (is(p, T_ADD)) {
		const struct token *t = advance(p);
		int op = t->s[0] == '+' ? OP_ADD : t->s[0] == '-' ? OP_SUB : OP_CONCAT;
		left = binary(p, op, t->pos, left, parse_multiplicative(p));
	}
	return left;
}

static struct node *parse_comparison(struct parser *p)
{
	struct node *left = parse_additive(p);
	for (;;) {
		const struct token *t = tok(p);
		int op;
		if (is_ident(p, "not") && tok_is_ident(tok_at(p, 1), "in")) {
			op = OP_NOTIN;
			p->cur += 2;
		} else if (is_ident(p, "in")) {
			op = OP_IN;
			p->cur++;
		} else if (t->type == T_CMP) {
			p->cur++;
			if (t->s[0] == '=')
				op = OP_EQ;
			else if (t->s[0] == '!')
				op = OP_NE;
			else if (t->s[0] == '<')
				op = t->len == 2 ? OP_LE : OP_LT;
			else
				op = t->len == 2 ? OP_GE : OP_GT;
		} else {
			break;
		}
		left = binary(p, op, t->pos, left, parse_additive(p));
	}
	return left;
}

/* As @huggingface/jinja: `not a not b` parses, as not (not b). */
static struct node *parse_not(struct parser *p)
{
	struct node *right = NULL;
	while (is_ident(p, "not")) {
		struct node *n = mk(p, N_UNARY, tok(p)->pos);
		p->cur++;
		enter(p);
		n->op = OP_NOT;
		n->a = parse_not(p);
		leave(p);
		right = finish(p, n);
	}
	return right ? right : parse_comparison(p);
}

static struct node *parse_and(struct parser *p)
{
	struct node *left = parse_not(p);
	while (is_ident(p, "and")) {
		uint32_t pos = tok(p)->pos;
		p->cur++;
		left = binary(p, OP_AND, pos, left, parse_not(p));
	}
	return left;
}

static struct node *parse_or(struct parser *p)
{
	struct node *left = parse_and(p);
	while (is_ident(p, "or")) {
		uint32_t pos = tok(p)->pos;
		p->cur++;
		left = binary(p, OP_OR, pos, left, parse_and(p));
	}
	return left;
}

static struct node *parse_if_expr(struct parser *p)
{
	struct node *a = parse_or(p);
	if (is_ident(p, "if")) {
		struct node *test, *n;
		uint32_t pos = tok(p)->pos;
		p->cur++;
		test = parse_or(p);
		if (is_ident(p, "else")) {
			p->cur++;
			n = mk(p, N_TERNARY, pos);
			n->a = test;
			n->b = a;
			enter(p);
			n->c = parse_if_expr(p);
			leave(p);
			return finish(p, n);
		}
		return mk2(p, N_SELECT, pos, a, test);
	}
	return a;
}

static struct node *parse_expression(struct parser *p)
{
	struct node *n;
	enter(p);
	n = parse_if_expr(p);
	leave(p);
	return n;
}

static struct node *parse_primary(struct parser *p)
{
	const struct token *t = tok(p);
	struct node *n;

	switch (t->type) {
	case T_NUM: {
		char buf[64];
		int is_float = memchr(t->s, '.', t->len) != NULL;
		p->cur++;
		n = mk(p, is_float ? N_FLOAT : N_INT, t->pos);
		if (t->len < sizeof(buf)) {
			memcpy(buf, t->s, t->len);
			buf[t->len] = 0;
			n->num = strtod(buf, NULL);
		} else {
			char *tmp = jc_alloc(p->c, t->len + 1);
			memcpy(tmp, t->s, t->len);
			tmp[t->len] = 0;
			n->num = strtod(tmp, NULL);
		}
		return finish(p, n);
	}
	case T_STR: {
		size_t total = 0, k = 0;
		char *s;
		while (tok_at(p, k)->type == T_STR)
			total += tok_at(p, k++)->len;
		n = mk(p, N_STR, t->pos);
		s = jc_alloc(p->c, total + 1);
		total = 0;
		for (size_t i = 0; i < k; i++) {
			memcpy(s + total, tok_at(p, i)->s, tok_at(p, i)->len);
			total += tok_at(p, i)->len;
		}
		set_str(p, n, s, total);
		p->cur += k;
		return finish(p, n);
	}
	case T_IDENT:
		p->cur++;
		n = mk(p, N_IDENT, t->pos);
		n->s = t->s;
		n->slen = t->len;
		return finish(p, n);
	case T_LPAREN:
		p->cur++;
		enter(p);
		n = parse_sequence(p, 0);
		leave(p);
		expect(p, T_RPAREN, "')'");
		return n;
	case T_LBRACKET: {
		struct nlist l = {0};
		p->cur++;
		enter(p);
		while (!is(p, T_RBRACKET)) {
			if (tok(p)->type == T_EOF)
				p_fail(p, "expected ']'");
			nl_push(p, &l, parse_expression(p));
			if (is(p, T_COMMA))
				p->cur++;
		}
		leave(p);
		p->cur++;
		n = mk(p, N_ARRAY, t->pos);
		n->kids = l.v;
		n->n_kids = l.n;
		return finish(p, n);
	}
	case T_LBRACE: {
		struct nlist keys = {0}, vals = {0};
		p->cur++;
		enter(p);
		while (!is(p, T_RBRACE)) {
			if (tok(p)->type == T_EOF)
				p_fail(p, "expected '}'");
			nl_push(p, &keys, parse_expression(p));
			expect(p, T_COLON, "':' between key and value");
			nl_push(p, &vals, parse_expression(p));
			if (is(p, T_COMMA))
				p->cur++;
		}
		leave(p);
		p->cur++;
		n = mk(p, N_OBJECT, t->pos);
		n->kids = keys.v;
		n->n_kids = keys.n;
		n->alt = vals.v;
		n->n_alt = vals.n;
		return finish(p, n);
	}
	default: p_fail(p, "unexpected %s in an expression", tok_desc(t));
	}
}

/* ---- statements ---------------------------------------------------------- */

/* Parses statements until one of the named block tags. */
static void parse_body(struct parser *p, struct nlist *body, const char *a, const char *b,
                       const char *c)
{
	while (!is_statement(p, a, b, c)) {
		if (tok(p)->type == T_EOF)
			p_fail(p, "expected {%% %s %%}", a);
		nl_push(p, body, parse_any(p));
	}
}

static struct node *parse_if(struct parser *p, uint32_t pos)
{
	struct nlist body = {0}, alt = {0};
	struct node *n = mk(p, N_IF, pos);
	n->a = parse_expression(p);
	expect(p, T_CLOSE_STMT, "'%}'");
	parse_body(p, &body, "elif", "else", "endif");
	if (is_statement(p, "elif", NULL, NULL)) {
		uint32_t epos = tok(p)->pos;
		p->cur += 2;
		enter(p);
		nl_push(p, &alt, parse_if(p, epos));
		leave(p);
	} else if (is_statement(p, "else", NULL, NULL)) {
		p->cur += 2;
		expect(p, T_CLOSE_STMT, "'%}'");
		parse_body(p, &alt, "endif", NULL, NULL);
	}
	n->kids = body.v;
	n->n_kids = body.n;
	n->alt = alt.v;
	n->n_alt = alt.n;
	return finish(p, n);
}

static void expect_end(struct parser *p, const char *name)
{
	expect(p, T_OPEN_STMT, "'{%'");
	expect_ident(p, name);
	expect(p, T_CLOSE_STMT, "'%}'");
}

static struct node *parse_set(struct parser *p, uint32_t pos)
{
	struct node *n = mk(p, N_SET, pos);
	n->a = parse_sequence(p, 0);
	if (is(p, T_EQUALS)) {
		p->cur++;
		n->b = parse_sequence(p, 0);
	} else {
		struct nlist body = {0};
		expect(p, T_CLOSE_STMT, "'=' or '%}'");
		parse_body(p, &body, "endset", NULL, NULL);
		expect(p, T_OPEN_STMT, "'{%'");
		expect_ident(p, "endset");
		n->kids = body.v;
		n->n_kids = body.n;
	}
	expect(p, T_CLOSE_STMT, "'%}'");
	return finish(p, n);
}

static struct node *parse_for(struct parser *p, uint32_t pos)
{
	struct nlist body = {0}, alt = {0};
	struct node *n = mk(p, N_FOR, pos);
	n->a = parse_sequence(p, 1);
	if (n->a->kind != N_IDENT && n->a->kind != N_TUPLE)
		p_fail(p, "expected a name or names for the loop variable");
	if (!is_ident(p, "in"))
		p_fail(p, "expected 'in' after the loop variable");
	p->cur++;
	n->b = parse_expression(p);
	expect(p, T_CLOSE_STMT, "'%}'");
	parse_body(p, &body, "endfor", "else", NULL);
	if (is_statement(p, "else", NULL, NULL)) {
		p->cur += 2;
		expect(p, T_CLOSE_STMT, "'%}'");
		parse_body(p, &alt, "endfor", NULL, NULL);
	}
	n->kids = body.v;
	n->n_kids = body.n;
	n->alt = alt.v;
	n->n_alt = alt.n;
	return finish(p, n);
}

static struct node *parse_macro(struct parser *p, uint32_t pos)
{
	struct nlist body = {0};
	struct node *n = mk(p, N_MACRO, pos), *name = parse_primary(p);
	if (name->kind != N_IDENT)
		p_fail(p, "expected a name after 'macro'");
	n->s = name->s;
	n->slen = name->slen;
	parse_args(p, ARGS_PARAMS, &n->alt, &n->n_alt);
	expect(p, T_CLOSE_STMT, "'%}'");
	parse_body(p, &body, "endmacro", NULL, NULL);
	n->kids = body.v;
	n->n_kids = body.n;
	return finish(p, n);
}

static struct node *parse_statement(struct parser *p)
{
	const struct token *t;
	uint32_t pos = tok(p)->pos;
	struct node *n;

	expect(p, T_OPEN_STMT, "'{%'");
	t = tok(p);
	if (t->type != T_IDENT)
		p_fail(p, "expected a statement name");
	enter(p);
	if (tok_is_ident(t, "set")) {
		p->cur++;
		n = parse_set(p, pos);
	} else if (tok_is_ident(t, "if")) {
		p->cur++;
		n = parse_if(p, pos);
		expect_end(p, "endif");
	} else if (tok_is_ident(t, "macro")) {
		p->cur++;
		n = parse_macro(p, pos);
		expect_end(p, "endmacro");
	} else if (tok_is_ident(t, "for")) {
		p->cur++;
		n = parse_for(p, pos);
		expect_end(p, "endfor");
	} else if (tok_is_ident(t, "call")) {
		struct nlist body = {0};
		struct node *callee, *call;
		p->cur++;
		n = mk(p, N_CALLSTMT, pos);
		if (is(p, T_LPAREN))
			parse_args(p, ARGS_PARAMS, &n->alt, &n->n_alt);
		callee = parse_primary(p);
		if (callee->kind != N_IDENT)
			p_fail(p, "expected a macro name after 'call'");
		call = mk(p, N_CALL, callee->pos);
		call->a = callee;
		parse_args(p, ARGS_CALL, &call->kids, &call->n_kids);
		n->a = finish(p, call);
		expect(p, T_CLOSE_STMT, "'%}'");
		parse_body(p, &body, "endcall", NULL, NULL);
		expect_end(p, "endcall");
		n->kids = body.v;
		n->n_kids = body.n;
		n = finish(p, n);
	} else if (tok_is_ident(t, "break") || tok_is_ident(t, "continue")) {
		p->cur++;
		expect(p, T_CLOSE_STMT, "'%}'");
		n = mk(p, t->s[0] == 'b' ? N_BREAK : N_CONTINUE, pos);
		n = finish(p, n);
	} else if (tok_is_ident(t, "filter")) {
		struct nlist body = {0};
		struct node *f;
		p->cur++;
		f = parse_primary(p);
		if (f->kind == N_IDENT && is(p, T_LPAREN))
			f = parse_call(p, f);
		expect(p, T_CLOSE_STMT, "'%}'");
		parse_body(p, &body, "endfilter", NULL, NULL);
		expect_end(p, "endfilter");
		n = mk(p, N_FILTERSTMT, pos);
		n->a = f;
		n->kids = body.v;
		n->n_kids = body.n;
		n = finish(p, n);
	} else {
		p_fail(p, "unknown statement '%.*s'", (int)t->len, t->s);
	}
	leave(p);
	return n;
}

static struct node *parse_any(struct parser *p)
{
	const struct token *t = tok(p);
	struct node *n;
	switch (t->type) {
	case T_COMMENT: p->cur++; return finish(p, mk(p, N_COMMENT, t->pos));
	case T_TEXT:
		p->cur++;
		n = mk(p, N_STR, t->pos);
		set_str(p, n, t->s, t->len);
		return finish(p, n);
	case T_OPEN_STMT: return parse_statement(p);
	case T_OPEN_EXPR:
		p->cur++;
		n = parse_expression(p);
		expect(p, T_CLOSE_EXPR, "'}}'");
		return n;
	default: p_fail(p, "unexpected %s", tok_desc(t));
	}
}

/* ---- compile-time analyses --------------------------------------------- */

/* Which of `kwargs` / `varargs` a macro or call block reads before they are
 * bound, visiting in Jinja2's order (as @huggingface/jinja does): only then
 * do extra keyword / positional arguments land in them instead of being an
 * error. `declared` is shared across the whole walk, like theirs. */
struct special {
	int declared, accessed; /* NF_USES_KWARGS | NF_USES_VARARGS */
};

static int special_bit(const char *s, size_t len)
{
	if (len == 6 && !memcmp(s, "kwargs", 6))
		return NF_USES_KWARGS;
	if (len == 7 && !memcmp(s, "varargs", 7))
		return NF_USES_VARARGS;
	return 0;
}

static void sp_visit(struct special *sp, const struct node *n);

static void sp_declare_target(struct special *sp, const struct node *t)
{
	if (!t)
		return;
	if (t->kind == N_IDENT)
		sp->declared |= special_bit(t->s, t->slen);
	else if (t->kind == N_TUPLE)
		for (size_t i = 0; i < t->n_kids; i++)
			sp_declare_target(sp, t->kids[i]);
}

static void sp_visit_list(struct special *sp, struct node **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sp_visit(sp, v[i]);
}

static void sp_declare_params(struct special *sp, struct node **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sp->declared |= special_bit(v[i]->s, v[i]->slen);
}

static void sp_visit_defaults(struct special *sp, struct node **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i]->kind == N_KWARG)
			sp_visit(sp, v[i]->a);
}

static void sp_visit_filter(struct special *sp, const struct node *f)
{
	if (f && f->kind == N_CALL)
		sp_visit_list(sp, f->kids, f->n_kids);
}

static void sp_visit(struct special *sp, const struct node *n)
{
	if (!n)
		return;
	switch (n->kind) {
	case N_FOR:
		sp_declare_target(sp, n->a);
		if (n->b && n->b->kind == N_SELECT) {
			sp_visit(sp, n->b->a);
			sp_visit_list(sp, n->kids, n->n_kids);
			sp_visit_list(sp, n->alt, n->n_alt);
			sp_visit(sp, n->b->b);
			return;
		}
		sp_visit(sp, n->b);
		sp_visit_list(sp, n->kids, n->n_kids);
		sp_visit_list(sp, n->alt, n->n_alt);
		return;
	case N_SET:
		sp_declare_target(sp, n->a);
		sp_visit(sp, n->b);
		sp_visit_list(sp, n->kids, n->n_kids);
		return;
	case N_MACRO:
		sp_declare_params(sp, n->alt, n->n_alt);
		sp_visit_defaults(sp, n->alt, n->n_alt);
		sp_visit_list(sp, n->kids, n->n_kids);
		return;
	case N_CALLSTMT:
		sp_visit(sp, n->a);
		sp_declare_params(sp, n->alt, n->n_alt);
		sp_visit_defaults(sp, n->alt, n->n_alt);
		sp_visit_list(sp, n->kids, n->n_kids);
		return;
	case N_FILTERSTMT:
		sp_visit_list(sp, n->kids, n->n_kids);
		sp_visit_filter(sp, n->a);
		return;
	case N_IDENT: {
		int bit = special_bit(n->s, n->slen);
		if (bit && !(sp->declared & bit))
			sp->accessed |= bit;
		return;
	}
	case N_MEMBER:
		sp_visit(sp, n->a);
		if (n->flags & NF_COMPUTED)
			sp_visit(sp, n->b);
		return;
	case N_FILTER:
		sp_visit(sp, n->a);
		sp_visit_filter(sp, n->b);
		return;
	case N_TEST: sp_visit(sp, n->a); return;
	case N_SELECT:
		sp_visit(sp, n->b);
		sp_visit(sp, n->a);
		return;
	case N_KWARG: sp_visit(sp, n->a); return;
	case N_OBJECT:
		for (size_t i = 0; i < n->n_kids; i++) {
			sp_visit(sp, n->kids[i]);
			sp_visit(sp, n->alt[i]);
		}
		return;
	default:
		sp_visit(sp, n->a);
		sp_visit(sp, n->b);
		sp_visit(sp, n->c);
		sp_visit_list(sp, n->kids, n->n_kids);
		sp_visit_list(sp, n->alt, n->n_alt);
		return;
	}
}

static int special_args(struct node **params, size_t n_params, struct node **body, size_t n_body)
{
	struct special sp = {0, 0};
	sp_declare_params(&sp, params, n_params);
	sp_visit_list(&sp, body, n_body);
	return sp.accessed;
}

static int is_loop_field(const char *s, size_t len)
{
	static const char *const fields[] = {"index", "index0", "revindex", "revindex0", "first",
	                                     "last",  "length", "previtem", "nextitem"};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (strlen(fields[i]) == len && !memcmp(fields[i], s, len))
			return 1;
	return 0;
}

static int is_loop_ident(const struct node *n)
{
	return n && n->kind == N_IDENT && n->slen == 4 && !memcmp(n->s, "loop", 4);
}

/* Sets flags on macros and call blocks; returns 1 if `loop` is used other
 * than to read one of its fields (then the evaluator builds a fresh loop
 * object for every iteration, as @huggingface/jinja does; otherwise it
 * updates one in place). */
static int analyse(struct node *n)
{
	int esc = 0;
	if (!n)
		return 0;
	if (n->kind == N_MACRO || n->kind == N_CALLSTMT)
		n->flags |= (uint8_t)special_args(n->alt, n->n_alt, n->kids, n->n_kids);
	if (n->kind == N_MEMBER && is_loop_ident(n->a)) {
		const struct node *prop = n->b;
		if (!((prop->kind == N_IDENT && !(n->flags & NF_COMPUTED)) ||
		      (prop->kind == N_STR && (n->flags & NF_COMPUTED))) ||
		    !is_loop_field(prop->s, prop->slen))
			esc = 1;
		return esc | analyse(n->b);
	}
	if (is_loop_ident(n))
		return 1;
	esc |= analyse(n->a);
	esc |= analyse(n->b);
	esc |= analyse(n->c);
	for (size_t i = 0; i < n->n_kids; i++)
		esc |= analyse(n->kids[i]);
	for (size_t i = 0; i < n->n_alt; i++)
		esc |= analyse(n->alt[i]);
	return esc;
}

/* ---- entry ------------------------------------------------------------- */

static struct jinja_template *compile(struct jcompile *c)
{
	struct parser p = {c, 0, 0};
	struct nlist body = {0};
	struct jinja_template *tpl;
	int esc = 0;

	jinja_tokenize(c);
	while (tok(&p)->type != T_EOF)
		nl_push(&p, &body, parse_any(&p));
	arena_release(&c->tmp);
	for (size_t i = 0; i < body.n; i++)
		esc |= analyse(body.v[i]);
	tpl = xcalloc(1, sizeof(*tpl));
	tpl->body = body.v;
	tpl->n_body = body.n;
	tpl->loop_escapes = esc;
	return tpl;
}

struct jinja_template *jinja_template_new(const char *src, size_t len, char *err, size_t err_size)
{
	struct jcompile c;
	struct jinja_template *volatile tpl = NULL;

	memset(&c, 0, sizeof(c));
	if (len > JINJA_MAX_TEMPLATE_SIZE) {
		hd_fail(err, err_size, HD_ETOOBIG, "template of %zu bytes exceeds the limit of %zu",
		        len, (size_t)JINJA_MAX_TEMPLATE_SIZE);
		return NULL;
	}
	if (!utf8_valid(src, len)) {
		hd_fail(err, err_size, HD_EINVAL, "template is not valid UTF-8");
		return NULL;
	}
	arena_init(&c.arena, 0);
	arena_init(&c.tmp, 0);
	c.err = err;
	c.err_size = err_size;
	if (setjmp(c.jb)) {
		arena_release(&c.arena);
		arena_release(&c.tmp);
		free(tpl);
		return NULL;
	}
	{
		char *copy = jc_alloc(&c, len + 1);
		memcpy(copy, src, len);
		copy[len] = 0;
		c.src = copy;
		c.src_len = len;
	}
	tpl = compile(&c);
	tpl->arena = c.arena;
	tpl->src = (char *)c.src;
	tpl->src_len = c.src_len;
	if (err && err_size)
		err[0] = 0;
	return tpl;
}

void jinja_template_free(struct jinja_template *tpl)
{
	if (!tpl)
		return;
	arena_release(&tpl->arena);
	free(tpl);
}

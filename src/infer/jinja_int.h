/*
 * jinja_int.h: what the files of the Jinja interpreter share. Not part of
 * the infer module's interface; see jinja.h.
 *
 *   jinja_lex.c      whitespace preprocessing and the tokenizer
 *   jinja_parse.c    tokens to an AST, compile-time checks, jinja_template_new
 *   jinja_value.c    arena, strings with JavaScript semantics, numbers,
 *                    JSON output, conversions, comparisons
 *   jinja_eval.c     the evaluator and jinja_render
 *   jinja_builtin.c  filters, tests, methods and global functions
 *
 * Errors: compile and render both allocate from an arena and report errors
 * by longjmp to the entry point (jinja_template_new / jinja_render), which
 * frees the arena. Nothing between holds malloc'd memory, so nothing leaks.
 */
#ifndef HD_JINJA_INT_H
#define HD_JINJA_INT_H

#include "infer/jinja.h"

#include <setjmp.h>
#include <stdint.h>

/* ---- arena ----------------------------------------------------------- */

struct jchunk;
struct arena {
	struct jchunk *head;
	size_t used; /* bytes handed out, all chunks */
	size_t cap; /* 0 = unlimited */
};

void arena_init(struct arena *a, size_t cap);
void arena_release(struct arena *a);
/* NULL when the cap would be exceeded. 16-byte aligned. */
void *arena_try_alloc(struct arena *a, size_t n);

/* ---- tokens ---------------------------------------------------------- */

enum tok_type {
	T_EOF = 0,
	T_TEXT,
	T_NUM,
	T_STR,
	T_IDENT,
	T_EQUALS,
	T_LPAREN,
	T_RPAREN,
	T_OPEN_STMT,
	T_CLOSE_STMT,
	T_OPEN_EXPR,
	T_CLOSE_EXPR,
	T_LBRACKET,
	T_RBRACKET,
	T_LBRACE,
	T_RBRACE,
	T_COMMA,
	T_DOT,
	T_COLON,
	T_PIPE,
	T_ADD, /* + - ~ */
	T_MUL, /* * / // % */
	T_POW, /* ** */
	T_CMP, /* < > <= >= == != */
	T_UNARY, /* a lone + or - in unary position */
	T_COMMENT,
};

struct token {
	uint8_t type;
	const char *s; /* value: text, decoded string literal, identifier, operator */
	size_t len;
	uint32_t pos; /* byte offset in the original template */
};

/* What the compiler shares between lexer and parser. */
struct jcompile {
	struct arena arena; /* what the template keeps */
	struct arena tmp; /* preprocessing buffers and tokens, freed after parsing */
	jmp_buf jb;
	char *err;
	size_t err_size;
	const char *src; /* the original template, for line/column */
	size_t src_len;
	struct token *toks;
	size_t n_toks;
};

__attribute__((noreturn, format(printf, 3, 4))) void jc_fail(struct jcompile *c, uint32_t pos,
                                                             const char *fmt, ...);
void *jc_alloc(struct jcompile *c, size_t n);
/* Fills c->toks (ending with T_EOF; in c->tmp, token strings too, except
 * that text and names point into a copy in c->arena). Fails through jc_fail. */
void jinja_tokenize(struct jcompile *c);
/* 1-based line and column (in code points) of byte offset pos in src. */
void jinja_line_col(const char *src, size_t len, size_t pos, unsigned *line, unsigned *col);

/* ---- AST ------------------------------------------------------------- */

enum node_kind {
	N_STR = 1,
	N_INT,
	N_FLOAT,
	N_IDENT,
	N_ARRAY,
	N_TUPLE,
	N_OBJECT, /* kids: keys, alt: values */
	N_MEMBER, /* a: object, b: property; flags & NF_COMPUTED */
	N_CALL, /* a: callee, kids: arguments */
	N_BINARY, /* op, a, b */
	N_UNARY, /* op, a */
	N_FILTER, /* a: operand, b: filter (N_IDENT or N_CALL) */
	N_TEST, /* a: operand, s: test name; flags & NF_NEGATE */
	N_SELECT, /* a: value, b: condition (`x if c` without else) */
	N_TERNARY, /* a: condition, b: if true, c: if false */
	N_SLICE, /* a, b, c: start, stop, step (each may be NULL) */
	N_KWARG, /* s: name, a: value */
	N_SPREAD, /* a */
	N_KWSPREAD, /* a */
	/* statements */
	N_IF, /* a: test, kids: body, alt: else */
	N_FOR, /* a: target (N_IDENT/N_TUPLE), b: iterable, kids: body, alt: else */
	N_SET, /* a: target, b: value or NULL (block set, kids: body) */
	N_MACRO, /* s: name, alt: parameters (N_IDENT/N_KWARG), kids: body */
	N_CALLSTMT, /* a: N_CALL, alt: caller parameters, kids: body */
	N_FILTERSTMT, /* a: filter (N_IDENT or N_CALL), kids: body */
	N_BREAK,
	N_CONTINUE,
	N_COMMENT,
};

enum node_op {
	OP_NONE = 0,
	OP_OR,
	OP_AND,
	OP_NOT,
	OP_EQ,
	OP_NE,
	OP_LT,
	OP_GT,
	OP_LE,
	OP_GE,
	OP_IN,
	OP_NOTIN,
	OP_ADD,
	OP_SUB,
	OP_CONCAT,
	OP_MUL,
	OP_DIV,
	OP_FLOORDIV,
	OP_MOD,
	OP_POW,
	OP_NEG,
	OP_POS,
};

#define NF_COMPUTED 1
#define NF_NEGATE 1
#define NF_USES_KWARGS 2 /* macro / call block reads `kwargs` */
#define NF_USES_VARARGS 4 /* macro / call block reads `varargs` */

struct node {
	uint8_t kind, op, flags;
	uint16_t depth; /* nesting, bounded by JINJA_MAX_NESTING */
	uint32_t pos; /* byte offset in the original template */
	const char *s;
	size_t slen;
	const struct jstr *str; /* N_STR: the value */
	double num;
	struct node *a, *b, *c;
	struct node **kids;
	size_t n_kids;
	struct node **alt;
	size_t n_alt;
};

struct jinja_template {
	struct arena arena; /* holds everything below */
	char *src; /* the original text, for messages */
	size_t src_len;
	struct node **body;
	size_t n_body;
	int loop_escapes; /* some `loop` is used other than as `loop.x` */
};

/* ---- values ---------------------------------------------------------- */

enum jv_kind {
	JV_VOID = 0, /* JavaScript's raw undefined (e.g. `[]|first`) */
	JV_UNDEF, /* UndefinedValue */
	JV_NULL,
	JV_BOOL,
	JV_INT,
	JV_FLOAT,
	JV_STR,
	JV_ARRAY, /* sub = 1: a tuple */
	JV_OBJECT, /* sub = 1: keyword arguments */
	JV_NS, /* namespace(): a mutable object */
	JV_FUNC,
};

struct jstr {
	size_t len;
	char s[]; /* NUL-terminated */
};

struct jv;
struct jarr;
struct jobj;
struct jfn;

struct jv {
	uint8_t k;
	uint8_t sub;
	union {
		double n;
		int b;
		struct jstr *s;
		struct jarr *a;
		struct jobj *o;
		struct jfn *f;
	} u;
};

struct jarr {
	size_t n;
	struct jv v[];
};

struct jent {
	struct jstr *k;
	struct jv v;
};

struct jobj {
	size_t n, cap;
	struct jent *e;
};

enum jfn_type { FN_GLOBAL = 1, FN_METHOD, FN_MACRO, FN_CALLER };
enum jfn_global { G_NAMESPACE = 1, G_RAISE, G_RANGE, G_STRFTIME };
enum jfn_method {
	M_UPPER = 1,
	M_LOWER,
	M_STRIP,
	M_TITLE,
	M_CAPITALIZE,
	M_RSTRIP,
	M_LSTRIP,
	M_STARTSWITH,
	M_ENDSWITH,
	M_SPLIT,
	M_REPLACE,
	M_GET,
	M_ITEMS,
	M_KEYS,
	M_VALUES,
	M_DICTSORT,
};

struct scope;

struct jfn {
	uint8_t type, id;
	struct jv self; /* FN_METHOD: the receiver */
	const struct node *node; /* FN_MACRO / FN_CALLER */
	struct scope *env; /* FN_CALLER: where the call block stands */
};

struct svar {
	const char *name;
	size_t len;
	struct jv v;
};

struct scope {
	struct scope *parent;
	size_t n, cap;
	struct svar *v;
};

/* A growable string in the render arena, built in place so that finishing
 * it into a struct jstr copies nothing. */
struct jsb {
	struct jstr *str; /* str->s holds the bytes; str->len is not kept up to date */
	size_t len, cap;
};

struct jtrap; /* an enclosing for loop, for break / continue */

struct rt {
	const struct jinja_template *tpl;
	struct jinja_limits lim;
	struct arena arena;
	jmp_buf jb;
	int err_code;
	char *err;
	size_t err_size;
	uint64_t steps, iterations;
	double t_end; /* monotonic deadline, 0 = none */
	unsigned depth, call_depth;
	struct jtrap *trap;
	struct scope *globals;
	const struct node *cur; /* the node being evaluated, for messages */
};

/* Fails the render: code is HD_EINVAL or HD_ETOOBIG. */
__attribute__((noreturn, format(printf, 3, 4))) void rt_fail(struct rt *rt, int code,
                                                             const char *fmt, ...);
void *rt_alloc(struct rt *rt, size_t n);

static inline struct jv jv_undef(void)
{
	struct jv v = {.k = JV_UNDEF};
	return v;
}
static inline struct jv jv_void(void)
{
	struct jv v = {.k = JV_VOID};
	return v;
}
static inline struct jv jv_null(void)
{
	struct jv v = {.k = JV_NULL};
	return v;
}
static inline struct jv jv_bool(int b)
{
	struct jv v = {.k = JV_BOOL};
	v.u.b = !!b;
	return v;
}
static inline struct jv jv_int(double n)
{
	struct jv v = {.k = JV_INT};
	v.u.n = n;
	return v;
}
static inline struct jv jv_float(double n)
{
	struct jv v = {.k = JV_FLOAT};
	v.u.n = n;
	return v;
}
static inline struct jv jv_num(double n, int is_float)
{
	return is_float ? jv_float(n) : jv_int(n);
}
static inline int jv_is_num(struct jv v)
{
	return v.k == JV_INT || v.k == JV_FLOAT;
}
/* Containers whose values are reached with `.name`: ObjectValue and
 * NamespaceValue. */
static inline int jv_is_attr(struct jv v)
{
	return v.k == JV_OBJECT || v.k == JV_NS;
}

/* strings */
struct jv jv_str(struct rt *rt, const char *s, size_t len);
struct jv jv_cstr(struct rt *rt, const char *s);
struct jv jv_strv(struct jstr *s);
struct jstr *jstr_new(struct rt *rt, const char *s, size_t len);
/* The empty string, with room for its NUL terminator. */
union jstr_empty_storage {
	struct jstr j;
	char bytes[sizeof(struct jstr) + 8];
};
extern union jstr_empty_storage jstr_empty_storage;
#define jstr_empty (jstr_empty_storage.j)

void sb_init(struct rt *rt, struct jsb *sb, size_t hint);
void sb_put(struct rt *rt, struct jsb *sb, const char *s, size_t n);
void sb_puts(struct rt *rt, struct jsb *sb, const char *s);
void sb_putc(struct rt *rt, struct jsb *sb, char c);
void sb_put_cp(struct rt *rt, struct jsb *sb, uint32_t cp);
struct jstr *sb_finish(struct jsb *sb);
struct jv sb_value(struct jsb *sb);

/* arrays and objects */
struct jarr *jarr_new(struct rt *rt, size_t n);
struct jv jv_arr(struct jarr *a, int tuple);
struct jobj *jobj_new(struct rt *rt, size_t cap);
struct jv jv_obj(struct jobj *o, uint8_t kind, int kwargs);
/* Inserts or replaces (keeping the position), as Map.set does. */
void jobj_set(struct rt *rt, struct jobj *o, struct jstr *k, struct jv v);
/* Appends without looking for the key (the caller knows it is new). */
void jobj_append(struct rt *rt, struct jobj *o, struct jstr *k, struct jv v);
struct jv *jobj_get(const struct jobj *o, const char *k, size_t len);

/* UTF-8 and JavaScript string semantics */
int utf8_next(const char *s, size_t len, size_t *i, uint32_t *cp); /* 1 ok, 0 end */
size_t utf8_prev(const char *s, size_t i); /* start of the code point before i */
int js_is_space(uint32_t cp); /* JavaScript's \s, trim() */
size_t js_u16_len(const char *s, size_t len);
size_t js_trim_start(const char *s, size_t len); /* bytes of leading whitespace */
size_t js_trim_end(const char *s, size_t len); /* length without trailing whitespace */
int js_str_cmp(const char *a, size_t alen, const char *b, size_t blen); /* UTF-16 order */
struct jv js_upper(struct rt *rt, const char *s, size_t len);
struct jv js_lower(struct rt *rt, const char *s, size_t len);

/* numbers */
void js_num_fmt(char out[40], double n); /* Number.prototype.toString() */
double js_str_to_num(const char *s, size_t len); /* Number("...") */
double js_parse_int(const char *s, size_t len); /* parseInt(s, 10), NaN if none */
double js_parse_float(const char *s, size_t len); /* parseFloat(s), NaN if none */

/* conversions to text */
void jv_put_str(struct rt *rt, struct jsb *sb, struct jv v); /* RuntimeValue.toString() */
void jv_put_raw(struct rt *rt, struct jsb *sb, struct jv v); /* String(value.value) */
struct json_opts {
	size_t indent; /* 0: none */
	int ensure_ascii;
	int sort_keys;
	const struct jstr *item_sep, *key_sep; /* NULL: defaults */
};
void jv_put_json(struct rt *rt, struct jsb *sb, struct jv v, const struct json_opts *o,
                 unsigned depth, int undef_as_null);
const char *jv_type_name(struct jv v);

/* truth and comparison */
int jv_truthy(struct rt *rt, struct jv v); /* __bool__() */
int jv_raw_truthy(struct jv v); /* JavaScript !!value.value */
int jv_loose_eq(struct rt *rt, struct jv a, struct jv b); /* a.value == b.value */
int jv_strict_eq(struct jv a, struct jv b); /* a.value === b.value */
int jv_same_value_zero(struct jv a, struct jv b); /* Set membership */
int jv_compare(struct rt *rt, struct jv a, struct jv b, int case_sensitive);
/* Stable sort (merge sort). cmp returns <0, 0, >0 and may fail the render. */
void jv_sort(struct rt *rt, struct jv *v, size_t n,
             int (*cmp)(struct rt *rt, struct jv a, struct jv b, void *ctx), void *ctx);

/* JSON data to values (objects keep JavaScript's key order). */
struct jv jv_from_json(struct rt *rt, const json_t *j, unsigned depth);

/* ---- evaluator and builtins ------------------------------------------ */

void rt_step(struct rt *rt);
void rt_count_iterations(struct rt *rt, uint64_t n);
struct jv rt_eval(struct rt *rt, const struct node *n, struct scope *sc);
struct jv rt_call(struct rt *rt, struct jv fn, struct jv *args, size_t n, struct scope *sc);
void rt_eval_args(struct rt *rt, struct node **args, size_t n_args, struct scope *sc,
                  struct jv **pos, size_t *n_pos, struct jobj **kw);
struct jv scope_lookup(struct scope *sc, const char *name, size_t len);
void scope_set(struct rt *rt, struct scope *sc, const char *name, size_t len, struct jv v);
struct scope *scope_new(struct rt *rt, struct scope *parent);

struct jv builtin_member(struct rt *rt, struct jv obj, const char *name, size_t len, int *found);
struct jv builtin_call(struct rt *rt, const struct jfn *f, struct jv *args, size_t n,
                       struct scope *sc);
struct jv builtin_filter(struct rt *rt, struct jv operand, const struct node *filter,
                         struct scope *sc);
int builtin_test(struct rt *rt, const char *name, size_t len, struct jv a, const struct jv *b,
                 int *known);
struct jv builtin_namespace(struct rt *rt, struct jv *args, size_t n);

#endif

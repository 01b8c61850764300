/*
 * jinja: the chat-template interpreter (lexer, parser to an AST, evaluator
 * over JSON data), with the semantics of the npm package @huggingface/jinja
 * 0.5.x, which is what the Hugging Face JavaScript clients render chat
 * templates with. Quirks of that package are kept on purpose (booleans print
 * as "true", `{{ [1] }}` prints JSON, string methods ignore their arguments,
 * `+` on a string and a number concatenates, ...): a template renders here
 * byte for byte as it does there, and where it throws, rendering fails here.
 *
 * Sandbox (SECURITY.md F5): a template reaches nothing but the context it is
 * given (no files, environment, clock other than strftime_now, no Python
 * attributes: `x.__class__` is simply undefined). Every render is bounded by
 * struct jinja_limits (output, memory, steps, loop iterations, call depth,
 * wall time); hitting a limit is an error with a message, never a crash or a
 * hang. Templates are untrusted input: malformed ones are rejected with a
 * message naming the line and column.
 *
 * Threads: a compiled template is immutable; any number of threads may render
 * it at once. Each render allocates from its own arena, freed when it ends.
 * Compiling needs under 128 KiB of C stack and rendering under 256 KiB
 * whatever the template (nesting and evaluation depth are bounded); more
 * under sanitizers. A typical chat render takes a few thousand steps and
 * well under a millisecond.
 */
#ifndef HD_JINJA_H
#define HD_JINJA_H

#include "core/core.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct jinja_template;

struct jinja_limits {
	size_t max_output; /* bytes of rendered text and of any one string value */
	size_t max_memory; /* bytes one render may allocate */
	uint64_t max_steps; /* evaluation steps (expressions and statements) */
	uint64_t max_iterations; /* loop iterations plus elements made by range() */
	unsigned max_call_depth; /* nested macro and caller() calls */
	unsigned max_time_ms; /* wall clock for one render; 0 = no limit */
};

/* Defaults of jinja_limits_default(). */
#define JINJA_DEFAULT_MAX_OUTPUT ((size_t)1 << 20)
#define JINJA_DEFAULT_MAX_MEMORY ((size_t)64 << 20)
#define JINJA_DEFAULT_MAX_STEPS 20000000ULL
#define JINJA_DEFAULT_MAX_ITERATIONS 1000000ULL
#define JINJA_DEFAULT_MAX_CALL_DEPTH 64
#define JINJA_DEFAULT_MAX_TIME_MS 5000
/* Templates longer than this are refused by jinja_template_new. */
#define JINJA_MAX_TEMPLATE_SIZE ((size_t)1 << 20)
/* Blocks and expressions nested deeper than this are refused. */
#define JINJA_MAX_NESTING 200

void jinja_limits_default(struct jinja_limits *lim);

/* Compiles a template (UTF-8, len bytes). Returns NULL with a message in err
 * ("line L, column C: ...") if it is malformed, too long or too deep. */
struct jinja_template *jinja_template_new(const char *src, size_t len, char *err, size_t err_size);
void jinja_template_free(struct jinja_template *tpl);

/* Renders tpl with the variables of ctx (a JSON object: messages,
 * add_generation_prompt, bos_token, eos_token, tools, ...) and appends the
 * text to out. lim NULL means the defaults. Returns 0, HD_EINVAL (the
 * template failed: raise_exception, a type error, a bad context) or
 * HD_ETOOBIG (a limit was hit), with a message in err; on error out is left
 * as it was. */
int jinja_render(const struct jinja_template *tpl, const json_t *ctx,
                 const struct jinja_limits *lim, struct buf *out, char *err, size_t err_size);

/* The template for models that ship none: ChatML, as llama.cpp uses then.
 * Each message becomes "<|im_start|>ROLE\nCONTENT<|im_end|>\n" (content
 * given as a list of parts keeps its text parts), and add_generation_prompt
 * adds "<|im_start|>assistant\n". */
extern const char jinja_chatml_template[];

#endif

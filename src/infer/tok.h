/*
 * tok.h: tokenizers loaded from GGUF metadata (tokenizer.ggml.*):
 * SentencePiece-style ("llama": scores + byte fallback) and byte-level BPE
 * ("gpt2": merges + the pre-tokenizer GGUF names in tokenizer.ggml.pre),
 * with special/control tokens and BOS/EOS handling. Pre-tokenizer regexes
 * run through PCRE2, normalization through utf8proc.
 *
 * A struct tok is immutable after loading and safe to use from several
 * threads at once.
 */
#ifndef HD_INFER_TOK_H
#define HD_INFER_TOK_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "infer/gguf.h"

struct tok;

/* Loads the vocabulary of a GGUF file (copies what it keeps: the file may
 * be closed afterwards). 0 or a negative error with a message. */
int tok_load_gguf(const struct gguf_file *f, struct tok **out, char *err, size_t err_size);
void tok_free(struct tok *t);

int32_t tok_n_vocab(const struct tok *t);
/* "llama" (SentencePiece), "gpt2" (byte-level BPE) or "bert" (WordPiece). */
const char *tok_model_name(const struct tok *t);
int32_t tok_bos(const struct tok *t); /* -1 if none */
int32_t tok_eos(const struct tok *t); /* -1 if none */
/* 1 if generation should stop at this id (EOS, EOT, and other end-of-generation tokens). */
int tok_is_eog(const struct tok *t, int32_t id);
/* 1 if the model's metadata asks for BOS to be added (tokenizer.ggml.add_bos_token, with the
 * defaults the reference engine uses per tokenizer type). */
int tok_add_bos_default(const struct tok *t);
/* 1 if the model's metadata asks for an end marker after the text
 * (tokenizer.ggml.add_eos_token; for WordPiece add_sep_token, SEP). */
int tok_add_eos_default(const struct tok *t);

enum tok_flags {
	TOK_ADD_BOS = 1, /* prepend BOS (if the vocab has one) */
	TOK_PARSE_SPECIAL = 2, /* text of special/control tokens becomes those tokens */
	TOK_ADD_EOS = 4, /* append EOS (WordPiece: SEP), if the vocab has one */
};

/* Appends the ids of text[0..len) to *ids (a growable array: *n used,
 * *cap allocated; *ids may be NULL initially; caller frees). Text is
 * arbitrary bytes; invalid UTF-8 is handled as the reference does. */
int tok_encode(const struct tok *t, const char *text, size_t len, int flags, int32_t **ids,
               size_t *n, size_t *cap);

/* Appends the bytes of one token to out (byte-fallback tokens give their
 * byte; SentencePiece's U+2581 becomes a space; byte-level BPE is decoded
 * back to bytes). Special tokens are rendered only if render_special.
 * Bytes of a multi-byte character may be split across tokens: callers
 * that stream text hold back incomplete UTF-8 sequences. */
int tok_piece(const struct tok *t, int32_t id, int render_special, struct buf *out);

/* The text of a token as stored in the vocabulary (borrowed; NUL-terminated). */
const char *tok_text(const struct tok *t, int32_t id);

#endif

/*
 * attrs.c: .gitattributes LFS rules and Git LFS pointer files.
 *
 * A new repo gets the Hub's default .gitattributes (the list of patterns
 * the Hub stores through LFS). The preupload decision asks whether a path
 * matches a `filter=lfs` rule: the last matching line that says anything
 * about `filter` decides, as in git. Patterns without a '/' match the base
 * name at any depth; patterns with one match the whole path from the root;
 * `*` and `?` stay within a segment, `**` crosses them.
 */
#include "hub/hub_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define LFS_RULE " filter=lfs diff=lfs merge=lfs -text\n"

#define COMMON_RULES                                                                             \
	"*.7z" LFS_RULE "*.arrow" LFS_RULE "*.bin" LFS_RULE "*.bz2" LFS_RULE "*.ckpt" LFS_RULE   \
	"*.ftz" LFS_RULE "*.gguf" LFS_RULE "*.gz" LFS_RULE "*.h5" LFS_RULE "*.joblib" LFS_RULE   \
	"*.lfs.*" LFS_RULE "*.mlmodel" LFS_RULE "*.model" LFS_RULE "*.msgpack" LFS_RULE          \
	"*.npy" LFS_RULE "*.npz" LFS_RULE "*.onnx" LFS_RULE "*.ot" LFS_RULE "*.parquet" LFS_RULE \
	"*.pb" LFS_RULE "*.pickle" LFS_RULE "*.pkl" LFS_RULE "*.pt" LFS_RULE "*.pth" LFS_RULE    \
	"*.rar" LFS_RULE "*.safetensors" LFS_RULE "saved_model/**/*" LFS_RULE "*.tar.*" LFS_RULE \
	"*.tar" LFS_RULE "*.tflite" LFS_RULE "*.tgz" LFS_RULE "*.wasm" LFS_RULE "*.xz" LFS_RULE  \
	"*.zip" LFS_RULE "*.zst" LFS_RULE "*tfevents*" LFS_RULE

static const char default_model[] = COMMON_RULES;

static const char default_dataset[] = COMMON_RULES
        "*.lz4" LFS_RULE "*.mds" LFS_RULE "# Audio files - uncompressed\n"
        "*.pcm" LFS_RULE "*.sam" LFS_RULE "*.raw" LFS_RULE "# Audio files - compressed\n"
        "*.aac" LFS_RULE "*.flac" LFS_RULE "*.mp3" LFS_RULE "*.ogg" LFS_RULE "*.wav" LFS_RULE
        "# Image files - uncompressed\n"
        "*.bmp" LFS_RULE "*.gif" LFS_RULE "*.png" LFS_RULE "*.tiff" LFS_RULE
        "# Image files - compressed\n"
        "*.jpg" LFS_RULE "*.jpeg" LFS_RULE "*.webp" LFS_RULE "# Video files - compressed\n"
        "*.mp4" LFS_RULE "*.webm" LFS_RULE;

const char *attrs_default(enum hub_repo_type t)
{
	return t == HUB_REPO_DATASET ? default_dataset : default_model;
}

/* ---- glob ------------------------------------------------------------------- */
struct glob_state {
	long budget; /* bounds the work on hostile patterns */
};

static int class_match(const char **pp, char ch)
{
	const char *p = *pp + 1; /* after '[' */
	int neg = 0, ok = 0, first = 1;

	if (*p == '!' || *p == '^') {
		neg = 1;
		p++;
	}
	while (*p && (first || *p != ']')) {
		unsigned char lo = (unsigned char)*p, hi;
		if (lo == '\\' && p[1])
			lo = (unsigned char)*++p;
		hi = lo;
		if (p[1] == '-' && p[2] && p[2] != ']') {
			p += 2;
			hi = (unsigned char)*p;
			if (hi == '\\' && p[1])
				hi = (unsigned char)*++p;
		}
		if ((unsigned char)ch >= lo && (unsigned char)ch <= hi)
			ok = 1;
		p++;
		first = 0;
	}
	if (*p != ']')
		return -1; /* unterminated: not a class */
	*pp = p + 1;
	return ok != neg;
}

static int glob_rec(struct glob_state *g, const char *p, const char *s)
{
	if (--g->budget < 0)
		return 0;
	while (*p) {
		if (p[0] == '*' && p[1] == '*') {
			while (*p == '*')
				p++;
			if (*p == 0)
				return 1;
			if (*p == '/') {
				/* "**" + "/": zero or more whole directories */
				p++;
				for (const char *t = s;; t++) {
					if ((t == s || t[-1] == '/') && glob_rec(g, p, t))
						return 1;
					if (!*t)
						return 0;
				}
			}
			for (const char *t = s;; t++) {
				if (glob_rec(g, p, t))
					return 1;
				if (!*t)
					return 0;
			}
		}
		switch (*p) {
		case '*':
			p++;
			for (const char *t = s;; t++) {
				if (glob_rec(g, p, t))
					return 1;
				if (!*t || *t == '/')
					return 0;
			}
		case '?':
			if (!*s || *s == '/')
				return 0;
			p++;
			s++;
			break;
		case '[': {
			if (!*s || *s == '/')
				return 0;
			const char *q = p;
			int r = class_match(&q, *s);
			if (r < 0) {
				if (*s != '[')
					return 0;
				p++;
				s++;
				break;
			}
			if (!r)
				return 0;
			p = q;
			s++;
			break;
		}
		case '\\':
			if (p[1])
				p++;
			/* fall through */
		default:
			if (*p != *s)
				return 0;
			p++;
			s++;
		}
	}
	return *s == 0;
}

#define GLOB_BUDGET 200000 /* glob steps to decide one path, all rules together */

int attrs_glob(const char *pat, const char *str)
{
	struct glob_state g = {GLOB_BUDGET};
	return glob_rec(&g, pat, str);
}

/* Does one .gitattributes pattern apply to path? */
static int pattern_applies(struct glob_state *g, const char *pat, const char *path)
{
	if (*pat == '/')
		return glob_rec(g, pat + 1, path);
	if (!strchr(pat, '/')) {
		const char *base = strrchr(path, '/');
		return glob_rec(g, pat, base ? base + 1 : path);
	}
	return glob_rec(g, pat, path);
}

void attrs_parse(struct attrs *a, const char *text)
{
	size_t cap = 0;
	const char *line = text;

	memset(a, 0, sizeof(*a));
	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *l = xstrndup(line, len);
		char *save = NULL, *tok, *pat;
		int lfs = -1;
		line += len + (end ? 1 : 0);

		pat = strtok_r(l, " \t\r", &save);
		if (pat && pat[0] == '"') { /* a quoted pattern: keep it simple, strip quotes */
			pat++;
			size_t tl = strlen(pat);
			if (tl && pat[tl - 1] == '"')
				pat[tl - 1] = 0;
		}
		/* Comments and negative patterns ("!x", not allowed in attributes)
		 * say nothing; nor does a line without a filter attribute. */
		if (pat && pat[0] != '#' && pat[0] != '!') {
			while ((tok = strtok_r(NULL, " \t\r", &save))) {
				if (!strcmp(tok, "filter=lfs"))
					lfs = 1;
				else if (!strcmp(tok, "-filter") || !strcmp(tok, "!filter") ||
				         !strncmp(tok, "filter=", 7))
					lfs = 0;
			}
		}
		if (lfs >= 0) {
			if (a->n == cap) {
				cap = cap ? 2 * cap : 64;
				a->rules = xrealloc(a->rules, cap * sizeof(*a->rules));
			}
			a->rules[a->n].pat = xstrdup(pat);
			a->rules[a->n].lfs = lfs;
			a->n++;
		}
		free(l);
	}
}

int attrs_match_lfs(const struct attrs *a, const char *path)
{
	struct glob_state g = {GLOB_BUDGET};

	/* The last rule that applies decides, as in git. */
	for (size_t i = a->n; i-- > 0 && g.budget > 0;)
		if (pattern_applies(&g, a->rules[i].pat, path))
			return a->rules[i].lfs;
	return 0;
}

void attrs_release(struct attrs *a)
{
	for (size_t i = 0; a && i < a->n; i++)
		free(a->rules[i].pat);
	if (a)
		free(a->rules);
}

int attrs_is_lfs(const char *text, const char *path)
{
	struct attrs a;
	int lfs;

	attrs_parse(&a, text);
	lfs = attrs_match_lfs(&a, path);
	attrs_release(&a);
	return lfs;
}

/* ---- LFS pointers ------------------------------------------------------------ */
static const char pointer_version[] = "version https://git-lfs.github.com/spec/v1\n";

int lfs_pointer_parse(const void *data, size_t n, char oid[65], int64_t *size)
{
	const char *p = data, *end = p + n;
	int have_oid = 0, have_size = 0;

	if (n > LFS_POINTER_MAX || n < sizeof(pointer_version) - 1 ||
	    memcmp(p, pointer_version, sizeof(pointer_version) - 1))
		return 0;
	p += sizeof(pointer_version) - 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return 0;
		size_t len = (size_t)(nl - p);
		if (len == 4 + 7 + 64 && !memcmp(p, "oid sha256:", 11)) {
			if (have_oid || !hex_is_lower(p + 11, 64))
				return 0;
			memcpy(oid, p + 11, 64);
			oid[64] = 0;
			have_oid = 1;
		} else if (len > 5 && !memcmp(p, "size ", 5)) {
			char num[24];
			size_t dl = len - 5;
			int64_t v;
			if (have_size || dl >= sizeof(num) || (dl > 1 && p[5] == '0'))
				return 0;
			for (size_t i = 0; i < dl; i++)
				if (!isdigit((unsigned char)p[5 + i]))
					return 0;
			memcpy(num, p + 5, dl);
			num[dl] = 0;
			if (str_to_i64(num, &v) || v < 0)
				return 0;
			*size = v;
			have_size = 1;
		} else {
			/* other keys (ext-*) are allowed: "key value" with a lowercase key */
			const char *sp = memchr(p, ' ', len);
			if (!sp || sp == p)
				return 0;
			for (const char *k = p; k < sp; k++)
				if (!(islower((unsigned char)*k) || isdigit((unsigned char)*k) ||
				      *k == '.' || *k == '-'))
					return 0;
		}
		p = nl + 1;
	}
	return have_oid && have_size;
}

void lfs_pointer_format(struct buf *out, const char *oid, int64_t size)
{
	buf_printf(out, "%soid sha256:%s\nsize %lld\n", pointer_version, oid, (long long)size);
}

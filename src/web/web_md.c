/*
 * web_md.c: markdown to safe HTML (SECURITY.md W1, W2).
 *
 * cmark-gfm parses (with the table, strikethrough, autolink and tasklist
 * extensions and footnotes) and renders. Before rendering we walk the tree
 * and make it safe, so the renderer can run with CMARK_OPT_UNSAFE:
 *
 *   - raw HTML nodes: in card mode their text goes through an allow-list
 *     sanitizer that tokenizes tags with a strict grammar and re-serializes
 *     only known tags with known attributes (values escaped, URLs checked);
 *     anything it does not understand becomes escaped text or disappears.
 *     The tags it emits are balanced: a close tag is emitted only for a tag
 *     it opened, inline tags opened in a paragraph are closed at its end and
 *     the rest at the end of the document, so a card cannot close or
 *     re-open the page around it. In chat mode raw HTML is shown as text.
 *   - link and image URLs: an allow-list of forms (fragment, same-origin
 *     path, relative path, http(s), mailto; for images only same-origin
 *     paths and data:image/png|gif|jpeg|webp). A link that fails loses its
 *     link (its text stays); an image that would load from another origin
 *     becomes a plain link to it (the UI makes no request to other origins).
 *     Relative URLs are rebased onto the repo (blob/ for links, resolve/
 *     for images).
 *   - headings get GitHub-style anchors (lowercase, spaces to '-', other
 *     punctuation dropped, -1, -2 for repeats).
 */
#include "web/web_int.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SAN_STACK_MAX 64
#define SAN_ATTR_MAX 24
#define SLUG_MAX 96

/* ---- URL allow-list -------------------------------------------------------- */

enum url_kind {
	URL_BAD = 0,
	URL_FRAGMENT, /* #x */
	URL_PATH, /* /x: same origin */
	URL_RELATIVE, /* x/y: relative to the document */
	URL_EXTERNAL, /* http:, https:, //host */
	URL_MAILTO,
	URL_DATA_IMAGE, /* data:image/png;... and friends */
};

static enum url_kind url_classify(const char *u)
{
	static const char *const data_images[] = {"data:image/png;", "data:image/gif;",
	                                          "data:image/jpeg;", "data:image/webp;"};
	size_t i, n = strlen(u);

	if (n == 0)
		return URL_BAD;
	/* browsers drop tabs and newlines inside URLs and read '\' as '/':
	 * refuse both outright, and every other control or space byte */
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)u[i];
		if (ch <= 0x20 || ch == 0x7f || ch == '\\')
			return URL_BAD;
	}
	if (u[0] == '#')
		return URL_FRAGMENT;
	if (u[0] == '/')
		return u[1] == '/' ? URL_EXTERNAL : URL_PATH;
	i = strcspn(u, ":/?#");
	if (u[i] != ':')
		return URL_RELATIVE;
	if (i == 4 && !strncasecmp(u, "http", 4))
		return URL_EXTERNAL;
	if (i == 5 && !strncasecmp(u, "https", 5))
		return URL_EXTERNAL;
	if (i == 6 && !strncasecmp(u, "mailto", 6))
		return URL_MAILTO;
	for (size_t k = 0; k < ARRAY_SIZE(data_images); k++)
		if (!strncasecmp(u, data_images[k], strlen(data_images[k])))
			return URL_DATA_IMAGE;
	return URL_BAD;
}

static int has_dotdot(const char *u)
{
	const char *p = u;
	size_t seg;

	while (*p) {
		seg = strcspn(p, "/?#");
		if (seg == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		if (p[seg] != '/')
			break;
		p += seg + 1;
	}
	return 0;
}

/* The URL to use for a link (kind link = 1) or an image (link = 0), into out;
 * returns 1 if usable, 0 if not. For an image, *as_link is set when the image
 * must become a link to the URL instead. */
static int url_rewrite(const char *u, int link, const char *base_link, const char *base_img,
                       struct buf *out, int *as_link)
{
	enum url_kind k = url_classify(u);

	buf_reset(out);
	if (as_link)
		*as_link = 0;
	switch (k) {
	case URL_FRAGMENT:
		if (!link)
			return 0;
		buf_puts(out, u);
		return 1;
	case URL_PATH: buf_puts(out, u); return 1;
	case URL_RELATIVE:
		if (!link && has_dotdot(u))
			return 0;
		if (link ? base_link : base_img) {
			/* "./x" is "x" under the base; without a base keep the "./",
			 * which is what keeps "./javascript:x" a path (found by
			 * libFuzzer) */
			while (u[0] == '.' && u[1] == '/')
				u += 2;
			buf_puts(out, link ? base_link : base_img);
		}
		buf_puts(out, u);
		return 1;
	case URL_EXTERNAL:
	case URL_MAILTO:
		if (u[0] == '/')
			buf_puts(out, "https:"); /* "//host/x": say which scheme */
		buf_puts(out, u);
		if (!link) {
			if (k == URL_MAILTO || !as_link)
				return 0;
			*as_link = 1;
		}
		return 1;
	case URL_DATA_IMAGE:
		if (link)
			return 0;
		buf_puts(out, u);
		return 1;
	case URL_BAD: break;
	}
	return 0;
}

/* ---- the HTML sanitizer ---------------------------------------------------------- */

struct tag_rule {
	const char *name;
	int is_void;
	const char *attrs; /* allowed attributes besides the global ones, " a b " */
};

static const struct tag_rule tag_rules[] = {
        {"a", 0, " href "},
        {"abbr", 0, ""},
        {"b", 0, ""},
        {"blockquote", 0, ""},
        {"br", 1, ""},
        {"caption", 0, ""},
        {"center", 0, ""},
        {"code", 0, ""},
        {"dd", 0, ""},
        {"del", 0, ""},
        {"details", 0, " open "},
        {"div", 0, ""},
        {"dl", 0, ""},
        {"dt", 0, ""},
        {"em", 0, ""},
        {"figcaption", 0, ""},
        {"figure", 0, ""},
        {"h1", 0, ""},
        {"h2", 0, ""},
        {"h3", 0, ""},
        {"h4", 0, ""},
        {"h5", 0, ""},
        {"h6", 0, ""},
        {"hr", 1, ""},
        {"i", 0, ""},
        {"img", 1, " src alt width height "},
        {"ins", 0, ""},
        {"kbd", 0, ""},
        {"li", 0, " value "},
        {"mark", 0, ""},
        {"ol", 0, " start "},
        {"p", 0, ""},
        {"pre", 0, ""},
        {"q", 0, ""},
        {"s", 0, ""},
        {"samp", 0, ""},
        {"small", 0, ""},
        {"span", 0, ""},
        {"strike", 0, ""},
        {"strong", 0, ""},
        {"sub", 0, ""},
        {"summary", 0, ""},
        {"sup", 0, ""},
        {"table", 0, ""},
        {"tbody", 0, ""},
        {"td", 0, " colspan rowspan "},
        {"tfoot", 0, ""},
        {"th", 0, " colspan rowspan "},
        {"thead", 0, ""},
        {"tr", 0, ""},
        {"tt", 0, ""},
        {"u", 0, ""},
        {"ul", 0, ""},
        {"var", 0, ""},
};
static const char global_attrs[] = " title align dir ";

/* Tags whose content is dropped with them. */
static const char *const drop_tags[] = {
        "script",  "style",    "textarea", "title",    "iframe",    "noscript",
        "noembed", "noframes", "template", "xmp",      "plaintext", "object",
        "svg",     "math",     "select",   "frameset", "applet",    "head",
};

static const struct tag_rule *tag_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(tag_rules); i++)
		if (!strcmp(tag_rules[i].name, name))
			return &tag_rules[i];
	return NULL;
}

static int is_drop_tag(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(drop_tags); i++)
		if (!strcmp(drop_tags[i], name))
			return 1;
	return 0;
}

static int word_in(const char *list, const char *w)
{
	size_t n = strlen(w);
	const char *p = list;

	while ((p = strstr(p, w)) != NULL) {
		if (p > list && p[-1] == ' ' && p[n] == ' ')
			return 1;
		p += n;
	}
	return 0;
}

struct san_open {
	const char *tag; /* static name from tag_rules */
	void *block; /* the markdown block an inline tag was opened in, or NULL */
};

struct san {
	struct san_open stack[SAN_STACK_MAX];
	size_t n;
	const char *base_link, *base_img;
	struct buf url;
};

struct attr {
	char name[32];
	const char *val;
	size_t val_len;
	int has_val;
};

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Text between tags: escaped, except well-formed character references,
 * which the browser decodes into text (never into markup). */
static void san_text(struct buf *out, const char *p, size_t n)
{
	size_t i = 0, run = 0;

	while (i < n) {
		if (p[i] != '&') {
			i++;
			continue;
		}
		web_escn(out, p + run, i - run);
		size_t j = i + 1, ok = 0;
		if (j < n && p[j] == '#') {
			j++;
			size_t d0 = j;
			if (j < n && (p[j] == 'x' || p[j] == 'X')) {
				j++;
				d0 = j;
				while (j < n && j - d0 < 6 && isxdigit((unsigned char)p[j]))
					j++;
			} else {
				while (j < n && j - d0 < 7 && isdigit((unsigned char)p[j]))
					j++;
			}
			ok = j > d0 && j < n && p[j] == ';';
		} else {
			size_t a0 = j;
			while (j < n && j - a0 < 32 && isalnum((unsigned char)p[j]))
				j++;
			ok = j > a0 && isalpha((unsigned char)p[a0]) && j < n && p[j] == ';';
		}
		if (ok) {
			buf_append(out, p + i, j + 1 - i);
			i = j + 1;
		} else {
			buf_puts(out, "&amp;");
			i++;
		}
		run = i;
	}
	web_escn(out, p + run, n - run);
}

static void san_close_top(struct san *s, struct buf *out)
{
	s->n--;
	buf_printf(out, "</%s>", s->stack[s->n].tag);
}

static void san_close(struct san *s, struct buf *out, const char *name)
{
	size_t i = s->n;

	while (i > 0 && strcmp(s->stack[i - 1].tag, name) != 0)
		i--;
	if (i == 0)
		return; /* never opened by us: dropped */
	while (s->n >= i)
		san_close_top(s, out);
}

static int digits_ok(const char *v, size_t n, int pct)
{
	if (n == 0 || n > 6)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)v[i]) && !(pct && i == n - 1 && i > 0 && v[i] == '%'))
			return 0;
	return 1;
}

static int one_of(const char *v, size_t n, const char *const *words, size_t n_words)
{
	for (size_t i = 0; i < n_words; i++)
		if (strlen(words[i]) == n && !strncasecmp(v, words[i], n))
			return 1;
	return 0;
}

static void put_attr(struct buf *out, const char *name, const char *v, size_t n)
{
	buf_printf(out, " %s=\"", name);
	web_escn(out, v, n);
	buf_putc(out, '"');
}

static void san_open_tag(struct san *s, struct buf *out, const char *name, struct attr *attrs,
                         size_t n_attrs, int self_closing, void *block)
{
	static const char *const aligns[] = {"left", "right", "center", "justify"};
	static const char *const dirs[] = {"ltr", "rtl", "auto"};
	const struct tag_rule *r = tag_find(name);
	const char *seen[SAN_ATTR_MAX];
	size_t n_seen = 0;
	int is_img = !strcmp(name, "img"), is_a = !strcmp(name, "a");

	if (!r)
		return;
	if (!r->is_void && s->n == SAN_STACK_MAX)
		return;
	if (is_img) {
		/* decide first: an image from another origin becomes a link */
		const struct attr *src = NULL, *alt = NULL;
		int as_link = 0;
		char *u;
		for (size_t i = 0; i < n_attrs; i++) {
			if (!src && !strcmp(attrs[i].name, "src") && attrs[i].has_val)
				src = &attrs[i];
			if (!alt && !strcmp(attrs[i].name, "alt") && attrs[i].has_val)
				alt = &attrs[i];
		}
		if (!src)
			return;
		u = xstrndup(src->val, src->val_len);
		if (!url_rewrite(u, 0, s->base_link, s->base_img, &s->url, &as_link)) {
			free(u);
			return;
		}
		free(u);
		if (as_link) {
			buf_puts(out, "<a href=\"");
			web_escn(out, s->url.data, s->url.len);
			buf_puts(out, "\" rel=\"nofollow noopener noreferrer\" class=\"ext-img\">");
			if (alt && alt->val_len)
				web_escn(out, alt->val, alt->val_len);
			else
				buf_puts(out, "image");
			buf_puts(out, "</a>");
			return;
		}
	}
	buf_printf(out, "<%s", name);
	for (size_t i = 0; i < n_attrs; i++) {
		const struct attr *a = &attrs[i];
		const char *v = a->val;
		size_t n = a->val_len, k;

		if (!word_in(global_attrs, a->name) && !word_in(r->attrs, a->name))
			continue;
		for (k = 0; k < n_seen; k++)
			if (!strcmp(seen[k], a->name))
				break;
		if (k < n_seen)
			continue; /* the first one counts, as in the browser */
		if (n_seen < ARRAY_SIZE(seen))
			seen[n_seen++] = a->name;
		if (!strcmp(a->name, "open")) {
			buf_puts(out, " open");
			continue;
		}
		if (!a->has_val)
			continue;
		if (!strcmp(a->name, "href") || !strcmp(a->name, "src")) {
			char *u = xstrndup(v, n);
			int ok = url_rewrite(u, is_a, s->base_link, s->base_img, &s->url, NULL);
			free(u);
			if (ok)
				put_attr(out, a->name, s->url.data, s->url.len);
		} else if (!strcmp(a->name, "align")) {
			if (one_of(v, n, aligns, ARRAY_SIZE(aligns)))
				put_attr(out, a->name, v, n);
		} else if (!strcmp(a->name, "dir")) {
			if (one_of(v, n, dirs, ARRAY_SIZE(dirs)))
				put_attr(out, a->name, v, n);
		} else if (!strcmp(a->name, "width") || !strcmp(a->name, "height")) {
			if (digits_ok(v, n, 1))
				put_attr(out, a->name, v, n);
		} else if (!strcmp(a->name, "colspan") || !strcmp(a->name, "rowspan") ||
		           !strcmp(a->name, "start") || !strcmp(a->name, "value")) {
			if (digits_ok(v, n, 0))
				put_attr(out, a->name, v, n);
		} else { /* title, alt: text */
			put_attr(out, a->name, v, n);
		}
	}
	if (is_a)
		buf_puts(out, " rel=\"nofollow noopener noreferrer\"");
	buf_putc(out, '>');
	if (r->is_void)
		return;
	if (self_closing) {
		buf_printf(out, "</%s>", name);
		return;
	}
	s->stack[s->n].tag = r->name;
	s->stack[s->n].block = block;
	s->n++;
}

/* Reads a tag name at p[*i..n): [A-Za-z][A-Za-z0-9-]*, lowercased into name.
 * 0 if there is none or it is too long. */
static int read_name(const char *p, size_t n, size_t *i, char *name, size_t name_size)
{
	size_t k = 0;

	if (*i >= n || !isalpha((unsigned char)p[*i]))
		return 0;
	while (*i < n && (isalnum((unsigned char)p[*i]) || p[*i] == '-')) {
		if (k + 1 >= name_size)
			return 0;
		name[k++] = (char)tolower((unsigned char)p[*i]);
		(*i)++;
	}
	name[k] = 0;
	return 1;
}

/* Finds "</name" (any case) from p[i..n) and returns the index after the
 * following '>', or n when there is none. */
static size_t skip_content(const char *p, size_t n, size_t i, const char *name)
{
	size_t ln = strlen(name);

	for (; i + 2 + ln <= n; i++) {
		if (p[i] == '<' && p[i + 1] == '/' && !strncasecmp(p + i + 2, name, ln) &&
		    (i + 2 + ln == n || !isalnum((unsigned char)p[i + 2 + ln]))) {
			const char *gt = memchr(p + i, '>', n - i);
			return gt ? (size_t)(gt - p) + 1 : n;
		}
	}
	return n;
}

static void san_fragment(struct san *s, struct buf *out, const char *p, size_t n, void *block)
{
	size_t i = 0, text = 0;

	while (i < n) {
		if (p[i] != '<') {
			i++;
			continue;
		}
		san_text(out, p + text, i - text);
		size_t start = i;
		char name[32];
		if (i + 3 < n && !memcmp(p + i, "<!--", 4)) {
			const char *end = NULL;
			for (size_t k = i + 4; k + 3 <= n; k++)
				if (!memcmp(p + k, "-->", 3)) {
					end = p + k;
					break;
				}
			i = end ? (size_t)(end - p) + 3 : n;
		} else if (i + 1 < n && (p[i + 1] == '!' || p[i + 1] == '?')) {
			const char *gt = memchr(p + i, '>', n - i);
			i = gt ? (size_t)(gt - p) + 1 : n;
		} else if (i + 1 < n && p[i + 1] == '/') {
			size_t j = i + 2;
			if (read_name(p, n, &j, name, sizeof(name))) {
				while (j < n && is_ws(p[j]))
					j++;
				if (j < n && p[j] == '>') {
					san_close(s, out, name);
					i = j + 1;
				}
			}
		} else {
			size_t j = i + 1;
			struct attr attrs[SAN_ATTR_MAX];
			size_t n_attrs = 0;
			int ok = 0, self_closing = 0;
			if (read_name(p, n, &j, name, sizeof(name))) {
				for (;;) {
					int had_ws = 0;
					while (j < n && is_ws(p[j])) {
						j++;
						had_ws = 1;
					}
					if (j >= n)
						break;
					if (p[j] == '>') {
						ok = 1;
						j++;
						break;
					}
					if (p[j] == '/' && j + 1 < n && p[j + 1] == '>') {
						ok = self_closing = 1;
						j += 2;
						break;
					}
					if (!had_ws)
						break;
					/* attribute name */
					size_t a0 = j;
					while (j < n && !is_ws(p[j]) && p[j] != '"' &&
					       p[j] != '\'' && p[j] != '>' && p[j] != '/' &&
					       p[j] != '=' && (unsigned char)p[j] >= 0x20)
						j++;
					if (j == a0)
						break;
					struct attr a;
					memset(&a, 0, sizeof(a));
					size_t an = j - a0;
					if (an < sizeof(a.name)) {
						for (size_t k = 0; k < an; k++)
							a.name[k] = (char)tolower(
							        (unsigned char)p[a0 + k]);
					}
					size_t save = j;
					while (j < n && is_ws(p[j]))
						j++;
					if (j < n && p[j] == '=') {
						j++;
						while (j < n && is_ws(p[j]))
							j++;
						if (j >= n)
							break;
						if (p[j] == '"' || p[j] == '\'') {
							const char *q =
							        memchr(p + j + 1, p[j], n - j - 1);
							if (!q)
								break;
							a.val = p + j + 1;
							a.val_len = (size_t)(q - a.val);
							j = (size_t)(q - p) + 1;
						} else {
							size_t v0 = j;
							while (j < n && !is_ws(p[j]) &&
							       !strchr("\"'=<>`", p[j]))
								j++;
							if (j == v0)
								break;
							a.val = p + v0;
							a.val_len = j - v0;
						}
						a.has_val = 1;
						/* a quoted value must be followed by space, '>' or "/>" */
						if (j < n && !is_ws(p[j]) && p[j] != '>' &&
						    p[j] != '/')
							break;
					} else {
						j = save;
					}
					if (a.name[0] && n_attrs < SAN_ATTR_MAX)
						attrs[n_attrs++] = a;
				}
			}
			if (ok) {
				if (is_drop_tag(name))
					i = self_closing ? j : skip_content(p, n, j, name);
				else {
					san_open_tag(s, out, name, attrs, n_attrs, self_closing,
					             block);
					i = j;
				}
			}
		}
		if (i == start) { /* not a tag: the '<' is text */
			buf_puts(out, "&lt;");
			i++;
		}
		text = i;
	}
	san_text(out, p + text, n - text);
}

void web_html_sanitize(const char *html, size_t n, struct buf *out)
{
	struct san s;

	memset(&s, 0, sizeof(s));
	buf_init(&s.url);
	san_fragment(&s, out, html, n, NULL);
	while (s.n)
		san_close_top(&s, out);
	buf_release(&s.url);
}

/* ---- the markdown tree ------------------------------------------------------------- */

static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_init(void)
{
	cmark_gfm_core_extensions_ensure_registered();
}

struct ev {
	cmark_node *node;
	cmark_event_type ev;
};

static int is_inline(cmark_node *n)
{
	return ((unsigned)cmark_node_get_type(n) & CMARK_NODE_TYPE_MASK) == CMARK_NODE_TYPE_INLINE;
}

static cmark_node *enclosing_block(cmark_node *n)
{
	cmark_node *p = cmark_node_parent(n);
	while (p && is_inline(p))
		p = cmark_node_parent(p);
	return p;
}

static void move_children_before(cmark_node *from, cmark_node *before)
{
	cmark_node *ch;
	while ((ch = cmark_node_first_child(from)) != NULL) {
		cmark_node_unlink(ch);
		cmark_node_insert_before(before, ch);
	}
}

static void heading_text(cmark_node *h, struct buf *t)
{
	cmark_iter *it = cmark_iter_new(h);
	cmark_event_type ev;

	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *n = cmark_iter_get_node(it);
		cmark_node_type ty = cmark_node_get_type(n);
		if (ev == CMARK_EVENT_ENTER && (ty == CMARK_NODE_TEXT || ty == CMARK_NODE_CODE)) {
			const char *l = cmark_node_get_literal(n);
			if (l)
				buf_puts(t, l);
		}
	}
	cmark_iter_free(it);
}

static void make_slug(const char *text, struct buf *slug)
{
	int truncated = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (slug->len >= SLUG_MAX) {
			truncated = 1;
			break;
		}
		if (isalnum(*p))
			buf_putc(slug, (char)tolower(*p));
		else if (*p == ' ' || *p == '-')
			buf_putc(slug, '-');
		else if (*p == '_')
			buf_putc(slug, '_');
		else if (*p >= 0x80)
			buf_putc(slug, (char)*p);
	}
	/* cut at a character boundary: drop a last sequence that may be partial */
	if (truncated && slug->len && (unsigned char)slug->data[slug->len - 1] >= 0x80) {
		while (slug->len && ((unsigned char)slug->data[slug->len - 1] & 0xc0) == 0x80)
			slug->len--;
		if (slug->len && (unsigned char)slug->data[slug->len - 1] >= 0xc0)
			slug->len--;
	}
	if (slug->data)
		slug->data[slug->len] = 0;
	if (!slug->len)
		buf_puts(slug, "section");
}

struct slugs {
	char **v;
	size_t n;
};

static int slug_used(const struct slugs *s, const char *x)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], x))
			return 1;
	return 0;
}

static void add_anchor(cmark_node *h, struct slugs *used)
{
	struct buf t = BUF_INIT, slug = BUF_INIT, lit = BUF_INIT;
	size_t base;
	cmark_node *a;

	heading_text(h, &t);
	make_slug(t.data ? t.data : "", &slug);
	base = slug.len;
	for (int k = 1; slug_used(used, slug.data) && k < 100000; k++) {
		slug.len = base;
		buf_printf(&slug, "-%d", k);
	}
	used->v = xrealloc(used->v, (used->n + 1) * sizeof(*used->v));
	used->v[used->n++] = xstrdup(slug.data);
	buf_puts(&lit, "<a class=\"anchor\" id=\"");
	web_esc(&lit, slug.data);
	buf_puts(&lit, "\" href=\"#");
	web_url_enc(&lit, slug.data, 0);
	buf_puts(&lit, "\" aria-hidden=\"true\"></a>");
	a = cmark_node_new(CMARK_NODE_HTML_INLINE);
	cmark_node_set_literal(a, lit.data);
	cmark_node_prepend_child(h, a);
	buf_release(&t);
	buf_release(&slug);
	buf_release(&lit);
}

/* Appends inline HTML closing what the sanitizer opened inside block. */
static void close_inline_in(struct san *s, cmark_node *block, struct buf *tmp)
{
	if (!s->n || s->stack[s->n - 1].block != block)
		return;
	buf_reset(tmp);
	while (s->n && s->stack[s->n - 1].block == block)
		san_close_top(s, tmp);
	cmark_node *c = cmark_node_new(CMARK_NODE_HTML_INLINE);
	cmark_node_set_literal(c, tmp->data);
	cmark_node_append_child(block, c);
}

int web_md_render(const char *text, size_t n, enum web_md_mode mode, const char *base_link,
                  const char *base_img, struct buf *out)
{
	static const char *const exts[] = {"table", "strikethrough", "autolink", "tasklist"};
	const int opts = CMARK_OPT_VALIDATE_UTF8 | CMARK_OPT_FOOTNOTES;
	cmark_parser *parser;
	cmark_node *doc;
	cmark_iter *it;
	cmark_event_type ev;
	struct ev *evs = NULL;
	cmark_node **dead; /* unlinked links and images, freed at the end (their
	                      EXIT events are still ahead in evs) */
	size_t n_evs = 0, cap = 0, n_dead = 0;
	struct san s;
	struct slugs used = {NULL, 0};
	struct buf tmp = BUF_INIT;
	char *html;

	pthread_once(&md_once, md_init);
	parser = cmark_parser_new(opts);
	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		cmark_syntax_extension *e = cmark_find_syntax_extension(exts[i]);
		if (e)
			cmark_parser_attach_syntax_extension(parser, e);
	}
	cmark_parser_feed(parser, text, n);
	doc = cmark_parser_finish(parser);
	if (!doc) {
		cmark_parser_free(parser);
		return HD_EINTERNAL;
	}

	/* collect first, then change the tree */
	it = cmark_iter_new(doc);
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		if (n_evs == cap) {
			cap = cap ? 2 * cap : 256;
			evs = xrealloc(evs, cap * sizeof(*evs));
		}
		evs[n_evs].node = cmark_iter_get_node(it);
		evs[n_evs].ev = ev;
		n_evs++;
	}
	cmark_iter_free(it);
	dead = xmalloc_array(n_evs + 1, sizeof(*dead));

	memset(&s, 0, sizeof(s));
	buf_init(&s.url);
	s.base_link = base_link;
	s.base_img = base_img;
	for (size_t i = 0; i < n_evs; i++) {
		cmark_node *nd = evs[i].node;
		cmark_node_type ty = cmark_node_get_type(nd);

		if (evs[i].ev == CMARK_EVENT_EXIT) {
			if (mode == WEB_MD_CARD && !is_inline(nd))
				close_inline_in(&s, nd, &tmp);
			continue;
		}
		if (ty == CMARK_NODE_HTML_BLOCK || ty == CMARK_NODE_HTML_INLINE) {
			const char *lit = cmark_node_get_literal(nd);
			buf_reset(&tmp);
			if (mode == WEB_MD_CHAT) {
				if (ty == CMARK_NODE_HTML_BLOCK)
					buf_puts(&tmp, "<pre class=\"raw-html\"><code>");
				web_esc(&tmp, lit);
				if (ty == CMARK_NODE_HTML_BLOCK)
					buf_puts(&tmp, "</code></pre>\n");
			} else {
				san_fragment(&s, &tmp, lit ? lit : "", lit ? strlen(lit) : 0,
				             ty == CMARK_NODE_HTML_INLINE
				                     ? (void *)enclosing_block(nd)
				                     : NULL);
			}
			cmark_node_set_literal(nd, tmp.data ? tmp.data : "");
		} else if (ty == CMARK_NODE_LINK) {
			const char *u = cmark_node_get_url(nd);
			if (url_rewrite(u ? u : "", 1, base_link, base_img, &s.url, NULL)) {
				cmark_node_set_url(nd, s.url.data);
			} else {
				move_children_before(nd, nd);
				cmark_node_unlink(nd);
				dead[n_dead++] = nd;
			}
		} else if (ty == CMARK_NODE_IMAGE) {
			const char *u = cmark_node_get_url(nd);
			int as_link = 0;
			int ok = url_rewrite(u ? u : "", 0, base_link, base_img, &s.url, &as_link);
			if (ok && !as_link) {
				cmark_node_set_url(nd, s.url.data);
			} else {
				if (ok) {
					/* another origin's image: a link to it, with the alt text */
					cmark_node *l = cmark_node_new(CMARK_NODE_LINK);
					cmark_node_set_url(l, s.url.data);
					cmark_node_insert_before(nd, l);
					while (cmark_node_first_child(nd)) {
						cmark_node *ch = cmark_node_first_child(nd);
						cmark_node_unlink(ch);
						cmark_node_append_child(l, ch);
					}
					if (!cmark_node_first_child(l)) {
						cmark_node *t = cmark_node_new(CMARK_NODE_TEXT);
						cmark_node_set_literal(t, "image");
						cmark_node_append_child(l, t);
					}
				} else {
					move_children_before(nd, nd);
				}
				cmark_node_unlink(nd);
				dead[n_dead++] = nd;
			}
		} else if (ty == CMARK_NODE_HEADING) {
			add_anchor(nd, &used);
		}
	}
	if (s.n) {
		buf_reset(&tmp);
		while (s.n)
			san_close_top(&s, &tmp);
		cmark_node *c = cmark_node_new(CMARK_NODE_HTML_BLOCK);
		cmark_node_set_literal(c, tmp.data);
		cmark_node_append_child(doc, c);
	}

	html = cmark_render_html(doc, opts | CMARK_OPT_UNSAFE,
	                         cmark_parser_get_syntax_extensions(parser));
	if (html) {
		buf_puts(out, html);
		free(html);
	}
	for (size_t i = 0; i < used.n; i++)
		free(used.v[i]);
	free(used.v);
	for (size_t i = 0; i < n_dead; i++)
		cmark_node_free(dead[i]);
	free(dead);
	free(evs);
	buf_release(&tmp);
	buf_release(&s.url);
	cmark_node_free(doc);
	cmark_parser_free(parser);
	return html ? 0 : HD_EINTERNAL;
}

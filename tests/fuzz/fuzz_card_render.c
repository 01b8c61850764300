/*
 * fuzz_card_render.c: the web UI's parsers of untrusted bytes. Each input is
 * rendered as a model card and as a chat answer (web_md_render: cmark-gfm +
 * the allow-list sanitizer), sanitized as raw HTML, and read as a form body,
 * a Cookie header and a `next` value.
 *
 * Besides "no crash, no leak", the rendered HTML is checked by an oracle
 * (SECURITY W1): every tag in the output is a known one, every attribute is
 * on the allow-list, every '&' inside an attribute value starts one of the
 * serializers' own escapes (so no entity can hide a scheme), and every href
 * or src starts with an allowed form. A violation aborts.
 */
#include "core/core.h"
#include "web/web.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ok_tags[] = {
        "a",      "abbr",    "b",       "blockquote", "br",    "caption", "center",  "code",
        "dd",     "del",     "details", "div",        "dl",    "dt",      "em",      "figcaption",
        "figure", "h1",      "h2",      "h3",         "h4",    "h5",      "h6",      "hr",
        "i",      "img",     "ins",     "kbd",        "li",    "mark",    "ol",      "p",
        "pre",    "q",       "s",       "samp",       "small", "span",    "strike",  "strong",
        "sub",    "summary", "sup",     "table",      "tbody", "td",      "tfoot",   "th",
        "thead",  "tr",      "tt",      "u",          "ul",    "var",     "section", "input",
};
static const char *const ok_attrs[] = {
        "href",
        "src",
        "alt",
        "title",
        "align",
        "dir",
        "width",
        "height",
        "colspan",
        "rowspan",
        "start",
        "value",
        "open",
        "rel",
        "class",
        "id",
        "aria-hidden",
        "type",
        "checked",
        "disabled",
        "data-footnote-ref",
        "data-footnotes",
        "data-footnote-backref",
        "data-footnote-backref-idx",
        "aria-label",
};

static int in_list(const char *const *l, size_t n, const char *s, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(l[i]) == len && !strncmp(l[i], s, len))
			return 1;
	return 0;
}

static int url_ok(const char *v, size_t n)
{
	static const char *const prefixes[] = {
	        "http:",           "https:",          "mailto:",          "#",
	        "data:image/png;", "data:image/gif;", "data:image/jpeg;", "data:image/webp;"};
	if (n == 0)
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++)
		if (n >= strlen(prefixes[i]) && !strncasecmp(v, prefixes[i], strlen(prefixes[i])))
			return 1;
	if (v[0] == '/')
		return n == 1 || (v[1] != '/' && v[1] != '\\');
	/* relative: no scheme before the first of / ? # */
	size_t k = strcspn(v, ":/?#");
	return k >= n || v[k] != ':';
}

static void oracle(const char *h, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (h[i] != '<') {
			i++;
			continue;
		}
		i++;
		if (i < n && h[i] == '/')
			i++;
		size_t t0 = i;
		while (i < n && (isalnum((unsigned char)h[i])))
			i++;
		if (i == t0 || !in_list(ok_tags, ARRAY_SIZE(ok_tags), h + t0, i - t0))
			abort(); /* '<' in text is always escaped: this is a tag */
		int is_input = i - t0 == 5 && !strncmp(h + t0, "input", 5);
		while (i < n && h[i] != '>') {
			while (i < n && (h[i] == ' ' || h[i] == '/' || h[i] == '\n'))
				i++;
			if (i >= n || h[i] == '>')
				break;
			size_t a0 = i;
			while (i < n && h[i] != '=' && h[i] != ' ' && h[i] != '>' && h[i] != '/')
				i++;
			if (!in_list(ok_attrs, ARRAY_SIZE(ok_attrs), h + a0, i - a0))
				abort();
			if (i < n && h[i] == '=') {
				i++;
				if (i >= n || h[i] != '"')
					abort(); /* serializers always quote */
				size_t v0 = ++i;
				while (i < n && h[i] != '"') {
					if (h[i] == '<' || h[i] == '>')
						abort();
					if (h[i] == '&' && strncmp(h + i, "&amp;", 5) &&
					    strncmp(h + i, "&quot;", 6) &&
					    strncmp(h + i, "&lt;", 4) &&
					    strncmp(h + i, "&gt;", 4) &&
					    strncmp(h + i, "&#39;", 5) &&
					    strncmp(h + i, "&#x27;", 6))
						abort();
					i++;
				}
				size_t an = v0 - 2 - a0;
				if ((an == 4 && !strncmp(h + a0, "href", 4)) ||
				    (an == 3 && !strncmp(h + a0, "src", 3))) {
					if (!url_ok(h + v0, i - v0))
						abort();
				}
				if (is_input && an == 4 && !strncmp(h + a0, "type", 4) &&
				    strncmp(h + v0, "checkbox\"", 9))
					abort();
				i++;
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct buf out = BUF_INIT;
	char *v, cookie[65], *z;

	if (size > (256 << 10))
		return 0;
	if (web_md_render(s, size, WEB_MD_CARD, "/a/b/blob/main/", "/a/b/resolve/main/", &out) == 0)
		oracle(out.data ? out.data : "", out.len);
	buf_reset(&out);
	if (web_md_render(s, size, WEB_MD_CHAT, NULL, NULL, &out) == 0)
		oracle(out.data ? out.data : "", out.len);
	buf_reset(&out);
	web_html_sanitize(s, size, &out);
	oracle(out.data ? out.data : "", out.len);
	buf_release(&out);

	if (web_form_value(s, size, "csrf", &v) == 0)
		free(v);
	z = xstrndup(s, size); /* headers and next values are C strings */
	(void)web_cookie_get(z, "huddle_session", cookie, sizeof(cookie));
	if (web_next_valid(z) && (z[1] == '/' || z[1] == '\\' || strchr(z, '\n')))
		abort();
	free(z);
	return 0;
}

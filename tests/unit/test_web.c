/*
 * test_web.c: the web module's pure parts: escaping, the markdown renderer
 * and its HTML sanitizer (SECURITY W1/W2), `next` validation (W8), cookie
 * and form parsing.
 */
#include "core/core.h"
#include "web/web.h"

#include "test.h"

#include <stdlib.h>
#include <string.h>

static char *esc(const char *s)
{
	struct buf b = BUF_INIT;
	web_esc(&b, s);
	buf_putc(&b, 0); /* an empty result is "" too */
	return buf_detach(&b, NULL);
}

static char *md(const char *s, enum web_md_mode mode)
{
	struct buf b = BUF_INIT;
	CHECK_EQ_INT(web_md_render(s, strlen(s), mode, "/a/m/blob/main/", "/a/m/resolve/main/", &b),
	             0);
	buf_putc(&b, 0);
	return buf_detach(&b, NULL);
}

static char *san(const char *s)
{
	struct buf b = BUF_INIT;
	web_html_sanitize(s, strlen(s), &b);
	buf_putc(&b, 0);
	return buf_detach(&b, NULL);
}

#define HAS(hay, needle)                                                                           \
	do {                                                                                       \
		if (!strstr((hay), (needle))) {                                                    \
			test_cur_failed = 1;                                                       \
			fprintf(stderr, "%s:%d: %s: missing \"%s\" in:\n%s\n", __FILE__, __LINE__, \
			        test_cur_name, (needle), (hay) ? (hay) : "");                      \
		}                                                                                  \
	} while (0)
#define HASNT(hay, needle)                                                                  \
	do {                                                                                \
		if (strstr((hay), (needle))) {                                              \
			test_cur_failed = 1;                                                \
			fprintf(stderr, "%s:%d: %s: unexpected \"%s\" in:\n%s\n", __FILE__, \
			        __LINE__, test_cur_name, (needle), (hay) ? (hay) : "");     \
		}                                                                           \
	} while (0)

static void test_escape(void)
{
	char *s = esc("<a href=\"x\" title='y'>&amp;</a>");
	CHECK_EQ_STR(s, "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;");
	free(s);
	s = esc("tab\tnl\nnul?\x01\x7f end");
	CHECK_EQ_STR(s, "tab\tnl\nnul? end");
	free(s);
	s = esc("bad \xff\xfe utf8 \xc3\xa9 ok");
	CHECK_EQ_STR(s, "bad \xEF\xBF\xBD\xEF\xBF\xBD utf8 \xc3\xa9 ok");
	free(s);
	/* U+202E (right-to-left override) disguises file names */
	s = esc("a\xE2\x80\xAEtxt.exe");
	CHECK_EQ_STR(s, "a\xEF\xBF\xBDtxt.exe");
	free(s);
	s = esc("");
	CHECK_EQ_STR(s, "");
	free(s);
}

static void test_markdown_gfm(void)
{
	char *h =
	        md("# Title\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n\n```python\nprint(1 < 2)\n```\n\n"
	           "~~gone~~ and https://example.com\n\n- [x] done\n",
	           WEB_MD_CARD);
	HAS(h, "<table>");
	HAS(h, "<th align=\"right\">b</th>");
	HAS(h, "<pre><code class=\"language-python\">print(1 &lt; 2)\n</code></pre>");
	HAS(h, "<del>gone</del>");
	HAS(h, "<a href=\"https://example.com\">https://example.com</a>");
	HAS(h, "type=\"checkbox\"");
	HAS(h, "<h1><a class=\"anchor\" id=\"title\" href=\"#title\" "
	       "aria-hidden=\"true\"></a>Title</h1>");
	free(h);
}

static void test_markdown_anchors(void)
{
	char *h =
	        md("## Usage\n\n## Usage\n\n## `code` & Stuff!\n\n## \xc3\xa9t\xc3\xa9\n\n## !!!\n",
	           WEB_MD_CARD);
	HAS(h, "id=\"usage\"");
	HAS(h, "id=\"usage-1\"");
	HAS(h, "id=\"code--stuff\"");
	HAS(h, "id=\"\xc3\xa9t\xc3\xa9\"");
	HAS(h, "id=\"section\"");
	free(h);
	/* a long heading is cut at a character boundary */
	struct buf t = BUF_INIT;
	buf_puts(&t, "# ");
	for (int i = 0; i < 100; i++)
		buf_puts(&t, "\xc3\xa9");
	h = md(t.data, WEB_MD_CARD);
	const char *id = strstr(h, "id=\"");
	CHECK(id != NULL);
	if (id) {
		const char *end = strchr(id + 4, '"');
		CHECK(end && utf8_valid(id + 4, (size_t)(end - id - 4)));
		CHECK(end && end - id - 4 <= 96);
	}
	free(h);
	buf_release(&t);
}

static void test_markdown_urls(void)
{
	char *h = md("[cfg](config.json) [up](./a/b.md) [frag](#x) [abs](/other/repo) "
	             "[js](javascript:alert(1)) [JS](JAVASCRIPT:alert(1)) [vb](vbscript:x) "
	             "[data](data:text/html,x) [mail](mailto:a@b.c) [proto](//evil.example/x)\n\n"
	             "![local](img/a.png) ![ext](https://evil.example/p.png) "
	             "![dots](../../../x.png) ![d](data:image/png;base64,AAAA) "
	             "![svg](data:image/svg+xml;base64,AAAA) ![js](javascript:alert(1))\n",
	             WEB_MD_CARD);
	HAS(h, "<a href=\"/a/m/blob/main/config.json\">cfg</a>");
	HAS(h, "<a href=\"/a/m/blob/main/a/b.md\">up</a>");
	HAS(h, "<a href=\"#x\">frag</a>");
	HAS(h, "<a href=\"/other/repo\">abs</a>");
	HAS(h, " js ");
	HAS(h, " JS ");
	HASNT(h, "javascript");
	HASNT(h, "JAVASCRIPT");
	HASNT(h, "vbscript");
	HASNT(h, "data:text");
	HAS(h, "<a href=\"mailto:a@b.c\">mail</a>");
	HAS(h, "<a href=\"https://evil.example/x\">proto</a>");
	HAS(h, "<img src=\"/a/m/resolve/main/img/a.png\" alt=\"local\" />");
	HAS(h, "<a href=\"https://evil.example/p.png\">ext</a>");
	HASNT(h, "<img src=\"https://evil");
	HASNT(h, "../");
	HAS(h, "<img src=\"data:image/png;base64,AAAA\"");
	HASNT(h, "svg+xml");
	free(h);
}

static void test_markdown_raw_html_card(void)
{
	char *h = md(
	        "<div align=\"center\"><img src=\"logo.png\" width=\"200\" "
	        "onerror=\"x()\"></div>\n\n"
	        "Hello <b onclick=\"x()\">bold</b> <script>alert(1)</script> <i>open\n\n"
	        "<iframe srcdoc=\"<script>x</script>\"></iframe>\n\n"
	        "<a href=\"javascript:alert(1)\">js</a> <a href=\"https://ok.example\">ok</a>\n\n"
	        "</div></div></main>\n",
	        WEB_MD_CARD);
	HAS(h, "<div align=\"center\"><img src=\"/a/m/resolve/main/logo.png\" width=\"200\">");
	HAS(h, "<b>bold</b>");
	HASNT(h, "onclick");
	HASNT(h, "onerror");
	HASNT(h, "<script");
	HASNT(h, "<iframe");
	HAS(h, "<i>open</i>"); /* closed at the end of its paragraph */
	HAS(h, "<a rel=\"nofollow noopener noreferrer\">js</a>");
	HAS(h, "<a href=\"https://ok.example\" rel=\"nofollow noopener noreferrer\">ok</a>");
	HASNT(h, "</main>");
	/* every <div> opened is closed exactly once */
	int open = 0, close = 0;
	for (const char *p = h; (p = strstr(p, "<div")); p++)
		open++;
	for (const char *p = h; (p = strstr(p, "</div>")); p++)
		close++;
	CHECK_EQ_INT(open, 1);
	CHECK_EQ_INT(close, 1);
	free(h);

	/* an unclosed block at the end is closed */
	h = md("<details open>\n\n**x**\n", WEB_MD_CARD);
	HAS(h, "<details open>");
	HAS(h, "</details>");
	free(h);
}

static void test_markdown_chat(void)
{
	struct buf b = BUF_INIT;
	/* without a base, "./" stays: stripping it would make a scheme */
	static const char dot[] = "[a](./javascript:alert(1)) ![b](./data:text/html,x)";
	CHECK_EQ_INT(web_md_render(dot, strlen(dot), WEB_MD_CHAT, NULL, NULL, &b), 0);
	HAS(b.data, "href=\"./javascript:alert(1)\"");
	HASNT(b.data, "href=\"javascript");
	HASNT(b.data, "src=\"data:text");
	buf_release(&b);

	char *h = md("Sure: <img src=x onerror=alert(1)> and **bold**\n\n<div>block</div>\n",
	             WEB_MD_CHAT);
	HAS(h, "&lt;img src=x onerror=alert(1)&gt;");
	HAS(h, "<strong>bold</strong>");
	HAS(h, "<pre class=\"raw-html\"><code>&lt;div&gt;block&lt;/div&gt;");
	HASNT(h, "<img");
	HASNT(h, "<div");
	free(h);
}

static void test_sanitizer(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	        {"<b>x</b>", "<b>x</b>"},
	        {"<B CLASS=x>y</B>", "<b>y</b>"},
	        {"<script>alert(1)</script>after", "after"},
	        {"<SCRIPT>alert(1)</script >after", "after"},
	        {"<style>*{}</style>x", "x"},
	        {"<svg><script>x</script></svg>y", "y"},
	        {"<!-- c -->x<!--", "x"},
	        {"<!doctype html>x", "x"},
	        {"<?php x ?>y", "y"},
	        {"</div>x", "x"},
	        {"<div><p>x", "<div><p>x</p></div>"},
	        {"<div><p>x</div>y</p>", "<div><p>x</p></div>y"},
	        {"<a href=\"javascript:x\">a</a>", "<a rel=\"nofollow noopener noreferrer\">a</a>"},
	        {"<a href=\"java\tscript:x\">a</a>",
	         "<a rel=\"nofollow noopener noreferrer\">a</a>"},
	        {"<a href=\" https://x\">a</a>", "<a rel=\"nofollow noopener noreferrer\">a</a>"},
	        {"<a href='https://x/?a=1&b=\"2\"'>a</a>",
	         "<a href=\"https://x/?a=1&amp;b=&quot;2&quot;\" rel=\"nofollow noopener "
	         "noreferrer\">a</a>"},
	        {"<a href=\"&#106;avascript:x\">a</a>",
	         "<a href=\"&amp;#106;avascript:x\" rel=\"nofollow noopener noreferrer\">a</a>"},
	        {"<a href=\"/\\evil\">a</a>", "<a rel=\"nofollow noopener noreferrer\">a</a>"},
	        {"<img src=\"https://e/x.png\" alt=\"pic\">",
	         "<a href=\"https://e/x.png\" rel=\"nofollow noopener noreferrer\" "
	         "class=\"ext-img\">pic</a>"},
	        {"<img src=x onerror=alert(1)>", "<img src=\"x\">"},
	        {"<img>", ""},
	        {"<td colspan=\"2\" rowspan=\"x\" style=\"a\">", "<td colspan=\"2\"></td>"},
	        {"<p align=\"CENTER\" title=\"a&quot;b\">",
	         "<p align=\"CENTER\" title=\"a&amp;quot;b\"></p>"},
	        {"<p align=\"javascript:x\">", "<p></p>"},
	        {"<img src=\"a.png\" width=\"50%\" height=\"9999999\">",
	         "<img src=\"a.png\" width=\"50%\">"},
	        {"a < b & c > d", "a &lt; b &amp; c &gt; d"},
	        {"&copy; &#169; &#xA9; &bogus &#; &#x;",
	         "&copy; &#169; &#xA9; &amp;bogus &amp;#; &amp;#x;"},
	        {"<a href=x title=\"t\" title=\"u\">",
	         "<a href=\"x\" title=\"t\" rel=\"nofollow noopener noreferrer\"></a>"},
	        {"<b/>x", "<b></b>x"},
	        {"<br/><hr>", "<br><hr>"},
	        {"<div a=\"unterminated>", "&lt;div a=&quot;unterminated&gt;"},
	        {"<div\"x\">", "&lt;div&quot;x&quot;&gt;"},
	        {"<", "&lt;"},
	        {"<a", "&lt;a"},
	        {"</", "&lt;/"},
	        {"<details open ontoggle=x>", "<details open></details>"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *s = san(cases[i].in);
		if (strcmp(s, cases[i].out) != 0) {
			test_cur_failed = 1;
			fprintf(stderr, "sanitize(%s)\n  got  %s\n  want %s\n", cases[i].in, s,
			        cases[i].out);
		}
		free(s);
	}
}

static void test_sanitizer_depth(void)
{
	struct buf in = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		buf_puts(&in, "<div>");
	char *s = san(in.data);
	int open = 0, close = 0;
	for (const char *p = s; (p = strstr(p, "<div>")); p++)
		open++;
	for (const char *p = s; (p = strstr(p, "</div>")); p++)
		close++;
	CHECK_EQ_INT(open, 64); /* the nesting cap */
	CHECK_EQ_INT(close, 64);
	free(s);
	buf_release(&in);
}

static void test_next(void)
{
	CHECK(web_next_valid("/"));
	CHECK(web_next_valid("/alice/x?tab=files#top"));
	CHECK(web_next_valid("/%2F%2Fevil"));
	CHECK(!web_next_valid(NULL));
	CHECK(!web_next_valid(""));
	CHECK(!web_next_valid("//evil.example"));
	CHECK(!web_next_valid("///evil.example"));
	CHECK(!web_next_valid("/\\evil.example"));
	CHECK(!web_next_valid("\\\\evil.example"));
	CHECK(!web_next_valid("https://evil.example"));
	CHECK(!web_next_valid("https:evil.example"));
	CHECK(!web_next_valid("javascript:alert(1)"));
	CHECK(!web_next_valid("evil.example"));
	CHECK(!web_next_valid("/\t/evil.example"));
	CHECK(!web_next_valid("/a\r\nSet-Cookie: x=y"));
	CHECK(!web_next_valid("/a b"));
	CHECK(!web_next_valid("/\xc3\xa9"));
}

static void test_cookie(void)
{
	char v[65];
	CHECK_EQ_INT(web_cookie_get("a=1; huddle_session=abc; b=2", "huddle_session", v, sizeof(v)),
	             0);
	CHECK_EQ_STR(v, "abc");
	CHECK_EQ_INT(web_cookie_get("huddle_session=\"q\"", "huddle_session", v, sizeof(v)), 0);
	CHECK_EQ_STR(v, "q");
	CHECK_EQ_INT(web_cookie_get("xhuddle_session=1;huddle_session=2", "huddle_session", v,
	                            sizeof(v)),
	             0);
	CHECK_EQ_STR(v, "2");
	CHECK_EQ_INT(web_cookie_get("a=1", "huddle_session", v, sizeof(v)), HD_ENOTFOUND);
	CHECK_EQ_INT(web_cookie_get(NULL, "huddle_session", v, sizeof(v)), HD_ENOTFOUND);
	CHECK_EQ_INT(web_cookie_get(";;; ;", "huddle_session", v, sizeof(v)), HD_ENOTFOUND);
	char big[200];
	memset(big, 'x', sizeof(big));
	memcpy(big, "huddle_session=", 15);
	big[sizeof(big) - 1] = 0;
	CHECK_EQ_INT(web_cookie_get(big, "huddle_session", v, sizeof(v)), HD_ETOOBIG);
}

static void test_form(void)
{
	static const char body[] = "name=a+b%21&role=write&empty=&flag&name=second&bad=%zz";
	char *v;
	CHECK_EQ_INT(web_form_value(body, strlen(body), "name", &v), 0);
	CHECK_EQ_STR(v, "a b!");
	free(v);
	CHECK_EQ_INT(web_form_value(body, strlen(body), "role", &v), 0);
	CHECK_EQ_STR(v, "write");
	free(v);
	CHECK_EQ_INT(web_form_value(body, strlen(body), "empty", &v), 0);
	CHECK_EQ_STR(v, "");
	free(v);
	CHECK_EQ_INT(web_form_value(body, strlen(body), "flag", &v), 0);
	CHECK_EQ_STR(v, "");
	free(v);
	CHECK_EQ_INT(web_form_value(body, strlen(body), "missing", &v), HD_ENOTFOUND);
	CHECK(v == NULL);
	CHECK_EQ_INT(web_form_value(body, strlen(body), "bad", &v), HD_EINVAL);
	CHECK_EQ_INT(web_form_value("a=%00", 5, "a", &v), HD_EINVAL);
	CHECK_EQ_INT(web_form_value("", 0, "a", &v), HD_ENOTFOUND);
}

int main(void)
{
	RUN(test_escape);
	RUN(test_markdown_gfm);
	RUN(test_markdown_anchors);
	RUN(test_markdown_urls);
	RUN(test_markdown_raw_html_card);
	RUN(test_markdown_chat);
	RUN(test_sanitizer);
	RUN(test_sanitizer_depth);
	RUN(test_next);
	RUN(test_cookie);
	RUN(test_form);
	return test_summary();
}

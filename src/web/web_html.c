/*
 * web_html.c: escaping, URL building and the page shell every HTML page
 * shares (head, header with navigation and the signed-in user, footer,
 * scripts by nonce), plus the security headers (SECURITY.md W6, W7).
 *
 * Escaping is the default here: web_html() escapes every %s argument, so a
 * page is written as a format string of trusted markup with untrusted values
 * passed as arguments. Markup built elsewhere (sanitized markdown) goes in
 * with buf_puts/buf_append, on purpose and visibly.
 */
#include "web/web_int.h"

#include <stdarg.h>
#include <string.h>
#include <utf8proc.h>

/* ---- escaping ------------------------------------------------------------ */

void web_escn(struct buf *b, const char *s, size_t n)
{
	size_t i = 0;

	buf_grow(b, n + n / 8 + 16);
	while (i < n) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x80) {
			switch (ch) {
			case '&': buf_puts(b, "&amp;"); break;
			case '<': buf_puts(b, "&lt;"); break;
			case '>': buf_puts(b, "&gt;"); break;
			case '"': buf_puts(b, "&quot;"); break;
			case '\'': buf_puts(b, "&#39;"); break;
			case '\t':
			case '\n': buf_putc(b, (char)ch); break;
			default:
				if (ch >= 0x20 && ch != 0x7f)
					buf_putc(b, (char)ch);
				break;
			}
			i++;
			continue;
		}
		utf8proc_int32_t cp;
		utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
		                                      (utf8proc_ssize_t)(n - i), &cp);
		if (k <= 0) {
			buf_puts(b, "\xEF\xBF\xBD"); /* U+FFFD */
			i++;
			continue;
		}
		/* C1 controls and the bidi overrides that can disguise file names */
		if (cp < 0xa0 || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
			buf_puts(b, "\xEF\xBF\xBD");
		else
			buf_append(b, s + i, (size_t)k);
		i += (size_t)k;
	}
}

void web_esc(struct buf *b, const char *s)
{
	if (s)
		web_escn(b, s, strlen(s));
}

void web_html(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	const char *p = fmt, *lit = fmt;

	va_start(ap, fmt);
	while (*p) {
		if (*p != '%') {
			p++;
			continue;
		}
		buf_append(b, lit, (size_t)(p - lit));
		p++;
		if (*p == '%') {
			buf_putc(b, '%');
			p++;
		} else if (*p == 's') {
			web_esc(b, va_arg(ap, const char *));
			p++;
		} else if (p[0] == '.' && p[1] >= '1' && p[1] <= '9') {
			/* %.Ns: at most N bytes of the string (ASCII ids, shas) */
			size_t prec = 0;
			p++;
			while (*p >= '0' && *p <= '9')
				prec = prec * 10 + (size_t)(*p++ - '0');
			if (*p != 's') {
				log_error("web_html: unsupported conversion in \"%s\"", fmt);
				break;
			}
			const char *sv = va_arg(ap, const char *);
			if (sv)
				web_escn(b, sv, strnlen(sv, prec));
			p++;
		} else if (*p == 'd') {
			buf_printf(b, "%d", va_arg(ap, int));
			p++;
		} else if (*p == 'u') {
			buf_printf(b, "%u", va_arg(ap, unsigned));
			p++;
		} else if (p[0] == 'z' && p[1] == 'u') {
			buf_printf(b, "%zu", va_arg(ap, size_t));
			p += 2;
		} else if (p[0] == 'l' && p[1] == 'l' && (p[2] == 'd' || p[2] == 'u')) {
			if (p[2] == 'd')
				buf_printf(b, "%lld", va_arg(ap, long long));
			else
				buf_printf(b, "%llu", va_arg(ap, unsigned long long));
			p += 3;
		} else if (p[0] == 'l' && (p[1] == 'd' || p[1] == 'u')) {
			if (p[1] == 'd')
				buf_printf(b, "%ld", va_arg(ap, long));
			else
				buf_printf(b, "%lu", va_arg(ap, unsigned long));
			p += 2;
		} else {
			/* a conversion this function does not know: a programming
			 * error caught by the format attribute in practice */
			log_error("web_html: unsupported conversion in \"%s\"", fmt);
			break;
		}
		lit = p;
	}
	buf_append(b, lit, (size_t)(p - lit));
	va_end(ap);
}

void web_url_enc(struct buf *b, const char *s, int keep_slash)
{
	http_pct_encode(b, s ? s : "", keep_slash);
}

char *web_repo_path(struct web_ctx *x, enum hub_repo_type type, const char *id)
{
	struct buf b = BUF_INIT;
	char *r;

	buf_putc(&b, '/');
	buf_puts(&b, hub_repo_type_prefix(type));
	web_url_enc(&b, id, 1);
	r = http_req_strdup(x->req, b.data);
	buf_release(&b);
	return r;
}

char *web_repo_sub(struct web_ctx *x, enum hub_repo_type type, const char *id, const char *what,
                   const char *rev, const char *path)
{
	struct buf b = BUF_INIT;
	char *r;

	buf_putc(&b, '/');
	buf_puts(&b, hub_repo_type_prefix(type));
	web_url_enc(&b, id, 1);
	if (what) {
		buf_putc(&b, '/');
		buf_puts(&b, what);
	}
	if (rev) {
		buf_putc(&b, '/');
		web_url_enc(&b, rev, 0); /* a branch "a/b" stays one segment: a%2Fb */
	}
	if (path && *path) {
		buf_putc(&b, '/');
		web_url_enc(&b, path, 1);
	}
	r = http_req_strdup(x->req, b.data);
	buf_release(&b);
	return r;
}

/* ---- dates and sizes ---------------------------------------------------------- */

void web_put_date(struct buf *b, int64_t ms)
{
	char iso[32];
	int64_t age = (time_now_ms() - ms) / 1000;
	const char *unit;
	int64_t v;

	if (ms <= 0) {
		buf_puts(b, "-");
		return;
	}
	time_iso8601(iso, ms);
	if (age < 60) {
		buf_printf(b, "<time datetime=\"%s\" title=\"%s\">just now</time>", iso, iso);
		return;
	}
	if (age < 3600) {
		v = age / 60;
		unit = "minute";
	} else if (age < 86400) {
		v = age / 3600;
		unit = "hour";
	} else if (age < 86400 * 31) {
		v = age / 86400;
		unit = "day";
	} else {
		buf_printf(b, "<time datetime=\"%s\" title=\"%s\">%.10s</time>", iso, iso, iso);
		return;
	}
	buf_printf(b, "<time datetime=\"%s\" title=\"%s\">%lld %s%s ago</time>", iso, iso,
	           (long long)v, unit, v == 1 ? "" : "s");
}

void web_put_size(struct buf *b, int64_t size)
{
	static const char *const units[] = {"kB", "MB", "GB", "TB", "PB"};
	double v = (double)size;
	size_t u = 0;

	if (size < 1000) {
		buf_printf(b, "%lld Bytes", (long long)size);
		return;
	}
	v /= 1000.0;
	while (v >= 1000.0 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1000.0;
		u++;
	}
	buf_printf(b, v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* ---- headers and the shell ------------------------------------------------------ */

void web_security_headers(struct web_ctx *x)
{
	struct http_req *req = x->req;

	/* a page without scripts (error pages) allows none */
	http_resp_headerf(req, "Content-Security-Policy",
	                  "default-src 'none'; script-src %s%s%s; style-src 'self'; "
	                  "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
	                  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
	                  x->nonce[0] ? "'nonce-" : "'none'", x->nonce, x->nonce[0] ? "'" : "");
	http_resp_header(req, "X-Content-Type-Options", "nosniff");
	http_resp_header(req, "X-Frame-Options", "DENY");
	http_resp_header(req, "Referrer-Policy", "same-origin");
	http_resp_header(req, "Cross-Origin-Opener-Policy", "same-origin");
	http_resp_header(req, "Cross-Origin-Resource-Policy", "same-origin");
	http_resp_header(req, "Cache-Control", "no-store");
	if (x->u->secure)
		http_resp_header(req, "Strict-Transport-Security", "max-age=31536000");
	if (x->clear_cookie)
		web_cookie_clear(x);
}

void web_put_csrf(struct web_ctx *x)
{
	if (x->signed_in)
		web_html(&x->out, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", x->csrf);
}

static void put_next_link(struct web_ctx *x, const char *label)
{
	struct buf next = BUF_INIT;
	const char *q = http_req_query_string(x->req);

	buf_puts(&next, http_req_path(x->req));
	if (q && *q) {
		buf_putc(&next, '?');
		buf_puts(&next, q);
	}
	buf_puts(&x->out, "<a class=\"btn\" href=\"/login?next=");
	if (web_next_valid(next.data) && strcmp(http_req_path(x->req), "/login") != 0)
		web_url_enc(&x->out, next.data, 0);
	else
		buf_puts(&x->out, "%2F");
	web_html(&x->out, "\">%s</a>", label);
	buf_release(&next);
}

void web_page_begin(struct web_ctx *x, const char *title, const char *active)
{
	struct buf *b = &x->out;
	static const struct {
		const char *key, *href, *label;
	} nav[] = {
	        {"models", "/models", "Models"},
	        {"datasets", "/datasets", "Datasets"},
	        {"chat", "/chat", "Chat"},
	};

	buf_reset(b);
	web_html(b,
	         "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
	         "<title>%s · huddle</title>",
	         title);
	web_html(b, "<link rel=\"stylesheet\" href=\"%s\">", web_asset_url("style.css"));
	web_html(b, "<link rel=\"icon\" href=\"%s\">", web_asset_url("favicon.svg"));
	if (x->signed_in)
		web_html(b, "<meta name=\"csrf-token\" content=\"%s\">", x->csrf);
	buf_puts(b, "</head><body><header class=\"top\"><div class=\"bar\">"
	            "<a class=\"logo\" href=\"/\"><span class=\"mark\">&#9671;</span> huddle</a>"
	            "<form class=\"search\" action=\"/models\" method=\"get\" role=\"search\">"
	            "<input type=\"search\" name=\"search\" placeholder=\"Search models, datasets, "
	            "users...\" aria-label=\"Search\"></form><nav>");
	for (size_t i = 0; i < ARRAY_SIZE(nav); i++)
		web_html(b, "<a href=\"%s\"%s>%s</a>", nav[i].href,
		         active && !strcmp(active, nav[i].key) ? " class=\"active\"" : "",
		         nav[i].label);
	if (x->signed_in) {
		buf_puts(b, "<a href=\"/new\">+ New</a><a class=\"user\" href=\"/");
		web_url_enc(b, x->c.user, 0);
		web_html(b, "\">%s</a><a href=\"/settings/tokens\"%s>Settings</a>", x->c.user,
		         active && !strcmp(active, "settings") ? " class=\"active\"" : "");
		buf_puts(b, "<form class=\"inline\" method=\"post\" action=\"/logout\">");
		web_put_csrf(x);
		buf_puts(b, "<button type=\"submit\" class=\"link\">Sign out</button></form>");
	} else {
		put_next_link(x, "Sign in");
	}
	buf_puts(b, "</nav></div></header><main>");
}

void web_page_end(struct web_ctx *x, int status, const char *const *scripts, size_t n_scripts)
{
	struct buf *b = &x->out;

	buf_puts(b, "</main><footer><span>huddle</span> &middot; <a href=\"/models\">models</a> "
	            "&middot; <a href=\"/datasets\">datasets</a> &middot; <a "
	            "href=\"/chat\">chat</a></footer>");
	if (x->nonce[0])
		web_html(b, "<script nonce=\"%s\" src=\"%s\"></script>", x->nonce,
		         web_asset_url("app.js"));
	for (size_t i = 0; x->nonce[0] && i < n_scripts; i++)
		web_html(b, "<script nonce=\"%s\" src=\"%s\"></script>", x->nonce,
		         web_asset_url(scripts[i]));
	buf_puts(b, "</body></html>\n");
	web_security_headers(x);
	http_respond(x->req, status, "text/html; charset=utf-8", b->data, b->len);
}

void web_error_page(struct web_ctx *x, int status, const char *title, const char *msg)
{
	/* no script and so no nonce: the same error is the same bytes (a 404
	 * for a private repo is byte-identical to one for a missing repo, V1) */
	x->nonce[0] = 0;
	web_page_begin(x, title, NULL);
	web_html(&x->out, "<section class=\"error\"><h1>%d</h1><h2>%s</h2><p>%s</p>", status, title,
	         msg);
	buf_puts(&x->out, "<p><a href=\"/\">Back home</a></p></section>");
	web_page_end(x, status, NULL, 0);
}

void web_hub_error(struct web_ctx *x, int rc, const struct hub_err *e)
{
	switch (rc) {
	case HD_ENOTFOUND:
		if (e && !strcmp(e->code, "RevisionNotFound"))
			web_error_page(x, 404, "Revision not found",
			               "This revision does not exist in the repository.");
		else if (e && !strcmp(e->code, "EntryNotFound"))
			web_error_page(x, 404, "File not found",
			               "This path does not exist at this revision.");
		else
			/* the same page for private and missing repos (V1) */
			web_error_page(x, 404, "Repository not found",
			               "This repository does not exist, or you do not have access "
			               "to it. If it is private, sign in.");
		break;
	case HD_EINVAL:
		web_error_page(x, 400, "Bad request", e && e->msg[0] ? e->msg : "Invalid request.");
		break;
	case HD_EPERM:
		web_error_page(x, 403, "Forbidden",
		               e && e->msg[0] ? e->msg : "You are not allowed to do this.");
		break;
	case HD_EAUTH: web_error_page(x, 401, "Sign in required", "Sign in to do this."); break;
	case HD_EEXIST:
		web_error_page(x, 409, "Already exists",
		               e && e->msg[0] ? e->msg : "It already exists.");
		break;
	default:
		log_error("web: %s (request %s)", e && e->msg[0] ? e->msg : hd_strerror(rc),
		          http_req_id(x->req));
		web_error_page(x, 500, "Something went wrong",
		               "The server could not answer. Try again later.");
		break;
	}
}

void web_redirect(struct web_ctx *x, const char *location)
{
	if (!web_next_valid(location))
		location = "/";
	web_security_headers(x);
	http_resp_header(x->req, "Location", location);
	http_respond(x->req, 303, "text/plain; charset=utf-8", "See Other\n", 10);
}

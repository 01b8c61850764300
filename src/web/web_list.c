/*
 * web_list.c: the home page, the listings (/models, /datasets, /spaces) with
 * search, filters, sort and cursor pages, and the profile page of a user or
 * an organization (/NS). Listings call hub_repo_list with the same query the
 * API builds for /api/models (search, author, filter, pipeline_tag, sort,
 * cursor), so the page and the API give the same repos for the same query:
 *
 *   /models?search=llama&pipeline_tag=text-generation&library=gguf
 *          &license=mit&other=tag1&other=tag2&author=alice&sort=downloads
 *
 * library=X and other=X become filter=X; license=X becomes filter=license:X.
 */
#include "web/web_int.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_SIZE 30
#define MAX_FILTERS 16

static const char *const pipeline_tags[] = {
        "text-generation",      "text2text-generation",         "fill-mask",
        "feature-extraction",   "sentence-similarity",          "text-classification",
        "token-classification", "question-answering",           "summarization",
        "translation",          "image-classification",         "image-to-text",
        "text-to-image",        "automatic-speech-recognition", "text-to-speech",
};

static const struct {
	const char *value, *label, *hub;
} sorts[] = {
        {"trending", "Trending", "trending"},
        {"downloads", "Most downloads", "downloads"},
        {"likes", "Most likes", "likes"},
        {"modified", "Recently updated", "lastModified"},
        {"created", "Recently created", "createdAt"},
        {"name", "Name", "id"},
};

/* ---- one repo in a list ----------------------------------------------------------- */

static void put_repo_item(struct web_ctx *x, const struct hub_repo *r)
{
	struct buf *b = &x->out;

	web_html(b, "<li class=\"repo-item\"><a href=\"%s\"><span class=\"repo-id\">%s</span>",
	         web_repo_path(x, r->type, r->id), r->id);
	if (r->is_private)
		buf_puts(b, " <span class=\"badge private\">private</span>");
	buf_puts(b, "</a><div class=\"meta\">");
	if (r->pipeline_tag)
		web_html(b, "<span class=\"pipeline\">%s</span> · ", r->pipeline_tag);
	buf_puts(b, "Updated ");
	web_put_date(b, r->last_modified_ms);
	web_html(b, " · <span title=\"downloads\">&#8595; %lld</span>", (long long)r->downloads);
	web_html(b, " · <span title=\"likes\">&#9825; %lld</span>", (long long)r->likes);
	buf_puts(b, "</div></li>");
}

static void put_repo_list(struct web_ctx *x, const struct hub_repo_list *l, const char *empty)
{
	if (!l->n) {
		web_html(&x->out, "<p class=\"empty\">%s</p>", empty);
		return;
	}
	buf_puts(&x->out, "<ul class=\"repo-list\">");
	for (size_t i = 0; i < l->n; i++)
		put_repo_item(x, &l->items[i]);
	buf_puts(&x->out, "</ul>");
}

/* ---- home -------------------------------------------------------------------------- */

static int list_simple(struct web_ctx *x, enum hub_repo_type type, enum hub_sort sort,
                       const char *author, size_t limit, struct hub_repo_list *out)
{
	struct hub_list_query q;
	struct hub_err e;

	memset(&q, 0, sizeof(q));
	memset(out, 0, sizeof(*out));
	q.type = type;
	q.sort = sort;
	q.author = author;
	q.limit = limit;
	return hub_repo_list(x->w->cfg.hub, &x->c, &q, out, &e);
}

void web_home(struct http_req *req)
{
	struct web_ctx x;
	struct hub_repo_list trending, recent, datasets;
	struct buf *b;

	web_ctx_begin(&x, req);
	b = &x.out;
	web_page_begin(&x, "Home", NULL);
	buf_puts(b, "<section class=\"hero\"><h1>The models and datasets of your team, on your "
	            "own machine</h1><p>Browse, read the cards, download with the Hugging Face "
	            "clients or git, and chat with models, all served by one binary.</p>"
	            "<form action=\"/models\" method=\"get\" class=\"hero-search\">"
	            "<input type=\"search\" name=\"search\" placeholder=\"Search models\" "
	            "aria-label=\"Search models\"><button type=\"submit\">Search</button></form>"
	            "</section><div class=\"columns\">");
	list_simple(&x, HUB_REPO_MODEL, HUB_SORT_TRENDING, NULL, 10, &trending);
	list_simple(&x, HUB_REPO_MODEL, HUB_SORT_LAST_MODIFIED, NULL, 10, &recent);
	list_simple(&x, HUB_REPO_DATASET, HUB_SORT_DOWNLOADS, NULL, 10, &datasets);
	buf_puts(b, "<section><h2><a href=\"/models?sort=trending\">Trending models</a></h2>");
	put_repo_list(&x, &trending,
	              "No models yet. Push one with the Hugging Face client or git.");
	buf_puts(b, "</section><section><h2><a href=\"/models?sort=modified\">Recently "
	            "updated</a></h2>");
	put_repo_list(&x, &recent, "Nothing yet.");
	buf_puts(b, "</section><section><h2><a href=\"/datasets\">Datasets</a></h2>");
	put_repo_list(&x, &datasets, "No datasets yet.");
	buf_puts(b, "</section></div>");
	hub_repo_list_release(&trending);
	hub_repo_list_release(&recent);
	hub_repo_list_release(&datasets);
	web_page_end(&x, 200, NULL, 0);
	web_ctx_end(&x);
}

/* ---- listings ---------------------------------------------------------------------- */

/* The current query with one parameter changed (value NULL removes it; a
 * cursor is always dropped unless it is the changed one). Request memory. */
static char *query_with(struct web_ctx *x, const char *base, const char *name, const char *value,
                        const char *drop_value)
{
	static const char *const keys[] = {"search",  "author", "pipeline_tag", "library",
	                                   "license", "other",  "filter",       "sort"};
	struct buf b = BUF_INIT;
	char *r;
	int first = 1;

	buf_puts(&b, base);
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		const char *vals[MAX_FILTERS];
		size_t n = http_req_query_all(x->req, keys[k], vals, MAX_FILTERS);
		if (n > MAX_FILTERS)
			n = MAX_FILTERS;
		int multi = !strcmp(keys[k], "other") || !strcmp(keys[k], "filter");
		if (!strcmp(keys[k], name) && !multi)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (!*vals[i])
				continue;
			if (drop_value && !strcmp(keys[k], name) && !strcmp(vals[i], drop_value))
				continue;
			buf_putc(&b, first ? '?' : '&');
			first = 0;
			buf_puts(&b, keys[k]);
			buf_putc(&b, '=');
			web_url_enc(&b, vals[i], 0);
		}
	}
	if (value) {
		buf_putc(&b, first ? '?' : '&');
		buf_puts(&b, name);
		buf_putc(&b, '=');
		web_url_enc(&b, value, 0);
	}
	r = http_req_strdup(x->req, b.data);
	buf_release(&b);
	return r;
}

static void put_select(struct buf *b, const char *name, const char *label, const char *cur,
                       const char *const *opts, size_t n)
{
	web_html(b, "<label>%s<select name=\"%s\"><option value=\"\">Any</option>", label, name);
	for (size_t i = 0; i < n; i++)
		web_html(b, "<option%s>%s</option>",
		         cur && !strcmp(cur, opts[i]) ? " selected" : "", opts[i]);
	if (cur && *cur) {
		size_t i;
		for (i = 0; i < n; i++)
			if (!strcmp(cur, opts[i]))
				break;
		if (i == n)
			web_html(b, "<option selected>%s</option>", cur);
	}
	buf_puts(b, "</select></label>");
}

static void put_text(struct buf *b, const char *name, const char *label, const char *cur,
                     const char *hint)
{
	web_html(b,
	         "<label>%s<input type=\"text\" name=\"%s\" value=\"%s\" placeholder=\"%s\">"
	         "</label>",
	         label, name, cur ? cur : "", hint);
}

void web_list(struct http_req *req)
{
	struct web_ctx x;
	struct hub_list_query q;
	struct hub_repo_list list;
	struct hub_err e;
	const char *filters[3 * MAX_FILTERS + 2], *others[MAX_FILTERS], *raw[MAX_FILTERS];
	const char *sort = http_req_query(req, "sort"), *hub_sort = NULL, *license, *library;
	const char *plural = http_req_param(req, "T");
	size_t n_f = 0, n_o, n_raw;
	char base[32];
	struct buf *b;
	int rc;

	web_ctx_begin(&x, req);
	b = &x.out;
	memset(&q, 0, sizeof(q));
	memset(&list, 0, sizeof(list));
	memset(&e, 0, sizeof(e));
	hub_repo_type_parse(plural, &q.type);
	snprintf(base, sizeof(base), "/%s", hub_repo_type_plural(q.type));

	q.search = http_req_query(req, "search");
	q.author = http_req_query(req, "author");
	q.pipeline_tag = http_req_query(req, "pipeline_tag");
	if (q.search && !*q.search)
		q.search = NULL;
	if (q.author && !*q.author)
		q.author = NULL;
	if (q.pipeline_tag && !*q.pipeline_tag)
		q.pipeline_tag = NULL;
	library = http_req_query(req, "library");
	if (library && *library)
		filters[n_f++] = library;
	license = http_req_query(req, "license");
	if (license && *license)
		filters[n_f++] = str_starts_with(license, "license:")
		                         ? license
		                         : http_req_printf(req, "license:%s", license);
	n_o = http_req_query_all(req, "other", others, MAX_FILTERS);
	n_raw = http_req_query_all(req, "filter", raw, MAX_FILTERS);
	if (n_o > MAX_FILTERS || n_raw > MAX_FILTERS) {
		web_error_page(&x, 400, "Too many filters", "Use at most 16 tags.");
		goto out;
	}
	for (size_t i = 0; i < n_o; i++)
		if (*others[i])
			filters[n_f++] = others[i];
	for (size_t i = 0; i < n_raw; i++)
		if (*raw[i])
			filters[n_f++] = raw[i];
	q.filters = filters;
	q.n_filters = n_f;
	if (!sort || !*sort)
		sort = "trending";
	for (size_t i = 0; i < ARRAY_SIZE(sorts); i++)
		if (!strcmp(sorts[i].value, sort) || !strcmp(sorts[i].hub, sort))
			hub_sort = sorts[i].hub;
	if (!hub_sort || hub_sort_parse(hub_sort, &q.sort) < 0) {
		web_error_page(&x, 400, "Unknown sort", "Pick one of the listed orders.");
		goto out;
	}
	q.limit = PAGE_SIZE;
	q.cursor = http_req_query(req, "cursor");
	if (q.cursor && !*q.cursor)
		q.cursor = NULL;
	rc = hub_repo_list(x.w->cfg.hub, &x.c, &q, &list, &e);
	if (rc < 0) {
		if (rc == HD_EINVAL)
			web_error_page(&x, 400, "Bad query", e.msg[0] ? e.msg : "Invalid query.");
		else
			web_hub_error(&x, rc, &e);
		goto out;
	}

	{
		const char *title = q.type == HUB_REPO_DATASET ? "Datasets"
		                    : q.type == HUB_REPO_SPACE ? "Spaces"
		                                               : "Models";
		web_page_begin(&x, title, hub_repo_type_plural(q.type));
		buf_puts(b, "<div class=\"listing\"><aside class=\"filters\">");
		web_html(b, "<form method=\"get\" action=\"%s\" id=\"hd-filters\">", base);
		put_text(b, "search", "Search", q.search, "name or owner");
		if (q.type == HUB_REPO_MODEL)
			put_select(b, "pipeline_tag", "Task", q.pipeline_tag, pipeline_tags,
			           ARRAY_SIZE(pipeline_tags));
		else
			put_text(b, "pipeline_tag", "Task", q.pipeline_tag, "e.g. text-generation");
		put_text(b, "library", "Library", library, "e.g. gguf, transformers");
		put_text(b, "license", "License", license, "e.g. mit, apache-2.0");
		put_text(b, "other", "Tag", n_o ? others[0] : NULL, "any tag");
		for (size_t i = 1; i < n_o; i++)
			web_html(b, "<input type=\"hidden\" name=\"other\" value=\"%s\">",
			         others[i]);
		for (size_t i = 0; i < n_raw; i++)
			web_html(b, "<input type=\"hidden\" name=\"filter\" value=\"%s\">", raw[i]);
		put_text(b, "author", "Owner", q.author, "user or organization");
		buf_puts(b, "<label>Sort<select name=\"sort\">");
		for (size_t i = 0; i < ARRAY_SIZE(sorts); i++)
			web_html(b, "<option value=\"%s\"%s>%s</option>", sorts[i].value,
			         hub_sort == sorts[i].hub ? " selected" : "", sorts[i].label);
		buf_puts(b, "</select></label><button type=\"submit\">Apply</button>");
		web_html(b, "<a class=\"reset\" href=\"%s\">Reset</a></form></aside>", base);

		web_html(b, "<section class=\"results\"><h1>%s</h1>", title);
		if (n_f || q.pipeline_tag || q.author || q.search) {
			buf_puts(b, "<p class=\"chips\">");
			if (q.search)
				web_html(b, "<a class=\"chip\" href=\"%s\">search: %s &times;</a>",
				         query_with(&x, base, "search", NULL, NULL), q.search);
			if (q.pipeline_tag)
				web_html(b, "<a class=\"chip\" href=\"%s\">%s &times;</a>",
				         query_with(&x, base, "pipeline_tag", NULL, NULL),
				         q.pipeline_tag);
			if (q.author)
				web_html(b, "<a class=\"chip\" href=\"%s\">owner: %s &times;</a>",
				         query_with(&x, base, "author", NULL, NULL), q.author);
			if (library && *library)
				web_html(b, "<a class=\"chip\" href=\"%s\">%s &times;</a>",
				         query_with(&x, base, "library", NULL, NULL), library);
			if (license && *license)
				web_html(b, "<a class=\"chip\" href=\"%s\">%s &times;</a>",
				         query_with(&x, base, "license", NULL, NULL), license);
			for (size_t i = 0; i < n_o; i++)
				if (*others[i])
					web_html(b, "<a class=\"chip\" href=\"%s\">%s &times;</a>",
					         query_with(&x, base, "other", NULL, others[i]),
					         others[i]);
			buf_puts(b, "</p>");
		}
		put_repo_list(&x, &list, "No repository matches these filters.");
		buf_puts(b, "<nav class=\"pager\">");
		if (q.cursor)
			web_html(b, "<a href=\"%s\">&laquo; First page</a>",
			         query_with(&x, base, "cursor", NULL, NULL));
		if (list.next_cursor)
			web_html(b, "<a rel=\"next\" href=\"%s\">Next page &raquo;</a>",
			         query_with(&x, base, "cursor", list.next_cursor, NULL));
		buf_puts(b, "</nav></section></div>");
		web_page_end(&x, 200, NULL, 0);
	}
out:
	hub_repo_list_release(&list);
	web_ctx_end(&x);
}

/* ---- profiles ---------------------------------------------------------------------- */

void web_profile(struct http_req *req)
{
	struct web_ctx x;
	struct auth_account acc;
	struct hub_repo_list models, datasets;
	const char *ns = http_req_param(req, "ns");
	struct buf *b;

	web_ctx_begin(&x, req);
	b = &x.out;
	if (!auth_name_valid(ns) || auth_account_find(hub_store(x.w->cfg.hub), ns, &acc) < 0) {
		web_error_page(&x, 404, "Not found",
		               "There is no user or organization of that name.");
		web_ctx_end(&x);
		return;
	}
	list_simple(&x, HUB_REPO_MODEL, HUB_SORT_LAST_MODIFIED, acc.name, 100, &models);
	list_simple(&x, HUB_REPO_DATASET, HUB_SORT_LAST_MODIFIED, acc.name, 100, &datasets);
	web_page_begin(&x, acc.name, NULL);
	web_html(b, "<section class=\"profile\"><h1>%s</h1><p class=\"muted\">%s</p>", acc.name,
	         acc.kind == AUTH_ACCOUNT_ORG ? "Organization" : "User");
	web_html(b, "<h2>Models <span class=\"count\">%zu</span></h2>", models.n);
	put_repo_list(&x, &models, "No models.");
	web_html(b, "<h2>Datasets <span class=\"count\">%zu</span></h2>", datasets.n);
	put_repo_list(&x, &datasets, "No datasets.");
	buf_puts(b, "</section>");
	web_page_end(&x, 200, NULL, 0);
	hub_repo_list_release(&models);
	hub_repo_list_release(&datasets);
	web_ctx_end(&x);
}

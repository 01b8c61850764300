/*
 * web_repo.c: the pages of one repository, at huggingface.co's URLs ({P} is
 * "" for models, "datasets/" or "spaces/"):
 *
 *   /{P}NS/NAME                    model card (README.md rendered) + metadata
 *                                  sidebar + "Use this model" snippets
 *   /{P}NS/NAME/tree/REV/PATH      files and versions (branches, tags, sizes,
 *                                  LFS badges, last commit per entry)
 *   /{P}NS/NAME/blob/REV/PATH      one file: text shown, binary described,
 *                                  raw and download links
 *   /{P}NS/NAME/commits/REV        history, newest first, paged
 *   /{P}NS/NAME/api                the exact API requests, pinned to a commit
 *   /{P}NS/NAME/settings           visibility and deletion (repo admins)
 *
 * REV may contain slashes (a branch "dev/x"): the tail is split at the
 * longest existing ref, like the API does (hub_rev_split). Every string that
 * comes from the repo (names, paths, commit messages, card metadata) is
 * escaped; the card body goes through web_md_render.
 */
#include "web/web_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CARD_MAX (1024 * 1024) /* bytes of README.md rendered */
#define TEXT_MAX (512 * 1024) /* largest file shown inline */
#define TREE_PAGE 100
#define COMMITS_PAGE 30

/* ---- helpers ------------------------------------------------------------------ */

static void repo_ref(struct web_ctx *x, struct hub_repo_ref *ref)
{
	ref->type = x->type;
	ref->ns = http_req_param(x->req, "ns");
	ref->name = http_req_param(x->req, "name");
}

/* Reads up to max bytes of an open hub file into out. */
static int file_read(const struct hub_file *f, size_t max, struct buf *out)
{
	size_t n = f->size > 0 && (uint64_t)f->size < max ? (size_t)f->size : max;

	if (f->size <= 0)
		return 0;
	if (f->fd < 0) {
		buf_append(out, f->data, n);
		return 0;
	}
	buf_grow(out, n);
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(f->fd, out->data + out->len + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	out->len += got;
	out->data[out->len] = 0;
	return 0;
}

static int is_text(const char *p, size_t n)
{
	return !memchr(p, 0, n) && utf8_valid(p, n);
}

static const char *type_label(enum hub_repo_type t)
{
	return t == HUB_REPO_DATASET ? "Dataset" : t == HUB_REPO_SPACE ? "Space" : "Model";
}

/* Can the caller probably administer the repo (to show the settings tab)?
 * The hub decides for real when the form is sent. */
static int maybe_admin(struct web_ctx *x, const struct hub_repo *r)
{
	if (!x->signed_in)
		return 0;
	if (x->c.is_admin || !strcasecmp(x->c.user, r->ns))
		return 1;
	for (size_t i = 0; i < x->c.n_orgs; i++)
		if (!strcasecmp(x->c.orgs[i].org, r->ns) && x->c.orgs[i].role == AUTH_ROLE_ADMIN)
			return 1;
	return 0;
}

/* Can the inference service chat with it? It serves repos holding a GGUF
 * file; the card says so with the gguf library tag or a generation task. */
static int chat_capable(const struct hub_repo *r)
{
	if (r->pipeline_tag && !strcmp(r->pipeline_tag, "text-generation"))
		return 1;
	if (r->library_name && !strcasecmp(r->library_name, "gguf"))
		return 1;
	for (size_t i = 0; i < r->n_tags; i++)
		if (!strcasecmp(r->tags[i], "gguf") || !strcasecmp(r->tags[i], "text-generation"))
			return 1;
	return 0;
}

static void repo_header(struct web_ctx *x, const struct hub_repo *r, const char *tab,
                        const char *rev)
{
	struct buf *b = &x->out;
	const char *home = web_repo_path(x, r->type, r->id);
	const char *tabrev = rev && *rev ? rev : "main";

	web_html(b, "<div class=\"repo-head\"><h1><span class=\"kind\">%s</span> ",
	         type_label(r->type));
	buf_puts(b, "<a href=\"/");
	web_url_enc(b, r->ns, 0);
	web_html(b, "\">%s</a> / <a href=\"%s\">%s</a>", r->ns, home, r->name);
	if (r->is_private)
		buf_puts(b, " <span class=\"badge private\">private</span>");
	if (r->gated)
		buf_puts(b, " <span class=\"badge\">gated</span>");
	web_html(b,
	         "</h1><div class=\"stats\"><span title=\"downloads\">&#8595; %lld "
	         "downloads</span><span title=\"likes\">&#9825; %lld</span></div>",
	         (long long)r->downloads, (long long)r->likes);
	buf_puts(b, "<nav class=\"tabs\">");
	web_html(b, "<a href=\"%s\"%s>%s card</a>", home,
	         !strcmp(tab, "card") ? " class=\"active\"" : "", type_label(r->type));
	web_html(b, "<a href=\"%s\"%s>Files and versions</a>",
	         web_repo_sub(x, r->type, r->id, "tree", tabrev, NULL),
	         !strcmp(tab, "tree") ? " class=\"active\"" : "");
	web_html(b, "<a href=\"%s\"%s>Commits</a>",
	         web_repo_sub(x, r->type, r->id, "commits", tabrev, NULL),
	         !strcmp(tab, "commits") ? " class=\"active\"" : "");
	web_html(b, "<a href=\"%s\"%s>API</a>", web_repo_sub(x, r->type, r->id, "api", NULL, NULL),
	         !strcmp(tab, "api") ? " class=\"active\"" : "");
	if (r->type == HUB_REPO_MODEL && chat_capable(r)) {
		buf_puts(b, "<a href=\"/chat?model=");
		web_url_enc(b, r->id, 0);
		buf_puts(b, "\">Chat</a>");
	}
	if (maybe_admin(x, r))
		web_html(b, "<a href=\"%s\"%s>Settings</a>",
		         web_repo_sub(x, r->type, r->id, "settings", NULL, NULL),
		         !strcmp(tab, "settings") ? " class=\"active\"" : "");
	buf_puts(b, "</nav></div>");
}

/* A <pre> snippet with a copy button. */
static void snippet(struct web_ctx *x, const char *label, const char *code)
{
	static unsigned counter;
	unsigned id = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);

	web_html(&x->out,
	         "<div class=\"snippet\"><div class=\"snippet-head\"><span>%s</span>"
	         "<button type=\"button\" class=\"copy\" data-copy=\"hd-snip-%u\">Copy</button>"
	         "</div><pre id=\"hd-snip-%u\"><code>%s</code></pre></div>",
	         label, id, id, code);
}

/* Splits the decoded tail "rev/with/slashes/path" of a tree/blob URL. */
static int split_tail(struct web_ctx *x, const struct hub_repo_ref *ref, char **rev, char **path,
                      struct hub_err *e)
{
	const char *raw = http_req_param(x->req, "tail");
	char *dec;
	size_t rev_len;
	int rc;

	*rev = http_req_strdup(x->req, "main");
	*path = http_req_strdup(x->req, "");
	if (!raw || !*raw)
		return 0;
	if (http_pct_decode(raw, strlen(raw), 0, &dec) < 0) {
		snprintf(e->msg, sizeof(e->msg), "The URL does not decode.");
		return HD_EINVAL;
	}
	rc = hub_rev_split(x->w->cfg.hub, &x->c, ref, dec, &rev_len, e);
	if (rc == 0) {
		*rev = http_req_alloc(x->req, rev_len + 1);
		memcpy(*rev, dec, rev_len);
		(*rev)[rev_len] = 0;
		if (dec[rev_len] == '/')
			*path = http_req_strdup(x->req, dec + rev_len + 1);
		/* tolerate a trailing slash */
		size_t pl = strlen(*path);
		while (pl && (*path)[pl - 1] == '/')
			(*path)[--pl] = 0;
	}
	free(dec);
	return rc;
}

/* ---- the card sidebar ------------------------------------------------------------ */

static void side_list(struct web_ctx *x, const char *label, char **v, size_t n,
                      enum hub_repo_type link_type, int as_tag)
{
	struct buf *b = &x->out;

	if (!n)
		return;
	web_html(b, "<dt>%s</dt><dd>", label);
	for (size_t i = 0; i < n && i < 50; i++) {
		if (as_tag) {
			buf_puts(b, "<a class=\"tag\" href=\"/models?other=");
			web_url_enc(b, v[i], 0);
			web_html(b, "\">%s</a>", v[i]);
		} else if (strchr(v[i], '/') && hub_name_valid(strchr(v[i], '/') + 1)) {
			web_html(b, "<a class=\"tag\" href=\"%s\">%s</a>",
			         web_repo_path(x, link_type, v[i]), v[i]);
		} else {
			web_html(b, "<span class=\"tag\">%s</span>", v[i]);
		}
	}
	buf_puts(b, "</dd>");
}

/* <dt>label</dt><dd>a link to /models?param=value</dd> */
static void side_link(struct web_ctx *x, const char *label, const char *param, const char *value)
{
	struct buf *b = &x->out;

	if (!value)
		return;
	web_html(b, "<dt>%s</dt><dd><a class=\"tag\" href=\"/models?%s=", label, param);
	web_url_enc(b, value, 0);
	web_html(b, "\">%s</a></dd>", value);
}

static void sidebar(struct web_ctx *x, const struct hub_repo_info *info,
                    const struct hub_card *card, int have_card, const char *card_err)
{
	struct buf *b = &x->out;
	const struct hub_repo *r = &info->repo;
	struct hub_commit_list cl;
	struct hub_err e;
	struct hub_repo_ref ref = {r->type, r->ns, r->name};

	buf_puts(b, "<aside class=\"card-meta\"><dl>");
	web_html(b, "<dt>Downloads</dt><dd>%lld</dd>", (long long)r->downloads);
	memset(&cl, 0, sizeof(cl));
	if (hub_commits_list(x->w->cfg.hub, &x->c, &ref, NULL, 1, NULL, &cl, &e) == 0 && cl.n) {
		buf_puts(b, "<dt>Last commit</dt><dd class=\"last-commit\">");
		web_html(b, "<a href=\"%s\">%s</a><br><span class=\"muted\">%s, ",
		         web_repo_sub(x, r->type, r->id, "tree", cl.items[0].id, NULL),
		         cl.items[0].title, cl.items[0].author_name ? cl.items[0].author_name : "");
		web_put_date(b, cl.items[0].date_ms);
		web_html(b, "</span><br><a href=\"%s\">%lld commits</a></dd>",
		         web_repo_sub(x, r->type, r->id, "commits", "main", NULL),
		         (long long)cl.total);
	}
	hub_commit_list_release(&cl);
	if (have_card) {
		side_link(x, "License", "license", card->license);
		side_link(x, "Task", "pipeline_tag", card->pipeline_tag);
		side_link(x, "Library", "library", card->library_name);
		side_list(x, "Base model", card->base_models, card->n_base_models, HUB_REPO_MODEL,
		          0);
		side_list(x, "Datasets", card->datasets, card->n_datasets, HUB_REPO_DATASET, 0);
		side_list(x, "Languages", card->languages, card->n_languages, HUB_REPO_MODEL, 0);
		side_list(x, "Tags", card->tags, card->n_tags, HUB_REPO_MODEL, 1);
	}
	if (card_err && *card_err)
		web_html(b, "<dt>Metadata</dt><dd class=\"warn\">%s</dd>", card_err);
	buf_puts(b, "</dl></aside>");
}

/* The first GGUF file of the repo (what `huddle run` loads), or NULL. */
static const char *gguf_file(const struct hub_repo_info *info)
{
	for (size_t i = 0; i < info->n_siblings; i++) {
		const char *p = info->siblings[i].path;
		size_t n = p ? strlen(p) : 0;
		if (!info->siblings[i].is_dir && n > 5 && !strcasecmp(p + n - 5, ".gguf"))
			return p;
	}
	return NULL;
}

static void use_snippets(struct web_ctx *x, const struct hub_repo_info *info)
{
	const struct hub_repo *r = &info->repo;
	const char *pub = x->u->public_url;
	const char *plural = hub_repo_type_plural(r->type);
	const char *t = hub_repo_type_name(r->type);
	char *s;

	buf_puts(&x->out, "<section class=\"use\"><h2>Use this ");
	buf_puts(&x->out, r->type == HUB_REPO_DATASET ? "dataset" : "model");
	buf_puts(&x->out, "</h2>");
	if (r->type == HUB_REPO_MODEL && gguf_file(info)) {
		/* `huddle run` takes a GGUF file: fetch it, then run it. The path
		 * is attacker-chosen: percent-encoded, it holds no shell syntax. */
		struct buf u = BUF_INIT;
		web_url_enc(&u, gguf_file(info), 1);
		s = http_req_printf(x->req,
		                    "curl -L%s -o model.gguf \\\n"
		                    "  '%s/%s/resolve/main/%s'\n"
		                    "huddle run model.gguf -p \"Once upon a time\"",
		                    r->is_private ? " -H \"Authorization: Bearer $HF_TOKEN\"" : "",
		                    pub, r->id, u.data);
		buf_release(&u);
		snippet(x, "huddle", s);
		/* the inference service serves hub repos holding a GGUF by id */
		s = http_req_printf(x->req,
		                    "curl %s/v1/chat/completions \\\n"
		                    "  -H \"Authorization: Bearer $HF_TOKEN\" \\\n"
		                    "  -H \"Content-Type: application/json\" \\\n"
		                    "  -d '{\"model\": \"%s\", \"messages\": [{\"role\": \"user\", "
		                    "\"content\": \"Hello!\"}], \"stream\": true}'",
		                    pub, r->id);
		snippet(x, "curl (OpenAI API)", s);
	}
	s = http_req_printf(
	        x->req,
	        "import { listFiles, downloadFile } from \"@huggingface/hub\";\n\n"
	        "const hubUrl = \"%s\";\n"
	        "const repo = { type: \"%s\", name: \"%s\" };\n"
	        "for await (const f of listFiles({ repo, hubUrl, recursive: true }))\n"
	        "  console.log(f.path, f.size);\n"
	        "const blob = await downloadFile({ repo, path: \"README.md\", hubUrl });",
	        pub, t, r->id);
	snippet(x, "JavaScript (@huggingface/hub)", s);
	s = http_req_printf(x->req,
	                    "from huggingface_hub import snapshot_download\n\n"
	                    "snapshot_download(\"%s\", repo_type=\"%s\", endpoint=\"%s\")",
	                    r->id, t, pub);
	snippet(x, "Python (huggingface_hub)", s);
	s = http_req_printf(x->req, "git lfs install\ngit clone %s/%s%s", pub,
	                    hub_repo_type_prefix(r->type), r->id);
	snippet(x, "git", s);
	(void)plural;
	buf_puts(&x->out, "</section>");
}

/* ---- the repo page (card) ------------------------------------------------------------ */

void web_repo_page(struct http_req *req)
{
	struct web_ctx x;
	struct hub_repo_ref ref;
	struct hub_repo_info info;
	struct hub_file f;
	struct hub_card card;
	struct hub_err e;
	struct buf text = BUF_INIT;
	char card_err[256] = "";
	int rc, have_card = 0, have_readme = 0;

	web_ctx_begin(&x, req);
	repo_ref(&x, &ref);
	memset(&info, 0, sizeof(info));
	memset(&card, 0, sizeof(card));
	memset(&e, 0, sizeof(e));
	rc = hub_repo_info(x.w->cfg.hub, &x.c, &ref, NULL, HUB_SIBLINGS_NAMES, &info, &e);
	if (rc < 0) {
		web_hub_error(&x, rc, &e);
		goto out;
	}
	memset(&f, 0, sizeof(f));
	f.fd = -1;
	if (info.rev_sha[0] &&
	    hub_file_open(x.w->cfg.hub, &x.c, &ref, info.rev_sha, "README.md", 0, &f, NULL) == 0) {
		have_readme = file_read(&f, CARD_MAX, &text) == 0;
		hub_file_release(&f);
	}
	if (have_readme) {
		rc = hub_card_parse(text.data ? text.data : "", text.len, &card, card_err,
		                    sizeof(card_err));
		have_card = rc == 0;
		if (rc < 0) /* still show the document; the metadata is what failed */
			memset(&card, 0, sizeof(card));
	}

	web_page_begin(&x, info.repo.id, NULL);
	repo_header(&x, &info.repo, "card", NULL);
	buf_puts(&x.out, "<div class=\"repo-body\"><article class=\"markdown card\">");
	if (have_readme && text.len) {
		size_t off = have_card && card.body_offset <= text.len ? card.body_offset : 0;
		char *bl = http_req_printf(
		        req, "%s/",
		        web_repo_sub(&x, ref.type, info.repo.id, "blob", info.rev_sha, NULL));
		char *bi = http_req_printf(
		        req, "%s/",
		        web_repo_sub(&x, ref.type, info.repo.id, "resolve", info.rev_sha, NULL));
		if (!utf8_valid(text.data + off, text.len - off))
			web_html(&x.out, "<p class=\"warn\">%s</p>",
			         "README.md is not valid UTF-8; invalid bytes are replaced.");
		if (web_md_render(text.data + off, text.len - off, WEB_MD_CARD, bl, bi, &x.out) < 0)
			buf_puts(&x.out, "<p class=\"warn\">The card could not be rendered.</p>");
		if (text.len >= CARD_MAX)
			buf_puts(&x.out, "<p class=\"muted\">(The card is longer than 1 MiB; only "
			                 "its beginning is shown.)</p>");
	} else {
		web_html(
		        &x.out,
		        "<div class=\"empty\"><p>No %s card yet.</p><p>Add a README.md to describe "
		        "it.</p></div>",
		        ref.type == HUB_REPO_DATASET ? "dataset" : "model");
	}
	buf_puts(&x.out, "</article><div class=\"side\">");
	sidebar(&x, &info, &card, have_card, card_err);
	use_snippets(&x, &info);
	buf_puts(&x.out, "</div></div>");
	web_page_end(&x, 200, NULL, 0);
out:
	if (have_card)
		hub_card_release(&card);
	buf_release(&text);
	hub_repo_info_release(&info);
	web_ctx_end(&x);
}

/* ---- files and versions ------------------------------------------------------------------- */

static void refs_menu(struct web_ctx *x, const struct hub_repo *r, const struct hub_repo_ref *ref,
                      const char *rev, const char *what, const char *path)
{
	struct hub_refs refs;
	struct buf *b = &x->out;

	memset(&refs, 0, sizeof(refs));
	web_html(b, "<details class=\"refs\"><summary>%s</summary><div class=\"menu\">", rev);
	if (hub_refs_list(x->w->cfg.hub, &x->c, ref, &refs, NULL) == 0) {
		buf_puts(b, "<h4>Branches</h4><ul>");
		for (size_t i = 0; i < refs.n_branches; i++)
			web_html(b, "<li><a href=\"%s\">%s</a></li>",
			         web_repo_sub(x, r->type, r->id, what, refs.branches[i].name, path),
			         refs.branches[i].name);
		buf_puts(b, "</ul>");
		if (refs.n_tags) {
			buf_puts(b, "<h4>Tags</h4><ul>");
			for (size_t i = 0; i < refs.n_tags; i++)
				web_html(b, "<li><a href=\"%s\">%s</a></li>",
				         web_repo_sub(x, r->type, r->id, what, refs.tags[i].name,
				                      path),
				         refs.tags[i].name);
			buf_puts(b, "</ul>");
		}
		hub_refs_release(&refs);
	}
	buf_puts(b, "</div></details>");
}

static void breadcrumb(struct web_ctx *x, const struct hub_repo *r, const char *rev,
                       const char *path)
{
	struct buf *b = &x->out;
	const char *p = path;

	web_html(b, "<div class=\"crumbs\"><a href=\"%s\">%s</a>",
	         web_repo_sub(x, r->type, r->id, "tree", rev, NULL), r->name);
	while (p && *p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		char *seg = http_req_alloc(x->req, n + 1);
		char *upto = http_req_alloc(x->req, (size_t)(p - path) + n + 1);
		memcpy(seg, p, n);
		memcpy(upto, path, (size_t)(p - path) + n);
		buf_puts(b, " / ");
		if (slash)
			web_html(b, "<a href=\"%s\">%s</a>",
			         web_repo_sub(x, r->type, r->id, "tree", rev, upto), seg);
		else
			web_html(b, "<span>%s</span>", seg);
		p = slash ? slash + 1 : NULL;
	}
	buf_puts(b, "</div>");
}

void web_repo_tree(struct http_req *req)
{
	struct web_ctx x;
	struct hub_repo_ref ref;
	struct hub_repo_info info;
	struct hub_tree_page page;
	struct hub_commit_list cl;
	struct hub_err e;
	char *rev, *path;
	const char *cursor = http_req_query(req, "cursor");
	struct buf *b;
	int rc;

	web_ctx_begin(&x, req);
	b = &x.out;
	repo_ref(&x, &ref);
	memset(&info, 0, sizeof(info));
	memset(&page, 0, sizeof(page));
	memset(&cl, 0, sizeof(cl));
	memset(&e, 0, sizeof(e));
	rc = hub_repo_info(x.w->cfg.hub, &x.c, &ref, NULL, 0, &info, &e);
	if (rc == 0)
		rc = split_tail(&x, &ref, &rev, &path, &e);
	if (rc == 0)
		rc = hub_tree_list(x.w->cfg.hub, &x.c, &ref, rev, path, 0, 1, TREE_PAGE,
		                   cursor && *cursor ? cursor : NULL, &page, &e);
	if (rc < 0) {
		web_hub_error(&x, rc, &e);
		goto out;
	}
	web_page_begin(&x, http_req_printf(req, "%s at %s", info.repo.id, rev), NULL);
	repo_header(&x, &info.repo, "tree", rev);
	buf_puts(b, "<div class=\"files\"><div class=\"files-head\">");
	refs_menu(&x, &info.repo, &ref, rev, "tree", path);
	breadcrumb(&x, &info.repo, rev, path);
	web_html(b, "<a class=\"history\" href=\"%s\">History</a></div>",
	         web_repo_sub(&x, ref.type, info.repo.id, "commits", rev, NULL));
	if (hub_commits_list(x.w->cfg.hub, &x.c, &ref, rev, 1, NULL, &cl, NULL) == 0 && cl.n)
		web_html(b,
		         "<div class=\"commit-bar\"><span class=\"author\">%s</span> "
		         "<a href=\"%s\">%s</a> <code>%.7s</code> <span class=\"muted\">",
		         cl.items[0].author_name ? cl.items[0].author_name : "",
		         web_repo_sub(&x, ref.type, info.repo.id, "tree", cl.items[0].id, NULL),
		         cl.items[0].title, cl.items[0].id);
	if (cl.n) {
		web_put_date(b, cl.items[0].date_ms);
		buf_puts(b, "</span></div>");
	}
	buf_puts(b, "<table class=\"tree\"><tbody>");
	if (*path) {
		char *up = http_req_strdup(req, path);
		char *slash = strrchr(up, '/');
		if (slash)
			*slash = 0;
		else
			*up = 0;
		web_html(b, "<tr><td colspan=\"4\"><a href=\"%s\">..</a></td></tr>",
		         web_repo_sub(&x, ref.type, info.repo.id, "tree", rev, up));
	}
	for (size_t i = 0; i < page.n; i++) {
		const struct hub_tree_entry *te = &page.entries[i];
		const char *base = strrchr(te->path, '/');
		base = base ? base + 1 : te->path;
		buf_puts(b, "<tr>");
		if (te->is_dir) {
			web_html(b,
			         "<td class=\"name dir\"><a "
			         "href=\"%s\">%s</a></td><td></td><td></td>",
			         web_repo_sub(&x, ref.type, info.repo.id, "tree", rev, te->path),
			         base);
		} else {
			web_html(b, "<td class=\"name file\"><a href=\"%s\">%s</a></td>",
			         web_repo_sub(&x, ref.type, info.repo.id, "blob", rev, te->path),
			         base);
			buf_puts(b, "<td class=\"size\">");
			web_put_size(b, te->size);
			if (te->is_lfs)
				buf_puts(b, " <span class=\"badge lfs\">LFS</span>");
			web_html(b,
			         "</td><td class=\"dl\"><a href=\"%s\" title=\"Download\" "
			         "download=\"%s\">&#8595;</a></td>",
			         web_repo_sub(&x, ref.type, info.repo.id, "resolve", rev, te->path),
			         base);
		}
		buf_puts(b, "<td class=\"last\">");
		if (te->has_last_commit) {
			web_html(b, "<a href=\"%s\">%s</a> <span class=\"muted\">",
			         web_repo_sub(&x, ref.type, info.repo.id, "tree",
			                      te->last_commit_id, NULL),
			         te->last_commit_title ? te->last_commit_title : "");
			web_put_date(b, te->last_commit_date_ms);
			buf_puts(b, "</span>");
		}
		buf_puts(b, "</td></tr>");
	}
	if (!page.n)
		buf_puts(b,
		         "<tr><td colspan=\"4\" class=\"empty\">This folder is empty.</td></tr>");
	buf_puts(b, "</tbody></table>");
	if (page.next_cursor) {
		struct buf nb = BUF_INIT;
		buf_puts(&nb, web_repo_sub(&x, ref.type, info.repo.id, "tree", rev, path));
		buf_puts(&nb, "?cursor=");
		web_url_enc(&nb, page.next_cursor, 0);
		web_html(b,
		         "<nav class=\"pager\"><a rel=\"next\" href=\"%s\">More files "
		         "&raquo;</a></nav>",
		         nb.data);
		buf_release(&nb);
	}
	buf_puts(b, "</div>");
	web_page_end(&x, 200, NULL, 0);
out:
	hub_commit_list_release(&cl);
	hub_tree_page_release(&page);
	hub_repo_info_release(&info);
	web_ctx_end(&x);
}

void web_repo_blob(struct http_req *req)
{
	struct web_ctx x;
	struct hub_repo_ref ref;
	struct hub_repo_info info;
	struct hub_tree_page pi;
	struct hub_file f;
	struct hub_err e;
	struct buf text = BUF_INIT;
	char *rev, *path;
	const struct hub_tree_entry *te = NULL;
	struct buf *b;
	int rc;

	web_ctx_begin(&x, req);
	b = &x.out;
	repo_ref(&x, &ref);
	memset(&info, 0, sizeof(info));
	memset(&pi, 0, sizeof(pi));
	memset(&e, 0, sizeof(e));
	rc = hub_repo_info(x.w->cfg.hub, &x.c, &ref, NULL, 0, &info, &e);
	if (rc == 0)
		rc = split_tail(&x, &ref, &rev, &path, &e);
	if (rc == 0 && !*path) {
		rc = HD_ENOTFOUND;
		snprintf(e.code, sizeof(e.code), "EntryNotFound");
	}
	if (rc == 0) {
		const char *paths[1] = {path};
		rc = hub_paths_info(x.w->cfg.hub, &x.c, &ref, rev, paths, 1, 1, &pi, &e);
		if (rc == 0 && (pi.n != 1 || pi.entries[0].is_dir)) {
			rc = HD_ENOTFOUND;
			snprintf(e.code, sizeof(e.code), "EntryNotFound");
		}
	}
	if (rc < 0) {
		web_hub_error(&x, rc, &e);
		goto out;
	}
	te = &pi.entries[0];
	web_page_begin(&x, http_req_printf(req, "%s at %s", path, info.repo.id), NULL);
	repo_header(&x, &info.repo, "tree", rev);
	buf_puts(b, "<div class=\"files\"><div class=\"files-head\">");
	refs_menu(&x, &info.repo, &ref, rev, "blob", path);
	breadcrumb(&x, &info.repo, rev, path);
	buf_puts(b, "</div><div class=\"blob-head\"><span>");
	web_put_size(b, te->size);
	if (te->is_lfs)
		buf_puts(b, " <span class=\"badge lfs\">LFS</span>");
	buf_puts(b, "</span>");
	if (te->has_last_commit) {
		web_html(b, " <span class=\"muted\">%s, ",
		         te->last_commit_title ? te->last_commit_title : "");
		web_put_date(b, te->last_commit_date_ms);
		buf_puts(b, "</span>");
	}
	web_html(b, "<span class=\"actions\"><a href=\"%s\">raw</a>",
	         web_repo_sub(&x, ref.type, info.repo.id, "raw", rev, path));
	/* the file's own name: without one, the browser names a text file
	 * after its type ("train.csv" became "train.txt") */
	web_html(b, "<a href=\"%s?download=true\" download=\"%s\">download</a></span></div>",
	         web_repo_sub(&x, ref.type, info.repo.id, "resolve", rev, path),
	         strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	if (te->is_lfs)
		web_html(b,
		         "<div class=\"lfs-info\"><p>This file is stored with Git LFS.</p><dl>"
		         "<dt>SHA256</dt><dd><code>%s</code></dd><dt>Pointer size</dt><dd>%lld "
		         "Bytes</dd></dl></div>",
		         te->lfs_oid, (long long)te->pointer_size);
	memset(&f, 0, sizeof(f));
	f.fd = -1;
	if (te->size <= TEXT_MAX &&
	    hub_file_open(x.w->cfg.hub, &x.c, &ref, rev, path, 0, &f, NULL) == 0) {
		if (file_read(&f, TEXT_MAX, &text) < 0)
			buf_reset(&text);
		hub_file_release(&f);
		if (text.len && is_text(text.data, text.len)) {
			size_t lines = 1;
			for (size_t i = 0; i + 1 < text.len; i++)
				lines += text.data[i] == '\n';
			web_html(b, "<div class=\"code-view\"><pre class=\"lines\" "
			            "aria-hidden=\"true\">");
			for (size_t i = 1; i <= lines; i++)
				buf_printf(b, "%zu\n", i);
			buf_puts(b, "</pre><pre class=\"code\"><code>");
			web_escn(b, text.data, text.len);
			buf_puts(b, "</code></pre></div>");
		} else if (text.len) {
			buf_puts(b, "<p class=\"empty\">This is a binary file; download it to "
			            "view.</p>");
		} else {
			buf_puts(b, "<p class=\"empty\">This file is empty.</p>");
		}
	} else if (te->size > TEXT_MAX) {
		buf_puts(b, "<p class=\"empty\">This file is too large to display; download it "
		            "instead.</p>");
	}
	buf_puts(b, "</div>");
	web_page_end(&x, 200, NULL, 0);
out:
	buf_release(&text);
	hub_tree_page_release(&pi);
	hub_repo_info_release(&info);
	web_ctx_end(&x);
}

/* ---- commits ---------------------------------------------------------------------------- */

void web_repo_commits(struct http_req *req)
{
	struct web_ctx x;
	struct hub_repo_ref ref;
	struct hub_repo_info info;
	struct hub_commit_list cl;
	struct hub_err e;
	char *rev, *path;
	const char *cursor = http_req_query(req, "cursor");
	struct buf *b;
	int rc;

	web_ctx_begin(&x, req);
	b = &x.out;
	repo_ref(&x, &ref);
	memset(&info, 0, sizeof(info));
	memset(&cl, 0, sizeof(cl));
	memset(&e, 0, sizeof(e));
	rc = hub_repo_info(x.w->cfg.hub, &x.c, &ref, NULL, 0, &info, &e);
	if (rc == 0)
		rc = split_tail(&x, &ref, &rev, &path, &e);
	if (rc == 0)
		rc = hub_commits_list(x.w->cfg.hub, &x.c, &ref, rev, COMMITS_PAGE,
		                      cursor && *cursor ? cursor : NULL, &cl, &e);
	if (rc < 0) {
		web_hub_error(&x, rc, &e);
		goto out;
	}
	web_page_begin(&x, http_req_printf(req, "Commits of %s", info.repo.id), NULL);
	repo_header(&x, &info.repo, "commits", rev);
	buf_puts(b, "<div class=\"files\"><div class=\"files-head\">");
	refs_menu(&x, &info.repo, &ref, rev, "commits", NULL);
	web_html(b, "<span class=\"muted\">%lld commits</span></div><ol class=\"commits\">",
	         (long long)cl.total);
	for (size_t i = 0; i < cl.n; i++) {
		const struct hub_commit_info *ci = &cl.items[i];
		web_html(b, "<li><div class=\"title\">%s</div>", ci->title ? ci->title : "");
		if (ci->message && *ci->message)
			web_html(b, "<pre class=\"message\">%s</pre>", ci->message);
		web_html(b, "<div class=\"meta\"><span class=\"author\">%s</span> committed ",
		         ci->author_name ? ci->author_name : "");
		web_put_date(b, ci->date_ms);
		web_html(b, " · <a href=\"%s\"><code>%.7s</code></a>",
		         web_repo_sub(&x, ref.type, info.repo.id, "tree", ci->id, NULL), ci->id);
		web_html(b,
		         " <button type=\"button\" class=\"copy small\" data-copy-text=\"%s\">copy "
		         "sha</button></div></li>",
		         ci->id);
	}
	buf_puts(b, "</ol>");
	if (cl.next_cursor) {
		struct buf nb = BUF_INIT;
		buf_puts(&nb, web_repo_sub(&x, ref.type, info.repo.id, "commits", rev, NULL));
		buf_puts(&nb, "?cursor=");
		web_url_enc(&nb, cl.next_cursor, 0);
		web_html(b,
		         "<nav class=\"pager\"><a rel=\"next\" href=\"%s\">Older &raquo;</a></nav>",
		         nb.data);
		buf_release(&nb);
	}
	buf_puts(b, "</div>");
	web_page_end(&x, 200, NULL, 0);
out:
	hub_commit_list_release(&cl);
	hub_repo_info_release(&info);
	web_ctx_end(&x);
}

/* ---- the API page ------------------------------------------------------------------------- */

void web_repo_api(struct http_req *req)
{
	struct web_ctx x;
	struct hub_repo_ref ref;
	struct hub_repo_info info;
	struct hub_err e;
	const char *pub;
	const char *auth;
	struct buf s = BUF_INIT, *b;
	int rc;

	web_ctx_begin(&x, req);
	b = &x.out;
	pub = x.u->public_url;
	repo_ref(&x, &ref);
	memset(&info, 0, sizeof(info));
	memset(&e, 0, sizeof(e));
	rc = hub_repo_info(x.w->cfg.hub, &x.c, &ref, NULL, 1, &info, &e);
	if (rc < 0) {
		web_hub_error(&x, rc, &e);
		goto out;
	}
	{
		const struct hub_repo *r = &info.repo;
		const char *sha = info.rev_sha[0] ? info.rev_sha : "main";
		const char *plural = hub_repo_type_plural(r->type);
		const char *prefix = hub_repo_type_prefix(r->type);
		struct buf id = BUF_INIT;

		web_url_enc(&id, r->id, 1);
		auth = r->is_private ? " \\\n  -H \"Authorization: Bearer $HF_TOKEN\"" : "";
		web_page_begin(&x, http_req_printf(req, "API of %s", r->id), NULL);
		repo_header(&x, r, "api", NULL);
		web_html(b,
		         "<section class=\"api\"><p>Every request below is pinned to commit "
		         "<code>%s</code> (the head of <code>main</code> now), so it returns the "
		         "same bytes tomorrow.%s</p>",
		         sha,
		         r->is_private ? " This repository is private: send a token with read "
		                         "access."
		                       : "");
		buf_printf(&s, "curl %s/api/%s/%s/revision/%s%s", pub, plural, id.data, sha, auth);
		snippet(&x, "Repository info", s.data);
		buf_reset(&s);
		buf_printf(&s, "curl \"%s/api/%s/%s/tree/%s?recursive=true\"%s", pub, plural,
		           id.data, sha, auth);
		snippet(&x, "List files", s.data);
		buf_reset(&s);
		for (size_t i = 0, shown = 0; i < info.n_siblings && shown < 50; i++) {
			const struct hub_tree_entry *te = &info.siblings[i];
			struct buf p = BUF_INIT;
			if (te->is_dir)
				continue;
			web_url_enc(&p, te->path, 1);
			buf_printf(&s, "%scurl -L -o '%s' %s/%s%s/resolve/%s/%s%s\n",
			           shown ? "" : "", te->path, pub, prefix, id.data, sha, p.data,
			           auth);
			buf_release(&p);
			shown++;
		}
		if (s.len)
			snippet(&x, "Download each file", s.data);
		buf_reset(&s);
		buf_printf(&s, "git clone %s/%s%s\ncd %s\ngit checkout %s", pub, prefix, id.data,
		           r->name, sha);
		snippet(&x, "git", s.data);
		buf_reset(&s);
		buf_printf(&s,
		           "import { downloadFile } from \"@huggingface/hub\";\n\n"
		           "const blob = await downloadFile({\n"
		           "  repo: { type: \"%s\", name: \"%s\" },\n"
		           "  path: \"README.md\",\n"
		           "  revision: \"%s\",\n"
		           "  hubUrl: \"%s\",%s\n});",
		           hub_repo_type_name(r->type), r->id, sha, pub,
		           r->is_private ? "\n  accessToken: process.env.HF_TOKEN," : "");
		snippet(&x, "JavaScript", s.data);
		buf_reset(&s);
		if (r->type == HUB_REPO_MODEL) {
			buf_printf(
			        &s,
			        "curl %s/v1/chat/completions \\\n"
			        "  -H \"Authorization: Bearer $HF_TOKEN\" \\\n"
			        "  -H \"Content-Type: application/json\" \\\n"
			        "  -d '{\"model\": \"%s@%s\", \"messages\": [{\"role\": \"user\", "
			        "\"content\": \"Hello!\"}], \"max_tokens\": 64}'",
			        pub, r->id, sha);
			snippet(&x, "Chat completion (OpenAI API), this commit", s.data);
		}
		buf_puts(b, "</section>");
		buf_release(&id);
		web_page_end(&x, 200, NULL, 0);
	}
out:
	buf_release(&s);
	hub_repo_info_release(&info);
	web_ctx_end(&x);
}

/* ---- settings of one repo -------------------------------------------------------------- */

void web_repo_settings(struct http_req *req)
{
	struct web_ctx x;
	struct hub_repo_ref ref;
	struct hub_repo_info info;
	struct hub_err e;
	const char *msg = NULL;
	struct buf *b;
	int rc;

	web_ctx_begin(&x, req);
	b = &x.out;
	repo_ref(&x, &ref);
	memset(&info, 0, sizeof(info));
	memset(&e, 0, sizeof(e));
	if (!x.signed_in) {
		web_redirect(&x, http_req_printf(req, "/login?next=%s", http_req_path(req)));
		goto out;
	}
	if (http_req_method(req) == HTTP_POST) {
		const char *action;
		if (web_check_post(&x) < 0)
			goto out;
		action = web_form(&x, "action");
		if (action && !strcmp(action, "visibility")) {
			const char *v = web_form(&x, "visibility");
			int priv = v && !strcmp(v, "private")  ? 1
			           : v && !strcmp(v, "public") ? 0
			                                       : -1;
			if (priv < 0) {
				web_error_page(&x, 400, "Bad request", "Pick public or private.");
				goto out;
			}
			rc = hub_repo_settings(x.w->cfg.hub, &x.c, &ref, priv, -1, &e);
			if (rc < 0) {
				web_hub_error(&x, rc, &e);
				goto out;
			}
			msg = priv ? "The repository is now private."
			           : "The repository is now public.";
		} else if (action && !strcmp(action, "delete")) {
			const char *confirm = web_form(&x, "confirm");
			char *want = http_req_printf(req, "%s/%s", ref.ns, ref.name);
			if (!confirm || strcasecmp(confirm, want) != 0) {
				web_error_page(
				        &x, 400, "Not deleted",
				        "Type the full name of the repository to delete it.");
				goto out;
			}
			rc = hub_repo_delete(x.w->cfg.hub, &x.c, &ref, &e);
			if (rc < 0) {
				web_hub_error(&x, rc, &e);
				goto out;
			}
			web_redirect(&x, "/settings/repos");
			goto out;
		} else {
			web_error_page(&x, 400, "Bad request", "Unknown action.");
			goto out;
		}
	}
	rc = hub_repo_info(x.w->cfg.hub, &x.c, &ref, NULL, 0, &info, &e);
	if (rc < 0) {
		web_hub_error(&x, rc, &e);
		goto out;
	}
	web_page_begin(&x, http_req_printf(req, "Settings of %s", info.repo.id), NULL);
	repo_header(&x, &info.repo, "settings", NULL);
	buf_puts(b, "<section class=\"settings\">");
	if (msg)
		web_html(b, "<p class=\"notice\">%s</p>", msg);
	web_html(b, "<h2>Visibility</h2><p>This repository is <strong>%s</strong>.</p>",
	         info.repo.is_private ? "private" : "public");
	web_html(b, "<form method=\"post\" action=\"%s\">",
	         web_repo_sub(&x, ref.type, info.repo.id, "settings", NULL, NULL));
	web_put_csrf(&x);
	web_html(b,
	         "<input type=\"hidden\" name=\"action\" value=\"visibility\">"
	         "<input type=\"hidden\" name=\"visibility\" value=\"%s\">"
	         "<button type=\"submit\">Make %s</button></form>",
	         info.repo.is_private ? "public" : "private",
	         info.repo.is_private ? "public" : "private");
	web_html(b,
	         "<h2 class=\"danger\">Delete this repository</h2><p>This cannot be undone. Type "
	         "<code>%s</code> to confirm.</p>",
	         info.repo.id);
	web_html(b, "<form method=\"post\" action=\"%s\" class=\"danger\">",
	         web_repo_sub(&x, ref.type, info.repo.id, "settings", NULL, NULL));
	web_put_csrf(&x);
	buf_puts(
	        b,
	        "<input type=\"hidden\" name=\"action\" value=\"delete\">"
	        "<input type=\"text\" name=\"confirm\" autocomplete=\"off\" "
	        "aria-label=\"Repository "
	        "name\"><button type=\"submit\" class=\"danger\">Delete</button></form></section>");
	web_page_end(&x, 200, NULL, 0);
out:
	hub_repo_info_release(&info);
	web_ctx_end(&x);
}

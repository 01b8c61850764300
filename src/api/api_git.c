/*
 * api_git.c: git smart HTTP (HUB-API.md 6), served by git's own
 * `git http-backend` as a CGI program:
 *
 *   GET  {repo}[.git]/info/refs?service=git-upload-pack|git-receive-pack
 *   POST {repo}[.git]/git-upload-pack
 *   POST {repo}[.git]/git-receive-pack
 *
 * where {repo} is /{ns}/{name}, /datasets/{ns}/{name} or /spaces/{ns}/{name}.
 * Access is decided before git runs (hub_git_dir: read for fetches, write
 * for pushes). A caller without credentials who is refused gets a 401 with a
 * Basic challenge (git only sends the token after one), identical for a
 * missing and a private repo; an authenticated caller gets 404 or 403.
 *
 * The request body is spooled to an unnamed temp file first (so git never
 * waits on us while we wait on it), then http-backend runs with a clean
 * environment, that file as stdin and a pipe as stdout; its CGI header block
 * is read here and the rest is streamed to the client. No string from the
 * request reaches git's command line; the few that reach its environment are
 * checked against a fixed set or a strict character class. Every push runs
 * the hub's check as git's pre-receive hook; a server without the hook
 * refuses pushes. After a push the hub re-indexes the repo.
 */
#include "api/api_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CGI_HEAD_MAX (64 * 1024)

struct git_req {
	struct api_ctx *x; /* caller and repo */
	char *dir; /* the bare repo (hub_git_dir; freed at the end) */
	char uid[33];
	const char *service; /* "git-upload-pack" or "git-receive-pack" */
	int info_refs; /* GET info/refs (else a POST of the service) */
	int spool; /* request body, or -1 */
	int64_t spooled;
};

struct git_stream {
	struct api_config *cfg;
	pid_t pid;
	int out; /* CGI stdout */
	char *pending; /* body bytes read along with the header block */
	size_t n_pending, off;
	int push;
	char uid[33];
};

static void git_req_cleanup(void *arg, int completed)
{
	struct git_req *g = arg;
	(void)completed;
	free(g->dir);
	if (g->spool >= 0)
		close(g->spool);
	g->spool = -1;
}

/* Refusals: git clients need a Basic challenge before they send the token,
 * and get the same one for a missing and a private repo. */
static void git_fail(struct http_req *req, const struct auth_caller *c, int rc,
                     const struct hub_err *e)
{
	int status = api_status_of(rc);
	if (rc == HD_EAUTH || (c->user_id == 0 && (status == 404 || status == 403))) {
		http_resp_header(req, "WWW-Authenticate", "Basic realm=\"huddle\"");
		http_respond_error(req, 401, NULL, "Authentication required");
		return;
	}
	api_fail(req, c, rc, e);
}

static int open_spool(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		char *tmpl = xasprintf("%s/git-body-XXXXXX", dir);
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmpl);
		free(tmpl);
	}
	return fd;
}

int api_git_begin(struct http_req *req)
{
	struct api_config *cfg = api_cfg(req);
	struct git_req *g = http_req_alloc(req, sizeof(*g));
	const char *path = http_req_path(req);
	int rc;

	g->spool = -1;
	http_req_defer(req, git_req_cleanup, g);
	http_req_set_ctx(req, g);
	g->x = api_begin(req, 1, 1);
	if (!g->x)
		return HD_EAUTH;
	if (str_ends_with(path, "/info/refs")) {
		const char *svc = http_req_query(req, "service");
		g->info_refs = 1;
		if (!svc || (strcmp(svc, "git-upload-pack") && strcmp(svc, "git-receive-pack"))) {
			http_respond_error(
			        req, 403, NULL,
			        "Only the smart HTTP protocol is supported (service=...)");
			return HD_EUNSUPPORTED;
		}
		g->service =
		        !strcmp(svc, "git-upload-pack") ? "git-upload-pack" : "git-receive-pack";
	} else {
		g->service = str_ends_with(path, "/git-receive-pack") ? "git-receive-pack"
		                                                      : "git-upload-pack";
	}
	rc = hub_git_dir(cfg->hub, &g->x->c, &g->x->ref, !strcmp(g->service, "git-receive-pack"),
	                 &g->dir, g->uid, &g->x->e);
	if (rc < 0) {
		git_fail(req, &g->x->c, rc, &g->x->e);
		return rc;
	}
	if (!strcmp(g->service, "git-receive-pack") && !cfg->hooks_dir) {
		/* No pre-receive hook, so nothing would run the hub's push check:
		 * refuse rather than take an unchecked push. */
		http_respond_error(req, 503, NULL,
		                   "Pushes are disabled on this server (its push check is not "
		                   "installed); use the HTTP API");
		return HD_EUNSUPPORTED;
	}
	if (!g->info_refs) {
		g->spool = open_spool(cfg->tmp_dir);
		if (g->spool < 0) {
			log_error("api: git: cannot create a temp file in %s: %s", cfg->tmp_dir,
			          strerror(errno));
			http_respond_error(req, 500, NULL, "Internal error");
			return -errno;
		}
	}
	return 0;
}

int api_git_body(struct http_req *req, const void *data, size_t n)
{
	struct git_req *g = http_req_ctx(req);
	const char *p = data;
	if (!g || g->spool < 0) {
		http_respond_error(req, 400, NULL, "Unexpected request body");
		return HD_EINVAL;
	}
	if (g->spooled + (int64_t)n > api_cfg(req)->max_push_size) {
		http_respond_error(req, 413, NULL, "Push too large (limit %lld bytes)",
		                   (long long)api_cfg(req)->max_push_size);
		close(g->spool);
		g->spool = -1;
		return HD_ETOOBIG;
	}
	while (n) {
		ssize_t w = write(g->spool, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_error("api: git: spooling the request body: %s", strerror(errno));
			http_respond_error(req, 500, NULL, "Internal error");
			return -EIO;
		}
		p += w;
		n -= (size_t)w;
		g->spooled += w;
	}
	return 0;
}

/* ---- running http-backend ---------------------------------------------------- */

/* Values that may reach git's environment: [A-Za-z0-9._:=+/ ;-] only. */
static int env_safe(const char *s, size_t max)
{
	size_t n = 0;
	for (; *s; s++, n++) {
		unsigned char c = (unsigned char)*s;
		if (n >= max || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		                  (c >= '0' && c <= '9') || strchr("._:=+/ ;-", c)))
			return 0;
	}
	return 1;
}

struct envb {
	char *v[40];
	size_t n;
};

static void env_add(struct envb *e, const char *name, const char *value)
{
	if (e->n + 1 < ARRAY_SIZE(e->v))
		e->v[e->n++] = xasprintf("%s=%s", name, value);
}

static void env_free(struct envb *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
}

static long stream_read(void *ctx, char *buf, size_t max)
{
	struct git_stream *s = ctx;
	ssize_t n;
	if (s->off < s->n_pending) {
		size_t k = HD_MIN(max, s->n_pending - s->off);
		memcpy(buf, s->pending + s->off, k);
		s->off += k;
		return (long)k;
	}
	do
		n = read(s->out, buf, max);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : (long)n;
}

static void stream_done(void *ctx)
{
	struct git_stream *s = ctx;
	int status = 0;
	close(s->out);
	while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		log_warn("api: git http-backend exited with status %d", status);
	if (s->push) {
		struct hub_err e = {{0}, {0}};
		if (hub_git_after_push(s->cfg->hub, s->uid, &e) < 0)
			log_error("api: re-index after push failed: %s", e.msg);
	}
	free(s->pending);
	free(s);
}

/* Reads the CGI header block; the body bytes read with it stay in s. */
static int read_cgi_head(struct git_stream *s, struct buf *head)
{
	for (;;) {
		char tmp[8192];
		ssize_t n = read(s->out, tmp, sizeof(tmp));
		char *end;
		size_t hl;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return HD_EINTERNAL;
		buf_append(head, tmp, (size_t)n);
		end = strstr(head->data, "\r\n\r\n");
		hl = 4;
		if (!end) {
			end = strstr(head->data, "\n\n");
			hl = 2;
		}
		if (end) {
			size_t body_off = (size_t)(end - head->data) + hl;
			s->n_pending = head->len - body_off;
			s->pending = xmalloc(s->n_pending + 1);
			memcpy(s->pending, head->data + body_off, s->n_pending);
			head->len = (size_t)(end - head->data);
			head->data[head->len] = 0;
			return 0;
		}
		if (head->len > CGI_HEAD_MAX || memchr(head->data, 0, head->len))
			return HD_EINTERNAL;
	}
}

void api_git_handle(struct http_req *req)
{
	struct api_config *cfg = api_cfg(req);
	struct git_req *g = http_req_ctx(req);
	struct git_stream *s;
	struct envb env = {{0}, 0};
	struct buf head = BUF_INIT;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	char *root, *base, *path_info, *slash;
	const char *ct = http_req_header(req, "Content-Type");
	const char *ce = http_req_header(req, "Content-Encoding");
	const char *proto = http_req_header(req, "Git-Protocol");
	const char *ctype = "application/octet-stream";
	char *const argv[] = {"git", "http-backend", NULL};
	int pfd[2], in_fd, status = 200, rc;
	pid_t pid;

	if (!g || !g->dir) {
		http_respond_error(req, 500, NULL, "Internal error");
		return;
	}
	root = http_req_strdup(req, g->dir);
	slash = strrchr(root, '/');
	if (!slash || slash == root) {
		http_respond_error(req, 500, NULL, "Internal error");
		return;
	}
	*slash = 0;
	base = slash + 1;
	path_info = g->info_refs ? http_req_printf(req, "/%s/info/refs", base)
	                         : http_req_printf(req, "/%s/%s", base, g->service);

	env_add(&env, "PATH", cfg->git_path);
	env_add(&env, "GATEWAY_INTERFACE", "CGI/1.1");
	env_add(&env, "SERVER_PROTOCOL", "HTTP/1.1");
	env_add(&env, "REQUEST_METHOD", g->info_refs ? "GET" : "POST");
	env_add(&env, "GIT_PROJECT_ROOT", root);
	env_add(&env, "PATH_INFO", path_info);
	env_add(&env, "GIT_HTTP_EXPORT_ALL", "1");
	env_add(&env, "GIT_CONFIG_NOSYSTEM", "1");
	env_add(&env, "GIT_CONFIG_GLOBAL", "/dev/null");
	env_add(&env, "HOME", cfg->tmp_dir);
	env_add(&env, "REMOTE_ADDR", http_req_remote_addr(req));
	if (g->x->c.user_id)
		env_add(&env, "REMOTE_USER", g->x->c.user);
	env_add(&env, "HUDDLE_REPO_UID", g->uid);
	if (cfg->data_dir)
		env_add(&env, "HUDDLE_DATA", cfg->data_dir);
	if (cfg->self_exe)
		env_add(&env, "HUDDLE_BIN", cfg->self_exe);
	/* Our pre-receive hook (the hub's push check), object checks and the
	 * size of the pack git may take (the body can be gzip: its inflated
	 * size is bounded here, not by the spool's cap), set through git's
	 * environment config so no repo needs its own. */
	{
		char max_in[32], count[8];
		const char *conf[][2] = {
		        {"receive.fsckObjects", "true"},
		        {"receive.maxInputSize", max_in},
		        /* a pushed pack and the refs it moves are on disk before
		         * the push is acknowledged, as the API's commits are */
		        {"core.fsync", "committed"},
		        {"core.fsyncMethod", "fsync"},
		        {"core.hooksPath", cfg->hooks_dir},
		};
		size_t n_conf = cfg->hooks_dir ? 5 : 4;
		snprintf(max_in, sizeof(max_in), "%lld", (long long)cfg->max_push_size);
		for (size_t i = 0; i < n_conf; i++) {
			char k[32], v[32];
			snprintf(k, sizeof(k), "GIT_CONFIG_KEY_%zu", i);
			snprintf(v, sizeof(v), "GIT_CONFIG_VALUE_%zu", i);
			env_add(&env, k, conf[i][0]);
			env_add(&env, v, conf[i][1]);
		}
		snprintf(count, sizeof(count), "%zu", n_conf);
		env_add(&env, "GIT_CONFIG_COUNT", count);
	}
	if (g->info_refs) {
		env_add(&env, "QUERY_STRING",
		        !strcmp(g->service, "git-upload-pack") ? "service=git-upload-pack"
		                                               : "service=git-receive-pack");
	} else {
		char len[32];
		snprintf(len, sizeof(len), "%lld", (long long)g->spooled);
		env_add(&env, "QUERY_STRING", "");
		env_add(&env, "CONTENT_LENGTH", len);
		if (ct && env_safe(ct, 200))
			env_add(&env, "CONTENT_TYPE", ct);
		if (ce && (!strcasecmp(ce, "gzip") || !strcasecmp(ce, "x-gzip")))
			env_add(&env, "HTTP_CONTENT_ENCODING", "gzip");
	}
	if (proto && env_safe(proto, 200))
		env_add(&env, "HTTP_GIT_PROTOCOL", proto);
	env.v[env.n] = NULL;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		env_free(&env);
		http_respond_error(req, 500, NULL, "Internal error");
		return;
	}
	if (g->spool >= 0) {
		in_fd = g->spool;
		lseek(in_fd, 0, SEEK_SET);
	} else {
		in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	/* The server blocks SIGTERM/SIGINT and ignores SIGPIPE; git gets the
	 * usual defaults back. */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, "git", &fa, &attr, argv, env.v);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	env_free(&env);
	close(pfd[1]);
	if (g->spool < 0 && in_fd >= 0)
		close(in_fd);
	if (rc != 0) {
		close(pfd[0]);
		log_error("api: cannot run git http-backend: %s", strerror(rc));
		http_respond_error(req, 500, NULL, "Internal error");
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->cfg = cfg;
	s->pid = pid;
	s->out = pfd[0];
	s->push = !g->info_refs && !strcmp(g->service, "git-receive-pack");
	memcpy(s->uid, g->uid, sizeof(s->uid));
	if (read_cgi_head(s, &head) < 0) {
		log_error("api: git http-backend gave no CGI header");
		buf_release(&head);
		stream_done(s);
		http_respond_error(req, 500, NULL, "Internal error");
		return;
	}
	/* The CGI header block: Status, Content-Type and cache headers. */
	for (char *line = head.data, *next; line && *line; line = next) {
		char *colon, *v;
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		if (*line && line[strlen(line) - 1] == '\r')
			line[strlen(line) - 1] = 0;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = 0;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (!strcasecmp(line, "Status"))
			status = atoi(v) >= 100 && atoi(v) < 600 ? atoi(v) : 500;
		else if (!strcasecmp(line, "Content-Type"))
			ctype = http_req_strdup(req, v);
		else if (!strcasecmp(line, "Cache-Control") || !strcasecmp(line, "Expires") ||
		         !strcasecmp(line, "Pragma"))
			http_resp_header(req, line, v);
	}
	buf_release(&head);
	http_respond_stream(req, status, ctype, HTTP_SIZE_UNKNOWN, stream_read, stream_done, s);
}

int api_git_hooks_install(const char *dir)
{
	static const char script[] =
	        "#!/bin/sh\n"
	        "# Written by huddle serve: the hub's check of a push (paths, sizes, LFS\n"
	        "# objects) before git updates any ref.\n"
	        "exec \"$HUDDLE_BIN\" git-hook pre-receive \"$HUDDLE_REPO_UID\" --data "
	        "\"$HUDDLE_DATA\"\n";
	char *path;
	int rc = fs_mkdir_p(dir, 0755);
	if (rc < 0)
		return rc;
	path = xasprintf("%s/pre-receive", dir);
	rc = fs_write_atomic(path, script, sizeof(script) - 1);
	if (rc == 0 && chmod(path, 0755) < 0)
		rc = -errno;
	free(path);
	return rc;
}

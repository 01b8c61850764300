/*
 * cmd_serve.c: `huddle serve`: opens the hub on the data dir, starts the HTTP
 * server with the API routes, prints exactly one line
 * "huddle listening on http://HOST:PORT" once it accepts connections, and
 * runs until SIGTERM or SIGINT. Shutdown stops accepting, closes every
 * connection (an upload cut off there never publishes: objects only appear
 * by an atomic rename after verification), closes the hub and exits 0.
 *
 * Flags (tests rely on these names):
 *   --host ADDR                  bind address (default 127.0.0.1)
 *   --port N                     port (default 8080; 0 picks a free one)
 *   --public-url URL             base of every URL sent (default http://HOST:PORT)
 *   --lfs-multipart-threshold B  LFS objects of at least B bytes upload in parts
 *                                (default 64 MiB)
 *   --lfs-chunk-size B           part size of multipart uploads (default 16 MiB)
 *   --tree-page-size N           entries per tree page (default 1000)
 *   --list-page-size N           repos per listing page; also the largest page a
 *                                `limit` can ask for (default 1000)
 *   --max-body B                 cap of buffered JSON/NDJSON bodies (default 64 MiB)
 *   --max-connections N          simultaneous connections (default 512)
 *   --timeout S                  idle connection timeout in seconds (default 60)
 * The inference service's options (--model, --threads, --ctx, --parallel,
 * --kv-budget-mb, --allow-anonymous-inference, ...) are parsed by
 * serve_config_flag (src/serve/serve.h), which also lists them for --help;
 * its routes (/v1/..., /tokenize, /health, /metrics) go before the web UI's.
 */
#include "cmd/cmd.h"
#include "api/api.h"
#include "core/core.h"
#include "http/http.h"
#include "hub/hub.h"
#include "serve/serve.h"
#include "web/web.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_size(const char *name, const char *v, int64_t min, int64_t *out)
{
	if (str_to_i64(v, out) < 0 || *out < min) {
		fprintf(stderr, "huddle serve: %s needs an integer >= %lld, not '%s'\n", name,
		        (long long)min, v);
		return -1;
	}
	return 0;
}

int cmd_serve(const struct cmd_env *env, int argc, char **argv)
{
	struct http_server_opts opts;
	struct api_config api;
	struct hub_config hcfg;
	struct hub_err herr = {{0}, {0}};
	struct hub *hub = NULL;
	struct http_server *srv;
	const char *public_url = NULL;
	char *pub = NULL, *tmp_dir, *hooks_dir, *data_abs, exe[PATH_MAX], err[256];
	int64_t v;
	sigset_t sigs;
	int sig = 0, rc, hooks_ok;
	ssize_t el;
	const struct http_route *routes;
	size_t n_routes;
	struct web *web;
	/* static: what it holds stays reachable when a bad option returns early */
	static struct serve_config scfg;
	struct serve *inference = NULL;

	http_server_opts_init(&opts);
	api_config_init(&api);
	hub_config_init(&hcfg);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: huddle serve [--data DIR] [--host ADDR] [--port N] "
			       "[--public-url URL]\n"
			       "  [--lfs-multipart-threshold BYTES] [--lfs-chunk-size BYTES]\n"
			       "  [--tree-page-size N] [--list-page-size N] [--max-body BYTES]\n"
			       "  [--max-connections N] [--timeout SECONDS]\n%s",
			       serve_flags_help());
			return 0;
		}
	}
	serve_config_init(&scfg);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const char *eq = strchr(a, '=');
		char name[64];
		if (strncmp(a, "--", 2))
			return cmd_usage("serve", "unexpected argument '%s'", a);
		if (eq) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
			val = eq + 1;
		} else if (serve_flag_is_bool(a)) {
			snprintf(name, sizeof(name), "%s", a);
		} else {
			snprintf(name, sizeof(name), "%s", a);
			if (i + 1 >= argc)
				return cmd_usage("serve", "%s needs a value", a);
			val = argv[++i];
		}
		if (!strcmp(name, "--host")) {
			opts.host = val;
		} else if (!strcmp(name, "--port")) {
			if (parse_size(name, val, 0, &v) < 0 || v > 65535)
				return cmd_usage("serve", "--port must be 0..65535");
			opts.port = (int)v;
		} else if (!strcmp(name, "--public-url")) {
			public_url = val;
		} else if (!strcmp(name, "--lfs-multipart-threshold")) {
			if (parse_size(name, val, 1, &hcfg.multipart_threshold) < 0)
				return 2;
		} else if (!strcmp(name, "--lfs-chunk-size")) {
			if (parse_size(name, val, 1, &hcfg.multipart_chunk) < 0)
				return 2;
		} else if (!strcmp(name, "--tree-page-size")) {
			if (parse_size(name, val, 1, &v) < 0)
				return 2;
			api.tree_page_size = (size_t)v;
		} else if (!strcmp(name, "--list-page-size")) {
			if (parse_size(name, val, 1, &v) < 0)
				return 2;
			api.list_page_size = (size_t)v;
		} else if (!strcmp(name, "--max-body")) {
			if (parse_size(name, val, 1, &v) < 0)
				return 2;
			opts.max_body = (size_t)v;
		} else if (!strcmp(name, "--max-connections")) {
			if (parse_size(name, val, 1, &v) < 0 || v > 100000)
				return 2;
			opts.conn_limit = (unsigned)v;
		} else if (!strcmp(name, "--timeout")) {
			if (parse_size(name, val, 1, &v) < 0 || v > 86400)
				return 2;
			opts.timeout_s = (unsigned)v;
		} else {
			/* the inference service's options */
			int takes_value, r = serve_config_flag(&scfg, name, val, &takes_value, err,
			                                       sizeof(err));
			if (r < 0 || r == 0) {
				serve_config_release(&scfg);
				return r < 0 ? cmd_usage("serve", "%s", err)
				             : cmd_usage("serve", "unknown option '%s'", name);
			}
		}
	}
	if (public_url && !str_starts_with(public_url, "http://") &&
	    !str_starts_with(public_url, "https://"))
		return cmd_usage("serve", "--public-url must start with http:// or https://");

	/* Block the shutdown signals in every thread (the server's threads
	 * inherit the mask); this thread waits for them with sigwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Every connection holds a socket and, while it works, a database
	 * connection (3 descriptors) and git's pack files: the usual soft limit
	 * of 1024 descriptors runs out long before --max-connections. */
	{
		struct rlimit rl;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				log_warn("serve: cannot raise the descriptor limit: %s",
				         strerror(errno));
		}
	}

	if (hub_open(env->data_dir, &hcfg, &hub, &herr) < 0)
		return cmd_fail("serve", "cannot open the data dir %s: %s", env->data_dir,
		                herr.msg);
	/* git hooks run in the repo's dir: hand them absolute paths. */
	data_abs = realpath(env->data_dir, NULL);
	if (!data_abs)
		data_abs = xstrdup(env->data_dir);
	tmp_dir = xasprintf("%s/tmp", data_abs);
	hooks_dir = xasprintf("%s/git-hooks", data_abs);
	fs_mkdir_p(tmp_dir, 0700);
	el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[el > 0 ? el : 0] = 0;
	/* Without the pre-receive hook (the hub's push check) git would take
	 * any push: then pushes are refused instead. */
	rc = el > 0 ? api_git_hooks_install(hooks_dir) : HD_EUNSUPPORTED;
	hooks_ok = rc == 0;
	if (!hooks_ok)
		log_error("serve: cannot write the git hooks in %s (%s): git pushes are refused",
		          hooks_dir, el > 0 ? hd_strerror(rc) : "this binary's path is unknown");

	/* the inference service (its models load now; a bad --model stops here) */
	rc = serve_new(&scfg, hub, &inference, err, sizeof(err));
	serve_config_release(&scfg);
	if (rc < 0) {
		hub_close(hub);
		free(tmp_dir);
		free(hooks_dir);
		free(data_abs);
		return cmd_fail("serve", "%s", err);
	}

	api.hub = hub;
	api.tmp_dir = tmp_dir;
	api.data_dir = data_abs;
	api.self_exe = el > 0 ? exe : NULL;
	api.hooks_dir = hooks_ok ? hooks_dir : NULL;
	opts.app = &api;
	srv = http_server_new(&opts);
	routes = api_routes(&n_routes);
	http_server_add_routes(srv, routes, n_routes);
	routes = serve_routes(inference, &n_routes); /* /v1, before the UI's catch-alls */
	http_server_add_routes(srv, routes, n_routes);
	web = web_attach(srv, hub); /* the browser UI at /, after the API's routes */
	rc = http_server_start(srv, err, sizeof(err));
	if (rc < 0) {
		http_server_free(srv);
		serve_free(inference);
		web_free(web);
		hub_close(hub);
		free(tmp_dir);
		free(hooks_dir);
		free(data_abs);
		return cmd_fail("serve", "%s", err);
	}
	if (public_url) {
		pub = xstrdup(public_url);
		while (*pub && pub[strlen(pub) - 1] == '/')
			pub[strlen(pub) - 1] = 0;
	} else {
		pub = xasprintf(strchr(opts.host, ':') ? "http://[%s]:%d" : "http://%s:%d",
		                opts.host, http_server_port(srv));
	}
	api.public_url = pub;
	if (!public_url && (!strcmp(opts.host, "0.0.0.0") || !strcmp(opts.host, "::")))
		log_warn(
		        "serve: listening on every address: pass --public-url with the URL clients "
		        "use, the URLs sent now start with %s",
		        pub);
	web_listening(web, pub, opts.host, http_server_port(srv));
	/* The one line tests and scripts wait for. */
	printf(strchr(opts.host, ':') ? "huddle listening on http://[%s]:%d\n"
	                              : "huddle listening on http://%s:%d\n",
	       opts.host, http_server_port(srv));
	fflush(stdout);
	log_info("serve: data %s, public URL %s", env->data_dir, pub);

	while (sigwait(&sigs, &sig) != 0)
		;
	log_info("serve: signal %d, shutting down", sig);
	serve_shutdown(inference); /* generations in flight end (503) */
	http_server_free(srv);
	serve_free(inference);
	web_free(web);
	hub_close(hub);
	free(pub);
	free(tmp_dir);
	free(hooks_dir);
	free(data_abs);
	log_info("serve: stopped");
	return 0;
}

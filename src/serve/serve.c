/*
 * serve.c: the service's handle. Options and their automatic defaults,
 * start (the scheduler thread, the models named on the command line) and
 * stop, and the chat-prompt helpers shared with `huddle run`.
 *
 * Zero configuration: threads = the CPUs the process may run on (its
 * affinity mask); per model, the context is the trained one up to 4096
 * positions, and the parallel sequences are as many full-context KV caches
 * as the KV budget (a quarter of RAM, at most 8 GiB) holds, at most 16. The
 * memory budget for all loaded models is three quarters of RAM. "RAM" is
 * the machine's, or a container's cgroup limit when lower. Every choice is
 * logged at start, and per model when it loads.
 */
#include "serve/serve_int.h"

#include "auth/auth.h"
#include "hub/hub.h"
#include "infer/jinja.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- options ------------------------------------------------------------------------ */

void serve_config_init(struct serve_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->prefill_chunk = 64;
	cfg->max_queue = 64;
	cfg->max_per_caller = 32;
}

void serve_config_release(struct serve_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_models; i++)
		free(cfg->models[i]);
	free(cfg->models);
	cfg->models = NULL;
	cfg->n_models = 0;
}

const char *serve_flags_help(void)
{
	return "inference (OpenAI-compatible /v1 API):\n"
	       "  --model PATH|NAME=PATH|REPO[@REV][:QUANT]  serve a GGUF file (as NAME, or\n"
	       "                                its file name without .gguf) or preload a hub\n"
	       "                                repo; repeatable. Hub repos with a GGUF are\n"
	       "                                served on first use without this.\n"
	       "  --threads N                   threads of the engine (default: usable CPUs)\n"
	       "  --ctx N                       context per sequence (default: trained, <= 4096)\n"
	       "  --parallel N                  sequences decoded together per model (default:\n"
	       "                                what the KV budget holds, <= 16)\n"
	       "  --kv-budget-mb N              KV cache per model (default: RAM/4, <= 8192)\n"
	       "  --mem-budget-mb N             all loaded models; least recently used ones\n"
	       "                                are evicted beyond it (default: 3/4 of RAM)\n"
	       "  --prefill-chunk N             prompt tokens per step beside decoding (64)\n"
	       "  --max-queue N                 waiting requests per model, then 429 (64)\n"
	       "  --max-requests-per-caller N   unfinished requests per caller, then 429 (32)\n"
	       "  --max-tokens-limit N          largest max_tokens accepted (default: context)\n"
	       "  --allow-anonymous-inference   let callers without a token use public models\n"
	       "Chat completions use the GGUF's tokenizer.chat_template; a model without one is\n"
	       "prompted in ChatML (`huddle chat-template --print-default` shows it).\n";
}

int serve_flag_is_bool(const char *name)
{
	return !strcmp(name, "--allow-anonymous-inference");
}

static int int_opt(const char *name, const char *val, int64_t lo, int64_t hi, int64_t *out,
                   char *err, size_t err_size)
{
	if (!val || str_to_i64(val, out) || *out < lo || *out > hi)
		return hd_fail(err, err_size, HD_EINVAL, "%s needs an integer in [%lld, %lld]",
		               name, (long long)lo, (long long)hi);
	return 0;
}

int serve_config_flag(struct serve_config *cfg, const char *name, const char *val, int *takes_value,
                      char *err, size_t err_size)
{
	static const struct {
		const char *name;
		int64_t lo, hi;
	} ints[] = {
	        {"--threads", 1, 256},
	        {"--ctx", 16, 1 << 24},
	        {"--parallel", 1, 256},
	        {"--kv-budget-mb", 1, (int64_t)1 << 24},
	        {"--mem-budget-mb", 1, (int64_t)1 << 24},
	        {"--prefill-chunk", 1, 4096},
	        {"--max-queue", 0, 1 << 20},
	        {"--max-requests-per-caller", 1, 1 << 20},
	        {"--max-tokens-limit", 1, 1 << 24},
	};
	int64_t v;
	int rc;

	*takes_value = 0;
	if (serve_flag_is_bool(name)) {
		cfg->allow_anonymous = 1;
		return 1;
	}
	if (!strcmp(name, "--model")) {
		*takes_value = 1;
		if (!val || !*val)
			return hd_fail(err, err_size, HD_EINVAL,
			               "--model needs a file or a repo id");
		cfg->models = xrealloc(cfg->models, (cfg->n_models + 1) * sizeof(char *));
		cfg->models[cfg->n_models++] = xstrdup(val);
		return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
		if (strcmp(name, ints[i].name))
			continue;
		*takes_value = 1;
		if ((rc = int_opt(name, val, ints[i].lo, ints[i].hi, &v, err, err_size)))
			return rc;
		switch (i) {
		case 0: cfg->n_threads = (int)v; break;
		case 1: cfg->n_ctx = (int32_t)v; break;
		case 2: cfg->n_parallel = (int)v; break;
		case 3: cfg->kv_budget_mb = v; break;
		case 4: cfg->mem_budget_mb = v; break;
		case 5: cfg->prefill_chunk = (int32_t)v; break;
		case 6: cfg->max_queue = (int)v; break;
		case 7: cfg->max_per_caller = (int)v; break;
		default: cfg->max_tokens = (int32_t)v; break;
		}
		return 1;
	}
	return 0;
}

/* ---- chat prompts ---------------------------------------------------------------------- */

int serve_chat_template_new(const struct infer_model *m, struct jinja_template **out, char *err,
                            size_t err_size)
{
	struct gguf_str t;
	*out = NULL;
	if (gguf_get_str(infer_model_gguf(m), "tokenizer.chat_template", &t) == 0)
		*out = jinja_template_new(t.data, (size_t)t.len, err, err_size);
	else
		*out = jinja_template_new(jinja_chatml_template, strlen(jinja_chatml_template), err,
		                          err_size);
	return *out ? 0 : HD_EINVAL;
}

static json_t *token_json(const struct tok *t, int32_t id)
{
	const char *s = id >= 0 ? tok_text(t, id) : NULL;
	if (!s || !utf8_valid(s, strlen(s)))
		return json_string("");
	return json_string(s);
}

int serve_chat_render(const struct infer_model *m, const struct jinja_template *tpl,
                      const void *messages_json, int add_generation_prompt, struct buf *out,
                      char *err, size_t err_size)
{
	const struct tok *t = infer_model_tok(m);
	json_t *ctx = json_object();
	json_object_set(ctx, "messages", (json_t *)messages_json);
	json_object_set_new(ctx, "add_generation_prompt", json_boolean(add_generation_prompt));
	json_object_set_new(ctx, "bos_token", token_json(t, tok_bos(t)));
	json_object_set_new(ctx, "eos_token", token_json(t, tok_eos(t)));
	int rc = jinja_render(tpl, ctx, NULL, out, err, err_size);
	json_decref(ctx);
	return rc;
}

int serve_chat_tokenize(const struct infer_model *m, const char *text, size_t len, int32_t **ids,
                        size_t *n)
{
	const struct tok *t = infer_model_tok(m);
	size_t cap = 0;
	int flags = TOK_PARSE_SPECIAL;
	*ids = NULL;
	*n = 0;
	if (tok_add_bos_default(t) && tok_bos(t) >= 0) {
		const char *b = tok_text(t, tok_bos(t));
		size_t bl = b ? strlen(b) : 0;
		/* templates usually write the BOS text themselves: never twice */
		if (!bl || len < bl || memcmp(text, b, bl))
			flags |= TOK_ADD_BOS;
	}
	return tok_encode(t, text, len, flags, ids, n, &cap);
}

/* ---- start and stop ---------------------------------------------------------------------- */

/* A cgroup's memory limit (v2 memory.max, else v1 limit_in_bytes), or -1. */
static int64_t cgroup_mem_limit(void)
{
	static const char *const files[] = {"/sys/fs/cgroup/memory.max",
	                                    "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char line[64];
		int64_t v;
		FILE *f = fopen(files[i], "re");
		if (!f)
			continue;
		char *got = fgets(line, sizeof(line), f);
		fclose(f);
		if (!got)
			continue;
		line[strcspn(line, "\n")] = 0;
		if (str_to_i64(line, &v) == 0 && v > 0)
			return v;
	}
	return -1;
}

/* The memory this process may use: the RAM, or less when a cgroup (a
 * container) limits it. */
static int64_t ram_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	int64_t ram = pages > 0 && size > 0 ? (int64_t)pages * size : (int64_t)8 << 30;
	int64_t lim = cgroup_mem_limit();
	return lim > 0 && lim < ram ? lim : ram;
}

/* The CPUs this process may run on (its affinity mask: taskset, a cpuset),
 * else the online ones. */
static int cpu_count(void)
{
	cpu_set_t set;
	long n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n < 1)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

/* "dir/TinyLlama.Q4_K_M.gguf" -> "TinyLlama.Q4_K_M" */
static char *file_model_name(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	size_t n = strlen(b);
	if (n > 5 && !strcasecmp(b + n - 5, ".gguf"))
		n -= 5;
	return xstrndup(b, n);
}

static int preload(struct serve *s, const char *spec, char *err, size_t err_size)
{
	const char *eq = strchr(spec, '=');
	struct serve_err e;
	struct stat st;
	char *name = NULL;
	int rc;

	memset(&e, 0, sizeof(e));
	if (eq && eq > spec && !memchr(spec, '/', (size_t)(eq - spec))) {
		name = xstrndup(spec, (size_t)(eq - spec));
		rc = serve_model_load_file(s, name, eq + 1, &e);
	} else if (stat(spec, &st) == 0) {
		name = file_model_name(spec);
		rc = serve_model_load_file(s, name, spec, &e);
	} else {
		struct serve_model_id mid;
		struct serve_model *m = NULL;
		struct auth_caller sys;
		if (!s->hub || serve_model_id_parse(spec, &mid))
			return hd_fail(err, err_size, HD_ENOTFOUND,
			               "--model %s: no such file, and not a repo id", spec);
		/* the operator asked for it: preload with read access to every repo;
		 * requests are still checked for their own caller */
		auth_caller_init_anonymous(&sys);
		sys.user_id = -1;
		sys.is_admin = 1;
		sys.token_role = AUTH_ROLE_READ;
		rc = serve_model_get(s, &sys, spec, &m, &e);
		serve_model_put(s, m);
		if (rc)
			return hd_fail(err, err_size, rc, "--model %s: %s", spec, e.msg);
		return 0;
	}
	free(name);
	if (rc)
		return hd_fail(err, err_size, rc, "--model %s: %s", spec, e.msg);
	return 0;
}

int serve_new(const struct serve_config *cfg, struct hub *hub, struct serve **out, char *err,
              size_t err_size)
{
	struct serve *s = xcalloc(1, sizeof(*s));
	int rc;

	s->cfg = *cfg;
	s->cfg.models = NULL;
	s->cfg.n_models = 0;
	s->hub = hub;
	s->n_threads = cfg->n_threads > 0 ? cfg->n_threads : cpu_count();
	const int64_t ram = ram_bytes();
	s->kv_budget =
	        cfg->kv_budget_mb > 0 ? cfg->kv_budget_mb << 20 : HD_MIN(ram / 4, (int64_t)8 << 30);
	s->mem_budget = cfg->mem_budget_mb > 0 ? cfg->mem_budget_mb << 20 : ram / 4 * 3;
	s->started = time_now_ms() / 1000;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->work_cv, NULL);
	pthread_cond_init(&s->load_cv, NULL);
	serve_routes_init(s);
	log_info("serve: inference with %d threads, KV budget %.0f MiB per model, memory budget "
	         "%.0f MiB, queue %d per model, %d requests per caller, anonymous inference %s",
	         s->n_threads, (double)s->kv_budget / 1048576.0, (double)s->mem_budget / 1048576.0,
	         s->cfg.max_queue, s->cfg.max_per_caller, cfg->allow_anonymous ? "on" : "off");
	if ((rc = serve_sched_start(s, err, err_size))) {
		serve_free(s);
		return rc;
	}
	for (size_t i = 0; i < cfg->n_models; i++) {
		if ((rc = preload(s, cfg->models[i], err, err_size))) {
			serve_free(s);
			return rc;
		}
	}
	*out = s;
	return 0;
}

void serve_shutdown(struct serve *s)
{
	if (s)
		serve_sched_stop(s);
}

void serve_free(struct serve *s)
{
	if (!s)
		return;
	serve_sched_stop(s);
	serve_registry_free(s);
	free(s->callers);
	free(s->routes);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->load_cv);
	free(s);
}

const struct http_route *serve_routes(struct serve *s, size_t *n)
{
	*n = s->n_routes;
	return s->routes;
}

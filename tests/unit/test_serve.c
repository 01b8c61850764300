/*
 * test_serve.c: the inference service without HTTP. The request parser
 * (fields, ranges, limits), model ids, the GGUF choice by quant tag, the
 * streaming text helpers, and the scheduler on a real (generated) model:
 * a request gives the same tokens alone or batched with others (greedy and
 * seeded), echo log-probabilities equal the engine's, the prefix cache
 * changes nothing but the work, cancel frees the slot, a full queue refuses.
 */
#include "test.h"

#include "infer/jinja.h"
#include "serve/serve_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* ---- the parser ---------------------------------------------------------------------- */

static int parse(enum serve_kind k, const char *body, struct serve_params *p, struct serve_err *e)
{
	memset(e, 0, sizeof(*e));
	return serve_params_parse(k, body, strlen(body), p, e);
}

static void expect_bad(enum serve_kind k, const char *body, const char *param)
{
	struct serve_params p;
	struct serve_err e;
	int rc = parse(k, body, &p, &e);
	CHECK(rc != 0);
	CHECK_EQ_INT(e.status, 400);
	if (param)
		CHECK_EQ_STR(e.param, param);
	CHECK(e.msg[0] != 0);
	serve_params_release(&p);
}

static void test_parse_chat(void)
{
	struct serve_params p;
	struct serve_err e;
	CHECK_EQ_INT(
	        parse(SERVE_CHAT,
	              "{\"model\":\"a/b\",\"messages\":[{\"role\":\"developer\",\"content\":\"S\"},"
	              "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"x\"},{"
	              "\"type\":\"text\",\"text\":\"y\"}]},{\"role\":\"assistant\",\"content\":"
	              "null}],\"temperature\":0,\"top_p\":0.5,\"max_completion_tokens\":7,"
	              "\"max_tokens\":99,\"stop\":\"END\",\"seed\":5,\"stream\":true,"
	              "\"stream_options\":{\"include_usage\":true},\"logprobs\":true,"
	              "\"top_logprobs\":3,\"logit_bias\":{\"12\":-100},\"n\":1,\"tools\":[]}",
	              &p, &e),
	        0);
	CHECK_EQ_STR(p.model, "a/b");
	CHECK_EQ_INT(json_array_size(p.messages), 3);
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(p.messages, 0), "role")),
	             "system");
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(p.messages, 1), "content")),
	             "x\ny");
	CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(p.messages, 2), "content")),
	             "");
	CHECK(p.sp.temp == 0);
	CHECK(fabsf(p.sp.top_p - 0.5f) < 1e-6);
	CHECK_EQ_INT(p.max_tokens, 7);
	CHECK_EQ_INT(p.n_stop, 1);
	CHECK_EQ_STR(p.stop[0], "END");
	CHECK_EQ_INT(p.seed_set, 1);
	CHECK_EQ_INT(p.sp.seed, 5);
	CHECK_EQ_INT(p.stream, 1);
	CHECK_EQ_INT(p.include_usage, 1);
	CHECK_EQ_INT(p.logprobs, 1);
	CHECK_EQ_INT(p.top_logprobs, 3);
	CHECK_EQ_INT(p.n_bias, 1);
	CHECK_EQ_INT(p.bias_ids[0], 12);
	CHECK(p.bias[0] == -100);
	serve_params_release(&p);

	/* defaults: llama.cpp's sampler, no limit on the answer */
	CHECK_EQ_INT(parse(SERVE_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
	                   &p, &e),
	             0);
	CHECK_EQ_STR(p.model, "");
	CHECK_EQ_INT(p.max_tokens, -1);
	CHECK(fabsf(p.sp.temp - 0.8f) < 1e-6);
	CHECK_EQ_INT(p.seed_set, 0);
	serve_params_release(&p);
}

static void test_parse_completion(void)
{
	struct serve_params p;
	struct serve_err e;
	CHECK_EQ_INT(parse(SERVE_COMPLETION, "{\"prompt\":\"hello\"}", &p, &e), 0);
	CHECK_EQ_INT(p.n_prompts, 1);
	CHECK_EQ_STR(p.prompts[0].text, "hello");
	CHECK_EQ_INT(p.max_tokens, 16); /* OpenAI's default for completions */
	serve_params_release(&p);
	CHECK_EQ_INT(parse(SERVE_COMPLETION,
	                   "{\"prompt\":[1,2,3],\"echo\":true,\"logprobs\":2,\"max_tokens\":0}", &p,
	                   &e),
	             0);
	CHECK_EQ_INT(p.n_prompts, 1);
	CHECK_EQ_INT(p.prompts[0].n_ids, 3);
	CHECK_EQ_INT(p.prompts[0].ids[2], 3);
	CHECK_EQ_INT(p.echo, 1);
	CHECK_EQ_INT(p.logprobs, 1);
	CHECK_EQ_INT(p.top_logprobs, 2);
	CHECK_EQ_INT(p.max_tokens, 0);
	serve_params_release(&p);
	CHECK_EQ_INT(
	        parse(SERVE_COMPLETION, "{\"prompt\":[[1,2],\"x\",[5]],\"logprobs\":0}", &p, &e),
	        0);
	CHECK_EQ_INT(p.n_prompts, 3);
	CHECK_EQ_INT(p.prompts[0].n_ids, 2);
	CHECK_EQ_STR(p.prompts[1].text, "x");
	CHECK_EQ_INT(p.prompts[2].ids[0], 5);
	CHECK_EQ_INT(p.logprobs, 1);
	CHECK_EQ_INT(p.top_logprobs, 0);
	serve_params_release(&p);
	CHECK_EQ_INT(parse(SERVE_COMPLETION,
	                   "{\"prompt\":\"x\",\"logprobs\":null,\"stop\":[\"a\",\"\"]}", &p, &e),
	             0);
	CHECK_EQ_INT(p.logprobs, 0);
	CHECK_EQ_INT(p.n_stop, 1);
	serve_params_release(&p);
}

static void test_parse_bad(void)
{
	const char *msgs = "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
	char b[512];
	expect_bad(SERVE_CHAT, "", NULL);
	expect_bad(SERVE_CHAT, "[1]", NULL);
	expect_bad(SERVE_CHAT, "{\"a\":1,\"a\":2}", NULL);
	expect_bad(SERVE_CHAT, "{}", "messages");
	expect_bad(SERVE_CHAT, "{\"messages\":[]}", "messages");
	expect_bad(SERVE_CHAT, "{\"messages\":[{\"role\":\"x\",\"content\":\"y\"}]}", "messages");
	expect_bad(SERVE_CHAT, "{\"messages\":[{\"content\":\"y\"}]}", "messages");
	expect_bad(SERVE_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages");
	expect_bad(SERVE_CHAT,
	           "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
	           "messages");
	struct {
		const char *extra, *param;
	} cases[] = {
	        {"\"model\":3", "model"},
	        {"\"max_tokens\":0", "max_tokens"},
	        {"\"max_tokens\":-5", "max_tokens"},
	        {"\"max_tokens\":1.5", "max_tokens"},
	        {"\"max_tokens\":\"9\"", "max_tokens"},
	        {"\"temperature\":2.5", "temperature"},
	        {"\"temperature\":\"hot\"", "temperature"},
	        {"\"top_p\":1.5", "top_p"},
	        {"\"presence_penalty\":3", "presence_penalty"},
	        {"\"n\":1000", "n"},
	        {"\"n\":0", "n"},
	        {"\"best_of\":3", "best_of"},
	        {"\"seed\":1.5", "seed"},
	        {"\"stream\":1", "stream"},
	        {"\"stream_options\":[]", "stream_options"},
	        {"\"stop\":[1]", "stop"},
	        {"\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\","
	         "\"l\",\"m\","
	         "\"n\",\"o\",\"p\",\"q\"]",
	         "stop"},
	        {"\"logprobs\":\"yes\"", "logprobs"},
	        {"\"top_logprobs\":21,\"logprobs\":true", "top_logprobs"},
	        {"\"top_logprobs\":2", "top_logprobs"},
	        {"\"logit_bias\":{\"x\":1}", "logit_bias"},
	        {"\"logit_bias\":{\"5\":101}", "logit_bias"},
	        {"\"logit_bias\":[]", "logit_bias"},
	        {"\"tools\":[{\"type\":\"function\"}]", "tools"},
	        {"\"response_format\":{\"type\":\"json_object\"}", "response_format"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(b, sizeof(b), "{%s,%s}", msgs, cases[i].extra);
		expect_bad(SERVE_CHAT, b, cases[i].param);
	}
	expect_bad(SERVE_COMPLETION, "{}", "prompt");
	expect_bad(SERVE_COMPLETION, "{\"prompt\":[]}", "prompt");
	expect_bad(SERVE_COMPLETION, "{\"prompt\":[[]]}", "prompt");
	expect_bad(SERVE_COMPLETION, "{\"prompt\":[1,-2]}", "prompt");
	expect_bad(SERVE_COMPLETION, "{\"prompt\":[1,\"x\"]}", "prompt");
	expect_bad(SERVE_COMPLETION, "{\"prompt\":[{}]}", "prompt");
	expect_bad(SERVE_COMPLETION, "{\"prompt\":\"x\",\"logprobs\":21}", "logprobs");
	expect_bad(SERVE_COMPLETION, "{\"prompt\":\"x\",\"suffix\":\"y\"}", "suffix");
	expect_bad(SERVE_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":-1}", "max_tokens");
	/* too many messages and prompts */
	struct buf big = BUF_INIT;
	buf_puts(&big, "{\"messages\":[");
	for (int i = 0; i < SERVE_MAX_MESSAGES + 1; i++)
		buf_puts(&big, i ? ",{\"role\":\"user\",\"content\":\"x\"}"
		                 : "{\"role\":\"user\",\"content\":\"x\"}");
	buf_puts(&big, "]}");
	expect_bad(SERVE_CHAT, big.data, "messages");
	buf_reset(&big);
	buf_puts(&big, "{\"prompt\":[");
	for (int i = 0; i < SERVE_MAX_PROMPTS + 1; i++)
		buf_puts(&big, i ? ",\"x\"" : "\"x\"");
	buf_puts(&big, "]}");
	expect_bad(SERVE_COMPLETION, big.data, "prompt");
	buf_release(&big);
}

static void test_model_id(void)
{
	struct serve_model_id id;
	CHECK_EQ_INT(serve_model_id_parse("alice/tiny", &id), 0);
	CHECK_EQ_STR(id.ns, "alice");
	CHECK_EQ_STR(id.name, "tiny");
	CHECK(!id.rev && !id.quant);
	CHECK_EQ_INT(serve_model_id_parse("alice/tiny@dev:Q4_K_M", &id), 0);
	CHECK_EQ_STR(id.rev, "dev");
	CHECK_EQ_STR(id.quant, "Q4_K_M");
	CHECK_EQ_INT(serve_model_id_parse("alice/tiny:q8_0", &id), 0);
	CHECK_EQ_STR(id.quant, "q8_0");
	CHECK(!id.rev);
	CHECK_EQ_INT(serve_model_id_parse("alice/tiny@0123456789abcdef", &id), 0);
	CHECK_EQ_STR(id.rev, "0123456789abcdef");
	const char *bad[] = {"tiny",        "/tiny",           "alice/",          "a/b/c",
	                     "alice/tiny@", "alice/tiny:",     "alice/tiny:Q4 K", "../x",
	                     "alice/..",    "alice/tiny@a..b", "alice/tiny@-x",   "",
	                     "alice/ti ny", "alice/tiny@x:y:z"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK(serve_model_id_parse(bad[i], &id) != 0);
}

static void test_pick_gguf(void)
{
	const char *p1[] = {"README.md.gguf.txt", "m.Q8_0.gguf", "sub/m.Q4_K_M.gguf",
	                    "m.Q4_K_S.gguf",      "m.F16.gguf",  "mmproj-m.f16.gguf"};
	int64_t s1[] = {1, 800, 400, 380, 1600, 10};
	CHECK_EQ_INT(serve_pick_gguf(p1, s1, 6, NULL, 0), 2);
	CHECK_EQ_INT(serve_pick_gguf(p1, s1, 6, "Q8_0", 0), 1);
	CHECK_EQ_INT(serve_pick_gguf(p1, s1, 6, "q4_k_s", 0), 3);
	CHECK_EQ_INT(serve_pick_gguf(p1, s1, 6, "F16", 0), 4);
	CHECK_EQ_INT(serve_pick_gguf(p1, s1, 6, "Q5_K_M", 0), -1);
	/* the budget: the preferred that fits */
	CHECK_EQ_INT(serve_pick_gguf(p1, s1, 6, NULL, 390), 3);
	/* nothing fits: the smallest, so the error names the budget */
	CHECK_EQ_INT(serve_pick_gguf(p1, s1, 6, NULL, 100), 3);
	/* "Q4_K" is not "Q4_K_M" unless nothing else matches */
	const char *p2[] = {"x-Q4_K_M.gguf", "x-Q4_K.gguf"};
	int64_t s2[] = {10, 20};
	CHECK_EQ_INT(serve_pick_gguf(p2, s2, 2, "Q4_K", 0), 1);
	const char *p3[] = {"x-Q4_K_M.gguf"};
	CHECK_EQ_INT(serve_pick_gguf(p3, s2, 1, "Q4_K", 0), 0);
	/* split files are not served; one file without a tag is */
	const char *p4[] = {"big-00001-of-00002.gguf", "big-00002-of-00002.gguf", "tiny.gguf"};
	int64_t s4[] = {5, 5, 50};
	CHECK_EQ_INT(serve_pick_gguf(p4, s4, 3, NULL, 0), 2);
	CHECK_EQ_INT(serve_pick_gguf(p4, s4, 2, NULL, 0), -1);
	CHECK_EQ_INT(serve_pick_gguf(NULL, NULL, 0, NULL, 0), -1);
}

static void test_text_helpers(void)
{
	const char *stops[] = {"END", "\n\n"};
	const char *t = "hello EN";
	CHECK_EQ_INT(serve_stop_holdback(t, strlen(t), 0, stops, 2), 6);
	CHECK_EQ_INT(serve_stop_holdback("abc\n", 4, 0, stops, 2), 3);
	CHECK_EQ_INT(serve_stop_holdback("abc", 3, 0, stops, 2), 3);
	CHECK_EQ_INT(serve_stop_holdback("abE", 3, 3, stops, 2), 3); /* released already */
	CHECK_EQ_INT(serve_stop_find("hello END x", 11, 8, stops, 2), 6);
	CHECK_EQ_INT(serve_stop_find("hello END x", 11, 11, stops, 2), 11); /* seen before */
	CHECK_EQ_INT(serve_stop_find("a\n\nEND", 6, 0, stops, 2), 1);
	CHECK_EQ_INT(serve_stop_find("abc", 3, 0, NULL, 0), 3);
	CHECK_EQ_INT(serve_utf8_complete("ab\xe2\x82", 4), 2);
	CHECK_EQ_INT(serve_utf8_complete("ab\xe2\x82\xac", 5), 5);
	CHECK_EQ_INT(serve_utf8_complete("\xf0\x9f\x98", 3), 0);
	CHECK_EQ_INT(serve_utf8_complete("", 0), 0);
	struct {
		const char *in, *out;
	} cases[] = {
	        {"plain", "plain"},
	        {"\xe2\x82\xac", "\xe2\x82\xac"},
	        {"a\xffz", "a\xef\xbf\xbdz"},
	        /* a maximal subpart is one replacement (WHATWG) */
	        {"At\xe2\x82z", "At\xef\xbf\xbdz"},
	        {"\xf0\x9f\x98", "\xef\xbf\xbd"},
	        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
	        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
	        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b = BUF_INIT;
		serve_utf8_sanitize(&b, cases[i].in, strlen(cases[i].in));
		CHECK_EQ_STR(b.data ? b.data : "", cases[i].out);
		CHECK(utf8_valid(b.data ? b.data : "", b.len));
		buf_release(&b);
	}
	struct buf b = BUF_INIT;
	serve_utf8_sanitize(&b, "a\0b", 3);
	CHECK_EQ_INT(b.len, 2);
	buf_release(&b);
}

/* ---- the scheduler ------------------------------------------------------------------ */

static struct serve *srv;
static struct serve_model *mdl;

static char *gen_model(void)
{
	struct infer_gen_spec g;
	char err[256];
	char *path = xasprintf("%s/m.gguf", tmpdir);
	infer_gen_spec_default(&g);
	g.n_embd = 64;
	g.n_layer = 2;
	g.n_ff = 128;
	g.n_head = 4;
	g.n_head_kv = 2;
	g.n_ctx = 512;
	g.n_vocab = 600;
	g.seed = 11;
	if (infer_gen_model(&g, path, err, sizeof(err))) {
		fprintf(stderr, "gen: %s\n", err);
		free(path);
		return NULL;
	}
	return path;
}

/* Runs jobs to the end: their texts and token counts. */
struct result {
	char text[4096];
	int64_t n_gen;
	const char *finish;
	int error;
};

static void wait_done(struct serve_job *j, struct result *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&srv->mu);
	while (j->state != SERVE_JOB_DONE)
		pthread_cond_wait(&j->cv, &srv->mu);
	snprintf(r->text, sizeof(r->text), "%s", j->out.data ? j->out.data : "");
	r->n_gen = j->usage_gen;
	r->finish = j->finish;
	r->error = j->error;
	pthread_mutex_unlock(&srv->mu);
}

static struct serve_job *submit(const char *body, const int32_t *prompt, int32_t n, int64_t tenant)
{
	struct serve_params p;
	struct serve_err e;
	struct serve_job *j;
	if (parse(SERVE_COMPLETION, body, &p, &e)) {
		fprintf(stderr, "bad body %s: %s\n", body, e.msg);
		return NULL;
	}
	j = serve_job_submit(srv, mdl, &p, prompt, n, tenant, "t", &e);
	serve_params_release(&p);
	return j;
}

static void prompt_of(int i, int32_t *ids, int32_t *n)
{
	*n = 6 + i % 5;
	ids[0] = 1;
	for (int32_t k = 1; k < *n; k++)
		ids[k] = 3 + (int32_t)((i * 131 + k * 17) % 590);
}

static void test_sched_batched_equals_alone(void)
{
	struct serve_job *jobs[12];
	struct result alone[12], together[12];
	const char *bodies[] = {
	        "{\"prompt\":\"x\",\"max_tokens\":40,\"temperature\":0,\"logit_bias\":{\"2\":-100}"
	        "}",
	        "{\"prompt\":\"x\",\"max_tokens\":40,\"temperature\":0.9,\"seed\":7,\"logit_bias\":"
	        "{"
	        "\"2\":-100}}",
	};
	if (!mdl)
		return;
	for (size_t b = 0; b < ARRAY_SIZE(bodies); b++) {
		int32_t ids[16], n;
		for (int i = 0; i < 12; i++) {
			prompt_of(i, ids, &n);
			jobs[i] = submit(bodies[b], ids, n, 1);
			CHECK(jobs[i] != NULL);
			if (!jobs[i])
				return;
			wait_done(jobs[i], &alone[i]);
			serve_job_put(jobs[i]);
			CHECK_EQ_INT(alone[i].n_gen, 40);
			CHECK_EQ_STR(alone[i].finish, "length");
		}
		long long steps0 = atomic_load(&srv->metrics.steps);
		long long dec0 = atomic_load(&srv->metrics.step_decode);
		for (int i = 0; i < 12; i++) {
			prompt_of(i, ids, &n);
			jobs[i] = submit(bodies[b], ids, n, 2 + i);
		}
		for (int i = 0; i < 12; i++) {
			wait_done(jobs[i], &together[i]);
			serve_job_put(jobs[i]);
			CHECK_EQ_STR(together[i].text, alone[i].text);
		}
		long long steps = atomic_load(&srv->metrics.steps) - steps0;
		long long dec = atomic_load(&srv->metrics.step_decode) - dec0;
		CHECK(dec > 2 * steps); /* most steps decoded several sequences at once */
	}
}

static void test_sched_echo_logprobs(void)
{
	int32_t ids[12] = {1, 40, 41, 90, 200, 300, 17, 5, 77, 500, 8, 9};
	const int32_t n = 12;
	struct serve_job *j;
	char err[256];
	if (!mdl)
		return;
	j = submit("{\"prompt\":\"x\",\"max_tokens\":1,\"echo\":true,\"logprobs\":2,"
	           "\"temperature\":0}",
	           ids, n, 1);
	CHECK(j != NULL);
	if (!j)
		return;
	struct result r;
	wait_done(j, &r);
	/* the engine alone, all logits */
	struct infer_session *s = infer_session_new(mdl->m, 64);
	struct infer_exec *x = infer_exec_new(mdl->m, 1, 16);
	float *lg = xmalloc_array((size_t)n * (size_t)mdl->n_vocab, sizeof(float));
	CHECK_EQ_INT(infer_eval(x, s, ids, n, 1, lg, err, sizeof(err)), 0);
	for (int32_t i = 1; i < n; i++) {
		const float *l = lg + (size_t)(i - 1) * (size_t)mdl->n_vocab;
		double mx = l[0], sum = 0;
		int best = 0;
		for (int32_t t = 0; t < mdl->n_vocab; t++)
			if (l[t] > mx)
				mx = l[t], best = t;
		for (int32_t t = 0; t < mdl->n_vocab; t++)
			sum += exp(l[t] - mx);
		double want = l[ids[i]] - mx - log(sum > 0 ? sum : 1);
		CHECK(fabs(j->plps[i].lp - want) < 1e-4);
		CHECK_EQ_INT(j->plps[i].n_top, 2);
		CHECK_EQ_INT(j->plps[i].top_id[0], best);
		CHECK(j->plps[i].top_lp[0] >= j->plps[i].top_lp[1]);
	}
	/* the one generated token: the greedy one, with its entry */
	CHECK_EQ_INT(j->n_lps, 1);
	const float *l = lg + (size_t)(n - 1) * (size_t)mdl->n_vocab;
	int best = 0;
	for (int32_t t = 1; t < mdl->n_vocab; t++)
		if (l[t] > l[best])
			best = t;
	CHECK_EQ_INT(j->lps[0].id, best);
	free(lg);
	infer_exec_free(x);
	infer_session_free(s);
	serve_job_put(j);
}

static void test_sched_prefix_cache(void)
{
	int32_t ids[40];
	struct result a, b, c;
	struct serve_job *j;
	const char *body = "{\"prompt\":\"x\",\"max_tokens\":20,\"temperature\":0,"
	                   "\"logit_bias\":{\"2\":-100}}";
	if (!mdl)
		return;
	ids[0] = 1;
	for (int i = 1; i < 40; i++)
		ids[i] = 100 + i;
	j = submit(body, ids, 40, 77);
	wait_done(j, &a);
	serve_job_put(j);
	j = submit(body, ids, 40, 77);
	wait_done(j, &b);
	CHECK(j->reused >= 39);
	serve_job_put(j);
	CHECK_EQ_STR(a.text, b.text);
	/* another caller: no reuse, same answer */
	j = submit(body, ids, 40, 78);
	wait_done(j, &c);
	CHECK_EQ_INT(j->reused, 0);
	serve_job_put(j);
	CHECK_EQ_STR(a.text, c.text);
	/* a longer prompt sharing the prefix */
	ids[39] = 7;
	j = submit(body, ids, 40, 77);
	wait_done(j, &c);
	CHECK(j->reused >= 38);
	serve_job_put(j);
}

static void test_sched_cancel_and_queue(void)
{
	int32_t ids[4] = {1, 5, 6, 7};
	struct serve_job *js[16];
	struct serve_err e;
	struct serve_params p;
	struct result r;
	if (!mdl)
		return;
	/* fill all slots and the queue with long jobs */
	const int cap = mdl->n_parallel + srv->cfg.max_queue;
	CHECK(cap <= 16);
	if (cap > 16)
		return;
	for (int i = 0; i < cap; i++)
		js[i] = submit("{\"prompt\":\"x\",\"max_tokens\":400,\"temperature\":0,"
		               "\"logit_bias\":{\"2\":-100}}",
		               ids, 4, 1);
	CHECK_EQ_INT(parse(SERVE_COMPLETION, "{\"prompt\":\"x\"}", &p, &e), 0);
	CHECK(serve_job_submit(srv, mdl, &p, ids, 4, 1, "t", &e) == NULL);
	CHECK_EQ_INT(e.status, 429);
	CHECK(e.retry_after >= 1);
	serve_params_release(&p);
	for (int i = 0; i < cap; i++)
		serve_job_cancel(js[i]);
	for (int i = 0; i < cap; i++) {
		wait_done(js[i], &r);
		CHECK(r.n_gen < 400);
		CHECK(!r.finish);
		serve_job_put(js[i]);
	}
	pthread_mutex_lock(&srv->mu);
	CHECK_EQ_INT(mdl->n_active, 0);
	CHECK_EQ_INT(mdl->n_queued, 0);
	pthread_mutex_unlock(&srv->mu);
	/* stop strings and max_tokens 0 */
	js[0] = submit("{\"prompt\":\"x\",\"max_tokens\":0,\"echo\":true}", ids, 4, 1);
	wait_done(js[0], &r);
	CHECK_EQ_STR(r.finish, "length");
	CHECK_EQ_INT(r.n_gen, 0);
	serve_job_put(js[0]);
}

/* ---- chat templates from the GGUF (SECURITY F5) ------------------------------------ */

/* A copy of the GGUF at src with tokenizer.chat_template = tpl. */
static char *with_template(const char *src, const char *tpl, const char *name)
{
	struct gguf_file *f;
	char err[256];
	char *out = xasprintf("%s/%s", tmpdir, name);
	if (gguf_open(src, &f, err, sizeof(err)))
		return NULL;
	struct gguf_writer *w = gguf_writer_new();
	for (uint64_t i = 0; i < f->n_kv; i++) {
		const struct gguf_kv *kv = &f->kv[i];
		char *key = xstrndup(kv->key.data, (size_t)kv->key.len);
		uint32_t u32;
		int32_t i32;
		float f32;
		uint64_t u64;
		switch (kv->type) {
		case GGUF_TYPE_UINT32:
			memcpy(&u32, kv->data, 4);
			gguf_writer_set_u32(w, key, u32);
			break;
		case GGUF_TYPE_INT32:
			memcpy(&i32, kv->data, 4);
			gguf_writer_set_i32(w, key, i32);
			break;
		case GGUF_TYPE_UINT64:
			memcpy(&u64, kv->data, 8);
			gguf_writer_set_u64(w, key, u64);
			break;
		case GGUF_TYPE_FLOAT32:
			memcpy(&f32, kv->data, 4);
			gguf_writer_set_f32(w, key, f32);
			break;
		case GGUF_TYPE_BOOL:
			gguf_writer_set_bool(w, key, *(const uint8_t *)kv->data);
			break;
		case GGUF_TYPE_STRING: {
			char *v = xstrndup(kv->strs[0].data, (size_t)kv->strs[0].len);
			gguf_writer_set_str(w, key, v);
			free(v);
			break;
		}
		case GGUF_TYPE_ARRAY:
			if (kv->arr_type == GGUF_TYPE_STRING) {
				char **v = xcalloc(kv->arr_n, sizeof(char *));
				for (uint64_t k = 0; k < kv->arr_n; k++)
					v[k] = xstrndup(kv->strs[k].data, (size_t)kv->strs[k].len);
				gguf_writer_set_arr_str(w, key, (const char *const *)v, kv->arr_n);
				for (uint64_t k = 0; k < kv->arr_n; k++)
					free(v[k]);
				free(v);
			} else if (kv->arr_type == GGUF_TYPE_FLOAT32 ||
			           kv->arr_type == GGUF_TYPE_INT32) {
				void *v = xmalloc_array(kv->arr_n + 1, 4);
				memcpy(v, kv->data, kv->arr_n * 4);
				if (kv->arr_type == GGUF_TYPE_FLOAT32)
					gguf_writer_set_arr_f32(w, key, v, kv->arr_n);
				else
					gguf_writer_set_arr_i32(w, key, v, kv->arr_n);
				free(v);
			}
			break;
		default: break;
		}
		free(key);
	}
	gguf_writer_set_str(w, "tokenizer.chat_template", tpl);
	for (uint64_t i = 0; i < f->n_tensors; i++) {
		const struct gguf_tensor *t = &f->tensors[i];
		char *tn = xstrndup(t->name.data, (size_t)t->name.len);
		gguf_writer_add_tensor(w, tn, t->type, (int)t->n_dims, t->ne, t->data, t->size);
		free(tn);
	}
	int rc = gguf_writer_write(w, out);
	gguf_writer_free(w);
	gguf_close(f);
	if (rc) {
		free(out);
		return NULL;
	}
	return out;
}

static char *model_path;

static void test_chat_template_from_gguf(void)
{
	struct {
		const char *tpl;
		int compiles, renders;
		const char *want;
	} cases[] = {
	        {"{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
	         "{% if add_generation_prompt %}[assistant]{% endif %}{{ bos_token }}",
	         1, 1, "[system]S[user]U[assistant]<s>"},
	        /* attribute walking finds nothing (undefined prints as empty) */
	        {"{{ messages.__class__ }}{{ ''.__class__.__mro__ }}{{ messages[0].content }}", 1,
	         1, "S"},
	        /* limits: iterations, recursion, output */
	        {"{% for i in range(1000000000000) %}x{% endfor %}", 1, 0, NULL},
	        {"{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", 1, 0, NULL},
	        {"{% set s = 'xxxxxxxxxxxxxxxx' %}{% for i in range(100000) %}{{ s }}{{ s }}{{ s }}"
	         "{% endfor %}",
	         1, 0, NULL},
	        {"{{ raise_exception('no system messages') }}", 1, 0, NULL},
	        {"{% for %}", 0, 0, NULL},
	};
	json_t *msgs = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content", "S", "role",
	                         "user", "content", "U");
	if (!model_path)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char name[32], err[256];
		struct infer_model *m = NULL;
		struct jinja_template *tpl = NULL;
		snprintf(name, sizeof(name), "tpl%zu.gguf", i);
		char *p = with_template(model_path, cases[i].tpl, name);
		CHECK(p != NULL);
		if (!p)
			continue;
		CHECK_EQ_INT(infer_model_load(p, &m, err, sizeof(err)), 0);
		if (m) {
			int rc = serve_chat_template_new(m, &tpl, err, sizeof(err));
			CHECK_EQ_INT(rc == 0, cases[i].compiles);
			if (tpl) {
				struct buf out = BUF_INIT;
				rc = serve_chat_render(m, tpl, msgs, 1, &out, err, sizeof(err));
				CHECK_EQ_INT(rc == 0, cases[i].renders);
				if (rc)
					CHECK(err[0] != 0);
				if (cases[i].want)
					CHECK_EQ_STR(out.data ? out.data : "", cases[i].want);
				buf_release(&out);
			}
			/* the BOS the template wrote is not added again */
			if (i == 0) {
				int32_t *ids = NULL;
				size_t n = 0;
				CHECK_EQ_INT(serve_chat_tokenize(m, "<s>[user]x", 10, &ids, &n), 0);
				CHECK(n > 1 && ids[0] == 1 && ids[1] != 1);
				free(ids);
				CHECK_EQ_INT(serve_chat_tokenize(m, "[user]x", 7, &ids, &n), 0);
				CHECK(n > 1 && ids[0] == 1);
				free(ids);
			}
		}
		jinja_template_free(tpl);
		infer_model_free(m);
		unlink(p);
		free(p);
	}
	json_decref(msgs);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/huddle-test-serve-XXXXXX");
	if (!mkdtemp(tmpdir))
		return 1;
	RUN(test_parse_chat);
	RUN(test_parse_completion);
	RUN(test_parse_bad);
	RUN(test_model_id);
	RUN(test_pick_gguf);
	RUN(test_text_helpers);

	struct serve_config cfg;
	struct serve_err e;
	char err[256];
	char *path = gen_model();
	model_path = path;
	RUN(test_chat_template_from_gguf);
	serve_config_init(&cfg);
	cfg.n_threads = 2;
	cfg.n_parallel = 4;
	cfg.max_queue = 8;
	cfg.prefill_chunk = 5; /* prompts take several steps */
	memset(&e, 0, sizeof(e));
	if (path && serve_new(&cfg, NULL, &srv, err, sizeof(err)) == 0 &&
	    serve_model_load_file(srv, "m", path, &e) == 0 &&
	    serve_model_get(srv, NULL, "m", &mdl, &e) == 0) {
		RUN(test_sched_batched_equals_alone);
		RUN(test_sched_echo_logprobs);
		RUN(test_sched_prefix_cache);
		RUN(test_sched_cancel_and_queue);
		serve_model_put(srv, mdl);
	} else {
		fprintf(stderr, "cannot start the service: %s %s\n", err, e.msg);
		test_n_fail++;
	}
	serve_free(srv);
	if (path)
		unlink(path);
	free(path);
	rmdir(tmpdir);
	return test_summary();
}

/*
 * test_jinja.c: the chat-template interpreter. The language cases' expected
 * outputs were produced by @huggingface/jinja 0.5.11 (the reference the
 * end-to-end conformance test compares against for every real template);
 * the rest checks errors, limits, the API contract and threads.
 */
#include "infer/jinja.h"
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Renders src with the JSON context; returns the text (caller frees) or
 * NULL with the message in err. */
static char *render(const char *src, const char *ctx_json, const struct jinja_limits *lim,
                    char *err, size_t err_size)
{
	struct jinja_template *tpl = jinja_template_new(src, strlen(src), err, err_size);
	struct buf out = BUF_INIT;
	json_error_t jerr;
	json_t *ctx;
	int r;
	if (!tpl)
		return NULL;
	ctx = json_loads(ctx_json, JSON_DECODE_INT_AS_REAL, &jerr);
	if (!ctx) {
		snprintf(err, err_size, "bad test context: %s", jerr.text);
		jinja_template_free(tpl);
		return NULL;
	}
	r = jinja_render(tpl, ctx, lim, &out, err, err_size);
	json_decref(ctx);
	jinja_template_free(tpl);
	if (r < 0) {
		buf_release(&out);
		return NULL;
	}
	if (!out.data)
		return xstrdup("");
	return buf_detach(&out, NULL);
}

static const struct {
	const char *src, *ctx, *want;
} lang_cases[] = {
        {"Hello {{ name }}!", "{\"name\":\"world\"}", "Hello world!"},
        {"{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 2 ** 3 ** 2 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 7 / 2 }} "
         "{{ -7 // 2 }}",
         "{}", "7 9 64 3 1 3.5 -4"},
        {"{{ 1.0 }} {{ 0.5 + 0.25 }} {{ 10 / 5 }} {{ 2 ** 70 }} {{ 0.1 + 0.2 }} {{ 1 / 3 }}", "{}",
         "1.0 0.75 2.0 1.1805916207174113e+21 0.30000000000000004 0.3333333333333333"},
        {"{{ true }} {{ false }} {{ none }} {{ undefined_var }} {{ True }} {{ None }}", "{}",
         "true false   true "},
        {"{{ [1, 'a', none, true] }} {{ {'k': [1, 2], 'n': none} }}", "{}",
         "[1, \"a\", null, true] {\"k\": [1, 2], \"n\": null}"},
        {"{{ 'a' ~ 1 ~ 2.0 ~ true }} {{ 'a' + 1 }} {{ 1 ~ 2 }}", "{}", "a12true a1 12"},
        {"{% if x > 1 %}big{% elif x == 1 %}one{% else %}small{% endif %}", "{\"x\":1}", "one"},
        {"{% for m in messages %}{{ loop.index }}:{{ m.role }}={{ m['content'] }}{% if not "
         "loop.last %}, {% endif %}{% endfor %}",
         "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\","
         "\"content\":\"yo\"}]}",
         "1:user=hi, 2:assistant=yo"},
        {"{% for x in xs %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ "
         "loop.previtem }}{{ loop.nextitem }} {% endfor %}",
         "{\"xs\":[1,2,3]}", "03truefalse2 12falsefalse13 21falsetrue2 "},
        {"{% for x in xs if x is odd %}{{ x }}{% else %}none{% endfor %}|{% for x in [] %}{% else "
         "%}empty{% endfor %}",
         "{\"xs\":[1,2,3]}", "13|empty"},
        {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor "
         "%}",
         "{\"d\":{\"2\":4,\"10\":3,\"b\":1,\"a\":2}}", "2=4;10=3;b=1;a=2;210ba"},
        {"{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% "
         "endif %}{{ x }}{% endfor %}",
         "{\"xs\":[1,2,3,4,5]}", "13"},
        {"{% for x in xs %}a{% if x == 2 %}{% break %}{% endif %}b{% endfor %}", "{\"xs\":[1,2,3]}",
         "ab"},
        {"{% set ns = namespace(total=0, names=[]) %}{% for x in xs %}{% set ns.total = ns.total + "
         "x %}{% endfor %}{{ ns.total }}",
         "{\"xs\":[1,2,3]}", "6"},
        {"{% set x = 1 %}{% for i in [5] %}{% set x = i %}{% endfor %}{{ x }}{% if true %}{% set x "
         "= 9 %}{% endif %}{{ x }}",
         "{}", "19"},
        {"{% set a, b = 'p', 'q' %}{{ b }}{{ a }}{% set blk %}[{{ a }}]{% endset %}{{ blk }}", "{}",
         "qp[p]"},
        {"{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ "
         "greet('Ann') }} {{ greet('Bo', greeting='Hi') }} {{ greet(greeting='Yo', name='Cy') }}",
         "{}", "Hello, Ann! Hi, Bo! Yo, Cy!"},
        {"{% macro m() %}{{ varargs|length }}{{ kwargs|tojson }}{% endmacro %}{{ m(1, 2, a=3) }}",
         "{}", "2{\"a\": 3}"},
        {"{% macro box(t) %}[{{ t }}:{{ caller() }}]{% endmacro %}{% call box('x') %}body{% "
         "endcall %}",
         "{}", "[x:body]"},
        {"{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) "
         "each([1, 2]) %}<{{ v }}>{% endcall %}",
         "{}", "<1><2>"},
        {"{% filter upper %}abc {{ 'def' }}{% endfilter %}", "{}", "ABC DEF"},
        {"{{ 'yes' if flag else 'no' }} [{{ 'x' if false }}] {{ a or 'dflt' }} {{ a and 'x' }}",
         "{\"flag\":true,\"a\":\"\"}", "yes [] dflt "},
        {"{{ s|length }} {{ s[0] }} {{ s[-1] }} {{ s[1:3] }} {{ s[::-1] }} {{ s|upper }} {{ "
         "s|title }} {{ s|capitalize }}",
         "{\"s\":\"h\303\251 wo\360\237\230\200\"}",
         "7 h \357\277\275 \303\251  \360\237\230\200ow \303\251h H\303\211 WO\360\237\230\200 "
         "H\303\251 Wo\360\237\230\200 H\303\251 wo\360\237\230\200"},
        {"[{{ '  x  '|trim }}] [{{ '  x  '.lstrip() }}] [{{ '  x  '.rstrip() }}] [{{ "
         "'\nx\n'.strip('\n') }}]",
         "{}", "[x] [x  ] [  x] [x]"},
        {"{{ 'a,b,,c'.split(',') }} {{ '  a b  '.split() }} {{ 'a-b-c'.split('-', 1) }}", "{}",
         "[\"a\", \"b\", \"\", \"c\"] [\"a\", \"b\"] [\"a\", \"b-c\"]"},
        {"{{ 'aXbX'.replace('X', '_') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'ab'.startswith('a') "
         "}} {{ 'ab'.endswith(('x', 'b')) }}",
         "{}", "a_b_ bba true true"},
        {"{{ xs|first }} {{ xs|last }} {{ xs|length }} {{ xs|sort }} {{ xs|reverse }} {{ "
         "xs|join('-') }} {{ xs|unique }} {{ xs|list }}",
         "{\"xs\":[3,1,2,1]}", "3 1 4 [1, 1, 2, 3] [1, 2, 1, 3] 3-1-2-1 [3, 1, 2] [3, 1, 2, 1]"},
        {"{{ ps|sort(attribute='age')|map(attribute='name')|join(',') }} {{ "
         "ps|selectattr('admin')|map(attribute='name')|list }} {{ ps|rejectattr('admin')|length }} "
         "{{ ps|selectattr('name', 'equalto', 'b')|length }}",
         "{\"ps\":[{\"name\":\"a\",\"age\":30,\"admin\":true},{\"name\":\"b\",\"age\":20,\"admin\":"
         "false}]}",
         "b,a [\"a\"] 1 1"},
        {"{{ d|tojson }} {{ d|tojson(indent=2) }} {{ '\303\251\"'|tojson }} {{ "
         "'\303\251'|tojson(ensure_ascii=true) }} {{ d|tojson(separators=(',', ':')) }}",
         "{\"d\":{\"b\":[1,2.5],\"a\":{\"c\":null}}}",
         "{\"b\": [1, 2.5], \"a\": {\"c\": null}} {\n  \"b\": [\n    1,\n    2.5\n  ],\n  \"a\": "
         "{\n    \"c\": null\n  }\n} \"\303\251\\\"\" \"\\u00e9\" "
         "{\"b\":[1,2.5],\"a\":{\"c\":null}}"},
        {"{{ d|dictsort }} {{ d|items }} {{ d.keys() }} {{ d.values() }} {{ d.get('a') }} {{ "
         "d.get('z', 0) }} {{ d.get('z') }}",
         "{\"d\":{\"b\":1,\"a\":2}}",
         "[[\"a\", 2], [\"b\", 1]] [[\"b\", 1], [\"a\", 2]] [\"b\", \"a\"] [1, 2] 2 0 "},
        {"{{ x|default('d') }} {{ ''|default('d', true) }} {{ '42'|int + 1 }} {{ '2.5'|float }} {{ "
         "3.7|int }} {{ -2|abs }} {{ 5|string ~ '!' }}",
         "{}", "d d 43 2.5 3 2 5!"},
        {"{{ x is defined }} {{ x is undefined }} {{ n is none }} {{ 's' is string }} {{ 1 is "
         "number }} {{ 1.5 is integer }} {{ [] is iterable }} {{ {} is mapping }} {{ 3 is odd }} "
         "{{ 4 is even }} {{ 1 is not string }}",
         "{\"n\":null}", "false true true true true false true true true true true"},
        {"{{ 'a' in 'cat' }} {{ 1 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 1 == "
         "1.0 }} {{ '1' == 1 }} {{ none == undefined_x }}",
         "{}", "true true true true true true true"},
        {"{{ range(3) }} {{ range(1, 4) }} {{ range(6, 0, -2) }} {{ strftime_now('%%') }}", "{}",
         "[0, 1, 2] [1, 2, 3] [6, 4, 2] %"},
        {"  {% if true %}\n  yes\n  {% endif %}\n  {{- ' x ' -}}  \n{# note #}\nz\n", "{}",
         "  yes\n x z"},
        {"a  {%- if true -%}  b  {%- endif -%}  c\n", "{}", "abc"},
        {"{% generation %}G{% endgeneration %}|{%- generation -%}  H  {%- endgeneration -%}|", "{}",
         "G|H|"},
        {"{{ '\\u00e9\\x41\\n' }}|{{ \"it's\" }}|{{ 'say \"hi\"' }}", "{}",
         "\303\251A\n|it's|say \"hi\""},
        {"{{ 'x' ~ [none, n] }} {{ [none, missing, 1]|unique }} {{ range(2, none) }} {{ none == "
         "missing }}",
         "{\"n\":null}", "xundefined,undefined [null, 1] [0, 1] true"},
        {"{{ {'b': 1, '\303\244': 2, '\303\237': 3, 'ss': 4, '$': 5, '10': 6, 'Z': 7, '-y': 8, "
         "'a': 9, 'A': 10}|tojson(sort_keys=true) }}",
         "{}",
         "{\"-y\": 8, \"$\": 5, \"10\": 6, \"a\": 9, \"A\": 10, \"\303\244\": 2, \"b\": 1, \"ss\": "
         "4, \"\303\237\": 3, \"Z\": 7}"},
        {"{{ s|length }} {{ s[1] }} {{ s[::-1] }} {{ s|tojson(ensure_ascii=true) }}",
         "{\"s\":\"a\360\237\230\200b\"}",
         "4 \357\277\275 b\360\237\230\200a \"a\\ud83d\\ude00b\""},
        {"{{ o|tojson }} {% for k in o %}{{ k }}{% endfor %}",
         "{\"o\":{\"2\":3,\"10\":2,\"b\":1,\"a\":4}}",
         "{\"2\": 3, \"10\": 2, \"b\": 1, \"a\": 4} 210ba"},
        {"{{ 1 == '1' }} {{ '' == 0 }} {{ [1, 2] == '1,2' }} {{ true == 1 }} {{ 'x' in ['x'] }} {{ "
         "'1' in [1] }}",
         "{}", "true true true true true false"},
        {"{% for x in xs %}{% continue %}{% else %}all skipped{% endfor %}", "{\"xs\":[1,2]}",
         "all skipped"},
        {"{{ 'abc'.split('b') }} {{ 'a b'.split(none, 0) }} {{ 'a,b,c'.split(',', -2) }}", "{}",
         "[\"a\", \"c\"] [\"a b\"] [\"a\", \"b,c\"]"},
};

static void test_language(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(lang_cases); i++) {
		char err[512] = "";
		char *got = render(lang_cases[i].src, lang_cases[i].ctx, NULL, err, sizeof(err));
		if (!got || strcmp(got, lang_cases[i].want)) {
			fprintf(stderr, "case %zu: %s\n  got:  %s\n  want: %s\n", i,
			        lang_cases[i].src, got ? got : err, lang_cases[i].want);
			CHECK(0);
		}
		free(got);
	}
}

static void expect_error(const char *src, const char *ctx, const struct jinja_limits *lim,
                         const char *needle)
{
	char err[512] = "";
	char *got = render(src, ctx, lim, err, sizeof(err));
	if (got || !strstr(err, needle)) {
		fprintf(stderr, "template %.80s\n  expected an error with \"%s\", got %s\n", src,
		        needle, got ? got : err);
		CHECK(0);
	}
	free(got);
}

static void test_syntax_errors(void)
{
	expect_error("{% if x %}", "{}", NULL, "line 1, column 11");
	expect_error("a\nb\n  {{ 1 +* 2 }}", "{}", NULL, "line 3, column");
	expect_error("{% for x in %}{% endfor %}", "{}", NULL, "line 1");
	expect_error("{{ 'open", "{}", NULL, "unterminated string");
	expect_error("{# open", "{}", NULL, "comment");
	expect_error("{% frobnicate %}", "{}", NULL, "unknown statement");
	expect_error("{% endif %}", "{}", NULL, "unknown statement");
	expect_error("{{ '\\q' }}", "{}", NULL, "escaped character");
	expect_error("{% macro m(a, a) %}{% endmacro %}", "{}", NULL, "duplicate parameter");
	expect_error("{{ f(a=1, 2) }}", "{}", NULL, "positional arguments");
	expect_error("{{ x[] }}", "{}", NULL, "index");
	expect_error("{{ 1 $ 2 }}", "{}", NULL, "unexpected character");
}

static void test_runtime_errors(void)
{
	expect_error("{{ raise_exception('No system role!') }}", "{}", NULL, "No system role!");
	expect_error("{{ 'a' + none }}", "{}", NULL, "null");
	expect_error("{{ x.y + 1 }}", "{}", NULL, "undefined");
	expect_error("{{ [1]|count }}", "{}", NULL, "unknown ArrayValue filter");
	expect_error("{{ 1 is divisibleby }}", "{}", NULL, "unknown test");
	expect_error("{{ xs.append(1) }}", "{\"xs\": []}", NULL, "not a function");
	expect_error("{% break %}", "{}", NULL, "outside a loop");
	expect_error("{{ x }}", "{\"range\": 1}", NULL, "already declared");
	expect_error("{% set o.a = 1 %}", "{\"o\": {}}", NULL, "non-namespace");
	expect_error("{{ (1, 2) }}", "{}", NULL, "TupleValue");
}

static void test_sandbox(void)
{
	char err[512];
	char *got;
	/* No attribute walking: Python internals are just undefined. */
	got = render("[{{ x.__class__ }}{{ ''.__class__.__mro__ }}{{ range.__globals__ }}"
	             "{{ namespace.__init__ }}{{ x.__dict__ is defined }}]",
	             "{\"x\": {\"a\": 1}}", NULL, err, sizeof(err));
	CHECK(got && !strcmp(got, "[false]"));
	free(got);
}

static void test_limits(void)
{
	struct jinja_limits lim;
	double t0;

	t0 = time_mono_s();
	expect_error("{% for i in range(10**12) %}{% endfor %}", "{}", NULL, "loop iterations");
	expect_error("{{ range(10**12)|length }}", "{}", NULL, "loop iterations");
	CHECK(time_mono_s() - t0 < 5);
	expect_error("{% macro m(n) %}{{ m(n + 1) }}{% endmacro %}{{ m(0) }}", "{}", NULL,
	             "nested deeper");
	expect_error("{% for i in range(200000) %}{{ 'xxxxxxxxxx' }}{% endfor %}", "{}", NULL,
	             "output longer");
	expect_error("{% set ns = namespace(s='ab') %}{% for i in range(64) %}"
	             "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
	             "{}", NULL, "longer than the limit");
	expect_error("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns|tojson }}", "{}", NULL,
	             "nested deeper");

	jinja_limits_default(&lim);
	lim.max_output = 5;
	expect_error("{{ 'abcdef' }}", "{}", &lim, "limit of 5 bytes");

	jinja_limits_default(&lim);
	lim.max_steps = 1000;
	expect_error("{% for i in range(100) %}{% for j in range(100) %}{% endfor %}{% endfor %}",
	             "{}", &lim, "steps");

	jinja_limits_default(&lim);
	lim.max_memory = 1 << 20;
	expect_error("{% set ns = namespace(s='') %}{% for i in range(5000) %}"
	             "{% set ns.s = ns.s ~ 'abcdefghijklmnopqrstuvwxyz' %}{% endfor %}",
	             "{}", &lim, "memory");

	jinja_limits_default(&lim);
	lim.max_call_depth = 3;
	expect_error("{% macro m(n) %}{% if n %}{{ m(n - 1) }}{% endif %}{% endmacro %}{{ m(5) }}",
	             "{}", &lim, "macro calls nested");

	jinja_limits_default(&lim);
	lim.max_time_ms = 50;
	lim.max_steps = (uint64_t)1 << 40;
	lim.max_iterations = (uint64_t)1 << 40;
	t0 = time_mono_s();
	expect_error("{% set r = range(3000) %}{% for i in r %}{% for j in r %}{% endfor %}"
	             "{% endfor %}",
	             "{}", &lim, "time limit");
	CHECK(time_mono_s() - t0 < 3);

	/* Nesting is refused at compile time. */
	{
		struct buf b = BUF_INIT;
		char e[256];
		buf_puts(&b, "{{ ");
		for (int i = 0; i < 1000; i++)
			buf_putc(&b, '(');
		buf_putc(&b, '1');
		for (int i = 0; i < 1000; i++)
			buf_putc(&b, ')');
		buf_puts(&b, " }}");
		CHECK(jinja_template_new(b.data, b.len, e, sizeof(e)) == NULL);
		CHECK(strstr(e, "nested deeper") != NULL);
		buf_reset(&b);
		for (int i = 0; i < 300; i++)
			buf_puts(&b, "{% if true %}");
		for (int i = 0; i < 300; i++)
			buf_puts(&b, "{% endif %}");
		CHECK(jinja_template_new(b.data, b.len, e, sizeof(e)) == NULL);
		buf_reset(&b);
		buf_puts(&b, "{{ 1");
		for (int i = 0; i < 1000; i++)
			buf_puts(&b, " + 1");
		buf_puts(&b, " }}");
		CHECK(jinja_template_new(b.data, b.len, e, sizeof(e)) == NULL);
		buf_release(&b);
	}
	{
		char e[256];
		size_t n = JINJA_MAX_TEMPLATE_SIZE + 1;
		char *big = xmalloc(n);
		memset(big, 'x', n);
		CHECK(jinja_template_new(big, n, e, sizeof(e)) == NULL);
		CHECK(jinja_template_new("\xff", 1, e, sizeof(e)) == NULL);
		CHECK(strstr(e, "UTF-8") != NULL);
		free(big);
	}
}

static void test_api(void)
{
	char err[256];
	struct jinja_template *tpl;
	struct buf out = BUF_INIT;
	json_t *ctx;

	/* On error the output buffer is left as it was. */
	tpl = jinja_template_new("partial {{ raise_exception('x') }}",
	                         strlen("partial {{ raise_exception('x') }}"), err, sizeof(err));
	CHECK(tpl != NULL);
	buf_puts(&out, "keep");
	ctx = json_object();
	CHECK(jinja_render(tpl, ctx, NULL, &out, err, sizeof(err)) == HD_EINVAL);
	CHECK_EQ_STR(out.data, "keep");
	jinja_template_free(tpl);

	/* Limit errors are HD_ETOOBIG; the context must be an object. */
	tpl = jinja_template_new("{% for i in range(10) %}x{% endfor %}", 37, err, sizeof(err));
	{
		struct jinja_limits lim;
		jinja_limits_default(&lim);
		lim.max_output = 3;
		CHECK(jinja_render(tpl, ctx, &lim, &out, err, sizeof(err)) == HD_ETOOBIG);
	}
	json_decref(ctx);
	ctx = json_array();
	CHECK(jinja_render(tpl, ctx, NULL, &out, err, sizeof(err)) == HD_EINVAL);
	CHECK(jinja_render(tpl, NULL, NULL, &out, err, sizeof(err)) == 0);
	CHECK_EQ_STR(out.data, "keepxxxxxxxxxx");
	json_decref(ctx);
	jinja_template_free(tpl);
	jinja_template_free(NULL);
	buf_release(&out);
}

static void test_chatml(void)
{
	char err[256];
	char *got = NULL;
	struct jinja_template *tpl = jinja_template_new(
	        jinja_chatml_template, strlen(jinja_chatml_template), err, sizeof(err));
	CHECK(tpl != NULL);
	jinja_template_free(tpl);
	got = render(jinja_chatml_template,
	             "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"},"
	             " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"U\"},"
	             " {\"type\": \"image\"}]}], \"add_generation_prompt\": true}",
	             NULL, err, sizeof(err));
	CHECK_EQ_STR(got, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n"
	                  "<|im_start|>assistant\n");
	free(got);
}

/* One compiled template, rendered from several threads at once. */
struct thread_arg {
	const struct jinja_template *tpl;
	int id, failures;
};

static void *render_thread(void *p)
{
	struct thread_arg *a = p;
	for (int i = 0; i < 200; i++) {
		char err[256], want[64];
		struct buf out = BUF_INIT;
		json_t *ctx = json_pack("{s:i, s:[i,i,i]}", "id", a->id, "xs", i, i + 1, i + 2);
		snprintf(want, sizeof(want), "%d:%d,%d,%d,", a->id, i, i + 1, i + 2);
		if (jinja_render(a->tpl, ctx, NULL, &out, err, sizeof(err)) || !out.data ||
		    strcmp(out.data, want))
			a->failures++;
		json_decref(ctx);
		buf_release(&out);
	}
	return NULL;
}

static void test_threads(void)
{
	const char *src = "{{ id }}:{% for x in xs %}{{ x }},{% endfor %}";
	char err[256];
	struct jinja_template *tpl = jinja_template_new(src, strlen(src), err, sizeof(err));
	pthread_t th[4];
	struct thread_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i].tpl = tpl;
		args[i].id = i;
		args[i].failures = 0;
		CHECK(pthread_create(&th[i], NULL, render_thread, &args[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ_INT(args[i].failures, 0);
	}
	jinja_template_free(tpl);
}

int main(void)
{
	RUN(test_language);
	RUN(test_syntax_errors);
	RUN(test_runtime_errors);
	RUN(test_sandbox);
	RUN(test_limits);
	RUN(test_api);
	RUN(test_chatml);
	RUN(test_threads);
	return test_summary();
}

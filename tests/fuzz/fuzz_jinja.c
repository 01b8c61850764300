/*
 * fuzz_jinja.c: the chat-template interpreter. The input is a template; it
 * is compiled and, if it compiles, rendered with a fixed chat context and
 * small limits. Any crash, sanitizer report, leak or hang is a bug: bad
 * templates must fail with a message.
 */
#include "infer/jinja.h"

#include <stdint.h>

static const char context[] =
        "{\"messages\": ["
        "{\"role\": \"system\", \"content\": \"You are helpful.\"},"
        "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"h\\u00e9llo "
        "\\ud83d\\ude00\"},"
        " {\"type\": \"image\"}]},"
        "{\"role\": \"assistant\", \"content\": \"<think>x</think>ok\", \"tool_calls\": [{\"id\": "
        "\"c1\","
        " \"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1, \"b\": "
        "[true, null]}}}]},"
        "{\"role\": \"tool\", \"tool_call_id\": \"c1\", \"content\": \"42\"},"
        "{\"role\": \"user\", \"content\": \"again\"}],"
        " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"description\": "
        "\"d\","
        " \"parameters\": {\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"},"
        " \"b\": {\"type\": [\"array\", \"null\"]}}, \"required\": [\"a\"]}}}],"
        " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\","
        " \"n\": 3, \"f\": 2.5, \"s\": \"a,b c\", \"o\": {\"2\": 1, \"k\": {\"v\": null}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *ctx;
	struct jinja_template *tpl;
	struct jinja_limits lim;
	struct buf out = BUF_INIT;
	char err[512];

	if (!ctx)
		ctx = json_loads(context, JSON_DECODE_INT_AS_REAL, NULL);
	tpl = jinja_template_new((const char *)data, size, err, sizeof(err));
	if (!tpl)
		return 0;
	jinja_limits_default(&lim);
	lim.max_output = 1 << 16;
	lim.max_memory = 32 << 20;
	lim.max_steps = 200000;
	lim.max_iterations = 20000;
	lim.max_call_depth = 16;
	lim.max_time_ms = 0;
	jinja_render(tpl, ctx, &lim, &out, err, sizeof(err));
	buf_release(&out);
	jinja_template_free(tpl);
	return 0;
}

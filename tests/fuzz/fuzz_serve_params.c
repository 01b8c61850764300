/*
 * fuzz_serve_params.c: the inference service's request parsers. The first
 * byte picks what the rest is: 'c' a /v1/chat/completions body, 'p' a
 * /v1/completions body, 'm' a model id, 'u' bytes for the UTF-8 sanitizer,
 * 's' text and stop strings for the stop helpers. Oracles: a parse either
 * fails with a 400 naming a message, or its fields are in range; sanitized
 * text is always valid UTF-8; stop positions stay inside the text.
 */
#include "serve/serve_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_params(const struct serve_params *p)
{
	if (p->n_stop > SERVE_MAX_STOP || p->top_logprobs < 0 ||
	    p->top_logprobs > SERVE_MAX_TOP_LOGPROBS || p->max_tokens < -1 ||
	    p->n_bias > SERVE_MAX_LOGIT_BIAS || !(p->sp.temp >= 0 && p->sp.temp <= 2) ||
	    !(p->sp.top_p > 0 && p->sp.top_p <= 1))
		abort();
	for (size_t i = 0; i < p->n_stop; i++)
		if (!p->stop[i] || strlen(p->stop[i]) > SERVE_MAX_STOP_LEN)
			abort();
	if (p->kind == SERVE_CHAT) {
		if (!json_is_array(p->messages) || json_array_size(p->messages) == 0 ||
		    json_array_size(p->messages) > SERVE_MAX_MESSAGES)
			abort();
		size_t i;
		json_t *m;
		json_array_foreach(p->messages, i, m)
		{
			if (!json_is_string(json_object_get(m, "role")) ||
			    !json_is_string(json_object_get(m, "content")))
				abort();
		}
	} else {
		if (p->n_prompts == 0 || p->n_prompts > SERVE_MAX_PROMPTS)
			abort();
		for (size_t i = 0; i < p->n_prompts; i++) {
			const struct serve_prompt *pr = &p->prompts[i];
			if (!pr->text == !pr->ids)
				abort();
			for (size_t k = 0; k < pr->n_ids; k++)
				if (pr->ids[k] < 0)
					abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *s = (const char *)data + 1;
	size_t n = size - 1;
	switch (data[0]) {
	case 'c':
	case 'p': {
		struct serve_params p;
		struct serve_err e;
		memset(&e, 0, sizeof(e));
		int rc = serve_params_parse(data[0] == 'c' ? SERVE_CHAT : SERVE_COMPLETION, s, n,
		                            &p, &e);
		if (rc) {
			if (e.status != 400 || !e.msg[0])
				abort();
		} else {
			check_params(&p);
		}
		serve_params_release(&p);
		break;
	}
	case 'm': {
		struct serve_model_id id;
		char *z = xstrndup(s, n);
		if (serve_model_id_parse(z, &id) == 0 &&
		    (!id.ns || !id.name || !*id.ns || !*id.name))
			abort();
		free(z);
		break;
	}
	case 'u': {
		struct buf b = BUF_INIT;
		serve_utf8_sanitize(&b, s, n);
		if (!utf8_valid(b.data ? b.data : "", b.len) ||
		    memchr(b.data ? b.data : "", 0, b.len))
			abort();
		if (serve_utf8_complete(s, n) > n)
			abort();
		buf_release(&b);
		break;
	}
	case 's': {
		/* text \x01 stop \x01 stop ... */
		char *z = xstrndup(s, n), *stops[4];
		size_t k = 0;
		char *save = NULL, *tok = strtok_r(z, "\x01", &save);
		const char *text = tok ? tok : "";
		while (k < 4 && (tok = strtok_r(NULL, "\x01", &save)))
			stops[k++] = tok;
		size_t tl = strlen(text);
		for (size_t from = 0; from <= tl; from += 1 + tl / 8) {
			size_t f = serve_stop_find(text, tl, from, (const char *const *)stops, k);
			size_t h =
			        serve_stop_holdback(text, tl, from, (const char *const *)stops, k);
			if (f > tl || h > tl || h < from)
				abort();
		}
		free(z);
		break;
	}
	default: break;
	}
	return 0;
}

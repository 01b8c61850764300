/*
 * params.c: the pure parts of the service. The OpenAI request bodies into
 * struct serve_params (every field checked: type, range, count, size, so a
 * hostile body gets a 400 naming the field and never reaches the engine),
 * model ids of the hub, the choice of a GGUF file by quant tag, and the text
 * helpers of streaming (stop strings held back until they cannot match, UTF-8
 * completed or replaced). No I/O here: unit-tested and fuzzed.
 */
#include "serve/serve_int.h"

#include "hub/hub.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int serve_fail(struct serve_err *e, int status, const char *type, const char *param,
               const char *code, const char *fmt, ...)
{
	va_list ap;
	if (!e)
		return HD_EINVAL;
	e->status = status;
	e->type = type;
	e->param = param;
	e->code = code;
	e->retry_after = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return HD_EINVAL;
}

/* ---- small JSON readers ------------------------------------------------------ */

/* A number field in [lo, hi] (null or absent: leaves *out). */
static int get_num(json_t *o, const char *key, double lo, double hi, float *out,
                   struct serve_err *e)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return serve_bad(e, key, "'%s' must be a number", key);
	double d = json_number_value(v);
	if (!isfinite(d) || d < lo || d > hi)
		return serve_bad(e, key, "'%s' must be between %g and %g", key, lo, hi);
	*out = (float)d;
	return 0;
}

/* An integer field in [lo, hi]. */
static int get_int(json_t *o, const char *key, int64_t lo, int64_t hi, int64_t *out,
                   struct serve_err *e)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d != floor(d) || !(d >= (double)lo && d <= (double)hi))
			return serve_bad(e, key, "'%s' must be an integer between %lld and %lld",
			                 key, (long long)lo, (long long)hi);
		*out = (int64_t)d;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return serve_bad(e, key, "'%s' must be an integer between %lld and %lld", key,
		                 (long long)lo, (long long)hi);
	*out = json_integer_value(v);
	return 0;
}

static int get_bool(json_t *o, const char *key, int *out, struct serve_err *e)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return serve_bad(e, key, "'%s' must be a boolean", key);
	*out = json_is_true(v);
	return 0;
}

/* ---- messages ------------------------------------------------------------------ */

/* Text of a content value: a string, or an array of {type:"text", text}
 * parts (joined by newlines); NULL content is "" (an assistant turn with tool
 * calls). Returns a new JSON string or NULL with e filled. */
static json_t *content_text(json_t *c, size_t idx, struct serve_err *e)
{
	if (!c || json_is_null(c))
		return json_string("");
	if (json_is_string(c))
		return json_incref(c);
	if (!json_is_array(c)) {
		serve_bad(e, "messages",
		          "messages[%zu].content must be a string or an array of parts", idx);
		return NULL;
	}
	struct buf b = BUF_INIT;
	size_t i;
	json_t *part;
	json_array_foreach(c, i, part)
	{
		const char *type = json_string_value(json_object_get(part, "type"));
		json_t *text = json_object_get(part, "text");
		if (!type || strcmp(type, "text") || !json_is_string(text)) {
			buf_release(&b);
			serve_bad(
			        e, "messages",
			        "messages[%zu].content[%zu]: only text parts ({\"type\": \"text\", "
			        "\"text\": ...}) are supported",
			        idx, i);
			return NULL;
		}
		if (b.len)
			buf_putc(&b, '\n');
		buf_append(&b, json_string_value(text), json_string_length(text));
	}
	json_t *r = json_stringn(b.data ? b.data : "", b.len);
	buf_release(&b);
	return r;
}

/* Checks messages and builds the array the chat template sees: role,
 * content (a string) and name. */
static int parse_messages(json_t *root, struct serve_params *p, struct serve_err *e)
{
	static const char *const roles[] = {"system", "user", "assistant", "tool", "developer"};
	json_t *msgs = json_object_get(root, "messages");
	size_t i;
	json_t *m;

	if (!json_is_array(msgs) || json_array_size(msgs) == 0)
		return serve_bad(e, "messages", "'messages' must be a non-empty array");
	if (json_array_size(msgs) > SERVE_MAX_MESSAGES)
		return serve_bad(e, "messages", "too many messages: %zu (at most %d)",
		                 json_array_size(msgs), SERVE_MAX_MESSAGES);
	json_t *out = json_array();
	json_array_foreach(msgs, i, m)
	{
		const char *role = json_string_value(json_object_get(m, "role"));
		size_t k;
		if (!json_is_object(m) || !role) {
			json_decref(out);
			return serve_bad(e, "messages", "messages[%zu] needs a 'role'", i);
		}
		for (k = 0; k < ARRAY_SIZE(roles); k++)
			if (!strcmp(role, roles[k]))
				break;
		if (k == ARRAY_SIZE(roles)) {
			json_decref(out);
			return serve_bad(
			        e, "messages",
			        "messages[%zu].role must be system, user, assistant, tool or "
			        "developer",
			        i);
		}
		json_t *text = content_text(json_object_get(m, "content"), i, e);
		if (!text) {
			json_decref(out);
			return HD_EINVAL;
		}
		json_t *o = json_object();
		/* "developer" is OpenAI's newer name for the system role */
		json_object_set_new(o, "role", json_string(k == 4 ? "system" : role));
		json_object_set_new(o, "content", text);
		json_t *name = json_object_get(m, "name");
		if (json_is_string(name))
			json_object_set(o, "name", name);
		json_array_append_new(out, o);
	}
	p->messages = out;
	return 0;
}

/* ---- prompts (completions) -------------------------------------------------------- */

static int ids_from_array(json_t *a, struct serve_prompt *pr, size_t idx, struct serve_err *e)
{
	size_t n = json_array_size(a), i;
	json_t *v;
	if (n == 0)
		return serve_bad(e, "prompt", "prompt %zu is an empty list of tokens", idx);
	if (n > (1u << 20))
		return serve_bad(e, "prompt", "prompt %zu has too many tokens", idx);
	pr->ids = xmalloc_array(n, sizeof(int32_t));
	pr->n_ids = n;
	json_array_foreach(a, i, v)
	{
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > INT32_MAX)
			return serve_bad(e, "prompt", "prompt %zu: token %zu is not a token id",
			                 idx, i);
		pr->ids[i] = (int32_t)json_integer_value(v);
	}
	return 0;
}

static int set_text_prompt(json_t *s, struct serve_prompt *pr, struct serve_err *e)
{
	if (json_string_length(s) > SERVE_MAX_PROMPT_BYTES)
		return serve_bad(e, "prompt", "the prompt is too long (%zu bytes, at most %zu)",
		                 json_string_length(s), SERVE_MAX_PROMPT_BYTES);
	pr->text = json_string_value(s);
	pr->text_len = json_string_length(s);
	return 0;
}

static int parse_prompt(json_t *root, struct serve_params *p, struct serve_err *e)
{
	json_t *pr = json_object_get(root, "prompt");
	size_t i, total = 0;
	json_t *v;

	if (json_is_string(pr)) {
		p->prompts = xcalloc(1, sizeof(*p->prompts));
		p->n_prompts = 1;
		return set_text_prompt(pr, &p->prompts[0], e);
	}
	if (!json_is_array(pr) || json_array_size(pr) == 0)
		return serve_bad(e, "prompt",
		                 "'prompt' must be a string, a list of strings, a list of token "
		                 "ids or a list of such lists");
	/* a list of token ids is one prompt */
	if (json_is_integer(json_array_get(pr, 0))) {
		p->prompts = xcalloc(1, sizeof(*p->prompts));
		p->n_prompts = 1;
		return ids_from_array(pr, &p->prompts[0], 0, e);
	}
	if (json_array_size(pr) > SERVE_MAX_PROMPTS)
		return serve_bad(e, "prompt", "too many prompts: %zu (at most %d)",
		                 json_array_size(pr), SERVE_MAX_PROMPTS);
	p->prompts = xcalloc(json_array_size(pr), sizeof(*p->prompts));
	p->n_prompts = json_array_size(pr);
	json_array_foreach(pr, i, v)
	{
		int rc;
		if (json_is_string(v))
			rc = set_text_prompt(v, &p->prompts[i], e);
		else if (json_is_array(v))
			rc = ids_from_array(v, &p->prompts[i], i, e);
		else
			rc = serve_bad(e, "prompt",
			               "prompt %zu must be a string or a list of token ids", i);
		if (rc)
			return rc;
		total += p->prompts[i].text_len + p->prompts[i].n_ids;
		if (total > SERVE_MAX_PROMPT_BYTES)
			return serve_bad(e, "prompt", "the prompts are too long");
	}
	return 0;
}

/* ---- the rest ---------------------------------------------------------------------- */

static int parse_stop(json_t *root, struct serve_params *p, struct serve_err *e)
{
	json_t *s = json_object_get(root, "stop");
	size_t i;
	json_t *v;
	if (!s || json_is_null(s))
		return 0;
	if (json_is_string(s)) {
		if (json_string_length(s) > SERVE_MAX_STOP_LEN)
			return serve_bad(e, "stop", "a stop string is longer than %d bytes",
			                 SERVE_MAX_STOP_LEN);
		if (json_string_length(s) > 0)
			p->stop[p->n_stop++] = json_string_value(s);
		return 0;
	}
	if (!json_is_array(s) || json_array_size(s) > SERVE_MAX_STOP)
		return serve_bad(e, "stop",
		                 "'stop' must be a string or a list of at most %d strings",
		                 SERVE_MAX_STOP);
	json_array_foreach(s, i, v)
	{
		if (!json_is_string(v))
			return serve_bad(e, "stop", "'stop' must hold strings");
		if (json_string_length(v) > SERVE_MAX_STOP_LEN)
			return serve_bad(e, "stop", "a stop string is longer than %d bytes",
			                 SERVE_MAX_STOP_LEN);
		/* strlen: a string with a NUL byte stops at the NUL */
		if (json_string_length(v) > 0 && strlen(json_string_value(v)) > 0)
			p->stop[p->n_stop++] = json_string_value(v);
	}
	return 0;
}

static int parse_logit_bias(json_t *root, struct serve_params *p, struct serve_err *e)
{
	json_t *b = json_object_get(root, "logit_bias"), *v;
	const char *k;
	if (!b || json_is_null(b))
		return 0;
	if (!json_is_object(b) || json_object_size(b) > SERVE_MAX_LOGIT_BIAS)
		return serve_bad(e, "logit_bias",
		                 "'logit_bias' must be an object of at most %d token ids", 1024);
	p->bias_ids = xmalloc_array(json_object_size(b) + 1, sizeof(int32_t));
	p->bias = xmalloc_array(json_object_size(b) + 1, sizeof(float));
	json_object_foreach(b, k, v)
	{
		int64_t id;
		if (str_to_i64(k, &id) || id < 0 || id > INT32_MAX)
			return serve_bad(e, "logit_bias", "logit_bias keys must be token ids");
		if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
		    fabs(json_number_value(v)) > 100)
			return serve_bad(e, "logit_bias",
			                 "logit_bias values must be numbers between -100 and 100");
		p->bias_ids[p->n_bias] = (int32_t)id;
		p->bias[p->n_bias++] = (float)json_number_value(v);
	}
	return 0;
}

/* Fields we do not implement: refused when they ask for something, so a
 * client never silently gets a different behaviour. */
static int refuse_unsupported(json_t *root, struct serve_err *e)
{
	json_t *v;
	int64_t n = 1;
	if (get_int(root, "n", 1, 1000000, &n, e))
		return HD_EINVAL;
	if (n != 1)
		return serve_bad(e, "n", "only n = 1 is supported");
	n = 1;
	if (get_int(root, "best_of", 1, 1000000, &n, e))
		return HD_EINVAL;
	if (n != 1)
		return serve_bad(e, "best_of", "only best_of = 1 is supported");
	v = json_object_get(root, "tools");
	if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0))
		return serve_bad(e, "tools", "tools are not supported by this server");
	v = json_object_get(root, "functions");
	if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0))
		return serve_bad(e, "functions", "functions are not supported by this server");
	v = json_object_get(root, "suffix");
	if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
		return serve_bad(e, "suffix", "suffix is not supported");
	v = json_object_get(root, "response_format");
	if (v && !json_is_null(v)) {
		const char *t = json_string_value(json_object_get(v, "type"));
		if (!t || strcmp(t, "text"))
			return serve_bad(e, "response_format",
			                 "only response_format {\"type\": \"text\"} is supported");
	}
	return 0;
}

int serve_params_parse(enum serve_kind kind, const char *body, size_t len, struct serve_params *p,
                       struct serve_err *e)
{
	json_error_t jerr;
	json_t *root, *v;
	int64_t iv;
	int rc;

	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->model = "";
	p->max_tokens = kind == SERVE_COMPLETION ? 16 : -1;
	infer_sampler_params_default(&p->sp);
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return serve_bad(e, NULL, "the body is not valid JSON: %s (line %d)", jerr.text,
		                 jerr.line);
	p->root = root;
	if (!json_is_object(root))
		return serve_bad(e, NULL, "the body must be a JSON object");

	v = json_object_get(root, "model");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v))
			return serve_bad(e, "model", "'model' must be a string");
		p->model = json_string_value(v);
	}
	if ((rc = refuse_unsupported(root, e)))
		return rc;
	if (kind == SERVE_CHAT)
		rc = parse_messages(root, p, e);
	else
		rc = parse_prompt(root, p, e);
	if (rc)
		return rc;

	if ((rc = get_bool(root, "stream", &p->stream, e)))
		return rc;
	v = json_object_get(root, "stream_options");
	if (v && !json_is_null(v)) {
		if (!json_is_object(v))
			return serve_bad(e, "stream_options", "'stream_options' must be an object");
		if ((rc = get_bool(v, "include_usage", &p->include_usage, e)))
			return rc;
	}
	if (kind == SERVE_COMPLETION && (rc = get_bool(root, "echo", &p->echo, e)))
		return rc;

	/* max_tokens: the upper limit is the model's; here only the type */
	const char *mt_key =
	        json_object_get(root, "max_completion_tokens") &&
	                        !json_is_null(json_object_get(root, "max_completion_tokens"))
	                ? "max_completion_tokens"
	                : "max_tokens";
	iv = p->max_tokens;
	if ((rc = get_int(root, mt_key, kind == SERVE_CHAT ? 1 : 0, INT64_MAX, &iv, e)))
		return rc;
	p->max_tokens = iv;
	p->max_tokens_key = mt_key;

	if ((rc = get_num(root, "temperature", 0, 2, &p->sp.temp, e)) ||
	    (rc = get_num(root, "top_p", 0, 1, &p->sp.top_p, e)) ||
	    (rc = get_num(root, "min_p", 0, 1, &p->sp.min_p, e)) ||
	    (rc = get_num(root, "repeat_penalty", 0.01, 100, &p->sp.repeat_penalty, e)) ||
	    (rc = get_num(root, "presence_penalty", -2, 2, &p->presence_penalty, e)) ||
	    (rc = get_num(root, "frequency_penalty", -2, 2, &p->frequency_penalty, e)))
		return rc;
	if (p->sp.top_p <= 0)
		p->sp.top_p = 1e-6f; /* top_p 0: only the most likely token */
	iv = p->sp.top_k;
	if ((rc = get_int(root, "top_k", 0, 1 << 20, &iv, e)))
		return rc;
	p->sp.top_k = (int32_t)iv;
	v = json_object_get(root, "seed");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v))
			return serve_bad(e, "seed", "'seed' must be an integer");
		p->sp.seed = (uint64_t)json_integer_value(v);
		p->seed_set = 1;
	}
	if ((rc = parse_stop(root, p, e)) || (rc = parse_logit_bias(root, p, e)))
		return rc;

	if (kind == SERVE_CHAT) {
		iv = 0;
		if ((rc = get_bool(root, "logprobs", &p->logprobs, e)) ||
		    (rc = get_int(root, "top_logprobs", 0, SERVE_MAX_TOP_LOGPROBS, &iv, e)))
			return rc;
		p->top_logprobs = (int)iv;
		if (p->top_logprobs && !p->logprobs)
			return serve_bad(e, "top_logprobs",
			                 "'top_logprobs' needs 'logprobs': true");
	} else {
		v = json_object_get(root, "logprobs");
		if (v && !json_is_null(v) && !json_is_false(v)) {
			iv = 0;
			if (json_is_true(v))
				iv = 0;
			else if ((rc = get_int(root, "logprobs", 0, SERVE_MAX_TOP_LOGPROBS, &iv,
			                       e)))
				return rc;
			p->logprobs = 1;
			p->top_logprobs = (int)iv;
		}
	}
	return 0;
}

void serve_params_release(struct serve_params *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_prompts; i++)
		free(p->prompts[i].ids);
	free(p->prompts);
	free(p->bias_ids);
	free(p->bias);
	json_decref(p->messages);
	json_decref(p->root);
	memset(p, 0, sizeof(*p));
}

/* ---- model ids ---------------------------------------------------------------------- */

static int quant_valid(const char *q)
{
	size_t n = strlen(q);
	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)q[i]) && q[i] != '_' && q[i] != '-' && q[i] != '.')
			return 0;
	return 1;
}

int serve_model_id_parse(const char *id, struct serve_model_id *out)
{
	char *slash, *at, *colon;
	memset(out, 0, sizeof(*out));
	if (!id || strlen(id) >= sizeof(out->buf))
		return HD_EINVAL;
	strcpy(out->buf, id);
	slash = strchr(out->buf, '/');
	if (!slash)
		return HD_EINVAL;
	*slash = 0;
	out->ns = out->buf;
	out->name = slash + 1;
	at = strchr(slash + 1, '@');
	colon = strrchr(at ? at : slash + 1, ':');
	if (colon) {
		*colon = 0;
		out->quant = colon + 1;
		if (!quant_valid(out->quant))
			return HD_EINVAL;
	}
	if (at) {
		*at = 0;
		out->rev = at + 1;
		if (!hub_rev_valid(out->rev))
			return HD_EINVAL;
	}
	if (!hub_name_valid(out->ns) || !hub_name_valid(out->name))
		return HD_EINVAL;
	return 0;
}

/* ---- GGUF choice ----------------------------------------------------------------------- */

/* Ollama's default is Q4_K_M; then what usually keeps the most quality per
 * byte. Files without a known tag come after these. */
static const char *const quant_pref[] = {
        "Q4_K_M", "Q4_K_S", "Q4_K", "Q5_K_M", "Q5_K_S", "Q5_K",   "Q4_0",   "Q4_1",
        "Q5_0",   "Q5_1",   "Q6_K", "Q8_0",   "IQ4_XS", "IQ4_NL", "Q3_K_L", "Q3_K_M",
        "Q3_K_S", "Q3_K",   "Q2_K", "BF16",   "F16",    "F32",
};

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* 1 if tag occurs in name bounded by separators. strict: '_' is part of a
 * tag ("Q4_K" does not match "Q4_K_M"); else any non-alphanumeric bounds. */
static int has_tag(const char *name, const char *tag, int strict)
{
	size_t n = strlen(name), t = strlen(tag);
	for (size_t i = 0; i + t <= n; i++) {
		if (strncasecmp(name + i, tag, t))
			continue;
		unsigned char before = i ? (unsigned char)name[i - 1] : '.';
		unsigned char after = (unsigned char)name[i + t];
		int bb = !isalnum(before) && !(strict && before == '_');
		int ba = !after || (!isalnum(after) && !(strict && after == '_'));
		if (bb && ba)
			return 1;
	}
	return 0;
}

static int is_candidate(const char *path)
{
	const char *b = base_name(path);
	size_t n = strlen(b);
	if (n < 5 || strcasecmp(b + n - 5, ".gguf"))
		return 0;
	if (strcasestr(b, "mmproj"))
		return 0;
	/* split files: NAME-00001-of-00003.gguf */
	const char *of = strstr(b, "-of-");
	if (of && of - b >= 6 && isdigit((unsigned char)of[-1]) && isdigit((unsigned char)of[4]))
		return 0;
	return 1;
}

int serve_pick_gguf(const char *const *paths, const int64_t *sizes, size_t n, const char *quant,
                    int64_t max_size)
{
	int best = -1;
	size_t best_rank = SIZE_MAX;

	if (quant) {
		for (int strict = 1; strict >= 0; strict--) {
			for (size_t i = 0; i < n; i++)
				if (is_candidate(paths[i]) &&
				    has_tag(base_name(paths[i]), quant, strict) &&
				    (best < 0 || sizes[i] < sizes[best]))
					best = (int)i;
			if (best >= 0)
				return best;
		}
		return -1;
	}
	/* the preferred tag among the files that fit */
	for (size_t i = 0; i < n; i++) {
		if (!is_candidate(paths[i]) || (max_size > 0 && sizes[i] > max_size))
			continue;
		size_t rank = ARRAY_SIZE(quant_pref);
		for (size_t k = 0; k < ARRAY_SIZE(quant_pref); k++)
			if (has_tag(base_name(paths[i]), quant_pref[k], 1)) {
				rank = k;
				break;
			}
		if (best < 0 || rank < best_rank || (rank == best_rank && sizes[i] < sizes[best])) {
			best = (int)i;
			best_rank = rank;
		}
	}
	if (best >= 0)
		return best;
	/* nothing fits: the smallest, so the error names the budget */
	for (size_t i = 0; i < n; i++)
		if (is_candidate(paths[i]) && (best < 0 || sizes[i] < sizes[best]))
			best = (int)i;
	return best;
}

/* ---- streaming text -------------------------------------------------------------------- */

size_t serve_stop_find(const char *text, size_t n, size_t from, const char *const *stops,
                       size_t n_stops)
{
	size_t best = n;
	for (size_t k = 0; k < n_stops; k++) {
		size_t sl = strlen(stops[k]);
		if (!sl || sl > n)
			continue;
		/* a match new since `from` ends after it: it starts at >= from - sl + 1 */
		size_t start = from >= sl ? from - sl + 1 : 0;
		const char *hit = memmem(text + start, n - start, stops[k], sl);
		if (hit && (size_t)(hit - text) < best)
			best = (size_t)(hit - text);
	}
	return best;
}

size_t serve_stop_holdback(const char *text, size_t n, size_t from, const char *const *stops,
                           size_t n_stops)
{
	size_t maxl = 0;
	for (size_t k = 0; k < n_stops; k++)
		maxl = HD_MAX(maxl, strlen(stops[k]));
	if (!maxl)
		return n;
	size_t p = n >= maxl ? n - maxl + 1 : 0;
	if (p < from)
		p = from;
	for (; p < n; p++) {
		for (size_t k = 0; k < n_stops; k++) {
			size_t sl = strlen(stops[k]);
			if (n - p < sl && !memcmp(text + p, stops[k], n - p))
				return p;
		}
	}
	return n;
}

size_t serve_utf8_complete(const char *s, size_t n)
{
	size_t i = n, k = 0;
	while (i > 0 && k < 4) {
		unsigned char c = (unsigned char)s[i - 1];
		k++;
		if ((c & 0xc0) != 0x80) {
			size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
			return need > k ? i - 1 : n;
		}
		i--;
	}
	return n;
}

/* The UTF-8 sequence at s[0..n): its length when valid (> 0), else minus
 * the length of its maximal subpart (the bytes that could still start a
 * valid sequence, at least 1), which decoders replace by one U+FFFD (the
 * WHATWG Encoding standard, so the text equals what a browser or node shows
 * for the same bytes). */
static long utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return -1;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	for (size_t i = 1; i < len; i++) {
		if (i >= n || s[i] < lo || s[i] > hi)
			return -(long)i;
		lo = 0x80;
		hi = 0xbf;
	}
	return (long)len;
}

void serve_utf8_sanitize(struct buf *out, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;
	while (i < n) {
		long l = utf8_seq(u + i, n - i);
		if (l > 0 && u[i]) {
			i += (size_t)l;
			run += (size_t)l;
			continue;
		}
		buf_append(out, s + i - run, run);
		run = 0;
		if (u[i]) {
			buf_puts(out, "\xef\xbf\xbd");
			i += (size_t)-l;
		} else {
			i++; /* NUL bytes are dropped */
		}
	}
	buf_append(out, s + n - run, run);
}

/*
 * card.c: model-card metadata, the YAML front matter of README.md.
 *
 *   ---
 *   license: mit
 *   tags: [text-generation, llama]
 *   ---
 *   # My model
 *
 * libyaml loads the document; we convert it to JSON (jansson) with bounds
 * on depth and on the number of nodes visited, so aliases cannot expand
 * into a "billion laughs", then pick the fields the Hub indexes.
 */
#include "hub/hub_int.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CARD_YAML_MAX (256 * 1024)
#define CARD_DEPTH_MAX 64
#define CARD_NODES_MAX 100000
#define CARD_LIST_MAX 1000 /* entries kept per list field */
#define CARD_STR_MAX 1024 /* longest string kept in a field */

struct conv {
	yaml_document_t *doc;
	long nodes;
	char *err;
	size_t err_size;
	int failed;
};

/* YAML 1.2 core schema for plain scalars (plus the True/False spellings). */
static json_t *plain_scalar(const char *s, size_t n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	static const char *const trues[] = {"true", "True", "TRUE"};
	static const char *const falses[] = {"false", "False", "FALSE"};

	for (size_t i = 0; i < ARRAY_SIZE(nulls); i++)
		if (!strcmp(s, nulls[i]))
			return json_null();
	for (size_t i = 0; i < ARRAY_SIZE(trues); i++)
		if (!strcmp(s, trues[i]))
			return json_true();
	for (size_t i = 0; i < ARRAY_SIZE(falses); i++)
		if (!strcmp(s, falses[i]))
			return json_false();
	if (n > 0 && n < 32) {
		int64_t v;
		const char *d = s + (s[0] == '-' || s[0] == '+');
		if (isdigit((unsigned char)*d) && str_to_i64(s[0] == '+' ? s + 1 : s, &v) == 0)
			return json_integer(v);
		/* a decimal float: digits, one '.', optional exponent */
		int digits = 0, dot = 0, ok = 1;
		const char *q = d;
		for (; *q && *q != 'e' && *q != 'E'; q++) {
			if (isdigit((unsigned char)*q))
				digits++;
			else if (*q == '.' && !dot)
				dot = 1;
			else
				ok = 0;
		}
		if (ok && digits && *q) {
			q++;
			if (*q == '+' || *q == '-')
				q++;
			if (!isdigit((unsigned char)*q))
				ok = 0;
			for (; *q; q++)
				if (!isdigit((unsigned char)*q))
					ok = 0;
		}
		if (ok && digits && dot) {
			char *end;
			errno = 0;
			double f = strtod(s, &end);
			if (!errno && *end == 0)
				return json_real(f);
		}
	}
	return json_stringn(s, n);
}

static json_t *convert(struct conv *cv, yaml_node_t *node, int depth)
{
	if (cv->failed)
		return NULL;
	if (!node) {
		cv->failed = hd_fail(cv->err, cv->err_size, HD_EINVAL, "dangling YAML node");
		return NULL;
	}
	if (depth > CARD_DEPTH_MAX) {
		cv->failed = hd_fail(cv->err, cv->err_size, HD_EINVAL,
		                     "YAML nested deeper than %d levels", CARD_DEPTH_MAX);
		return NULL;
	}
	if (++cv->nodes > CARD_NODES_MAX) {
		cv->failed =
		        hd_fail(cv->err, cv->err_size, HD_EINVAL,
		                "YAML has more than %d nodes (aliases included)", CARD_NODES_MAX);
		return NULL;
	}
	switch (node->type) {
	case YAML_SCALAR_NODE: {
		const char *s = (const char *)node->data.scalar.value;
		size_t n = node->data.scalar.length;
		json_t *j;
		if (memchr(s, 0, n)) /* "\0" escapes: not representable as a C string */
			j = json_stringn(s, n);
		else if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			j = plain_scalar(s, n);
		else
			j = json_stringn(s, n);
		if (!j)
			cv->failed = hd_fail(cv->err, cv->err_size, HD_EINVAL,
			                     "YAML scalar is not valid UTF-8");
		return j;
	}
	case YAML_SEQUENCE_NODE: {
		json_t *arr = json_array();
		for (yaml_node_item_t *it = node->data.sequence.items.start;
		     it < node->data.sequence.items.top; it++) {
			json_t *v = convert(cv, yaml_document_get_node(cv->doc, *it), depth + 1);
			if (!v) {
				json_decref(arr);
				return NULL;
			}
			json_array_append_new(arr, v);
		}
		return arr;
	}
	case YAML_MAPPING_NODE: {
		json_t *obj = json_object();
		for (yaml_node_pair_t *pr = node->data.mapping.pairs.start;
		     pr < node->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(cv->doc, pr->key);
			if (!k || k->type != YAML_SCALAR_NODE) {
				cv->failed = hd_fail(cv->err, cv->err_size, HD_EINVAL,
				                     "YAML mapping key is not a scalar");
				json_decref(obj);
				return NULL;
			}
			if (++cv->nodes > CARD_NODES_MAX) {
				cv->failed = hd_fail(cv->err, cv->err_size, HD_EINVAL,
				                     "YAML has too many nodes");
				json_decref(obj);
				return NULL;
			}
			json_t *v =
			        convert(cv, yaml_document_get_node(cv->doc, pr->value), depth + 1);
			if (!v) {
				json_decref(obj);
				return NULL;
			}
			const char *ks = (const char *)k->data.scalar.value;
			size_t kn = k->data.scalar.length;
			if (memchr(ks, 0, kn) || json_object_setn_new(obj, ks, kn, v)) {
				if (!memchr(ks, 0, kn))
					cv->failed = hd_fail(cv->err, cv->err_size, HD_EINVAL,
					                     "YAML key is not valid UTF-8");
				else
					json_decref(v);
				if (cv->failed) {
					json_decref(obj);
					return NULL;
				}
			}
		}
		return obj;
	}
	default:
		cv->failed = hd_fail(cv->err, cv->err_size, HD_EINVAL, "empty YAML node");
		return NULL;
	}
}

/* A scalar field as a string (strings and numbers), or NULL. */
static char *field_str(json_t *v)
{
	char tmp[64];
	if (json_is_string(v)) {
		size_t n = json_string_length(v);
		const char *s = json_string_value(v);
		if (n == 0 || n > CARD_STR_MAX || memchr(s, 0, n))
			return NULL;
		return xstrndup(s, n);
	}
	if (json_is_integer(v)) {
		snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
		return xstrdup(tmp);
	}
	if (json_is_real(v)) {
		snprintf(tmp, sizeof(tmp), "%g", json_real_value(v));
		return xstrdup(tmp);
	}
	return NULL;
}

/* A list field: a list of scalars or a single scalar. */
static char **field_list(json_t *v, size_t *n_out)
{
	char **out = NULL;
	size_t n = 0;

	*n_out = 0;
	if (!v)
		return NULL;
	if (!json_is_array(v)) {
		char *s = field_str(v);
		if (!s)
			return NULL;
		out = xmalloc(sizeof(char *));
		out[0] = s;
		*n_out = 1;
		return out;
	}
	size_t len = json_array_size(v);
	out = xcalloc(len ? HD_MIN(len, (size_t)CARD_LIST_MAX) : 1, sizeof(char *));
	for (size_t i = 0; i < len && n < CARD_LIST_MAX; i++) {
		char *s = field_str(json_array_get(v, i));
		if (s)
			out[n++] = s;
	}
	if (!n) {
		free(out);
		return NULL;
	}
	*n_out = n;
	return out;
}

/* Finds the front matter: "---" line, then up to a closing "---" line.
 * Sets yaml, yaml_len and body. 0 if there is none. */
static int find_front_matter(const char *text, size_t n, const char **yaml, size_t *yaml_len,
                             size_t *body)
{
	size_t i = 3;
	if (n < 4 || memcmp(text, "---", 3))
		return 0;
	while (i < n && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r'))
		i++;
	if (i >= n || text[i] != '\n')
		return 0;
	size_t start = ++i;
	while (i < n) {
		const char *nl = memchr(text + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - text) : n;
		size_t k = end;
		while (k > i && (text[k - 1] == ' ' || text[k - 1] == '\t' || text[k - 1] == '\r'))
			k--;
		if (k - i == 3 && !memcmp(text + i, "---", 3)) {
			*yaml = text + start;
			*yaml_len = i - start;
			*body = nl ? end + 1 : n;
			return 1;
		}
		i = end + 1;
	}
	return 0;
}

int hub_card_parse(const char *text, size_t n, struct hub_card *out, char *err, size_t err_size)
{
	const char *yaml;
	size_t yaml_len, body = 0;
	yaml_parser_t parser;
	yaml_document_t doc;
	struct conv cv = {0};
	json_t *root = NULL;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!text || !find_front_matter(text, n, &yaml, &yaml_len, &body))
		return 0;
	out->body_offset = body;
	if (yaml_len > CARD_YAML_MAX)
		return hd_fail(err, err_size, HD_EINVAL, "front matter larger than %d KiB",
		               CARD_YAML_MAX / 1024);
	if (!yaml_parser_initialize(&parser))
		return hd_fail(err, err_size, HD_EINTERNAL, "libyaml: out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, yaml_len);
	yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = hd_fail(err, err_size, HD_EINVAL, "YAML error at line %zu: %s",
		             parser.problem_mark.line + 1,
		             parser.problem ? parser.problem : "malformed");
		yaml_parser_delete(&parser);
		return rc;
	}
	yaml_node_t *top = yaml_document_get_root_node(&doc);
	if (top) {
		cv.doc = &doc;
		cv.err = err;
		cv.err_size = err_size;
		root = convert(&cv, top, 0);
		rc = cv.failed;
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc)
		return rc;
	if (!root)
		return 0; /* empty front matter */
	if (!json_is_object(root)) {
		json_decref(root);
		return hd_fail(err, err_size, HD_EINVAL, "front matter is not a YAML mapping");
	}
	out->json = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
	out->license = field_str(json_object_get(root, "license"));
	out->pipeline_tag = field_str(json_object_get(root, "pipeline_tag"));
	out->library_name = field_str(json_object_get(root, "library_name"));
	out->tags = field_list(json_object_get(root, "tags"), &out->n_tags);
	out->base_models = field_list(json_object_get(root, "base_model"), &out->n_base_models);
	out->datasets = field_list(json_object_get(root, "datasets"), &out->n_datasets);
	out->languages = field_list(json_object_get(root, "language"), &out->n_languages);
	json_decref(root);
	return 0;
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void hub_card_release(struct hub_card *card)
{
	if (!card)
		return;
	free(card->license);
	free(card->pipeline_tag);
	free(card->library_name);
	free_list(card->tags, card->n_tags);
	free_list(card->base_models, card->n_base_models);
	free_list(card->datasets, card->n_datasets);
	free_list(card->languages, card->n_languages);
	free(card->json);
	memset(card, 0, sizeof(*card));
}

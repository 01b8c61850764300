/*
 * auth.c: accounts, membership, tokens, the access rules and the audit log.
 */
#include "auth/auth.h"
#include "core/core.h"
#include "store/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LAST_USED_PERIOD_MS (60 * 1000)

static const char *const role_names[] = {"none", "read", "write", "admin"};

const char *auth_role_name(enum auth_role r)
{
	return (unsigned)r < ARRAY_SIZE(role_names) ? role_names[r] : "none";
}

int auth_role_parse(const char *s, enum auth_role *out)
{
	for (size_t i = 1; s && i < ARRAY_SIZE(role_names); i++) {
		if (!strcmp(s, role_names[i])) {
			*out = (enum auth_role)i;
			return 0;
		}
	}
	return HD_EINVAL;
}

static void lower_copy(char *dst, const char *src, size_t n)
{
	size_t i = 0;
	for (; src[i] && i + 1 < n; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = 0;
}

static void copy_str(char *dst, size_t n, const char *src)
{
	if (!src)
		src = "";
	size_t len = strlen(src);
	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = 0;
}

int auth_name_valid(const char *name)
{
	size_t n;

	if (!name)
		return 0;
	n = strlen(name);
	if (n == 0 || n > AUTH_NAME_MAX || !isalnum((unsigned char)name[0]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!isalnum((unsigned char)ch) && ch != '.' && ch != '_' && ch != '-')
			return 0;
		if (i > 0) {
			char prev = name[i - 1];
			int p_sep = prev == '.' || prev == '-', c_sep = ch == '.' || ch == '-';
			if (p_sep && c_sep) /* "..", "--", "-.", ".-" */
				return 0;
		}
	}
	if (name[n - 1] == '.' || name[n - 1] == '-')
		return 0;
	if (n >= 4 && !strcasecmp(name + n - 4, ".git"))
		return 0;
	return 1;
}

/* ---- callers --------------------------------------------------------------- */
void auth_caller_init_anonymous(struct auth_caller *c)
{
	memset(c, 0, sizeof(*c));
	c->token_role = AUTH_ROLE_NONE;
}

void auth_caller_release(struct auth_caller *c)
{
	if (!c)
		return;
	free(c->orgs);
	for (size_t i = 0; i < c->n_scopes; i++)
		free(c->scopes[i]);
	free(c->scopes);
	c->orgs = NULL;
	c->scopes = NULL;
	c->n_orgs = c->n_scopes = 0;
}

/* Loads user id's account row and memberships into c. */
static int load_user(struct store_db *db, int64_t id, struct auth_caller *c)
{
	struct store_stmt *s;
	int rc = store_stmt(db,
	                    "SELECT name, fullname, email, is_admin, created FROM accounts"
	                    " WHERE id = ? AND kind = 0",
	                    &s);
	if (rc)
		return rc;
	store_bind_i64(s, 1, id);
	rc = store_step(s);
	if (rc == 1) {
		c->user_id = id;
		copy_str(c->user, sizeof(c->user), store_col_text(s, 0));
		copy_str(c->fullname, sizeof(c->fullname), store_col_text(s, 1));
		copy_str(c->email, sizeof(c->email), store_col_text(s, 2));
		c->is_admin = (int)store_col_i64(s, 3);
		c->user_created_ms = store_col_i64(s, 4);
		rc = 0;
	} else if (rc == 0) {
		rc = HD_ENOTFOUND;
	}
	store_stmt_done(s);
	if (rc)
		return rc;
	rc = store_stmt(db,
	                "SELECT m.org_id, a.name, m.role FROM members m"
	                " JOIN accounts a ON a.id = m.org_id WHERE m.user_id = ?"
	                " ORDER BY a.name_key",
	                &s);
	if (rc)
		return rc;
	store_bind_i64(s, 1, id);
	size_t cap = 0;
	while ((rc = store_step(s)) == 1) {
		if (c->n_orgs == cap) {
			cap = cap ? cap * 2 : 4;
			c->orgs = xrealloc(c->orgs, cap * sizeof(*c->orgs));
		}
		struct auth_membership *m = &c->orgs[c->n_orgs++];
		m->org_id = store_col_i64(s, 0);
		copy_str(m->org, sizeof(m->org), store_col_text(s, 1));
		m->role = (enum auth_role)store_col_i64(s, 2);
	}
	store_stmt_done(s);
	return rc < 0 ? rc : 0;
}

int auth_caller_for_user(struct store *st, const char *user, struct auth_caller *out)
{
	struct auth_account a;
	int rc;

	auth_caller_init_anonymous(out);
	rc = auth_account_find(st, user, &a);
	if (rc)
		return rc;
	if (a.kind != AUTH_ACCOUNT_USER)
		return HD_ENOTFOUND;
	struct store_db *db = store_db_get(st);
	rc = load_user(db, a.id, out);
	store_db_put(st, db);
	if (rc) {
		auth_caller_release(out);
		auth_caller_init_anonymous(out);
		return rc;
	}
	out->token_role = AUTH_ROLE_WRITE;
	copy_str(out->token_name, sizeof(out->token_name), "internal");
	return 0;
}

static int token_format_valid(const char *t)
{
	if (strlen(t) != AUTH_TOKEN_LEN || strncmp(t, "hf_", 3))
		return 0;
	for (size_t i = 3; i < AUTH_TOKEN_LEN; i++)
		if (!isalnum((unsigned char)t[i]))
			return 0;
	return 1;
}

static void split_scopes(const char *csv, struct auth_caller *c)
{
	const char *p = csv;
	size_t n = 1;
	for (const char *q = csv; *q; q++)
		n += *q == ',';
	c->scopes = xcalloc(n, sizeof(char *));
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len)
			c->scopes[c->n_scopes++] = xstrndup(p, len);
		p += len + (e ? 1 : 0);
	}
}

int auth_authenticate(struct store *st, const char *token, struct auth_caller *out)
{
	char hash[65];
	struct store_db *db;
	struct store_stmt *s;
	int64_t now = time_now_ms(), user_id = 0, last_used = 0;
	int rc;

	auth_caller_init_anonymous(out);
	if (!token || !*token)
		return 0;
	if (!token_format_valid(token))
		return HD_EAUTH;
	sha256_hex(hash, token, strlen(token));
	db = store_db_get(st);
	rc = store_stmt(db,
	                "SELECT id, user_id, prefix, name, role, scopes, created, expires,"
	                " last_used, revoked, hash FROM tokens WHERE hash = ?",
	                &s);
	if (rc)
		goto out;
	store_bind_text(s, 1, hash);
	rc = store_step(s);
	if (rc == 1) {
		const char *stored = store_col_text(s, 10);
		/* The lookup was by hash; compare again in constant time so the
		 * decision never depends on a short-circuit string compare. */
		if (!stored || strlen(stored) != 64 || !ct_equal(stored, hash, 64)) {
			rc = HD_EAUTH;
		} else if (!store_col_is_null(s, 9) ||
		           (!store_col_is_null(s, 7) && store_col_i64(s, 7) <= now)) {
			rc = HD_EAUTH; /* revoked or expired */
		} else {
			out->token_id = store_col_i64(s, 0);
			user_id = store_col_i64(s, 1);
			copy_str(out->token_prefix, sizeof(out->token_prefix),
			         store_col_text(s, 2));
			copy_str(out->token_name, sizeof(out->token_name),
			         store_col_text(s, 3) ? store_col_text(s, 3) : out->token_prefix);
			out->token_role = (enum auth_role)store_col_i64(s, 4);
			if (!store_col_is_null(s, 5))
				split_scopes(store_col_text(s, 5), out);
			out->token_created_ms = store_col_i64(s, 6);
			last_used = store_col_i64(s, 8);
			rc = 0;
		}
	} else if (rc == 0) {
		rc = HD_EAUTH;
	}
	store_stmt_done(s);
	if (rc)
		goto out;
	if (out->token_role != AUTH_ROLE_READ && out->token_role != AUTH_ROLE_WRITE) {
		rc = HD_EAUTH;
		goto out;
	}
	rc = load_user(db, user_id, out);
	if (rc) {
		rc = HD_EAUTH;
		goto out;
	}
	if (now - last_used >= LAST_USED_PERIOD_MS)
		store_exec(db, "UPDATE tokens SET last_used = ? WHERE id = ?", "ii", now,
		           out->token_id);
out:
	store_db_put(st, db);
	if (rc) {
		auth_caller_release(out);
		auth_caller_init_anonymous(out);
		return rc < 0 && rc != HD_EAUTH ? rc : HD_EAUTH;
	}
	return 0;
}

/* ---- accounts ---------------------------------------------------------------- */
/* Namespaces that would sit where the server's own paths are (/api/...,
 * /datasets/ns/name, /settings/..., /v1/...): a user or org of that name
 * would have repos no URL reaches, or pages in place of the UI's. */
static const char *const reserved_names[] = {
        "api",  "assets",        "avatars",  "chat",   "datasets", "detokenize",
        "docs", "health",        "login",    "logout", "metrics",  "models",
        "new",  "organizations", "settings", "spaces", "tokenize", "tokenizer_info",
        "v1",
};

int auth_name_reserved(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_SIZE(reserved_names); i++)
		if (!strcasecmp(name, reserved_names[i]))
			return 1;
	return 0;
}

static int account_create(struct store *st, enum auth_account_kind kind, const char *name,
                          const char *fullname, const char *email, int is_admin, char *err,
                          size_t err_size)
{
	char key[AUTH_NAME_MAX + 1];
	int rc;

	if (!auth_name_valid(name))
		return hd_fail(err, err_size, HD_EINVAL,
		               "invalid name '%s': use letters, digits, '.', '_' and '-' (at most "
		               "%d, starting with a letter or digit)",
		               name ? name : "", AUTH_NAME_MAX);
	if (auth_name_reserved(name))
		return hd_fail(err, err_size, HD_EINVAL,
		               "'%s' is reserved: the server's own pages use that path", name);
	lower_copy(key, name, sizeof(key));
	struct store_db *db = store_db_get(st);
	rc = store_exec(db,
	                "INSERT INTO accounts(kind, name, name_key, fullname, email, is_admin,"
	                " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
	                "ittttii", (int64_t)kind, name, key, fullname, email, (int64_t) !!is_admin,
	                time_now_ms());
	store_db_put(st, db);
	if (rc == HD_EEXIST)
		return hd_fail(err, err_size, HD_EEXIST, "a user or organization named '%s' exists",
		               name);
	if (rc < 0)
		return hd_fail(err, err_size, rc, "cannot create '%s': %s", name, hd_strerror(rc));
	auth_audit(st, "cli", kind == AUTH_ACCOUNT_USER ? "user.create" : "org.create", name, NULL);
	return 0;
}

int auth_user_create(struct store *st, const char *name, const char *fullname, const char *email,
                     int is_admin, char *err, size_t err_size)
{
	return account_create(st, AUTH_ACCOUNT_USER, name, fullname, email, is_admin, err,
	                      err_size);
}

int auth_org_create(struct store *st, const char *name, const char *fullname, char *err,
                    size_t err_size)
{
	return account_create(st, AUTH_ACCOUNT_ORG, name, fullname, NULL, 0, err, err_size);
}

static void account_from_row(struct store_stmt *s, void *arg)
{
	struct auth_account *out = arg;
	out->id = store_col_i64(s, 0);
	out->kind = (enum auth_account_kind)store_col_i64(s, 1);
	copy_str(out->name, sizeof(out->name), store_col_text(s, 2));
}

int auth_account_find(struct store *st, const char *name, struct auth_account *out)
{
	char key[AUTH_NAME_MAX + 1];
	if (!auth_name_valid(name))
		return HD_ENOTFOUND;
	lower_copy(key, name, sizeof(key));
	struct store_db *db = store_db_get(st);
	int rc =
	        store_query_row(db, account_from_row, out,
	                        "SELECT id, kind, name FROM accounts WHERE name_key = ?", "t", key);
	store_db_put(st, db);
	return rc;
}

int auth_account_by_id(struct store *st, int64_t id, struct auth_account *out)
{
	struct store_db *db = store_db_get(st);
	int rc = store_query_row(db, account_from_row, out,
	                         "SELECT id, kind, name FROM accounts WHERE id = ?", "i", id);
	store_db_put(st, db);
	return rc;
}

static int find_member_pair(struct store *st, const char *org, const char *user,
                            struct auth_account *o, struct auth_account *u, char *err,
                            size_t err_size)
{
	if (auth_account_find(st, org, o) || o->kind != AUTH_ACCOUNT_ORG)
		return hd_fail(err, err_size, HD_ENOTFOUND, "no organization named '%s'",
		               org ? org : "");
	if (auth_account_find(st, user, u) || u->kind != AUTH_ACCOUNT_USER)
		return hd_fail(err, err_size, HD_ENOTFOUND, "no user named '%s'", user ? user : "");
	return 0;
}

int auth_member_set(struct store *st, const char *org, const char *user, enum auth_role role,
                    char *err, size_t err_size)
{
	struct auth_account o, u;
	int rc;

	if (role != AUTH_ROLE_READ && role != AUTH_ROLE_WRITE && role != AUTH_ROLE_ADMIN)
		return hd_fail(err, err_size, HD_EINVAL, "role must be read, write or admin");
	rc = find_member_pair(st, org, user, &o, &u, err, err_size);
	if (rc)
		return rc;
	struct store_db *db = store_db_get(st);
	rc = store_exec(db,
	                "INSERT INTO members(org_id, user_id, role, created) VALUES (?, ?, ?, ?)"
	                " ON CONFLICT(org_id, user_id) DO UPDATE SET role = excluded.role",
	                "iiii", o.id, u.id, (int64_t)role, time_now_ms());
	store_db_put(st, db);
	if (rc < 0)
		return hd_fail(err, err_size, rc, "cannot add the member: %s", hd_strerror(rc));
	char *target = xasprintf("%s/%s:%s", o.name, u.name, auth_role_name(role));
	auth_audit(st, "cli", "org.member.set", target, NULL);
	free(target);
	return 0;
}

int auth_member_remove(struct store *st, const char *org, const char *user, char *err,
                       size_t err_size)
{
	struct auth_account o, u;
	int rc = find_member_pair(st, org, user, &o, &u, err, err_size);

	if (rc)
		return rc;
	struct store_db *db = store_db_get(st);
	rc = store_exec(db, "DELETE FROM members WHERE org_id = ? AND user_id = ?", "ii", o.id,
	                u.id);
	store_db_put(st, db);
	if (rc < 0)
		return hd_fail(err, err_size, rc, "cannot remove the member: %s", hd_strerror(rc));
	if (rc == 0)
		return hd_fail(err, err_size, HD_ENOTFOUND, "'%s' is not a member of '%s'", u.name,
		               o.name);
	char *target = xasprintf("%s/%s", o.name, u.name);
	auth_audit(st, "cli", "org.member.remove", target, NULL);
	free(target);
	return 0;
}

/* ---- tokens ------------------------------------------------------------------- */
/* Normalizes a scope "type/ns/name" (type model(s), dataset(s), space(s);
 * "ns/name" means a model) into "type/ns/name" lowercase. */
static int scope_normalize(const char *in, char *out, size_t out_size)
{
	static const char *const types[][2] = {
	        {"model", "model"},      {"models", "model"}, {"dataset", "dataset"},
	        {"datasets", "dataset"}, {"space", "space"},  {"spaces", "space"},
	};
	const char *type = "model", *rest = in;
	const char *s1 = strchr(in, '/');
	if (!s1)
		return HD_EINVAL;
	if (strchr(s1 + 1, '/')) {
		size_t tl = (size_t)(s1 - in);
		type = NULL;
		for (size_t i = 0; i < ARRAY_SIZE(types); i++)
			if (strlen(types[i][0]) == tl && !strncmp(in, types[i][0], tl))
				type = types[i][1];
		if (!type)
			return HD_EINVAL;
		rest = s1 + 1;
	}
	const char *s2 = strchr(rest, '/');
	char ns[AUTH_NAME_MAX + 2], name[AUTH_NAME_MAX + 2];
	if (!s2 || (size_t)(s2 - rest) > AUTH_NAME_MAX || strlen(s2 + 1) > AUTH_NAME_MAX)
		return HD_EINVAL;
	memcpy(ns, rest, (size_t)(s2 - rest));
	ns[s2 - rest] = 0;
	copy_str(name, sizeof(name), s2 + 1);
	if (!auth_name_valid(ns) || !auth_name_valid(name))
		return HD_EINVAL;
	char *full = xasprintf("%s/%s/%s", type, ns, name);
	lower_copy(out, full, out_size);
	free(full);
	return 0;
}

int auth_token_create(struct store *st, const char *user, enum auth_role role,
                      const char *const *scopes, size_t n_scopes, int64_t expires_ms,
                      const char *name, char token_out[AUTH_TOKEN_LEN + 1], int64_t *id_out,
                      char *err, size_t err_size)
{
	static const char alphabet[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	struct auth_account u;
	struct buf scope_csv = BUF_INIT;
	char token[AUTH_TOKEN_LEN + 1], hash[65], prefix[AUTH_PREFIX_LEN + 1];
	int rc;

	if (role != AUTH_ROLE_READ && role != AUTH_ROLE_WRITE)
		return hd_fail(err, err_size, HD_EINVAL, "a token's role is read or write");
	if (auth_account_find(st, user, &u) || u.kind != AUTH_ACCOUNT_USER)
		return hd_fail(err, err_size, HD_ENOTFOUND, "no user named '%s'", user ? user : "");
	if (name && strlen(name) > 100)
		return hd_fail(err, err_size, HD_EINVAL, "token name too long");
	for (size_t i = 0; i < n_scopes; i++) {
		char norm[3 * AUTH_NAME_MAX + 16];
		if (scope_normalize(scopes[i], norm, sizeof(norm))) {
			buf_release(&scope_csv);
			return hd_fail(err, err_size, HD_EINVAL,
			               "invalid repo '%s': use TYPE/NAMESPACE/NAME, e.g. "
			               "model/alice/my-model",
			               scopes[i]);
		}
		if (scope_csv.len)
			buf_putc(&scope_csv, ',');
		buf_puts(&scope_csv, norm);
	}
	/* 34 characters drawn uniformly from 62 by rejection sampling. */
	memcpy(token, "hf_", 3);
	for (size_t i = 3; i < AUTH_TOKEN_LEN;) {
		uint8_t r[64];
		rand_bytes(r, sizeof(r));
		for (size_t j = 0; j < sizeof(r) && i < AUTH_TOKEN_LEN; j++)
			if (r[j] < 248) /* 248 = 4 * 62 */
				token[i++] = alphabet[r[j] % 62];
	}
	token[AUTH_TOKEN_LEN] = 0;
	sha256_hex(hash, token, AUTH_TOKEN_LEN);
	memcpy(prefix, token, AUTH_PREFIX_LEN);
	prefix[AUTH_PREFIX_LEN] = 0;

	struct store_db *db = store_db_get(st);
	struct store_stmt *s;
	rc = store_stmt(db,
	                "INSERT INTO tokens(user_id, hash, prefix, name, role, scopes, created,"
	                " expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	                &s);
	if (!rc) {
		store_bind_i64(s, 1, u.id);
		store_bind_text(s, 2, hash);
		store_bind_text(s, 3, prefix);
		store_bind_text(s, 4, name && *name ? name : NULL);
		store_bind_i64(s, 5, role);
		store_bind_text(s, 6, n_scopes ? scope_csv.data : NULL);
		store_bind_i64(s, 7, time_now_ms());
		if (expires_ms > 0)
			store_bind_i64(s, 8, expires_ms);
		else
			store_bind_null(s, 8);
		rc = store_step(s);
		store_stmt_done(s);
	}
	if (id_out)
		*id_out = store_last_insert_id(db);
	store_db_put(st, db);
	buf_release(&scope_csv);
	if (rc < 0)
		return hd_fail(err, err_size, rc, "cannot store the token: %s", hd_strerror(rc));
	memcpy(token_out, token, sizeof(token));
	char *target = xasprintf("%s:%s", u.name, prefix);
	auth_audit(st, "cli", "token.create", target, NULL);
	free(target);
	return 0;
}

int auth_token_list(struct store *st, const char *user, struct auth_token_info **out, size_t *n_out,
                    char *err, size_t err_size)
{
	struct auth_account u;
	struct auth_token_info *list = NULL;
	size_t n = 0, cap = 0;
	int rc;

	*out = NULL;
	*n_out = 0;
	if (auth_account_find(st, user, &u) || u.kind != AUTH_ACCOUNT_USER)
		return hd_fail(err, err_size, HD_ENOTFOUND, "no user named '%s'", user ? user : "");
	struct store_db *db = store_db_get(st);
	struct store_stmt *s;
	rc = store_stmt(db,
	                "SELECT id, prefix, name, role, scopes, created, expires, last_used,"
	                " revoked FROM tokens WHERE user_id = ? ORDER BY id",
	                &s);
	if (!rc) {
		store_bind_i64(s, 1, u.id);
		while ((rc = store_step(s)) == 1) {
			if (n == cap) {
				cap = cap ? 2 * cap : 8;
				list = xrealloc(list, cap * sizeof(*list));
			}
			struct auth_token_info *t = &list[n++];
			memset(t, 0, sizeof(*t));
			t->id = store_col_i64(s, 0);
			copy_str(t->prefix, sizeof(t->prefix), store_col_text(s, 1));
			copy_str(t->name, sizeof(t->name), store_col_text(s, 2));
			t->role = (enum auth_role)store_col_i64(s, 3);
			t->scopes = store_col_text(s, 4) ? xstrdup(store_col_text(s, 4)) : NULL;
			t->created_ms = store_col_i64(s, 5);
			t->expires_ms = store_col_i64(s, 6);
			t->last_used_ms = store_col_i64(s, 7);
			t->revoked_ms = store_col_i64(s, 8);
		}
		store_stmt_done(s);
	}
	store_db_put(st, db);
	if (rc < 0) {
		auth_token_list_free(list, n);
		return hd_fail(err, err_size, rc, "cannot list tokens: %s", hd_strerror(rc));
	}
	*out = list;
	*n_out = n;
	return 0;
}

void auth_token_list_free(struct auth_token_info *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].scopes);
	free(list);
}

int auth_token_revoke(struct store *st, const char *prefix_or_id, char *err, size_t err_size)
{
	int64_t id = 0, count = 0;
	int rc;

	if (!prefix_or_id || !*prefix_or_id)
		return hd_fail(err, err_size, HD_EINVAL, "which token? give its id or prefix");
	struct store_db *db = store_db_get(st);
	if (str_to_i64(prefix_or_id, &id) == 0) {
		rc = store_query_i64(db, &count, "SELECT count(*) FROM tokens WHERE id = ?", "i",
		                     id);
	} else {
		/* A full token works too: revoke by its hash, never store it. */
		if (strlen(prefix_or_id) == AUTH_TOKEN_LEN) {
			char hash[65];
			sha256_hex(hash, prefix_or_id, AUTH_TOKEN_LEN);
			rc = store_query_i64(db, &id, "SELECT id FROM tokens WHERE hash = ?", "t",
			                     hash);
			count = rc == 0;
		} else {
			rc = store_query_i64(db, &count,
			                     "SELECT count(*) FROM tokens WHERE prefix = ?"
			                     " AND revoked IS NULL",
			                     "t", prefix_or_id);
			if (!rc && count == 1)
				rc = store_query_i64(db, &id,
				                     "SELECT id FROM tokens WHERE prefix = ?"
				                     " AND revoked IS NULL",
				                     "t", prefix_or_id);
		}
		if (rc == HD_ENOTFOUND)
			rc = 0;
	}
	if (!rc && count == 0)
		rc = hd_fail(err, err_size, HD_ENOTFOUND, "no live token matches '%s'",
		             prefix_or_id);
	else if (!rc && count > 1)
		rc = hd_fail(err, err_size, HD_ECONFLICT,
		             "%lld tokens match '%s': revoke by id (see token list)",
		             (long long)count, prefix_or_id);
	if (!rc) {
		rc = store_exec(db,
		                "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
		                "ii", time_now_ms(), id);
		if (rc == 0)
			rc = hd_fail(err, err_size, HD_ENOTFOUND, "token %lld is already revoked",
			             (long long)id);
		else if (rc > 0)
			rc = 0;
	}
	store_db_put(st, db);
	if (!rc) {
		char *target = xasprintf("token:%lld", (long long)id);
		auth_audit(st, "cli", "token.revoke", target, NULL);
		free(target);
	}
	return rc;
}

/* ---- access ---------------------------------------------------------------------- */
static enum auth_role org_role(const struct auth_caller *c, int64_t org_id)
{
	for (size_t i = 0; i < c->n_orgs; i++)
		if (c->orgs[i].org_id == org_id)
			return c->orgs[i].role;
	return AUTH_ROLE_NONE;
}

static int scope_has(const struct auth_caller *c, const char *key)
{
	for (size_t i = 0; i < c->n_scopes; i++)
		if (!strcmp(c->scopes[i], key))
			return 1;
	return 0;
}

enum auth_access auth_repo_access(const struct auth_caller *c, const struct auth_repo *r)
{
	enum auth_access a = r->is_private ? AUTH_ACCESS_NONE : AUTH_ACCESS_READ;

	if (c && c->user_id) {
		if (c->is_admin) {
			a = AUTH_ACCESS_ADMIN;
		} else if (!r->owner_is_org) {
			if (r->owner_id == c->user_id)
				a = AUTH_ACCESS_ADMIN;
		} else {
			switch (org_role(c, r->owner_id)) {
			case AUTH_ROLE_ADMIN: a = AUTH_ACCESS_ADMIN; break;
			case AUTH_ROLE_WRITE: a = AUTH_ACCESS_WRITE; break;
			case AUTH_ROLE_READ:
				if (a < AUTH_ACCESS_READ)
					a = AUTH_ACCESS_READ;
				break;
			default: break;
			}
		}
		/* The token caps what the user may do. */
		if (c->scopes && !scope_has(c, r->key))
			a = r->is_private ? AUTH_ACCESS_NONE : AUTH_ACCESS_READ;
		if (c->token_role != AUTH_ROLE_WRITE && a > AUTH_ACCESS_READ)
			a = AUTH_ACCESS_READ;
	}
	return a;
}

int auth_can_create_in(const struct auth_caller *c, const struct auth_account *ns,
                       const char *repo_key)
{
	if (!c || !c->user_id || c->token_role != AUTH_ROLE_WRITE)
		return 0;
	if (c->scopes && (!repo_key || !scope_has(c, repo_key)))
		return 0;
	if (c->is_admin)
		return 1;
	if (ns->kind == AUTH_ACCOUNT_USER)
		return ns->id == c->user_id;
	enum auth_role r = org_role(c, ns->id);
	return r == AUTH_ROLE_WRITE || r == AUTH_ROLE_ADMIN;
}

/* ---- audit ------------------------------------------------------------------------ */
void auth_audit(struct store *st, const char *actor, const char *action, const char *target,
                const char *ip)
{
	struct store_db *db = store_db_get(st);
	int rc = store_exec(db,
	                    "INSERT INTO audit(time, actor, action, target, ip)"
	                    " VALUES (?, ?, ?, ?, ?)",
	                    "itttt", time_now_ms(), actor ? actor : "?", action, target,
	                    ip && *ip ? ip : NULL);
	store_db_put(st, db);
	if (rc < 0)
		log_error("audit: cannot record %s %s", action, target ? target : "");
}

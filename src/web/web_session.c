/*
 * web_session.c: browser sessions, CSRF tokens, same-origin checks and the
 * small parsers of browser input (cookies, form bodies, `next`).
 *
 * Sign-in takes a hub token. The session id is 32 random bytes (hex) sent
 * once in an HttpOnly, SameSite=Strict cookie. The database keeps only
 *   id        = HMAC(secret.key, "web-session-id\n" + sid)
 *   token_enc = AES-256-GCM(key = HMAC(secret.key, "web-session-key\n" + sid),
 *                           the token, aad = id)
 * so neither a copy of the database nor of secret.key alone yields a usable
 * session or token. Each request re-authenticates the stored token through
 * the hub, so a revoked or expired token ends its sessions on the next
 * request (T3, T5) and the session has exactly that token's rights (T6).
 *
 * CSRF (W5): cookies are SameSite=Strict; every POST must come from this
 * origin (Origin header, or without one Sec-Fetch-Site and Referer); and a
 * signed-in POST must carry the CSRF token HMAC(secret.key, "web-csrf\n" +
 * sid) in its form or in X-CSRF-Token.
 */
#include "web/web_int.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <strings.h>

#define SID_BYTES 32

static const char session_schema[] = "CREATE TABLE IF NOT EXISTS web_sessions("
                                     "id TEXT PRIMARY KEY, user TEXT NOT NULL, "
                                     "token_enc TEXT NOT NULL, created_ms INTEGER NOT NULL, "
                                     "expires_ms INTEGER NOT NULL)";

static struct store *web_store(struct web *w)
{
	return hub_store(w->cfg.hub);
}

int web_session_init(struct web *w, char *err, size_t err_size)
{
	struct store *st = web_store(w);
	struct store_db *db = store_db_get(st);
	int rc = store_exec(db, session_schema, "");

	if (rc >= 0)
		rc = store_exec(db, "DELETE FROM web_sessions WHERE expires_ms < ?", "i",
		                (int64_t)time_now_ms());
	store_db_put(st, db);
	if (rc < 0)
		return hd_fail(err, err_size, rc, "web: cannot create the session table");
	return 0;
}

static void keyed(struct web *w, const char *label, const char *sid, unsigned char out[32])
{
	struct buf m = BUF_INIT;
	unsigned int len = 32;

	buf_puts(&m, label);
	buf_putc(&m, '\n');
	buf_puts(&m, sid);
	HMAC(EVP_sha256(), store_secret_key(web_store(w)), 32, (const unsigned char *)m.data, m.len,
	     out, &len);
	buf_release(&m);
}

static void keyed_hex(struct web *w, const char *label, const char *sid, char out[65])
{
	unsigned char md[32];
	keyed(w, label, sid, md);
	hex_encode(out, md, sizeof(md));
}

void web_csrf_token(struct web *w, const char *sid, char out[65])
{
	keyed_hex(w, "web-csrf", sid, out);
}

static int sid_valid(const char *sid)
{
	return strlen(sid) == 2 * SID_BYTES && hex_is_lower(sid, 2 * SID_BYTES);
}

/* AES-256-GCM; out: hex(iv | ciphertext | tag). */
static int seal(const unsigned char key[32], const char *aad, const char *plain, struct buf *out)
{
	unsigned char iv[12], tag[16], ct[128];
	size_t n = strlen(plain);
	int len = 0, len2 = 0, ok;
	EVP_CIPHER_CTX *ctx;
	char hex[2 * sizeof(ct) + 1];

	if (n > sizeof(ct))
		return HD_ETOOBIG;
	rand_bytes(iv, sizeof(iv));
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) == 1 &&
	     EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) ==
	             1 &&
	     EVP_EncryptUpdate(ctx, ct, &len, (const unsigned char *)plain, (int)n) == 1 &&
	     EVP_EncryptFinal_ex(ctx, ct + len, &len2) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, sizeof(tag), tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return HD_EINTERNAL;
	hex_encode(hex, iv, sizeof(iv));
	buf_puts(out, hex);
	hex_encode(hex, ct, (size_t)(len + len2));
	buf_puts(out, hex);
	hex_encode(hex, tag, sizeof(tag));
	buf_puts(out, hex);
	return 0;
}

static int unseal(const unsigned char key[32], const char *aad, const char *hex, char *plain,
                  size_t plain_size)
{
	unsigned char raw[12 + 128 + 16], *ct;
	size_t n = strlen(hex) / 2, n_ct;
	int len = 0, len2 = 0, ok;
	EVP_CIPHER_CTX *ctx;

	if (strlen(hex) % 2 || n < 12 + 16 || n > sizeof(raw) || hex_decode(raw, hex, n) < 0)
		return HD_ECORRUPT;
	ct = raw + 12;
	n_ct = n - 12 - 16;
	if (n_ct + 1 > plain_size)
		return HD_ETOOBIG;
	ctx = EVP_CIPHER_CTX_new();
	ok = ctx && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1 &&
	     EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) ==
	             1 &&
	     EVP_DecryptUpdate(ctx, (unsigned char *)plain, &len, ct, (int)n_ct) == 1 &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, raw + n - 16) == 1 &&
	     EVP_DecryptFinal_ex(ctx, (unsigned char *)plain + len, &len2) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return HD_ECORRUPT;
	plain[len + len2] = 0;
	return 0;
}

int web_session_create(struct web *w, const char *token, const char *user, char sid[65])
{
	unsigned char raw[SID_BYTES], key[32];
	char id[65];
	struct buf enc = BUF_INIT;
	struct store *st = web_store(w);
	struct store_db *db;
	int64_t now = time_now_ms();
	int rc;

	rand_bytes(raw, sizeof(raw));
	hex_encode(sid, raw, sizeof(raw));
	keyed_hex(w, "web-session-id", sid, id);
	keyed(w, "web-session-key", sid, key);
	rc = seal(key, id, token, &enc);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc < 0) {
		buf_release(&enc);
		return rc;
	}
	db = store_db_get(st);
	store_exec(db, "DELETE FROM web_sessions WHERE expires_ms < ?", "i", now);
	rc = store_exec(db,
	                "INSERT INTO web_sessions(id, user, token_enc, created_ms, expires_ms) "
	                "VALUES(?, ?, ?, ?, ?)",
	                "tttii", id, user, enc.data, now, now + w->cfg.session_ttl_s * 1000);
	store_db_put(st, db);
	buf_release(&enc);
	return rc < 0 ? rc : 0;
}

int web_session_token(struct web *w, const char *sid, char *token, size_t token_size)
{
	char id[65], *enc = NULL;
	unsigned char key[32];
	struct store *st = web_store(w);
	struct store_db *db;
	struct store_stmt *s;
	int64_t expires = 0;
	int rc;

	if (!sid_valid(sid))
		return HD_ENOTFOUND;
	keyed_hex(w, "web-session-id", sid, id);
	db = store_db_get(st);
	rc = store_stmt(db, "SELECT token_enc, expires_ms FROM web_sessions WHERE id = ?", &s);
	if (rc == 0) {
		store_bind_text(s, 1, id);
		rc = store_step(s);
		if (rc == 1) {
			const char *t = store_col_text(s, 0);
			enc = xstrdup(t ? t : "");
			expires = store_col_i64(s, 1);
			rc = 0;
		} else if (rc == 0) {
			rc = HD_ENOTFOUND;
		}
		store_stmt_done(s);
	}
	store_db_put(st, db);
	if (rc < 0) {
		free(enc);
		return rc;
	}
	if (expires < time_now_ms()) {
		free(enc);
		web_session_delete(w, sid);
		return HD_ENOTFOUND;
	}
	keyed(w, "web-session-key", sid, key);
	rc = unseal(key, id, enc, token, token_size);
	OPENSSL_cleanse(key, sizeof(key));
	free(enc);
	return rc < 0 ? HD_ENOTFOUND : 0;
}

void web_session_delete(struct web *w, const char *sid)
{
	char id[65];
	struct store *st = web_store(w);
	struct store_db *db;

	if (!sid_valid(sid))
		return;
	keyed_hex(w, "web-session-id", sid, id);
	db = store_db_get(st);
	store_exec(db, "DELETE FROM web_sessions WHERE id = ?", "t", id);
	store_db_put(st, db);
}

/* ---- cookies ---------------------------------------------------------------- */

int web_cookie_get(const char *header, const char *name, char *out, size_t out_size)
{
	size_t ln = strlen(name);
	const char *p = header;

	if (!p)
		return HD_ENOTFOUND;
	while (*p) {
		const char *end, *eq, *v;
		size_t vn;
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq && (size_t)(eq - p) == ln && !memcmp(p, name, ln)) {
			v = eq + 1;
			vn = (size_t)(end - v);
			while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
				vn--;
			if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
				v++;
				vn -= 2;
			}
			if (vn + 1 > out_size)
				return HD_ETOOBIG;
			memcpy(out, v, vn);
			out[vn] = 0;
			return 0;
		}
		p = end;
	}
	return HD_ENOTFOUND;
}

void web_cookie_set(struct web_ctx *x, const char *sid)
{
	http_resp_headerf(x->req, "Set-Cookie",
	                  WEB_COOKIE "=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict%s", sid,
	                  (long long)x->w->cfg.session_ttl_s, x->u->secure ? "; Secure" : "");
}

void web_cookie_clear(struct web_ctx *x)
{
	http_resp_headerf(x->req, "Set-Cookie",
	                  WEB_COOKIE "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s",
	                  x->u->secure ? "; Secure" : "");
	x->clear_cookie = 0;
}

/* ---- origin checks and CSRF -------------------------------------------------------- */

/* 1 if a Host header names this machine by address ("127.0.0.1:8080",
 * "[::1]", "10.0.0.5") or as "localhost". A DNS name could be an attacker's
 * that resolves to us (DNS rebinding): an origin built from it proves
 * nothing, so only the public URL's origin is trusted for names. */
static int host_is_address(const char *host)
{
	char name[64];
	const char *end;
	size_t n;
	unsigned char addr[16];

	if (*host == '[') {
		end = strchr(host, ']');
		if (!end || (end[1] && end[1] != ':'))
			return 0;
		host++;
	} else {
		end = strchr(host, ':');
		if (!end)
			end = host + strlen(host);
	}
	n = (size_t)(end - host);
	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, host, n);
	name[n] = 0;
	return !strcasecmp(name, "localhost") || inet_pton(AF_INET, name, addr) == 1 ||
	       inet_pton(AF_INET6, name, addr) == 1;
}

static int origin_is_ours(struct web_ctx *x, const char *o, size_t n)
{
	const char *host = http_req_header(x->req, "Host");

	if (strlen(x->u->origin) == n && !strncasecmp(o, x->u->origin, n))
		return 1;
	if (host && *host && host_is_address(host)) {
		size_t hn = strlen(host);
		if (n == 7 + hn && !strncasecmp(o, "http://", 7) && !strncasecmp(o + 7, host, hn))
			return 1;
		if (n == 8 + hn && !strncasecmp(o, "https://", 8) && !strncasecmp(o + 8, host, hn))
			return 1;
	}
	return 0;
}

int web_same_origin(struct web_ctx *x)
{
	const char *origin = http_req_header(x->req, "Origin");
	const char *site = http_req_header(x->req, "Sec-Fetch-Site");
	const char *ref = http_req_header(x->req, "Referer");

	if (origin)
		return origin_is_ours(x, origin, strlen(origin));
	if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
		return 0;
	if (ref) {
		const char *p = strstr(ref, "://");
		if (!p)
			return 0;
		p = strchr(p + 3, '/');
		return origin_is_ours(x, ref, p ? (size_t)(p - ref) : strlen(ref));
	}
	return 1; /* not a browser (no Origin, no fetch metadata): the CSRF token decides */
}

int web_check_post(struct web_ctx *x)
{
	if (!web_same_origin(x)) {
		log_warn("web: cross-origin POST refused (request %s)", http_req_id(x->req));
		web_error_page(x, 403, "Cross-origin request refused",
		               "This form was not sent from this site.");
		return HD_EPERM;
	}
	if (x->signed_in) {
		const char *t = web_form(x, "csrf");
		if (!t)
			t = http_req_header(x->req, "X-CSRF-Token");
		if (!t || strlen(t) != 64 || !ct_equal(t, x->csrf, 64)) {
			log_warn("web: bad CSRF token (request %s)", http_req_id(x->req));
			web_error_page(
			        x, 403, "Invalid form token",
			        "The form expired or was not sent from this site. Reload the "
			        "page and try again.");
			return HD_EPERM;
		}
	}
	return 0;
}

/* ---- form bodies and next ------------------------------------------------------------ */

int web_form_value(const char *body, size_t n, const char *name, char **out)
{
	const char *p = body, *end = body + n;

	*out = NULL;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *kend = eq ? eq : stop;
		char *k = NULL;
		int rc = http_pct_decode(p, (size_t)(kend - p), 1, &k);
		if (rc < 0)
			return HD_EINVAL;
		if (!strcmp(k, name)) {
			free(k);
			if (!eq)
				return http_pct_decode("", 0, 1, out);
			return http_pct_decode(eq + 1, (size_t)(stop - eq - 1), 1, out) < 0
			               ? HD_EINVAL
			               : 0;
		}
		free(k);
		p = amp ? amp + 1 : end;
	}
	return HD_ENOTFOUND;
}

const char *web_form(struct web_ctx *x, const char *name)
{
	size_t n;
	const char *body = http_req_body(x->req, &n);
	const char *ct = http_req_header(x->req, "Content-Type");
	char *v;
	const char *r;

	if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0)
		return NULL;
	if (web_form_value(body, n, name, &v) < 0)
		return NULL;
	r = http_req_strdup(x->req, v);
	free(v);
	return r;
}

int web_next_valid(const char *next)
{
	size_t n;

	if (!next || next[0] != '/' || next[1] == '/' || next[1] == '\\')
		return 0;
	n = strlen(next);
	if (n > 2048)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)next[i];
		/* printable ASCII only: what we produce is percent-encoded, and it
		 * goes into a Location header as is */
		if (ch <= 0x20 || ch >= 0x7f || ch == '\\')
			return 0;
	}
	return 1;
}

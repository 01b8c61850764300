/*
 * hub.c: opening the hub, errors, callers and signed URLs.
 */
#include "hub/hub_int.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hub_fail(struct hub_err *err, int code, const char *xcode, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		snprintf(err->code, sizeof(err->code), "%s", xcode ? xcode : "");
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

void hub_config_init(struct hub_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->multipart_threshold = 64ll << 20;
	cfg->multipart_chunk = 16ll << 20;
	cfg->max_regular_size = 10ll << 20;
	cfg->max_lfs_size = 50ll << 30;
	cfg->max_commit_ops = 100000;
}

int hub_open(const char *data_dir, const struct hub_config *cfg, struct hub **out,
             struct hub_err *err)
{
	char msg[512] = "";
	struct hub *h;
	int rc;

	*out = NULL;
	hub_git_init();
	h = xcalloc(1, sizeof(*h));
	if (cfg)
		h->cfg = *cfg;
	else
		hub_config_init(&h->cfg);
	if (h->cfg.multipart_chunk < 1)
		h->cfg.multipart_chunk = 16ll << 20;
	if (h->cfg.multipart_threshold < 1)
		h->cfg.multipart_threshold = 64ll << 20;
	pthread_rwlock_init(&h->idx_lock, NULL);
	pthread_mutex_init(&h->lfs_lock, NULL);
	pthread_mutex_init(&h->trend_lock, NULL);
	for (size_t i = 0; i < REPO_LOCKS; i++)
		pthread_mutex_init(&h->repo_locks[i], NULL);
	rc = store_open(data_dir, &h->st, msg, sizeof(msg));
	if (rc) {
		hub_fail(err, rc, NULL, "%s", msg);
		hub_close(h);
		return rc;
	}
	if (!h->cfg.no_search_index) {
		rc = repo_index_load(h);
		if (rc) {
			hub_fail(err, rc, NULL, "cannot load the listing index");
			hub_close(h);
			return rc;
		}
	}
	*out = h;
	return 0;
}

void hub_close(struct hub *h)
{
	if (!h)
		return;
	search_free(h->idx);
	store_close(h->st);
	pthread_rwlock_destroy(&h->idx_lock);
	pthread_mutex_destroy(&h->lfs_lock);
	for (size_t i = 0; i < REPO_LOCKS; i++)
		pthread_mutex_destroy(&h->repo_locks[i]);
	free(h);
}

const struct hub_config *hub_config(const struct hub *h)
{
	return &h->cfg;
}

struct store *hub_store(struct hub *h)
{
	return h->st;
}

int hub_authenticate(struct hub *h, const char *token, struct auth_caller *out)
{
	return auth_authenticate(h->st, token, out);
}

/* ---- signed URLs --------------------------------------------------------------- */
void hub_sign(struct hub *h, const char *method, const char *path, int64_t expires_unix,
              char sig[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char *msg = xasprintf("%s\n%s\n%lld", method, path, (long long)expires_unix);

	if (!HMAC(EVP_sha256(), store_secret_key(h->st), 32, (const unsigned char *)msg,
	          strlen(msg), md, &md_len) ||
	    md_len != 32) {
		log_error("hub: HMAC failed");
		abort();
	}
	hex_encode(sig, md, 32);
	free(msg);
}

int hub_sign_check(struct hub *h, const char *method, const char *path, int64_t expires_unix,
                   const char *sig)
{
	char want[65];

	if (!sig || strlen(sig) != 64 || expires_unix <= time_now_ms() / 1000)
		return HD_EAUTH;
	hub_sign(h, method, path, expires_unix, want);
	return ct_equal(want, sig, 64) ? 0 : HD_EAUTH;
}

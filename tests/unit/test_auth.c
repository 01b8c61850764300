/*
 * test_auth.c: names, accounts, membership, tokens (format, hashing,
 * expiry, revocation, scopes) and the repository access rules.
 */
#include "auth/auth.h"
#include "core/core.h"
#include "store/store.h"
#include "test.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *dir;
static struct store *st;
static char err[512];

static void setup(void)
{
	dir = xstrdup("/tmp/huddle-test-auth-XXXXXX");
	if (!mkdtemp(dir) || store_open(dir, &st, err, sizeof(err)))
		abort();
}

static void teardown(void)
{
	store_close(st);
	fs_rm_rf(dir);
	free(dir);
}

static void test_names(void)
{
	const char *good[] = {"alice", "a",       "A1",     "my-model",    "my_model",
	                      "v1.5",  "x.y-z_w", "9lives", "Llama-3.1-8B"};
	const char *bad[] = {"",       ".",     "..",   ".git",  "x.git",  "X.GIT",
	                     "-x",     "x-",    "x.",   "_x",    "a/b",    "a b",
	                     "a--b",   "a..b",  "a-.b", "a.-b",  "--help", "-upload-pack=x",
	                     "x;id",   "x%2fy", "a\\b", "$(id)", "x\ny",   "\xd0\xb0lice",
	                     ".hidden"};
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		CHECK(auth_name_valid(good[i]));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (auth_name_valid(bad[i]))
			fprintf(stderr, "accepted bad name '%s'\n", bad[i]);
		CHECK(!auth_name_valid(bad[i]));
	}
	char long_name[200];
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = 0;
	CHECK(!auth_name_valid(long_name));
	long_name[AUTH_NAME_MAX] = 0;
	CHECK(auth_name_valid(long_name));
	CHECK(!auth_name_valid(NULL));
}

static void test_accounts(void)
{
	struct auth_account a;

	CHECK_EQ_INT(
	        auth_user_create(st, "alice", "Alice A", "alice@example.org", 0, err, sizeof(err)),
	        0);
	CHECK_EQ_INT(auth_user_create(st, "ALICE", NULL, NULL, 0, err, sizeof(err)), HD_EEXIST);
	CHECK_EQ_INT(auth_org_create(st, "Alice", NULL, err, sizeof(err)), HD_EEXIST);
	CHECK_EQ_INT(auth_user_create(st, "../x", NULL, NULL, 0, err, sizeof(err)), HD_EINVAL);
	/* The server's own path prefixes are no namespace, in any case. */
	const char *reserved[] = {"api", "datasets", "Spaces", "MODELS", "settings", "v1"};
	for (size_t i = 0; i < ARRAY_SIZE(reserved); i++) {
		CHECK_EQ_INT(auth_user_create(st, reserved[i], NULL, NULL, 0, err, sizeof(err)),
		             HD_EINVAL);
		CHECK(strstr(err, "reserved") != NULL);
		CHECK_EQ_INT(auth_org_create(st, reserved[i], NULL, err, sizeof(err)), HD_EINVAL);
	}
	CHECK(!auth_name_reserved("apis"));
	CHECK(auth_name_valid("datasets")); /* still a fine repo name */
	CHECK_EQ_INT(auth_user_create(st, "bob", NULL, NULL, 0, err, sizeof(err)), 0);
	CHECK_EQ_INT(auth_user_create(st, "root", NULL, NULL, 1, err, sizeof(err)), 0);
	CHECK_EQ_INT(auth_org_create(st, "acme", "ACME Inc", err, sizeof(err)), 0);
	CHECK_EQ_INT(auth_account_find(st, "ACME", &a), 0);
	CHECK_EQ_STR(a.name, "acme");
	CHECK_EQ_INT(a.kind, AUTH_ACCOUNT_ORG);
	CHECK_EQ_INT(auth_account_find(st, "nobody", &a), HD_ENOTFOUND);
	CHECK_EQ_INT(auth_account_find(st, "../etc", &a), HD_ENOTFOUND);
	/* Members: only users into orgs. */
	CHECK_EQ_INT(auth_member_set(st, "acme", "bob", AUTH_ROLE_READ, err, sizeof(err)), 0);
	CHECK_EQ_INT(auth_member_set(st, "alice", "bob", AUTH_ROLE_READ, err, sizeof(err)),
	             HD_ENOTFOUND);
	CHECK_EQ_INT(auth_member_set(st, "acme", "acme", AUTH_ROLE_READ, err, sizeof(err)),
	             HD_ENOTFOUND);
	CHECK_EQ_INT(auth_member_set(st, "acme", "bob", AUTH_ROLE_NONE, err, sizeof(err)),
	             HD_EINVAL);
	CHECK_EQ_INT(auth_member_remove(st, "acme", "alice", err, sizeof(err)), HD_ENOTFOUND);
}

static int token_format_ok(const char *t)
{
	if (strlen(t) != 37 || strncmp(t, "hf_", 3))
		return 0;
	for (int i = 3; i < 37; i++)
		if (!isalnum((unsigned char)t[i]))
			return 0;
	return 1;
}

static void test_tokens(void)
{
	char tok[AUTH_TOKEN_LEN + 1], tok2[AUTH_TOKEN_LEN + 1], hash[65];
	struct auth_caller c;
	int64_t id = 0, n = 0;

	CHECK_EQ_INT(auth_token_create(st, "alice", AUTH_ROLE_WRITE, NULL, 0, 0, "laptop", tok, &id,
	                               err, sizeof(err)),
	             0);
	CHECK(token_format_ok(tok));
	CHECK(id > 0);
	/* Only the hash and a prefix are stored; never the secret. */
	struct store_db *db = store_db_get(st);
	sha256_hex(hash, tok, strlen(tok));
	CHECK_EQ_INT(
	        store_query_i64(db, &n, "SELECT count(*) FROM tokens WHERE hash = ?", "t", hash),
	        0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(store_query_i64(db, &n,
	                             "SELECT count(*) FROM tokens WHERE hash = ? OR prefix = ?"
	                             " OR name = ? OR scopes = ?",
	                             "tttt", tok, tok, tok, tok),
	             0);
	CHECK_EQ_INT(n, 0);
	store_db_put(st, db);

	CHECK_EQ_INT(auth_authenticate(st, tok, &c), 0);
	CHECK_EQ_STR(c.user, "alice");
	CHECK_EQ_STR(c.fullname, "Alice A");
	CHECK_EQ_INT(c.token_role, AUTH_ROLE_WRITE);
	CHECK_EQ_STR(c.token_name, "laptop");
	CHECK(!strncmp(c.token_prefix, tok, AUTH_PREFIX_LEN));
	CHECK(c.scopes == NULL);
	auth_caller_release(&c);
	/* Anonymous and bad tokens. */
	CHECK_EQ_INT(auth_authenticate(st, NULL, &c), 0);
	CHECK_EQ_INT(c.user_id, 0);
	CHECK_EQ_INT(auth_authenticate(st, "", &c), 0);
	const char *bad[] = {"hf_invalid", "hf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "xx_", tok + 1,
	                     "Bearer hf_x"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ_INT(auth_authenticate(st, bad[i], &c), HD_EAUTH);
		CHECK_EQ_INT(c.user_id, 0);
	}
	/* 100 tokens: all distinct, all in format. */
	char seen[100][AUTH_TOKEN_LEN + 1];
	for (int i = 0; i < 100; i++) {
		CHECK_EQ_INT(auth_token_create(st, "bob", AUTH_ROLE_READ, NULL, 0, 0, NULL, seen[i],
		                               NULL, err, sizeof(err)),
		             0);
		CHECK(token_format_ok(seen[i]));
		for (int j = 0; j < i; j++)
			CHECK(strcmp(seen[i], seen[j]));
	}
	/* Revocation by display prefix, then the next request fails. */
	CHECK_EQ_INT(auth_token_create(st, "alice", AUTH_ROLE_READ, NULL, 0, 0, NULL, tok2, NULL,
	                               err, sizeof(err)),
	             0);
	char prefix[AUTH_PREFIX_LEN + 1];
	memcpy(prefix, tok2, AUTH_PREFIX_LEN);
	prefix[AUTH_PREFIX_LEN] = 0;
	CHECK_EQ_INT(auth_authenticate(st, tok2, &c), 0);
	auth_caller_release(&c);
	CHECK_EQ_INT(auth_token_revoke(st, prefix, err, sizeof(err)), 0);
	CHECK_EQ_INT(auth_authenticate(st, tok2, &c), HD_EAUTH);
	CHECK_EQ_INT(auth_token_revoke(st, prefix, err, sizeof(err)), HD_ENOTFOUND);
	/* By id. */
	char idstr[32];
	snprintf(idstr, sizeof(idstr), "%lld", (long long)id);
	CHECK_EQ_INT(auth_token_revoke(st, idstr, err, sizeof(err)), 0);
	CHECK_EQ_INT(auth_authenticate(st, tok, &c), HD_EAUTH);
	CHECK_EQ_INT(auth_token_revoke(st, idstr, err, sizeof(err)), HD_ENOTFOUND);
	CHECK_EQ_INT(auth_token_revoke(st, "hf_zzzz", err, sizeof(err)), HD_ENOTFOUND);
	/* Bad roles, users and scopes. */
	CHECK_EQ_INT(auth_token_create(st, "alice", AUTH_ROLE_ADMIN, NULL, 0, 0, NULL, tok, NULL,
	                               err, sizeof(err)),
	             HD_EINVAL);
	CHECK_EQ_INT(auth_token_create(st, "acme", AUTH_ROLE_READ, NULL, 0, 0, NULL, tok, NULL, err,
	                               sizeof(err)),
	             HD_ENOTFOUND);
	const char *bad_scope[] = {"x", "a/", "/a", "model/../x/y", "weird/a/b", "model/a/b/c"};
	for (size_t i = 0; i < ARRAY_SIZE(bad_scope); i++)
		CHECK_EQ_INT(auth_token_create(st, "alice", AUTH_ROLE_READ, &bad_scope[i], 1, 0,
		                               NULL, tok, NULL, err, sizeof(err)),
		             HD_EINVAL);
	/* Listing never shows the secret. */
	struct auth_token_info *list;
	size_t nl;
	CHECK_EQ_INT(auth_token_list(st, "alice", &list, &nl, err, sizeof(err)), 0);
	CHECK_EQ_INT(nl, 2);
	CHECK(list[0].revoked_ms > 0 && list[1].revoked_ms > 0);
	CHECK_EQ_STR(list[0].name, "laptop");
	auth_token_list_free(list, nl);
}

static void test_expiry_and_scopes(void)
{
	char tok[AUTH_TOKEN_LEN + 1];
	struct auth_caller c;
	const char *scopes[] = {"models/Alice/Pub", "dataset/acme/data"};

	CHECK_EQ_INT(auth_token_create(st, "alice", AUTH_ROLE_WRITE, NULL, 0, time_now_ms() + 150,
	                               NULL, tok, NULL, err, sizeof(err)),
	             0);
	CHECK_EQ_INT(auth_authenticate(st, tok, &c), 0);
	auth_caller_release(&c);
	struct timespec ts = {0, 300 * 1000000L};
	nanosleep(&ts, NULL);
	CHECK_EQ_INT(auth_authenticate(st, tok, &c), HD_EAUTH);

	CHECK_EQ_INT(auth_token_create(st, "alice", AUTH_ROLE_WRITE, scopes, 2, 0, NULL, tok, NULL,
	                               err, sizeof(err)),
	             0);
	CHECK_EQ_INT(auth_authenticate(st, tok, &c), 0);
	CHECK_EQ_INT(c.n_scopes, 2);
	CHECK_EQ_STR(c.scopes[0], "model/alice/pub");
	CHECK_EQ_STR(c.scopes[1], "dataset/acme/data");
	auth_caller_release(&c);
}

/* The access matrix: (caller, repo) -> access. */
static void test_access(void)
{
	struct auth_caller alice, bob, root, anon, ro, fine;
	struct auth_account acme, a_alice;
	char tok[AUTH_TOKEN_LEN + 1];

	CHECK_EQ_INT(auth_account_find(st, "acme", &acme), 0);
	CHECK_EQ_INT(auth_account_find(st, "alice", &a_alice), 0);
	CHECK_EQ_INT(auth_caller_for_user(st, "alice", &alice), 0);
	CHECK_EQ_INT(auth_caller_for_user(st, "bob", &bob), 0); /* read member of acme */
	CHECK_EQ_INT(auth_caller_for_user(st, "root", &root), 0);
	CHECK_EQ_INT(auth_caller_for_user(st, "acme", &anon), HD_ENOTFOUND);
	auth_caller_init_anonymous(&anon);
	CHECK_EQ_INT(auth_token_create(st, "alice", AUTH_ROLE_READ, NULL, 0, 0, NULL, tok, NULL,
	                               err, sizeof(err)),
	             0);
	CHECK_EQ_INT(auth_authenticate(st, tok, &ro), 0);
	const char *scope = "model/alice/pub";
	CHECK_EQ_INT(auth_token_create(st, "alice", AUTH_ROLE_WRITE, &scope, 1, 0, NULL, tok, NULL,
	                               err, sizeof(err)),
	             0);
	CHECK_EQ_INT(auth_authenticate(st, tok, &fine), 0);

	struct auth_repo pub = {"model/alice/pub", a_alice.id, 0, 0};
	struct auth_repo priv = {"model/alice/priv", a_alice.id, 0, 1};
	struct auth_repo org_priv = {"model/acme/priv", acme.id, 1, 1};
	struct auth_repo org_pub = {"model/acme/pub", acme.id, 1, 0};

	CHECK_EQ_INT(auth_repo_access(&anon, &pub), AUTH_ACCESS_READ);
	CHECK_EQ_INT(auth_repo_access(&anon, &priv), AUTH_ACCESS_NONE);
	CHECK_EQ_INT(auth_repo_access(&alice, &pub), AUTH_ACCESS_ADMIN);
	CHECK_EQ_INT(auth_repo_access(&alice, &priv), AUTH_ACCESS_ADMIN);
	CHECK_EQ_INT(auth_repo_access(&bob, &priv), AUTH_ACCESS_NONE);
	CHECK_EQ_INT(auth_repo_access(&bob, &pub), AUTH_ACCESS_READ);
	CHECK_EQ_INT(auth_repo_access(&bob, &org_priv), AUTH_ACCESS_READ);
	CHECK_EQ_INT(auth_repo_access(&bob, &org_pub), AUTH_ACCESS_READ);
	CHECK_EQ_INT(auth_repo_access(&alice, &org_priv), AUTH_ACCESS_NONE);
	CHECK_EQ_INT(auth_repo_access(&root, &priv), AUTH_ACCESS_ADMIN);
	CHECK_EQ_INT(auth_repo_access(&root, &org_priv), AUTH_ACCESS_ADMIN);
	/* A read token never writes. */
	CHECK_EQ_INT(auth_repo_access(&ro, &priv), AUTH_ACCESS_READ);
	CHECK_EQ_INT(auth_repo_access(&ro, &pub), AUTH_ACCESS_READ);
	/* A fine-grained token reaches its repo only; public repos stay readable. */
	CHECK_EQ_INT(auth_repo_access(&fine, &pub), AUTH_ACCESS_ADMIN);
	CHECK_EQ_INT(auth_repo_access(&fine, &priv), AUTH_ACCESS_NONE);
	CHECK_EQ_INT(auth_repo_access(&fine, &org_pub), AUTH_ACCESS_READ);

	/* Org roles. */
	CHECK_EQ_INT(auth_member_set(st, "acme", "alice", AUTH_ROLE_WRITE, err, sizeof(err)), 0);
	auth_caller_release(&alice);
	CHECK_EQ_INT(auth_caller_for_user(st, "alice", &alice), 0);
	CHECK_EQ_INT(auth_repo_access(&alice, &org_priv), AUTH_ACCESS_WRITE);
	CHECK(auth_can_create_in(&alice, &acme, "model/acme/new"));
	CHECK(!auth_can_create_in(&bob, &acme, "model/acme/new"));
	CHECK(!auth_can_create_in(&bob, &a_alice, "model/alice/new"));
	CHECK(auth_can_create_in(&alice, &a_alice, "model/alice/new"));
	CHECK(!auth_can_create_in(&ro, &a_alice, "model/alice/new"));
	CHECK(!auth_can_create_in(&anon, &a_alice, "model/alice/new"));
	CHECK(!auth_can_create_in(&fine, &a_alice, "model/alice/new"));
	CHECK(auth_can_create_in(&fine, &a_alice, "model/alice/pub"));
	CHECK(auth_can_create_in(&root, &acme, "model/acme/x"));
	CHECK_EQ_INT(auth_member_set(st, "acme", "alice", AUTH_ROLE_ADMIN, err, sizeof(err)), 0);
	auth_caller_release(&alice);
	CHECK_EQ_INT(auth_caller_for_user(st, "alice", &alice), 0);
	CHECK_EQ_INT(auth_repo_access(&alice, &org_priv), AUTH_ACCESS_ADMIN);
	/* Removal applies at the next authentication (here: the next caller). */
	CHECK_EQ_INT(auth_member_remove(st, "acme", "alice", err, sizeof(err)), 0);
	auth_caller_release(&alice);
	CHECK_EQ_INT(auth_caller_for_user(st, "alice", &alice), 0);
	CHECK_EQ_INT(auth_repo_access(&alice, &org_priv), AUTH_ACCESS_NONE);

	auth_caller_release(&alice);
	auth_caller_release(&bob);
	auth_caller_release(&root);
	auth_caller_release(&ro);
	auth_caller_release(&fine);
}

static void test_audit(void)
{
	struct store_db *db = store_db_get(st);
	int64_t n = 0;
	CHECK_EQ_INT(store_query_i64(db, &n,
	                             "SELECT count(*) FROM audit WHERE action IN"
	                             " ('token.create', 'token.revoke', 'org.member.set',"
	                             " 'org.member.remove', 'user.create', 'org.create')",
	                             NULL),
	             0);
	CHECK(n >= 10);
	store_db_put(st, db);
	auth_audit(st, "alice", "repo.delete", "model/alice/x", "127.0.0.1");
	db = store_db_get(st);
	CHECK_EQ_INT(store_query_i64(db, &n,
	                             "SELECT count(*) FROM audit WHERE action = 'repo.delete'"
	                             " AND ip = '127.0.0.1'",
	                             NULL),
	             0);
	CHECK_EQ_INT(n, 1);
	store_db_put(st, db);
}

int main(void)
{
	log_min_level = LOG_WARN;
	setup();
	RUN(test_names);
	RUN(test_accounts);
	RUN(test_tokens);
	RUN(test_expiry_and_scopes);
	RUN(test_access);
	RUN(test_audit);
	teardown();
	return test_summary();
}

/*
 * auth: accounts (users and orgs share one namespace), org membership,
 * access tokens, the repository access rules and the audit log.
 *
 * Who is calling is a `struct auth_caller`, filled once per request by
 * auth_authenticate() from the bearer token (or the git basic-auth
 * password). It carries everything the access rules need (admin flag, org
 * roles, token role and scopes), so deciding access to a repo is a pure
 * function (auth_repo_access) and membership or revocation changes apply on
 * the very next request.
 *
 * Tokens: "hf_" + 34 characters of [A-Za-z0-9]. Only sha256(token) and a
 * display prefix ("hf_abcd") are stored; the secret is returned once, by
 * auth_token_create, and never logged.
 */
#ifndef HD_AUTH_H
#define HD_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct store;

#define AUTH_NAME_MAX 96 /* namespaces, user, org and repo names */
#define AUTH_TOKEN_LEN 37 /* "hf_" + 34 */
#define AUTH_PREFIX_LEN 7 /* "hf_" + 4: what lists show */

enum auth_role {
	AUTH_ROLE_NONE = 0,
	AUTH_ROLE_READ = 1,
	AUTH_ROLE_WRITE = 2,
	AUTH_ROLE_ADMIN = 3, /* org role only */
};
const char *auth_role_name(enum auth_role r); /* "read", "write", "admin", "none" */
int auth_role_parse(const char *s, enum auth_role *out); /* 0 or HD_EINVAL */

struct auth_membership {
	int64_t org_id;
	char org[AUTH_NAME_MAX + 1];
	enum auth_role role;
};

/* The identity behind a request. Anonymous: user_id == 0. Owned by the
 * caller of auth_authenticate; release with auth_caller_release. */
struct auth_caller {
	int64_t user_id; /* 0: anonymous */
	char user[AUTH_NAME_MAX + 1];
	char fullname[256];
	char email[256];
	int is_admin;
	int64_t user_created_ms;
	struct auth_membership *orgs;
	size_t n_orgs;
	/* the token used (token_id 0 for an internal caller such as the CLI) */
	int64_t token_id;
	enum auth_role token_role; /* READ or WRITE; the ceiling of every access */
	char token_prefix[AUTH_PREFIX_LEN + 1];
	char token_name[128]; /* display name; the prefix when the token has none */
	int64_t token_created_ms;
	char **scopes; /* fine-grained: repo keys "model/alice/x" (lowercase); NULL = all */
	size_t n_scopes;
	char ip[64]; /* set by the HTTP layer, recorded in the audit log */
};

void auth_caller_init_anonymous(struct auth_caller *c);
/* A caller acting with the full rights of a user (no token limits), for the
 * CLI and tests. 0, HD_ENOTFOUND. */
int auth_caller_for_user(struct store *st, const char *user, struct auth_caller *out);
void auth_caller_release(struct auth_caller *c);

/* Fills *out from a token. token NULL or "": anonymous (returns 0).
 * Unknown, malformed, expired or revoked token: HD_EAUTH (nothing filled
 * but an anonymous caller). Updates the token's last_used (at most once a
 * minute). */
int auth_authenticate(struct store *st, const char *token, struct auth_caller *out);

/* ---- accounts ---------------------------------------------------------- */
/* Name grammar (SECURITY P2): [A-Za-z0-9][A-Za-z0-9._-]*, at most 96 bytes,
 * no "..", "--", "-.", ".-", not ending in ".git" or "." or "-". 1 if ok. */
int auth_name_valid(const char *name);
/* 1 if name may not be a user or org: it is one of the server's own path
 * prefixes ("api", "datasets", "spaces", "models", "settings", "v1", ...),
 * in any case. Repo names are not affected. */
int auth_name_reserved(const char *name);

/* 0, HD_EINVAL (bad name), HD_EEXIST (user or org of that name, any case). */
int auth_user_create(struct store *st, const char *name, const char *fullname, const char *email,
                     int is_admin, char *err, size_t err_size);
int auth_org_create(struct store *st, const char *name, const char *fullname, char *err,
                    size_t err_size);
/* Adds or changes a member's role (read, write or admin). */
int auth_member_set(struct store *st, const char *org, const char *user, enum auth_role role,
                    char *err, size_t err_size);
int auth_member_remove(struct store *st, const char *org, const char *user, char *err,
                       size_t err_size);

enum auth_account_kind { AUTH_ACCOUNT_USER = 0, AUTH_ACCOUNT_ORG = 1 };
struct auth_account {
	int64_t id;
	enum auth_account_kind kind;
	char name[AUTH_NAME_MAX + 1]; /* canonical case */
};
/* Looks a user or org up by name, case-insensitively. 0 or HD_ENOTFOUND. */
int auth_account_find(struct store *st, const char *name, struct auth_account *out);
int auth_account_by_id(struct store *st, int64_t id, struct auth_account *out);

/* ---- tokens ------------------------------------------------------------ */
/* Creates a token for user. role READ or WRITE; scopes: repo keys
 * ("model/alice/x", "dataset/acme/y", "space/..."; checked for grammar,
 * stored lowercase), n_scopes 0 = all repos; expires_ms 0 = never. Writes
 * the secret (AUTH_TOKEN_LEN chars + NUL) to token_out; it is not stored. */
int auth_token_create(struct store *st, const char *user, enum auth_role role,
                      const char *const *scopes, size_t n_scopes, int64_t expires_ms,
                      const char *name, char token_out[AUTH_TOKEN_LEN + 1], int64_t *id_out,
                      char *err, size_t err_size);

struct auth_token_info {
	int64_t id;
	char prefix[AUTH_PREFIX_LEN + 1];
	char name[128];
	enum auth_role role;
	char *scopes; /* comma-separated repo keys, or NULL for all repos */
	int64_t created_ms, expires_ms, last_used_ms, revoked_ms; /* 0 = none */
};
/* Lists a user's tokens, oldest first. Free with auth_token_list_free. */
int auth_token_list(struct store *st, const char *user, struct auth_token_info **out, size_t *n_out,
                    char *err, size_t err_size);
void auth_token_list_free(struct auth_token_info *list, size_t n);
/* Revokes by numeric id or by display prefix (must match exactly one live
 * token; HD_ECONFLICT if several do). */
int auth_token_revoke(struct store *st, const char *prefix_or_id, char *err, size_t err_size);

/* ---- repository access ------------------------------------------------- */
enum auth_access {
	AUTH_ACCESS_NONE = 0, /* cannot even see it: answer "not found" */
	AUTH_ACCESS_READ = 1,
	AUTH_ACCESS_WRITE = 2,
	AUTH_ACCESS_ADMIN = 3, /* delete, move, settings */
};
/* What the access rules need to know about a repo. */
struct auth_repo {
	const char *key; /* "model/alice/x", lowercase */
	int64_t owner_id; /* account id of the namespace */
	int owner_is_org;
	int is_private;
};
/* Public: anyone reads. Private: owner, org members (any role), admins read.
 * Write: owner, org write/admin members, admins. Admin: owner, org admins,
 * site admins. Then capped by the token: a read token never writes; a
 * fine-grained token reaches only its listed repos (public repos stay
 * readable). */
enum auth_access auth_repo_access(const struct auth_caller *c, const struct auth_repo *r);
/* May the caller create/own repos in namespace (account id, kind)? (the user
 * itself, org write/admin members, admins; the token must be a write token
 * without scopes, or scoped to the repo key being created.) */
int auth_can_create_in(const struct auth_caller *c, const struct auth_account *ns,
                       const char *repo_key);

/* ---- audit log (append-only) ------------------------------------------- */
/* actor: user name or "cli"; action e.g. "token.create", "repo.delete". */
void auth_audit(struct store *st, const char *actor, const char *action, const char *target,
                const char *ip);

#endif

/*
 * test_hub.c: the repository service against a real data dir: create,
 * commit, tree, resolve, branches, tags, parent conflicts, path grammar
 * rejections, private-as-404, LFS possession, uploads, multipart, listing,
 * moves and deletes, signed URLs, concurrent commits, push checks.
 */
#include "auth/auth.h"
#include "core/core.h"
#include "hub/hub.h"
#include "store/store.h"
#include "test.h"

#include <git2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;
static struct hub *h;
static struct auth_caller alice, bob, carol, mallory, anon, root, alice_ro;
static struct hub_err e;

static struct hub_repo_ref R(enum hub_repo_type t, const char *ns, const char *name) {
	struct hub_repo_ref r = {t, ns, name};
	return r;
}

static void
setup(void)
{
	char err[256];
	char tok[AUTH_TOKEN_LEN + 1];
	struct hub_config cfg;

	dir = xstrdup("/tmp/huddle-test-hub-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	hub_config_init(&cfg);
	cfg.multipart_threshold = 100;
	cfg.multipart_chunk = 40;
	if (hub_open(dir, &cfg, &h, &e)) {
		fprintf(stderr, "hub_open: %s\n", e.msg);
		abort();
	}
	struct store *st = hub_store(h);
	const char *users[] = {"alice", "bob", "carol", "mallory"};
	for (size_t i = 0; i < ARRAY_SIZE(users); i++)
		auth_user_create(st, users[i], NULL, NULL, 0, err, sizeof(err));
	auth_user_create(st, "root", NULL, NULL, 1, err, sizeof(err));
	auth_org_create(st, "acme", NULL, err, sizeof(err));
	auth_member_set(st, "acme", "bob", AUTH_ROLE_READ, err, sizeof(err));
	auth_member_set(st, "acme", "carol", AUTH_ROLE_WRITE, err, sizeof(err));
	auth_caller_for_user(st, "alice", &alice);
	auth_caller_for_user(st, "bob", &bob);
	auth_caller_for_user(st, "carol", &carol);
	auth_caller_for_user(st, "mallory", &mallory);
	auth_caller_for_user(st, "root", &root);
	auth_caller_init_anonymous(&anon);
	auth_token_create(st, "alice", AUTH_ROLE_READ, NULL, 0, 0, NULL, tok, NULL, err,
	                  sizeof(err));
	if (hub_authenticate(h, tok, &alice_ro))
		abort();
}

static void teardown(void)
{
	struct auth_caller *all[] = {&alice, &bob, &carol, &mallory, &root, &anon, &alice_ro};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		auth_caller_release(all[i]);
	hub_close(h);
	fs_rm_rf(dir);
	free(dir);
}

static int commit_file(const struct auth_caller *c, const struct hub_repo_ref *r,
                       const char *branch, const char *path, const char *content,
                       const char *parent, char oid[41])
{
	struct hub_commit_op op = {.kind = HUB_OP_FILE,
	                           .path = path,
	                           .content = content,
	                           .content_size = strlen(content)};
	struct hub_commit_req req = {.summary = "add a file",
	                             .description = NULL,
	                             .parent_commit = parent,
	                             .ops = &op,
	                             .n_ops = 1};
	return hub_commit_create(h, c, r, branch, &req, oid, &e);
}

static int upload(const char *uid, const void *data, size_t n, char oid[65])
{
	struct hub_lfs_writer *w;
	sha256_hex(oid, data, n);
	int rc = hub_lfs_upload_begin(h, uid, oid, (int64_t)n, &w, &e);
	if (rc)
		return rc;
	hub_lfs_upload_write(w, data, n);
	return hub_lfs_upload_finish(w, &e);
}

static char *head_of(const struct hub_repo_ref *r, const char *rev)
{
	static char sha[41];
	if (hub_rev_resolve(h, &alice, r, rev, sha, &e))
		return NULL;
	return sha;
}

static void test_create(void)
{
	struct hub_repo_ref r = R(HUB_REPO_MODEL, "alice", "Demo");
	struct hub_repo repo;

	CHECK_EQ_INT(hub_repo_create(h, &alice, &r, 0, NULL, &repo, &e), 0);
	CHECK_EQ_STR(repo.id, "alice/Demo");
	CHECK_EQ_INT(strlen(repo.uid), 32);
	CHECK_EQ_INT(strlen(repo.sha), 40);
	hub_repo_release(&repo);
	/* Case-insensitive uniqueness. */
	struct hub_repo_ref r2 = R(HUB_REPO_MODEL, "ALICE", "demo");
	CHECK_EQ_INT(hub_repo_create(h, &alice, &r2, 0, NULL, NULL, &e), HD_EEXIST);
	/* Same name, other type: fine. */
	struct hub_repo_ref ds = R(HUB_REPO_DATASET, "alice", "demo");
	CHECK_EQ_INT(hub_repo_create(h, &alice, &ds, 0, NULL, NULL, &e), 0);
	struct hub_repo_ref sp = R(HUB_REPO_SPACE, "alice", "demo");
	CHECK_EQ_INT(hub_repo_create(h, &alice, &sp, 0, "static", NULL, &e), 0);
	/* Bad names. */
	const char *bad[] = {"..", ".git", "a/b", "-upload-pack=x", "x.git", "a b", ""};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct hub_repo_ref b = R(HUB_REPO_MODEL, "alice", bad[i]);
		CHECK_EQ_INT(hub_repo_create(h, &alice, &b, 0, NULL, NULL, &e), HD_EINVAL);
	}
	/* Namespaces: own, org with write, not others. */
	struct hub_repo_ref other = R(HUB_REPO_MODEL, "bob", "x");
	CHECK_EQ_INT(hub_repo_create(h, &alice, &other, 0, NULL, NULL, &e), HD_EPERM);
	struct hub_repo_ref org = R(HUB_REPO_MODEL, "acme", "shared");
	CHECK_EQ_INT(hub_repo_create(h, &bob, &org, 0, NULL, NULL, &e), HD_EPERM);
	CHECK_EQ_INT(hub_repo_create(h, &carol, &org, 1, NULL, NULL, &e), 0);
	struct hub_repo_ref none = R(HUB_REPO_MODEL, "nobody", "x");
	CHECK_EQ_INT(hub_repo_create(h, &alice, &none, 0, NULL, NULL, &e), HD_ENOTFOUND);
	CHECK_EQ_INT(hub_repo_create(h, &anon, &r, 0, NULL, NULL, &e), HD_EAUTH);
	struct hub_repo_ref ro = R(HUB_REPO_MODEL, "alice", "by-read-token");
	CHECK_EQ_INT(hub_repo_create(h, &alice_ro, &ro, 0, NULL, NULL, &e), HD_EPERM);

	/* The initial commit holds the Hub's .gitattributes. */
	struct hub_file f;
	CHECK_EQ_INT(hub_file_open(h, &anon, &r2, "main", ".gitattributes", 0, &f, &e), 0);
	CHECK(f.data && strstr(f.data, "*.safetensors filter=lfs") != NULL);
	CHECK(strstr(f.data, "*.gguf filter=lfs") != NULL);
	hub_file_release(&f);
	struct hub_commit_list cl;
	CHECK_EQ_INT(hub_commits_list(h, &anon, &r, NULL, 0, NULL, &cl, &e), 0);
	CHECK_EQ_INT(cl.total, 1);
	CHECK_EQ_STR(cl.items[0].title, "initial commit");
	CHECK_EQ_STR(cl.items[0].author_name, "alice");
	hub_commit_list_release(&cl);
}

static void test_commit_and_read(void)
{
	struct hub_repo_ref r = R(HUB_REPO_MODEL, "alice", "demo");
	char c1[41], c2[41], c3[41];
	struct hub_repo_info info;

	CHECK_EQ_INT(commit_file(&alice, &r, NULL, "README.md",
	                         "---\nlicense: mit\ntags: [llama, gguf]\npipeline_tag: "
	                         "text-generation\n---\n# Demo\n",
	                         NULL, c1),
	             0);
	CHECK_EQ_INT(strlen(c1), 40);
	CHECK_EQ_INT(commit_file(&alice, &r, "main", "sub/dir/a.txt", "aaa", c1, c2), 0);
	/* Stale parent: 412, nothing changes. */
	CHECK_EQ_INT(commit_file(&alice, &r, "main", "b.txt", "b", c1, c3), HD_ECONFLICT);
	CHECK_EQ_STR(head_of(&r, "HEAD"), c2);
	/* Abbreviated parent works. */
	char abbrev[8];
	memcpy(abbrev, c2, 7);
	abbrev[7] = 0;
	CHECK_EQ_INT(commit_file(&alice, &r, "main", "b.txt", "b", abbrev, c3), 0);
	/* Revisions: HEAD, main, full and short sha. */
	CHECK_EQ_STR(head_of(&r, NULL), c3);
	CHECK_EQ_STR(head_of(&r, "main"), c3);
	CHECK_EQ_STR(head_of(&r, c1), c1);
	memcpy(abbrev, c1, 7);
	CHECK_EQ_STR(head_of(&r, abbrev), c1);
	const char *bad_revs[] = {
	        "--upload-pack=x", "-o", "HEAD;id", "main~1", "a..b", "x y", "nope",
	        "refs/remotes/x"};
	char sha[41];
	for (size_t i = 0; i < ARRAY_SIZE(bad_revs); i++) {
		CHECK_EQ_INT(hub_rev_resolve(h, &alice, &r, bad_revs[i], sha, &e), HD_ENOTFOUND);
		CHECK_EQ_STR(e.code, "RevisionNotFound");
	}
	/* Card metadata lands in the repo row. */
	CHECK_EQ_INT(hub_repo_info(h, &anon, &r, "HEAD", 1, &info, &e), 0);
	CHECK_EQ_STR(info.repo.license, "mit");
	CHECK_EQ_STR(info.repo.pipeline_tag, "text-generation");
	CHECK_EQ_STR(info.repo.sha, c3);
	CHECK_EQ_STR(info.rev_sha, c3);
	CHECK(info.repo.card_json && strstr(info.repo.card_json, "\"license\"") != NULL);
	int has_license_tag = 0;
	for (size_t i = 0; i < info.repo.n_tags; i++)
		has_license_tag |= !strcmp(info.repo.tags[i], "license:mit");
	CHECK(has_license_tag);
	CHECK_EQ_INT(info.n_siblings, 4); /* .gitattributes README.md b.txt sub/dir/a.txt */
	hub_repo_info_release(&info);
	CHECK_EQ_INT(hub_repo_info(h, &anon, &r, c1, 1, &info, &e), 0);
	CHECK_EQ_STR(info.rev_sha, c1);
	CHECK_EQ_INT(info.n_siblings, 2);
	int64_t sizes[2] = {info.siblings[0].size, info.siblings[1].size};
	CHECK(sizes[0] > 0 && sizes[1] > 0);
	hub_repo_info_release(&info);
	/* Names only: the same files, no object read for sizes. */
	CHECK_EQ_INT(hub_repo_info(h, &anon, &r, c1, HUB_SIBLINGS_NAMES, &info, &e), 0);
	CHECK_EQ_INT(info.n_siblings, 2);
	CHECK(info.siblings[0].path && info.siblings[0].oid[0] && info.siblings[0].size == 0);
	hub_repo_info_release(&info);

	/* Tree listings. */
	struct hub_tree_page p;
	CHECK_EQ_INT(hub_tree_list(h, &anon, &r, "main", NULL, 0, 0, 0, NULL, &p, &e), 0);
	CHECK_EQ_INT(p.n, 4); /* .gitattributes README.md b.txt sub */
	int saw_dir = 0;
	for (size_t i = 0; i < p.n; i++)
		if (!strcmp(p.entries[i].path, "sub"))
			saw_dir = p.entries[i].is_dir;
	CHECK(saw_dir);
	CHECK(p.next_cursor == NULL);
	hub_tree_page_release(&p);
	CHECK_EQ_INT(hub_tree_list(h, &anon, &r, "main", "sub", 0, 0, 0, NULL, &p, &e), 0);
	CHECK_EQ_INT(p.n, 1);
	CHECK_EQ_STR(p.entries[0].path, "sub/dir");
	hub_tree_page_release(&p);
	CHECK_EQ_INT(hub_tree_list(h, &anon, &r, "main", NULL, 1, 1, 0, NULL, &p, &e), 0);
	CHECK_EQ_INT(p.n, 6); /* + sub, sub/dir */
	for (size_t i = 0; i < p.n; i++) {
		CHECK(p.entries[i].has_last_commit);
		if (!strcmp(p.entries[i].path, "README.md")) {
			CHECK_EQ_STR(p.entries[i].last_commit_id, c1);
			CHECK_EQ_STR(p.entries[i].last_commit_title, "add a file");
		}
		if (!strcmp(p.entries[i].path, "sub/dir/a.txt"))
			CHECK_EQ_STR(p.entries[i].last_commit_id, c2);
		if (!strcmp(p.entries[i].path, "sub/dir/a.txt"))
			CHECK_EQ_INT(p.entries[i].size, 3);
	}
	hub_tree_page_release(&p);
	/* Pagination by cursor. */
	size_t seen = 0;
	char *cursor = NULL;
	for (int pages = 0; pages < 10; pages++) {
		CHECK_EQ_INT(hub_tree_list(h, &anon, &r, "main", NULL, 1, 0, 4, cursor, &p, &e), 0);
		seen += p.n;
		free(cursor);
		cursor = p.next_cursor ? xstrdup(p.next_cursor) : NULL;
		hub_tree_page_release(&p);
		if (!cursor)
			break;
	}
	CHECK_EQ_INT(seen, 6);
	CHECK_EQ_INT(hub_tree_list(h, &anon, &r, "main", NULL, 1, 0, 4, "x", &p, &e), HD_EINVAL);
	CHECK_EQ_INT(hub_tree_list(h, &anon, &r, "main", "b.txt", 0, 0, 0, NULL, &p, &e),
	             HD_ENOTFOUND);
	CHECK_EQ_STR(e.code, "EntryNotFound");
	CHECK_EQ_INT(hub_tree_list(h, &anon, &r, "main", "../x", 0, 0, 0, NULL, &p, &e),
	             HD_ENOTFOUND);

	/* Paths-info. */
	const char *paths[] = {"README.md", "sub", "missing", "../etc/passwd", "README.md"};
	CHECK_EQ_INT(hub_paths_info(h, &anon, &r, "main", paths, ARRAY_SIZE(paths), 1, &p, &e), 0);
	CHECK_EQ_INT(p.n, 2);
	CHECK_EQ_STR(p.entries[0].path, "README.md");
	CHECK(p.entries[1].is_dir);
	CHECK_EQ_STR(p.entries[0].last_commit_id, c1);
	hub_tree_page_release(&p);

	/* Files. */
	struct hub_file f;
	CHECK_EQ_INT(hub_file_open(h, &anon, &r, "main", "sub/dir/a.txt", 0, &f, &e), 0);
	CHECK_EQ_INT(f.size, 3);
	CHECK(!memcmp(f.data, "aaa", 3));
	CHECK_EQ_STR(f.commit, c3);
	CHECK_EQ_INT(f.fd, -1);
	hub_file_release(&f);
	CHECK_EQ_INT(hub_file_open(h, &anon, &r, c1, "sub/dir/a.txt", 0, &f, &e), HD_ENOTFOUND);
	CHECK_EQ_STR(e.code, "EntryNotFound");
	CHECK_EQ_STR(f.commit, c1);
	hub_file_release(&f);
	CHECK_EQ_INT(hub_file_open(h, &anon, &r, "main", "sub", 0, &f, &e), HD_ENOTFOUND);
	hub_file_release(&f);
	CHECK_EQ_INT(hub_file_open(h, &anon, &r, "main", "../../huddle.db", 0, &f, &e),
	             HD_ENOTFOUND);
	hub_file_release(&f);
}

static void test_bad_paths(void)
{
	struct hub_repo_ref r = R(HUB_REPO_MODEL, "alice", "demo");
	const char *before = head_of(&r, "main");
	char head[41], oid[41];
	memcpy(head, before, 41);
	const char *bad[] = {"../x",        "..\\x",    "/etc/passwd", "a/../../x",
	                     "a/../b",      "%2e%2e/x", ".git/config", "sub/.git/config",
	                     ".GIT/config", "C:\\x",    "x::$DATA",    "",
	                     ".",           "..",       "a//b",        "./x",
	                     "a/./b",       "a/",       "x\001y",      "\xc0\xae\xc0\xae/x",
	                     "ok/%2F/x"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK(!hub_path_valid(bad[i]));
		int rc = commit_file(&alice, &r, NULL, bad[i], "x", NULL, oid);
		if (rc != HD_EINVAL)
			fprintf(stderr, "path '%s' gave %d\n", bad[i], rc);
		CHECK_EQ_INT(rc, HD_EINVAL);
	}
	CHECK_EQ_STR(head_of(&r, "main"), head);
	/* File/directory clashes. */
	CHECK_EQ_INT(commit_file(&alice, &r, NULL, "sub", "x", NULL, oid), HD_EINVAL);
	CHECK_EQ_INT(commit_file(&alice, &r, NULL, "b.txt/c", "x", NULL, oid), HD_EINVAL);
	/* Deleting what is not there. */
	struct hub_commit_op del = {.kind = HUB_OP_DELETE_FILE, .path = "nope.txt"};
	struct hub_commit_req req = {.summary = "del", .ops = &del, .n_ops = 1};
	CHECK_EQ_INT(hub_commit_create(h, &alice, &r, NULL, &req, oid, &e), HD_EINVAL);
	del.kind = HUB_OP_DELETE_FOLDER;
	CHECK_EQ_INT(hub_commit_create(h, &alice, &r, NULL, &req, oid, &e), HD_EINVAL);
	del.path = "sub/dir";
	del.kind = HUB_OP_DELETE_FILE;
	CHECK_EQ_INT(hub_commit_create(h, &alice, &r, NULL, &req, oid, &e), HD_EINVAL);
	/* No summary; a tag or sha as the branch. */
	req.summary = "";
	CHECK_EQ_INT(hub_commit_create(h, &alice, &r, NULL, &req, oid, &e), HD_EINVAL);
	req.summary = "x";
	CHECK_EQ_INT(hub_commit_create(h, &alice, &r, head, &req, oid, &e), HD_ENOTFOUND);
	CHECK_EQ_STR(head_of(&r, "main"), head);
	/* Too big for a regular file. */
	size_t big = (10u << 20) + 1;
	char *blob = xcalloc(1, big + 1);
	memset(blob, 'a', big);
	CHECK_EQ_INT(commit_file(&alice, &r, NULL, "big.txt", blob, NULL, oid), HD_ETOOBIG);
	free(blob);
	CHECK_EQ_STR(head_of(&r, "main"), head);
}

static void test_delete_ops(void)
{
	struct hub_repo_ref r = R(HUB_REPO_MODEL, "alice", "demo");
	char oid[41];
	struct hub_commit_op ops[2] = {{.kind = HUB_OP_DELETE_FOLDER, .path = "sub"},
	                               {.kind = HUB_OP_DELETE_FILE, .path = "b.txt"}};
	struct hub_commit_req req = {
	        .summary = "clean up", .description = "longer text", .ops = ops, .n_ops = 2};
	CHECK_EQ_INT(hub_commit_create(h, &alice, &r, "main", &req, oid, &e), 0);
	struct hub_tree_page p;
	CHECK_EQ_INT(hub_tree_list(h, &anon, &r, "main", NULL, 1, 0, 0, NULL, &p, &e), 0);
	CHECK_EQ_INT(p.n, 2);
	hub_tree_page_release(&p);
	struct hub_commit_list cl;
	CHECK_EQ_INT(hub_commits_list(h, &anon, &r, "main", 2, NULL, &cl, &e), 0);
	CHECK_EQ_INT(cl.total, 5);
	CHECK_EQ_INT(cl.n, 2);
	CHECK_EQ_STR(cl.items[0].id, oid);
	CHECK_EQ_STR(cl.items[0].title, "clean up");
	CHECK_EQ_STR(cl.items[0].message, "longer text");
	CHECK(cl.next_cursor != NULL);
	char *cur = xstrdup(cl.next_cursor);
	hub_commit_list_release(&cl);
	CHECK_EQ_INT(hub_commits_list(h, &anon, &r, "main", 10, cur, &cl, &e), 0);
	CHECK_EQ_INT(cl.n, 3);
	CHECK_EQ_STR(cl.items[2].title, "initial commit");
	CHECK(cl.next_cursor == NULL);
	hub_commit_list_release(&cl);
	free(cur);
}

static void test_branches_tags(void)
{
	struct hub_repo_ref r = R(HUB_REPO_MODEL, "alice", "demo");
	char main_sha[41], oid[41];
	struct hub_refs refs;
	memcpy(main_sha, head_of(&r, "main"), 41);

	CHECK_EQ_INT(hub_branch_create(h, &alice, &r, "dev", "main", 0, 0, &e), 0);
	CHECK_EQ_INT(hub_branch_create(h, &alice, &r, "dev", NULL, 0, 0, &e), HD_EEXIST);
	CHECK_EQ_INT(hub_branch_create(h, &alice, &r, "-x", NULL, 0, 0, &e), HD_EINVAL);
	CHECK_EQ_INT(hub_branch_create(h, &alice, &r, "a..b", NULL, 0, 0, &e), HD_EINVAL);
	CHECK_EQ_INT(hub_branch_create(h, &bob, &r, "bobs", NULL, 0, 0, &e), HD_EPERM);
	CHECK_EQ_INT(commit_file(&alice, &r, "dev", "dev.txt", "on dev", NULL, oid), 0);
	struct hub_file f;
	CHECK_EQ_INT(hub_file_open(h, &anon, &r, "dev", "dev.txt", 0, &f, &e), 0);
	hub_file_release(&f);
	CHECK_EQ_INT(hub_file_open(h, &anon, &r, "main", "dev.txt", 0, &f, &e), HD_ENOTFOUND);
	hub_file_release(&f);
	CHECK_EQ_STR(head_of(&r, "main"), main_sha);
	/* Branch names with slashes, and splitting raw URL tails. */
	CHECK_EQ_INT(hub_branch_create(h, &alice, &r, "feature/x", "dev", 0, 0, &e), 0);
	size_t rev_len = 0;
	CHECK_EQ_INT(hub_rev_split(h, &anon, &r, "feature/x/dev.txt", &rev_len, &e), 0);
	CHECK_EQ_INT(rev_len, 9);
	CHECK_EQ_INT(hub_rev_split(h, &anon, &r, "main/README.md", &rev_len, &e), 0);
	CHECK_EQ_INT(rev_len, 4);
	/* A name cannot be a branch and a folder of branches at once: 409, not
	 * an internal error. */
	CHECK_EQ_INT(hub_branch_create(h, &alice, &r, "feature", "dev", 0, 0, &e), HD_EEXIST);
	CHECK_EQ_INT(hub_branch_create(h, &alice, &r, "dev/sub", "dev", 0, 0, &e), HD_EEXIST);
	CHECK_EQ_INT(hub_branch_create(h, &alice, &r, "feature/x/y", "dev", 0, 0, &e), HD_EEXIST);
	CHECK_EQ_INT(hub_branch_create(h, &alice, &r, "empty", NULL, 1, 0, &e), 0);
	struct hub_tree_page p;
	CHECK_EQ_INT(hub_tree_list(h, &anon, &r, "empty", NULL, 1, 0, 0, NULL, &p, &e), 0);
	CHECK_EQ_INT(p.n, 0);
	hub_tree_page_release(&p);
	/* Tags. */
	CHECK_EQ_INT(hub_tag_create(h, &alice, &r, "main", "v1", NULL, &e), 0);
	CHECK_EQ_INT(hub_tag_create(h, &alice, &r, "dev", "v2", "annotated", &e), 0);
	CHECK_EQ_INT(hub_tag_create(h, &alice, &r, "main", "v1", NULL, &e), HD_EEXIST);
	CHECK_EQ_INT(hub_tag_create(h, &alice, &r, "nope", "v3", NULL, &e), HD_ENOTFOUND);
	CHECK_EQ_INT(hub_tag_create(h, &alice, &r, "main", "v1/rc", NULL, &e), HD_EEXIST);
	CHECK_EQ_STR(head_of(&r, "v1"), main_sha);
	CHECK_EQ_STR(head_of(&r, "v2"), oid);
	CHECK_EQ_STR(head_of(&r, "refs/tags/v2"), oid);
	CHECK_EQ_INT(hub_refs_list(h, &anon, &r, &refs, &e), 0);
	CHECK_EQ_INT(refs.n_branches, 4);
	CHECK_EQ_INT(refs.n_tags, 2);
	CHECK_EQ_STR(refs.branches[0].name, "dev");
	CHECK_EQ_STR(refs.branches[0].ref, "refs/heads/dev");
	CHECK_EQ_STR(refs.tags[1].target, oid);
	hub_refs_release(&refs);
	CHECK_EQ_INT(hub_tag_delete(h, &alice, &r, "v2", &e), 0);
	CHECK_EQ_INT(hub_tag_delete(h, &alice, &r, "v2", &e), HD_ENOTFOUND);
	CHECK_EQ_INT(hub_branch_delete(h, &alice, &r, "main", &e), HD_EPERM);
	CHECK_EQ_INT(hub_branch_delete(h, &alice, &r, "dev", &e), 0);
	CHECK_EQ_INT(hub_branch_delete(h, &alice, &r, "dev", &e), HD_ENOTFOUND);
	CHECK_EQ_STR(e.code, "RevisionNotFound");
}

static void test_privacy(void)
{
	struct hub_repo_ref priv = R(HUB_REPO_MODEL, "alice", "secret");
	struct hub_repo_ref missing = R(HUB_REPO_MODEL, "alice", "doesnotexist");
	char oid[41], sha[41], uid[33];
	CHECK_EQ_INT(hub_repo_create(h, &alice, &priv, 1, NULL, NULL, &e), 0);
	CHECK_EQ_INT(commit_file(&alice, &priv, NULL, "a.txt", "private", NULL, oid), 0);

	const struct auth_caller *outsiders[] = {&anon, &mallory, &bob};
	const struct hub_repo_ref *refs[] = {&priv, &missing};
	for (size_t i = 0; i < ARRAY_SIZE(outsiders); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(refs); j++) {
			const struct auth_caller *c = outsiders[i];
			const struct hub_repo_ref *r = refs[j];
			struct hub_repo_info info;
			struct hub_tree_page p;
			struct hub_file f;
			struct hub_commit_list cl;
			struct hub_refs rl;
			struct hub_lfs_object o = {.oid = oid, .size = 1};
			char *gd = NULL;
			size_t rl_len;
			CHECK_EQ_INT(hub_repo_info(h, c, r, NULL, 0, &info, &e), HD_ENOTFOUND);
			CHECK_EQ_STR(e.code, "RepoNotFound");
			CHECK_EQ_INT(hub_tree_list(h, c, r, NULL, NULL, 0, 0, 0, NULL, &p, &e),
			             HD_ENOTFOUND);
			CHECK_EQ_INT(hub_file_open(h, c, r, NULL, "a.txt", 0, &f, &e),
			             HD_ENOTFOUND);
			CHECK_EQ_STR(e.code, "RepoNotFound");
			hub_file_release(&f);
			CHECK_EQ_INT(hub_commits_list(h, c, r, NULL, 0, NULL, &cl, &e),
			             HD_ENOTFOUND);
			CHECK_EQ_INT(hub_refs_list(h, c, r, &rl, &e), HD_ENOTFOUND);
			CHECK_EQ_INT(hub_rev_resolve(h, c, r, NULL, sha, &e), HD_ENOTFOUND);
			CHECK_EQ_INT(hub_rev_split(h, c, r, "main/a.txt", &rl_len, &e),
			             HD_ENOTFOUND);
			CHECK_EQ_INT(hub_paths_info(h, c, r, NULL, NULL, 0, 0, &p, &e),
			             HD_ENOTFOUND);
			CHECK_EQ_INT(hub_lfs_batch(h, c, r, HUB_LFS_DOWNLOAD, &o, 1, uid, &e),
			             HD_ENOTFOUND);
			CHECK_EQ_INT(hub_lfs_batch(h, c, r, HUB_LFS_UPLOAD, &o, 1, uid, &e),
			             HD_ENOTFOUND);
			CHECK_EQ_INT(hub_git_dir(h, c, r, 0, &gd, uid, &e), HD_ENOTFOUND);
			CHECK_EQ_INT(commit_file(c, r, NULL, "x", "x", NULL, sha), HD_ENOTFOUND);
			CHECK_EQ_INT(hub_repo_delete(h, c, r, &e), HD_ENOTFOUND);
			CHECK_EQ_INT(hub_repo_settings(h, c, r, 0, -1, &e), HD_ENOTFOUND);
			CHECK_EQ_INT(hub_branch_create(h, c, r, "b", NULL, 0, 0, &e), HD_ENOTFOUND);
		}
	}
	/* A reader who can see the repo gets EPERM for writes. */
	struct hub_repo_ref org = R(HUB_REPO_MODEL, "acme", "shared");
	struct hub_tree_page p;
	CHECK_EQ_INT(hub_tree_list(h, &bob, &org, NULL, NULL, 0, 0, 0, NULL, &p, &e), 0);
	hub_tree_page_release(&p);
	CHECK_EQ_INT(commit_file(&bob, &org, NULL, "x", "x", NULL, sha), HD_EPERM);
	CHECK_EQ_INT(commit_file(&carol, &org, NULL, "x", "x", NULL, sha), 0);
	CHECK_EQ_INT(hub_repo_settings(h, &carol, &org, 0, -1, &e), HD_EPERM);
	CHECK_EQ_INT(commit_file(&alice_ro, &priv, NULL, "x", "x", NULL, sha), HD_EPERM);
	CHECK_EQ_INT(hub_tree_list(h, &alice_ro, &priv, NULL, NULL, 0, 0, 0, NULL, &p, &e), 0);
	hub_tree_page_release(&p);
	CHECK_EQ_INT(hub_tree_list(h, &root, &priv, NULL, NULL, 0, 0, 0, NULL, &p, &e), 0);
	hub_tree_page_release(&p);

	/* Private repos never appear in listings for outsiders. */
	struct hub_list_query q = {.type = HUB_REPO_MODEL, .search = "secret"};
	struct hub_repo_list l;
	CHECK_EQ_INT(hub_repo_list(h, &mallory, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 0);
	hub_repo_list_release(&l);
	CHECK_EQ_INT(hub_repo_list(h, &alice, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 1);
	hub_repo_list_release(&l);
	/* Visibility changes apply at once. */
	CHECK_EQ_INT(hub_repo_settings(h, &alice, &priv, 0, HUB_GATED_MANUAL, &e), 0);
	CHECK_EQ_INT(hub_repo_list(h, &mallory, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_INT(l.items[0].gated, HUB_GATED_MANUAL);
	hub_repo_list_release(&l);
	CHECK_EQ_INT(hub_tree_list(h, &anon, &priv, NULL, NULL, 0, 0, 0, NULL, &p, &e), 0);
	hub_tree_page_release(&p);
	CHECK_EQ_INT(hub_repo_settings(h, &alice, &priv, 1, -1, &e), 0);
	CHECK_EQ_INT(hub_tree_list(h, &anon, &priv, NULL, NULL, 0, 0, 0, NULL, &p, &e),
	             HD_ENOTFOUND);
	CHECK_EQ_INT(hub_repo_list(h, &mallory, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 0);
	hub_repo_list_release(&l);
}

static void test_lfs(void)
{
	struct hub_repo_ref a = R(HUB_REPO_MODEL, "alice", "weights");
	struct hub_repo_ref m = R(HUB_REPO_MODEL, "mallory", "thief");
	char uid_a[33], uid_m[33], oid[65], commit[41];
	const char *content = "pretend these are 12 MiB of weights";
	size_t n = strlen(content);

	CHECK_EQ_INT(hub_repo_create(h, &alice, &a, 1, NULL, NULL, &e), 0);
	CHECK_EQ_INT(hub_repo_create(h, &mallory, &m, 0, NULL, NULL, &e), 0);
	sha256_hex(oid, content, n);
	struct hub_lfs_object o = {.oid = oid, .size = (int64_t)n};
	CHECK_EQ_INT(hub_lfs_batch(h, &alice, &a, HUB_LFS_UPLOAD, &o, 1, uid_a, &e), 0);
	CHECK_EQ_INT(o.state, HUB_LFS_UPLOAD_NEEDED);
	CHECK_EQ_INT(o.multipart, 0);
	/* A commit cannot reference it before the bytes arrive. */
	struct hub_commit_op op = {
	        .kind = HUB_OP_LFS_FILE, .path = "w.bin", .lfs_oid = oid, .lfs_size = (int64_t)n};
	struct hub_commit_req req = {.summary = "weights", .ops = &op, .n_ops = 1};
	CHECK_EQ_INT(hub_commit_create(h, &alice, &a, NULL, &req, commit, &e), HD_EINVAL);
	/* Wrong bytes are refused and publish nothing. */
	struct hub_lfs_writer *w;
	CHECK_EQ_INT(hub_lfs_upload_begin(h, uid_a, oid, (int64_t)n, &w, &e), 0);
	hub_lfs_upload_write(w, "X", 1);
	hub_lfs_upload_write(w, content + 1, n - 1);
	CHECK_EQ_INT(hub_lfs_upload_finish(w, &e), HD_ECORRUPT);
	CHECK_EQ_INT(hub_lfs_batch(h, &alice, &a, HUB_LFS_UPLOAD, &o, 1, uid_a, &e), 0);
	CHECK_EQ_INT(o.state, HUB_LFS_UPLOAD_NEEDED);
	CHECK_EQ_INT(hub_lfs_upload_begin(h, uid_a, "../../x", 1, &w, &e), HD_EINVAL);
	CHECK_EQ_INT(hub_lfs_upload_begin(h, "0123", oid, 1, &w, &e), HD_ENOTFOUND);
	/* The real bytes. */
	CHECK_EQ_INT(upload(uid_a, content, n, oid), 0);
	CHECK_EQ_INT(hub_lfs_batch(h, &alice, &a, HUB_LFS_UPLOAD, &o, 1, uid_a, &e), 0);
	CHECK_EQ_INT(o.state, HUB_LFS_PRESENT);
	CHECK_EQ_INT(hub_lfs_verify(h, &alice, &a, oid, (int64_t)n, &e), 0);
	CHECK_EQ_INT(hub_lfs_verify(h, &alice, &a, oid, (int64_t)n + 1, &e), HD_ENOTFOUND);
	/* Wrong size in the commit. */
	op.lfs_size = (int64_t)n + 1;
	CHECK_EQ_INT(hub_commit_create(h, &alice, &a, NULL, &req, commit, &e), HD_EINVAL);
	op.lfs_size = (int64_t)n;
	CHECK_EQ_INT(hub_commit_create(h, &alice, &a, NULL, &req, commit, &e), 0);
	/* resolve serves the object, raw the pointer. */
	struct hub_file f;
	CHECK_EQ_INT(hub_file_open(h, &alice, &a, NULL, "w.bin", 0, &f, &e), 0);
	CHECK(f.is_lfs);
	CHECK(f.fd >= 0);
	CHECK_EQ_INT(f.size, (int64_t)n);
	CHECK_EQ_STR(f.lfs_oid, oid);
	char back[64] = {0};
	CHECK_EQ_INT(pread(f.fd, back, sizeof(back), 0), (int)n);
	CHECK(!memcmp(back, content, n));
	hub_file_release(&f);
	CHECK_EQ_INT(hub_file_open(h, &alice, &a, NULL, "w.bin", 1, &f, &e), 0);
	CHECK(!f.is_lfs);
	CHECK(f.data && strstr(f.data, "version https://git-lfs.github.com/spec/v1\noid sha256:"));
	hub_file_release(&f);
	struct hub_tree_page p;
	CHECK_EQ_INT(hub_tree_list(h, &alice, &a, NULL, NULL, 0, 0, 0, NULL, &p, &e), 0);
	for (size_t i = 0; i < p.n; i++) {
		if (strcmp(p.entries[i].path, "w.bin"))
			continue;
		CHECK(p.entries[i].is_lfs);
		CHECK_EQ_STR(p.entries[i].lfs_oid, oid);
		CHECK_EQ_INT(p.entries[i].size, (int64_t)n);
		CHECK(p.entries[i].pointer_size > 100);
	}
	hub_tree_page_release(&p);
	/* Preupload reports the remote sha256 of an LFS file. */
	struct hub_preupload_file pf[3] = {{.path = "w.bin", .size = (int64_t)n},
	                                   {.path = "new.txt", .size = 10},
	                                   {.path = "empty.bin", .size = 0}};
	CHECK_EQ_INT(hub_preupload(h, &alice, &a, "main", NULL, pf, 3, &e), 0);
	CHECK(pf[0].is_lfs);
	CHECK_EQ_STR(pf[0].oid, oid);
	CHECK(!pf[1].is_lfs);
	CHECK_EQ_STR(pf[1].oid, "");
	CHECK(!pf[2].is_lfs);

	/* V5: mallory cannot borrow alice's object by naming its oid. */
	CHECK_EQ_INT(hub_lfs_batch(h, &mallory, &m, HUB_LFS_UPLOAD, &o, 1, uid_m, &e), 0);
	CHECK_EQ_INT(o.state, HUB_LFS_UPLOAD_NEEDED);
	CHECK_EQ_INT(hub_commit_create(h, &mallory, &m, NULL, &req, commit, &e), HD_EINVAL);
	/* V4: a pointer to alice's object, committed by mallory as a regular
	 * file, is refused like an lfsFile line (and like a push). */
	struct buf ptr = BUF_INIT;
	buf_printf(&ptr, "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %zu\n",
	           oid, n);
	char m_head[41];
	memcpy(m_head, head_of(&m, "main"), 41);
	CHECK_EQ_INT(commit_file(&mallory, &m, NULL, "stolen.bin", ptr.data, NULL, commit),
	             HD_EINVAL);
	CHECK(strstr(e.msg, "not uploaded to this repo") != NULL);
	CHECK_EQ_STR(head_of(&m, "main"), m_head);
	CHECK_EQ_INT(hub_file_open(h, &mallory, &m, NULL, "stolen.bin", 0, &f, &e), HD_ENOTFOUND);
	hub_file_release(&f);
	struct hub_lfs_object d = {.oid = oid};
	CHECK_EQ_INT(hub_lfs_batch(h, &mallory, &m, HUB_LFS_DOWNLOAD, &d, 1, uid_m, &e), 0);
	CHECK_EQ_INT(d.state, HUB_LFS_OBJ_NOT_FOUND);
	CHECK_EQ_INT(hub_lfs_open(h, uid_m, oid, &f, &e), HD_ENOTFOUND);
	hub_file_release(&f);
	CHECK_EQ_INT(hub_lfs_batch(h, &alice, &a, HUB_LFS_DOWNLOAD, &d, 1, uid_a, &e), 0);
	CHECK_EQ_INT(d.state, HUB_LFS_DOWNLOADABLE);
	CHECK_EQ_INT(d.size, (int64_t)n);
	CHECK_EQ_INT(hub_lfs_open(h, uid_a, oid, &f, &e), 0);
	CHECK_EQ_INT(f.size, (int64_t)n);
	hub_file_release(&f);
	/* Once mallory uploads the bytes himself, he has it (dedup on disk):
	 * the same pointer commits and resolves. */
	CHECK_EQ_INT(upload(uid_m, content, n, oid), 0);
	CHECK_EQ_INT(commit_file(&mallory, &m, NULL, "stolen.bin", ptr.data, NULL, commit), 0);
	CHECK_EQ_INT(hub_file_open(h, &mallory, &m, NULL, "stolen.bin", 0, &f, &e), 0);
	hub_file_release(&f);
	buf_release(&ptr);
	/* An lfsFile without a size (Python's copy) takes the object's size. */
	struct hub_commit_op cp = {
	        .kind = HUB_OP_LFS_FILE, .path = "copy.bin", .lfs_oid = oid, .lfs_size = -1};
	struct hub_commit_req creq = {.summary = "copy", .ops = &cp, .n_ops = 1};
	CHECK_EQ_INT(hub_commit_create(h, &mallory, &m, NULL, &creq, commit, &e), 0);
	CHECK_EQ_INT(hub_file_open(h, &mallory, &m, NULL, "copy.bin", 0, &f, &e), 0);
	CHECK_EQ_INT(f.size, (int64_t)n);
	hub_file_release(&f);
	/* Invalid objects in a batch. */
	struct hub_lfs_object bad[3] = {{.oid = "../x", .size = 1},
	                                {.oid = oid, .size = -1},
	                                {.oid = oid, .size = (int64_t)n + 5}};
	CHECK_EQ_INT(hub_lfs_batch(h, &alice, &a, HUB_LFS_UPLOAD, bad, 3, uid_a, &e), 0);
	CHECK_EQ_INT(bad[0].state, HUB_LFS_OBJ_INVALID);
	CHECK_EQ_INT(bad[1].state, HUB_LFS_OBJ_INVALID);
	CHECK_EQ_INT(bad[2].state, HUB_LFS_OBJ_INVALID);
}

/* An upload that finishes after its repo was deleted leaves no object
 * behind (nobody could ever use or collect it). */
static void test_upload_into_deleted_repo(void)
{
	struct hub_repo_ref r = R(HUB_REPO_MODEL, "alice", "short-lived");
	struct hub_repo repo;
	struct hub_lfs_writer *w;
	const char *content = "bytes of a repo that is going away";
	char oid[65];
	int64_t size;

	CHECK_EQ_INT(hub_repo_create(h, &alice, &r, 0, NULL, &repo, &e), 0);
	sha256_hex(oid, content, strlen(content));
	CHECK_EQ_INT(hub_lfs_upload_begin(h, repo.uid, oid, (int64_t)strlen(content), &w, &e), 0);
	CHECK_EQ_INT(hub_repo_delete(h, &alice, &r, &e), 0);
	CHECK_EQ_INT(hub_lfs_upload_write(w, content, strlen(content)), 0);
	CHECK_EQ_INT(hub_lfs_upload_finish(w, &e), HD_ENOTFOUND);
	CHECK_EQ_STR(e.code, "RepoNotFound");
	CHECK_EQ_INT(store_blob_stat(hub_store(h), oid, &size), HD_ENOTFOUND);
	hub_repo_release(&repo);
}

static void test_multipart(void)
{
	struct hub_repo_ref a = R(HUB_REPO_MODEL, "alice", "weights");
	char uid[33], oid[65], etag[65];
	char data[130];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (char)('a' + i % 26);
	sha256_hex(oid, data, sizeof(data));
	struct hub_lfs_object o = {.oid = oid, .size = sizeof(data)};
	CHECK_EQ_INT(hub_lfs_batch(h, &alice, &a, HUB_LFS_UPLOAD, &o, 1, uid, &e), 0);
	CHECK_EQ_INT(o.state, HUB_LFS_UPLOAD_NEEDED);
	CHECK_EQ_INT(o.multipart, 1);
	CHECK_EQ_INT(o.chunk_size, 40);
	CHECK_EQ_INT(o.n_parts, 4);
	char etags[4][65];
	const char *ep[4];
	for (int part = 1; part <= 4; part++) {
		struct hub_lfs_part_writer *w;
		size_t off = (size_t)(part - 1) * 40, len = part < 4 ? 40 : sizeof(data) - 120;
		CHECK_EQ_INT(hub_lfs_part_begin(h, uid, oid, o.size, 40, part, &w, &e), 0);
		CHECK_EQ_INT(hub_lfs_part_write(w, data + off, len), 0);
		CHECK_EQ_INT(hub_lfs_part_finish(w, etags[part - 1], &e), 0);
		ep[part - 1] = etags[part - 1];
	}
	struct hub_lfs_part_writer *w;
	CHECK_EQ_INT(hub_lfs_part_begin(h, uid, oid, o.size, 40, 5, &w, &e), HD_EINVAL);
	CHECK_EQ_INT(hub_lfs_part_begin(h, uid, oid, o.size, 40, 0, &w, &e), HD_EINVAL);
	/* A short part is refused when it finishes. */
	CHECK_EQ_INT(hub_lfs_part_begin(h, uid, oid, o.size, 40, 2, &w, &e), 0);
	hub_lfs_part_write(w, data, 10);
	CHECK_EQ_INT(hub_lfs_part_finish(w, etag, &e), HD_ECORRUPT);
	/* ...which makes completion fail now; nothing is published. */
	CHECK_EQ_INT(hub_lfs_multipart_complete(h, uid, oid, o.size, 40, ep, 4, &e), HD_ECORRUPT);
	CHECK_EQ_INT(hub_lfs_batch(h, &alice, &a, HUB_LFS_UPLOAD, &o, 1, uid, &e), 0);
	CHECK_EQ_INT(o.state, HUB_LFS_UPLOAD_NEEDED);
	/* Retry part 2 properly. */
	CHECK_EQ_INT(hub_lfs_part_begin(h, uid, oid, o.size, 40, 2, &w, &e), 0);
	hub_lfs_part_write(w, data + 40, 40);
	CHECK_EQ_INT(hub_lfs_part_finish(w, etags[1], &e), 0);
	/* A wrong etag or a missing part fails. */
	const char *wrong[4] = {ep[0], ep[0], ep[2], ep[3]};
	CHECK_EQ_INT(hub_lfs_multipart_complete(h, uid, oid, o.size, 40, wrong, 4, &e),
	             HD_ECORRUPT);
	CHECK_EQ_INT(hub_lfs_multipart_complete(h, uid, oid, o.size, 40, ep, 3, &e), HD_EINVAL);
	/* Quoted etags as clients send them. */
	char quoted[4][70];
	const char *qp[4];
	for (int i = 0; i < 4; i++) {
		snprintf(quoted[i], sizeof(quoted[i]), "\"%.64s\"", etags[i]);
		qp[i] = quoted[i];
	}
	CHECK_EQ_INT(hub_lfs_multipart_complete(h, uid, oid, o.size, 40, qp, 4, &e), 0);
	CHECK_EQ_INT(hub_lfs_batch(h, &alice, &a, HUB_LFS_UPLOAD, &o, 1, uid, &e), 0);
	CHECK_EQ_INT(o.state, HUB_LFS_PRESENT);
	/* A retried completion succeeds too. */
	CHECK_EQ_INT(hub_lfs_multipart_complete(h, uid, oid, o.size, 40, qp, 4, &e), 0);
	struct hub_file f;
	CHECK_EQ_INT(hub_lfs_open(h, uid, oid, &f, &e), 0);
	char back[200];
	CHECK_EQ_INT(pread(f.fd, back, sizeof(back), 0), (int)sizeof(data));
	CHECK(!memcmp(back, data, sizeof(data)));
	hub_file_release(&f);
}

static void test_listing(void)
{
	struct hub_list_query q = {.type = HUB_REPO_MODEL};
	struct hub_repo_list l;
	enum hub_sort s;

	CHECK_EQ_INT(hub_repo_list(h, &anon, &q, &l, &e), 0);
	for (size_t i = 0; i < l.n; i++)
		CHECK(!l.items[i].is_private);
	size_t n_public = l.n;
	CHECK(n_public >= 2);
	hub_repo_list_release(&l);
	/* Paging with limit 1 visits each exactly once. */
	char *cursor = NULL;
	size_t total = 0;
	for (int i = 0; i < 50; i++) {
		q.limit = 1;
		q.cursor = cursor;
		CHECK_EQ_INT(hub_repo_list(h, &anon, &q, &l, &e), 0);
		total += l.n;
		free(cursor);
		cursor = l.next_cursor ? xstrdup(l.next_cursor) : NULL;
		hub_repo_list_release(&l);
		if (!cursor)
			break;
	}
	CHECK_EQ_INT(total, n_public);
	q.cursor = "garbage";
	CHECK_EQ_INT(hub_repo_list(h, &anon, &q, &l, &e), HD_EINVAL);
	q.cursor = NULL;
	q.limit = 0;
	/* filter on card tags, author, search. */
	const char *filters[] = {"license:mit"};
	q.filters = filters;
	q.n_filters = 1;
	CHECK_EQ_INT(hub_repo_list(h, &anon, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_STR(l.items[0].id, "alice/Demo");
	hub_repo_list_release(&l);
	q.filters = NULL;
	q.n_filters = 0;
	q.pipeline_tag = "text-generation";
	CHECK_EQ_INT(hub_repo_list(h, &anon, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 1);
	hub_repo_list_release(&l);
	q.pipeline_tag = NULL;
	q.author = "ACME";
	CHECK_EQ_INT(hub_repo_list(h, &carol, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_STR(l.items[0].id, "acme/shared");
	hub_repo_list_release(&l);
	q.author = NULL;
	q.search = "DEM";
	CHECK_EQ_INT(hub_repo_list(h, &anon, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 1);
	hub_repo_list_release(&l);
	q.type = HUB_REPO_DATASET;
	CHECK_EQ_INT(hub_repo_list(h, &anon, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_INT(l.items[0].type, HUB_REPO_DATASET);
	hub_repo_list_release(&l);
	q.type = HUB_REPO_SPACE;
	CHECK_EQ_INT(hub_repo_list(h, &anon, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_STR(l.items[0].sdk, "static");
	hub_repo_list_release(&l);
	CHECK_EQ_INT(hub_sort_parse("lastModified", &s), 0);
	CHECK_EQ_INT(s, HUB_SORT_LAST_MODIFIED);
	CHECK_EQ_INT(hub_sort_parse("last_modified", &s), 0);
	CHECK_EQ_INT(hub_sort_parse("bogus", &s), HD_EINVAL);
	/* Downloads change the order. */
	struct hub_repo_ref demo = R(HUB_REPO_MODEL, "alice", "demo");
	struct hub_repo_info info;
	CHECK_EQ_INT(hub_repo_info(h, &anon, &demo, NULL, 0, &info, &e), 0);
	for (int i = 0; i < 3; i++)
		hub_repo_count_download(h, info.repo.uid);
	hub_repo_info_release(&info);
	struct hub_list_query qd = {.type = HUB_REPO_MODEL, .sort = HUB_SORT_DOWNLOADS, .limit = 1};
	CHECK_EQ_INT(hub_repo_list(h, &anon, &qd, &l, &e), 0);
	CHECK_EQ_INT(l.n, 1);
	CHECK_EQ_STR(l.items[0].id, "alice/Demo");
	CHECK_EQ_INT(l.items[0].downloads, 3);
	hub_repo_list_release(&l);
}

/* More repos than one database round trip loads, listed whole and by
 * pages, in order. */
static void test_listing_many(void)
{
	struct hub_repo_list l;
	char name[32];
	for (int i = 0; i < 90; i++) {
		snprintf(name, sizeof(name), "bulk-%03d", i);
		struct hub_repo_ref r = R(HUB_REPO_DATASET, "carol", name);
		CHECK_EQ_INT(hub_repo_create(h, &carol, &r, i % 10 == 0, NULL, NULL, &e), 0);
	}
	struct hub_list_query q = {
	        .type = HUB_REPO_DATASET, .author = "carol", .sort = HUB_SORT_ID};
	CHECK_EQ_INT(hub_repo_list(h, &anon, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 81); /* 9 private */
	for (size_t i = 1; i < l.n; i++)
		CHECK(strcmp(l.items[i - 1].id, l.items[i].id) < 0);
	hub_repo_list_release(&l);
	CHECK_EQ_INT(hub_repo_list(h, &carol, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 90);
	CHECK_EQ_STR(l.items[0].id, "carol/bulk-000");
	CHECK_EQ_STR(l.items[89].id, "carol/bulk-089");
	hub_repo_list_release(&l);
	q.direction = -1;
	q.limit = 40;
	size_t total = 0;
	char *cursor = NULL;
	for (int page = 0; page < 5; page++) {
		q.cursor = cursor;
		CHECK_EQ_INT(hub_repo_list(h, &carol, &q, &l, &e), 0);
		if (page == 0)
			CHECK_EQ_STR(l.items[0].id, "carol/bulk-089");
		total += l.n;
		free(cursor);
		cursor = l.next_cursor ? xstrdup(l.next_cursor) : NULL;
		hub_repo_list_release(&l);
		if (!cursor)
			break;
	}
	CHECK_EQ_INT(total, 90);
}

/* Trending is the downloads of the last HUB_TRENDING_DAYS days: older day
 * rows count for nothing (and are deleted when the window moves), a commit
 * keeps a repo's figure, cursors page through the order, and a reopened hub
 * loads the same order. */
static const char *first_id(struct hub *hh, enum hub_sort sort, char **cursor)
{
	static char id[256];
	struct hub_list_query q = {
	        .type = HUB_REPO_DATASET, .author = "bob", .sort = sort, .limit = 1};
	struct hub_repo_list l;
	id[0] = 0;
	q.cursor = cursor ? *cursor : NULL;
	if (hub_repo_list(hh, &anon, &q, &l, &e) == 0 && l.n == 1)
		snprintf(id, sizeof(id), "%s", l.items[0].id);
	if (cursor) {
		free(*cursor);
		*cursor = l.next_cursor ? xstrdup(l.next_cursor) : NULL;
	}
	hub_repo_list_release(&l);
	return id;
}

static void test_trending(void)
{
	const char *names[] = {"old-hit", "new-hit", "quiet"};
	char uid[3][33], oid[41];
	int64_t today = time_now_ms() / 86400000, n = -1;
	enum hub_sort s;
	struct store_db *db;

	for (int i = 0; i < 3; i++) {
		struct hub_repo_ref r = R(HUB_REPO_DATASET, "bob", names[i]);
		struct hub_repo repo;
		CHECK_EQ_INT(hub_repo_create(h, &bob, &r, 0, NULL, &repo, &e), 0);
		snprintf(uid[i], sizeof(uid[i]), "%s", repo.uid);
		hub_repo_release(&repo);
	}
	/* old-hit: 100 downloads ten days ago; new-hit: 2 today. */
	db = store_db_get(hub_store(h));
	CHECK_EQ_INT(store_exec(db, "UPDATE repos SET downloads = 100 WHERE uid = ?", "t", uid[0]),
	             1);
	CHECK_EQ_INT(store_exec(db,
	                        "INSERT INTO repo_downloads_daily(repo_id, day, n)"
	                        " SELECT id, ?, 100 FROM repos WHERE uid = ?",
	                        "it", today - 10, uid[0]),
	             1);
	store_db_put(hub_store(h), db);
	hub_repo_count_download(h, uid[0]); /* 101 in all, 1 recent */
	hub_repo_count_download(h, uid[1]);
	hub_repo_count_download(h, uid[1]);
	hub_trending_refresh(h);
	CHECK_EQ_INT(hub_repo_recent_downloads(h, uid[0]), 1);
	CHECK_EQ_INT(hub_repo_recent_downloads(h, uid[1]), 2);
	CHECK_EQ_STR(first_id(h, HUB_SORT_DOWNLOADS, NULL), "bob/old-hit");
	CHECK_EQ_STR(first_id(h, HUB_SORT_TRENDING, NULL), "bob/new-hit");
	db = store_db_get(hub_store(h));
	CHECK_EQ_INT(store_query_i64(db, &n,
	                             "SELECT COUNT(*) FROM repo_downloads_daily WHERE day < ?", "i",
	                             today - HUB_TRENDING_DAYS + 1),
	             0);
	CHECK_EQ_INT(n, 0); /* the row of ten days ago is gone */
	/* Three days ago is inside the window. */
	CHECK_EQ_INT(store_exec(db,
	                        "INSERT INTO repo_downloads_daily(repo_id, day, n)"
	                        " SELECT id, ?, 4 FROM repos WHERE uid = ?",
	                        "it", today - 3, uid[0]),
	             1);
	store_db_put(hub_store(h), db);
	hub_trending_refresh(h);
	CHECK_EQ_INT(hub_repo_recent_downloads(h, uid[0]), 5);
	CHECK_EQ_STR(first_id(h, HUB_SORT_TRENDING, NULL), "bob/old-hit");
	/* A commit refreshes the repo's document but keeps its figure. */
	struct hub_repo_ref nh = R(HUB_REPO_DATASET, "bob", "new-hit");
	for (int i = 0; i < 4; i++)
		hub_repo_count_download(h, uid[1]); /* 6 recent */
	CHECK_EQ_INT(
	        commit_file(&bob, &nh, "main", "README.md", "---\ntags: [x]\n---\n", NULL, oid), 0);
	CHECK_EQ_STR(first_id(h, HUB_SORT_TRENDING, NULL), "bob/new-hit");
	/* Pages of one: new-hit, old-hit, quiet. */
	char *cursor = NULL;
	CHECK_EQ_STR(first_id(h, HUB_SORT_TRENDING, &cursor), "bob/new-hit");
	CHECK_EQ_STR(first_id(h, HUB_SORT_TRENDING, &cursor), "bob/old-hit");
	CHECK_EQ_STR(first_id(h, HUB_SORT_TRENDING, &cursor), "bob/quiet");
	CHECK(cursor == NULL);
	free(cursor);
	/* The API's names for it. */
	CHECK_EQ_INT(hub_sort_parse("trendingScore", &s), 0);
	CHECK_EQ_INT(s, HUB_SORT_TRENDING);
	CHECK_EQ_INT(hub_sort_parse("trending", &s), 0);
	CHECK_EQ_INT(s, HUB_SORT_TRENDING);
	/* A second hub on the same data loads the same order. */
	struct hub_config cfg;
	struct hub *h2 = NULL;
	hub_config_init(&cfg);
	CHECK_EQ_INT(hub_open(dir, &cfg, &h2, &e), 0);
	if (h2) {
		CHECK_EQ_STR(first_id(h2, HUB_SORT_TRENDING, NULL), "bob/new-hit");
		hub_close(h2);
	}
	/* Deleting a repo deletes its day rows. */
	struct hub_repo_ref oh = R(HUB_REPO_DATASET, "bob", "old-hit");
	CHECK_EQ_INT(hub_repo_delete(h, &bob, &oh, &e), 0);
	db = store_db_get(hub_store(h));
	CHECK_EQ_INT(
	        store_query_i64(db, &n,
	                        "SELECT COUNT(*) FROM repo_downloads_daily d"
	                        " WHERE NOT EXISTS (SELECT 1 FROM repos r WHERE r.id = d.repo_id)",
	                        ""),
	        0);
	CHECK_EQ_INT(n, 0);
	store_db_put(hub_store(h), db);
	CHECK_EQ_STR(first_id(h, HUB_SORT_TRENDING, NULL), "bob/new-hit");
}

static void test_move_delete(void)
{
	struct hub_repo_ref from = R(HUB_REPO_MODEL, "alice", "weights");
	struct hub_repo_ref to = R(HUB_REPO_MODEL, "acme", "weights-moved");
	struct hub_repo_ref bad = R(HUB_REPO_MODEL, "acme", "..");
	struct hub_repo_ref taken = R(HUB_REPO_MODEL, "alice", "demo");
	struct hub_repo_info info;
	char oid[65];
	sha256_hex(oid, "pretend these are 12 MiB of weights", 35);

	CHECK_EQ_INT(hub_repo_move(h, &alice, &from, &to, &e), HD_EPERM); /* not in acme */
	CHECK_EQ_INT(hub_repo_move(h, &mallory, &from, &to, &e), HD_ENOTFOUND);
	CHECK_EQ_INT(hub_repo_move(h, &alice, &from, &bad, &e), HD_EINVAL);
	CHECK_EQ_INT(hub_repo_move(h, &alice, &from, &taken, &e), HD_EEXIST);
	CHECK_EQ_INT(hub_repo_move(h, &root, &from, &to, &e), 0);
	CHECK_EQ_INT(hub_repo_info(h, &root, &from, NULL, 0, &info, &e), HD_ENOTFOUND);
	CHECK_EQ_INT(hub_repo_info(h, &root, &to, NULL, 1, &info, &e), 0);
	CHECK_EQ_STR(info.repo.id, "acme/weights-moved");
	CHECK_EQ_INT(info.n_siblings, 2);
	char uid[33];
	memcpy(uid, info.repo.uid, 33);
	hub_repo_info_release(&info);
	/* LFS possession follows the repo. */
	struct hub_file f;
	CHECK_EQ_INT(hub_file_open(h, &root, &to, NULL, "w.bin", 0, &f, &e), 0);
	hub_file_release(&f);
	/* Carol (write member of acme) may not delete; root may. */
	CHECK_EQ_INT(hub_repo_delete(h, &carol, &to, &e), HD_EPERM); /* private, but a member */
	CHECK_EQ_INT(hub_repo_delete(h, &mallory, &to, &e), HD_ENOTFOUND);
	CHECK_EQ_INT(hub_repo_settings(h, &root, &to, 0, -1, &e), 0);
	CHECK_EQ_INT(hub_repo_delete(h, &mallory, &to, &e), HD_EPERM);
	CHECK_EQ_INT(hub_repo_delete(h, &root, &to, &e), 0);
	CHECK_EQ_INT(hub_repo_delete(h, &root, &to, &e), HD_ENOTFOUND);
	CHECK_EQ_INT(hub_lfs_open(h, uid, oid, &f, &e), HD_ENOTFOUND);
	char *git = xasprintf("%s/repos/%.2s/%s.git", dir, uid, uid);
	CHECK(!fs_exists(git));
	free(git);
	/* mallory still has his copy of the object, so the bytes stay. */
	char *blob = xasprintf("%s/lfs/%.2s/%.2s/%s", dir, oid, oid + 2, oid);
	CHECK(fs_exists(blob));
	struct hub_repo_ref m = R(HUB_REPO_MODEL, "mallory", "thief");
	CHECK_EQ_INT(hub_repo_delete(h, &mallory, &m, &e), 0);
	CHECK(!fs_exists(blob)); /* no repo references it any more */
	free(blob);
	/* The name is free again; the new repo starts empty. */
	CHECK_EQ_INT(hub_repo_create(h, &mallory, &m, 0, NULL, NULL, &e), 0);
	CHECK_EQ_INT(hub_repo_info(h, &anon, &m, NULL, 1, &info, &e), 0);
	CHECK_EQ_INT(info.n_siblings, 1);
	hub_repo_info_release(&info);
}

static void test_signing(void)
{
	char sig[65];
	int64_t exp = time_now_ms() / 1000 + 60;
	hub_sign(h, "PUT", "/api/lfs/upload/x/y/5", exp, sig);
	CHECK_EQ_INT(strlen(sig), 64);
	CHECK_EQ_INT(hub_sign_check(h, "PUT", "/api/lfs/upload/x/y/5", exp, sig), 0);
	CHECK_EQ_INT(hub_sign_check(h, "POST", "/api/lfs/upload/x/y/5", exp, sig), HD_EAUTH);
	CHECK_EQ_INT(hub_sign_check(h, "PUT", "/api/lfs/upload/x/y/6", exp, sig), HD_EAUTH);
	CHECK_EQ_INT(hub_sign_check(h, "PUT", "/api/lfs/upload/x/y/5", exp + 1, sig), HD_EAUTH);
	sig[10] ^= 1;
	CHECK_EQ_INT(hub_sign_check(h, "PUT", "/api/lfs/upload/x/y/5", exp, sig), HD_EAUTH);
	CHECK_EQ_INT(hub_sign_check(h, "PUT", "/api/lfs/upload/x/y/5", exp, "short"), HD_EAUTH);
	CHECK_EQ_INT(hub_sign_check(h, "PUT", "/api/lfs/upload/x/y/5", exp, NULL), HD_EAUTH);
	int64_t past = time_now_ms() / 1000 - 1;
	hub_sign(h, "PUT", "/p", past, sig);
	CHECK_EQ_INT(hub_sign_check(h, "PUT", "/p", past, sig), HD_EAUTH);
}

struct committer {
	int id, ok;
};

static void *commit_thread(void *p)
{
	struct committer *c = p;
	struct hub_repo_ref r = R(HUB_REPO_MODEL, "alice", "busy");
	for (int i = 0; i < 5; i++) {
		char path[64], oid[41];
		struct hub_err le;
		snprintf(path, sizeof(path), "t%d/f%d.txt", c->id, i);
		struct hub_commit_op op = {
		        .kind = HUB_OP_FILE, .path = path, .content = "x", .content_size = 1};
		struct hub_commit_req req = {.summary = path, .ops = &op, .n_ops = 1};
		if (hub_commit_create(h, &alice, &r, NULL, &req, oid, &le) == 0)
			c->ok++;
		else
			fprintf(stderr, "concurrent commit failed: %s\n", le.msg);
	}
	return NULL;
}

static void test_concurrent_commits(void)
{
	struct hub_repo_ref r = R(HUB_REPO_MODEL, "alice", "busy");
	pthread_t th[4];
	struct committer cs[4];
	CHECK_EQ_INT(hub_repo_create(h, &alice, &r, 0, NULL, NULL, &e), 0);
	for (int i = 0; i < 4; i++) {
		cs[i] = (struct committer){i, 0};
		pthread_create(&th[i], NULL, commit_thread, &cs[i]);
	}
	int ok = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ok += cs[i].ok;
	}
	CHECK_EQ_INT(ok, 20);
	struct hub_commit_list cl;
	CHECK_EQ_INT(hub_commits_list(h, &anon, &r, NULL, 0, NULL, &cl, &e), 0);
	CHECK_EQ_INT(cl.total, 21);
	hub_commit_list_release(&cl);
	struct hub_tree_page p;
	CHECK_EQ_INT(hub_tree_list(h, &anon, &r, NULL, NULL, 1, 0, 0, NULL, &p, &e), 0);
	CHECK_EQ_INT(p.n, 1 + 4 + 20); /* .gitattributes, 4 dirs, 20 files: nothing lost */
	hub_tree_page_release(&p);
	/* The row (and so the listing) ends at the real head, whichever
	 * commit's refresh ran last. */
	struct hub_repo_info info;
	CHECK_EQ_INT(hub_repo_info(h, &anon, &r, NULL, 0, &info, &e), 0);
	CHECK_EQ_STR(info.repo.sha, info.rev_sha);
	hub_repo_info_release(&info);
	struct hub_list_query q = {.type = HUB_REPO_MODEL, .search = "alice/busy"};
	struct hub_repo_list l;
	CHECK_EQ_INT(hub_repo_list(h, &anon, &q, &l, &e), 0);
	CHECK_EQ_INT(l.n, 1);
	if (l.n == 1)
		CHECK_EQ_STR(l.items[0].sha, head_of(&r, "main"));
	hub_repo_list_release(&l);
}

/* Builds a commit on top of main with one file, without moving any ref. */
static void make_commit(const char *git_dir, const char *path, const void *data, size_t n,
                        char out[41])
{
	git_repository *repo;
	git_reference *ref;
	git_commit *parent;
	git_tree *tree, *new_tree;
	git_treebuilder *tb;
	git_signature *sig;
	git_oid blob, tree_id, commit;
	git_repository_open_bare(&repo, git_dir);
	git_reference_lookup(&ref, repo, "refs/heads/main");
	git_reference_peel((git_object **)&parent, ref, GIT_OBJECT_COMMIT);
	git_commit_tree(&tree, parent);
	git_blob_create_from_buffer(&blob, repo, data, n);
	git_treebuilder_new(&tb, repo, tree);
	git_treebuilder_insert(NULL, tb, path, &blob, GIT_FILEMODE_BLOB);
	git_treebuilder_write(&tree_id, tb);
	git_tree_lookup(&new_tree, repo, &tree_id);
	git_signature_now(&sig, "t", "t@x");
	git_commit_create(&commit, repo, NULL, sig, sig, NULL, "push", new_tree, 1,
	                  (const git_commit **)&parent);
	git_oid_tostr(out, 41, &commit);
	git_signature_free(sig);
	git_tree_free(new_tree);
	git_treebuilder_free(tb);
	git_tree_free(tree);
	git_commit_free(parent);
	git_reference_free(ref);
	git_repository_free(repo);
}

static void test_push_checks(void)
{
	struct hub_repo_ref r = R(HUB_REPO_MODEL, "alice", "pushed");
	char *gd = NULL, uid[33], head[41], good[41], bad[41], line[256];
	CHECK_EQ_INT(hub_repo_create(h, &alice, &r, 0, NULL, NULL, &e), 0);
	CHECK_EQ_INT(hub_git_dir(h, &alice, &r, 1, &gd, uid, &e), 0);
	free(gd);
	CHECK_EQ_INT(hub_git_dir(h, &bob, &r, 1, &gd, uid, &e), HD_EPERM);
	CHECK(gd == NULL);
	CHECK_EQ_INT(hub_git_dir(h, &alice, &r, 1, &gd, uid, &e), 0);
	memcpy(head, head_of(&r, "main"), 41);

	make_commit(gd, "ok.txt", "fine", 4, good);
	snprintf(line, sizeof(line), "%s %s refs/heads/main\n", head, good);
	CHECK_EQ_INT(hub_git_check_push(h, uid, line, &e), 0);
	snprintf(line, sizeof(line), "%s %s refs/remotes/x\n", head, good);
	CHECK_EQ_INT(hub_git_check_push(h, uid, line, &e), HD_EPERM);
	snprintf(line, sizeof(line), "%s %s refs/heads/main\n", head,
	         "0000000000000000000000000000000000000000");
	CHECK_EQ_INT(hub_git_check_push(h, uid, line, &e), HD_EPERM);
	snprintf(line, sizeof(line), "%s %s refs/heads/dev\n", head,
	         "0000000000000000000000000000000000000000");
	CHECK_EQ_INT(hub_git_check_push(h, uid, line, &e), 0);
	/* A pointer to an object this repo never received. */
	char fake[65], ptr[256];
	sha256_hex(fake, "never uploaded", 14);
	int n = snprintf(ptr, sizeof(ptr),
	                 "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize 14\n",
	                 fake);
	make_commit(gd, "model.bin", ptr, (size_t)n, bad);
	snprintf(line, sizeof(line), "%s %s refs/heads/main\n", head, bad);
	CHECK_EQ_INT(hub_git_check_push(h, uid, line, &e), HD_EPERM);
	CHECK(strstr(e.msg, "not uploaded") != NULL);
	/* ...accepted once this repo has it. */
	char oid[65];
	CHECK_EQ_INT(upload(uid, "never uploaded", 14, oid), 0);
	CHECK_EQ_INT(hub_git_check_push(h, uid, line, &e), 0);
	CHECK_EQ_INT(hub_git_check_push(h, uid, "garbage\n", &e), HD_EINVAL);
	/* After the push: metadata follows main. */
	git_repository *repo;
	git_oid id;
	git_reference *ref;
	git_repository_open_bare(&repo, gd);
	git_oid_fromstr(&id, bad);
	git_reference_create(&ref, repo, "refs/heads/main", &id, 1, NULL);
	git_reference_free(ref);
	git_repository_free(repo);
	CHECK_EQ_INT(hub_git_after_push(h, uid, &e), 0);
	struct hub_repo_info info;
	CHECK_EQ_INT(hub_repo_info(h, &anon, &r, NULL, 0, &info, &e), 0);
	CHECK_EQ_STR(info.repo.sha, bad);
	hub_repo_info_release(&info);
	free(gd);
}

int main(void)
{
	log_min_level = LOG_WARN;
	setup();
	RUN(test_create);
	RUN(test_commit_and_read);
	RUN(test_bad_paths);
	RUN(test_delete_ops);
	RUN(test_branches_tags);
	RUN(test_privacy);
	RUN(test_lfs);
	RUN(test_upload_into_deleted_repo);
	RUN(test_multipart);
	RUN(test_listing);
	RUN(test_listing_many);
	RUN(test_trending);
	RUN(test_move_delete);
	RUN(test_signing);
	RUN(test_concurrent_commits);
	RUN(test_push_checks);
	teardown();
	return test_summary();
}

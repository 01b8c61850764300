// hub.mjs: Hub-level helpers on top of the raw binary: the SECURITY.md
// fixture, repo snapshots for "nothing changed" checks, and client options.
import * as hub from "@huggingface/hub";
import { api } from "./http.mjs";
import { cli, userCreate, orgCreate, orgAddMember, tokenCreate, tokenRevoke } from "./huddle.mjs";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { findBareRepos } from "./huddle.mjs";
import { fsck } from "./git.mjs";
import { sleep, sha256, walkFiles } from "./util.mjs";

export { hub };

// "model" -> "", "dataset" -> "datasets/", "space" -> "spaces/": the URL prefix of a repo.
export const prefixOf = (type) => (type === "model" ? "" : `${type}s/`);

// Follow Link rel="next" through every page of a GET; returns {items, pages}.
export async function getAllPages(base, firstPath, { token, max = 200 } = {}) {
  let url = firstPath.startsWith("http") ? firstPath : base + firstPath;
  const items = [];
  const pages = [];
  while (url && pages.length < max) {
    const r = await api(base, "GET", url, { token });
    pages.push(r);
    if (r.status !== 200) throw new Error(`GET failed:\n${r.describe()}`);
    items.push(...r.json);
    const m = /<(https?:\/\/[^>]+)>;\s+rel="next"/.exec(r.header("link") ?? "");
    url = m ? m[1] : null;
  }
  return { items, pages };
}

// What a repo looks like right now: head sha of `rev` and every tree entry.
// Used to prove that a refused request changed nothing.
export async function repoState(base, type, repo, token, rev = "main") {
  const info = await api(base, "GET", `/api/${type}s/${repo}/revision/${encodeURIComponent(rev)}`, { token });
  if (info.status !== 200) throw new Error(`repo info failed:\n${info.describe()}`);
  const { items } = await getAllPages(base, `/api/${type}s/${repo}/tree/${encodeURIComponent(rev)}?recursive=true&expand=false`, { token });
  const files = items.map((e) => `${e.type} ${e.path} ${e.oid} ${e.size}${e.lfs ? " lfs:" + e.lfs.oid : ""}`).sort();
  const refs = await api(base, "GET", `/api/${type}s/${repo}/refs`, { token });
  return { sha: info.json.sha, files, refs: refs.status === 200 ? refs.json : null };
}

// The fixture of SECURITY.md: users alice (owner), bob (read member of acme),
// carol (write member of acme), mallory (outsider), admin; alice is an admin of
// acme (HUB-API.md section 10 step 1: alice's orgs contain acme). Repos
// alice/pub (public), alice/priv (private), acme/priv (private), each with a
// README.md and an LFS file of random bytes that exists nowhere else.
// Tokens per user: read, write, fine (write, scoped to one existing repo:
// carol -> model/acme/priv, everyone else -> model/alice/pub), fineRead (read,
// same scope), expired (1.7 s lifetime, waited out here), revoked.
// Returns { tok: {alice: {read, write, fine, fineRead, expired, revoked}, ...},
//           files: {"alice/priv": {path, bytes, oid, readme}, ...}, scoped }.
export async function seedFixture(srv) {
  const d = srv.dataDir;
  const users = ["alice", "bob", "carol", "mallory", "admin"];
  for (const u of users.slice(0, 4)) await userCreate(d, u);
  await userCreate(d, "admin", { admin: true });
  await orgCreate(d, "acme");
  await orgAddMember(d, "acme", "alice", "admin");
  await orgAddMember(d, "acme", "bob", "read");
  await orgAddMember(d, "acme", "carol", "write");
  const tok = {};
  let lastExpiring = 0;
  for (const u of users) {
    const t = {};
    t.read = await tokenCreate(d, u, { role: "read" });
    t.write = await tokenCreate(d, u, { role: "write" });
    t.expired = await tokenCreate(d, u, { role: "write", expiresDays: 0.00002 });
    lastExpiring = Date.now();
    t.revoked = await tokenCreate(d, u, { role: "write" });
    await tokenRevoke(d, u, t.revoked);
    tok[u] = t;
  }
  const files = {};
  const c = { hubUrl: srv.url };
  await hub.createRepo({ ...c, accessToken: tok.alice.write, repo: "alice/pub", private: false });
  await hub.createRepo({ ...c, accessToken: tok.alice.write, repo: "alice/priv", private: true });
  await hub.createRepo({ ...c, accessToken: tok.alice.write, repo: "acme/priv", private: true });
  const crypto = await import("node:crypto");
  for (const repo of ["alice/pub", "alice/priv", "acme/priv"]) {
    // 2 MiB of random bytes: binary and over 1 MB, so LFS by HUB-API.md 1.6.
    const bytes = crypto.randomBytes(2 * 1024 * 1024);
    const oid = crypto.createHash("sha256").update(bytes).digest("hex");
    const readme = Buffer.from(`---\nlicense: mit\ntags:\n- fixture\n---\n# ${repo}\nsecret-${crypto.randomBytes(8).toString("hex")}\n`);
    await hub.uploadFiles({
      ...c,
      accessToken: tok.alice.write,
      repo,
      files: [
        { path: "README.md", content: new Blob([readme]) },
        { path: "weights.bin", content: new Blob([bytes]) },
      ],
      commitTitle: `Seed ${repo}`,
    });
    files[repo] = { path: "weights.bin", bytes, oid, readme };
  }
  const scoped = { alice: "model/alice/pub", bob: "model/alice/pub", carol: "model/acme/priv", mallory: "model/alice/pub", admin: "model/alice/pub" };
  for (const u of users) {
    tok[u].fine = await tokenCreate(d, u, { role: "write", repos: [scoped[u]] });
    tok[u].fineRead = await tokenCreate(d, u, { role: "read", repos: [scoped[u]] });
  }
  // Let the expiring tokens lapse (1.728 s after creation).
  const wait = lastExpiring + 2200 - Date.now();
  if (wait > 0) await sleep(wait);
  return { tok, files, scoped };
}

// The client parameters every call needs, with a logging fetch.
export const clientOpts = (srv, accessToken, fetch) => ({ hubUrl: srv.url, ...(accessToken ? { accessToken } : {}), ...(fetch ? { fetch } : {}) });

// Read a whole Blob from the client into a Buffer.
export const blobBytes = async (b) => Buffer.from(await b.arrayBuffer());

export { cli };

// Every file under DATA/lfs sits at lfs/<2>/<2>/<sha256> and holds exactly
// those bytes: no object under its final name with wrong bytes, no strays.
export function assertLfsStoreConsistent(dataDir) {
  const root = path.join(dataDir, "lfs");
  const objs = walkFiles(root);
  for (const rel of objs) {
    const m = /^([0-9a-f]{2})\/([0-9a-f]{2})\/([0-9a-f]{64})$/.exec(rel);
    assert.ok(m && m[3].startsWith(m[1] + m[2]), `a file that is not a final object sits in the LFS store: lfs/${rel}`);
    assert.equal(sha256(fs.readFileSync(path.join(root, rel))), m[3], `lfs/${rel} holds bytes that are not its name`);
  }
  return objs.length;
}

// `git fsck --full --strict` is clean on every bare repository under DATA/repos.
export async function assertReposFsckClean(dataDir) {
  const repos = findBareRepos(dataDir);
  assert.ok(repos.length > 0, `no bare git repositories found under ${dataDir}/repos`);
  for (const r of repos) {
    const out = await fsck(r);
    assert.equal(out.code, 0, `git fsck ${r}:\n${out.stderr}${out.stdout}`);
  }
  return repos.length;
}

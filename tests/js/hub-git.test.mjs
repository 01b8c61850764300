// hub-git.test.mjs: git smart HTTP and git-lfs against `huddle serve`, with the
// real git and git-lfs (HUB-API.md section 6, SECURITY.md T10). Clone public
// and private repos (token as the Basic password), `git lfs pull` reproduces
// the LFS bytes, a push of an LFS file shows in the API, and the same
// allow/deny matrix as the HTTP API holds for every token kind.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startServer, userCreate, tokenCreate } from "./lib/huddle.mjs";
import { api } from "./lib/http.mjs";
import { hub, seedFixture, blobBytes } from "./lib/hub.mjs";
import { gitEnv } from "./lib/git.mjs";
import { MiB, sha256, lfsPointer, randomBytes, rid, tmpDir } from "./lib/util.mjs";

describe("git and git-lfs against huddle", () => {
  let srv, B, T, F;
  const headOf = async (repo, token, type = "models") => (await api(B, "GET", `/api/${type}/${repo}/revision/main`, { token })).json?.sha;

  before(async () => {
    srv = await startServer();
    B = srv.url;
    const fx = await seedFixture(srv);
    T = fx.tok;
    F = fx.files;
    await hub.createRepo({ hubUrl: B, accessToken: T.alice.write, repo: "datasets/alice/ds" });
    await hub.uploadFiles({
      hubUrl: B,
      accessToken: T.alice.write,
      repo: "datasets/alice/ds",
      files: [{ path: "data/train.csv", content: new Blob(["a,b\n1,2\n"]) }],
    });
  });

  after(async () => {
    if (!srv) return;
    const r = await srv.stop();
    assert.equal(r.code, 0, `huddle serve did not exit cleanly on SIGTERM (code ${r.code}, signal ${r.signal}):\n${r.output.slice(-4000)}`);
  });

  it("anonymous clone of a public model (with and without .git) and git lfs pull", async () => {
    const g = gitEnv();
    for (const suffix of ["", ".git"]) {
      const dir = path.join(g.home, `pub${suffix || "-plain"}`);
      await g.run(["clone", `${B}/alice/pub${suffix}`, dir], { env: { GIT_LFS_SKIP_SMUDGE: "1" } });
      assert.equal(fs.readFileSync(path.join(dir, "README.md")).toString(), F["alice/pub"].readme.toString());
      assert.equal(
        fs.readFileSync(path.join(dir, "weights.bin")).toString(),
        lfsPointer(F["alice/pub"].oid, 2 * MiB).toString(),
        "the clone holds the LFS pointer",
      );
      await g.run(["lfs", "pull"], { cwd: dir });
      assert.equal(sha256(fs.readFileSync(path.join(dir, "weights.bin"))), F["alice/pub"].oid, "git lfs pull reproduces the bytes");
      const head = (await g.run(["rev-parse", "HEAD"], { cwd: dir })).trim();
      assert.equal(head, await headOf("alice/pub"), "the clone's HEAD is the API's sha");
    }
    // A normal clone (smudge on) gets the bytes directly.
    const dir = path.join(g.home, "pub-smudged");
    await g.run(["clone", `${B}/alice/pub`, dir]);
    assert.equal(sha256(fs.readFileSync(path.join(dir, "weights.bin"))), F["alice/pub"].oid);
  });

  it("clone of a dataset under /datasets/", async () => {
    const g = gitEnv();
    const dir = path.join(g.home, "ds");
    await g.run(["clone", `${B}/datasets/alice/ds`, dir]);
    assert.equal(fs.readFileSync(path.join(dir, "data/train.csv"), "utf8"), "a,b\n1,2\n");
    const wrong = await g.try(["clone", `${B}/alice/ds`, path.join(g.home, "ds-as-model")]);
    assert.notEqual(wrong.code, 0, "a dataset must not be reachable as a model");
  });

  it("private repos: the token as the Basic password works; anonymous, outsider, expired and revoked fail like a missing repo", async () => {
    for (const [user, token, repo] of [
      ["alice", T.alice.read, "alice/priv"],
      ["alice", T.alice.write, "alice/priv"],
      ["bob", T.bob.read, "acme/priv"],
      ["carol", T.carol.write, "acme/priv"],
    ]) {
      const g = gitEnv({ user, token });
      const dir = path.join(g.home, "c");
      await g.run(["clone", `${B}/${repo}`, dir]);
      assert.equal(sha256(fs.readFileSync(path.join(dir, "weights.bin"))), F[repo].oid, `${user} clones ${repo} with LFS bytes`);
    }
    // The user name is not what authenticates: the token is.
    const gx = gitEnv({ user: "whoever", token: T.alice.read });
    await gx.run(["clone", `${B}/alice/priv`, path.join(gx.home, "c")], { env: { GIT_LFS_SKIP_SMUDGE: "1" } });

    const denied = [
      ["anonymous", undefined],
      ["mallory", T.mallory.write],
      ["alice expired", T.alice.expired],
      ["alice revoked", T.alice.revoked],
      ["bob on alice/priv", T.bob.write],
      ["a bogus token", "hf_" + "x".repeat(34)],
    ];
    for (const [who, token] of denied) {
      const g = gitEnv({ user: who.split(" ")[0], token });
      const priv = await g.try(["clone", `${B}/alice/priv`, path.join(g.home, "p")], { env: { GIT_LFS_SKIP_SMUDGE: "1" } });
      const miss = await g.try(["clone", `${B}/alice/doesnotexist-${rid()}`, path.join(g.home, "m")], { env: { GIT_LFS_SKIP_SMUDGE: "1" } });
      assert.notEqual(priv.code, 0, `${who} cloned alice/priv`);
      assert.equal(priv.code, miss.code, `${who}: private and missing differ`);
      assert.ok(!fs.existsSync(path.join(g.home, "p", "weights.bin")));
      const norm = (s) => s.replace(/alice\/(priv|doesnotexist-[0-9a-f]+)/g, "<R>").replace(/'[^']*\/(p|m)'/g, "<DIR>");
      assert.equal(norm(priv.stderr), norm(miss.stderr), `${who}: git reports differ:\n${priv.stderr}\n---\n${miss.stderr}`);
    }
    // info/refs as anonymous: a 401 with a Basic challenge (or a 404), the same for both.
    const a = await api(B, "GET", "/alice/priv.git/info/refs?service=git-upload-pack");
    const m = await api(B, "GET", "/alice/nothing-here.git/info/refs?service=git-upload-pack");
    assert.ok([401, 404].includes(a.status), a.describe());
    assert.equal(a.status, m.status);
    if (a.status === 401) assert.match(a.header("www-authenticate") ?? "", /^Basic/i, a.describe());
  });

  it("push an LFS file and a regular file with a write token: the API shows both", async () => {
    const repo = `alice/gitpush-${rid()}`;
    await hub.createRepo({ hubUrl: B, accessToken: T.alice.write, repo });
    const g = gitEnv({ user: "alice", token: T.alice.write });
    const dir = path.join(g.home, "w");
    await g.run(["clone", `${B}/${repo}`, dir]);
    await g.run(["lfs", "install", "--local"], { cwd: dir });
    await g.run(["lfs", "track", "*.safetensors"], { cwd: dir });
    const weights = randomBytes(3 * MiB + 17);
    fs.writeFileSync(path.join(dir, "model.safetensors"), weights);
    fs.mkdirSync(path.join(dir, "cfg"));
    fs.writeFileSync(path.join(dir, "cfg", "config.json"), '{"pushed":true}\n');
    await g.run(["add", "-A"], { cwd: dir });
    await g.run(["commit", "-q", "-m", "Push weights with git"], { cwd: dir });
    await g.run(["push", "origin", "main"], { cwd: dir });
    const sha = (await g.run(["rev-parse", "HEAD"], { cwd: dir })).trim();
    assert.equal(await headOf(repo, T.alice.read), sha);

    const entries = [];
    for await (const e of hub.listFiles({ hubUrl: B, accessToken: T.alice.read, repo, recursive: true })) entries.push(e);
    const w = entries.find((e) => e.path === "model.safetensors");
    assert.ok(w, `model.safetensors not listed: ${entries.map((e) => e.path)}`);
    assert.equal(w.lfs?.oid, sha256(weights));
    assert.equal(w.size, weights.length);
    assert.ok(entries.some((e) => e.path === "cfg/config.json" && !e.lfs));
    const blob = await hub.downloadFile({ hubUrl: B, accessToken: T.alice.read, repo, path: "model.safetensors" });
    assert.equal(sha256(await blobBytes(blob)), sha256(weights));
    const commits = [];
    for await (const c of hub.listCommits({ hubUrl: B, accessToken: T.alice.read, repo })) commits.push(c);
    assert.equal(commits[0].oid, sha);
    assert.equal(commits[0].title, "Push weights with git");

    // A fresh clone elsewhere sees the same bytes.
    const g2 = gitEnv({ user: "alice", token: T.alice.read });
    await g2.run(["clone", `${B}/${repo}`, path.join(g2.home, "again")]);
    assert.equal(sha256(fs.readFileSync(path.join(g2.home, "again", "model.safetensors"))), sha256(weights));

    // A new branch pushed with git appears in refs and in the tree API.
    await g.run(["checkout", "-q", "-b", "feature"], { cwd: dir });
    fs.writeFileSync(path.join(dir, "feature.txt"), "on a branch\n");
    await g.run(["add", "feature.txt"], { cwd: dir });
    await g.run(["commit", "-q", "-m", "feature"], { cwd: dir });
    await g.run(["push", "origin", "feature"], { cwd: dir });
    const refs = await api(B, "GET", `/api/models/${repo}/refs`, { token: T.alice.read });
    assert.ok(
      refs.json?.branches?.some((b) => b.name === "feature" && b.ref === "refs/heads/feature"),
      refs.describe(),
    );
    const fe = [];
    for await (const e of hub.listFiles({ hubUrl: B, accessToken: T.alice.read, repo, revision: "feature" })) fe.push(e.path);
    assert.ok(fe.includes("feature.txt"));
  });

  it("pushes that must be refused: read token, outsider, fine-grained out of scope, non-LFS file over 10 MB", async () => {
    const attempt = async (user, token, repo, setup) => {
      const g = gitEnv({ user, token: T.alice.read });
      const dir = path.join(g.home, "r");
      await g.run(["clone", `${B}/${repo}`, dir], { env: { GIT_LFS_SKIP_SMUDGE: "1" } });
      // Push with the token under test (the clone used alice's read token).
      const helper = path.join(g.home, "cred2.sh");
      fs.writeFileSync(helper, `#!/bin/sh\n[ "$1" = get ] || exit 0\necho username=${user}\necho password=${token}\n`, { mode: 0o700 });
      await setup(dir, g);
      await g.run(["add", "-A"], { cwd: dir });
      await g.run(["commit", "-q", "-m", "should be refused"], { cwd: dir });
      return g.try(["-c", "credential.helper=", "-c", `credential.helper=${helper}`, "-c", "core.hooksPath=/dev/null", "push", "origin", "main"], { cwd: dir });
    };
    const small = (dir) => fs.writeFileSync(path.join(dir, `x-${rid()}.txt`), "x\n");
    const cases = [
      ["alice", T.alice.read, "alice/pub", small, "read token"],
      ["alice", T.alice.fineRead, "alice/pub", small, "fine-grained read token"],
      ["mallory", T.mallory.write, "alice/pub", small, "outsider"],
      ["bob", T.bob.write, "acme/priv", small, "read member of acme"],
      ["alice", T.alice.expired, "alice/pub", small, "expired token"],
      ["alice", T.alice.revoked, "alice/pub", small, "revoked token"],
    ];
    for (const [user, token, repo, setup, what] of cases) {
      const h = await headOf(repo, T.alice.read);
      const r = await attempt(user, token, repo, setup);
      assert.notEqual(r.code, 0, `${what}: push to ${repo} succeeded`);
      assert.equal(await headOf(repo, T.alice.read), h, `${what}: ${repo} moved`);
    }
    // A fine-grained write token for alice/pub cannot push to alice's other repo.
    const other = `alice/fine-out-${rid()}`;
    await hub.createRepo({ hubUrl: B, accessToken: T.alice.write, repo: other });
    await hub.uploadFile({ hubUrl: B, accessToken: T.alice.write, repo: other, file: { path: "a.txt", content: new Blob(["a\n"]) } });
    const h0 = await headOf(other, T.alice.read);
    const r1 = await attempt("alice", T.alice.fine, other, small);
    assert.notEqual(r1.code, 0, "fine-grained token pushed outside its scope");
    assert.equal(await headOf(other, T.alice.read), h0);
    // ...but can push to alice/pub (the control).
    const h1 = await headOf("alice/pub", T.alice.read);
    const r2 = await attempt("alice", T.alice.fine, "alice/pub", small);
    assert.equal(r2.code, 0, `fine-grained token could not push its own repo:\n${r2.stderr}`);
    assert.notEqual(await headOf("alice/pub", T.alice.read), h1);

    // The Hub rejects non-LFS files over 10 MB on push (HUB-API.md section 6).
    const h2 = await headOf("alice/pub", T.alice.read);
    const big = await attempt("alice", T.alice.write, "alice/pub", (dir) => fs.writeFileSync(path.join(dir, "big-plain.txt"), randomBytes(11 * MiB)));
    assert.notEqual(big.code, 0, "an 11 MB non-LFS file was accepted by push");
    assert.equal(await headOf("alice/pub", T.alice.read), h2);
  });

  it("a server that cannot install its push check refuses pushes (fail closed) and still serves clones", async () => {
    // git-hooks is a file, so serve cannot write the pre-receive hook there.
    const dataDir = tmpDir("huddle-data-");
    fs.writeFileSync(path.join(dataDir, "git-hooks"), "not a directory\n");
    const s2 = await startServer({ dataDir });
    try {
      await userCreate(dataDir, "alice");
      const tok = await tokenCreate(dataDir, "alice", { role: "write" });
      await hub.createRepo({ hubUrl: s2.url, accessToken: tok, repo: "alice/nohook" });
      await hub.uploadFile({ hubUrl: s2.url, accessToken: tok, repo: "alice/nohook", file: { path: "a.txt", content: new Blob(["a\n"]) } });
      const head = async () => (await api(s2.url, "GET", "/api/models/alice/nohook/revision/main", { token: tok })).json?.sha;
      const h0 = await head();
      const g = gitEnv({ user: "alice", token: tok });
      const dir = path.join(g.home, "nohook");
      await g.run(["clone", `${s2.url}/alice/nohook`, dir]);
      assert.equal(fs.readFileSync(path.join(dir, "a.txt"), "utf8"), "a\n");
      // Unchecked, this push would be taken: an 11 MB non-LFS file.
      fs.writeFileSync(path.join(dir, "big-plain.txt"), randomBytes(11 * MiB));
      await g.run(["add", "-A"], { cwd: dir });
      await g.run(["commit", "-q", "-m", "unchecked"], { cwd: dir });
      const r = await g.try(["-c", "core.hooksPath=/dev/null", "push", "origin", "main"], { cwd: dir });
      assert.notEqual(r.code, 0, "a push went through without the hub's push check");
      assert.match(r.stderr, /503|disabled/i, r.stderr);
      assert.equal(await head(), h0, "the repo moved");
    } finally {
      const r = await s2.stop();
      assert.equal(r.code, 0, `huddle serve did not exit cleanly (code ${r.code}, signal ${r.signal})`);
    }
  });
});

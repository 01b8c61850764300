// hub-security.test.mjs: SECURITY.md rows T1, T2, T6, V1, V4, V5, P1, P2, P3,
// P5, P7 and P8 as automated attacks on the real `huddle serve`, with raw
// HTTP, the official client and git, on the SECURITY.md fixture (lib/hub.mjs).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startServer, cli, cliRaw, tokenCreate, tokenList, tokenRevoke, TOKEN_RE } from "./lib/huddle.mjs";
import { api, rawRequest, assertError, commitRaw, lfsBatch, ndjson, sendWithContinue } from "./lib/http.mjs";
import { hub, seedFixture, repoState, assertLfsStoreConsistent, assertReposFsckClean } from "./lib/hub.mjs";
import { gitEnv } from "./lib/git.mjs";
import { MiB, sha256, lfsPointer, randomBytes, rid, tmpDir, walkFiles, pool } from "./lib/util.mjs";

const MAX_BODY = 8 * MiB;

// Run many checks and report every one that fails, not only the first.
function collector() {
  const problems = [];
  const check = async (fn) => {
    try {
      await fn();
    } catch (e) {
      problems.push(e.message.split("\n").slice(0, 6).join("\n    "));
    }
  };
  check.done = (what) => assert.equal(problems.length, 0, `${problems.length} ${what}:\n  ${problems.join("\n  ")}`);
  return check;
}

describe("SECURITY.md A, B, D: attacks on the hub", () => {
  let srv, B, T, F, cwd;
  const c = (accessToken) => ({ hubUrl: B, ...(accessToken ? { accessToken } : {}) });
  const b64 = (s) => Buffer.from(s).toString("base64");
  const fileLine = (p, content = "x") => ({ key: "file", value: { path: p, content: b64(content), encoding: "base64" } });
  const header = (summary = "attack") => ({ key: "header", value: { summary } });

  before(async () => {
    cwd = tmpDir("huddle-cwd-");
    srv = await startServer({
      cwd,
      args: ["--max-body", String(MAX_BODY), "--lfs-multipart-threshold", String(4 * MiB), "--lfs-chunk-size", String(1 * MiB)],
    });
    B = srv.url;
    const fx = await seedFixture(srv);
    T = fx.tok;
    F = fx.files;
  });

  after(async () => {
    if (!srv) return;
    const r = await srv.stop();
    assert.equal(r.code, 0, `huddle serve did not exit cleanly on SIGTERM (code ${r.code}, signal ${r.signal}):\n${r.output.slice(-4000)}`);
  });

  // ---------------------------------------------------------------- A. tokens

  it("T1: tokens are stored hashed, listed without secrets, never returned by the API", async () => {
    const fresh = await tokenCreate(srv.dataDir, "alice", { role: "write" });
    assert.equal((await api(B, "GET", "/api/whoami-v2", { token: fresh })).status, 200, "the new token works");
    const secrets = [fresh, ...Object.values(T).flatMap((t) => Object.values(t))];
    // Any of these in clear is a leak: the whole secret, its last 20 characters
    // (no display prefix reaches them) and a 16-character middle window.
    const needles = secrets.flatMap((s) => [s, s.slice(-20), s.slice(10, 26)]);
    const leaks = (hay) => needles.filter((n) => hay.includes(n));

    const dump = await new Promise((resolve, reject) =>
      execFile("sqlite3", ["-readonly", path.join(srv.dataDir, "huddle.db"), ".dump"], { maxBuffer: 256 << 20 }, (e, out, err) =>
        e ? reject(new Error(`sqlite3 .dump: ${err || e.message}`)) : resolve(out),
      ),
    );
    assert.ok(dump.length > 0 && /CREATE TABLE/i.test(dump), "the dump is empty");
    assert.deepEqual(leaks(dump), [], "token secrets in the SQLite dump");
    // The raw bytes of every file in the data dir (WAL, journal, config, logs).
    for (const rel of walkFiles(srv.dataDir)) {
      if (rel.startsWith("lfs/")) continue; // user content
      const buf = fs.readFileSync(path.join(srv.dataDir, rel)).toString("latin1");
      assert.deepEqual(leaks(buf), [], `token secrets in clear in ${rel}`);
    }
    for (const u of Object.keys(T)) {
      const list = await tokenList(srv.dataDir, u);
      assert.ok(list.length > 0, `token list --user ${u} is empty`);
      assert.deepEqual(leaks(list), [], `huddle token list --user ${u} shows secrets`);
    }
    const who = await api(B, "GET", "/api/whoami-v2", { token: fresh });
    assert.deepEqual(leaks(who.text), [], "whoami returns the secret");
    assert.deepEqual(leaks(srv.output()), [], "the server's log holds token secrets (T9)");
  });

  it("T2: 100 new tokens all have the fixed format and are distinct", async () => {
    const toks = await pool(
      Array.from({ length: 100 }, (_, i) => i),
      4,
      () => tokenCreate(srv.dataDir, "mallory", { role: "read" }),
    );
    for (const t of toks) assert.match(t, TOKEN_RE);
    assert.equal(new Set(toks).size, 100);
    // A token's random part is 34 of 62 symbols: distinct prefixes too.
    assert.equal(new Set(toks.map((t) => t.slice(0, 12))).size, 100, "tokens share long prefixes");
    for (const t of [toks[0], toks[57], toks[99]]) assert.equal((await api(B, "GET", "/api/whoami-v2", { token: t })).status, 200);
  });

  it("T5/T3 (fixture sanity): expired and revoked tokens get 401 with the error shape", async () => {
    for (const u of ["alice", "carol"]) {
      for (const kind of ["expired", "revoked"]) {
        const r = await api(B, "GET", "/api/whoami-v2", { token: T[u][kind] });
        assertError(r, 401);
        const info = await api(B, "GET", "/api/models/alice/pub", { token: T[u][kind] });
        assert.equal(info.status, 401, `a ${kind} token reading a public repo must be a 401, not anonymous access:\n${info.describe()}`);
        const w = await commitRaw(B, "model", "alice/pub", [header(), fileLine(`${kind}.txt`)], { token: T[u][kind] });
        assertError(w, 401);
      }
    }
  });

  it("T6: a read token cannot push, create, change settings, commit, upload, branch or delete", async () => {
    const tok = T.alice.read;
    const who = await api(B, "GET", "/api/whoami-v2", { token: tok });
    assert.equal(who.json?.auth?.accessToken?.role, "read", who.describe());
    const st = await repoState(B, "model", "alice/pub", T.alice.write);

    assertError(await api(B, "POST", "/api/repos/create", { token: tok, json: { name: `t6-${rid()}`, organization: "alice", type: "model" } }), 403);
    assertError(await api(B, "PUT", "/api/models/alice/pub/settings", { token: tok, json: { private: true } }), 403);
    assertError(await api(B, "PUT", "/api/models/alice/pub/settings", { token: tok, json: { visibility: "private" } }), 403);
    assertError(await commitRaw(B, "model", "alice/pub", [header(), fileLine("t6.txt")], { token: tok }), 403);
    assertError(await api(B, "POST", "/api/models/alice/pub/preupload/main", { token: tok, json: { files: [{ path: "x.bin", size: 10, sample: "" }] } }), 403);
    const bytes = randomBytes(1000);
    assertError(await lfsBatch(B, "alice/pub", { objects: [{ oid: sha256(bytes), size: 1000 }], token: tok }), 403);
    assertError(await api(B, "POST", "/api/models/alice/pub/branch/t6", { token: tok, json: {} }), 403);
    assertError(await api(B, "DELETE", "/api/repos/delete", { token: tok, json: { name: "pub", organization: "alice", type: "model" } }), 403);
    assertError(await api(B, "POST", "/api/repos/move", { token: tok, json: { fromRepo: "alice/pub", toRepo: "alice/moved", type: "model" } }), 403);

    // git push with the read token as the Basic password.
    const g = gitEnv({ user: "alice", token: tok });
    const dir = path.join(g.home, "pub");
    await g.run(["clone", `${B}/alice/pub`, dir], { env: { GIT_LFS_SKIP_SMUDGE: "1" } });
    fs.writeFileSync(path.join(dir, "pushed-with-read.txt"), "nope\n");
    await g.run(["add", "pushed-with-read.txt"], { cwd: dir });
    await g.run(["commit", "-q", "-m", "read token push"], { cwd: dir });
    const push = await g.try(["-c", "core.hooksPath=/dev/null", "push", "origin", "main"], { cwd: dir });
    assert.notEqual(push.code, 0, `git push with a read token succeeded:\n${push.stderr}`);
    assert.match(push.stderr, /403|401|denied|forbidden|not allowed|Authentication failed/i, push.stderr);

    assert.deepEqual(await repoState(B, "model", "alice/pub", T.alice.write), st, "a refused request changed alice/pub");
    assert.equal((await api(B, "GET", "/api/models/alice/pub", {})).json?.private, false, "alice/pub became private");
  });

  it("T6: no token mints a broader token (the web UI's token settings)", async () => {
    // The only HTTP path that creates tokens is the web UI's settings form
    // (POST /settings/tokens/new, a session from POST /login with a token).
    // Field names follow that form: token, csrf, name, role, expires_days.
    const count = async () => (await tokenList(srv.dataDir, "alice")).split("\n").length;
    const session = async (token) => {
      const r = await api(B, "POST", "/login", {
        body: new URLSearchParams({ token, next: "/" }).toString(),
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      });
      assert.ok(r.status >= 300 && r.status < 400, `sign-in with a valid token:\n${r.describe()}`);
      const cookie = (r.headers.getSetCookie?.() ?? [r.header("set-cookie")]).map((c) => c.split(";")[0]).join("; ");
      assert.ok(cookie, `no session cookie:\n${r.describe()}`);
      const page = await api(B, "GET", "/settings/tokens", { headers: { Cookie: cookie } });
      const csrf = /name="csrf" value="([0-9a-f]{64})"/.exec(page.text)?.[1];
      return { cookie, csrf };
    };
    const mint = (sess, role) =>
      api(B, "POST", "/settings/tokens/new", {
        body: new URLSearchParams({ name: `mint-${rid()}`, role, expires_days: "", csrf: sess.csrf ?? "" }).toString(),
        headers: { "Content-Type": "application/x-www-form-urlencoded", Cookie: sess.cookie },
      });
    const n0 = await count();
    for (const [what, token] of [
      ["read", T.alice.read],
      ["fine-grained write", T.alice.fine],
      ["fine-grained read", T.alice.fineRead],
    ]) {
      const sess = await session(token);
      for (const role of ["write", "read"]) {
        const r = await mint(sess, role);
        assert.ok(r.status >= 400 && r.status < 500, `a ${what} session minted a ${role} token:\n${r.describe()}`);
        assert.ok(!/hf_[A-Za-z0-9]{34}/.test(r.text), `a ${what} session got a token back`);
      }
    }
    // A bearer read token straight at the form, without a session.
    const direct = await api(B, "POST", "/settings/tokens/new", {
      token: T.alice.read,
      body: "name=x&role=write",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    assert.ok(!(direct.status >= 200 && direct.status < 300) && !/hf_[A-Za-z0-9]{34}/.test(direct.text), direct.describe());
    assert.equal(await count(), n0, "a token was created");
    // The control: a write session can mint (so the refusals above are meaningful).
    const w = await session(T.alice.write);
    const ok = await mint(w, "write");
    assert.equal(ok.status, 200, ok.describe());
    assert.match(ok.text, /hf_[A-Za-z0-9]{34}/);
    assert.equal(await count(), n0 + 1);
  });

  it("T6: a fine-grained token stays inside its repo and its role", async () => {
    // alice.fine: write, scoped to model/alice/pub. alice.fineRead: read, same scope.
    const w = await commitRaw(B, "model", "alice/pub", [header("fine ok"), fileLine("fine.txt", "fine\n")], { token: T.alice.fine });
    assert.equal(w.status, 200, `the scoped write token must write its own repo:\n${w.describe()}`);
    for (const p of ["/api/models/alice/priv", "/api/models/alice/priv/tree/main", "/alice/priv/resolve/main/README.md"]) {
      const r = await api(B, "GET", p, { token: T.alice.fine });
      assertError(r, 404);
    }
    assertError(await commitRaw(B, "model", "alice/priv", [header(), fileLine("x.txt")], { token: T.alice.fine }), [403, 404]);
    assertError(await commitRaw(B, "model", "acme/priv", [header(), fileLine("x.txt")], { token: T.alice.fine }), [403, 404]);
    assertError(await api(B, "POST", "/api/repos/create", { token: T.alice.fine, json: { name: `fine-${rid()}`, organization: "alice", type: "model" } }), 403);
    assertError(await api(B, "PUT", "/api/models/alice/priv/settings", { token: T.alice.fine, json: { private: false } }), [403, 404]);
    assertError(await commitRaw(B, "model", "alice/pub", [header(), fileLine("fineread.txt")], { token: T.alice.fineRead }), 403);
    assert.equal((await api(B, "GET", "/api/models/alice/pub", { token: T.alice.fineRead })).status, 200, "the scoped read token reads its repo");
    assert.equal((await api(B, "GET", "/api/models/alice/priv", { token: T.alice.write })).json?.private, true, "alice/priv became public");
  });

  it("T6: org roles: read member reads but cannot write, write member writes, outsider sees nothing", async () => {
    assert.equal((await api(B, "GET", "/api/models/acme/priv", { token: T.bob.read })).status, 200, "bob (read member) reads acme/priv");
    assertError(await commitRaw(B, "model", "acme/priv", [header(), fileLine("bob.txt")], { token: T.bob.write }), 403);
    assertError(await api(B, "PUT", "/api/models/acme/priv/settings", { token: T.bob.write, json: { private: false } }), 403);
    const ok = await commitRaw(B, "model", "acme/priv", [header("carol writes"), fileLine("carol.txt", "carol\n")], { token: T.carol.write });
    assert.equal(ok.status, 200, ok.describe());
    assertError(await api(B, "GET", "/api/models/acme/priv", { token: T.mallory.write }), 404);
    assertError(await commitRaw(B, "model", "alice/pub", [header(), fileLine("mallory.txt")], { token: T.mallory.write }), 403);
  });

  // ------------------------------------------------------ B. visibility, authz

  it("V1: a private repo and a missing one look identical to mallory and to anonymous, on every surface", async () => {
    const oid = F["alice/priv"].oid;
    const surfaces = (r) => [
      ["GET", `/api/models/${r}`],
      ["GET", `/api/models/${r}?expand[]=likes`],
      ["GET", `/api/models/${r}/revision/main`],
      ["GET", `/api/models/${r}/revision/HEAD`],
      ["GET", `/api/models/${r}/tree/main?recursive=true`],
      ["POST", `/api/models/${r}/paths-info/main`, { json: { paths: ["README.md", "weights.bin"], expand: true } }],
      ["POST", `/api/models/${r}/paths-info/main`, { body: "paths=README.md&expand=true", headers: { "Content-Type": "application/x-www-form-urlencoded" } }],
      ["GET", `/${r}/resolve/main/README.md`],
      ["HEAD", `/${r}/resolve/main/weights.bin`],
      ["GET", `/${r}/resolve/main/weights.bin`, { headers: { Range: "bytes=0-0" } }],
      ["GET", `/${r}/raw/main/README.md`],
      ["HEAD", `/${r}/raw/main/README.md`],
      ["GET", `/api/models/${r}/commits/main`],
      ["GET", `/api/models/${r}/refs`],
      ["POST", `/api/models/${r}/preupload/main`, { json: { files: [{ path: "a.txt", size: 1, sample: "eA==" }] } }],
      ["POST", `/api/models/${r}/commit/main`, { body: ndjson([header(), fileLine("a.txt")]), headers: { "Content-Type": "application/x-ndjson" } }],
      ["POST", `/api/models/${r}/branch/x`, { json: {} }],
      ["PUT", `/api/models/${r}/settings`, { json: { private: false } }],
      ["DELETE", "/api/repos/delete", { json: { name: r.split("/")[1], organization: r.split("/")[0], type: "model" } }],
      ["GET", `/${r}.git/info/refs?service=git-upload-pack`],
      ["GET", `/${r}/info/refs?service=git-upload-pack`],
      // The web UI: the model-card page and the repo's other pages.
      ["GET", `/${r}`],
      ["GET", `/${r}/tree/main`],
      ["GET", `/${r}/blob/main/README.md`],
      ["GET", `/${r}/commits/main`],
      ["GET", `/${r}/api`],
      ["GET", `/${r}/settings`],
      [
        "POST",
        `/${r}.git/info/lfs/objects/batch`,
        {
          body: JSON.stringify({ operation: "download", transfers: ["basic"], objects: [{ oid, size: 2 * MiB }] }),
          headers: { "Content-Type": "application/vnd.git-lfs+json", Accept: "application/vnd.git-lfs+json" },
        },
      ],
      [
        "POST",
        `/${r}.git/info/lfs/objects/batch`,
        {
          body: JSON.stringify({ operation: "upload", transfers: ["basic"], objects: [{ oid, size: 2 * MiB }] }),
          headers: { "Content-Type": "application/vnd.git-lfs+json", Accept: "application/vnd.git-lfs+json" },
        },
      ],
    ];
    // Bodies are compared with the requested repo id and name replaced (the
    // request's own data); anything else that differs is an oracle. Timing is
    // not measured here (too noisy on a shared CI machine).
    // A per-request id in the body is not an oracle either.
    const norm = (text, r) =>
      text
        .split(r)
        .join("<REPO>")
        .replace(new RegExp(`\\b${r.split("/")[1]}\\b`, "g"), "<NAME>")
        .split(encodeURIComponent(r))
        .join("<REPO>")
        .replace(/"request_?id"\s*:\s*"[^"]*"/gi, '"request_id":"<ID>"')
        .replace(/nonce="[^"]*"/g, 'nonce="<NONCE>"');
    const check = collector();
    for (const [who, token] of [
      ["anonymous", undefined],
      ["mallory", T.mallory.write],
      ["mallory-read", T.mallory.read],
    ]) {
      const a = surfaces("alice/priv");
      const m = surfaces("alice/doesnotexist");
      for (let i = 0; i < a.length; i++) {
        await check(async () => {
          const [meth, p, o = {}] = a[i];
          const rp = await api(B, meth, p, { token, ...o });
          const rm = await api(B, m[i][0], m[i][1], { token, ...(m[i][2] ?? {}) });
          const what = `${who} ${meth} ${p}`;
          assert.notEqual(rp.status, 403, `${what}: a 403 reveals the repo:\n${rp.describe()}`);
          // A signed-out visitor of a web page may be sent to /login instead (the
          // same for a missing repo, checked below).
          const toLogin = !p.startsWith("/api/") && rp.status >= 300 && rp.status < 400 && /^\/login\?/.test(rp.header("location") ?? "");
          assert.ok(rp.status === 404 || rp.status === 401 || toLogin, `${what}: expected 404 (or 401):\n${rp.describe()}`);
          assert.equal(norm(rp.header("location") ?? "", "alice/priv"), norm(rm.header("location") ?? "", "alice/doesnotexist"), `${what}: redirects differ`);
          if (token && p.startsWith("/api/")) assert.equal(rp.status, 404, `${what}: a signed-in caller gets 404:\n${rp.describe()}`);
          assert.equal(rp.status, rm.status, `${what}: status differs from a missing repo:\n${rp.describe()}\n${rm.describe()}`);
          assert.equal(rp.header("x-error-code"), rm.header("x-error-code"), `${what}: X-Error-Code differs`);
          assert.equal(norm(rp.text, "alice/priv"), norm(rm.text, "alice/doesnotexist"), `${what}: bodies differ:\n${rp.describe()}\n${rm.describe()}`);
          assert.equal(
            norm(rp.header("x-error-message") ?? "", "alice/priv"),
            norm(rm.header("x-error-message") ?? "", "alice/doesnotexist"),
            `${what}: X-Error-Message differs`,
          );
          assert.ok(!rp.text.includes(F["alice/priv"].readme.toString().slice(-30)), `${what}: leaked the README`);
        });
      }
    }
    check.done("surfaces tell a private repo from a missing one");
    // Listing and search never show private repos to others...
    for (const [who, token] of [
      ["anonymous", undefined],
      ["mallory", T.mallory.write],
      ["carol (acme write member, not alice's)", T.carol.write],
    ]) {
      for (const q of [
        "/api/models?search=priv",
        "/api/models?author=alice",
        "/api/models?search=alice",
        "/api/models?limit=500",
        "/api/models?full=true&search=priv",
        "/api/datasets?search=priv",
        "/api/spaces?search=priv",
      ]) {
        const r = await api(B, "GET", q, { token });
        assert.equal(r.status, 200, r.describe());
        const ids = r.json.map((x) => x.id);
        assert.ok(!ids.includes("alice/priv"), `${who} ${q} lists alice/priv: ${ids}`);
        if (who !== "carol (acme write member, not alice's)") assert.ok(!ids.includes("acme/priv"), `${who} ${q} lists acme/priv: ${ids}`);
      }
    }
    // The web listing, profile page and the model lists of the inference API and
    // the chat playground (when they exist) do not mention private repos either.
    for (const [who, token] of [
      ["anonymous", undefined],
      ["mallory", T.mallory.write],
    ]) {
      for (const p of ["/models?search=priv", "/models", "/alice", "/acme", "/v1/models", "/chat/api/models"]) {
        const r = await api(B, "GET", p, { token });
        if (r.status === 404) continue;
        assert.ok(r.status < 500, r.describe());
        assert.ok(!r.text.includes("alice/priv") && !r.text.includes("acme/priv"), `${who} GET ${p} mentions a private repo`);
      }
    }
    // ...but do show them to their owner (the control that makes the above meaningful).
    const own = await api(B, "GET", "/api/models?search=priv", { token: T.alice.read });
    assert.ok(own.json.map((x) => x.id).includes("alice/priv"), `alice does not find her own private repo: ${own.describe()}`);
    const pub = await api(B, "GET", "/api/models?author=alice");
    assert.ok(pub.json.map((x) => x.id).includes("alice/pub"), pub.describe());
  });

  it("V1: path normalization does not route around the privacy check", async () => {
    const secret = F["alice/priv"].readme.toString();
    for (const p of [
      "/alice/pub/../priv/resolve/main/README.md",
      "/alice/pub/..%2fpriv/resolve/main/README.md",
      "/api/models/alice/pub/../priv",
      "/api/models/alice/pub/..%2f..%2fmodels/alice/priv",
      "/alice/./priv/resolve/main/README.md",
      "/alice//priv/resolve/main/README.md",
    ]) {
      const r = await rawRequest(B, "GET", p);
      assert.ok(r.status >= 400 && r.status < 500, `GET ${p} as anonymous:\n${r.describe()}`);
      assert.ok(!r.text.includes(secret.slice(-30)), `GET ${p} leaked alice/priv's README`);
    }
  });

  it("V4: LFS objects are authorized per repo, not per hash", async (t) => {
    const { oid, bytes } = F["alice/priv"];
    const size = bytes.length;
    await hub.createRepo({ ...c(T.mallory.write), repo: "mallory/loot" });
    const leaked = (buf) => buf.length === size && sha256(buf) === oid;

    // (a1) a pointer file committed through the API as a regular file.
    const r1 = await commitRaw(
      B,
      "model",
      "mallory/loot",
      [header("pointer"), { key: "file", value: { path: "loot.bin", content: lfsPointer(oid, size).toString("base64"), encoding: "base64" } }],
      { token: T.mallory.write },
    );
    if (r1.status === 200) {
      const got = await api(B, "GET", "/mallory/loot/resolve/main/loot.bin", { token: T.mallory.write, redirect: "follow" });
      assert.ok(!leaked(got.bytes), `resolve in mallory/loot served alice/priv's bytes:\n${got.describe()}`);
      const raw = await api(B, "GET", "/mallory/loot/raw/main/loot.bin", { token: T.mallory.write, redirect: "follow" });
      assert.ok(!leaked(raw.bytes), "raw served alice/priv's bytes");
    } else {
      assertError(r1);
    }

    // (a2) the same pointer pushed with git, marked LFS by .gitattributes, no LFS upload.
    const g = gitEnv({ user: "mallory", token: T.mallory.write });
    const dir = path.join(g.home, "loot");
    await g.run(["clone", `${B}/mallory/loot`, dir], { env: { GIT_LFS_SKIP_SMUDGE: "1" } });
    fs.writeFileSync(path.join(dir, ".gitattributes"), "*.bin filter=lfs diff=lfs merge=lfs -text\n");
    fs.writeFileSync(path.join(dir, "pushed.bin"), lfsPointer(oid, size));
    await g.run(["add", ".gitattributes", "pushed.bin"], { cwd: dir });
    await g.run(["commit", "-q", "-m", "steal by pointer"], { cwd: dir });
    const push = await g.try(["-c", "core.hooksPath=/dev/null", "push", "origin", "main"], { cwd: dir });
    t.diagnostic(
      `pointer committed as a file: ${r1.status}; pointer pushed with git: ${push.code === 0 ? "accepted" : "refused: " + (push.stderr.match(/remote: .*/g) ?? []).join(" | ")}`,
    );
    if (push.code === 0) {
      const got = await api(B, "GET", "/mallory/loot/resolve/main/pushed.bin", { token: T.mallory.write, redirect: "follow" });
      assert.ok(!leaked(got.bytes), `resolve served alice/priv's bytes through a pushed pointer:\n${got.describe()}`);
      const smudge = await g.try(["lfs", "pull"], { cwd: dir });
      assert.ok(!leaked(fs.readFileSync(path.join(dir, "pushed.bin"))), `git lfs pull fetched alice/priv's object into mallory's clone:\n${smudge.stderr}`);
    }

    // (b) LFS batch download on mallory's repo for alice's oid.
    for (const repo of ["mallory/loot", "alice/pub"]) {
      const b = await lfsBatch(B, repo, { operation: "download", objects: [{ oid, size }], token: T.mallory.write });
      if (b.status === 200) {
        const o = b.json.objects?.[0];
        assert.ok(o, b.describe());
        assert.equal(o.actions?.download, undefined, `batch download on ${repo} offers alice/priv's object:\n${b.describe()}`);
        assert.ok(o.error && o.error.code >= 400, `no per-object error:\n${b.describe()}`);
      } else {
        assert.ok(b.status >= 400 && b.status < 500, b.describe());
      }
    }
    // The control: alice gets it through her own repo.
    const ok = await lfsBatch(B, "alice/priv", { operation: "download", objects: [{ oid, size }], token: T.alice.read });
    assert.equal(ok.status, 200, ok.describe());
    const href = ok.json.objects[0].actions?.download?.href;
    assert.ok(href, ok.describe());
    const dl = await api(B, "GET", href, { headers: ok.json.objects[0].actions.download.header ?? {}, redirect: "follow" });
    assert.ok(leaked(dl.bytes), `the owner's download href does not give the object:\n${dl.describe()}`);
    // V3: a download href outlives the access check behind it, so it is short-lived.
    const exp = Date.parse(ok.json.objects[0].actions.download.expires_at);
    assert.ok(exp > Date.now() && exp <= Date.now() + 3600 * 1000 + 5000, `download href valid until ${ok.json.objects[0].actions.download.expires_at}`);
    assert.ok(Number(new URL(href).searchParams.get("expires")) * 1000 <= Date.now() + 3600 * 1000 + 5000, href);
  });

  it("V5: no dedup oracle: an oid stored only in alice/priv must be uploaded again, and a commit without the bytes fails", async () => {
    const { oid, bytes } = F["alice/priv"];
    const size = bytes.length;
    const ghostBytes = randomBytes(size);
    const ghost = sha256(ghostBytes);
    await hub.createRepo({ ...c(T.mallory.write), repo: "mallory/v5" });
    const known = await lfsBatch(B, "mallory/v5", { objects: [{ oid, size }], token: T.mallory.write });
    const unknown = await lfsBatch(B, "mallory/v5", { objects: [{ oid: ghost, size }], token: T.mallory.write });
    assert.equal(known.status, 200, known.describe());
    assert.ok(known.json.objects[0].actions?.upload, `the batch answer says "already stored" for another user's private object:\n${known.describe()}`);
    // Compare the two answers with the oids, signatures and expiry times blanked.
    const shape = (r) =>
      JSON.stringify(r.json, (k, v) => {
        if (/^expires/.test(k)) return "<EXP>";
        if (typeof v !== "string") return v;
        return v
          .split(oid)
          .join("<OID>")
          .split(ghost)
          .join("<OID>")
          .replace(/[?#].*$/, "?<Q>")
          .replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/, "<DATE>");
      });
    assert.equal(shape(known), shape(unknown), "the batch answers for a stored and a never-seen oid differ");

    const st = await repoState(B, "model", "mallory/v5", T.mallory.write);
    const ck = await commitRaw(B, "model", "mallory/v5", [header("steal"), { key: "lfsFile", value: { path: "loot.bin", algo: "sha256", oid, size } }], {
      token: T.mallory.write,
    });
    const cu = await commitRaw(B, "model", "mallory/v5", [header("steal"), { key: "lfsFile", value: { path: "loot.bin", algo: "sha256", oid: ghost, size } }], {
      token: T.mallory.write,
    });
    assertError(ck);
    assertError(cu);
    assert.equal(ck.status, cu.status, `commit of a stored vs never-seen oid:\n${ck.describe()}\n${cu.describe()}`);
    assert.equal(ck.text.replace(oid, "<OID>"), cu.text.replace(ghost, "<OID>"), "the commit errors differ: an existence oracle");
    assert.deepEqual(await repoState(B, "model", "mallory/v5", T.mallory.write), st);
    assertError(await api(B, "GET", "/mallory/v5/resolve/main/loot.bin", { token: T.mallory.write }), 404);

    // Uploading the real bytes (possession proven) then works: dedup is not a wall.
    const href = known.json.objects[0].actions.upload;
    const put = await api(B, "PUT", href.href, { body: bytes, headers: href.header?.chunk_size ? {} : (href.header ?? {}) });
    assert.ok(put.status >= 200 && put.status < 300, put.describe());
    const ok = await commitRaw(B, "model", "mallory/v5", [header("own copy"), { key: "lfsFile", value: { path: "mine.bin", algo: "sha256", oid, size } }], {
      token: T.mallory.write,
    });
    assert.equal(ok.status, 200, ok.describe());
  });

  // ----------------------------------------------------- D. paths and storage

  it("P1: traversal and reserved file paths are refused at commit time, and the repo is unchanged", async () => {
    const st = await repoState(B, "model", "alice/pub", T.alice.write);
    // Decision: "%2e%2e/x" is refused too (SECURITY.md P1 lists it as "rejected
    // at commit time"), although a literal percent sign is otherwise fine.
    const bad = [
      "../x",
      "..\\x",
      "/etc/passwd",
      "a/../../x",
      "a/../b",
      "%2e%2e/x",
      "x\u0000y",
      ".git/config",
      ".git/hooks/post-receive",
      "sub/.git/config",
      "C:\\x",
      "C:x",
      "d:",
      "sub/C:x",
      "x::$DATA",
      "x:stream:$DATA",
      "x:$DATA",
      "",
      ".",
      "..",
      "a//b",
      "./x",
      "a/./b",
      "a/",
      ".GIT/config",
    ];
    const check = collector();
    for (const p of bad) {
      for (const op of ["file", "lfsFile", "deletedFile"]) {
        const line =
          op === "file"
            ? fileLine(p)
            : op === "lfsFile"
              ? { key: "lfsFile", value: { path: p, algo: "sha256", oid: F["alice/pub"].oid, size: F["alice/pub"].bytes.length } }
              : { key: "deletedFile", value: { path: p } };
        await check(async () => {
          const r = await commitRaw(B, "model", "alice/pub", [header(), line], { token: T.alice.write });
          assertError(r, op === "deletedFile" ? [400, 404, 422] : [400, 422]);
        });
      }
    }
    // Overlong UTF-8 for "../" (C0 AE is an invalid encoding of "."): raw bytes in the JSON string.
    const overlong = Buffer.concat([
      Buffer.from('{"key":"header","value":{"summary":"x"}}\n{"key":"file","value":{"path":"'),
      Buffer.from([0xc0, 0xae, 0xc0, 0xae, 0x2f, 0x78]),
      Buffer.from('","content":"eA==","encoding":"base64"}}\n'),
    ]);
    await check(async () => assertError(await commitRaw(B, "model", "alice/pub", overlong, { token: T.alice.write }), [400, 422]));
    check.done("bad paths were accepted");
    assert.deepEqual(await repoState(B, "model", "alice/pub", T.alice.write), st, "a refused commit changed alice/pub");

    // A ':' that means nothing to Windows is an ordinary character (timestamps in log names).
    const made = await api(B, "POST", "/api/repos/create", { token: T.alice.write, json: { name: "p1-colons" } });
    assert.equal(made.status, 200, made.describe());
    for (const p of ["logs/2024-01-01T00:00:00.json", "run-10:30/x.txt"]) {
      const r = await commitRaw(B, "model", "alice/p1-colons", [header(), fileLine(p)], { token: T.alice.write });
      assert.equal(r.status, 200, `${p}: ${r.describe()}`);
      const got = await rawRequest(B, "GET", `/alice/p1-colons/resolve/main/${p.split("/").map(encodeURIComponent).join("/")}`);
      assert.equal(got.status, 200, `${p}: ${got.describe()}`);
    }

    // resolve/raw never leave the repo's object space, with or without normalization.
    const secret = F["alice/priv"].readme.toString().slice(-30);
    const check2 = collector();
    for (const p of [
      "/alice/pub/resolve/main/..%2f..%2f..%2f..%2fetc/passwd",
      "/alice/pub/resolve/main/../../../../../../etc/passwd",
      "/alice/pub/resolve/main/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
      "/alice/pub/resolve/main/..%5c..%5c..%5cetc/passwd",
      "/alice/pub/raw/main/..%2f..%2f..%2f..%2fetc/passwd",
      "/alice/pub/resolve/main/%2fetc%2fpasswd",
      "/alice/pub/resolve/main/.git/config",
      "/alice/pub/resolve/main/..%2f..%2fhuddle.db",
      "/alice/pub/resolve/main/..%2fpriv%2fREADME.md",
      "/alice/pub/resolve/main/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
      "/alice/pub/resolve/main/README.md%00.txt",
      "/api/models/alice/pub/tree/main/..%2f..%2f..",
    ]) {
      await check2(async () => {
        const r = await rawRequest(B, "GET", p);
        assert.ok(!/root:.*:0:0:/.test(r.text), `GET ${p} served /etc/passwd`);
        assert.ok(!r.text.includes("SQLite format 3"), `GET ${p} served the database`);
        assert.ok(!r.text.includes(secret), `GET ${p} served alice/priv's README`);
        assert.ok(!/\[core\]/.test(r.text), `GET ${p} served a git config`);
        assert.ok(r.status >= 400 && r.status < 500, `GET ${p}:\n${r.describe()}`);
      });
    }
    check2.done("traversal requests were not refused");
  });

  it("P2: repo and namespace names follow a strict grammar; names are unique regardless of case", async () => {
    const badNames = [
      "..",
      ".",
      ".git",
      "a/b",
      "a/b/c",
      "-upload-pack=x",
      "--help",
      "x".repeat(200),
      "\u0430lice-model",
      "name with space",
      "",
      "x;id",
      "x%2fy",
      "x\u0000y",
      ".hidden",
      "a\\b",
      "$(id)",
      "x\ny",
    ];
    const check = collector();
    for (const name of badNames) {
      await check(async () => {
        const r = await api(B, "POST", "/api/repos/create", { token: T.alice.write, json: { name, organization: "alice", type: "model" } });
        // A name with a slash may be read as "namespace/name" (old clients send
        // that form); a 404 for the namespace it names is then a clean refusal too.
        assertError(r, name.includes("/") ? [400, 404, 422] : [400, 422]);
      });
    }
    for (const organization of ["..", "-x", "a/b", "ALICE\u0000"]) {
      await check(async () => {
        const r = await api(B, "POST", "/api/repos/create", { token: T.alice.write, json: { name: `ok-${rid()}`, organization, type: "model" } });
        assertError(r, [400, 403, 404, 422]);
      });
    }
    check.done("bad repo names were not refused");
    assertError(
      await api(B, "POST", "/api/repos/create", { token: T.alice.write, json: { name: `ok-${rid()}`, organization: "mallory", type: "model" } }),
      403,
    );
    assertError(await api(B, "POST", "/api/repos/create", { token: T.alice.write, json: { name: `ok-${rid()}`, type: "weird" } }), [400, 422]);
    const listed = await api(B, "GET", "/api/models?author=alice&limit=500", { token: T.alice.write });
    for (const x of listed.json) assert.match(x.id, /^alice\/[A-Za-z0-9][A-Za-z0-9._-]*$/, `a bad name got through: ${x.id}`);

    const name = `CaseRepo-${rid()}`;
    assert.equal((await api(B, "POST", "/api/repos/create", { token: T.alice.write, json: { name, organization: "alice", type: "model" } })).status, 200);
    assertError(
      await api(B, "POST", "/api/repos/create", { token: T.alice.write, json: { name: name.toLowerCase(), organization: "alice", type: "model" } }),
      409,
    );
    assertError(
      await api(B, "POST", "/api/repos/create", { token: T.alice.write, json: { name: name.toUpperCase(), organization: "alice", type: "model" } }),
      409,
    );

    // The CLI applies the same grammar to user and org names.
    for (const bad of ["..", "a/b", "-x", "--admin", "x y", "ALICE", "Alice"]) {
      const r = await cliRaw(srv.dataDir, "user", "create", bad);
      assert.notEqual(r.code, 0, `huddle user create ${JSON.stringify(bad)} succeeded`);
    }
    for (const bad of [".git", "ACME", "a/b"]) {
      const r = await cliRaw(srv.dataDir, "org", "create", bad);
      assert.notEqual(r.code, 0, `huddle org create ${JSON.stringify(bad)} succeeded`);
    }
  });

  it("P3: option-like and shell-like revisions are data: 4xx, nothing executed", async () => {
    const check = collector();
    const revs = [
      "--upload-pack=touch pwned",
      "-o",
      "HEAD;id",
      "--output=/tmp/huddle-pwned",
      "$(touch pwned)",
      "`touch pwned`",
      "-",
      "--",
      "main --all",
      "main\nid",
      "--exec=touch pwned",
      "-c core.pager=touch pwned",
    ];
    const st = await repoState(B, "model", "alice/pub", T.alice.write);
    for (const rev of revs) {
      const e = encodeURIComponent(rev);
      // Creating a branch or tag named "HEAD;id" is legal git grammar (data, not
      // an injection); the others are not valid ref names and must be refused.
      const creates =
        rev === "HEAD;id"
          ? []
          : [
              ["POST", `/api/models/alice/pub/branch/${e}`, { json: {} }],
              ["POST", `/api/models/alice/pub/tag/main`, { json: { tag: rev } }],
            ];
      for (const [meth, p, o] of [
        ...creates,
        ["GET", `/alice/pub/resolve/${e}/README.md`],
        ["GET", `/alice/pub/raw/${e}/README.md`],
        ["GET", `/api/models/alice/pub/tree/${e}`],
        ["GET", `/api/models/alice/pub/commits/${e}`],
        ["GET", `/api/models/alice/pub/revision/${e}`],
        ["POST", `/api/models/alice/pub/paths-info/${e}`, { json: { paths: ["README.md"] } }],
        ["POST", "/api/models/alice/pub/branch/p3", { json: { startingPoint: rev } }],
        ["POST", `/api/models/alice/pub/tag/${e}`, { json: { tag: "p3" } }],
        ["POST", `/api/models/alice/pub/commit/${e}`, { body: ndjson([header(), fileLine("p3.txt")]), headers: { "Content-Type": "application/x-ndjson" } }],
      ]) {
        await check(async () => {
          const r = await api(B, meth, p, { token: T.alice.write, ...(o ?? {}) });
          assertError(r, [400, 404, 422]);
        });
      }
    }
    check.done("option-like revisions were not refused");
    assert.deepEqual(await repoState(B, "model", "alice/pub", T.alice.write), st);
    for (const f of [path.join(cwd, "pwned"), path.join(srv.dataDir, "pwned"), "/tmp/huddle-pwned", path.join(cwd, "id")])
      assert.ok(!fs.existsSync(f), `${f} exists: something ran`);
    const found = walkFiles(srv.dataDir).filter((p) => /pwned/.test(p));
    assert.deepEqual(found, []);
  });

  it("P5: malformed LFS oids are refused before any storage access", async () => {
    const bad = [
      "abc",
      "0".repeat(63),
      "0".repeat(65),
      "g".repeat(64),
      `../../../../etc/passwd${"0".repeat(40)}`,
      `..%2f..%2f${"0".repeat(58)}`,
      "",
      `sha256:${"0".repeat(64)}`,
      "0".repeat(32) + "/" + "0".repeat(31),
      "0".repeat(63) + "\u0000",
      " " + "0".repeat(63),
    ];
    const before = walkFiles(srv.dataDir).sort();
    // Decision: a batch may refuse the whole request (400/422) or answer 200
    // with a per-object error and no actions (the git-lfs batch convention).
    const check = collector();
    for (const oid of bad) {
      for (const operation of ["upload", "download"]) {
        await check(async () => {
          const r = await lfsBatch(B, "alice/pub", { operation, objects: [{ oid, size: 10 }], token: T.alice.write });
          if (r.status === 200) {
            const o = r.json.objects?.[0];
            assert.ok(
              o && o.error && o.error.code >= 400 && o.error.code < 500 && !o.actions,
              `${operation} oid ${JSON.stringify(oid)} got actions:\n${r.describe()}`,
            );
          } else {
            assertError(r, [400, 422]);
          }
        });
      }
      await check(async () => {
        const c1 = await commitRaw(B, "model", "alice/pub", [header(), { key: "lfsFile", value: { path: "p5.bin", algo: "sha256", oid, size: 10 } }], {
          token: T.alice.write,
        });
        assertError(c1, [400, 422]);
      });
    }
    check.done("malformed oids were not refused");
    assertError(
      await commitRaw(B, "model", "alice/pub", [header(), { key: "lfsFile", value: { path: "p5.bin", algo: "md5", oid: "0".repeat(64), size: 10 } }], {
        token: T.alice.write,
      }),
      [400, 422],
    );
    const after = walkFiles(srv.dataDir)
      .sort()
      .filter((p) => !/^(huddle\.db|tmp\/)/.test(p));
    const created = after.filter((p) => !before.includes(p));
    assert.deepEqual(
      created.filter((p) => !p.startsWith("repos/")),
      [],
      "bad oids created files",
    );
  });

  it("P7: absurd sizes and oversized bodies get a clean 4xx, and the server keeps serving", async () => {
    const oid = sha256(randomBytes(16));
    for (const size of ["9223372036854775808", "18446744073709551616", "-1", "1e30", '"12"', "null", "1.5"]) {
      const body = `{"operation":"upload","transfers":["basic","multipart"],"hash_algo":"sha_256","ref":{"name":"main"},"objects":[{"oid":"${oid}","size":${size}}]}`;
      const r = await api(B, "POST", "/alice/pub.git/info/lfs/objects/batch", {
        token: T.alice.write,
        body,
        headers: { "Content-Type": "application/vnd.git-lfs+json", Accept: "application/vnd.git-lfs+json" },
      });
      if (r.status === 200) {
        const o = r.json.objects?.[0];
        assert.ok(o?.error && !o.actions, `size ${size} accepted:\n${r.describe()}`);
      } else {
        assert.ok([400, 413, 422].includes(r.status), `size ${size}:\n${r.describe()}`);
      }
      const c1 = await commitRaw(
        B,
        "model",
        "alice/pub",
        `{"key":"header","value":{"summary":"x"}}\n{"key":"lfsFile","value":{"path":"p7.bin","algo":"sha256","oid":"${oid}","size":${size}}}\n`,
        { token: T.alice.write },
      );
      assertError(c1, [400, 413, 422]);
    }
    // Bodies over --max-body: 413 with the error shape, not a crash or a partial commit.
    const st = await repoState(B, "model", "alice/pub", T.alice.write);
    const big = Buffer.alloc(MAX_BODY + MiB, 0x61).toString("base64");
    const hugeCommit = Buffer.from(ndjson([header(), { key: "file", value: { path: "huge.txt", content: big, encoding: "base64" } }]));
    const auth = { Authorization: `Bearer ${T.alice.write}` };
    assertError(await sendWithContinue(B, "POST", "/api/models/alice/pub/commit/main", hugeCommit, { ...auth, "Content-Type": "application/x-ndjson" }), 413);
    const hugePre = Buffer.from(JSON.stringify({ files: [{ path: "a", size: 1, sample: big }] }));
    assertError(await sendWithContinue(B, "POST", "/api/models/alice/pub/preupload/main", hugePre, { ...auth, "Content-Type": "application/json" }), 413);
    assert.deepEqual(await repoState(B, "model", "alice/pub", T.alice.write), st);
    // Many tiny files in one commit: either accepted completely or refused cleanly.
    const lines = [header("many tiny")];
    for (let i = 0; i < 3000; i++) lines.push(fileLine(`tiny/${i}.txt`, `${i}`));
    const many = await commitRaw(B, "model", "alice/pub", lines, { token: T.alice.write });
    if (many.status === 200) {
      const pi = await api(B, "POST", "/api/models/alice/pub/paths-info/main", { token: T.alice.write, json: { paths: ["tiny/0.txt", "tiny/2999.txt"] } });
      assert.equal(pi.json?.length, 2, pi.describe());
    } else {
      assertError(many, [400, 413, 422]);
      assert.deepEqual(await repoState(B, "model", "alice/pub", T.alice.write), st);
    }
    assert.equal((await api(B, "GET", "/api/whoami-v2", { token: T.alice.read })).status, 200, "the server stopped answering");
  });

  it("P8: uploaded bytes must match the oid and size, basic and multipart; nothing is published otherwise", async () => {
    const lfsPath = (o) => path.join(srv.dataDir, "lfs", o.slice(0, 2), o.slice(2, 4), o);
    const bytes = randomBytes(2 * MiB);
    const oid = sha256(bytes);
    const batch = async () => {
      const r = await lfsBatch(B, "alice/pub", { objects: [{ oid, size: bytes.length }], token: T.alice.write });
      assert.equal(r.status, 200, r.describe());
      const up = r.json.objects[0].actions?.upload;
      assert.ok(up?.href, `no upload action for a new object:\n${r.describe()}`);
      return up;
    };
    const wrong = Buffer.from(bytes);
    wrong[12345] ^= 1;
    for (const [what, body] of [
      ["sha mismatch", wrong],
      ["short", bytes.subarray(0, bytes.length - 1)],
      ["long", Buffer.concat([bytes, Buffer.from("x")])],
      ["empty", Buffer.alloc(0)],
    ]) {
      const up = await batch();
      const r = await api(B, "PUT", up.href, { body, headers: up.header ?? {} });
      assertError(r);
      assert.ok(!fs.existsSync(lfsPath(oid)), `${what}: an object was published under ${oid}`);
    }
    const cm = await commitRaw(B, "model", "alice/pub", [header(), { key: "lfsFile", value: { path: "p8.bin", algo: "sha256", oid, size: bytes.length } }], {
      token: T.alice.write,
    });
    assertError(cm);
    // The verify step (if offered) refuses a size that does not match.
    const rv = await lfsBatch(B, "alice/pub", { objects: [{ oid, size: bytes.length }], token: T.alice.write });
    const verify = rv.json.objects[0].actions?.verify;
    if (verify) {
      const v = await api(B, "POST", verify.href, { token: T.alice.write, json: { oid, size: bytes.length }, headers: verify.header ?? {} });
      assertError(v);
    }

    // Multipart (threshold 4 MiB, 1 MiB parts): a corrupted part, a missing part.
    // A fresh object for each case, so parts left over from one case cannot
    // complete another with correct bytes.
    for (const what of ["corrupt part", "missing part"]) {
      const mbytes = randomBytes(5 * MiB);
      const moid = sha256(mbytes);
      const r = await lfsBatch(B, "alice/pub", { objects: [{ oid: moid, size: mbytes.length }], token: T.alice.write });
      const up = r.json.objects[0].actions?.upload;
      assert.ok(up?.header?.chunk_size, `expected a multipart upload above the threshold:\n${r.describe()}`);
      const cs = Number(up.header.chunk_size);
      const keys = Object.keys(up.header)
        .filter((k) => /^[0-9]+$/.test(k))
        .sort();
      assert.equal(keys.length, Math.ceil(mbytes.length / cs));
      const parts = [];
      for (const [i, k] of keys.entries()) {
        if (what === "missing part" && i === 2) continue;
        let chunk = mbytes.subarray(i * cs, (i + 1) * cs);
        if (what === "corrupt part" && i === 1) {
          chunk = Buffer.from(chunk);
          chunk[7] ^= 0xff;
        }
        const p = await api(B, "PUT", up.header[k], { body: chunk });
        assert.ok(p.status >= 200 && p.status < 300 && p.header("etag"), p.describe());
        parts.push({ partNumber: i + 1, etag: p.header("etag") });
      }
      const done = await api(B, "POST", up.href, {
        body: JSON.stringify({ oid: moid, parts }),
        headers: { "Content-Type": "application/vnd.git-lfs+json", Accept: "application/vnd.git-lfs+json" },
      });
      assertError(done);
      assert.ok(!fs.existsSync(lfsPath(moid)), `${what}: the multipart object was published`);
      assertError(
        await commitRaw(B, "model", "alice/pub", [header(), { key: "lfsFile", value: { path: "p8m.bin", algo: "sha256", oid: moid, size: mbytes.length } }], {
          token: T.alice.write,
        }),
      );
    }
  });

  it("T3/T7 (issue 2: effective on the next request): revocation and membership removal", async () => {
    // Revocation: the very next request on every surface is refused.
    const t = await tokenCreate(srv.dataDir, "alice", { role: "write" });
    assert.equal((await api(B, "GET", "/api/models/alice/priv", { token: t })).status, 200);
    assert.equal((await api(B, "GET", "/alice/priv.git/info/refs?service=git-upload-pack", { basic: `alice:${t}` })).status, 200);
    await tokenRevoke(srv.dataDir, "alice", t);
    assertError(await api(B, "GET", "/api/whoami-v2", { token: t }), 401);
    assertError(await api(B, "GET", "/api/models/alice/priv", { token: t }), 401);
    assertError(await api(B, "GET", "/alice/priv/resolve/main/README.md", { token: t }), 401);
    assertError(await commitRaw(B, "model", "alice/pub", [header(), fileLine("revoked.txt")], { token: t }), 401);
    assertError(await lfsBatch(B, "alice/priv", { operation: "download", objects: [{ oid: F["alice/priv"].oid, size: 2 * MiB }], token: t }), 401);
    const git = await api(B, "GET", "/alice/priv.git/info/refs?service=git-upload-pack", { basic: `alice:${t}` });
    assert.equal(git.status, 401, git.describe());

    // Role change: carol's existing token loses acme/priv as soon as she leaves acme.
    const ct = T.carol.write;
    assert.equal((await api(B, "GET", "/api/models/acme/priv", { token: ct })).status, 200);
    await cli(srv.dataDir, "org", "remove-member", "acme", "carol");
    try {
      assertError(await api(B, "GET", "/api/models/acme/priv", { token: ct }), 404);
      assertError(await commitRaw(B, "model", "acme/priv", [header(), fileLine("carol-gone.txt")], { token: ct }), [403, 404]);
      const g = await api(B, "GET", "/acme/priv.git/info/refs?service=git-upload-pack", { basic: `carol:${ct}` });
      assert.ok([401, 404].includes(g.status), g.describe());
    } finally {
      await cli(srv.dataDir, "org", "add-member", "acme", "carol", "--role", "write");
    }
    assert.equal((await api(B, "GET", "/api/models/acme/priv", { token: ct })).status, 200, "re-added: access is back");
  });

  it("H2: a crafted listing query cannot add a link of its own to the Link header", async () => {
    const r = await rawRequest(B, "GET", '/api/models?limit=1&x=">;rel="next",<http://evil.invalid/>&y=%3E');
    assert.equal(r.status, 200, r.describe());
    const link = r.header("link") ?? "";
    assert.match(link, /^<http:\/\/[^>]*>; rel="next"$/, `one absolute next link expected: ${link}`);
    assert.ok(!link.includes("<http://evil"), `the query forged a link: ${link}`);
  });

  it("afterwards: every object in the LFS store has the bytes its name says, and git fsck is clean", async () => {
    assert.ok(assertLfsStoreConsistent(srv.dataDir) >= 3, "expected the fixture's objects under lfs/");
    await assertReposFsckClean(srv.dataDir);
  });
});

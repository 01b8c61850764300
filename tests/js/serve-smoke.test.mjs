// serve-smoke.test.mjs: the HTTP layer of `huddle serve` (owner: hub-http).
// What the acceptance suites do not pin down on their own: request ids on
// every answer, path decoding errors, revisions with %2F and raw slashes,
// Range corner cases, the download headers of user files (nosniff,
// attachment), the access log (no query strings, no tokens), git smart HTTP
// refusals, the idle timeout, and a clean exit on SIGTERM.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startServer, userCreate, tokenCreate } from "./lib/huddle.mjs";
import { api, rawRequest, assertError } from "./lib/http.mjs";
import { hub } from "./lib/hub.mjs";
import { sleep, slow } from "./lib/util.mjs";

describe("huddle serve: the HTTP layer", () => {
  let srv, B, tok;
  const REPO = "alice/smoke";
  const C = (extra = {}) => ({ hubUrl: B, accessToken: tok, ...extra });

  before(async () => {
    srv = await startServer({ args: ["--timeout", "2", "--list-page-size", "1"] });
    B = srv.url;
    await userCreate(srv.dataDir, "alice");
    tok = await tokenCreate(srv.dataDir, "alice", { role: "write" });
    await hub.createRepo(C({ repo: REPO }));
    await hub.createRepo(C({ repo: "alice/smoke-2" }));
    await hub.uploadFiles(C({
      repo: REPO,
      files: [
        { path: "notes.txt", content: new Blob(["0123456789"]) },
        { path: "page.html", content: new Blob(["<script>alert(1)</script>"]) },
        { path: "sub/x.bin", content: new Blob([Buffer.from([0, 1, 2, 3])]) },
      ],
    }));
    await hub.createBranch(C({ repo: REPO, branch: "dev/x", revision: "main" }));
    await hub.uploadFile(C({ repo: REPO, branch: "dev/x", file: { path: "sub/dev.txt", content: new Blob(["on dev/x\n"]) } }));
  });

  after(async () => {
    if (!srv) return;
    const r = await srv.stop();
    assert.equal(r.code, 0, `huddle serve did not exit 0 on SIGTERM (code ${r.code}, signal ${r.signal}):\n${r.output.slice(-3000)}`);
  });

  it("prints exactly one listening line and answers with a request id everywhere", async () => {
    assert.match(B, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(srv.output().split("\n").filter((l) => l.includes("huddle listening on")).length, 1);
    const seen = new Set();
    for (const [m, p, opts] of [["GET", "/api/whoami-v2", { token: tok }], ["GET", "/api/whoami-v2", { token: "hf_" + "y".repeat(34) }], ["GET", "/no/such/thing/here/at/all", {}], ["GET", `/${REPO}/resolve/main/notes.txt`, {}]]) {
      const r = await api(B, m, p, opts);
      const id = r.header("x-request-id");
      assert.match(id ?? "", /^[0-9a-f]{16}$/, r.describe());
      seen.add(id);
    }
    assert.equal(seen.size, 4, "request ids repeat");
    assertError(await api(B, "GET", "/no/such/thing/here/at/all"), 404);
  });

  it("path segments that do not decode are a 400 with the error shape", async () => {
    for (const p of [`/${REPO}/resolve/main/%ff.txt`, `/${REPO}/resolve/main/a%00b`, `/${REPO}/resolve/main/%zz`, "/api/models/alice/sm%c0%aeoke", `/api/models/${REPO}/tree/main?cursor=%ff`]) {
      const r = await rawRequest(B, "GET", p);
      assertError(r, 400);
    }
  });

  it("revisions: %2F-encoded and raw slashes (longest existing ref)", async () => {
    const enc = await api(B, "GET", `/${REPO}/resolve/dev%2Fx/sub/dev.txt`, { token: tok });
    assert.equal(enc.status, 200, enc.describe());
    assert.equal(enc.text, "on dev/x\n");
    const tree = await api(B, "GET", `/api/models/${REPO}/tree/dev/x/sub`, { token: tok });
    assert.equal(tree.status, 200, tree.describe());
    assert.deepEqual(tree.json.map((e) => e.path).sort(), ["sub/dev.txt", "sub/x.bin"]);
    const info = await api(B, "GET", `/api/models/${REPO}/revision/dev%2Fx`, { token: tok });
    assert.equal(info.status, 200, info.describe());
    const commits = await api(B, "GET", `/api/models/${REPO}/commits/dev/x`, { token: tok });
    assert.equal(commits.status, 200, commits.describe());
    assert.equal(commits.json[0].id, info.json.sha);
    assert.equal(commits.header("x-total-count"), String(commits.json.length));
    assertError(await api(B, "GET", `/${REPO}/resolve/nope%2Fx/notes.txt`, { token: tok }), 404, { code: "RevisionNotFound" });
  });

  it("Range: single ranges only, suffixes, HEAD without a body", async () => {
    const p = `/${REPO}/resolve/main/notes.txt`;
    const suffix = await api(B, "GET", p, { headers: { Range: "bytes=-3" } });
    assert.equal(suffix.status, 206, suffix.describe());
    assert.equal(suffix.text, "789");
    assert.equal(suffix.header("content-range"), "bytes 7-9/10");
    const open = await api(B, "GET", p, { headers: { Range: "bytes=4-" } });
    assert.equal(open.text, "456789");
    const multi = await api(B, "GET", p, { headers: { Range: "bytes=0-1,3-4" } });
    assert.equal(multi.status, 200, "several ranges: the whole file");
    assert.equal(multi.text, "0123456789");
    const many = await api(B, "GET", p, { headers: { Range: "bytes=" + Array(2000).fill("0-").join(",") } });
    assert.equal(many.status, 200);
    const huge = await api(B, "GET", p, { headers: { Range: "bytes=18446744073709551616-" } });
    assert.equal(huge.status, 416, huge.describe());
    assert.equal(huge.header("content-range"), "bytes */10");
    const head = await api(B, "HEAD", p, { headers: { Range: "bytes=2-3" } });
    assert.equal(head.status, 206);
    assert.equal(head.header("content-length"), "2");
    assert.equal(head.bytes.length, 0);
  });

  it("user files: nosniff always, attachment unless the type is inline-safe", async () => {
    const html = await api(B, "GET", `/${REPO}/resolve/main/page.html`);
    assert.equal(html.header("x-content-type-options"), "nosniff");
    assert.match(html.header("content-disposition") ?? "", /^attachment/, html.describe());
    assert.equal(html.header("content-type"), "application/octet-stream");
    const txt = await api(B, "GET", `/${REPO}/raw/main/notes.txt`);
    assert.equal(txt.header("x-content-type-options"), "nosniff");
    assert.equal(txt.header("content-disposition"), null);
    assert.match(txt.header("content-type") ?? "", /^text\/plain/);
    // ?download=true makes any file an attachment, as the Hub answers it
    const dl = await api(B, "GET", `/${REPO}/resolve/main/notes.txt?download=true`);
    assert.equal(dl.status, 200);
    assert.match(dl.header("content-disposition") ?? "", /^attachment; filename\*=UTF-8''notes\.txt$/, dl.describe());
  });

  it("downloads: a whole-file GET through resolve counts once; HEAD, probes and raw do not", async () => {
    const before = (await api(B, "GET", "/api/models/alice/smoke-2", { token: tok })).json.downloads;
    await hub.uploadFile(C({ repo: "alice/smoke-2", file: { path: "d.txt", content: new Blob(["d"]) } }));
    await api(B, "HEAD", "/alice/smoke-2/resolve/main/d.txt");
    await api(B, "GET", "/alice/smoke-2/resolve/main/d.txt", { headers: { Range: "bytes=0-0" } });
    await api(B, "GET", "/alice/smoke-2/raw/main/d.txt");
    await api(B, "GET", "/alice/smoke-2/resolve/main/d.txt");
    const after = (await api(B, "GET", "/api/models/alice/smoke-2", { token: tok })).json.downloads;
    assert.equal(after, before + 1);
  });

  it("listing pages: an absolute Link with a space after ';'", async () => {
    const r = await api(B, "GET", "/api/models?search=smoke&limit=50", { token: tok });
    assert.equal(r.json.length, 1, "--list-page-size 1 caps the page");
    assert.match(r.header("link") ?? "", new RegExp(`^<${B}/api/models\\?search=smoke&limit=50&cursor=[^>]+>; rel="next"$`), r.describe());
  });

  it("git smart HTTP: only the smart protocol, nothing executed from the URL", async () => {
    const dumb = await api(B, "GET", `/${REPO}.git/info/refs`);
    assert.equal(dumb.status, 403, dumb.describe());
    const odd = await api(B, "GET", `/${REPO}.git/info/refs?service=--upload-pack=touch%20/tmp/pwned`);
    assert.equal(odd.status, 403, odd.describe());
    const adv = await api(B, "GET", `/${REPO}.git/info/refs?service=git-upload-pack`);
    assert.equal(adv.status, 200, adv.describe());
    assert.equal(adv.header("content-type"), "application/x-git-upload-pack-advertisement");
    assert.match(adv.text, /^001e# service=git-upload-pack\n/);
    const push = await api(B, "GET", `/${REPO}.git/info/refs?service=git-receive-pack`);
    assert.equal(push.status, 401, "anonymous push: a Basic challenge");
    assert.match(push.header("www-authenticate") ?? "", /^Basic /);
  });

  it("the access log has no query strings and no token bytes", async () => {
    const secret = tok;
    await api(B, "GET", `/api/models?search=x&token=${secret}`, { token: secret });
    await api(B, "GET", "/api/whoami-v2", { basic: `alice:${secret}` });
    await sleep(200);
    const out = srv.output();
    assert.ok(out.includes('"GET /api/models"'), "the request is logged by path");
    assert.ok(!out.includes(secret), "a token reached the server's output");
    assert.ok(!out.includes(secret.slice(3, 20)), "part of a token reached the server's output");
    assert.ok(!/search=x/.test(out), "a query string reached the log");
  });

  it("idle connections are closed after --timeout; the server keeps serving", async () => {
    const t0 = Date.now();
    const closed = await new Promise((resolve) => {
      const s = net.connect(srv.port, "127.0.0.1", () => s.write("GET /api/models HTTP/1.1\r\nHost: x\r\n"));
      s.on("close", () => resolve(Date.now() - t0));
      s.on("error", () => {});
      setTimeout(() => { s.destroy(); resolve(-1); }, slow(15000));
    });
    assert.ok(closed > 0, "a half-sent request held the connection open");
    assert.ok(closed >= 1500, `closed after ${closed} ms, before the 2 s timeout`);
    const r = await api(B, "GET", "/api/models");
    assert.equal(r.status, 200);
  });
});

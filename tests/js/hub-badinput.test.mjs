// hub-badinput.test.mjs: malformed and hostile request bodies. Each must get a
// clear 4xx with the error shape (JSON {"error": "..."} and X-Error-Message),
// and leave the repo exactly as it was: same head commit, same files, same refs.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, userCreate, tokenCreate } from "./lib/huddle.mjs";
import { api, rawRequest, assertError, commitRaw, lfsBatch, ndjson, sendWithContinue } from "./lib/http.mjs";
import { hub, repoState, assertLfsStoreConsistent, assertReposFsckClean } from "./lib/hub.mjs";
import { MiB, sha256, randomBytes } from "./lib/util.mjs";

const MAX_BODY = 1 * MiB;
const REPO = "alice/bad";

describe("bad input: clear 4xx with the error shape, repo unchanged", () => {
  let srv, B, tok, state, lfs;
  const b64 = (s) => Buffer.from(s).toString("base64");
  const H = { key: "header", value: { summary: "bad input" } };
  const file = (p, content = "x") => ({ key: "file", value: { path: p, content: b64(content), encoding: "base64" } });

  // Send `body` as a commit and check the answer and that nothing changed.
  async function refusedCommit(body, what, statuses = [400, 422]) {
    const r = await commitRaw(B, "model", REPO, body, { token: tok });
    assertError(r, statuses);
    assert.deepEqual(await repoState(B, "model", REPO, tok), state, `${what}: the repo changed after a refused commit`);
    return r;
  }

  before(async () => {
    srv = await startServer({ args: ["--max-body", String(MAX_BODY)] });
    B = srv.url;
    await userCreate(srv.dataDir, "alice");
    tok = await tokenCreate(srv.dataDir, "alice", { role: "write" });
    await hub.createRepo({ hubUrl: B, accessToken: tok, repo: REPO });
    lfs = randomBytes(2 * MiB);
    await hub.uploadFiles({
      hubUrl: B,
      accessToken: tok,
      repo: REPO,
      files: [
        { path: "README.md", content: new Blob(["# bad input target\n"]) },
        { path: "sub/keep.txt", content: new Blob(["keep\n"]) },
        { path: "weights.bin", content: new Blob([lfs]) },
      ],
    });
    state = await repoState(B, "model", REPO, tok);
    assert.ok(
      state.files.some((f) => f.includes("weights.bin") && f.includes("lfs:")),
      `fixture: weights.bin should be LFS: ${state.files}`,
    );
  });

  after(async () => {
    if (!srv) return;
    const r = await srv.stop();
    assert.equal(r.code, 0, `huddle serve did not exit cleanly on SIGTERM (code ${r.code}, signal ${r.signal}):\n${r.output.slice(-4000)}`);
  });

  it("malformed NDJSON commit bodies", async () => {
    const cases = {
      "empty body": "",
      "only a newline": "\n",
      "not JSON": "hello world\n",
      "truncated header": '{"key":"header","value":{"summary":"x"}\n',
      "header then truncated file line": `${JSON.stringify(H)}\n{"key":"file","value":{"path":"a.txt","content":"eA==","enc`,
      "a JSON array line": `${JSON.stringify(H)}\n[1,2,3]\n`,
      "a JSON number line": `${JSON.stringify(H)}\n42\n`,
      "a JSON string line": `${JSON.stringify(H)}\n"file"\n`,
      "no header": ndjson([file("a.txt")]),
      "header value not an object": ndjson([{ key: "header", value: "summary" }, file("a.txt")]),
      "line without key": ndjson([H, { value: { path: "a.txt", content: "eA==", encoding: "base64" } }]),
      "key not a string": ndjson([H, { key: 7, value: { path: "a.txt", content: "eA==", encoding: "base64" } }]),
      "file without path": ndjson([H, { key: "file", value: { content: "eA==", encoding: "base64" } }]),
      "file without content": ndjson([H, { key: "file", value: { path: "a.txt", encoding: "base64" } }]),
      "path is a number": ndjson([H, { key: "file", value: { path: 5, content: "eA==", encoding: "base64" } }]),
      "content not base64": ndjson([H, { key: "file", value: { path: "a.txt", content: "!!!not base64!!!", encoding: "base64" } }]),
      "unknown encoding": ndjson([H, { key: "file", value: { path: "a.txt", content: "eA==", encoding: "rot13" } }]),
      "value null": ndjson([H, { key: "file", value: null }]),
      "deeply nested value": `${JSON.stringify(H)}\n{"key":"file","value":${"[".repeat(5000)}${"]".repeat(5000)}}\n`,
      "NUL bytes": `${JSON.stringify(H)}\n\u0000\u0000\u0000\n`,
    };
    for (const [what, body] of Object.entries(cases)) await refusedCommit(body, what);
  });

  it("unknown operation keys", async () => {
    for (const key of ["renameFile", "copyFile", "FILE", "lfsfile", "deletedfile", "", "__proto__", "header2"]) {
      await refusedCommit(ndjson([H, { key, value: { path: "a.txt", content: "eA==", encoding: "base64" } }]), `key ${JSON.stringify(key)}`);
    }
  });

  it("a bad line anywhere refuses the whole commit (nothing partial)", async () => {
    await refusedCommit(ndjson([H, file("partial-1.txt"), file("partial-2.txt"), { key: "bogus", value: {} }]), "bad last line");
    await refusedCommit(`${ndjson([H, file("partial-1.txt")])}{"key":"file","value":{"path":"x"`, "truncated last line");
    const ghost = sha256(randomBytes(32));
    await refusedCommit(
      ndjson([H, file("partial-1.txt"), { key: "lfsFile", value: { path: "ghost.bin", algo: "sha256", oid: ghost, size: 32 } }]),
      "valid file plus unknown LFS oid",
      [400, 404, 422],
    );
  });

  it("a commit naming an LFS oid that was never uploaded, or with the wrong size", async () => {
    const ghost = sha256(randomBytes(64));
    await refusedCommit(
      ndjson([H, { key: "lfsFile", value: { path: "ghost.bin", algo: "sha256", oid: ghost, size: 64 } }]),
      "never uploaded oid",
      [400, 404, 422],
    );
    // An oid announced in a batch (upload URL issued) but never PUT is still unknown.
    const bytes = randomBytes(3000);
    const announced = sha256(bytes);
    const b = await lfsBatch(B, REPO, { objects: [{ oid: announced, size: bytes.length }], token: tok });
    assert.equal(b.status, 200, b.describe());
    await refusedCommit(
      ndjson([H, { key: "lfsFile", value: { path: "announced.bin", algo: "sha256", oid: announced, size: bytes.length } }]),
      "announced but not uploaded",
      [400, 404, 422],
    );
    // A stored oid with a size that is not its size.
    await refusedCommit(
      ndjson([H, { key: "lfsFile", value: { path: "resized.bin", algo: "sha256", oid: sha256(lfs), size: lfs.length + 1 } }]),
      "stored oid, wrong size",
      [400, 422],
    );
    await refusedCommit(ndjson([H, { key: "lfsFile", value: { path: "nooid.bin", algo: "sha256", size: 10 } }]), "lfsFile without oid");
  });

  it("invalid UTF-8 in paths and messages", async () => {
    const raw = (pathBytes) =>
      Buffer.concat([
        Buffer.from(`${JSON.stringify(H)}\n{"key":"file","value":{"path":"`),
        Buffer.from(pathBytes),
        Buffer.from('","content":"eA==","encoding":"base64"}}\n'),
      ]);
    for (const [what, bytes] of [
      ["0xFF", [0x61, 0xff, 0x62]],
      ["lone continuation byte", [0x80, 0x61]],
      ["truncated sequence", [0x61, 0xe2, 0x82]],
      ["overlong slash", [0xc0, 0xaf, 0x78]],
      ["UTF-16 surrogate", [0xed, 0xa0, 0x80]],
      ["beyond U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ]) {
      await refusedCommit(raw(bytes), `path with ${what}`);
    }
    // An escaped lone surrogate is valid JSON but not a valid path.
    await refusedCommit(`${JSON.stringify(H)}\n{"key":"file","value":{"path":"a\\ud800b","content":"eA==","encoding":"base64"}}\n`, "escaped lone surrogate");
    const badSummary = Buffer.concat([
      Buffer.from('{"key":"header","value":{"summary":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}}\n'),
      Buffer.from(ndjson([file("a.txt")])),
    ]);
    await refusedCommit(badSummary, "summary with invalid UTF-8");

    // The same in the other JSON bodies that take paths.
    const pi = Buffer.concat([Buffer.from('{"paths":["'), Buffer.from([0xff]), Buffer.from('"]}')]);
    assertError(
      await api(B, "POST", `/api/models/${REPO}/paths-info/main`, { token: tok, body: pi, headers: { "Content-Type": "application/json" } }),
      [400, 422],
    );
    const pre = Buffer.concat([Buffer.from('{"files":[{"path":"'), Buffer.from([0xc3, 0x28]), Buffer.from('","size":1,"sample":"eA=="}]}')]);
    assertError(
      await api(B, "POST", `/api/models/${REPO}/preupload/main`, { token: tok, body: pre, headers: { "Content-Type": "application/json" } }),
      [400, 422],
    );
    // And in the URL.
    for (const p of [`/${REPO}/resolve/main/%FF%FE.txt`, `/api/models/${REPO}/tree/main/%C0%AF`, `/${REPO}/raw/main/a%ED%A0%80b`]) {
      const r = await rawRequest(B, "GET", p, { headers: { Authorization: `Bearer ${tok}` } });
      assertError(r, [400, 404]);
    }
    assert.deepEqual(await repoState(B, "model", REPO, tok), state);
  });

  it("oversized bodies: 413 on every endpoint that takes a body", async () => {
    const big = "a".repeat(MAX_BODY + 4096);
    const auth = { Authorization: `Bearer ${tok}` };
    const hugeCommit = Buffer.from(ndjson([H, { key: "file", value: { path: "huge.txt", content: b64(big), encoding: "base64" } }]));
    const targets = [
      ["POST", `/api/models/${REPO}/commit/main`, hugeCommit, "application/x-ndjson"],
      ["POST", `/api/models/${REPO}/preupload/main`, Buffer.from(JSON.stringify({ files: [{ path: "a.txt", size: 1, sample: big }] })), "application/json"],
      ["POST", `/api/models/${REPO}/paths-info/main`, Buffer.from(JSON.stringify({ paths: [big] })), "application/json"],
      [
        "POST",
        `/${REPO}.git/info/lfs/objects/batch`,
        Buffer.from(JSON.stringify({ operation: "upload", objects: [{ oid: big, size: 1 }] })),
        "application/vnd.git-lfs+json",
      ],
      ["POST", "/api/repos/create", Buffer.from(JSON.stringify({ name: big, organization: "alice" })), "application/json"],
      ["POST", `/api/models/${REPO}/branch/big`, Buffer.from(JSON.stringify({ startingPoint: big })), "application/json"],
      ["PUT", `/api/models/${REPO}/settings`, Buffer.from(JSON.stringify({ private: false, pad: big })), "application/json"],
    ];
    for (const [meth, p, body, ct] of targets) {
      const r = await sendWithContinue(B, meth, p, body, { ...auth, "Content-Type": ct });
      assertError(r, 413);
    }
    // Many lines, each small, that add up to more than the limit.
    const lines = [H];
    for (let i = 0; lines.length < 40000; i++) lines.push(file(`many/${i}.txt`, `${i}`));
    const manyBody = Buffer.from(ndjson(lines));
    assert.ok(manyBody.length > MAX_BODY);
    assertError(await sendWithContinue(B, "POST", `/api/models/${REPO}/commit/main`, manyBody, { ...auth, "Content-Type": "application/x-ndjson" }), 413);
    assert.deepEqual(await repoState(B, "model", REPO, tok), state);
  });

  it("malformed JSON on the other endpoints", async () => {
    const auth = { token: tok };
    const json = { "Content-Type": "application/json" };
    const lfsCt = { "Content-Type": "application/vnd.git-lfs+json", Accept: "application/vnd.git-lfs+json" };
    const cases = [
      ["POST", "/api/repos/create", "{", json],
      ["POST", "/api/repos/create", "[]", json],
      ["POST", "/api/repos/create", '{"name":5,"organization":"alice"}', json],
      ["DELETE", "/api/repos/delete", "{", json],
      ["POST", "/api/repos/move", '{"fromRepo":5}', json],
      ["POST", `/api/models/${REPO}/preupload/main`, "{", json],
      ["POST", `/api/models/${REPO}/preupload/main`, '{"files":"nope"}', json],
      ["POST", `/api/models/${REPO}/preupload/main`, '{"files":[{"path":"a.txt","size":-5,"sample":""}]}', json],
      ["POST", `/api/models/${REPO}/paths-info/main`, "{", json],
      ["POST", `/api/models/${REPO}/paths-info/main`, '{"paths":[5]}', json],
      ["POST", `/${REPO}.git/info/lfs/objects/batch`, "{", lfsCt],
      ["POST", `/${REPO}.git/info/lfs/objects/batch`, '{"operation":"steal","objects":[]}', lfsCt],
      ["POST", `/${REPO}.git/info/lfs/objects/batch`, '{"operation":"upload","objects":"x"}', lfsCt],
      ["POST", `/${REPO}.git/info/lfs/objects/batch`, '{"operation":"upload","objects":[{"oid":5,"size":1}]}', lfsCt],
      ["POST", `/api/models/${REPO}/branch/newbranch`, "{", json],
      ["PUT", `/api/models/${REPO}/settings`, "{", json],
      ["PUT", `/api/models/${REPO}/settings`, '{"private":"maybe"}', json],
      ["PUT", `/api/models/${REPO}/settings`, '{"visibility":"secret"}', json],
      ["PUT", `/api/models/${REPO}/settings`, '{"gated":"always"}', json],
    ];
    for (const [meth, p, body, headers] of cases) {
      const r = await api(B, meth, p, { ...auth, body, headers });
      assertError(r, [400, 422]);
    }
    assert.deepEqual(await repoState(B, "model", REPO, tok), state);
    assert.equal((await api(B, "GET", `/api/models/${REPO}`, auth)).json.private, false);
  });

  it("the server still works after all of it, and the store is consistent", async () => {
    assertLfsStoreConsistent(srv.dataDir);
    await assertReposFsckClean(srv.dataDir);
    const out = await hub.uploadFile({ hubUrl: B, accessToken: tok, repo: REPO, file: { path: "after.txt", content: new Blob(["still fine\n"]) } });
    assert.match(out.commit.oid, /^[0-9a-f]{40}$/);
    const blob = await hub.downloadFile({ hubUrl: B, accessToken: tok, repo: REPO, path: "after.txt" });
    assert.equal(await blob.text(), "still fine\n");
  });
});

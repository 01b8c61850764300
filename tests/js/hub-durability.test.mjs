// hub-durability.test.mjs: kill -9 the server in the middle of a large LFS
// upload (basic and multipart) and in the middle of a commit, then restart it
// on the same data dir. Afterwards: no object under its final name with wrong
// bytes, no half-written commit (head is the old commit or the complete new
// one), `git fsck` clean, and the client's retry succeeds. Also SIGTERM during
// an upload: a clean exit and nothing half-published.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { startServer, userCreate, tokenCreate } from "./lib/huddle.mjs";
import { api, lfsBatch, ndjson } from "./lib/http.mjs";
import { hub, repoState, blobBytes, assertLfsStoreConsistent, assertReposFsckClean } from "./lib/hub.mjs";
import { MiB, sha256, randomBytes, walkFiles, waitFor, sleep, slow } from "./lib/util.mjs";

// Bytes written so far under DATA/tmp (where uploads are staged, by the agreed layout).
const tmpBytes = (dataDir) =>
  walkFiles(path.join(dataDir, "tmp")).reduce((n, rel) => {
    try {
      return n + fs.statSync(path.join(dataDir, "tmp", rel)).size;
    } catch {
      return n;
    }
  }, 0);

// Start a request and stream `body` into it up to `upTo` bytes, then stop
// writing (the request stays open). Resolves once those bytes are handed to
// the socket. The request object is returned so the caller can abandon it.
function streamPartially(url, method, headers, body, upTo) {
  const u = new URL(url);
  const req = http.request({
    host: u.hostname,
    port: u.port,
    method,
    path: u.pathname + u.search,
    headers: { ...headers, "Content-Length": String(body.length) },
  });
  req.on("error", () => {}); // the server is about to die
  req.on("response", (res) => res.resume());
  return new Promise((resolve) => {
    let off = 0;
    const step = 256 * 1024;
    const pump = () => {
      while (off < upTo) {
        const end = Math.min(off + step, upTo);
        const ok = req.write(body.subarray(off, end));
        off = end;
        if (!ok) return req.once("drain", pump);
      }
      resolve(req);
    };
    pump();
  });
}

describe("durability: kill -9 mid-upload and mid-commit, then restart", () => {
  let srv, tok, dataDir;
  const REPO = "alice/durable";
  const C = () => ({ hubUrl: srv.url, accessToken: tok });
  const ARGS = ["--lfs-multipart-threshold", String(32 * MiB), "--lfs-chunk-size", String(8 * MiB), "--tree-page-size", "1000"];

  before(async () => {
    srv = await startServer({ args: ARGS });
    dataDir = srv.dataDir;
    await userCreate(dataDir, "alice");
    tok = await tokenCreate(dataDir, "alice", { role: "write" });
    await hub.createRepo({ ...C(), repo: REPO });
    await hub.uploadFiles({
      ...C(),
      repo: REPO,
      files: [
        { path: "README.md", content: new Blob(["# durable\n"]) },
        { path: "small.bin", content: new Blob([randomBytes(2 * MiB)]) },
      ],
    });
  });

  after(async () => {
    if (!srv) return;
    const r = await srv.stop();
    assert.equal(r.code, 0, `huddle serve did not exit cleanly on SIGTERM (code ${r.code}, signal ${r.signal}):\n${r.output.slice(-4000)}`);
  });

  async function restart() {
    srv = await srv.restart({ args: ARGS });
  }

  it("kill -9 during a basic LFS PUT: nothing published, the client's retry succeeds", async () => {
    const st0 = await repoState(srv.url, "model", REPO, tok);
    const bytes = randomBytes(24 * MiB);
    const oid = sha256(bytes);
    const b = await lfsBatch(srv.url, REPO, { objects: [{ oid, size: bytes.length }], token: tok });
    assert.equal(b.status, 200, b.describe());
    const up = b.json.objects[0].actions?.upload;
    assert.ok(up?.href && !up.header?.chunk_size, `expected a basic upload:\n${b.describe()}`);
    const req = await streamPartially(up.href, "PUT", up.header ?? {}, bytes, 12 * MiB);
    await waitFor(() => tmpBytes(dataDir) > 4 * MiB, {
      timeout: slow(15000),
      what: "the upload to be staged under DATA/tmp (written to a temp file while hashing)",
    });
    await srv.kill9();
    req.destroy();

    assert.ok(!fs.existsSync(path.join(dataDir, "lfs", oid.slice(0, 2), oid.slice(2, 4), oid)), "a partial upload was published under its final name");
    assertLfsStoreConsistent(dataDir);
    await restart();
    await assertReposFsckClean(dataDir);
    assert.deepEqual(await repoState(srv.url, "model", REPO, tok), st0, "the repo changed");
    const again = await lfsBatch(srv.url, REPO, { objects: [{ oid, size: bytes.length }], token: tok });
    assert.ok(again.json?.objects?.[0]?.actions?.upload, `after the crash the object must be asked for again:\n${again.describe()}`);

    const out = await hub.uploadFile({ ...C(), repo: REPO, file: { path: "retry-basic.bin", content: new Blob([bytes]) } });
    assert.match(out.commit.oid, /^[0-9a-f]{40}$/);
    const blob = await hub.downloadFile({ ...C(), repo: REPO, path: "retry-basic.bin" });
    assert.equal(sha256(await blobBytes(blob)), oid);
    assertLfsStoreConsistent(dataDir);
  });

  it("kill -9 during a multipart upload: nothing published, the client's retry succeeds", async () => {
    const bytes = randomBytes(40 * MiB);
    const oid = sha256(bytes);
    const b = await lfsBatch(srv.url, REPO, { objects: [{ oid, size: bytes.length }], token: tok });
    const up = b.json?.objects?.[0]?.actions?.upload;
    assert.ok(up?.header?.chunk_size, `expected multipart above the 32 MiB threshold:\n${b.describe()}`);
    const cs = Number(up.header.chunk_size);
    const keys = Object.keys(up.header)
      .filter((k) => /^[0-9]+$/.test(k))
      .sort();
    // Parts 1 and 2 complete, part 3 cut off half way.
    for (const [i, k] of keys.slice(0, 2).entries()) {
      const p = await api(srv.url, "PUT", up.header[k], { body: bytes.subarray(i * cs, (i + 1) * cs) });
      assert.ok(p.status >= 200 && p.status < 300 && p.header("etag"), p.describe());
    }
    const part3 = bytes.subarray(2 * cs, 3 * cs);
    const req = await streamPartially(up.header[keys[2]], "PUT", {}, part3, Math.floor(part3.length / 2));
    await sleep(200);
    await srv.kill9();
    req.destroy();

    assert.ok(!fs.existsSync(path.join(dataDir, "lfs", oid.slice(0, 2), oid.slice(2, 4), oid)), "a partial multipart object was published");
    assertLfsStoreConsistent(dataDir);
    await restart();
    await assertReposFsckClean(dataDir);
    const out = await hub.uploadFile({ ...C(), repo: REPO, file: { path: "retry-multipart.bin", content: new Blob([bytes]) } });
    assert.match(out.commit.oid, /^[0-9a-f]{40}$/);
    const blob = await hub.downloadFile({ ...C(), repo: REPO, path: "retry-multipart.bin" });
    assert.equal(sha256(await blobBytes(blob)), oid);
    assertLfsStoreConsistent(dataDir);
  });

  it("kill -9 while a commit body is arriving: no commit, fsck clean", async () => {
    const st0 = await repoState(srv.url, "model", REPO, tok);
    const lines = [{ key: "header", value: { summary: "cut off" } }];
    for (let i = 0; i < 400; i++)
      lines.push({ key: "file", value: { path: `cut/${i}.txt`, content: randomBytes(1500).toString("base64"), encoding: "base64" } });
    const body = Buffer.from(ndjson(lines));
    const req = await streamPartially(
      `${srv.url}/api/models/${REPO}/commit/main`,
      "POST",
      { Authorization: `Bearer ${tok}`, "Content-Type": "application/x-ndjson" },
      body,
      Math.floor(body.length / 2),
    );
    await sleep(300);
    await srv.kill9();
    req.destroy();
    await restart();
    await assertReposFsckClean(dataDir);
    assert.deepEqual(await repoState(srv.url, "model", REPO, tok), st0);
  });

  it("kill -9 while a commit is being written: the old head or the whole new commit, never half", async () => {
    const N = 600;
    const lines = [{ key: "header", value: { summary: "all or nothing" } }];
    const contents = new Map();
    for (let i = 0; i < N; i++) {
      const c = randomBytes(2048).toString("base64");
      contents.set(`batch/${String(i).padStart(4, "0")}.txt`, c);
      lines.push({ key: "file", value: { path: `batch/${String(i).padStart(4, "0")}.txt`, content: Buffer.from(c).toString("base64"), encoding: "base64" } });
    }
    const body = Buffer.from(ndjson(lines));
    // Calibrate: how long does the same commit take (under other paths)?
    const calib = Buffer.from(body.toString().split('"path":"batch/').join('"path":"calib/'));
    const t0 = Date.now();
    const cr = await api(srv.url, "POST", `/api/models/${REPO}/commit/main`, { token: tok, body: calib, headers: { "Content-Type": "application/x-ndjson" } });
    assert.equal(cr.status, 200, cr.describe());
    const T = Date.now() - t0;
    let sawOld = 0;
    let sawNew = 0;
    // Kill at points spread over the commit's duration (and once well after it).
    // The last round ("ack") kills right after the 200 arrives: an acknowledged
    // commit must survive kill -9.
    for (const delay of [...[0, 0.2, 0.4, 0.6, 0.8, 0.95].map((x) => Math.round(x * T)), "ack"]) {
      const prev = await repoState(srv.url, "model", REPO, tok);
      const u = new URL(`${srv.url}/api/models/${REPO}/commit/main`);
      const req = http.request({
        host: u.hostname,
        port: u.port,
        method: "POST",
        path: u.pathname,
        headers: { Authorization: `Bearer ${tok}`, "Content-Type": "application/x-ndjson", "Content-Length": String(body.length) },
      });
      let acked = 0;
      let onAck;
      const ackP = new Promise((r) => (onAck = r));
      req.on("error", () => onAck());
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => {
          acked = res.statusCode;
          onAck();
        });
      });
      await new Promise((r) => req.end(body, r));
      if (delay === "ack") {
        await ackP;
        assert.equal(acked, 200, "the commit itself failed");
      } else {
        await sleep(delay);
      }
      await srv.kill9();
      await restart();
      await assertReposFsckClean(dataDir);
      const now = await repoState(srv.url, "model", REPO, tok);
      const batchFiles = now.files.filter((f) => f.startsWith("file batch/"));
      if (acked === 200) assert.notEqual(now.sha, prev.sha, `delay ${delay} ms: the commit was acknowledged (200) but is gone after kill -9`);
      if (now.sha === prev.sha) {
        sawOld++;
        assert.deepEqual(now.files, prev.files, `delay ${delay} ms: head unchanged but the files changed`);
      } else {
        sawNew++;
        assert.equal(batchFiles.length, N, `delay ${delay} ms: a new head with ${batchFiles.length} of ${N} files: a half-written commit`);
        const info = await api(srv.url, "GET", `/api/models/${REPO}/commits/main?limit=1`, { token: tok });
        assert.equal(info.json?.[0]?.title, "all or nothing", info.describe());
        // The bytes of a sample of the files are the ones sent.
        for (const p of ["batch/0000.txt", `batch/${String(N - 1).padStart(4, "0")}.txt`]) {
          const r = await api(srv.url, "GET", `/${REPO}/resolve/main/${p}`, { token: tok });
          assert.equal(r.text, contents.get(p), `delay ${delay} ms: ${p} has other bytes`);
        }
        // Start over from a repo without the batch for the next delay.
        const del = await api(srv.url, "POST", `/api/models/${REPO}/commit/main`, {
          token: tok,
          body: ndjson([
            { key: "header", value: { summary: "reset" } },
            { key: "deletedFolder", value: { path: "batch" } },
          ]),
          headers: { "Content-Type": "application/x-ndjson" },
        });
        if (del.status !== 200) {
          const d2 = await api(srv.url, "POST", `/api/models/${REPO}/commit/main`, {
            token: tok,
            body: ndjson([{ key: "header", value: { summary: "reset" } }, ...[...contents.keys()].map((p) => ({ key: "deletedFile", value: { path: p } }))]),
            headers: { "Content-Type": "application/x-ndjson" },
          });
          assert.equal(d2.status, 200, d2.describe());
        }
      }
    }
    // What matters is that every outcome was whole; report the mix.
    process.stdout.write(`# commit-kill: a ${N}-file commit takes ${T} ms; outcomes: ${sawOld} old head, ${sawNew} new head\n`);
    assert.ok(sawNew >= 1, "even a kill long after the commit's time found the old head: the commit is not durable");

    // The client's retry of the same commit succeeds and is complete.
    const files = [...contents].map(([p, c]) => ({ path: p, content: new Blob([c]) }));
    const out = await hub.uploadFiles({ ...C(), repo: REPO, files, commitTitle: "retry after crash" });
    assert.match(out.commit.oid, /^[0-9a-f]{40}$/);
    const st = await repoState(srv.url, "model", REPO, tok);
    assert.equal(st.files.filter((f) => f.startsWith("file batch/")).length, N);
    await assertReposFsckClean(dataDir);
  });

  it("SIGTERM during an upload: clean exit, nothing half-published, retry succeeds", async () => {
    const bytes = randomBytes(20 * MiB);
    const oid = sha256(bytes);
    const b = await lfsBatch(srv.url, REPO, { objects: [{ oid, size: bytes.length }], token: tok });
    const up = b.json.objects[0].actions.upload;
    const req = await streamPartially(up.href, "PUT", up.header ?? {}, bytes, 8 * MiB);
    await sleep(100);
    const r = await srv.stop(slow(10000));
    req.destroy();
    assert.equal(r.code, 0, `exit after SIGTERM with an upload in flight: code ${r.code}, signal ${r.signal}\n${r.output.slice(-3000)}`);
    assert.ok(!fs.existsSync(path.join(dataDir, "lfs", oid.slice(0, 2), oid.slice(2, 4), oid)), "a partial upload was published on shutdown");
    assertLfsStoreConsistent(dataDir);
    await restart();
    await assertReposFsckClean(dataDir);
    await hub.uploadFile({ ...C(), repo: REPO, file: { path: "after-term.bin", content: new Blob([bytes]) } });
    const blob = await hub.downloadFile({ ...C(), repo: REPO, path: "after-term.bin" });
    assert.equal(sha256(await blobBytes(blob)), oid);
  });
});

describe("races: concurrent commits and uploads stay consistent", () => {
  let srv, tok;
  const REPO = "alice/races";
  const C = () => ({ hubUrl: srv.url, accessToken: tok });

  before(async () => {
    srv = await startServer();
    await userCreate(srv.dataDir, "alice");
    tok = await tokenCreate(srv.dataDir, "alice", { role: "write" });
    await hub.createRepo({ ...C(), repo: REPO });
    await hub.uploadFile({ ...C(), repo: REPO, file: { path: "base.txt", content: new Blob(["base\n"]) } });
  });

  after(async () => {
    if (!srv) return;
    const r = await srv.stop();
    assert.equal(r.code, 0, `huddle serve did not exit cleanly on SIGTERM (code ${r.code}, signal ${r.signal}):\n${r.output.slice(-4000)}`);
  });

  it("parallel commits without a parent all land: no lost update, linear history", async () => {
    const before0 = await repoState(srv.url, "model", REPO, tok);
    const K = 8;
    const outs = await Promise.all(
      Array.from({ length: K }, (_, i) =>
        hub.uploadFile({ ...C(), repo: REPO, commitTitle: `parallel ${i}`, file: { path: `par/${i}.txt`, content: new Blob([`${i}\n`]) } }),
      ),
    );
    const oids = outs.map((o) => o.commit.oid);
    assert.equal(new Set(oids).size, K, "two commits got the same oid");
    const st = await repoState(srv.url, "model", REPO, tok);
    for (let i = 0; i < K; i++)
      assert.ok(
        st.files.some((f) => f.startsWith(`file par/${i}.txt `)),
        `par/${i}.txt was lost`,
      );
    const list = [];
    for await (const c of hub.listCommits({ ...C(), repo: REPO })) list.push(c.oid);
    for (const o of oids) assert.ok(list.includes(o), `commit ${o} is not in main's history`);
    assert.equal(list[K], before0.sha, "the parallel commits are not a linear run on top of the old head");
    await assertReposFsckClean(srv.dataDir);
  });

  it("parallel commits naming the same parentCommit: exactly one wins, the others get 412", async () => {
    const parent = (await repoState(srv.url, "model", REPO, tok)).sha;
    const K = 6;
    const rs = await Promise.all(
      Array.from({ length: K }, (_, i) =>
        api(srv.url, "POST", `/api/models/${REPO}/commit/main`, {
          token: tok,
          body: ndjson([
            { key: "header", value: { summary: `race ${i}`, parentCommit: parent } },
            { key: "file", value: { path: `race/${i}.txt`, content: Buffer.from(`${i}`).toString("base64"), encoding: "base64" } },
          ]),
          headers: { "Content-Type": "application/x-ndjson" },
        }),
      ),
    );
    const ok = rs.filter((r) => r.status === 200);
    assert.equal(ok.length, 1, rs.map((r) => r.describe()).join("\n"));
    for (const r of rs.filter((x) => x.status !== 200)) assert.equal(r.status, 412, r.describe());
    const st = await repoState(srv.url, "model", REPO, tok);
    assert.equal(st.sha, ok[0].json.commitOid);
    assert.equal(st.files.filter((f) => f.startsWith("file race/")).length, 1);
  });

  it("the same LFS object uploaded by parallel clients: every commit succeeds, one correct object", async () => {
    const bytes = randomBytes(6 * MiB);
    const oid = sha256(bytes);
    const outs = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        hub.uploadFile({ ...C(), repo: REPO, commitTitle: `same object ${i}`, file: { path: `same/${i}.bin`, content: new Blob([bytes]) } }),
      ),
    );
    assert.equal(outs.length, 4);
    for (let i = 0; i < 4; i++) {
      const blob = await hub.downloadFile({ ...C(), repo: REPO, path: `same/${i}.bin` });
      assert.equal(sha256(await blobBytes(blob)), oid);
    }
    assertLfsStoreConsistent(srv.dataDir);
    await assertReposFsckClean(srv.dataDir);
  });
});

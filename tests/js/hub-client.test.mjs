// hub-client.test.mjs: HUB-API.md section 10, steps 1-20, with the unmodified
// @huggingface/hub@2.17.5 against the real `huddle serve`.
//
// The steps share one server and one repo (alice/acc-<random>) and run in
// order; each later step relies on what the earlier ones uploaded. Every client
// call goes through a logging fetch so steps assert on the real traffic.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startServer, userCreate, orgCreate, orgAddMember, tokenCreate } from "./lib/huddle.mjs";
import { loggingFetch, kindOf, api, assertError, commitRaw, lfsBatch } from "./lib/http.mjs";
import { hub, blobBytes, getAllPages } from "./lib/hub.mjs";
import { gitEnv } from "./lib/git.mjs";
import { MiB, sha256, gitBlobSha1, lfsPointer, randomBytes, rid, isHex, unquote, tmpDir } from "./lib/util.mjs";

const { HubApiError } = hub;
const EMPTY_SHA1 = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

// Await a client call that must fail with a HubApiError of one of `statuses`.
async function hubError(promise, statuses, what) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `${what}: expected an error, got success`);
  assert.ok(err instanceof HubApiError, `${what}: expected HubApiError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.ok([].concat(statuses).includes(err.statusCode), `${what}: expected status ${statuses}, got ${err.statusCode}: ${err.message}`);
  return err;
}

describe("HUB-API section 10: the official JS client against huddle", () => {
  let srv, B, alice, bob, f;
  const R = `acc-${rid()}`;
  const REPO = `alice/${R}`;
  const files = new Map(); // path -> Buffer, the expected content of main
  const mainCommits = []; // {oid, title} in the order made on main
  let head = null; // the current main commit
  let model12, big40;

  const C = (extra = {}) => ({ hubUrl: B, accessToken: alice, fetch: f, ...extra });
  const lfsPaths = new Set();
  const track = (out, title) => {
    assert.ok(out && out.commit, `no commit output for "${title}"`);
    assert.ok(isHex(out.commit.oid, 40), `commit oid ${out.commit.oid} is not 40 hex`);
    mainCommits.push({ oid: out.commit.oid, title });
    head = out.commit.oid;
    return out;
  };

  before(async () => {
    srv = await startServer({
      args: ["--lfs-multipart-threshold", String(16 * MiB), "--lfs-chunk-size", String(16 * MiB), "--tree-page-size", "50", "--list-page-size", "2"],
    });
    B = srv.url;
    const d = srv.dataDir;
    await userCreate(d, "alice");
    await userCreate(d, "bob");
    await orgCreate(d, "acme");
    await orgAddMember(d, "acme", "alice", "admin");
    alice = await tokenCreate(d, "alice", { role: "write" });
    bob = await tokenCreate(d, "bob", { role: "write" });
    f = loggingFetch();
    model12 = randomBytes(12 * MiB);
    big40 = randomBytes(40 * MiB);
  });

  after(async () => {
    if (!srv) return;
    const r = await srv.stop();
    assert.equal(r.code, 0, `huddle serve did not exit cleanly on SIGTERM (code ${r.code}, signal ${r.signal}):\n${r.output.slice(-4000)}`);
  });

  it("1. identity: whoAmI, and a 401 with the server's message for hf_invalid", async () => {
    const me = await hub.whoAmI(C());
    assert.equal(me.name, "alice");
    assert.equal(me.type, "user");
    assert.ok(me.auth && me.auth.accessToken, `auth.accessToken missing: ${JSON.stringify(me)}`);
    assert.ok(["read", "write", "fineGrained", "admin"].includes(me.auth.accessToken.role), `role: ${me.auth.accessToken.role}`);
    assert.ok(!isNaN(me.auth.accessToken.createdAt.getTime()), "auth.accessToken.createdAt is not a date");
    assert.ok(Array.isArray(me.orgs) && me.orgs.some((o) => o.name === "acme"), `orgs: ${JSON.stringify(me.orgs)}`);

    const n = f.log.length;
    const err = await hubError(hub.whoAmI({ hubUrl: B, accessToken: "hf_invalid", fetch: f }), 401, "whoAmI(hf_invalid)");
    const res = f.log[n];
    assert.equal(typeof res.json?.error, "string", `401 body: ${JSON.stringify(res.json)}`);
    assert.ok(err.message.startsWith(res.json.error), `client message "${err.message}" is not the server's error "${res.json.error}"`);
    assert.equal(res.resHeaders["x-error-message"], "Invalid credentials in Authorization header");
  });

  it("2. create: model, 409 on repeat, dataset, space, org, private", async () => {
    const out = await hub.createRepo(C({ repo: REPO }));
    assert.equal(out.repoUrl, `${B}/${REPO}`);
    const n = f.log.length;
    await hubError(hub.createRepo(C({ repo: REPO })), 409, "createRepo twice");
    assert.equal(f.log[n].json?.url, `${B}/${REPO}`, `409 body must carry the repo url (Python exist_ok): ${JSON.stringify(f.log[n].json)}`);

    const ds = await hub.createRepo(C({ repo: `datasets/alice/${R}-ds` }));
    assert.equal(ds.repoUrl, `${B}/datasets/alice/${R}-ds`);
    const sp = await hub.createRepo(C({ repo: `spaces/alice/${R}-sp`, sdk: "static" }));
    assert.equal(sp.repoUrl, `${B}/spaces/alice/${R}-sp`);
    const org = await hub.createRepo(C({ repo: `acme/${R}-org` }));
    assert.equal(org.repoUrl, `${B}/acme/${R}-org`);
    const priv = await hub.createRepo(C({ repo: `alice/${R}-priv`, private: true }));
    assert.equal(priv.repoUrl, `${B}/alice/${R}-priv`);

    assert.equal((await hub.datasetInfo(C({ name: `alice/${R}-ds` }))).name, `alice/${R}-ds`);
    assert.equal((await hub.spaceInfo(C({ name: `alice/${R}-sp` }))).name, `alice/${R}-sp`);
    assert.equal((await hub.modelInfo(C({ name: `acme/${R}-org` }))).name, `acme/${R}-org`);
    const pi = await hub.modelInfo(C({ name: `alice/${R}-priv` }));
    assert.equal(pi.private, true);
    assert.equal((await hub.modelInfo(C({ name: REPO }))).private, false);
  });

  it("3. exists: repoExists true/false, modelInfo of a missing repo is a 404 RepoNotFound", async () => {
    assert.equal(await hub.repoExists(C({ repo: REPO })), true);
    assert.equal(await hub.repoExists(C({ repo: "alice/missing" })), false);
    const n = f.log.length;
    await hubError(hub.modelInfo(C({ name: "alice/missing" })), 404, "modelInfo(alice/missing)");
    assert.equal(f.log[n].resHeaders["x-error-code"], "RepoNotFound", f.dump(f.log.slice(n)));
  });

  it("4. upload: 3 regular files and a 12 MiB LFS file in one commit (1 preupload, 1 basic batch, 1 PUT)", async () => {
    const add = {
      "README.md": Buffer.from("---\nlicense: apache-2.0\ntags:\n- acceptance\npipeline_tag: text-generation\n---\n# Acceptance\n"),
      "config.json": Buffer.from('{"hello":"world"}'),
      "sub/dir/a.txt": Buffer.from("a text file in a sub folder\n"),
      "model.bin": model12,
    };
    const n = f.log.length;
    const out = await hub.uploadFiles(
      C({ repo: REPO, commitTitle: "Step 4 upload", files: Object.entries(add).map(([p, b]) => ({ path: p, content: new Blob([b]) })) }),
    );
    track(out, "Step 4 upload");
    assert.equal(out.commit.url, `${B}/${REPO}/commit/${out.commit.oid}`);
    for (const [p, b] of Object.entries(add)) files.set(p, b);
    lfsPaths.add("model.bin");

    const log = f.since(n);
    const count = (k) => log.filter((e) => kindOf(e) === k).length;
    assert.equal(count("preupload"), 1, f.dump(log));
    assert.equal(count("batch"), 1, f.dump(log));
    assert.equal(count("put"), 1, f.dump(log));
    assert.equal(count("commit"), 1, f.dump(log));
    assert.ok(
      log.every((e) => !e.url.includes("xet-")),
      f.dump(log),
    );

    const pre = log.find((e) => kindOf(e) === "preupload").json;
    const mode = Object.fromEntries(pre.files.map((x) => [x.path, x.uploadMode]));
    assert.deepEqual(mode, { "README.md": "regular", "config.json": "regular", "sub/dir/a.txt": "regular", "model.bin": "lfs" });
    for (const x of pre.files) assert.equal(typeof x.shouldIgnore, "boolean", `preupload shouldIgnore for ${x.path}`);

    const batch = log.find((e) => kindOf(e) === "batch").json;
    assert.equal(batch.transfer, "basic", JSON.stringify(batch));
    assert.equal(batch.objects.length, 1);
    assert.equal(batch.objects[0].oid, sha256(model12));
    assert.ok(batch.objects[0].actions?.upload?.href?.startsWith(B + "/"), `upload href must be absolute on ${B}: ${JSON.stringify(batch.objects[0])}`);

    const put = log.find((e) => kindOf(e) === "put");
    assert.equal(put.reqHeaders.authorization, undefined, "upload PUT carried Authorization");
    assert.ok(put.status >= 200 && put.status < 300, f.dump([put]));
    assert.equal(put.reqSize, 12 * MiB);
  });

  it("4b. datasets and spaces: upload (LFS batch under datasets/ and spaces/) and download", async () => {
    for (const [prefix, type] of [
      ["datasets/", "dataset"],
      ["spaces/", "space"],
    ]) {
      const repo = `${prefix}alice/${R}-${type === "dataset" ? "ds" : "sp"}`;
      const big = randomBytes(11 * MiB);
      const n = f.log.length;
      const out = await hub.uploadFiles(
        C({
          repo,
          files: [
            { path: "data/part-0.txt", content: new Blob(["row\n"]) },
            { path: "data/blob.bin", content: new Blob([big]) },
          ],
        }),
      );
      assert.equal(out.commit.url, `${B}/${prefix}alice/${repo.split("/")[2]}/commit/${out.commit.oid}`);
      const batch = f.since(n).find((e) => kindOf(e) === "batch");
      assert.equal(new URL(batch.url).pathname, `/${repo}.git/info/lfs/objects/batch`);
      assert.equal(batch.status, 200, f.dump([batch]));
      const blob = await hub.downloadFile(C({ repo, path: "data/blob.bin" }));
      assert.equal(sha256(await blobBytes(blob)), sha256(big), `${type} LFS round trip`);
      const txt = await hub.downloadFile(C({ repo, path: "data/part-0.txt" }));
      assert.equal(await txt.text(), "row\n");
      const listed = [];
      for await (const e of hub.listFiles(C({ repo, recursive: true }))) listed.push(e.path);
      assert.ok(listed.includes("data/blob.bin") && listed.includes("data/part-0.txt"), `${listed}`);
      const info =
        type === "dataset"
          ? await hub.datasetInfo(C({ name: `alice/${R}-ds`, additionalFields: ["sha"] }))
          : await hub.spaceInfo(C({ name: `alice/${R}-sp`, additionalFields: ["sha"] }));
      assert.equal(info.sha, out.commit.oid);
      // The same path under the model prefix is another repo (that does not exist).
      const wrong = await api(B, "GET", `/alice/${repo.split("/")[2]}/resolve/main/data/part-0.txt`, { token: alice });
      assertError(wrong, 404, { code: "RepoNotFound" });
    }
  });

  it("5. multipart: a 40 MiB file in 16 MiB parts, completion POST without auth", async () => {
    const n = f.log.length;
    const out = await hub.uploadFile(C({ repo: REPO, commitTitle: "Step 5 multipart", file: { path: "big.bin", content: new Blob([big40]) } }));
    track(out, "Step 5 multipart");
    files.set("big.bin", big40);
    lfsPaths.add("big.bin");
    const log = f.since(n);
    const batch = log.find((e) => kindOf(e) === "batch").json;
    assert.equal(batch.transfer, "multipart", JSON.stringify(batch));
    const obj = batch.objects[0];
    assert.equal(obj.oid, sha256(big40));
    const header = obj.actions?.upload?.header ?? {};
    assert.equal(Number(header.chunk_size), 16 * MiB, JSON.stringify(header));
    const partKeys = Object.keys(header)
      .filter((k) => /^[0-9]+$/.test(k))
      .sort();
    assert.deepEqual(partKeys, ["00001", "00002", "00003"]);
    for (const k of partKeys) assert.ok(header[k].startsWith(B + "/"), `part href ${header[k]} not absolute`);

    const puts = log.filter((e) => kindOf(e) === "put");
    assert.equal(puts.length, 3, f.dump(log));
    for (const p of puts) {
      assert.equal(p.reqHeaders.authorization, undefined, "part PUT carried Authorization");
      assert.ok(p.resHeaders.etag, `part PUT reply without ETag: ${f.dump([p])}`);
    }
    assert.deepEqual(
      puts.map((p) => p.reqSize).sort((a, b) => a - b),
      [8 * MiB, 16 * MiB, 16 * MiB],
    );
    const done = log.find((e) => e.method === "POST" && e.url === obj.actions.upload.href);
    assert.ok(done, `no completion POST to ${obj.actions.upload.href}:\n${f.dump(log)}`);
    assert.equal(done.reqHeaders.authorization, undefined, "completion POST carried Authorization");
    assert.ok(done.status >= 200 && done.status < 300, f.dump([done]));
  });

  it("6. dedup: the same 12 MiB content under a new path needs no PUT", async () => {
    const n = f.log.length;
    const out = await hub.uploadFile(C({ repo: REPO, commitTitle: "Step 6 dedup", file: { path: "copy/model-copy.bin", content: new Blob([model12]) } }));
    track(out, "Step 6 dedup");
    files.set("copy/model-copy.bin", model12);
    lfsPaths.add("copy/model-copy.bin");
    const log = f.since(n);
    const batch = log.find((e) => kindOf(e) === "batch").json;
    assert.equal(batch.objects.length, 1);
    assert.equal(batch.objects[0].actions, undefined, `an already stored object must come back without actions: ${JSON.stringify(batch)}`);
    assert.equal(log.filter((e) => e.method === "PUT").length, 0, f.dump(log));
  });

  it("7. listing: recursive tree with sizes and oids, directories, sub-path, 150 files over pages of 50", async () => {
    const all = [];
    for await (const e of hub.listFiles(C({ repo: REPO, recursive: true }))) all.push(e);
    const byPath = new Map(all.map((e) => [e.path, e]));
    for (const [p, b] of files) {
      const e = byPath.get(p);
      assert.ok(e, `${p} missing from the recursive listing: ${all.map((x) => x.path).join(", ")}`);
      assert.equal(e.type, "file");
      assert.equal(e.size, b.length, `size of ${p}`);
      if (lfsPaths.has(p)) {
        const ptr = lfsPointer(sha256(b), b.length);
        assert.ok(e.lfs, `${p} has no lfs field: ${JSON.stringify(e)}`);
        assert.equal(e.lfs.oid, sha256(b), `lfs.oid of ${p}`);
        assert.equal(e.lfs.size, b.length);
        assert.equal(e.lfs.pointerSize, ptr.length, `pointerSize of ${p}`);
        assert.equal(e.oid, gitBlobSha1(ptr), `oid of ${p} must be the git sha1 of its LFS pointer`);
      } else {
        assert.equal(e.lfs, undefined, `${p} must not be LFS`);
        assert.equal(e.oid, gitBlobSha1(b), `oid of ${p} must be its git blob sha1`);
      }
      assert.equal(e.xetHash, undefined, "never emit xetHash");
    }
    // A recursive listing may or may not list directories (HUB-API.md 3.6 only
    // requires them in a non-recursive one); if it does, they are typed so.
    for (const dir of ["sub", "sub/dir", "copy"]) if (byPath.has(dir)) assert.equal(byPath.get(dir).type, "directory");
    const extra = all.filter((e) => e.type === "file" && !files.has(e.path)).map((e) => e.path);
    assert.ok(
      extra.every((p) => p === ".gitattributes"),
      `unexpected files: ${extra}`,
    );

    const expanded = [];
    for await (const e of hub.listFiles(C({ repo: REPO, expand: true }))) expanded.push(e);
    const cfg = expanded.find((e) => e.path === "config.json");
    assert.equal(cfg?.lastCommit?.id, mainCommits[0].oid, `expand=true lastCommit: ${JSON.stringify(cfg)}`);
    assert.equal(cfg.lastCommit.title, "Step 4 upload");
    assert.match(cfg.lastCommit.date, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, "dates end in Z");

    const top = [];
    for await (const e of hub.listFiles(C({ repo: REPO }))) top.push(e);
    assert.equal(top.find((e) => e.path === "sub")?.type, "directory", JSON.stringify(top));
    assert.ok(!top.some((e) => e.path.includes("/")), `non-recursive listing went deeper: ${top.map((e) => e.path)}`);
    const sub = [];
    for await (const e of hub.listFiles(C({ repo: REPO, path: "sub" }))) sub.push(e);
    assert.deepEqual(
      sub.map((e) => [e.type, e.path]),
      [["directory", "sub/dir"]],
    );

    const many = Array.from({ length: 150 }, (_, i) => ({ path: `many/f${String(i).padStart(3, "0")}.txt`, content: new Blob([`file ${i}\n`]) }));
    track(await hub.uploadFiles(C({ repo: REPO, commitTitle: "Step 7 many files", files: many })), "Step 7 many files");
    for (const [i, m] of many.entries()) files.set(m.path, Buffer.from(`file ${i}\n`));
    const n = f.log.length;
    const got = [];
    for await (const e of hub.listFiles(C({ repo: REPO, path: "many", recursive: true }))) got.push(e.path);
    const trees = f.since(n).filter((e) => kindOf(e) === "tree");
    assert.equal(got.length, 150, `got ${got.length} entries over ${trees.length} requests`);
    assert.equal(new Set(got).size, 150, "duplicates across pages");
    assert.ok(trees.length >= 3, `150 files at a page size of 50 came in ${trees.length} request(s)`);
    for (const t of trees) assert.ok(t.json.length <= 50, `a page of ${t.json.length} entries with --tree-page-size 50`);
    const link = trees[0].resHeaders.link ?? "";
    assert.match(link, /^<http:\/\/[^>]+>; rel="next"/, `Link header: ${link}`);
  });

  it("8. download: bytes, slices, missing path, by sha, raw, fileDownloadInfo, resolve headers", async () => {
    for (const p of ["README.md", "config.json", "sub/dir/a.txt", "model.bin", "big.bin", "copy/model-copy.bin", "many/f007.txt"]) {
      const blob = await hub.downloadFile(C({ repo: REPO, path: p }));
      assert.ok(blob, `downloadFile(${p}) gave null`);
      assert.equal(blob.size, files.get(p).length, `size of ${p}`);
      assert.equal(sha256(await blobBytes(blob)), sha256(files.get(p)), `bytes of ${p}`);
    }
    const m = await hub.downloadFile(C({ repo: REPO, path: "model.bin" }));
    assert.deepEqual(await blobBytes(m.slice(1234, 1234 + 100000)), model12.subarray(1234, 1234 + 100000));
    const b = await hub.downloadFile(C({ repo: REPO, path: "big.bin" }));
    const a0 = 16 * MiB - 1000;
    assert.deepEqual(await blobBytes(b.slice(a0, a0 + 5000)), big40.subarray(a0, a0 + 5000), "slice across the part boundary");
    assert.deepEqual(await blobBytes(b.slice(40 * MiB - 10, 40 * MiB)), big40.subarray(40 * MiB - 10), "last bytes");

    assert.equal(await hub.downloadFile(C({ repo: REPO, path: "nope.txt" })), null);
    const bySha = await hub.downloadFile(C({ repo: REPO, path: "config.json", revision: mainCommits[0].oid }));
    assert.equal((await blobBytes(bySha)).toString(), '{"hello":"world"}');
    const raw = await hub.downloadFile(C({ repo: REPO, path: "config.json", raw: true }));
    assert.equal((await blobBytes(raw)).toString(), '{"hello":"world"}');

    const li = await hub.fileDownloadInfo(C({ repo: REPO, path: "model.bin" }));
    assert.equal(li.size, 12 * MiB);
    assert.equal(unquote(li.etag), sha256(model12));
    const ri = await hub.fileDownloadInfo(C({ repo: REPO, path: "config.json" }));
    assert.equal(ri.size, 17);
    assert.equal(unquote(ri.etag), gitBlobSha1(files.get("config.json")));

    // The headers both clients read (HUB-API.md 3.5), on the raw responses.
    const g = await api(B, "GET", `/${REPO}/resolve/main/config.json`, { token: alice, headers: { Range: "bytes=0-0" } });
    assert.equal(g.status, 206, g.describe());
    assert.equal(g.header("content-range"), "bytes 0-0/17", g.describe());
    assert.equal(g.header("x-repo-commit"), head, g.describe());
    assert.equal(g.header("etag"), `"${gitBlobSha1(files.get("config.json"))}"`, g.describe());
    assert.equal(g.header("accept-ranges"), "bytes", g.describe());
    assert.equal(g.header("content-encoding"), null, g.describe());
    assert.equal(g.bytes.toString(), "{");
    // A cache revalidating with the ETag gets 304 without the bytes.
    for (const [p, etag] of [
      ["config.json", `"${gitBlobSha1(files.get("config.json"))}"`],
      ["model.bin", `"${sha256(model12)}"`],
    ]) {
      const nm = await api(B, "GET", `/${REPO}/resolve/main/${p}`, { token: alice, headers: { "If-None-Match": `"other", ${etag}` } });
      assert.equal(nm.status, 304, nm.describe());
      assert.equal(nm.bytes.length, 0, nm.describe());
      assert.equal(nm.header("etag"), etag, nm.describe());
      assert.equal(nm.header("x-repo-commit"), head, nm.describe());
      const other = await api(B, "GET", `/${REPO}/resolve/main/${p}`, { token: alice, headers: { "If-None-Match": '"other"', Range: "bytes=0-0" } });
      assert.equal(other.status, 206, other.describe());
    }
    const h = await api(B, "HEAD", `/${REPO}/resolve/main/config.json`, { token: alice });
    assert.equal(h.status, 200, h.describe());
    assert.equal(h.header("content-length"), "17", h.describe());
    assert.equal(h.header("x-repo-commit"), head, h.describe());
    const hl = await api(B, "HEAD", `/${REPO}/resolve/main/model.bin`, { token: alice });
    assert.ok([200, 302].includes(hl.status), hl.describe());
    assert.equal(hl.header("x-repo-commit"), head, hl.describe());
    assert.equal(unquote(hl.header("x-linked-etag") ?? hl.header("etag")), sha256(model12), hl.describe());
    if (hl.status === 302) {
      assert.equal(hl.header("x-linked-size"), String(12 * MiB), hl.describe());
      assert.match(hl.header("location") ?? "", /^https?:\/\//, "a redirect must be absolute (Python drops relative ones' queries)");
    } else {
      assert.equal(hl.header("content-length"), String(12 * MiB), hl.describe());
    }
    const rg = await api(B, "GET", `/${REPO}/resolve/main/model.bin`, { token: alice, headers: { Range: "bytes=100-199" }, redirect: "follow" });
    assert.equal(rg.status, 206, rg.describe());
    assert.equal(rg.header("content-range"), `bytes 100-199/${12 * MiB}`, rg.describe());
    assert.deepEqual(rg.bytes, model12.subarray(100, 200));
    const miss = await api(B, "GET", `/${REPO}/resolve/main/nope.txt`, { token: alice, headers: { Range: "bytes=0-0" } });
    assertError(miss, 404, { code: "EntryNotFound" });
    assert.equal(miss.header("x-repo-commit"), head, miss.describe());
    const badRev = await api(B, "GET", `/${REPO}/resolve/no-such-branch/config.json`, { token: alice });
    assertError(badRev, 404, { code: "RevisionNotFound" });
  });

  it("9. empty file: upload and download a 0-byte file", async () => {
    const n = f.log.length;
    track(await hub.uploadFile(C({ repo: REPO, commitTitle: "Step 9 empty", file: { path: "empty.txt", content: new Blob([]) } })), "Step 9 empty");
    files.set("empty.txt", Buffer.alloc(0));
    const pre = f.since(n).find((e) => kindOf(e) === "preupload").json;
    assert.equal(pre.files[0].uploadMode, "regular", "empty files are regular");
    const probe = await api(B, "GET", `/${REPO}/resolve/main/empty.txt`, { token: alice, headers: { Range: "bytes=0-0" } });
    assert.equal(probe.status, 200, `a 0-byte file answers a Range probe with 200 (HUB-API.md 1.3):\n${probe.describe()}`);
    assert.equal(probe.header("content-range"), "bytes */0", probe.describe());
    const blob = await hub.downloadFile(C({ repo: REPO, path: "empty.txt" }));
    assert.ok(blob);
    assert.equal(blob.size, 0);
    assert.equal((await blobBytes(blob)).length, 0);
    const [info] = await hub.pathsInfo(C({ repo: REPO, paths: ["empty.txt"] }));
    assert.equal(info.size, 0);
    assert.equal(info.oid, EMPTY_SHA1);
  });

  it("9b. valid but unusual file names round-trip (spaces, Unicode, +, =, parentheses)", async () => {
    // The counterpart of SECURITY P1: the path grammar must not refuse names
    // people use. (Names the JS client itself cannot address, like "#" or "%",
    // are left out: it puts the path into the URL unencoded.)
    const names = ["with space.txt", "naïve café.txt", "日本語/データ.txt", "a+b=c.txt", "copy (1).txt", "dir.with.dots/file-name_1.txt", "UPPER/Mixed.TXT"];
    const out = await hub.uploadFiles(
      C({ repo: REPO, commitTitle: "Step 9b names", files: names.map((p) => ({ path: p, content: new Blob([`content of ${p}\n`]) })) }),
    );
    track(out, "Step 9b names");
    for (const p of names) files.set(p, Buffer.from(`content of ${p}\n`));
    const listed = [];
    for await (const e of hub.listFiles(C({ repo: REPO, recursive: true }))) listed.push(e.path);
    for (const p of names) {
      assert.ok(listed.includes(p), `${p} not listed as sent (NFC, no decoding): ${listed.filter((x) => !x.startsWith("many/"))}`);
      const blob = await hub.downloadFile(C({ repo: REPO, path: p }));
      assert.ok(blob, `downloadFile(${p}) gave null`);
      assert.equal(await blob.text(), `content of ${p}\n`);
    }
    const infos = await hub.pathsInfo(C({ repo: REPO, paths: names }));
    assert.deepEqual(infos.map((i) => i.path).sort(), [...names].sort());
    assert.equal(await hub.fileExists(C({ repo: REPO, path: "a+b=c.txt" })), true);
    assert.equal(await hub.fileExists(C({ repo: REPO, path: "a b=c.txt" })), false, "'+' in a path is not a space");
  });

  it("10. metadata: modelInfo at HEAD (sha, filePaths), pathsInfo with expand, fileExists", async () => {
    const n = f.log.length;
    const mi = await hub.modelInfo(C({ name: REPO, additionalFields: ["sha", "filePaths"] }));
    assert.match(f.log[n].url, /\/api\/models\/alice\/[^/]+\/revision\/HEAD\?/, "JS asks for revision HEAD");
    assert.equal(mi.sha, head, "sha is the last commit");
    assert.equal(mi.name, REPO);
    assert.equal(typeof mi.id, "string");
    assert.ok(!isNaN(mi.updatedAt.getTime()), "lastModified is a date");
    assert.match(f.log[n].json.lastModified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, "dates end in Z");
    assert.notEqual(f.log[n].json.xetEnabled, true, "never xetEnabled:true");
    const expected = [...files.keys()].sort();
    const got = mi.filePaths.filter((p) => p !== ".gitattributes").sort();
    assert.deepEqual(got, expected);

    const infos = await hub.pathsInfo(C({ repo: REPO, paths: ["config.json", "model.bin", "nope.txt"], expand: true }));
    assert.equal(infos.length, 2, JSON.stringify(infos));
    const byPath = Object.fromEntries(infos.map((i) => [i.path, i]));
    const step4 = mainCommits[0].oid;
    assert.equal(byPath["model.bin"].lfs?.oid, sha256(model12));
    assert.equal(byPath["model.bin"].lastCommit?.id, step4, "lastCommit.id is the commit that last touched the file");
    assert.equal(byPath["config.json"].lastCommit?.id, step4);
    assert.equal(byPath["config.json"].lastCommit?.title, "Step 4 upload");
    assert.ok(!isNaN(byPath["config.json"].lastCommit.date.getTime()));
    assert.equal(byPath["config.json"].oid, gitBlobSha1(files.get("config.json")));

    // Python sends a form body (HUB-API.md 1.8).
    const form = await api(B, "POST", `/api/models/${REPO}/paths-info/main`, {
      token: alice,
      body: "paths=config.json&paths=model.bin&paths=nope.txt&expand=true",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });
    assert.equal(form.status, 200, form.describe());
    assert.deepEqual(form.json.map((e) => e.path).sort(), ["config.json", "model.bin"], form.describe());
    assert.equal(form.json.find((e) => e.path === "model.bin").lfs?.oid, sha256(model12));
    assert.equal(form.json.find((e) => e.path === "config.json").lastCommit?.id, step4);

    assert.equal(await hub.fileExists(C({ repo: REPO, path: "config.json" })), true);
    assert.equal(await hub.fileExists(C({ repo: REPO, path: "sub/dir/a.txt" })), true);
    assert.equal(await hub.fileExists(C({ repo: REPO, path: "nope.txt" })), false);
  });

  it("11. history: listCommits newest first with the titles sent, countCommits", async () => {
    const list = [];
    for await (const c of hub.listCommits(C({ repo: REPO, batchSize: 3 }))) list.push(c);
    const mine = [...mainCommits].reverse();
    assert.ok(list.length === mine.length || list.length === mine.length + 1, `${list.length} commits listed, ${mine.length} made (+1 initial allowed)`);
    for (const [i, c] of mine.entries()) {
      assert.equal(list[i].oid, c.oid, `commit ${i} (newest first)`);
      assert.equal(list[i].title, c.title);
      assert.ok(
        list[i].authors.some((a) => a.username === "alice"),
        `authors of ${c.title}: ${JSON.stringify(list[i].authors)}`,
      );
      assert.ok(!isNaN(list[i].date.getTime()));
    }
    for (let i = 1; i < list.length; i++) assert.ok(list[i - 1].date >= list[i].date, "dates not newest first");
    assert.equal(await hub.countCommits(C({ repo: REPO })), list.length);
  });

  it("12. branches: create dev, commit on it, listing per branch, 409, delete, main refused", async () => {
    await hub.createBranch(C({ repo: REPO, branch: "dev", revision: "main" }));
    const out = await hub.uploadFile(C({ repo: REPO, branch: "dev", commitTitle: "On dev", file: { path: "dev-only.txt", content: new Blob(["dev\n"]) } }));
    assert.ok(isHex(out.commit.oid, 40));
    const onDev = [];
    for await (const e of hub.listFiles(C({ repo: REPO, revision: "dev" }))) onDev.push(e.path);
    assert.ok(onDev.includes("dev-only.txt"), `dev: ${onDev}`);
    const onMain = [];
    for await (const e of hub.listFiles(C({ repo: REPO }))) onMain.push(e.path);
    assert.ok(!onMain.includes("dev-only.txt"), "main must not have dev's file");
    assert.equal((await hub.modelInfo(C({ name: REPO, revision: "main", additionalFields: ["sha"] }))).sha, head, "main moved");
    assert.equal((await hub.modelInfo(C({ name: REPO, revision: "dev", additionalFields: ["sha"] }))).sha, out.commit.oid);

    await hubError(hub.createBranch(C({ repo: REPO, branch: "dev", revision: "main" })), 409, "duplicate branch");
    await hub.deleteBranch(C({ repo: REPO, branch: "dev" }));
    const gone = await api(B, "GET", `/api/models/${REPO}/revision/dev`, { token: alice });
    assertError(gone, 404, { code: "RevisionNotFound" });
    const err = await hubError(hub.deleteBranch(C({ repo: REPO, branch: "main" })), [400, 403, 409, 422], "deleting main");
    assert.ok(err.statusCode !== 404);
    assert.equal((await hub.modelInfo(C({ name: REPO, additionalFields: ["sha"] }))).sha, head, "main is intact");
  });

  it("12b. refs, tags and a branch name with a slash (encoded and raw revisions)", async () => {
    // A branch "feat/x": JS encodes it in preupload/commit/resolve (feat%2Fx) and
    // sends it raw in /tree/ (HUB-API.md 1.12); both must reach the branch.
    await hub.createBranch(C({ repo: REPO, branch: "feat/x", revision: "main" }));
    const out = await hub.uploadFile(
      C({ repo: REPO, branch: "feat/x", commitTitle: "On feat/x", file: { path: "feat.txt", content: new Blob(["feature\n"]) } }),
    );
    const onFeat = [];
    for await (const e of hub.listFiles(C({ repo: REPO, revision: "feat/x" }))) onFeat.push(e.path);
    assert.ok(onFeat.includes("feat.txt"), `tree/feat/x: ${onFeat}`);
    const fb = await hub.downloadFile(C({ repo: REPO, path: "feat.txt", revision: "feat/x" }));
    assert.equal(await fb.text(), "feature\n");
    assert.equal((await hub.modelInfo(C({ name: REPO, revision: "feat/x", additionalFields: ["sha"] }))).sha, out.commit.oid);
    const commits = [];
    for await (const c of hub.listCommits(C({ repo: REPO, revision: "feat/x" }))) commits.push(c.title);
    assert.equal(commits[0], "On feat/x");

    // Tags (P1 endpoints, as Python's create_tag/delete_tag send them).
    const t1 = await api(B, "POST", `/api/models/${REPO}/tag/main`, { token: alice, json: { tag: "v1.0", message: "first release" } });
    assert.ok(t1.status >= 200 && t1.status < 300, t1.describe());
    assertError(await api(B, "POST", `/api/models/${REPO}/tag/main`, { token: alice, json: { tag: "v1.0" } }), 409);
    const byTag = await hub.downloadFile(C({ repo: REPO, path: "model.bin", revision: "v1.0" }));
    assert.equal(sha256(await blobBytes(byTag)), sha256(model12));
    const refs = await api(B, "GET", `/api/models/${REPO}/refs`, { token: alice });
    assert.equal(refs.status, 200, refs.describe());
    assert.ok(Array.isArray(refs.json.converts), "refs.converts is required by Python");
    const main = refs.json.branches.find((b) => b.name === "main");
    assert.deepEqual(main, { name: "main", ref: "refs/heads/main", targetCommit: head });
    assert.ok(
      refs.json.branches.some((b) => b.name === "feat/x" && b.ref === "refs/heads/feat/x" && b.targetCommit === out.commit.oid),
      refs.describe(),
    );
    const tag = refs.json.tags.find((t) => t.name === "v1.0");
    assert.ok(tag && tag.ref === "refs/tags/v1.0" && tag.targetCommit === head, refs.describe());
    const dt = await api(B, "DELETE", `/api/models/${REPO}/tag/v1.0`, { token: alice });
    assert.ok(dt.status >= 200 && dt.status < 300, dt.describe());
    assertError(await api(B, "GET", `/api/models/${REPO}/revision/v1.0`, { token: alice }), 404, { code: "RevisionNotFound" });
    await hub.deleteBranch(C({ repo: REPO, branch: "feat/x" }));
    const after = await api(B, "GET", `/api/models/${REPO}/refs`, { token: alice });
    assert.deepEqual(
      after.json.branches.map((b) => b.name),
      ["main"],
    );
    assert.deepEqual(after.json.tags, []);
  });

  it("13. parent commit: stale parentCommit gives 412, the current one succeeds", async () => {
    const stale = mainCommits[0].oid;
    const op = (p) => [{ operation: "addOrUpdate", path: p, content: new Blob([`${p}\n`]) }];
    await hubError(hub.commit(C({ repo: REPO, title: "stale", operations: op("stale.txt"), parentCommit: stale })), 412, "stale parentCommit");
    assert.equal((await hub.modelInfo(C({ name: REPO, additionalFields: ["sha"] }))).sha, head, "a 412 changed main");
    const out = await hub.commit(C({ repo: REPO, title: "Step 13 with parent", operations: op("fresh.txt"), parentCommit: head }));
    track(out, "Step 13 with parent");
    files.set("fresh.txt", Buffer.from("fresh.txt\n"));
  });

  it("14. deletes: deleteFile, then deleteFiles of two paths", async () => {
    track(await hub.deleteFile(C({ repo: REPO, path: "config.json", commitTitle: "Step 14 delete one" })), "Step 14 delete one");
    files.delete("config.json");
    assert.equal(await hub.downloadFile(C({ repo: REPO, path: "config.json" })), null);
    track(await hub.deleteFiles(C({ repo: REPO, paths: ["sub/dir/a.txt", "README.md"], commitTitle: "Step 14 delete two" })), "Step 14 delete two");
    files.delete("sub/dir/a.txt");
    files.delete("README.md");
    assert.equal(await hub.downloadFile(C({ repo: REPO, path: "sub/dir/a.txt" })), null);
    assert.equal(await hub.downloadFile(C({ repo: REPO, path: "README.md" })), null);
    assert.equal(await hub.fileExists(C({ repo: REPO, path: "README.md" })), false);
    assert.ok(await hub.downloadFile(C({ repo: REPO, path: "fresh.txt" })), "other files stay");
  });

  it("15. search: query, owner, limit, paging with --list-page-size 2, datasets and spaces", async () => {
    for (const i of [1, 2, 3]) await hub.createRepo(C({ repo: `alice/${R}-p${i}` }));
    // alice is signed in: her own private repo is part of her results (the Hub's
    // behaviour); step 16 checks that anonymous callers never see it.
    const want = [REPO, `acme/${R}-org`, `alice/${R}-priv`, `alice/${R}-p1`, `alice/${R}-p2`, `alice/${R}-p3`];
    const n = f.log.length;
    const names = [];
    for await (const m of hub.listModels(C({ search: { query: `${R}` } }))) names.push(m.name);
    for (const w of want) assert.ok(names.includes(w), `${w} not found by search: ${names}`);
    assert.equal(new Set(names).size, names.length, "duplicates across pages");
    assert.ok(!names.some((x) => x.includes(`${R}-ds`) || x.includes(`${R}-sp`)), `datasets/spaces in listModels: ${names}`);
    const reqs = f.since(n).filter((e) => new URL(e.url).pathname === "/api/models");
    assert.ok(reqs.length >= 3, `${names.length} results at page size 2 came in ${reqs.length} request(s)`);
    for (const r of reqs) assert.ok(r.json.length <= 2, `a page of ${r.json.length}`);
    const page1 = reqs[0].json[0];
    for (const k of ["_id", "id", "private", "downloads", "likes", "lastModified"]) assert.ok(k in page1, `listing item lacks ${k}: ${JSON.stringify(page1)}`);
    assert.ok([false, "auto", "manual"].includes(page1.gated), `gated: ${page1.gated}`);

    const acme = [];
    for await (const m of hub.listModels(C({ search: { owner: "acme" } }))) acme.push(m.name);
    assert.ok(acme.includes(`acme/${R}-org`), `owner acme: ${acme}`);
    assert.ok(
      acme.every((x) => x.startsWith("acme/")),
      `owner acme returned others: ${acme}`,
    );
    const one = [];
    for await (const m of hub.listModels(C({ search: { query: R }, limit: 1 }))) one.push(m.name);
    assert.equal(one.length, 1);
    assert.match(f.log.at(-1).url, /[?&]limit=1(&|$)/);

    // Card metadata from README.md front matter: pipeline_tag and tags filter the listing.
    await hub.uploadFile(
      C({
        repo: `alice/${R}-p1`,
        file: { path: "README.md", content: new Blob([`---\npipeline_tag: text-classification\ntags:\n- tag-${R}\nlicense: mit\n---\n# p1\n`]) },
      }),
    );
    const tagged = [];
    for await (const m of hub.listModels(C({ search: { tags: [`tag-${R}`] } }))) tagged.push(m);
    assert.deepEqual(
      tagged.map((m) => m.name),
      [`alice/${R}-p1`],
      "filter by a card tag",
    );
    assert.equal(tagged[0].task, "text-classification", "pipeline_tag from the card");
    const byTask = [];
    for await (const m of hub.listModels(C({ search: { query: R, task: "text-classification" } }))) byTask.push(m.name);
    assert.deepEqual(byTask, [`alice/${R}-p1`], "pipeline_tag filter");

    const ds = [];
    for await (const d of hub.listDatasets(C({ search: { query: R } }))) ds.push(d.name);
    assert.deepEqual(ds, [`alice/${R}-ds`]);
    const sp = [];
    for await (const s of hub.listSpaces(C({ search: { query: R } }))) sp.push(s.name);
    assert.deepEqual(sp, [`alice/${R}-sp`]);
  });

  it("16. privacy: anonymous vs the private repo, bob cannot write alice's repo, anonymous public download", async () => {
    const PRIV = `alice/${R}-priv`;
    await hub.uploadFile(C({ repo: PRIV, file: { path: "secret.txt", content: new Blob(["private bytes\n"]) } }));
    const anon = { hubUrl: B, fetch: f };
    await hubError(hub.modelInfo({ ...anon, name: PRIV }), [401, 404], "anonymous modelInfo(private)");
    assert.equal(await hub.repoExists({ ...anon, repo: PRIV }), false);
    await hubError(hub.downloadFile({ ...anon, repo: PRIV, path: "secret.txt" }), [401, 404], "anonymous downloadFile(private)");
    const listed = [];
    for await (const m of hub.listModels({ ...anon, search: { query: R } })) listed.push(m.name);
    assert.ok(listed.includes(REPO) && !listed.includes(PRIV), `anonymous listing: ${listed}`);

    await hubError(
      hub.uploadFile({ hubUrl: B, accessToken: bob, fetch: f, repo: REPO, file: { path: "bob.txt", content: new Blob(["x"]) } }),
      [401, 403],
      "bob writes alice's repo",
    );
    assert.equal(await hub.fileExists(C({ repo: REPO, path: "bob.txt" })), false);
    await hubError(
      hub.uploadFile({ hubUrl: B, accessToken: bob, fetch: f, repo: PRIV, file: { path: "bob.txt", content: new Blob(["x"]) } }),
      [401, 403, 404],
      "bob writes alice's private repo",
    );

    const pub = await hub.downloadFile({ ...anon, repo: REPO, path: "model.bin" });
    assert.equal(sha256(await blobBytes(pub)), sha256(model12));

    // Visibility changes take effect on the next request (PUT settings, both forms).
    const P2 = `alice/${R}-p2`;
    const s1 = await api(B, "PUT", `/api/models/${P2}/settings`, { token: alice, json: { visibility: "private" } });
    assert.ok(s1.status >= 200 && s1.status < 300, s1.describe());
    assert.equal(await hub.repoExists({ ...anon, repo: P2 }), false, "made private, still visible");
    assert.equal((await hub.modelInfo(C({ name: P2 }))).private, true);
    const s2 = await api(B, "PUT", `/api/models/${P2}/settings`, { token: alice, json: { private: false } });
    assert.ok(s2.status >= 200 && s2.status < 300, s2.describe());
    assert.equal(await hub.repoExists({ ...anon, repo: P2 }), true, "made public, still hidden");
  });

  it("17. cache: snapshotDownload and downloadFileToCacheDir", async () => {
    const cacheDir = tmpDir("huddle-hfcache-");
    const snap = await hub.snapshotDownload(C({ repo: REPO, cacheDir }));
    assert.equal(snap, path.join(cacheDir, `models--alice--${R}`, "snapshots", head));
    for (const [p, b] of files) {
      const onDisk = fs.readFileSync(path.join(snap, p));
      assert.equal(sha256(onDisk), sha256(b), `cached ${p}`);
    }
    assert.equal(fs.readFileSync(path.join(cacheDir, `models--alice--${R}`, "refs", "main"), "utf8").trim(), head);
    const one = await hub.downloadFileToCacheDir(C({ repo: REPO, path: "model.bin", revision: head, cacheDir }));
    assert.equal(one, path.join(snap, "model.bin"));
    const fresh = tmpDir("huddle-hfcache-");
    const viaMain = await hub.downloadFileToCacheDir(C({ repo: REPO, path: "big.bin", cacheDir: fresh }));
    assert.equal(sha256(fs.readFileSync(viaMain)), sha256(big40));
    assert.equal(viaMain, path.join(fresh, `models--alice--${R}`, "snapshots", mainCommits[1].oid, "big.bin"), "named after lastCommit.id");
  });

  it("18. delete: deleteRepo, then repoExists is false and a second delete is a 404", async () => {
    const victim = `alice/${R}-p3`;
    assert.equal(await hub.repoExists(C({ repo: victim })), true);
    await hub.deleteRepo(C({ repo: victim }));
    assert.equal(await hub.repoExists(C({ repo: victim })), false);
    await hubError(hub.deleteRepo(C({ repo: victim })), 404, "second deleteRepo");
    await hub.deleteRepo(C({ repo: `datasets/alice/${R}-ds` }));
    assert.equal(await hub.repoExists(C({ repo: `datasets/alice/${R}-ds` })), false);
    // Move (rename): the new name serves the content, the old one is gone.
    const moved = `alice/${R}-moved`;
    const mv = await api(B, "POST", "/api/repos/move", { token: alice, json: { fromRepo: `alice/${R}-p1`, toRepo: moved, type: "model" } });
    assert.ok(mv.status >= 200 && mv.status < 300, mv.describe());
    assert.equal(await hub.repoExists(C({ repo: `alice/${R}-p1` })), false);
    const readme = await hub.downloadFile(C({ repo: moved, path: "README.md" }));
    assert.match(await readme.text(), /# p1/);
    assertError(await api(B, "POST", "/api/repos/move", { token: alice, json: { fromRepo: moved, toRepo: REPO, type: "model" } }), 409);
    // The name is free again.
    const again = await hub.createRepo(C({ repo: victim }));
    assert.equal(again.repoUrl, `${B}/${victim}`);
    assert.equal(
      (await hub.modelInfo(C({ name: victim, additionalFields: ["filePaths"] }))).filePaths.filter((p) => p !== ".gitattributes").length,
      0,
      "a recreated repo starts empty",
    );
  });

  it("19. git: clone a private repo with the token, git lfs pull, push an LFS file", async () => {
    const GREPO = `alice/${R}-git`;
    await hub.createRepo(C({ repo: GREPO, private: true }));
    const lfsBytes = randomBytes(3 * MiB);
    await hub.uploadFiles(
      C({
        repo: GREPO,
        files: [
          { path: ".gitattributes", content: new Blob(["*.bin filter=lfs diff=lfs merge=lfs -text\n"]) },
          { path: "model.bin", content: new Blob([model12]) },
          { path: "notes.txt", content: new Blob(["hello git\n"]) },
        ],
      }),
    );
    const g = gitEnv({ user: "alice", token: alice });
    const dir = path.join(g.home, "clone");
    await g.run(["clone", `${B}/${GREPO}`, dir], { env: { GIT_LFS_SKIP_SMUDGE: "1" } });
    await g.run(["lfs", "install", "--local"], { cwd: dir }); // the pre-push hook that uploads LFS objects
    assert.equal(fs.readFileSync(path.join(dir, "notes.txt"), "utf8"), "hello git\n");
    assert.equal(
      fs.readFileSync(path.join(dir, "model.bin")).toString(),
      lfsPointer(sha256(model12), model12.length).toString(),
      "the clone holds the pointer before lfs pull",
    );
    await g.run(["lfs", "pull"], { cwd: dir });
    assert.equal(sha256(fs.readFileSync(path.join(dir, "model.bin"))), sha256(model12), "git lfs pull reproduces model.bin");

    fs.writeFileSync(path.join(dir, "pushed.bin"), lfsBytes);
    await g.run(["add", "pushed.bin"], { cwd: dir });
    await g.run(["commit", "-q", "-m", "Push an LFS file with git"], { cwd: dir });
    await g.run(["push", "origin", "main"], { cwd: dir });
    const sha = (await g.run(["rev-parse", "HEAD"], { cwd: dir })).trim();
    const entries = [];
    for await (const e of hub.listFiles(C({ repo: GREPO }))) entries.push(e);
    const pushed = entries.find((e) => e.path === "pushed.bin");
    assert.ok(pushed, `pushed.bin not listed: ${entries.map((e) => e.path)}`);
    assert.equal(pushed.lfs?.oid, sha256(lfsBytes));
    assert.equal(pushed.size, lfsBytes.length);
    assert.equal((await hub.modelInfo(C({ name: GREPO, additionalFields: ["sha"] }))).sha, sha);
    const back = await hub.downloadFile(C({ repo: GREPO, path: "pushed.bin" }));
    assert.equal(sha256(await blobBytes(back)), sha256(lfsBytes));
    const titles = [];
    for await (const c of hub.listCommits(C({ repo: GREPO }))) titles.push(c.title);
    assert.equal(titles[0], "Push an LFS file with git");
  });

  it("20. raw negatives: unknown LFS oid, tampered signature, unsatisfiable range", async () => {
    const sha0 = (await hub.modelInfo(C({ name: REPO, additionalFields: ["sha"] }))).sha;
    const ghost = sha256(randomBytes(64));
    const r1 = await commitRaw(
      B,
      "model",
      REPO,
      [
        { key: "header", value: { summary: "ghost" } },
        { key: "lfsFile", value: { path: "ghost.bin", algo: "sha256", oid: ghost, size: 64 } },
      ],
      { token: alice },
    );
    assertError(r1);
    assert.equal((await hub.modelInfo(C({ name: REPO, additionalFields: ["sha"] }))).sha, sha0, "a refused commit moved main");

    const bytes = randomBytes(2 * MiB);
    const oid = sha256(bytes);
    const b = await lfsBatch(B, REPO, { objects: [{ oid, size: bytes.length }], token: alice });
    assert.equal(b.status, 200, b.describe());
    const href = b.json.objects[0].actions?.upload?.href;
    assert.ok(href, b.describe());
    // Tamper with the signature: every query value (HUB-API.md 1.5 suggests an
    // HMAC in the query), or the last path character when the query is empty.
    const u = new URL(href);
    const flip = (v) => v.slice(0, -1) + (v.endsWith("0") ? "1" : "0");
    if ([...u.searchParams.keys()].length > 0) for (const [k, v] of [...u.searchParams.entries()]) u.searchParams.set(k, flip(v));
    else u.pathname = flip(u.pathname);
    const put = await api(B, "PUT", u.href, { body: bytes });
    assert.ok([401, 403].includes(put.status), `tampered signature:\n${put.describe()}`);
    const b2 = await lfsBatch(B, REPO, { objects: [{ oid, size: bytes.length }], token: alice });
    assert.ok(b2.json.objects[0].actions?.upload, `the object was stored through a tampered href:\n${b2.describe()}`);

    for (const p of ["fresh.txt", "model.bin"]) {
      const size = files.get(p).length;
      const r = await api(B, "GET", `/${REPO}/resolve/main/${p}`, { token: alice, headers: { Range: "bytes=999999999-" }, redirect: "follow" });
      assert.equal(r.status, 416, r.describe());
      assert.equal(r.header("content-range"), `bytes */${size}`, r.describe());
    }
  });

  it("21. the Python client's wire forms (HUB-API.md 1, 3 and trace T9), sent raw", async () => {
    const DATE_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/; // what huggingface_hub parses
    // create_repo: no type for models, organization null (the caller), "private" instead of visibility.
    const cr = await api(B, "POST", "/api/repos/create", { token: alice, json: { name: `${R}-py`, organization: null, private: true } });
    assert.equal(cr.status, 200, cr.describe());
    assert.equal(cr.json.url, `${B}/alice/${R}-py`);
    assert.equal((await hub.modelInfo(C({ name: `alice/${R}-py` }))).private, true);
    const again = await api(B, "POST", "/api/repos/create", { token: alice, json: { name: `${R}-py`, organization: null, private: true } });
    assertError(again, 409);
    assert.equal(again.json.url, `${B}/alice/${R}-py`, "exist_ok reads the 409 body's url");

    // list_models with Python's parameters, old `direction=-1` and `expand[]=`.
    const lm = await api(B, "GET", `/api/models?search=${R}&author=alice&sort=downloads&direction=-1&limit=50&full=true&config=true&cardData=true`, {
      token: alice,
    });
    assert.equal(lm.status, 200, lm.describe());
    assert.ok(
      lm.json.some((m) => m.id === REPO),
      lm.describe(),
    );
    const ex = await api(B, "GET", `/api/models/${REPO}?expand[]=likes&expand[]=sha`, { token: alice });
    assert.equal(ex.status, 200, ex.describe());
    // repo_info(files_metadata=True) sends blobs=True and reads siblings[].size,
    // .blobId and .lfs{size, sha256, pointerSize}.
    const fm = await api(B, "GET", `/api/models/${REPO}/revision/main?blobs=True`, { token: alice });
    assert.equal(fm.status, 200, fm.describe());
    const sib = new Map(fm.json.siblings.map((x) => [x.rfilename, x]));
    const { items: files21 } = await getAllPages(B, `/api/models/${REPO}/tree/main?recursive=true`, { token: alice });
    let nLfs = 0;
    for (const f of files21.filter((x) => x.type === "file")) {
      const want = { rfilename: f.path, size: f.size, blobId: f.oid };
      if (f.lfs) {
        want.lfs = { size: f.lfs.size, sha256: f.lfs.oid, pointerSize: f.lfs.pointerSize };
        nLfs++;
      }
      assert.deepEqual(sib.get(f.path), want, f.path);
    }
    assert.equal(sib.size, files21.filter((x) => x.type === "file").length);
    assert.ok(nLfs > 0, "no LFS file to check");
    assert.deepEqual(sib.get("model.bin")?.lfs, { size: 12 * MiB, sha256: sha256(model12), pointerSize: lfsPointer(sha256(model12), 12 * MiB).length });

    // Revisions quoted with safe="" (dev%2Fx) in every position, also in /tree/.
    assert.equal((await api(B, "POST", `/api/models/${REPO}/branch/py%2Fdev`, { token: alice, json: { startingPoint: "main" } })).status, 200);
    const refs = await api(B, "GET", `/api/models/${REPO}/refs`, { token: alice });
    assert.ok(
      refs.json.branches.some((b) => b.name === "py/dev"),
      refs.describe(),
    );
    const { items: tree } = await getAllPages(B, `/api/models/${REPO}/tree/py%2Fdev?recursive=true&expand=false`, { token: alice });
    assert.ok(
      tree.some((e) => e.path === "model.bin"),
      `tree/py%2Fdev: ${tree.length} entries without model.bin`,
    );
    const hd = await api(B, "HEAD", `/${REPO}/resolve/py%2Fdev/model.bin`, { token: alice });
    assert.ok([200, 302].includes(hd.status), hd.describe());
    assert.equal(hd.header("x-repo-commit"), head, hd.describe());
    const ci = await api(B, "GET", `/api/models/${REPO}/commits/py%2Fdev?limit=1`, { token: alice });
    assert.equal(ci.status, 200, ci.describe());
    assert.equal(typeof ci.json[0].authors[0].user, "string", "commits authors[].user (Python reads it with [...])");
    assert.equal((await api(B, "DELETE", `/api/models/${REPO}/branch/py%2Fdev`, { token: alice })).status, 200);

    // lfs_upload: batch with hash_algo "sha256", PUT without auth, then verify with Bearer.
    const bytes = randomBytes(3 * MiB);
    const oid = sha256(bytes);
    const b = await api(B, "POST", `/${REPO}.git/info/lfs/objects/batch`, {
      token: alice,
      body: JSON.stringify({
        operation: "upload",
        transfers: ["basic", "multipart"],
        hash_algo: "sha256",
        ref: { name: "main" },
        objects: [{ oid, size: bytes.length }],
      }),
      headers: { Accept: "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json" },
    });
    assert.equal(b.status, 200, b.describe());
    const act = b.json.objects[0].actions;
    assert.ok(act?.upload && act.verify?.href?.startsWith(B + "/"), `Python uses verify when offered:\n${b.describe()}`);
    const put = await api(B, "PUT", act.upload.href, { body: bytes, headers: act.upload.header ?? {} });
    assert.ok(put.status >= 200 && put.status < 300, put.describe());
    const v = await api(B, "POST", act.verify.href, { token: alice, json: { oid, size: bytes.length }, headers: act.verify.header ?? {} });
    assert.ok(v.status >= 200 && v.status < 300, v.describe());
    const cm = await commitRaw(
      B,
      "model",
      REPO,
      [
        { key: "header", value: { summary: "Python-style LFS commit", description: "" } },
        { key: "lfsFile", value: { path: "py.bin", algo: "sha256", oid, size: bytes.length } },
      ],
      { token: alice },
    );
    assert.equal(cm.status, 200, cm.describe());
    assert.ok(isHex(cm.json.commitOid, 40) && cm.json.commitUrl === `${B}/${REPO}/commit/${cm.json.commitOid}`, cm.describe());
    track({ commit: { oid: cm.json.commitOid } }, "Python-style LFS commit");
    files.set("py.bin", bytes);

    // Dates everywhere are YYYY-MM-DDTHH:MM:SS[.fff]Z.
    const who = await api(B, "GET", "/api/whoami-v2", { token: alice });
    const info = await api(B, "GET", `/api/models/${REPO}/revision/main`, { token: alice });
    const commits = await api(B, "GET", `/api/models/${REPO}/commits/main?limit=3`, { token: alice });
    const pinfo = await api(B, "POST", `/api/models/${REPO}/paths-info/main`, { token: alice, json: { paths: ["py.bin"], expand: true } });
    const dates = [who.json.auth.accessToken.createdAt, info.json.lastModified, ...commits.json.map((c) => c.date), pinfo.json[0].lastCommit.date];
    if (info.json.createdAt !== undefined) dates.push(info.json.createdAt);
    for (const d of dates) assert.match(d, DATE_RE);
    // Errors carry X-Request-Id (both clients show it).
    const miss = await api(B, "GET", `/api/models/alice/missing-${R}`, { token: alice });
    assert.ok(miss.header("x-request-id"), miss.describe());
  });
});

describe("serve flags: --public-url makes every URL absolute on that base", () => {
  let srv, tok;
  before(async () => {
    srv = await startServer({ publicUrl: "http://localhost:PORT", args: ["--tree-page-size", "2"] });
    await userCreate(srv.dataDir, "alice");
    tok = await tokenCreate(srv.dataDir, "alice", { role: "write" });
  });
  after(async () => {
    if (srv) assert.equal((await srv.stop()).code, 0);
  });
  it("createRepo url, commitUrl, upload hrefs and Link use the public URL", async () => {
    const pub = `http://localhost:${srv.port}`;
    const f = loggingFetch();
    const c = { hubUrl: pub, accessToken: tok, fetch: f };
    const out = await hub.createRepo({ ...c, repo: "alice/pub-url" });
    assert.equal(out.repoUrl, `${pub}/alice/pub-url`);
    const up = await hub.uploadFiles({
      ...c,
      repo: "alice/pub-url",
      files: [1, 2, 3].map((i) => ({ path: `f${i}.txt`, content: new Blob([`${i}`]) })).concat([{ path: "w.bin", content: new Blob([randomBytes(11 * MiB)]) }]),
    });
    assert.ok(up.commit.url.startsWith(`${pub}/alice/pub-url/commit/`), up.commit.url);
    const batch = f.log.find((e) => kindOf(e) === "batch").json;
    assert.ok(batch.objects[0].actions.upload.href.startsWith(pub + "/"), batch.objects[0].actions.upload.href);
    const n = f.log.length;
    const all = [];
    for await (const e of hub.listFiles({ ...c, repo: "alice/pub-url" })) all.push(e.path);
    assert.ok(
      ["f1.txt", "f2.txt", "f3.txt", "w.bin"].every((p) => all.includes(p)),
      `${all}`,
    );
    const link = f.log[n].resHeaders.link ?? "";
    assert.ok(link.startsWith(`<${pub}/`), `Link not on the public URL: ${link}`);
  });
});

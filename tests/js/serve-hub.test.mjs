// serve-hub.test.mjs: issue 4, models served straight from the hub. A GGUF
// pushed with @huggingface/hub answers by its repo id right after the
// commit; a push to the branch is picked up by the next request (the
// revision is part of the key) and old revisions stay addressable by sha;
// @branch and :QUANT select what is served (Q4_K_M by default, as Ollama);
// private repos are "not found" to others exactly like missing ones (V6), a
// fine-grained token reaches only its repos (I5), anonymous use only with
// --allow-anonymous-inference and only of public models; least recently used
// models are evicted under the memory budget.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import OpenAI from "openai";
import { startServer, userCreate, tokenCreate } from "./lib/huddle.mjs";
import { api } from "./lib/http.mjs";
import { hub } from "./lib/hub.mjs";
import { tmpDir } from "./lib/util.mjs";
import { genModel, runGreedy, metrics } from "./serve-util.mjs";

const PROMPT = "hello there";
const N = 24;

describe("inference: models from the hub", () => {
  let srv, dir, alice, mallory, files = {}, refs = {};
  const C = (extra) => ({ hubUrl: srv.url, accessToken: alice, ...extra });
  const push = async (repo, file, as, opts = {}) =>
    (await hub.uploadFiles(C({ repo, files: [{ path: as, content: new Blob([fs.readFileSync(file)]) }], ...opts }))).commit.oid;
  const greedy = async (token, model) => {
    const r = await api(srv.url, "POST", "/v1/completions", { token, json: { model, prompt: PROMPT, max_tokens: N, temperature: 0 } });
    return r;
  };
  const text = async (token, model) => {
    const r = await greedy(token, model);
    assert.equal(r.status, 200, r.describe());
    return r.json.choices[0].text;
  };

  before(async () => {
    dir = tmpDir("huddle-serve-h-");
    const small = { dim: 64, layers: 2, heads: 4, kvHeads: 2, ff: 128, vocab: 600, ctx: 256 };
    for (const seed of [5, 6, 7]) files[seed] = await genModel(path.join(dir, `s${seed}.gguf`), { ...small, seed });
    files.q8 = await genModel(path.join(dir, "q8.gguf"), { dim: 256, layers: 2, heads: 4, kvHeads: 2, ff: 512, vocab: 600, ctx: 256, type: "q8_0", seed: 8 });
    files.q4km = await genModel(path.join(dir, "q4km.gguf"), { dim: 256, layers: 2, heads: 4, kvHeads: 2, ff: 512, vocab: 600, ctx: 256, type: "q4_k_m", seed: 9 });
    for (const k of Object.keys(files)) refs[k] = await runGreedy(files[k], PROMPT, N);
    assert.equal(new Set(Object.values(refs)).size, Object.keys(refs).length, "the test models answer differently");
    srv = await startServer({});
    await userCreate(srv.dataDir, "alice");
    await userCreate(srv.dataDir, "mallory");
    alice = await tokenCreate(srv.dataDir, "alice", { role: "write" });
    mallory = await tokenCreate(srv.dataDir, "mallory", { role: "write" });
  });

  after(async () => {
    if (!srv) return;
    const r = await srv.stop();
    assert.equal(r.code, 0, `server exit ${r.code}\n${r.output.slice(-3000)}`);
  });

  it("a pushed model answers by its repo id right after the commit, and the next push is picked up", async () => {
    await hub.createRepo(C({ repo: "alice/tiny" }));
    const sha1 = await push("alice/tiny", files[5], "tiny.gguf");
    // the openai client, by repo id
    const oa = new OpenAI({ baseURL: srv.url + "/v1", apiKey: alice, maxRetries: 0 });
    const chat = await oa.chat.completions.create({ model: "alice/tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 8, temperature: 0 });
    assert.equal(chat.model, "alice/tiny");
    assert.ok(chat.usage.completion_tokens > 0);
    assert.equal(await text(alice, "alice/tiny"), refs[5]);
    // a new file on main: the next request serves it
    const sha2 = await push("alice/tiny", files[6], "tiny.gguf");
    assert.notEqual(sha1, sha2);
    assert.equal(await text(alice, "alice/tiny"), refs[6]);
    // old revisions stay addressable, by full and short sha
    assert.equal(await text(alice, `alice/tiny@${sha1}`), refs[5]);
    assert.equal(await text(alice, `alice/tiny@${sha2.slice(0, 10)}`), refs[6]);
    // a commit that does not touch the GGUF reuses the loaded model
    const loads = (await metrics(srv.url)).huddle_model_loads_total;
    await hub.uploadFiles(C({ repo: "alice/tiny", files: [{ path: "README.md", content: new Blob(["# tiny\n"]) }] }));
    assert.equal(await text(alice, "alice/tiny"), refs[6]);
    assert.equal((await metrics(srv.url)).huddle_model_loads_total, loads);
  });

  it("the GGUF is mapped from the blob store, not copied", async () => {
    // loaded now: alice/tiny at main (files[6]) and at its first commit (files[5])
    const sha256 = (f) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
    const want = new Set([sha256(files[5]), sha256(files[6])]);
    const mapped = new Set();
    for (const line of fs.readFileSync(`/proc/${srv.pid}/maps`, "utf8").split("\n")) {
      const f = line.slice(line.indexOf("/"));
      if (line.includes("/") && f.startsWith(fs.realpathSync(srv.dataDir) + "/") && fs.existsSync(f)) mapped.add(sha256(f));
    }
    for (const h of want) assert.ok(mapped.has(h), `no mapping of the store object ${h}`);
    // and nothing holds a copy: no new file with those bytes outside the store's objects
    const copies = [];
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const f = path.join(d, e.name);
        if (e.isDirectory()) walk(f);
        else if (e.isFile() && want.has(sha256(f))) copies.push(f);
      }
    };
    walk(srv.dataDir);
    assert.equal(copies.length, 2, copies.join("\n"));
  });

  it("concurrent first requests share one load; a GGUF stored as a plain git blob is served too", async () => {
    await hub.createRepo(C({ repo: "alice/burst" }));
    await push("alice/burst", files[7], "b.gguf");
    const l0 = (await metrics(srv.url)).huddle_model_loads_total;
    const outs = await Promise.all(Array.from({ length: 8 }, () => text(alice, "alice/burst")));
    assert.deepEqual(outs, Array(8).fill(refs[7]));
    assert.equal((await metrics(srv.url)).huddle_model_loads_total, l0 + 1);
    // without the *.gguf LFS rule a small GGUF is a regular blob in git
    await hub.createRepo(C({ repo: "alice/plain" }));
    await hub.uploadFiles(C({ repo: "alice/plain", files: [{ path: ".gitattributes", content: new Blob(["*.bin filter=lfs diff=lfs merge=lfs -text\n"]) }] }));
    await push("alice/plain", files[5], "plain.gguf");
    const tree = await api(srv.url, "GET", "/api/models/alice/plain/tree/main", { token: alice });
    assert.ok(!tree.json.find((e) => e.path === "plain.gguf").lfs, "stored as a regular file");
    assert.equal(await text(alice, "alice/plain"), refs[5]);
  });

  it("@branch selects the revision", async () => {
    await hub.createBranch(C({ repo: "alice/tiny", branch: "dev", revision: "main" }));
    await push("alice/tiny", files[7], "tiny.gguf", { branch: "dev" });
    assert.equal(await text(alice, "alice/tiny@dev"), refs[7]);
    assert.equal(await text(alice, "alice/tiny"), refs[6]);
    const nf = await greedy(alice, "alice/tiny@nosuchbranch");
    assert.equal(nf.status, 404, nf.describe());
  });

  it(":QUANT picks the file; the default prefers Q4_K_M (as Ollama)", async () => {
    await hub.createRepo(C({ repo: "alice/quants" }));
    await hub.uploadFiles(C({ repo: "alice/quants", files: [
      { path: "model.Q8_0.gguf", content: new Blob([fs.readFileSync(files.q8)]) },
      { path: "model.Q4_K_M.gguf", content: new Blob([fs.readFileSync(files.q4km)]) },
      { path: "README.md", content: new Blob(["---\nlicense: mit\n---\n# quants\n"]) },
    ] }));
    assert.equal(await text(alice, "alice/quants"), refs.q4km);
    assert.equal(await text(alice, "alice/quants:Q8_0"), refs.q8);
    assert.equal(await text(alice, "alice/quants:q8_0"), refs.q8);
    assert.equal(await text(alice, "alice/quants@main:Q4_K_M"), refs.q4km);
    const r = await greedy(alice, "alice/quants:Q5_K_M");
    assert.equal(r.status, 404, r.describe());
    assert.equal(r.json.error.code, "model_not_found");
    // a repo without a GGUF
    await hub.createRepo(C({ repo: "alice/nogguf" }));
    const n = await greedy(alice, "alice/nogguf");
    assert.equal(n.status, 404, n.describe());
  });

  it("/v1/models lists the repos with a GGUF (the hub's gguf tag)", async () => {
    const r = await api(srv.url, "GET", "/v1/models", { token: alice });
    assert.equal(r.status, 200, r.describe());
    const ids = r.json.data.map((m) => m.id);
    assert.ok(ids.includes("alice/tiny") && ids.includes("alice/quants"), ids.join(","));
    assert.ok(!ids.includes("alice/nogguf"));
    assert.equal(r.json.data.find((m) => m.id === "alice/tiny").owned_by, "alice");
    const tagged = await api(srv.url, "GET", "/api/models?filter=gguf");
    assert.deepEqual(tagged.json.map((m) => m.id).sort(), ["alice/burst", "alice/plain", "alice/quants", "alice/tiny"]);
  });

  it("a private model is 'not found' to others, exactly like a missing one (V6)", async () => {
    await hub.createRepo(C({ repo: "alice/priv", private: true }));
    const sha = await push("alice/priv", files[5], "p.gguf");
    assert.equal(await text(alice, "alice/priv"), refs[5]);
    const shape = (r, id) => ({ status: r.status, error: { ...r.json.error, message: r.json.error.message.replace(id, "ID") } });
    const missing = shape(await greedy(mallory, "alice/nothere"), "alice/nothere");
    assert.equal(missing.status, 404);
    for (const id of ["alice/priv", `alice/priv@${sha}`, `alice/priv@main`, "alice/priv:Q4_K_M"]) {
      const r = await greedy(mallory, id);
      assert.deepEqual(shape(r, id), missing, `${id} as mallory`);
      const c = await api(srv.url, "POST", "/v1/chat/completions", { token: mallory, json: { model: id, messages: [{ role: "user", content: "x" }] } });
      assert.deepEqual(shape(c, id), missing);
    }
    // every endpoint that takes a model answers the same for it and for a missing one
    const other = [
      ["POST", "/tokenize", (id) => ({ model: id, prompt: "x" })],
      ["POST", "/v1/tokenize", (id) => ({ model: id, prompt: "x" })],
      ["POST", "/detokenize", (id) => ({ model: id, tokens: [1] })],
      ["GET", "/tokenizer_info?model=", null],
      ["GET", "/v1/models/", null],
    ];
    for (const [method, p, body] of other) {
      const call = (id) => api(srv.url, method, body ? p : p + id, { token: mallory, json: body ? body(id) : undefined });
      const miss = shape(await call("alice/nothere"), "alice/nothere");
      assert.equal(miss.status, 404, p);
      for (const id of ["alice/priv", `alice/priv@${sha}`]) assert.deepEqual(shape(await call(id), id), miss, `${method} ${p} ${id}`);
    }
    // alice herself gets the real thing
    const t = await api(srv.url, "POST", "/tokenize", { token: alice, json: { model: "alice/priv", prompt: "x" } });
    assert.equal(t.status, 200, t.describe());
    const list = await api(srv.url, "GET", "/v1/models", { token: mallory });
    assert.ok(!list.json.data.some((m) => m.id === "alice/priv"));
    const own = await api(srv.url, "GET", "/v1/models", { token: alice });
    assert.ok(own.json.data.some((m) => m.id === "alice/priv"));
    const one = await api(srv.url, "GET", "/v1/models/alice/priv", { token: mallory });
    assert.equal(one.status, 404);
  });

  it("a fine-grained token reaches only the repos it lists (I5)", async () => {
    const scoped = await tokenCreate(srv.dataDir, "alice", { role: "read", repos: ["model/alice/tiny"] });
    assert.equal(await text(scoped, "alice/tiny"), refs[6]);
    for (const id of ["alice/quants", "alice/priv"]) {
      const r = await greedy(scoped, id);
      assert.equal(r.status, 404, `${id}: ${r.describe()}`);
    }
    const list = await api(srv.url, "GET", "/v1/models", { token: scoped });
    assert.deepEqual(list.json.data.map((m) => m.id), ["alice/tiny"]);
  });

  it("anonymous: refused by default; with --allow-anonymous-inference only public models", async () => {
    const anon = await greedy(undefined, "alice/tiny");
    assert.equal(anon.status, 401, anon.describe());
    await srv.stop();
    srv = await srv.restart({ args: ["--allow-anonymous-inference"] });
    assert.equal(await text(undefined, "alice/tiny"), refs[6]);
    const oa = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "no-key-needed", maxRetries: 0 });
    const r = await oa.completions.create({ model: "alice/quants:Q8_0", prompt: PROMPT, max_tokens: N, temperature: 0 });
    assert.equal(r.choices[0].text, refs.q8);
    const priv = await greedy(undefined, "alice/priv");
    assert.equal(priv.status, 404, priv.describe());
    const bad = await greedy("hf_" + "y".repeat(34), "alice/tiny");
    assert.equal(bad.status, 401);
    const list = await api(srv.url, "GET", "/v1/models");
    assert.ok(!list.json.data.some((m) => m.id === "alice/priv"));
    assert.ok(list.json.data.some((m) => m.id === "alice/tiny"));
  });

  it("--model REPO[:QUANT] preloads at start; an unknown one stops the start", async () => {
    await srv.stop();
    srv = await srv.restart({ args: ["--model", "alice/quants:Q8_0", "--model", "alice/priv"] });
    const m = await metrics(srv.url);
    assert.equal(m.huddle_models_loaded, 2);
    assert.equal(await text(alice, "alice/quants:Q8_0"), refs.q8);
    assert.equal((await metrics(srv.url)).huddle_model_loads_total, 2, "served from the preload");
    // preloading is no grant: mallory still cannot see the private one
    assert.equal((await greedy(mallory, "alice/priv")).status, 404);
    await srv.stop();
    await assert.rejects(srv.restart({ args: ["--model", "nobody/none"] }), /nobody\/none/);
    srv = await srv.restart({});
  });

  it("least recently used models are evicted under the memory budget", async () => {
    await srv.stop();
    srv = await srv.restart({ args: ["--mem-budget-mb", "2", "--parallel", "4"] });
    for (let round = 0; round < 2; round++) {
      assert.equal(await text(alice, `alice/tiny`), refs[6]);
      assert.equal(await text(alice, `alice/tiny@dev`), refs[7]);
      assert.equal(await text(alice, `alice/priv`), refs[5]);
    }
    const m = await metrics(srv.url);
    assert.ok(m.huddle_model_evictions_total >= 4, JSON.stringify(m));
    assert.equal(m.huddle_models_loaded, 1);
  });
});

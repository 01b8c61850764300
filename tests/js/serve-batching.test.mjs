// serve-batching.test.mjs: issue 4, continuous batching and the limits of
// SECURITY I2-I4. 16 concurrent streaming clients get the same answers as
// one at a time (greedy and seeded), and the scheduler really batched them;
// a client that disconnects frees its slot at once (I3, plain and streamed);
// a full queue answers 429 with Retry-After and a caller over its share
// too, while others are still served (I2); the KV prefix cache helps the
// same caller and never another one (I4).
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import OpenAI from "openai";
import { startServer, userCreate, tokenCreate } from "./lib/huddle.mjs";
import { api } from "./lib/http.mjs";
import { tmpDir, sleep, slow } from "./lib/util.mjs";
import { genModel, metrics, sse, waitFor } from "./serve-util.mjs";

const NOEOS = { 2: -100 }; // logit_bias: the random model never ends on its own

describe("inference: continuous batching and limits", () => {
  let srv, tok, tok2, oa, model;

  before(async () => {
    const dir = tmpDir("huddle-serve-b-");
    model = await genModel(path.join(dir, "slow.gguf"), { dim: 256, layers: 4, heads: 4, kvHeads: 4, ff: 512, vocab: 2000, ctx: 2048, seed: 3 });
    srv = await startServer({ args: ["--model", `m=${model}`, "--parallel", "16"] });
    await userCreate(srv.dataDir, "alice");
    await userCreate(srv.dataDir, "bob");
    tok = await tokenCreate(srv.dataDir, "alice", { role: "read" });
    tok2 = await tokenCreate(srv.dataDir, "bob", { role: "read" });
    oa = new OpenAI({ baseURL: srv.url + "/v1", apiKey: tok, maxRetries: 0 });
  });

  after(async () => {
    if (!srv) return;
    const r = await srv.stop();
    assert.equal(r.code, 0, `server exit ${r.code}\n${r.output.slice(-3000)}`);
  });

  const prompts = Array.from({ length: 16 }, (_, i) => `story number ${i} begins with ${"abcdefghijklmnop"[i]} and then`);

  async function streamText(body, token = tok) {
    const s = await sse(srv.url, "/v1/completions", { ...body, stream: true }, { token });
    assert.equal(s.status, 200, s.raw);
    assert.ok(s.done, "no [DONE]");
    return s.events.map((e) => e.choices[0]?.text ?? "").join("");
  }

  it("16 concurrent streams: the same answers as one at a time, and batched", async () => {
    const req = (i) => ({ model: "m", prompt: prompts[i], max_tokens: 48, temperature: 0, logit_bias: NOEOS });
    const alone = [];
    for (let i = 0; i < 16; i++) alone.push((await oa.completions.create(req(i))).choices[0].text);
    assert.ok(new Set(alone).size > 8, "the prompts give different answers");
    const before = await metrics(srv.url);
    const together = await Promise.all(alone.map((_, i) => streamText(req(i))));
    const after = await metrics(srv.url);
    for (let i = 0; i < 16; i++) assert.equal(together[i], alone[i], `stream ${i}`);
    const steps = after.huddle_batch_steps_total - before.huddle_batch_steps_total;
    const decode = after.huddle_batch_decode_tokens_total - before.huddle_batch_decode_tokens_total;
    assert.ok(decode / steps > 4, `mean decode batch ${decode / steps} over ${steps} steps: not batched`);
  });

  it("a seeded request samples the same alone or batched with others", async () => {
    const req = (i) => ({ model: "m", prompt: prompts[i], max_tokens: 40, temperature: 0.9, top_p: 0.95, seed: 1000 + i, logit_bias: NOEOS });
    const alone = [];
    for (let i = 0; i < 8; i++) alone.push((await oa.completions.create(req(i))).choices[0].text);
    // the same requests, all at once and mixed with unseeded traffic
    const noise = Array.from({ length: 6 }, (_, i) => streamText({ model: "m", prompt: prompts[15 - i], max_tokens: 60, temperature: 1 }));
    const together = await Promise.all(alone.map((_, i) => streamText(req(i))));
    await Promise.all(noise);
    assert.deepEqual(together, alone);
  });

  it("chat streams too: 16 concurrent clients, independent answers", async () => {
    const req = (i) => ({ model: "m", messages: [{ role: "user", content: prompts[i] }], max_tokens: 24, temperature: 0, logit_bias: NOEOS });
    const alone = [];
    for (let i = 0; i < 16; i++) alone.push((await oa.chat.completions.create(req(i))).choices[0].message.content);
    const together = await Promise.all(alone.map(async (_, i) => {
      let t = "";
      for await (const ch of await oa.chat.completions.create({ ...req(i), stream: true })) t += ch.choices[0]?.delta?.content ?? "";
      return t;
    }));
    assert.deepEqual(together, alone);
  });

  it("a client that disconnects frees its slot at once (I3)", async () => {
    for (const stream of [true, false]) {
      const m0 = await metrics(srv.url);
      const ac = new AbortController();
      const body = { model: "m", prompt: "a very long story", max_tokens: 1900, temperature: 0, logit_bias: NOEOS };
      let p;
      if (stream) {
        let got = 0;
        p = sse(srv.url, "/v1/completions", { ...body, stream: true }, { token: tok, signal: ac.signal, onEvent: () => { if (++got === 3) ac.abort(); } }).catch((e) => e);
      } else {
        p = api(srv.url, "POST", "/v1/completions", { token: tok, json: body, signal: ac.signal }).catch((e) => e);
        await waitFor(async () => (await metrics(srv.url)).huddle_slots_busy === 1);
        await sleep(50);
        ac.abort();
      }
      await p;
      const t0 = Date.now();
      await waitFor(async () => (await metrics(srv.url)).huddle_slots_busy === 0, { timeout: slow(2000) });
      const freedMs = Date.now() - t0;
      const m1 = await metrics(srv.url);
      assert.equal(m1.huddle_requests_cancelled_total, m0.huddle_requests_cancelled_total + 1, `stream ${stream}`);
      const generated = m1.huddle_generation_tokens_total - m0.huddle_generation_tokens_total;
      assert.ok(generated < 1500, `stream ${stream}: ${generated} tokens were generated for a client that left`);
      await sleep(200);
      const m2 = await metrics(srv.url);
      assert.equal(m2.huddle_generation_tokens_total, m1.huddle_generation_tokens_total, "generation went on");
      assert.ok(freedMs < slow(1000), `slot freed after ${freedMs} ms`);
    }
  });

  it("streams whose readers never read hold no slot, and others are still served (I2 slowloris)", async () => {
    const m0 = await metrics(srv.url);
    const acs = [], readers = [];
    for (let i = 0; i < 4; i++) {
      const ac = new AbortController();
      acs.push(ac);
      // the response's headers arrive, its body is never read
      readers.push(await fetch(srv.url + "/v1/completions", { method: "POST", signal: ac.signal, headers: { Authorization: `Bearer ${tok}`, "Content-Type": "application/json" },
        body: JSON.stringify({ model: "m", prompt: `slow reader ${i}`, max_tokens: 300, temperature: 0, logit_bias: NOEOS, stream: true }) }));
    }
    for (const r of readers) assert.equal(r.status, 200);
    const b = await api(srv.url, "POST", "/v1/completions", { token: tok2, json: { model: "m", prompt: "bob is served", max_tokens: 8, temperature: 0 } });
    assert.equal(b.status, 200, b.describe());
    // generation does not wait for the readers: the slots are free again
    await waitFor(async () => (await metrics(srv.url)).huddle_slots_busy === 0, { timeout: slow(30000) });
    const m1 = await metrics(srv.url);
    assert.ok(m1.huddle_generation_tokens_total - m0.huddle_generation_tokens_total >= 4 * 300 + 8);
    for (const ac of acs) ac.abort();
  });

  it("the prefix cache helps the same caller, never another one (I4)", async () => {
    const long = "the shared system prompt says many things ".repeat(12);
    const req = { model: "m", messages: [{ role: "system", content: long }, { role: "user", content: "alice's secret question" }], max_tokens: 8, temperature: 0, logit_bias: NOEOS };
    const a1 = await api(srv.url, "POST", "/v1/chat/completions", { token: tok, json: req });
    const a2 = await api(srv.url, "POST", "/v1/chat/completions", { token: tok, json: req });
    assert.equal(a2.json.choices[0].message.content, a1.json.choices[0].message.content);
    assert.ok(a2.json.usage.prompt_tokens_details.cached_tokens > a2.json.usage.prompt_tokens / 2, JSON.stringify(a2.json.usage));
    const b = await api(srv.url, "POST", "/v1/chat/completions", { token: tok2, json: req });
    assert.equal(b.json.usage.prompt_tokens_details.cached_tokens, 0, "bob reused alice's cache");
    assert.equal(b.json.choices[0].message.content, a1.json.choices[0].message.content);
  });
});

describe("inference: a full queue and a caller over its share get 429 (I2)", () => {
  let srv, tok, tok2, model;

  before(async () => {
    const dir = tmpDir("huddle-serve-q-");
    model = await genModel(path.join(dir, "slow.gguf"), { dim: 256, layers: 4, heads: 4, kvHeads: 4, ff: 512, vocab: 2000, ctx: 2048, seed: 3 });
    srv = await startServer({ args: ["--model", `m=${model}`, "--parallel", "2", "--max-queue", "1", "--max-requests-per-caller", "2"] });
    await userCreate(srv.dataDir, "alice");
    await userCreate(srv.dataDir, "bob");
    await userCreate(srv.dataDir, "carol");
    tok = await tokenCreate(srv.dataDir, "alice", { role: "read" });
    tok2 = await tokenCreate(srv.dataDir, "bob", { role: "read" });
  });

  after(async () => {
    if (!srv) return;
    const r = await srv.stop();
    assert.equal(r.code, 0, `server exit ${r.code}\n${r.output.slice(-3000)}`);
  });

  it("per caller, then per model", async () => {
    const long = { model: "m", prompt: "a long one", max_tokens: 1500, temperature: 0, logit_bias: NOEOS, stream: true };
    const acs = [];
    const start = (token) => {
      const ac = new AbortController();
      acs.push(ac);
      return sse(srv.url, "/v1/completions", long, { token, signal: ac.signal }).catch(() => null);
    };
    const running = [start(tok), start(tok)];
    await waitFor(async () => (await metrics(srv.url)).huddle_slots_busy === 2);
    // alice has 2 in flight: her third is refused, bob is served
    const third = await api(srv.url, "POST", "/v1/completions", { token: tok, json: { model: "m", prompt: "x", max_tokens: 2 } });
    assert.equal(third.status, 429, third.describe());
    assert.ok(Number(third.header("retry-after")) >= 1, third.describe());
    assert.equal(third.json.error.code, "too_many_requests");
    // bob's request waits in the queue (the one place) and is answered when a slot frees
    const bobs = api(srv.url, "POST", "/v1/completions", { token: tok2, json: { model: "m", prompt: "y", max_tokens: 2 } });
    await waitFor(async () => (await metrics(srv.url)).huddle_queue_depth === 1);
    // now the model is full: a fourth request from anyone gets 429
    const carolTok = await tokenCreate(srv.dataDir, "carol", { role: "read" });
    const full = await api(srv.url, "POST", "/v1/chat/completions", { token: carolTok, json: { model: "m", messages: [{ role: "user", content: "x" }], max_tokens: 2 } });
    assert.equal(full.status, 429, full.describe());
    assert.equal(full.json.error.code, "queue_full");
    assert.ok(Number(full.header("retry-after")) >= 1);
    for (const ac of acs) ac.abort();
    await Promise.all(running);
    const b = await bobs;
    assert.equal(b.status, 200, b.describe());
    const m = await metrics(srv.url);
    assert.ok(m.huddle_requests_rejected_total >= 2);
  });

  it("a queued request whose client leaves is dropped from the queue (I3)", async () => {
    await waitFor(async () => (await metrics(srv.url)).huddle_slots_busy === 0);
    const long = { model: "m", prompt: "a long one", max_tokens: 1500, temperature: 0, logit_bias: NOEOS, stream: true };
    const acs = [new AbortController(), new AbortController(), new AbortController()];
    const running = [tok, tok].map((t, i) => sse(srv.url, "/v1/completions", long, { token: t, signal: acs[i].signal }).catch(() => null));
    await waitFor(async () => (await metrics(srv.url)).huddle_slots_busy === 2);
    const m0 = await metrics(srv.url);
    const queued = api(srv.url, "POST", "/v1/completions", { token: tok2, json: { ...long, stream: false }, signal: acs[2].signal }).catch((e) => e);
    await waitFor(async () => (await metrics(srv.url)).huddle_queue_depth === 1);
    acs[2].abort();
    await queued;
    await waitFor(async () => (await metrics(srv.url)).huddle_queue_depth === 0, { timeout: slow(2000) });
    const m1 = await metrics(srv.url);
    assert.equal(m1.huddle_requests_cancelled_total, m0.huddle_requests_cancelled_total + 1);
    assert.equal(m1.huddle_slots_busy, 2, "the running ones go on");
    // a slot that frees serves the next request at once
    acs[0].abort();
    await waitFor(async () => (await metrics(srv.url)).huddle_slots_busy === 1);
    const again = await api(srv.url, "POST", "/v1/completions", { token: tok2, json: { model: "m", prompt: "y", max_tokens: 2 } });
    assert.equal(again.status, 200, again.describe());
    acs[1].abort();
    await Promise.all(running);
  });
});

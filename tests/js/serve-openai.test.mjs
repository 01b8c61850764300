// serve-openai.test.mjs: issue 4, the OpenAI-compatible API with the
// unmodified npm clients. `openai`: models, chat completions (plain and
// streamed), completions with echo and logprobs checked against the engine's
// own probabilities, error shapes and statuses (SECURITY I1); and
// @huggingface/inference's chatCompletion / chatCompletionStream with
// endpointUrl. Greedy output equals `huddle run`; /tokenize, /detokenize,
// /tokenizer_info, /health, /metrics.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import OpenAI from "openai";
import { InferenceClient } from "@huggingface/inference";
import { startServer, userCreate, tokenCreate } from "./lib/huddle.mjs";
import { api } from "./lib/http.mjs";
import { tmpDir } from "./lib/util.mjs";
import { STORIES, runGreedy, dumpProbs, metrics, sse, run, genModel } from "./serve-util.mjs";

const MODEL = "stories260K";

describe("inference: the OpenAI API with the npm clients", () => {
  let srv, token, oa, dir;

  before(async () => {
    dir = tmpDir("huddle-serve-");
    srv = await startServer({ args: ["--model", `${MODEL}=${STORIES}`] });
    await userCreate(srv.dataDir, "alice");
    token = await tokenCreate(srv.dataDir, "alice", { role: "read" });
    oa = new OpenAI({ baseURL: srv.url + "/v1", apiKey: token, maxRetries: 0 });
  });

  after(async () => {
    if (!srv) return;
    const r = await srv.stop();
    assert.equal(r.code, 0, `server exit ${r.code}\n${r.output.slice(-3000)}`);
  });

  it("lists the model", async () => {
    const list = await oa.models.list();
    const ids = list.data.map((m) => m.id);
    assert.ok(ids.includes(MODEL), JSON.stringify(list.data));
    const m = list.data.find((x) => x.id === MODEL);
    assert.equal(m.object, "model");
    assert.equal(typeof m.created, "number");
    const one = await oa.models.retrieve(MODEL);
    assert.equal(one.id, MODEL);
  });

  it("greedy completions equal `huddle run`", async () => {
    for (const prompt of ["Once upon a time", "Lily and Tom went to the park", "The cat"]) {
      const ref = await runGreedy(STORIES, prompt, 40);
      const r = await oa.completions.create({ model: MODEL, prompt, max_tokens: 40, temperature: 0 });
      assert.equal(r.object, "text_completion");
      assert.equal(r.choices[0].text, ref, `prompt ${JSON.stringify(prompt)}`);
      assert.equal(r.choices[0].finish_reason, "length");
      assert.equal(r.usage.completion_tokens, 40);
      assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 40);
    }
  });

  it("chat: plain and streamed give the same greedy answer, with usage", async () => {
    const messages = [{ role: "system", content: "You tell stories." }, { role: "user", content: "Once upon a time" }];
    const r = await oa.chat.completions.create({ model: MODEL, messages, temperature: 0, max_tokens: 30 });
    assert.equal(r.object, "chat.completion");
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.model, MODEL);
    const c = r.choices[0];
    assert.equal(c.message.role, "assistant");
    assert.ok(c.message.content.length > 0);
    assert.ok(["stop", "length"].includes(c.finish_reason));
    assert.ok(r.usage.prompt_tokens > 10 && r.usage.completion_tokens > 0);

    const stream = await oa.chat.completions.create({ model: MODEL, messages, temperature: 0, max_tokens: 30, stream: true, stream_options: { include_usage: true } });
    let text = "", finish = null, usage = null, chunks = 0, role = null;
    for await (const ch of stream) {
      chunks++;
      if (ch.usage) usage = ch.usage;
      if (!ch.choices.length) continue;
      assert.equal(ch.object, "chat.completion.chunk");
      const d = ch.choices[0].delta;
      if (d.role) role = d.role;
      if (d.content) text += d.content;
      if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
    }
    assert.equal(role, "assistant");
    assert.ok(chunks >= 4, `only ${chunks} chunks`);
    assert.equal(text, c.message.content);
    assert.equal(finish, c.finish_reason);
    assert.deepEqual({ p: usage.prompt_tokens, c: usage.completion_tokens }, { p: r.usage.prompt_tokens, c: r.usage.completion_tokens });
  });

  it("the raw stream ends with data: [DONE]", async () => {
    const s = await sse(srv.url, "/v1/chat/completions", { model: MODEL, messages: [{ role: "user", content: "Hi" }], max_tokens: 5, stream: true }, { token });
    assert.equal(s.status, 200);
    assert.match(s.headers.get("content-type"), /^text\/event-stream/);
    assert.ok(s.done, s.raw);
    assert.ok(s.raw.trimEnd().endsWith("data: [DONE]"));
  });

  it("`huddle run` without -p chats on stdin with the same answers as the API", async () => {
    // stories260K's context (128) is too short for a conversation in ChatML
    const file = await genModel(path.join(dir, "chat.gguf"), { ctx: 1024, seed: 21 });
    const c = await startServer({ args: ["--model", `c=${file}`] });
    await userCreate(c.dataDir, "alice");
    const oc = new OpenAI({ baseURL: c.url + "/v1", apiKey: await tokenCreate(c.dataDir, "alice"), maxRetries: 0 });
    const turns = ["Once upon a time", "The end", "Again"];
    const { stdout } = await run(["run", file, "--temp", "0", "-n", "24", "--system", "You tell stories."], { input: turns.join("\n") + "\n" });
    const messages = [{ role: "system", content: "You tell stories." }];
    const replies = [];
    for (const t of turns) {
      messages.push({ role: "user", content: t });
      const r = await oc.chat.completions.create({ model: "c", messages, temperature: 0, max_tokens: 24 });
      replies.push(r.choices[0].message.content);
      messages.push({ role: "assistant", content: r.choices[0].message.content });
    }
    assert.equal(stdout, replies.map((r) => r + "\n").join(""));
    assert.equal((await c.stop()).code, 0);
  });

  it("chat logprobs: one entry per token, consistent with top_logprobs", async () => {
    const r = await oa.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], temperature: 0, max_tokens: 12, logprobs: true, top_logprobs: 3 });
    const lp = r.choices[0].logprobs.content;
    assert.equal(lp.length, r.usage.completion_tokens);
    assert.equal(lp.map((e) => e.token).join(""), r.choices[0].message.content);
    for (const e of lp) {
      assert.ok(e.logprob <= 0);
      assert.equal(e.top_logprobs.length, 3);
      // greedy: the chosen token is the most likely one
      assert.ok(Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-6, JSON.stringify(e));
      assert.deepEqual(e.bytes, [...Buffer.from(e.token)]);
    }
  });

  it("completions echo + logprobs read off the log-likelihood (lm-eval local-completions)", async () => {
    const tk = await api(srv.url, "POST", "/tokenize", { token, json: { model: MODEL, prompt: "Once upon a time there was a cat", add_special_tokens: true } });
    assert.equal(tk.status, 200, tk.describe());
    const ids = tk.json.tokens;
    assert.equal(ids[0], 1, "BOS first");
    // exactly what lm-eval sends for a loglikelihood request
    const r = await oa.completions.create({ model: MODEL, prompt: ids, temperature: 0, max_tokens: 1, logprobs: 1, seed: 1234, echo: true });
    const lp = r.choices[0].logprobs;
    assert.equal(lp.token_logprobs.length, ids.length + 1);
    assert.equal(lp.token_logprobs[0], null);
    assert.equal(lp.top_logprobs[0], null);
    assert.equal(lp.tokens.length, ids.length + 1);
    // the engine's own probabilities for the same tokens
    const probs = await dumpProbs(STORIES, ids, dir);
    const V = probs.length / ids.length;
    for (let i = 1; i < ids.length; i++) {
      const want = Math.log(probs[(i - 1) * V + ids[i]]);
      assert.ok(Math.abs(lp.token_logprobs[i] - want) < 1e-3, `position ${i}: ${lp.token_logprobs[i]} vs ${want}`);
      const top = Object.values(lp.top_logprobs[i]);
      assert.equal(top.length, 1);
      assert.ok(top[0] >= lp.token_logprobs[i] - 1e-6);
    }
    // the generated token is the greedy continuation
    let best = 0;
    const last = (ids.length - 1) * V;
    for (let t = 1; t < V; t++) if (probs[last + t] > probs[last + best]) best = t;
    assert.ok(Math.abs(lp.token_logprobs[ids.length] - Math.log(probs[last + best])) < 1e-3);
    assert.ok(r.choices[0].text.startsWith("Once upon a time there was a cat"), r.choices[0].text);
    // a batch of prompts: one choice each, by index
    const b = await oa.completions.create({ model: MODEL, prompt: [ids, ids.slice(0, 4)], temperature: 0, max_tokens: 1, logprobs: 1, echo: true });
    assert.equal(b.choices.length, 2);
    assert.deepEqual(b.choices.map((c) => c.index), [0, 1]);
    assert.deepEqual(b.choices[0].logprobs.token_logprobs, lp.token_logprobs);
    assert.equal(b.choices[1].logprobs.token_logprobs.length, 5);
    // max_tokens 0 with echo: the prompt's log-likelihood alone
    const z = await api(srv.url, "POST", "/v1/completions", { token, json: { model: MODEL, prompt: ids, max_tokens: 0, echo: true, logprobs: 0 } });
    assert.equal(z.status, 200, z.describe());
    assert.deepEqual(z.json.choices[0].logprobs.token_logprobs, lp.token_logprobs.slice(0, ids.length));
  });

  it("stop strings end the text before them, also across token boundaries", async () => {
    const full = (await oa.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 40, temperature: 0 })).choices[0].text;
    const cut = full.indexOf("girl");
    assert.ok(cut > 0, full);
    for (const stream of [false, true]) {
      let text = "", finish;
      if (stream) {
        const s = await oa.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 40, temperature: 0, stop: ["irl n", "zzz"], stream: true });
        for await (const ch of s) {
          text += ch.choices[0]?.text ?? "";
          finish = ch.choices[0]?.finish_reason ?? finish;
        }
      } else {
        const r = await oa.completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 40, temperature: 0, stop: ["irl n", "zzz"] });
        text = r.choices[0].text;
        finish = r.choices[0].finish_reason;
      }
      assert.equal(text, full.slice(0, full.indexOf("irl n")), `stream ${stream}`);
      assert.equal(finish, "stop");
    }
  });

  it("a seed makes sampling repeatable", async () => {
    const req = { model: MODEL, prompt: "Once upon a time", max_tokens: 40, temperature: 1, top_p: 0.9, seed: 42 };
    const a = await oa.completions.create(req);
    const b = await oa.completions.create(req);
    assert.equal(a.choices[0].text, b.choices[0].text);
    const outs = new Set();
    for (let s = 1; s <= 4; s++) outs.add((await oa.completions.create({ ...req, seed: s })).choices[0].text);
    assert.ok(outs.size > 1, "different seeds, different samples");
  });

  it("errors: OpenAI's shape and statuses (SECURITY I1)", async () => {
    const bad = async (body, status, param, p = "/v1/chat/completions") => {
      const r = await api(srv.url, "POST", p, { token, json: body });
      assert.equal(r.status, status, r.describe());
      assert.equal(typeof r.json.error.message, "string", r.describe());
      assert.ok(r.json.error.message.length > 0);
      assert.ok("type" in r.json.error && "param" in r.json.error && "code" in r.json.error, r.describe());
      if (param !== undefined) assert.equal(r.json.error.param, param, r.describe());
      return r.json.error;
    };
    const msgs = [{ role: "user", content: "Hi" }];
    await bad({ model: MODEL, messages: msgs, max_tokens: 2 ** 31 }, 400, "max_tokens");
    await bad({ model: MODEL, messages: msgs, max_tokens: -1 }, 400, "max_tokens");
    await bad({ model: MODEL, messages: Array.from({ length: 10000 }, () => ({ role: "user", content: "x" })) }, 400, "messages");
    await bad({ model: MODEL, messages: msgs, n: 1000 }, 400, "n");
    await bad({ model: MODEL, messages: msgs, logprobs: true, top_logprobs: 1000 }, 400, "top_logprobs");
    await bad({ model: MODEL, prompt: "x", logprobs: 1000 }, 400, "logprobs", "/v1/completions");
    await bad({ model: MODEL, messages: msgs, temperature: 7 }, 400, "temperature");
    await bad({ model: MODEL, messages: [] }, 400, "messages");
    await bad({ model: MODEL, messages: [{ role: "wizard", content: "x" }] }, 400, "messages");
    await bad({ model: MODEL, messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "http://x" } }] }] }, 400, "messages");
    await bad({ model: MODEL, messages: msgs, tools: [{ type: "function", function: { name: "f" } }] }, 400, "tools");
    await bad({ model: MODEL, messages: msgs, stop: Array.from({ length: 50 }, () => "a") }, 400, "stop");
    const e = await bad({ model: MODEL, messages: [{ role: "user", content: "word ".repeat(5000) }] }, 400, "messages");
    assert.equal(e.code, "context_length_exceeded");
    await bad({ model: MODEL, prompt: "x".repeat(10 * 1024 * 1024) }, 400, "prompt", "/v1/completions");
    await bad({ model: MODEL, prompt: [1, 2, 99999999] }, 400, "prompt", "/v1/completions");
    const nf = await bad({ model: "nobody/nothing", messages: msgs }, 404, "model");
    assert.equal(nf.code, "model_not_found");
    const raw = await api(srv.url, "POST", "/v1/chat/completions", { token, body: "{not json", headers: { "Content-Type": "application/json" } });
    assert.equal(raw.status, 400);
    // an endpoint this server does not have: OpenAI's 404, as JSON
    for (const [method, p] of [["POST", "/v1/embeddings"], ["GET", "/v1/chat/completions"], ["GET", "/v1/files/x/y"]]) {
      const u = await api(srv.url, method, p, { token, json: method === "POST" ? { input: "x" } : undefined });
      assert.equal(u.status, 404, u.describe());
      assert.equal(u.json.error.code, "unknown_url", u.describe());
    }
    // the openai client surfaces them as its typed errors
    await assert.rejects(oa.chat.completions.create({ model: "nobody/nothing", messages: msgs }), (err) => err instanceof OpenAI.NotFoundError && err.code === "model_not_found");
    await assert.rejects(oa.chat.completions.create({ model: MODEL, messages: msgs, max_tokens: 2 ** 31 }), (err) => err instanceof OpenAI.BadRequestError);
  });

  it("authentication: no key or a bad key is a 401", async () => {
    const none = await api(srv.url, "POST", "/v1/chat/completions", { json: { model: MODEL, messages: [{ role: "user", content: "Hi" }] } });
    assert.equal(none.status, 401, none.describe());
    assert.equal(none.json.error.code, "invalid_api_key");
    const badKey = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "hf_" + "x".repeat(34), maxRetries: 0 });
    await assert.rejects(badKey.models.list(), (err) => err instanceof OpenAI.AuthenticationError);
    const other = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "sk-whatever", maxRetries: 0 });
    await assert.rejects(other.models.list(), (err) => err instanceof OpenAI.AuthenticationError);
  });

  it("@huggingface/inference chatCompletion and chatCompletionStream with endpointUrl", async () => {
    const hf = new InferenceClient(token);
    const args = { endpointUrl: srv.url, model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 20, temperature: 0 };
    const out = await hf.chatCompletion(args);
    const ref = await oa.chat.completions.create({ model: MODEL, messages: args.messages, max_tokens: 20, temperature: 0 });
    assert.equal(out.choices[0].message.content, ref.choices[0].message.content);
    let text = "";
    for await (const ch of hf.chatCompletionStream(args)) text += ch.choices[0]?.delta?.content ?? "";
    assert.equal(text, ref.choices[0].message.content);
    // without a model the server's default model answers
    const noModel = await hf.chatCompletion({ endpointUrl: srv.url, messages: args.messages, max_tokens: 20, temperature: 0 });
    assert.equal(noModel.choices[0].message.content, ref.choices[0].message.content);
  });

  it("/tokenize, /detokenize and /tokenizer_info agree with `huddle tokenize`", async () => {
    const text = "Once upon a time, Lily";
    const t = await api(srv.url, "POST", "/tokenize", { token, json: { model: MODEL, prompt: text } });
    assert.equal(t.status, 200, t.describe());
    const { stdout } = await run(["tokenize", STORIES, text]);
    assert.deepEqual(t.json.tokens, stdout.trim().split(/\s+/).map(Number));
    assert.equal(t.json.count, t.json.tokens.length);
    assert.equal(t.json.max_model_len, 128);
    const noBos = await api(srv.url, "POST", "/tokenize", { token, json: { model: MODEL, content: text, add_special: false } });
    assert.deepEqual(noBos.json.tokens, t.json.tokens.slice(1));
    const d = await api(srv.url, "POST", "/detokenize", { token, json: { model: MODEL, tokens: noBos.json.tokens } });
    assert.equal(d.status, 200, d.describe());
    assert.equal(d.json.prompt.trim(), text);
    const bad = await api(srv.url, "POST", "/detokenize", { token, json: { model: MODEL, tokens: [1e9] } });
    assert.equal(bad.status, 400);
    const info = await api(srv.url, "GET", `/tokenizer_info?model=${MODEL}`, { token });
    assert.equal(info.status, 200, info.describe());
    assert.equal(info.json.eos_token, "</s>");
    assert.equal(info.json.bos_token_id, 1);
    assert.equal(info.json.vocab_size, 512);
  });

  it("/health and /metrics (Prometheus text)", async () => {
    const h = await api(srv.url, "GET", "/health");
    assert.equal(h.status, 200);
    assert.equal(h.json.status, "ok");
    assert.equal(h.json.models_loaded, 1);
    const r = await fetch(srv.url + "/metrics");
    assert.match(r.headers.get("content-type"), /^text\/plain/);
    const text = await r.text();
    for (const name of ["huddle_requests_total", "huddle_prompt_tokens_total", "huddle_generation_tokens_total", "huddle_queue_depth",
      "huddle_batch_size", "huddle_time_to_first_token_seconds", "huddle_tokens_per_second", "huddle_forward_seconds_total",
      "huddle_step_overhead_seconds_total"])
      assert.match(text, new RegExp(`# TYPE ${name} `), name);
    const m = await metrics(srv.url);
    assert.ok(m['huddle_requests_total{endpoint="chat_completions"}'] > 0);
    assert.ok(m.huddle_generation_tokens_total > 0);
    assert.ok(m.huddle_time_to_first_token_seconds_count > 0);
    assert.equal(m['huddle_time_to_first_token_seconds_bucket{le="+Inf"}'], m.huddle_time_to_first_token_seconds_count);
    assert.equal(m.huddle_slots_busy, 0);
    // the time of the forward passes and of the scheduler's work around them
    assert.ok(m.huddle_forward_seconds_total > 0);
    assert.ok(m.huddle_step_overhead_seconds_total > 0);
  });
});

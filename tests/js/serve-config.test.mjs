// serve-config.test.mjs: issue 4, what `huddle serve` picks on its own and
// what the flags change. A model named by its path is served under its
// file name without .gguf; the zero-config choices (threads from the CPUs
// the process may use, context from the model, KV budget from the RAM) are
// logged at start and --threads/--ctx/--parallel/--kv-budget-mb override
// them, visibly in the log and in what the server does; a GGUF without a
// chat template is prompted in ChatML; max_completion_tokens, completions
// streamed with include_usage, and lm-eval's loglikelihood request with a
// text prompt and with a prompt that fills the whole context.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, userCreate, tokenCreate } from "./lib/huddle.mjs";
import { api } from "./lib/http.mjs";
import { tmpDir } from "./lib/util.mjs";
import { STORIES, sse, run, runGreedy } from "./serve-util.mjs";

const MiB = 1048576;
const NOEOS = { 2: -100 };

// The RAM the server should count: the machine's, or a cgroup's limit.
function usableRam() {
  let ram = os.totalmem();
  for (const f of ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]) {
    try {
      const v = Number(fs.readFileSync(f, "utf8").trim());
      if (Number.isInteger(v) && v > 0) {
        ram = Math.min(ram, v);
        break;
      }
    } catch {}
  }
  return ram;
}

describe("inference: zero-config choices, flags and request fields", () => {
  let dir, file;

  before(() => {
    dir = tmpDir("huddle-serve-c-");
    file = path.join(dir, "Tiny.Stories.Q8_0.gguf");
    fs.copyFileSync(STORIES, file);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("defaults: picked from the machine and the model, logged at start; a path is served under its file name", async () => {
    const srv = await startServer({ args: ["--model", file] });
    try {
      const log = srv.output();
      const cpus = os.availableParallelism();
      const ram = usableRam();
      const kvMiB = Math.min(ram / 4, 8192 * MiB) / MiB;
      const m = /inference with (\d+) threads, KV budget (\d+) MiB per model, memory budget (\d+) MiB/.exec(log);
      assert.ok(m, log);
      assert.equal(Number(m[1]), Math.min(cpus, 64), log);
      assert.ok(Math.abs(Number(m[2]) - kvMiB) <= 1, `KV budget ${m[2]} MiB, RAM/4 is ${kvMiB}`);
      assert.ok(Math.abs(Number(m[3]) - (ram / MiB) * 0.75) <= 2, log);
      // stories260K: trained context 128, small enough for 16 sequences
      assert.match(log, /model Tiny\.Stories\.Q8_0: .*context 128 \(trained 128\), 16 parallel sequences, .*chat template ChatML \(default\)/);
      await userCreate(srv.dataDir, "alice");
      const token = await tokenCreate(srv.dataDir, "alice");
      const list = await api(srv.url, "GET", "/v1/models", { token });
      assert.deepEqual(list.json.data.map((x) => x.id), ["Tiny.Stories.Q8_0"]);
      const r = await api(srv.url, "POST", "/v1/completions", { token, json: { model: "Tiny.Stories.Q8_0", prompt: "Once upon a time", max_tokens: 12, temperature: 0 } });
      assert.equal(r.status, 200, r.describe());
      assert.equal(r.json.choices[0].text, await runGreedy(STORIES, "Once upon a time", 12));
      const withExt = await api(srv.url, "POST", "/v1/completions", { token, json: { model: "Tiny.Stories.Q8_0.gguf", prompt: "x", max_tokens: 1 } });
      assert.equal(withExt.status, 404, withExt.describe());
      const h = await api(srv.url, "GET", "/health");
      assert.equal(h.json.slots_total, 16);
    } finally {
      assert.equal((await srv.stop()).code, 0);
    }
  });

  it("--threads, --ctx, --parallel and --kv-budget-mb override them, in the log and in effect", async () => {
    const srv = await startServer({ args: ["--model", `t=${file}`, "--threads", "1", "--ctx", "100", "--parallel", "3", "--kv-budget-mb", "7"] });
    try {
      const log = srv.output();
      assert.match(log, /inference with 1 threads, KV budget 7 MiB per model/);
      assert.match(log, /model t: .*context 100 \(trained 128\), 3 parallel sequences, KV cache [0-9.]+ MiB \(budget 7\.0 MiB\), 1 threads/);
      await userCreate(srv.dataDir, "alice");
      const token = await tokenCreate(srv.dataDir, "alice");
      assert.equal((await api(srv.url, "GET", "/health")).json.slots_total, 3);
      const tk = await api(srv.url, "POST", "/tokenize", { token, json: { model: "t", prompt: "x" } });
      assert.equal(tk.json.max_model_len, 100);
      const long = [1, ...Array(100).fill(300)];
      const over = await api(srv.url, "POST", "/v1/completions", { token, json: { model: "t", prompt: long, max_tokens: 1 } });
      assert.equal(over.status, 400, over.describe());
      assert.equal(over.json.error.code, "context_length_exceeded");
      // lm-eval truncates context+continuation to max_length: a prompt that
      // fills the context exactly still gets its log-likelihood and one token
      const full = await api(srv.url, "POST", "/v1/completions", { token, json: { model: "t", prompt: long.slice(0, 100), max_tokens: 1, echo: true, logprobs: 1, temperature: 0 } });
      assert.equal(full.status, 200, full.describe());
      assert.equal(full.json.choices[0].logprobs.token_logprobs.length, 101);
      assert.equal(full.json.usage.completion_tokens, 1);
      const zero = await api(srv.url, "POST", "/v1/completions", { token, json: { model: "t", prompt: long.slice(0, 100), max_tokens: 0, echo: true, logprobs: 1 } });
      assert.equal(zero.status, 200, zero.describe());
      assert.deepEqual(zero.json.choices[0].logprobs.token_logprobs, full.json.choices[0].logprobs.token_logprobs.slice(0, 100));
      // generation stops where the context ends
      const near = await api(srv.url, "POST", "/v1/completions", { token, json: { model: "t", prompt: long.slice(0, 95), max_tokens: 50, temperature: 0, logit_bias: NOEOS } });
      assert.equal(near.status, 200, near.describe());
      assert.equal(near.json.choices[0].finish_reason, "length");
      assert.equal(near.json.usage.completion_tokens, 6);
    } finally {
      assert.equal((await srv.stop()).code, 0);
    }
  });

  describe("request fields", () => {
    let srv, token;
    before(async () => {
      srv = await startServer({ args: ["--model", `m=${file}`] });
      await userCreate(srv.dataDir, "alice");
      token = await tokenCreate(srv.dataDir, "alice");
    });
    after(async () => assert.equal((await srv.stop()).code, 0));
    const post = (p, json) => api(srv.url, "POST", p, { token, json });

    it("a GGUF without a chat template is prompted in ChatML", async () => {
      const messages = [{ role: "system", content: "Be brief." }, { role: "user", content: "Once upon a time" }];
      const chat = await post("/v1/chat/completions", { model: "m", messages, max_tokens: 16, temperature: 0 });
      assert.equal(chat.status, 200, chat.describe());
      const text = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\n";
      const cmpl = await post("/v1/completions", { model: "m", prompt: text, max_tokens: 16, temperature: 0 });
      assert.equal(cmpl.status, 200, cmpl.describe());
      assert.equal(chat.json.usage.prompt_tokens, cmpl.json.usage.prompt_tokens);
      assert.equal(chat.json.choices[0].message.content, cmpl.json.choices[0].text);
      const tk = await post("/tokenize", { model: "m", prompt: text });
      assert.equal(tk.json.count, chat.json.usage.prompt_tokens);
      // documented where the flags are
      assert.match((await run(["serve", "--help"])).stdout, /without one is\s+prompted in ChatML/);
    });

    it("max_completion_tokens (chat) bounds the answer like max_tokens", async () => {
      const messages = [{ role: "user", content: "Hi" }];
      const r = await post("/v1/chat/completions", { model: "m", messages, max_completion_tokens: 5, temperature: 0, logit_bias: NOEOS });
      assert.equal(r.status, 200, r.describe());
      assert.equal(r.json.usage.completion_tokens, 5);
      assert.equal(r.json.choices[0].finish_reason, "length");
      const same = await post("/v1/chat/completions", { model: "m", messages, max_tokens: 5, temperature: 0, logit_bias: NOEOS });
      assert.equal(same.json.choices[0].message.content, r.json.choices[0].message.content);
      const bad = await post("/v1/chat/completions", { model: "m", messages, max_completion_tokens: 2 ** 31 });
      assert.equal(bad.status, 400, bad.describe());
      assert.equal(bad.json.error.param, "max_completion_tokens");
    });

    it("completions streamed: chunks, finish_reason, then usage with stream_options.include_usage, then [DONE]", async () => {
      const body = { model: "m", prompt: "Once upon a time", max_tokens: 10, temperature: 0, logit_bias: NOEOS };
      const plain = await post("/v1/completions", body);
      const s = await sse(srv.url, "/v1/completions", { ...body, stream: true, stream_options: { include_usage: true } }, { token });
      assert.equal(s.status, 200);
      assert.ok(s.done && s.raw.trimEnd().endsWith("data: [DONE]"), s.raw);
      const last = s.events.at(-1);
      assert.deepEqual(last.choices, []);
      assert.equal(last.usage.completion_tokens, 10);
      assert.equal(last.usage.prompt_tokens, plain.json.usage.prompt_tokens);
      assert.equal(s.events.slice(0, -1).map((e) => e.choices[0].text).join(""), plain.json.choices[0].text);
      assert.equal(s.events.at(-2).choices[0].finish_reason, "length");
      for (const e of s.events.slice(0, -1)) assert.equal(e.usage ?? null, null);
      // without include_usage no usage chunk
      const s2 = await sse(srv.url, "/v1/completions", { ...body, stream: true }, { token });
      assert.ok(s2.events.every((e) => e.choices.length === 1 && !e.usage), s2.raw);
    });

    it("lm-eval loglikelihood with text prompts (tokenized_requests=false), one and a batch", async () => {
      const ctx = "Once upon a time", cont = " there was a cat";
      const ids = (await post("/tokenize", { model: "m", prompt: ctx + cont, add_special_tokens: true })).json.tokens;
      const byIds = await post("/v1/completions", { model: "m", prompt: ids, max_tokens: 1, logprobs: 1, echo: true, temperature: 0, seed: 1234 });
      const byText = await post("/v1/completions", { model: "m", prompt: ctx + cont, max_tokens: 1, logprobs: 1, echo: true, temperature: 0, seed: 1234 });
      assert.equal(byText.status, 200, byText.describe());
      const a = byText.json.choices[0], b = byIds.json.choices[0];
      assert.deepEqual(a.logprobs.token_logprobs, b.logprobs.token_logprobs);
      assert.deepEqual(a.logprobs.tokens, b.logprobs.tokens);
      assert.equal(a.text, b.text);
      assert.ok(a.text.startsWith(ctx + cont), a.text);
      // text_offset points into the echoed text (the first piece loses its SentencePiece space)
      const lp = a.logprobs;
      for (let i = 2; i < ids.length; i++) assert.equal(a.text.slice(lp.text_offset[i], lp.text_offset[i] + lp.tokens[i].length), lp.tokens[i], `token ${i}`);
      const batch = await post("/v1/completions", { model: "m", prompt: [ctx + cont, ctx], max_tokens: 1, logprobs: 1, echo: true, temperature: 0 });
      assert.equal(batch.status, 200, batch.describe());
      assert.deepEqual(batch.json.choices.map((c) => c.index), [0, 1]);
      assert.deepEqual(batch.json.choices[0].logprobs.token_logprobs, lp.token_logprobs);
      assert.deepEqual(batch.json.choices[1].logprobs.token_logprobs.slice(0, -1), lp.token_logprobs.slice(0, batch.json.choices[1].logprobs.token_logprobs.length - 1));
      // lm-eval's generation request: stop list (until + EOS), seed, max_tokens
      const gen = await post("/v1/completions", { model: "m", prompt: [ctx, "The cat"], max_tokens: 30, temperature: 0, stop: ["\n\n", "</s>"], seed: 1234 });
      assert.equal(gen.status, 200, gen.describe());
      assert.equal(gen.json.choices.length, 2);
      assert.equal(gen.json.choices[0].text, (await post("/v1/completions", { model: "m", prompt: ctx, max_tokens: 30, temperature: 0, stop: ["\n\n", "</s>"] })).json.choices[0].text);
    });
  });
});

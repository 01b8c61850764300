// serve-util.mjs: helpers of the inference-service tests (serve-*.test.mjs):
// test models from `huddle gen-model`, `huddle run` as the reference for
// greedy output, /metrics scraping and a raw SSE reader.
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HUDDLE_BIN } from "./lib/huddle.mjs";
import { slow, sleep } from "./lib/util.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
export const STORIES = process.env.HUDDLE_STORIES260K || path.resolve(here, "../../../shared/data/models/stories260K.gguf");

export function run(args, { input, timeout = slow(120000) } = {}) {
  return new Promise((resolve, reject) => {
    const p = execFile(HUDDLE_BIN, args, { timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(new Error(`huddle ${args.join(" ")}: ${err.message}\n${stderr}`), { stdout, stderr, code: err.code }));
      else resolve({ stdout, stderr });
    });
    if (input !== undefined) {
      p.stdin.write(input);
      p.stdin.end();
    }
  });
}

// A random-weight model (same args and seed: same bytes). Small shapes so
// a test builds it in well under a second.
export async function genModel(file, { dim = 64, layers = 2, heads = 4, kvHeads = 2, ff = 128, vocab = 600, ctx = 256, type = "f32", seed = 1, extra = [] } = {}) {
  await run(["gen-model", file, "--dim", String(dim), "--layers", String(layers), "--heads", String(heads), "--kv-heads", String(kvHeads),
    "--ff", String(ff), "--vocab", String(vocab), "--ctx", String(ctx), ...(type === "q4_k_m" ? ["--q4_k_m"] : ["--type", type]), "--seed", String(seed), ...extra]);
  return file;
}

// `huddle run` with greedy sampling: the reference for the API's output.
export async function runGreedy(model, prompt, n) {
  const { stdout } = await run(["run", model, "-p", prompt, "-n", String(n), "--temp", "0", "-t", "1"]);
  return stdout;
}

export async function runTokensGreedy(model, ids, n) {
  const { stdout } = await run(["run", model, "--tokens", ids.join(" "), "-n", String(n), "--temp", "0", "--print-ids", "-t", "1"]);
  return stdout.trim().split(/\s+/).filter(Boolean).map(Number);
}

// Per-position next-token probabilities from `huddle run --dump-probs`
// (n_positions x n_vocab float32).
export async function dumpProbs(model, ids, dir) {
  const f = path.join(dir, `probs-${Date.now()}-${Math.random().toString(16).slice(2)}.bin`);
  await run(["run", model, "--tokens", ids.join(" "), "--dump-probs", f, "-t", "1"]);
  const b = fs.readFileSync(f);
  fs.rmSync(f);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
}

// Prometheus text -> {name or name{labels}: value}
export async function metrics(base) {
  const r = await fetch(base + "/metrics");
  const text = await r.text();
  const out = {};
  for (const l of text.split("\n")) {
    if (!l || l.startsWith("#")) continue;
    const i = l.lastIndexOf(" ");
    out[l.slice(0, i)] = Number(l.slice(i + 1));
  }
  return out;
}

export async function waitFor(fn, { timeout = slow(10000), every = 20 } = {}) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeout) throw new Error("timed out waiting");
    await sleep(every);
  }
}

// POST a JSON body and read the server-sent events: {status, headers, events
// (parsed JSON), done (saw [DONE]), raw}.
export async function sse(base, p, body, { token, signal, onEvent } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(base + p, { method: "POST", headers, body: JSON.stringify(body), signal });
  const out = { status: res.status, headers: res.headers, events: [], done: false, raw: "" };
  if (!res.body) return out;
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body) {
    buf += dec.decode(chunk, { stream: true });
    out.raw += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of ev.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const d = line.slice(6);
        if (d === "[DONE]") out.done = true;
        else {
          const j = JSON.parse(d);
          out.events.push(j);
          if (onEvent) onEvent(j);
        }
      }
    }
  }
  return out;
}

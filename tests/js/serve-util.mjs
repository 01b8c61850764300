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
// The shared test data (scripts/check sets HUDDLE_SHARED_DATA), else beside the checkout.
export const SHARED_DATA = process.env.HUDDLE_SHARED_DATA || path.resolve(here, "../../../shared/data");
export const STORIES = process.env.HUDDLE_STORIES260K || path.join(SHARED_DATA, "models/stories260K.gguf");

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

// A copy of a GGUF file with one string key added or replaced (a chat
// template, say): the key/value section is rewritten, the tensor infos kept,
// and the tensor data starts again at the file's alignment.
export function ggufWithString(src, dst, key, value) {
  const b = fs.readFileSync(src);
  let o = 0;
  const u32 = () => { const v = b.readUInt32LE(o); o += 4; return v; };
  const u64 = () => { const v = Number(b.readBigUInt64LE(o)); o += 8; return v; };
  const str = () => { const n = u64(); const s = b.toString("utf8", o, o + n); o += n; return s; };
  const size = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];
  const skip = (t) => {
    if (t === 8) str();
    else if (t === 9) { const et = u32(), n = u64(); for (let i = 0; i < n; i++) skip(et); }
    else o += size[t];
  };
  if (b.toString("latin1", 0, 4) !== "GGUF") throw new Error(`${src}: not a GGUF file`);
  o = 4;
  const version = u32(), nTensors = u64(), nKv = u64();
  const kvs = [];
  let align = 32;
  for (let i = 0; i < nKv; i++) {
    const start = o, k = str(), t = u32(), vStart = o;
    skip(t);
    if (k === "general.alignment") align = b.readUInt32LE(vStart);
    if (k !== key) kvs.push(b.subarray(start, o));
  }
  const infoStart = o;
  for (let i = 0; i < nTensors; i++) { str(); const nd = u32(); o += 8 * nd + 4 + 8; }
  const infos = b.subarray(infoStart, o);
  const data = b.subarray(Math.ceil(o / align) * align);
  const kb = Buffer.from(key, "utf8"), vb = Buffer.from(value, "utf8");
  const kv = Buffer.alloc(8 + kb.length + 4 + 8 + vb.length);
  kv.writeBigUInt64LE(BigInt(kb.length), 0);
  kb.copy(kv, 8);
  kv.writeUInt32LE(8, 8 + kb.length);
  kv.writeBigUInt64LE(BigInt(vb.length), 12 + kb.length);
  vb.copy(kv, 20 + kb.length);
  const head = Buffer.alloc(24);
  head.write("GGUF", 0, "latin1");
  head.writeUInt32LE(version, 4);
  head.writeBigUInt64LE(BigInt(nTensors), 8);
  head.writeBigUInt64LE(BigInt(kvs.length + 1), 16);
  const meta = Buffer.concat([head, ...kvs, kv, infos]);
  const pad = Buffer.alloc(Math.ceil(meta.length / align) * align - meta.length);
  fs.writeFileSync(dst, Buffer.concat([meta, pad, data]));
  return dst;
}

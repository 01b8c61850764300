// bench/serve.mjs: the inference service under concurrent streams. Run
// through bench/serve (see its header).
//
// Models: the random-weight ~110M Q8_0 and ~1.1B Q4_K_M of bench/infer
// (built once with `huddle gen-model` into bench/.cache/, the same files
// bench/infer uses). For each model, `huddle serve --model` starts on a free
// port; then, for each concurrency level, that many clients stream
// /v1/completions at once (a distinct prompt of --prompt random token ids
// each, --gen tokens each, greedy, EOS masked so every stream generates all
// of them), for --rounds rounds. Figures per level:
//   aggregate tok/s   generated tokens of all streams / wall time of the round
//   per stream        the same per client
//   TTFT              time to the first streamed token, seen by the client
//                     (mean and max over the streams), and the server's own
//                     mean from /metrics (request arrival to first sample)
//   speedup           aggregate tok/s over the 1-stream level
//   steps, fwd ms, sched ms   the server's forward passes in the round, the
//                     mean time of one (infer_forward), and the mean time the
//                     scheduler spends around one (admitting, batching,
//                     sampling, text, publishing), from /metrics
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const HUDDLE = process.env.HUDDLE_BIN || path.join(root, "build/huddle");
const CACHE = path.join(here, ".cache");

const opts = { models: "110m-q8_0,1.1b-q4_k_m", streams: "1,4,8,16", rounds: "2", prompt: "16", gen: "64", threads: "", out: "" };
for (let i = 2; i < process.argv.length; i++) {
  const m = /^--([a-z]+)(?:=(.*))?$/.exec(process.argv[i]);
  if (!m || !(m[1] in opts)) {
    console.error(`bench/serve: unknown option ${process.argv[i]}\nusage: bench/serve [--models 110m-q8_0,1.1b-q4_k_m] [--streams 1,4,8,16] [--rounds 2] [--prompt 16] [--gen 64] [--threads N] [--out results.json]`);
    process.exit(2);
  }
  opts[m[1]] = m[2] ?? process.argv[++i];
}

// the shapes and types of bench/infer.mjs (same file names, so the cache is shared)
const SHAPES = {
  "110m": ["--dim", "768", "--layers", "12", "--heads", "12", "--kv-heads", "12", "--ff", "2048"],
  "1.1b": ["--dim", "2048", "--layers", "22", "--heads", "32", "--kv-heads", "4", "--ff", "5632"],
};
const TYPES = { f16: ["--type", "f16"], q8_0: ["--type", "q8_0"], q4_0: ["--type", "q4_0"], q4_k_m: ["--q4_k_m"] };

function run(bin, args) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { maxBuffer: 64 << 20, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin} ${args.join(" ")}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

async function ensureModel(name) {
  const [shape, type] = name.split("-");
  const file = path.join(CACHE, `${shape}-${type}.gguf`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(CACHE, { recursive: true });
    const t = Date.now();
    process.stderr.write(`building ${file} ... `);
    await run(HUDDLE, ["gen-model", file, ...SHAPES[shape], ...TYPES[type], "--vocab", "32000", "--ctx", "2048", "--seed", "1"]);
    process.stderr.write(`${((Date.now() - t) / 1000).toFixed(0)} s\n`);
  }
  return file;
}

async function startServer(model, file, maxStreams) {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), "huddle-bench-serve-"));
  const args = ["serve", "--data", data, "--port", "0", "--model", `${model}=${file}`, "--parallel", String(maxStreams), "--max-queue", "0",
    "--max-requests-per-caller", String(maxStreams), "--ctx", "1024"];
  if (opts.threads) args.push("--threads", opts.threads);
  const proc = spawn(HUDDLE, args, { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stderr.on("data", (d) => (log += d));
  const url = await new Promise((resolve, reject) => {
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /huddle listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    proc.on("exit", (c) => reject(new Error(`huddle serve exited ${c}:\n${log}`)));
  });
  await run(HUDDLE, ["user", "create", "bench", "--data", data]);
  const token = (await run(HUDDLE, ["token", "create", "--user", "bench", "--role", "read", "--data", data])).trim();
  return { url, token, log: () => log, async stop() { proc.kill("SIGTERM"); await new Promise((r) => proc.on("exit", r)); fs.rmSync(data, { recursive: true, force: true }); } };
}

function prompt(seed, n) {
  const out = [1];
  let s = seed >>> 0;
  for (let i = 1; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(3 + (s % 31990));
  }
  return out;
}

// One streaming request: {ttft, tokens, end} in ms from t0.
async function stream(srv, model, ids, t0) {
  const res = await fetch(srv.url + "/v1/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${srv.token}` },
    body: JSON.stringify({ model, prompt: ids, max_tokens: Number(opts.gen), temperature: 0, logit_bias: { 2: -100 }, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  const dec = new TextDecoder();
  let buf = "", ttft = null, tokens = 0;
  for await (const chunk of res.body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
      const j = JSON.parse(ev.slice(6));
      if (ttft === null && j.choices?.[0]?.text) ttft = performance.now() - t0;
      if (j.usage) tokens = j.usage.completion_tokens;
    }
  }
  return { ttft, tokens, end: performance.now() - t0 };
}

async function metric(srv, name) {
  const t = await (await fetch(srv.url + "/metrics")).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(t);
  return m ? Number(m[1]) : NaN;
}

const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;

async function main() {
  if (!fs.existsSync(HUDDLE)) throw new Error(`${HUDDLE} not found: build first (scripts/build) or set HUDDLE_BIN`);
  const levels = opts.streams.split(",").map(Number);
  const cpu = (os.cpus()[0]?.model || "?").trim();
  console.log(`# bench/serve: ${cpu}, ${os.cpus().length} CPUs; huddle ${HUDDLE}; prompt ${opts.prompt} tokens, ${opts.gen} generated per stream, ${opts.rounds} rounds; threads ${opts.threads || "auto"}`);
  const hdr = ["model", "streams", "aggregate tok/s", "per stream tok/s", "TTFT mean ms", "TTFT max ms", "server TTFT ms", "speedup", "steps", "fwd ms/step", "sched ms/step"];
  console.log(`| ${hdr.join(" | ")} |`);
  console.log(`|${hdr.map(() => "---").join("|")}|`);
  const results = [];
  for (const model of opts.models.split(",")) {
    const file = await ensureModel(model);
    const srv = await startServer(model, file, Math.max(...levels));
    try {
      // warm-up: the weights paged in, the pool started
      await stream(srv, model, prompt(7, Number(opts.prompt)), performance.now());
      let base = null;
      for (const n of levels) {
        const agg = [], per = [], ttft = [], ttftMax = [], srvTtft = [], steps = [], fwd = [], sched = [];
        for (let r = 0; r < Number(opts.rounds); r++) {
          const c0 = await metric(srv, "huddle_time_to_first_token_seconds_count");
          const s0 = await metric(srv, "huddle_time_to_first_token_seconds_sum");
          const st0 = await metric(srv, "huddle_batch_steps_total");
          const f0 = await metric(srv, "huddle_forward_seconds_total");
          const o0 = await metric(srv, "huddle_step_overhead_seconds_total");
          const t0 = performance.now();
          const res = await Promise.all(Array.from({ length: n }, (_, i) => stream(srv, model, prompt(1000 * r + i + 1, Number(opts.prompt)), t0)));
          const wall = Math.max(...res.map((x) => x.end)) / 1000;
          const toks = res.reduce((a, x) => a + x.tokens, 0);
          agg.push(toks / wall);
          per.push(mean(res.map((x) => x.tokens / (x.end / 1000))));
          ttft.push(mean(res.map((x) => x.ttft)));
          ttftMax.push(Math.max(...res.map((x) => x.ttft)));
          const c1 = await metric(srv, "huddle_time_to_first_token_seconds_count");
          const s1 = await metric(srv, "huddle_time_to_first_token_seconds_sum");
          srvTtft.push(((s1 - s0) / (c1 - c0)) * 1000);
          const st1 = await metric(srv, "huddle_batch_steps_total");
          steps.push(st1 - st0);
          fwd.push((((await metric(srv, "huddle_forward_seconds_total")) - f0) / (st1 - st0)) * 1000);
          sched.push((((await metric(srv, "huddle_step_overhead_seconds_total")) - o0) / (st1 - st0)) * 1000);
        }
        const row = { model, streams: n, aggregate: mean(agg), per_stream: mean(per), ttft_mean_ms: mean(ttft), ttft_max_ms: mean(ttftMax), server_ttft_ms: mean(srvTtft), steps: mean(steps), fwd_ms: mean(fwd), sched_ms: mean(sched) };
        if (base === null) base = row.aggregate;
        row.speedup = row.aggregate / base;
        results.push(row);
        console.log(`| ${model} | ${n} | ${row.aggregate.toFixed(1)} | ${row.per_stream.toFixed(1)} | ${row.ttft_mean_ms.toFixed(0)} | ${row.ttft_max_ms.toFixed(0)} | ${row.server_ttft_ms.toFixed(0)} | ${row.speedup.toFixed(2)}x | ${row.steps.toFixed(0)} | ${row.fwd_ms.toFixed(2)} | ${row.sched_ms.toFixed(2)} |`);
      }
    } finally {
      await srv.stop();
    }
  }
  if (opts.out) fs.writeFileSync(opts.out, JSON.stringify({ opts, cpu, results }, null, 2));
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});

// bench/infer.mjs: huddle's inference speed against llama.cpp on the same
// GGUF files and thread counts. Run through bench/infer (see its header).
//
// Models (built once with `huddle gen-model` into bench/.cache/, git-ignored):
//   110m: dim 768, 12 layers, 12 heads, ffn 2048, vocab 32000
//   1.1b: TinyLlama's shape: dim 2048, 22 layers, 32 heads, 4 KV heads, ffn 5632, vocab 32000
// in F16, Q8_0, Q4_0 and Q4_K_M (Q4_K with Q6_K for attn_v/ffn_down of some
// layers and the output matrix, as llama.cpp's Q4_K_M mix).
//
// For each model, type and thread count, ROUNDS rounds run, alternating:
// `huddle bench -r 1`, node-llama-cpp (in this process, model loaded once)
// and, if $LLAMA_BENCH names a native llama-bench, `llama-bench -r 1`.
// pp = 128 random tokens in one batch, tg = 64 tokens one at a time, each
// from an empty context; tokens/s are averaged over the rounds. Each tg figure
// is also given as a fraction of the memory-bandwidth limit: weight bytes
// read per token against the read bandwidth `huddle bench --mem-bandwidth`
// measures with the same thread count.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const HUDDLE = process.env.HUDDLE_BIN || path.join(root, "build/huddle");
const LLAMA_BENCH = process.env.LLAMA_BENCH || "";
const CACHE = path.join(here, ".cache");

const opts = {
  models: "110m,1.1b",
  types: "f16,q8_0,q4_0,q4_k_m",
  threads: "1,2",
  rounds: "3",
  pp: "128",
  tg: "64",
  node: "1",
  out: "",
};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const m = /^--([a-z]+)(?:=(.*))?$/.exec(a);
  if (!m || !(m[1] in opts)) {
    console.error(`bench/infer: unknown option ${a}\nusage: bench/infer [--models 110m,1.1b] [--types f16,q8_0,q4_0,q4_k_m] [--threads 1,2] [--rounds 3] [--pp 128] [--tg 64] [--node 0|1] [--out results.json]`);
    process.exit(2);
  }
  opts[m[1]] = m[2] ?? process.argv[++i];
}
const ROUNDS = Number(opts.rounds), PP = Number(opts.pp), TG = Number(opts.tg);

const SHAPES = {
  "110m": ["--dim", "768", "--layers", "12", "--heads", "12", "--kv-heads", "12", "--ff", "2048"],
  "1.1b": ["--dim", "2048", "--layers", "22", "--heads", "32", "--kv-heads", "4", "--ff", "5632"],
};
const TYPES = {
  f16: ["--type", "f16"],
  q8_0: ["--type", "q8_0"],
  q4_0: ["--type", "q4_0"],
  q4_k_m: ["--q4_k_m"],
};

function run(bin, args) {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { maxBuffer: 64 << 20, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${bin} ${args.join(" ")}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

const lastJson = (out) => JSON.parse(out.trim().split("\n").pop());
const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
const sd = (v) => (v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1)) : 0);
const fmt = (v) => (v.length ? `${mean(v).toFixed(2)} ± ${sd(v).toFixed(2)}` : "-");

async function ensureModel(model, type) {
  const file = path.join(CACHE, `llama-${model}-${type}.gguf`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(CACHE, { recursive: true });
    const t = Date.now();
    process.stderr.write(`building ${file} ... `);
    await run(HUDDLE, ["gen-model", file, ...SHAPES[model], ...TYPES[type], "--vocab", "32000", "--ctx", "2048", "--seed", "1"]);
    process.stderr.write(`${((Date.now() - t) / 1000).toFixed(0)} s\n`);
  }
  return file;
}

let nlc = null;
async function nodeLlama() {
  if (!nlc) {
    const mod = await import(pathToFileURL(path.join(root, "tests/js/node_modules/node-llama-cpp/dist/index.js")).href);
    nlc = await mod.getLlama({ gpu: false, build: "never", logLevel: "error" });
  }
  return nlc;
}

function randomTokens(n, seed) {
  const out = [];
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(3 + (s % 31990));
  }
  return out;
}

// node-llama-cpp: pp = one batch of PP tokens (logits for the last), tg =
// TG single-token decodes with logits (greedy pick), each from an empty context.
async function nodeRound(ctx) {
  const seq = ctx.getSequence();
  const toks = randomTokens(Math.max(PP, TG), 42);
  const ev = (ts) => seq.controlledEvaluate(ts.map((t, i) => (i === ts.length - 1 ? [t, { generateNext: { token: true } }] : t)));
  let t = performance.now();
  await ev(toks.slice(0, PP));
  const pp = PP / ((performance.now() - t) / 1000);
  await seq.clearHistory();
  t = performance.now();
  for (let i = 0; i < TG; i++) await ev([toks[i]]);
  const tg = TG / ((performance.now() - t) / 1000);
  await seq.clearHistory();
  seq.dispose();
  return { pp, tg };
}

async function main() {
  if (!fs.existsSync(HUDDLE)) throw new Error(`${HUDDLE} not found: build first (scripts/build) or set HUDDLE_BIN`);
  const threads = opts.threads.split(",").map(Number);
  // The machine is shared: the read bandwidth is measured again after every
  // row and the best figure is the limit (the least-disturbed measurement).
  const bw = {};
  const measureBw = async () => {
    for (const t of threads) {
      const g = lastJson(await run(HUDDLE, ["bench", "--mem-bandwidth", "-t", String(t)])).read_gb_s;
      bw[t] = Math.max(bw[t] ?? 0, g);
    }
  };
  await measureBw();
  const cpu = (os.cpus()[0]?.model || "?").trim();
  const results = [];
  const ratio = (a, b) => (a.length && b.length ? (mean(a) / mean(b)).toFixed(2) : "-");
  for (const model of opts.models.split(",")) {
    for (const type of opts.types.split(",")) {
      const file = await ensureModel(model, type);
      for (const t of threads) {
        const r = { model, type, threads: t, huddle: { pp: [], tg: [] }, nlc: { pp: [], tg: [] }, native: { pp: [], tg: [] } };
        let ctx = null, lm = null;
        if (opts.node === "1") {
          const llama = await nodeLlama();
          lm = await llama.loadModel({ modelPath: file });
          ctx = await lm.createContext({ contextSize: 512, batchSize: 512, flashAttention: false, threads: t });
          await nodeRound(ctx); // warm-up
        }
        for (let k = 0; k < ROUNDS; k++) {
          const h = lastJson(await run(HUDDLE, ["bench", file, "-p", String(PP), "-n", String(TG), "-t", String(t), "-r", "1"]));
          r.huddle.pp.push(h.pp_tok_s);
          r.huddle.tg.push(h.tg_tok_s);
          r.bytesPerToken = h.bytes_per_token;
          r.isa = h.isa;
          if (ctx) {
            const n = await nodeRound(ctx);
            r.nlc.pp.push(n.pp);
            r.nlc.tg.push(n.tg);
          }
          if (LLAMA_BENCH) {
            const out = JSON.parse(await run(LLAMA_BENCH, ["-m", file, "-p", String(PP), "-n", String(TG), "-t", String(t), "-r", "1", "-fa", "0", "-o", "json"]));
            for (const o of out) {
              if (o.n_prompt > 0 && o.n_gen === 0) r.native.pp.push(o.avg_ts);
              if (o.n_gen > 0 && o.n_prompt === 0) r.native.tg.push(o.avg_ts);
            }
          }
        }
        if (ctx) {
          await ctx.dispose();
          await lm.dispose();
        }
        await measureBw();
        process.stderr.write(`${model} ${type} t=${t}: huddle pp ${fmt(r.huddle.pp)} tg ${fmt(r.huddle.tg)}; nlc pp ${fmt(r.nlc.pp)} tg ${fmt(r.nlc.tg)}; native pp ${fmt(r.native.pp)} tg ${fmt(r.native.tg)}\n`);
        results.push(r);
      }
    }
  }

  console.log(`# bench/infer: ${cpu}, ${os.cpus().length} CPUs, huddle kernels ${results[0]?.isa}; node-llama-cpp ${opts.node === "1" ? "3.21.1" : "off"}; llama-bench ${LLAMA_BENCH || "not set"}`);
  console.log(`# pp${PP} and tg${TG} tokens/s, mean ± sd over ${ROUNDS} alternating rounds; h/nlc and h/nat are huddle's ratio to node-llama-cpp and to native llama-bench`);
  console.log(`# read bandwidth (best of the measurements between rows): ${threads.map((t) => `${t} thread(s) ${bw[t].toFixed(1)} GB/s`).join(", ")}; BW% = tg / (bandwidth / weight bytes per token)`);
  const hdr = ["model", "type", "thr", "huddle pp", "nlc pp", "native pp", "pp h/nlc", "pp h/nat", "huddle tg", "nlc tg", "native tg", "tg h/nlc", "tg h/nat", "tg BW% h", "tg BW% nat"];
  console.log(`| ${hdr.join(" | ")} |`);
  console.log(`|${hdr.map(() => "---").join("|")}|`);
  for (const r of results) {
    const limit = (bw[r.threads] * 1e9) / r.bytesPerToken;
    const frac = (v) => (v.length ? `${((100 * mean(v)) / limit).toFixed(0)}%` : "-");
    r.bwLimitTokS = limit;
    console.log(`| ${r.model} | ${r.type} | ${r.threads} | ${fmt(r.huddle.pp)} | ${fmt(r.nlc.pp)} | ${fmt(r.native.pp)} | ${ratio(r.huddle.pp, r.nlc.pp)} | ${ratio(r.huddle.pp, r.native.pp)} | ${fmt(r.huddle.tg)} | ${fmt(r.nlc.tg)} | ${fmt(r.native.tg)} | ${ratio(r.huddle.tg, r.nlc.tg)} | ${ratio(r.huddle.tg, r.native.tg)} | ${frac(r.huddle.tg)} | ${frac(r.native.tg)} |`);
  }
  if (opts.out) fs.writeFileSync(opts.out, JSON.stringify({ cpu, bandwidth_gb_s: bw, pp: PP, tg: TG, rounds: ROUNDS, results }, null, 1));
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});

// infer-ref.mjs: the reference engine (llama.cpp, through node-llama-cpp's
// prebuilt CPU binary) and the huddle commands the inference tests compare
// with it.
//
//   const ref = await refModel(path)         // node-llama-cpp model, 256-token context
//   await ref.probs(ids)                     // [Float64Array(n_vocab)] per position
//   await ref.greedy(ids, nCtx)              // greedy continuation until nCtx is full or EOG
//   await ref.close()
//   huddleProbs(path, ids)                   // `huddle run --tokens --dump-probs`, same shape
//   huddle("gen-model", out, "--dim", ...)   // any huddle command; resolves to stdout
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getLlama } from "node-llama-cpp";

const here = path.dirname(fileURLToPath(import.meta.url));
export const HUDDLE_BIN = process.env.HUDDLE_BIN || path.resolve(here, "../../../build/huddle");
// The shared test data sits beside the checkout; scripts/check exports
// $HUDDLE_SHARED_DATA. Missing data fails the tests (never a silent skip).
export const STORIES = [
  process.env.HUDDLE_SHARED_DATA && path.join(process.env.HUDDLE_SHARED_DATA, "models/stories260K.gguf"),
  path.resolve(here, "../../../../shared/data/models/stories260K.gguf"),
  "/work/shared/data/models/stories260K.gguf",
].find((p) => p && fs.existsSync(p));

export function huddle(...args) {
  return new Promise((resolve, reject) => {
    execFile(HUDDLE_BIN, args, { maxBuffer: 64 << 20, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\nstdout: ${stdout}\nstderr: ${stderr}`;
        reject(err);
      } else {
        resolve(stdout);
      }
    });
  });
}

export function tmpDir(prefix = "huddle-infer-") {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Next-token probabilities at every position of ids, from huddle.
export async function huddleProbs(model, ids, dir) {
  const out = path.join(dir, `probs-${process.pid}-${Date.now()}.bin`);
  await huddle("run", model, "--tokens", ids.join(" "), "--dump-probs", out, "-t", "2");
  const buf = fs.readFileSync(out);
  fs.rmSync(out);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
  const nv = all.length / ids.length;
  return ids.map((_, i) => all.subarray(i * nv, (i + 1) * nv));
}

let llamaP = null;
function llama() {
  llamaP ??= getLlama({ gpu: false, build: "never", logLevel: "error" });
  return llamaP;
}

export async function refModel(modelPath) {
  const l = await llama();
  const model = await l.loadModel({ modelPath });
  const nVocab = Number(model.fileInfo.metadata.tokenizer.ggml.tokens.length);
  const newSeq = async () => {
    // flashAttention off: llama.cpp's plain attention path (f16 K and V
    // cache, f32 softmax), the one huddle implements
    const context = await model.createContext({ contextSize: 256, flashAttention: false, threads: 1 });
    return { context, seq: context.getSequence() };
  };
  return {
    model,
    nVocab,
    tokenize: (text) => [...model.tokenize(text, false)],
    bos: model.tokens.bos,
    isEog: (t) => model.isEogToken(t),
    async probs(ids) {
      const { context, seq } = await newSeq();
      const res = await seq.controlledEvaluate(ids.map((t) => [t, { generateNext: { probabilities: true } }]));
      await context.dispose();
      return res.map((r) => {
        const p = new Float64Array(nVocab);
        for (const [t, v] of r.next.probabilities) p[t] = v;
        return p;
      });
    },
    // Greedy: the tokens huddle run --temp 0 --ctx nCtx prints for the prompt ids:
    // until an end-of-generation token (not included) or until nCtx positions
    // are filled (the token sampled after the last one is included).
    async greedy(ids, nCtx) {
      const { context, seq } = await newSeq();
      const out = [];
      for await (const t of seq.evaluate(ids, { temperature: 0 })) {
        if (model.isEogToken(t)) break;
        out.push(t);
        if (ids.length + out.length > nCtx) break;
      }
      await context.dispose();
      return out;
    },
    async close() {
      await model.dispose();
    },
  };
}

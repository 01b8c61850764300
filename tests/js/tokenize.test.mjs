// tokenize.test.mjs: `huddle tokenize` against llama.cpp (node-llama-cpp's
// prebuilt CPU binary) on the same GGUF files.
//
//  - stories260K: a dozen prompts give the reference's ids, without BOS
//    (--no-bos), with the model's BOS (default) and with special-token text
//    parsed (--parse-special);
//  - every vocabulary of the conformance suite (shared/data/tokenizer-vocabs):
//    seeded random texts built from tricky pieces (whitespace of all kinds,
//    contractions, digits, scripts, emoji, special-token text) agree with the
//    reference in both modes;
//  - `--info`: BOS, EOS, the add-BOS default and the set of end-of-generation
//    ids equal the reference's for every file;
//  - stdin: tabs, newlines and empty input; bad arguments and files.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getLlama } from "node-llama-cpp";
import { slow } from "./lib/util.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const HUDDLE_BIN = process.env.HUDDLE_BIN || path.resolve(here, "../../build/huddle");
// The shared test data sits beside the checkout.
const DATA = [process.env.HUDDLE_SHARED_DATA, path.resolve(here, "../../../shared/data"), "/work/shared/data"]
  .filter(Boolean)
  .find((p) => fs.existsSync(path.join(p, "tokenizer-vocabs")));
const STORIES = DATA && path.join(DATA, "models/stories260K.gguf");
const VOCABS = ["llama-spm", "phi-3", "gpt-2", "mpt", "starcoder", "refact", "falcon", "deepseek-llm", "deepseek-coder", "bert-bge"];

// Runs huddle with input on stdin; resolves to {code, stdout, stderr}.
function run(args, input) {
  return new Promise((resolve, reject) => {
    const p = spawn(HUDDLE_BIN, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out = [], err = [];
    p.stdout.on("data", (d) => out.push(d));
    p.stderr.on("data", (d) => err.push(d));
    p.on("error", reject);
    p.on("close", (code) => resolve({ code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    p.stdin.on("error", () => {}); // a command that fails early may not read it
    p.stdin.end(input ?? "");
  });
}

async function ids(args, input) {
  const r = await run(["tokenize", ...args], input);
  assert.equal(r.code, 0, `huddle tokenize ${args.join(" ")} failed: ${r.stderr}`);
  assert.ok(r.stdout.endsWith("\n"), "output ends with a newline");
  assert.equal(r.stdout.split("\n").length, 2, "one line of output");
  return r.stdout.trim() === "" ? [] : r.stdout.trim().split(" ").map(Number);
}

// `huddle tokenize --info` against what the reference decided.
async function checkInfo(file, model) {
  const r = await run(["tokenize", file, "--info"]);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  const { tokens, token_type: types } = model.fileInfo.metadata.tokenizer.ggml;
  const n = tokens.length;
  // ask the reference about every token that could end generation: all but
  // plain tokens, anything spelled like a marker, and what huddle says
  const candidates = new Set(info.eog);
  for (let id = 0; id < n; id++)
    if ((types && types[id] !== 1) || /^(<|\[|_<)/.test(tokens[id])) candidates.add(id);
  const eog = [...candidates].filter((id) => model.isEogToken(id)).sort((a, b) => a - b);
  assert.equal(info.n_vocab, n);
  assert.equal(info.bos, model.tokens.bos);
  assert.equal(info.eos, model.tokens.eos);
  assert.equal(info.add_bos, model.tokens.shouldPrependBosToken);
  // for WordPiece our end marker is SEP, not EOS
  if (info.model !== "bert") assert.equal(info.add_eos, model.tokens.shouldAppendEosToken);
  assert.deepEqual(info.eog, eog);
}

let llama = null;
async function refVocab(modelPath) {
  llama ??= await getLlama({ gpu: false, build: "never", logLevel: "fatal" });
  return llama.loadModel({ modelPath, vocabOnly: true });
}

// Seeded texts from pieces that exercise pre-tokenizers and special tokens.
function randomTexts(seed, n) {
  const pieces = ["Hello", "world", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\u000b", "\f", "\u00a0", "\u3000", "\u2028",
    "\u0085", "\u2009", "'s", "'S", "'ll", "'LL", "'re", "'ve", "'M", "'d", "don't", "3", "12", "123", "12345", "3.14", "½", "²",
    "٣", "é", "e\u0301", "Äpfel", "naïve", "ß", "ǅ", "ﬁ", "İ", "Σσς", "нещо", "日本語", "我想在", "カタカナ", "한국어", "កាន់",
    "हिन्दी", "العربية", "ไทย", "🦙", "😶‍🌫️", "✅", "👍🏽", "\u200d", "\u200b", "\ufeff", "!", "?", "...", "!!!", "---", "```",
    "\"", "(", ")", "<", ">", "$", "+", "^", "~", "|", "`", "\\", "_", "<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_end|>",
    "<fim_prefix>", "<|padding|>", "[CLS]", "[SEP]", "[MASK]", "<｜end▁of▁sentence｜>", "<|end|>", "<|assistant|>", "▁", "Ġ",
    "a", "A", "the", "The", "ing", "apple", "def", "print(", "x = 1;", "\u0001", "\u007f", "\u0080", "Ⅻ", "µ", "ー", "～", "，",
    "。", "“", "”", "…", "—", "€", "©", "°", "×"];
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const texts = [" ".repeat(40) + "x", "\n".repeat(30), "a" + " ".repeat(17) + "b", "\t\t\t \n  \n", "1".repeat(50)];
  while (texts.length < n) {
    let t = "";
    for (let k = 1 + Math.floor(rnd() * 12); k > 0; k--) t += pieces[Math.floor(rnd() * pieces.length)];
    texts.push(t);
  }
  return texts;
}

describe("huddle tokenize", () => {
  before(() => {
    // missing data fails the suite (never a silent skip)
    assert.ok(DATA, "shared/data/tokenizer-vocabs not found: set HUDDLE_SHARED_DATA to the shared/data folder");
  });
  after(async () => {
    if (llama) await llama.dispose();
  });

  describe("stories260K against node-llama-cpp", () => {
    let model;
    before(async () => {
      model = await refVocab(STORIES);
    });
    after(async () => {
      await model?.dispose();
    });

    const prompts = [
      "Once upon a time",
      "Zoo",
      "Lily and Tom went to the park.",
      "  two leading spaces",
      "tabs\tand\nnewlines\n",
      "She said, \"Hello!\" and smiled.",
      "<s> is BOS and </s> is EOS",
      "unicode: é ñ 日本 🦙",
      "1234567890",
      "a",
      "Hello world. Hello world!",
      "The end.\n\nThe beginning?",
    ];
    test("a dozen prompts: the reference's ids, without BOS, with BOS and with specials parsed", async () => {
      const bos = model.tokens.bos;
      assert.equal(bos, 1);
      for (const p of prompts) {
        const want = [...model.tokenize(p, false)];
        assert.ok(want.length > 0);
        assert.deepEqual(await ids([STORIES, "--no-bos", p]), want, `--no-bos ${JSON.stringify(p)}`);
        assert.deepEqual(await ids([STORIES, p]), [bos, ...want], `default ${JSON.stringify(p)}`);
        assert.deepEqual(await ids([STORIES, "--parse-special", "--no-bos", p]), [...model.tokenize(p, true)],
          `--parse-special ${JSON.stringify(p)}`);
      }
      // the golden prompt of the model's provenance note
      assert.deepEqual(await ids([STORIES, "Once upon a time"]), [1, 403, 407, 261, 378]);
    });

    test("--info: BOS, EOS, add-BOS default and end-of-generation ids", async () => {
      await checkInfo(STORIES, model);
    });

    test("stdin: tabs, newlines, empty input", async () => {
      const text = "line one\n\tindented\r\nlast line without newline";
      assert.deepEqual(await ids([STORIES, "--no-bos"], text), [...model.tokenize(text, false)]);
      assert.deepEqual(await ids([STORIES], text), await ids([STORIES, text]));
      assert.deepEqual(await ids([STORIES], ""), [1]);
      assert.deepEqual(await ids([STORIES, "--no-bos"], ""), []);
      assert.deepEqual(await ids([STORIES, "--no-bos"], "\n"), [...model.tokenize("\n", false)]);
      assert.deepEqual(await ids([STORIES, "--no-bos", "--", "--no-bos"]), [...model.tokenize("--no-bos", false)]);
    });
  });

  for (const [i, name] of VOCABS.entries()) {
    test(`${name}: random texts and --info agree with node-llama-cpp`, { timeout: slow(120000) }, async () => {
      const file = path.join(DATA, "tokenizer-vocabs", `ggml-vocab-${name}.gguf`);
      const model = await refVocab(file);
      try {
        await checkInfo(file, model);
        for (const text of randomTexts(1000 + i, 16)) {
          assert.deepEqual(await ids([file, "--no-bos"], text), [...model.tokenize(text, false)], `text ${JSON.stringify(text)}`);
          assert.deepEqual(await ids([file, "--no-bos", "--parse-special"], text), [...model.tokenize(text, true)],
            `--parse-special text ${JSON.stringify(text)}`);
        }
      } finally {
        await model.dispose();
      }
    });
  }

  test("bad arguments and files get a clear error", async () => {
    let r = await run(["tokenize"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /usage: huddle tokenize MODEL/);
    r = await run(["tokenize", STORIES, "--bogus"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown option --bogus/);
    r = await run(["tokenize", "/nonexistent/model.gguf", "x"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nonexistent/);
    const tmp = fs.mkdtempSync(path.join(process.env.TMPDIR || "/tmp", "huddle-tok-"));
    try {
      const junk = path.join(tmp, "junk.gguf");
      fs.writeFileSync(junk, Buffer.from("GGUF not really a gguf file"));
      r = await run(["tokenize", junk, "x"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /huddle tokenize: /);
      assert.equal(r.stdout, "");
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

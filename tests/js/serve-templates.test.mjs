// serve-templates.test.mjs: issue 4, chat completions go through the GGUF's
// own tokenizer.chat_template, rendered as @huggingface/jinja renders it.
// Every template of shared/data/chat-templates is put into a small model;
// for a system+user and a multi-turn conversation the API's prompt is the
// tokens of the package's rendering (with the server's bos/eos tokens and
// add_generation_prompt), so prompt_tokens and the greedy answer equal
// /v1/completions given those tokens. Where the package throws (a template
// that refuses the conversation), the API answers 400 in OpenAI's shape.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Template } from "@huggingface/jinja";
import { startServer, userCreate, tokenCreate } from "./lib/huddle.mjs";
import { api } from "./lib/http.mjs";
import { tmpDir } from "./lib/util.mjs";
import { SHARED_DATA, genModel, ggufWithString } from "./serve-util.mjs";

const DIR = process.env.HUDDLE_CHAT_TEMPLATES || path.join(SHARED_DATA, "chat-templates");
const files = fs.existsSync(DIR) ? fs.readdirSync(DIR).filter((f) => f.endsWith(".jinja")).sort() : [];

const conversations = {
  system_user: [{ role: "system", content: "You are terse." }, { role: "user", content: "Name a colour." }],
  multi_turn: [{ role: "user", content: "Hi!" }, { role: "assistant", content: "Hello. How can I help?" }, { role: "user", content: "Tell me a story about a cat." }],
};

describe("inference: chat completions render the GGUF's chat template as @huggingface/jinja does", () => {
  let srv, token, dir, info, compared = 0, refused = 0;

  before(async () => {
    dir = tmpDir("huddle-serve-t-");
    const base = await genModel(path.join(dir, "base.gguf"), { ctx: 4096, seed: 11 });
    const args = ["--parallel", "1"];
    files.forEach((f, i) => {
      const p = ggufWithString(base, path.join(dir, `t${i}.gguf`), "tokenizer.chat_template", fs.readFileSync(path.join(DIR, f), "utf8"));
      args.push("--model", `t${i}=${p}`);
    });
    srv = await startServer({ args });
    await userCreate(srv.dataDir, "alice");
    token = await tokenCreate(srv.dataDir, "alice");
    info = (await api(srv.url, "GET", "/tokenizer_info?model=t0", { token })).json;
  });

  after(async () => {
    if (srv) assert.equal((await srv.stop()).code, 0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("the shared templates are there (missing data is a failure)", () => assert.ok(files.length >= 20, `${files.length} templates in ${DIR}`));

  it("the template reaches the API unchanged", async () => {
    const r = await api(srv.url, "GET", "/tokenizer_info?model=t0", { token });
    assert.equal(r.json.chat_template, fs.readFileSync(path.join(DIR, files[0]), "utf8"));
  });

  files.forEach((f, i) => {
    for (const [name, messages] of Object.entries(conversations)) {
      it(`${f}: ${name}`, async () => {
        let text = null, jsErr = null;
        try {
          text = new Template(fs.readFileSync(path.join(DIR, f), "utf8")).render({ messages: structuredClone(messages), add_generation_prompt: true, bos_token: info.bos_token, eos_token: info.eos_token });
        } catch (e) {
          jsErr = e;
        }
        const chat = await api(srv.url, "POST", "/v1/chat/completions", { token, json: { model: `t${i}`, messages, max_tokens: 6, temperature: 0 } });
        if (jsErr) {
          assert.equal(chat.status, 400, `@huggingface/jinja throws (${jsErr.message}); ${chat.describe()}`);
          assert.equal(typeof chat.json.error.message, "string");
          refused++;
          return;
        }
        assert.equal(chat.status, 200, chat.describe());
        const add = !text.startsWith(info.bos_token);
        const ids = (await api(srv.url, "POST", "/tokenize", { token, json: { model: `t${i}`, prompt: text, add_special_tokens: add } })).json.tokens;
        assert.equal(chat.json.usage.prompt_tokens, ids.length, `prompt of ${ids.length} tokens expected:\n${text}`);
        const cmpl = await api(srv.url, "POST", "/v1/completions", { token, json: { model: `t${i}`, prompt: ids, max_tokens: 6, temperature: 0 } });
        assert.equal(cmpl.status, 200, cmpl.describe());
        assert.equal(chat.json.choices[0].message.content, cmpl.json.choices[0].text);
        compared++;
      });
    }
  });

  // the tool-use templates need `tools` (which this server refuses) and
  // gemma refuses a system message; everything else renders
  it("most conversations rendered and compared", () => {
    assert.equal(compared + refused, files.length * Object.keys(conversations).length);
    assert.ok(compared >= files.length * 1.5, `only ${compared} compared, ${refused} refused`);
  });
});

// web-browse.test.mjs: issue 5 acceptance, browsing part. A model pushed
// with the unmodified @huggingface/hub client is found by the UI's search and
// filters (the same repos as the API for the same query), its card renders
// (a GitHub table, a code block, heading anchors, the YAML metadata sidebar),
// the file browser shows a file pushed to a branch, the commits page lists
// the history, "Use this model" and the API page carry the real URL and the
// pinned commit. Every page is checked for dialogs, console errors (CSP
// violations included) and requests to other origins. Screenshots of the
// main pages go to docs/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as hub from "@huggingface/hub";
import { startServer, userCreate, tokenCreate } from "./lib/huddle.mjs";
import { api } from "./lib/http.mjs";
import { rid } from "./lib/util.mjs";
import { launchBrowser, haveChromium, screenshot } from "./web-browser.mjs";

const skip = haveChromium() ? false : "chromium is not installed (scripts/deps --test)";
let srv, token, b, page;
const tag = rid(6);
const model = `alice/tiny-${tag}`;
const other = `alice/other-${tag}`;
const dataset = `alice/stories-${tag}`;

const card = `---
license: mit
pipeline_tag: text-generation
library_name: gguf
tags:
  - llama
  - web-${tag}
base_model: meta-llama/Llama-2-7b
datasets:
  - ${dataset}
language:
  - en
---
# Tiny model ${tag}

A **tiny** Llama for tests. See the [config](config.json).

## Results

| task | score |
|------|------:|
| hellaswag-${tag} | 0.42 |
| arc | 0.31 |

## Usage

\`\`\`python
from huggingface_hub import hf_hub_download
print("hello ${tag}")
\`\`\`
`;

before(async () => {
  if (skip) return;
  srv = await startServer();
  await userCreate(srv.dataDir, "alice");
  token = await tokenCreate(srv.dataDir, "alice", { role: "write" });
  const c = { hubUrl: srv.url, accessToken: token };
  await hub.createRepo({ ...c, repo: model });
  await hub.uploadFiles({ ...c, repo: model, files: [
    { path: "README.md", content: new Blob([card]) },
    { path: "config.json", content: new Blob([JSON.stringify({ dim: 64, n_layers: 5 })]) },
    { path: "weights/model.bin", content: new Blob([new Uint8Array(2 * 1024 * 1024).fill(7)]) },
  ], commitTitle: `Add the model ${tag}` });
  await hub.createBranch({ ...c, repo: model, branch: "dev" });
  await hub.uploadFiles({ ...c, repo: model, branch: "dev", files: [
    { path: `dev-only-${tag}.txt`, content: new Blob([`only on dev ${tag}\n`]) },
  ], commitTitle: "A file on dev" });
  await hub.createRepo({ ...c, repo: other });
  await hub.uploadFiles({ ...c, repo: other, files: [
    { path: "README.md", content: new Blob([`---\nlicense: apache-2.0\nlibrary_name: transformers\ntags: [web-${tag}]\n---\n# Other\n`]) },
  ] });
  await hub.createRepo({ ...c, repo: { type: "dataset", name: dataset } });
  b = await launchBrowser();
  page = await b.newPage(srv.url);
});

after(async () => {
  if (b) await b.close();
  if (srv) {
    const r = await srv.stop();
    assert.equal(r.code, 0, `server exit ${r.code}\n${r.output.slice(-3000)}`);
  }
});

const idsOnPage = async () =>
  page.$$eval(".results .repo-id", (els) => els.map((e) => e.textContent.trim()));

test("search and filters find the pushed model, with the same results as the API", { skip }, async () => {
  await page.goto(`${srv.url}/`);
  await screenshot(page, "home.png");
  // the header search box
  await page.fill("header form.search input[name=search]", tag);
  await Promise.all([page.waitForURL(/\/models\?search=/), page.press("header form.search input[name=search]", "Enter")]);
  let ids = await idsOnPage();
  assert.ok(ids.includes(model), `search '${tag}' shows ${ids}`);
  const apiSearch = await api(srv.url, "GET", `/api/models?search=${tag}&sort=trending`);
  assert.deepEqual(ids, apiSearch.json.map((m) => m.id), "UI and API disagree on the search");

  // filters: library + license + tag, same as the API's filter=
  await page.goto(`${srv.url}/models?search=${tag}&library=gguf&license=mit&other=llama`);
  ids = await idsOnPage();
  const apiF = await api(srv.url, "GET", `/api/models?search=${tag}&filter=gguf&filter=license:mit&filter=llama&sort=trending`);
  assert.equal(apiF.status, 200, apiF.describe());
  assert.deepEqual(ids, apiF.json.map((m) => m.id));
  assert.deepEqual(ids, [model], "only the gguf/mit model matches");
  await screenshot(page, "models.png");

  // the task select applies at once (app.js) and keeps the other filters
  await page.goto(`${srv.url}/models?other=web-${tag}`);
  assert.deepEqual((await idsOnPage()).sort(), [model, other].sort());
  await Promise.all([page.waitForURL(/pipeline_tag=text-generation/), page.selectOption("#hd-filters select[name=pipeline_tag]", "text-generation")]);
  ids = await idsOnPage();
  const apiP = await api(srv.url, "GET", `/api/models?filter=web-${tag}&pipeline_tag=text-generation&sort=trending`);
  assert.deepEqual(ids, apiP.json.map((m) => m.id));
  assert.deepEqual(ids, [model]);

  // owner filter and sort by name
  await page.goto(`${srv.url}/models?author=alice&search=${tag}&sort=name`);
  ids = await idsOnPage();
  const apiA = await api(srv.url, "GET", `/api/models?author=alice&search=${tag}&sort=id`);
  assert.deepEqual(ids, apiA.json.map((m) => m.id));
  assert.deepEqual(ids, [model, other].sort());

  // datasets listing
  await page.goto(`${srv.url}/datasets?search=${tag}`);
  assert.deepEqual(await idsOnPage(), [dataset]);
  b.assertClean("listings");
});

test("the model card renders: table, code block, anchors, metadata sidebar", { skip }, async () => {
  await page.goto(`${srv.url}/${model}`);
  const table = page.locator("article.card table");
  assert.equal(await table.count(), 1);
  assert.deepEqual(await table.locator("th").allTextContents(), ["task", "score"]);
  assert.equal(await table.locator("td").first().textContent(), `hellaswag-${tag}`);
  assert.equal(await table.locator("th").nth(1).getAttribute("align"), "right");
  const code = page.locator("article.card pre code.language-python");
  assert.match(await code.textContent(), new RegExp(`print\\("hello ${tag}"\\)`));
  assert.equal(await page.locator("article.card h2 a.anchor#results").count(), 1);
  assert.equal(await page.locator("article.card a.anchor#usage").getAttribute("href"), "#usage");
  // relative links point into the repo at the card's commit
  assert.match(await page.locator("article.card a", { hasText: "config" }).getAttribute("href"), new RegExp(`^/${model}/blob/[0-9a-f]{40}/config\\.json$`));
  // the YAML front matter is not in the body; it is the sidebar
  assert.doesNotMatch(await page.locator("article.card").textContent(), /pipeline_tag/);
  const side = page.locator("aside.card-meta");
  assert.match(await side.textContent(), /License\s*mit/);
  assert.match(await side.textContent(), /Task\s*text-generation/);
  assert.match(await side.textContent(), /Library\s*gguf/);
  assert.equal(await side.locator(`a[href="/datasets/${dataset}"]`).count(), 1);
  assert.equal(await side.locator(`a[href="/meta-llama/Llama-2-7b"]`).count(), 1);
  assert.match(await side.textContent(), new RegExp(`Add the model ${tag}`));
  // "Use this model" with the real URL
  const snippets = await page.locator("section.use pre").allTextContents();
  assert.ok(snippets.some((s) => s.includes(`curl ${srv.url}/v1/chat/completions`) && s.includes(`"model": "${model}"`)), snippets.join("\n"));
  assert.ok(snippets.some((s) => s.includes(`git clone ${srv.url}/${model}`)));
  assert.ok(snippets.some((s) => s.includes(`hubUrl = "${srv.url}"`)));
  await screenshot(page, "model.png");
  b.assertClean("card");
});

test("files and versions: branches, a file pushed to a branch, LFS, blob view, commits", { skip }, async () => {
  await page.goto(`${srv.url}/${model}/tree/main`);
  const names = () => page.$$eval("table.tree td.name", (els) => els.map((e) => e.textContent.replace(/^\W+/, "").trim()));
  let n = await names();
  assert.ok(n.includes("README.md") && n.includes("config.json") && n.includes("weights"), n.join(","));
  assert.ok(!n.includes(`dev-only-${tag}.txt`));
  await screenshot(page, "files.png");
  // switch branch through the menu
  await page.click("details.refs summary");
  await Promise.all([page.waitForURL(/\/tree\/dev$/), page.click("details.refs a:text-is('dev')")]);
  n = await names();
  assert.ok(n.includes(`dev-only-${tag}.txt`), n.join(","));
  // open the file
  await Promise.all([page.waitForURL(/\/blob\/dev\//), page.click(`table.tree a:has-text('dev-only-${tag}.txt')`)]);
  assert.equal((await page.locator(".code-view pre.code").textContent()).trim(), `only on dev ${tag}`);
  assert.equal(await page.locator(".blob-head a:text-is('raw')").getAttribute("href"), `/${model}/raw/dev/dev-only-${tag}.txt`);
  const raw = await api(srv.url, "GET", `/${model}/raw/dev/dev-only-${tag}.txt`);
  assert.equal(raw.text, `only on dev ${tag}\n`);
  // a folder and an LFS file
  await page.goto(`${srv.url}/${model}/tree/main/weights`);
  const row = page.locator("table.tree tr", { hasText: "model.bin" });
  assert.equal(await row.locator(".badge.lfs").count(), 1);
  assert.match(await row.locator("td.size").textContent(), /2\.10 MB/);
  await page.click("table.tree a:has-text('model.bin')");
  await page.waitForURL(/\/blob\/main\/weights\/model\.bin$/);
  assert.match(await page.locator(".lfs-info").textContent(), /SHA256/);
  // commits of dev, newest first
  await page.goto(`${srv.url}/${model}/commits/dev`);
  const titles = await page.locator("ol.commits .title").allTextContents();
  assert.equal(titles[0], "A file on dev");
  assert.ok(titles.includes(`Add the model ${tag}`));
  const apiCommits = await api(srv.url, "GET", `/api/models/${model}/commits/dev`);
  assert.deepEqual(titles, apiCommits.json.map((c) => c.title));
  await screenshot(page, "commits.png");
  b.assertClean("files");
  // a missing path and a missing repo: 404 pages (the browser logs the 404s)
  const r1 = await page.goto(`${srv.url}/${model}/blob/main/nope.txt`);
  assert.equal(r1.status(), 404);
  assert.equal(await page.locator("section.error h2").textContent(), "File not found");
  const r2 = await page.goto(`${srv.url}/alice/does-not-exist-${tag}`);
  assert.equal(r2.status(), 404);
  assert.equal(await page.locator("section.error h2").textContent(), "Repository not found");
  b.reset();
});

test("the API page shows requests pinned to the current commit", { skip }, async () => {
  const info = await api(srv.url, "GET", `/api/models/${model}`);
  const sha = info.json.sha;
  assert.match(sha, /^[0-9a-f]{40}$/);
  await page.goto(`${srv.url}/${model}/api`);
  const text = (await page.locator("section.api").textContent());
  assert.ok(text.includes(`curl ${srv.url}/api/models/${model}/revision/${sha}`), text);
  assert.ok(text.includes(`${srv.url}/${model}/resolve/${sha}/config.json`));
  assert.ok(text.includes(`"model": "${model}@${sha}"`));
  // the pinned request works as shown
  const r = await api(srv.url, "GET", `/api/models/${model}/revision/${sha}`);
  assert.equal(r.status, 200);
  assert.equal(r.json.sha, sha);
  const f = await api(srv.url, "GET", `/${model}/resolve/${sha}/config.json`);
  assert.deepEqual(f.json, { dim: 64, n_layers: 5 });
  await page.goto(`${srv.url}/alice`);
  assert.ok((await page.locator(".repo-id").allTextContents()).includes(model));
  b.assertClean("api page");
});

test("pagination: the UI's pages are the API's pages for the same query", { skip }, async () => {
  const c = { hubUrl: srv.url, accessToken: token };
  const names = Array.from({ length: 34 }, (_, i) => `alice/page-${tag}-${String(i).padStart(2, "0")}`);
  for (const n of names) await hub.createRepo({ ...c, repo: n });
  await page.goto(`${srv.url}/models?search=page-${tag}&sort=name`);
  const first = await idsOnPage();
  assert.equal(first.length, 30);
  assert.deepEqual(first, names.slice(0, 30));
  const apiFirst = await api(srv.url, "GET", `/api/models?search=page-${tag}&sort=id&limit=30`);
  assert.deepEqual(first, apiFirst.json.map((m) => m.id));
  const link = /<(https?:\/\/[^>]+)>;\s+rel="next"/.exec(apiFirst.header("link"))[1];
  await Promise.all([page.waitForURL(/cursor=/), page.click("nav.pager a[rel=next]")]);
  const second = await idsOnPage();
  const apiSecond = await api(srv.url, "GET", link);
  assert.deepEqual(second, apiSecond.json.map((m) => m.id));
  assert.deepEqual(second, names.slice(30));
  assert.equal(await page.locator("nav.pager a[rel=next]").count(), 0);
  await page.click("nav.pager a:has-text('First page')");
  assert.deepEqual(await idsOnPage(), first);
  b.assertClean("pagination");
});

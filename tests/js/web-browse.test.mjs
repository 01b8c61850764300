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
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HUDDLE_BIN } from "./lib/huddle.mjs";
import { tmpDir } from "./lib/util.mjs";
import { rid } from "./lib/util.mjs";
import { launchBrowser, haveChromium, screenshot } from "./web-browser.mjs";
import { STORIES } from "./serve-util.mjs";

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
  // no GGUF file here: nothing huddle run or the inference service could load
  assert.ok(!snippets.some((s) => /huddle run|\/v1\/chat/.test(s)), snippets.join("\n"));
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

// Trending counts only the downloads of the last days. Downloads made now go
// through resolve; older history is written into the day table of a stopped
// server (sqlite3), as a month of use would have left it.
test("sorts: trending by recent downloads, most downloads, recently updated, name; the same as the API", { skip }, async () => {
  let s2 = await startServer();
  try {
    await userCreate(s2.dataDir, "alice");
    const t2 = await tokenCreate(s2.dataDir, "alice", { role: "write" });
    const c = { hubUrl: s2.url, accessToken: t2 };
    const [ra, rb, rc] = ["a", "b", "c"].map((x) => `alice/sort-${tag}-${x}`);
    for (const r of [ra, rb, rc]) {
      await hub.createRepo({ ...c, repo: r });
      await hub.uploadFiles({ ...c, repo: r, files: [{ path: "config.json", content: new Blob([`{"r": "${r}"}`]) }] });
    }
    const get = async (r, n) => {
      for (let i = 0; i < n; i++) assert.equal((await api(s2.url, "GET", `/${r}/resolve/main/config.json`)).status, 200);
    };
    await get(ra, 1);
    await get(rb, 3);
    // history: rc had 50 downloads a month ago, ra 5 two days ago
    assert.equal((await s2.stop()).code, 0);
    const today = Math.floor(Date.now() / 86400000);
    const sql = `
      INSERT INTO repo_downloads_daily(repo_id, day, n) SELECT id, ${today - 30}, 50 FROM repos WHERE key = 'model/alice/sort-${tag}-c';
      UPDATE repos SET downloads = downloads + 50 WHERE key = 'model/alice/sort-${tag}-c';
      INSERT INTO repo_downloads_daily(repo_id, day, n) SELECT id, ${today - 2}, 5 FROM repos WHERE key = 'model/alice/sort-${tag}-a';
      UPDATE repos SET downloads = downloads + 5 WHERE key = 'model/alice/sort-${tag}-a';`;
    execFileSync("sqlite3", [path.join(s2.dataDir, "huddle.db"), sql]);
    s2 = await s2.restart();
    const p2 = await b.newPage(s2.url); // guarded against s2's origin
    const idsOnP2 = () => p2.$$eval(".results .repo-id", (els) => els.map((e) => e.textContent.trim()));
    const ui = async (sort) => {
      await p2.goto(`${s2.url}/models?search=sort-${tag}&sort=${sort}`);
      return idsOnP2();
    };
    const viaApi = async (sort) => {
      const r = await api(s2.url, "GET", `/api/models?search=sort-${tag}&sort=${sort}`);
      assert.equal(r.status, 200, r.describe());
      return r.json.map((m) => m.id);
    };
    // trending: a (1 + 5 in the window), b (3), c (50, all outside it)
    assert.deepEqual(await ui("trending"), [ra, rb, rc]);
    assert.deepEqual(await viaApi("trendingScore"), [ra, rb, rc]);
    assert.deepEqual(await viaApi("trending_score"), [ra, rb, rc]);
    assert.equal(await p2.locator("#hd-filters select[name=sort] option[selected]").textContent(), "Trending");
    // the default order of a listing is trending
    await p2.goto(`${s2.url}/models?search=sort-${tag}`);
    assert.deepEqual(await idsOnP2(), [ra, rb, rc]);
    // the home page's trending column
    await p2.goto(`${s2.url}/`);
    const home = await p2.$$eval("section:has(h2 a[href='/models?sort=trending']) .repo-id", (els) => els.map((e) => e.textContent.trim()));
    assert.deepEqual(home, [ra, rb, rc]);
    // most downloads counts everything: c (50), a (6), b (3)
    assert.deepEqual(await ui("downloads"), [rc, ra, rb]);
    assert.deepEqual(await viaApi("downloads"), [rc, ra, rb]);
    // a download today moves b past a in trending only
    await get(rb, 4);
    assert.deepEqual(await ui("trending"), [rb, ra, rc]);
    assert.deepEqual(await viaApi("trendingScore"), [rb, ra, rc]);
    // recently updated: a commit to c puts it first
    await hub.uploadFiles({ hubUrl: s2.url, accessToken: t2, repo: rc, files: [{ path: "x.txt", content: new Blob(["x"]) }] });
    assert.deepEqual((await ui("modified"))[0], rc);
    assert.deepEqual(await ui("modified"), await viaApi("lastModified"));
    assert.deepEqual(await ui("name"), [ra, rb, rc]);
    assert.deepEqual(await viaApi("id"), [ra, rb, rc]);
    b.assertClean("sorts");
    await p2.close();
  } finally {
    const r = await s2.stop();
    assert.equal(r.code, 0, `server exit ${r.code}\n${r.output.slice(-3000)}`);
  }
});

// "Use this model" is run as shown: the huddle snippet (fetch the GGUF, run
// it), the curl to /v1/chat/completions (the service serves the repo), git
// clone (with LFS) and the JavaScript client.
const here = path.dirname(fileURLToPath(import.meta.url));
const GGUF = STORIES;
test("Use this model: every snippet runs as shown against this server", { skip }, async () => {
  assert.ok(fs.existsSync(GGUF), `no model at ${GGUF}: set HUDDLE_SHARED_DATA to the shared/data folder`);
  const repo = `alice/stories-gguf-${tag}`;
  const c = { hubUrl: srv.url, accessToken: token };
  const bytes = fs.readFileSync(GGUF);
  await hub.createRepo({ ...c, repo });
  await hub.uploadFiles({ ...c, repo, files: [
    { path: "stories260K.gguf", content: new Blob([bytes]) },
    { path: "README.md", content: new Blob(["---\nlibrary_name: gguf\npipeline_tag: text-generation\n---\n# stories\n"]) },
  ] });
  await page.goto(`${srv.url}/${repo}`);
  const snippets = await page.locator("section.use pre").allTextContents();
  const find = (re) => {
    const s = snippets.find((x) => re.test(x));
    assert.ok(s, `no snippet matching ${re} in\n${snippets.join("\n---\n")}`);
    return s;
  };
  const dir = tmpDir("huddle-snippets-");
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  fs.symlinkSync(HUDDLE_BIN, path.join(bin, "huddle"));
  // HOME: "git lfs install" in the snippet writes the user's git config
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, HOME: dir, HF_TOKEN: token, GIT_TERMINAL_PROMPT: "0" };
  const sh = (script, cwd = dir) => execFileSync("bash", ["-euo", "pipefail", "-c", script], { cwd, env, encoding: "utf8", timeout: 120000, stdio: ["ignore", "pipe", "pipe"] });

  const run = find(/huddle run/);
  assert.match(run, new RegExp(`'${srv.url}/${repo}/resolve/main/stories260K\\.gguf'`));
  const story = sh(run);
  assert.ok(story.trim().length > 0, "huddle run printed nothing");
  assert.deepEqual(fs.readFileSync(path.join(dir, "model.gguf")), bytes);

  const chat = sh(find(/\/v1\/chat\/completions/));
  const chunks = chat.split("\n").filter((l) => l.startsWith("data: {")).map((l) => JSON.parse(l.slice(6)));
  assert.ok(chunks.length > 1, chat.slice(0, 500));
  assert.equal(chunks[0].model, repo);
  assert.match(chat, /data: \[DONE\]/);

  const clone = find(/git clone/);
  assert.ok(clone.includes(`git clone ${srv.url}/${repo}`), clone);
  sh(clone);
  assert.deepEqual(fs.readFileSync(path.join(dir, repo.split("/")[1], "stories260K.gguf")), bytes);

  const js = find(/@huggingface\/hub/);
  const listed = execFileSync("node", ["--input-type=module", "-e", js], { cwd: here, env, encoding: "utf8", timeout: 60000 });
  assert.match(listed, /stories260K\.gguf 1185376|stories260K\.gguf \d+/);
  assert.match(listed, /README\.md \d+/);
  b.assertClean("use this model");
});

// The rest of the URL scheme: a branch whose name has a slash, a tag in the
// refs menu, blob and commits under both, a dataset's pages under
// /datasets/NS/NAME; and the sidebar's tags, languages and download count.
test("URL scheme: tags, a branch with a slash, dataset pages; sidebar tags, languages, downloads", { skip }, async () => {
  const c = { hubUrl: srv.url, accessToken: token };
  const t = await api(srv.url, "POST", `/api/models/${model}/tag/main`, { token, json: { tag: `v1-${tag}` } });
  assert.equal(t.status, 200, t.describe());
  await hub.createBranch({ ...c, repo: model, branch: `feat/x-${tag}` });
  await hub.uploadFiles({ ...c, repo: model, branch: `feat/x-${tag}`, files: [
    { path: `docs/feat-${tag}.md`, content: new Blob([`# on feat/x ${tag}\n`]) },
  ], commitTitle: `A file on feat/x ${tag}` });
  const names = () => page.$$eval("table.tree td.name", (els) => els.map((e) => e.textContent.replace(/^\W+/, "").trim()));

  // /NS/NAME/tree/REV/PATH with REV = "feat/x-..."
  await page.goto(`${srv.url}/${model}/tree/feat/x-${tag}/docs`);
  assert.deepEqual(await names(), [`feat-${tag}.md`]);
  await page.goto(`${srv.url}/${model}/blob/feat/x-${tag}/docs/feat-${tag}.md`);
  assert.equal((await page.locator(".code-view pre.code").textContent()).trim(), `# on feat/x ${tag}`);
  await page.goto(`${srv.url}/${model}/commits/feat/x-${tag}`);
  assert.equal((await page.locator("ol.commits .title").allTextContents())[0], `A file on feat/x ${tag}`);

  // the tag is in the menu and opens the tree at it
  await page.goto(`${srv.url}/${model}/tree/main`);
  await page.click("details.refs summary");
  const tagLinks = await page.locator("details.refs h4:text-is('Tags') + ul a").allTextContents();
  assert.deepEqual(tagLinks, [`v1-${tag}`]);
  await Promise.all([page.waitForURL(new RegExp(`/tree/v1-${tag}$`)), page.click(`details.refs a:text-is('v1-${tag}')`)]);
  const n = await names();
  assert.ok(n.includes("README.md") && !n.includes(`dev-only-${tag}.txt`), n.join(","));
  assert.equal((await page.locator("ol.commits .title, details.refs summary").first().textContent()).trim(), `v1-${tag}`);

  // a dataset under /datasets/NS/NAME
  await hub.uploadFiles({ ...c, repo: { type: "dataset", name: dataset }, files: [
    { path: "README.md", content: new Blob([`---\nlicense: cc-by-4.0\n---\n# Stories ${tag}\n\n| a | b |\n|---|---|\n| 1 | 2 |\n`]) },
    { path: "data/train.csv", content: new Blob(["a,b\n1,2\n"]) },
  ] });
  await page.goto(`${srv.url}/datasets/${dataset}`);
  assert.equal(await page.locator("article.card h1").textContent(), `Stories ${tag}`);
  assert.equal(await page.locator("article.card table td").first().textContent(), "1");
  assert.match(await page.locator("aside.card-meta").textContent(), /License\s*cc-by-4\.0/);
  await page.goto(`${srv.url}/datasets/${dataset}/tree/main/data`);
  assert.deepEqual(await names(), ["train.csv"]);
  await page.goto(`${srv.url}/datasets/${dataset}/blob/main/data/train.csv`);
  assert.equal((await page.locator(".code-view pre.code").textContent()).trim(), "a,b\n1,2");
  assert.equal(await page.locator(".blob-head a:text-is('raw')").getAttribute("href"), `/datasets/${dataset}/raw/main/data/train.csv`);
  // the download link saves the file
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click(".blob-head a[download]")]);
  assert.equal(dl.suggestedFilename(), "train.csv");
  assert.equal(fs.readFileSync(await dl.path(), "utf8"), "a,b\n1,2\n");
  await page.goto(`${srv.url}/datasets/${dataset}/commits/main`);
  assert.ok((await page.locator("ol.commits .title").count()) >= 1);

  // the model's sidebar: tags, languages and the download count the API reports
  await api(srv.url, "GET", `/${model}/resolve/main/config.json`);
  const info = await api(srv.url, "GET", `/api/models/${model}`);
  await page.goto(`${srv.url}/${model}`);
  const side = page.locator("aside.card-meta");
  assert.equal((await side.locator("dt:text-is('Downloads') + dd").textContent()).trim(), String(info.json.downloads));
  assert.ok(info.json.downloads >= 1);
  assert.deepEqual((await side.locator("dt:text-is('Languages') + dd .tag").allTextContents()).map((s) => s.trim()), ["en"]);
  const tags = (await side.locator("dt:text-is('Tags') ~ dd a").allTextContents()).map((s) => s.trim());
  assert.ok(tags.includes("llama") && tags.includes(`web-${tag}`), tags.join(","));
  b.assertClean("url scheme");
});

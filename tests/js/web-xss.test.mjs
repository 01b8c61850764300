// web-xss.test.mjs: SECURITY.md W1 and W2 in a real browser. A model card
// full of the W1 payloads, file names, commit messages, tags and query
// strings carrying W2 payloads, and a chat transcript whose model answer is
// HTML: the pages render, and the browser sees no script run (no dialog), no
// CSP violation or other console error, no request to another origin; only
// allow-listed elements and attributes are left in the rendered card.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import * as hub from "@huggingface/hub";
import { startServer, userCreate, tokenCreate } from "./lib/huddle.mjs";
import { rid } from "./lib/util.mjs";
import { api } from "./lib/http.mjs";
import { launchBrowser, haveChromium } from "./web-browser.mjs";

const skip = haveChromium() ? false : "chromium is not installed (scripts/deps --test)";
let srv, b, page;
const tag = rid(6);
const repo = `alice/xss-${tag}`;

// Every payload calls alert(): a dialog in the browser means it ran.
const W1 = `---
license: "<script>alert('license')</script>"
pipeline_tag: "<img src=x onerror=alert('pipeline')>"
tags:
  - "<img src=x onerror=alert('tag')>"
  - "\\" onmouseover=\\"alert('tagattr')"
base_model: "<svg onload=alert('base')>/x"
datasets:
  - "javascript:alert('ds')"
widget:
  - text: "<script>alert('widget')</script>"
extra_gated_prompt: "<iframe srcdoc='<script>alert(1)</script>'></iframe>"
---
# <script>alert('h1')</script> Heading <img src=x onerror=alert('h1img')>

<script>alert('script')</script>
<img src=x onerror="alert('img')">
<img src="x" onerror=alert('img2') />
<svg onload="alert('svg')"><circle r=5></circle></svg>
<iframe srcdoc="<script>alert('srcdoc')</script>"></iframe>
<a href="javascript:alert('jslink')">js link</a>
<a href="JaVaScRiPt:alert('case')">case</a>
<a href="&#106;avascript:alert('entity')">entity</a>
<a href="java&#x09;script:alert('tab')">tab</a>
<a href=" javascript:alert('space')">space</a>
<a href="data:text/html,<script>alert('datalink')</script>">data link</a>
<img src="data:text/html,<script>alert('data')</script>">
<details open ontoggle="alert('toggle')"><summary>details</summary>body</details>
<div style="background:url(javascript:alert('style'))" onclick="alert('click')">styled</div>
<form action="javascript:alert('form')"><button formaction="javascript:alert('fa')">go</button></form>
<math><mtext><table><mglyph><style><img src=x onerror=alert('mxss')></style></mglyph></table></mtext></math>
<noscript><p title="</noscript><img src=x onerror=alert('noscript')>"></noscript>
<object data="javascript:alert('obj')"></object>
<embed src="javascript:alert('embed')">
<base href="https://evil.example/">
<meta http-equiv="refresh" content="0;url=javascript:alert('meta')">
<link rel=stylesheet href="https://evil.example/x.css">
<img src="https://evil.example/track.png">
<img src="//evil.example/proto.png">
<img src="/\\evil.example/bs.png">
<video src=x onerror=alert('video')></video>
<input autofocus onfocus=alert('focus')>
<a href="x" title='" onmouseover="alert(1)'>title breakout</a>
<table><tr><td background="javascript:alert('td')">cell</td></tr></table>
<p>unclosed <b>bold <div>div</p>
</div></div></div></article></main><script>alert('closed')</script>

[md js](javascript:alert('mdjs'))
[md js2](<javascript:alert('mdjs2')>)
[md data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)
[md vb](vbscript:msgbox(1))
[title break](https://example.com "\\" onmouseover=\\"alert('title')")
![md img](https://evil.example/img.png)
![md img js](javascript:alert('imgjs'))
<https://evil.example/autolink> and www.evil.example/bare

&lt;script&gt;alert('entity-text')&lt;/script&gt;
&#60;img src=x onerror=alert('numeric')&#62;

\`<script>alert('code')</script>\`

\`\`\`html
<script>alert('fence')</script>
\`\`\`
`;

const W2 = {
  file: `"><img src=x onerror=alert('file')>.txt`,
  dir: `<svg onload=alert('dir')>`,
  commit: `<script>alert('commit')</script>`,
  description: `<img src=x onerror=alert('desc')>\n\n<script>alert('desc2')</script>`,
  branch: `x<script>`,
};

before(async () => {
  if (skip) return;
  srv = await startServer();
  await userCreate(srv.dataDir, "alice");
  const token = await tokenCreate(srv.dataDir, "alice", { role: "write" });
  const c = { hubUrl: srv.url, accessToken: token };
  await hub.createRepo({ ...c, repo });
  await hub.uploadFiles({ ...c, repo, files: [
    { path: "README.md", content: new Blob([W1]) },
    { path: W2.file, content: new Blob([`<script>alert('content')</script>\n<img src=x onerror=alert('content2')>`]) },
    { path: `${W2.dir}/inner.html`, content: new Blob([`<html><script>alert('html')</script></html>`]) },
    { path: "w3/x.html", content: new Blob([`<html><body><script>alert('w3-html')</script>page</body></html>`]) },
    { path: "w3/x.svg", content: new Blob([`<svg xmlns="http://www.w3.org/2000/svg" onload="alert('w3-svg')"><script>alert('w3-svg2')</script></svg>`]) },
    { path: "w3/x.xml", content: new Blob([`<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><script>alert('w3-xml')</script></html>`]) },
    { path: "w3/fake.png", content: new Blob([`<html><script>alert('w3-png')</script></html>`]) },
    { path: "w3/poly.gif", content: new Blob([`GIF89a/*\x00\x00*/=1;alert('w3-gif');<script>alert('w3-gif2')</script>`]) },
    { path: "w3/x.txt", content: new Blob([`<script>alert('w3-txt')</script>`]) },
  ], commitTitle: W2.commit, commitDescription: W2.description });
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

// What is left in a rendered container: only known tags and attributes.
async function assertOnlyAllowed(sel) {
  const found = await page.$$eval(`${sel} *`, (els) =>
    els.map((e) => ({ tag: e.tagName.toLowerCase(), attrs: [...e.attributes].map((a) => [a.name, a.value]) })));
  const tags = new Set(["a", "abbr", "b", "blockquote", "br", "caption", "center", "code", "dd", "del", "details", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
    "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var", "section", "input", "time"]);
  const attrs = new Set(["href", "src", "alt", "title", "align", "dir", "width", "height", "colspan", "rowspan",
    "start", "value", "open", "rel", "class", "id", "aria-hidden", "type", "checked", "disabled", "target",
    "data-footnote-ref", "data-footnotes", "data-footnote-backref", "lang", "datetime"]);
  for (const { tag: t, attrs: as } of found) {
    assert.ok(tags.has(t), `<${t}> survived in ${sel}`);
    for (const [n, v] of as) {
      assert.ok(attrs.has(n), `<${t} ${n}="${v}"> survived in ${sel}`);
      if (n === "href") assert.match(v, /^(https?:\/\/|mailto:|#|\/(?![\/\\]))/, `<${t} href="${v}">`);
      if (n === "src") assert.match(v, /^(\/(?![\/\\])|data:image\/(png|gif|jpeg|webp);)/, `<${t} src="${v}">`);
      if (t === "input") assert.ok(n !== "type" || v === "checkbox");
    }
  }
}

// Hover and click everything clickable in a container (event handlers and
// javascript: URLs would fire), then come back.
async function poke(sel) {
  const url = page.url();
  for (const el of await page.$$(`${sel} a, ${sel} summary, ${sel} div, ${sel} td, ${sel} img`)) {
    await el.hover({ timeout: 150 }).catch(() => {});
  }
  for (const el of await page.$$(`${sel} summary, ${sel} a[href^="#"]`)) {
    await el.click({ timeout: 150 }).catch(() => {});
  }
  if (page.url() !== url) await page.goto(url);
}

test("the guards catch a script that runs and a request that leaves", { skip }, async () => {
  // a page that does what the UI must never do, so a silent guard cannot pass
  const s = http.createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end(`<!doctype html><img src="http://127.0.0.1:9/x.png"><script>alert("ran")</script>`);
  });
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const origin = `http://127.0.0.1:${s.address().port}`;
  const p = await b.newPage(origin);
  await p.goto(origin + "/");
  await p.waitForTimeout(300);
  await p.close();
  s.close();
  assert.deepEqual(b.events.dialogs, ["alert: ran"]);
  assert.ok(b.events.foreign.some((f) => f.includes("127.0.0.1:9/x.png")), b.events.foreign.join("\n"));
  assert.throws(() => b.assertClean("self-test"));
  b.reset();
});

test("W1: a hostile model card renders without running anything", { skip }, async () => {
  const r = await page.goto(`${srv.url}/${repo}`);
  assert.equal(r.status(), 200);
  await page.waitForTimeout(300);
  await assertOnlyAllowed("article.card");
  await assertOnlyAllowed("aside.card-meta");
  await poke("article.card");
  await poke("aside.card-meta");
  // the page around the card is intact: the footer and our script are still ours
  assert.equal(await page.locator("footer").count(), 1);
  assert.equal(await page.locator("script").count(), 1);
  assert.equal(await page.locator("main article.card ~ div.side").count(), 1, "the card closed the page around it");
  // the text of the payloads is visible as text where markdown says so
  const text = await page.locator("article.card").textContent();
  assert.ok(text.includes("<script>alert('entity-text')</script>"));
  assert.ok(text.includes("<script>alert('fence')</script>"));
  // external images became plain links, no request went out (checked below)
  assert.equal(await page.locator("article.card img[src*='evil']").count(), 0);
  assert.ok(await page.locator("article.card a[href='https://evil.example/track.png']").count() === 1);
  b.assertClean("hostile card");
});

test("W2: file names, folder names and commit messages are escaped everywhere", { skip }, async () => {
  const pages = [`/${repo}/tree/main`, `/${repo}/commits/main`, `/${repo}/api`,
    `/${repo}/blob/main/${encodeURIComponent(W2.file)}`,
    `/${repo}/tree/main/${encodeURIComponent(W2.dir)}`,
    `/${repo}/blob/main/${encodeURIComponent(W2.dir)}/inner.html`,
    `/models?search=${encodeURIComponent("<script>alert('q')</script>")}&other=${encodeURIComponent("\"><img src=x onerror=alert('other')>")}`,
    `/models?author=${encodeURIComponent("<svg onload=alert('author')>")}`,
    `/chat?model=${encodeURIComponent("\"><script>alert('model')</script>")}`,
    `/login?next=${encodeURIComponent("\"><script>alert('next')</script>")}`,
    `/${repo}/tree/${encodeURIComponent(W2.branch)}`];
  for (const p of pages) {
    const r = await page.goto(srv.url + p);
    assert.ok([200, 400, 404].includes(r.status()), `${p}: ${r.status()}`);
    await page.waitForTimeout(100);
    assert.equal(await page.locator("main img:not([src^='/'])").count(), 0, p);
    assert.equal(await page.locator("main script, main svg, main iframe").count(), 0, p);
    await poke("main");
    if (r.status() !== 200) b.reset(); // the browser logs non-200 loads as errors
    b.assertClean(p);
  }
  // the names are shown, as text
  await page.goto(`${srv.url}/${repo}/tree/main`);
  assert.ok((await page.locator("table.tree").textContent()).includes(W2.file));
  assert.ok((await page.locator("table.tree").textContent()).includes(W2.dir));
  await page.goto(`${srv.url}/${repo}/commits/main`);
  assert.equal(await page.locator("ol.commits .title").first().textContent(), W2.commit);
  assert.ok((await page.locator("ol.commits .message").first().textContent()).includes("<img src=x onerror=alert('desc')>"));
  await page.goto(`${srv.url}/${repo}/blob/main/${encodeURIComponent(W2.file)}`);
  assert.ok((await page.locator(".code-view pre.code").textContent()).includes("<script>alert('content')</script>"));
  b.assertClean("names");
});

test("W2: a model answer made of HTML is shown in the playground, never run", { skip }, async () => {
  const answer = [
    "Sure! <script>alert('answer')</script>",
    "<img src=x onerror=alert('answer-img')>",
    "[click](javascript:alert('answer-link')) and **bold** and `code`",
    "<iframe srcdoc=\"<script>alert('answer-frame')</script>\"></iframe>",
    "![pixel](https://evil.example/pixel.png)",
    "| a | b |\n|---|---|\n| <b onmouseover=alert('cell')>x</b> | y |",
    "```js\nalert('fenced')\n```",
  ].join("\n\n");
  // the transcript the page keeps in localStorage, as if the model had said it
  await page.goto(`${srv.url}/chat`);
  await page.evaluate((a) => localStorage.setItem("huddle.chat.v1", JSON.stringify({
    messages: [{ role: "user", content: "<img src=x onerror=alert('user')>" }, { role: "assistant", content: a }],
    settings: { model: "<img src=x onerror=alert('setting')>" },
  })), answer);
  await page.reload();
  const body = page.locator("#hd-messages .msg.assistant .body");
  await body.locator("strong").waitFor();
  assert.equal(await body.locator("strong").textContent(), "bold");
  assert.equal(await body.locator("table").count(), 1);
  assert.equal(await body.locator("pre code").count(), 2); // the fence and the raw HTML block shown as code
  assert.ok((await body.textContent()).includes("<script>alert('answer')</script>"));
  assert.equal(await page.locator("#hd-messages .msg.user .body").textContent(), "<img src=x onerror=alert('user')>");
  await assertOnlyAllowed("#hd-messages .msg .body");
  await poke("#hd-messages");
  assert.equal(await page.locator("#hd-messages img, #hd-messages iframe, #hd-messages script").count(), 0);
  b.assertClean("chat transcript");
});

test("W3: user files from resolve and raw never run on the UI origin", { skip }, async () => {
  const p = await b.newPage(srv.url);
  for (const f of ["x.html", "x.svg", "x.xml", "fake.png", "poly.gif", "x.txt"]) {
    for (const kind of ["resolve", "raw"]) {
      const url = `${srv.url}/${repo}/${kind}/main/w3/${f}`;
      const r = await api(srv.url, "GET", url);
      assert.equal(r.status, 200, `${url}: ${r.status}`);
      assert.equal(r.header("x-content-type-options"), "nosniff", url);
      const ct = r.header("content-type") ?? "";
      assert.ok(!/html|xml|svg|javascript/i.test(ct) || /attachment/.test(r.header("content-disposition") ?? ""),
        `${url} served inline as ${ct}`);
      // and in the browser: a download or inert content, never script
      await p.goto(url).catch((e) => assert.match(e.message, /Download is starting|net::ERR_ABORTED/));
      await p.waitForTimeout(150);
    }
  }
  await p.close();
  b.reset(); // a broken image or a download may log; what matters is below
  assert.deepEqual(b.events.dialogs, []);
  assert.deepEqual(b.events.pageErrors, []);
});

// web-browser.mjs: Debian's chromium driven by playwright-core for the web UI
// tests (tests/js/web-*.test.mjs), plus guards that fail a test when a page
// runs script it should not (dialogs), logs errors (CSP violations included)
// or makes a request to another origin.
//
//   const b = await launchBrowser();            // fresh profile, headless
//   const page = await b.newPage(srv.url);      // guarded page
//   ...; b.assertClean();                        // no dialog, console error, foreign request
//   await b.close();
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { tmpDir, slow } from "./lib/util.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
export const CHROMIUM = process.env.HUDDLE_CHROMIUM || "/usr/bin/chromium";
export const SCREENSHOTS = path.resolve(here, "../../docs/screenshots");

export const haveChromium = () => fs.existsSync(CHROMIUM);

export async function launchBrowser({ allowOrigins = [] } = {}) {
  const profile = tmpDir("huddle-chromium-");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-dev-shm-usage",
    ],
    viewport: { width: 1280, height: 860 },
    timeout: slow(60000),
  });
  context.setDefaultTimeout(slow(20000));
  const events = { dialogs: [], errors: [], foreign: [], pageErrors: [], httpErrors: [] };
  const allowed = new Set(allowOrigins);
  const watch = (page, origin) => {
    page.on("dialog", (d) => {
      events.dialogs.push(`${d.type()}: ${d.message()}`);
      d.dismiss().catch(() => {});
    });
    page.on("console", (m) => {
      if (m.type() !== "error") return;
      // an HTTP error status (a 404 page, a broken relative image) is not a
      // script or policy problem; CSP violations read "Refused to ..."
      if (/^Failed to load resource: the server responded with a status of \d+/.test(m.text())) {
        events.httpErrors.push(`${page.url()}: ${m.text()}`);
        return;
      }
      events.errors.push(`${page.url()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => events.pageErrors.push(`${page.url()}: ${e.message}`));
    page.on("request", (r) => {
      const u = r.url();
      if (/^(data|blob|about):/.test(u)) return;
      let o;
      try { o = new URL(u).origin; } catch { o = u; }
      if (o !== origin && !allowed.has(o)) events.foreign.push(`${r.method()} ${u} (from ${page.url()})`);
    });
  };
  return {
    context,
    events,
    // A page watched against origin (the server's).
    async newPage(origin) {
      const page = await context.newPage();
      watch(page, new URL(origin).origin);
      return page;
    },
    allow(origin) { allowed.add(new URL(origin).origin); },
    // Clear what was seen so far (e.g. after an expected error).
    reset() { for (const k of Object.keys(events)) events[k].length = 0; },
    assertClean(what = "") {
      const msg = (k, label) => `${what} ${label}:\n${events[k].join("\n")}`;
      assert.deepEqual(events.dialogs, [], msg("dialogs", "dialogs (script ran)"));
      assert.deepEqual(events.pageErrors, [], msg("pageErrors", "page errors"));
      assert.deepEqual(events.errors, [], msg("errors", "console errors"));
      assert.deepEqual(events.foreign, [], msg("foreign", "requests to other origins"));
    },
    close: () => context.close(),
  };
}

// Saves docs/screenshots/NAME when HUDDLE_SCREENSHOTS=1 (so a normal test
// run leaves the tree clean): HUDDLE_SCREENSHOTS=1 ./scripts/e2e web-*.test.mjs
export async function screenshot(page, name) {
  if (process.env.HUDDLE_SCREENSHOTS !== "1") return;
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage: false });
}

// Sign in through the form; resolves once the redirect landed.
export async function signIn(page, base, token, next = "/") {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await page.fill("#hd-token", token);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login")), page.click("form[action='/login'] button[type=submit]")]);
}

// The session cookie of a browser context, as a Cookie header.
export async function cookieHeader(context, base) {
  const cs = await context.cookies(base);
  return cs.map((c) => `${c.name}=${c.value}`).join("; ");
}

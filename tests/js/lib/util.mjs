// util.mjs: small pure helpers shared by the end-to-end tests (hashes, random
// bytes, git/LFS object formats, temp dirs, polling).
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const MiB = 1024 * 1024;

export const sha256 = (buf) => crypto.createHash("sha256").update(buf).digest("hex");

// The sha1 git gives a blob: what the Hub reports as a regular file's `oid`/ETag.
export const gitBlobSha1 = (buf) => crypto.createHash("sha1").update(`blob ${buf.length}\0`).update(buf).digest("hex");

// The canonical Git LFS pointer (git-lfs spec v1): what the repo's git tree holds
// for an LFS file. Its git sha1 is the tree `oid`; its length is `pointerSize`.
export const lfsPointer = (oid, size) => Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\nsize ${size}\n`);

export const randomBytes = (n) => crypto.randomBytes(n);

// A short random suffix for repo names: letters and digits only.
export const rid = (n = 8) => crypto.randomBytes(n).toString("hex").slice(0, n);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const isHex = (s, len) => typeof s === "string" && new RegExp(`^[0-9a-f]{${len}}$`).test(s);

// Strip an ETag's quotes (and a weak prefix, which should never be there).
export const unquote = (etag) => (etag ?? "").replace(/^W\//, "").replace(/^"|"$/g, "");

// True when running against the ASan+UBSan binary: timeouts are scaled by this.
export const SANITIZED = process.env.HUDDLE_SANITIZED === "1" || /asan/.test(process.env.HUDDLE_BIN ?? "");
export const slow = (ms) => (SANITIZED ? ms * 4 : ms);

const tmpRoots = new Set();
let cleanupHooked = false;

// A fresh temp dir, removed when the test process exits (unless
// HUDDLE_KEEP_TMP=1, for post-mortems).
export function tmpDir(prefix = "huddle-test-") {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpRoots.add(d);
  if (!cleanupHooked) {
    cleanupHooked = true;
    process.on("exit", () => {
      if (process.env.HUDDLE_KEEP_TMP === "1") return;
      for (const r of tmpRoots) fs.rmSync(r, { recursive: true, force: true });
    });
  }
  return d;
}

export function rmTmp(d) {
  tmpRoots.delete(d);
  if (process.env.HUDDLE_KEEP_TMP !== "1") fs.rmSync(d, { recursive: true, force: true });
}

// Every regular file under dir (relative paths), symlinks not followed.
export function walkFiles(dir, rel = "") {
  const out = [];
  let ents;
  try {
    ents = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of ents) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walkFiles(dir, r));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

// Poll fn() until it returns a truthy value or the time runs out.
export async function waitFor(fn, { timeout = 10000, interval = 50, what = "condition" } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(interval);
  }
}

// Run async jobs with at most `n` in flight; results in input order.
export async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

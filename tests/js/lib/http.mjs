// http.mjs: HTTP helpers for the end-to-end tests.
//
// - loggingFetch(): a fetch to hand to @huggingface/hub's `fetch` option; it
//   records every request and response (method, URL, headers, status, JSON
//   bodies) so tests assert on the client's real traffic.
// - api(): a plain request with an optional Bearer token; returns status,
//   headers, raw bytes, text and parsed JSON, and describe() for messages.
// - rawRequest(): node:http with the path sent exactly as given (no URL
//   normalization, e.g. for `..%2f` and `/../` attacks).
// - assertError(): the error shape: a JSON {"error": "..."} body and X-Error-Message.
import assert from "node:assert/strict";
import http from "node:http";

const headersToObject = (h) => {
  if (!h) return {};
  if (h instanceof Headers) return Object.fromEntries([...h.entries()]);
  if (Array.isArray(h)) return Object.fromEntries(h.map(([k, v]) => [k.toLowerCase(), v]));
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), String(v)]));
};

const bodySize = (b) => {
  if (b == null) return 0;
  if (typeof b === "string") return Buffer.byteLength(b);
  if (b instanceof Blob) return b.size;
  if (b instanceof ArrayBuffer || ArrayBuffer.isView(b)) return b.byteLength;
  return -1; // a stream
};

export function loggingFetch() {
  const log = [];
  const f = async (input, init = {}) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const method = (init.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
    const entry = {
      method,
      url,
      reqHeaders: headersToObject(init.headers ?? (input instanceof Request ? input.headers : undefined)),
      reqBody: typeof init.body === "string" ? init.body : undefined,
      reqSize: bodySize(init.body),
      status: 0,
      resHeaders: {},
      json: undefined,
    };
    log.push(entry);
    let res;
    try {
      res = await fetch(input, init);
    } catch (e) {
      entry.error = e;
      throw e;
    }
    entry.status = res.status;
    entry.resHeaders = Object.fromEntries([...res.headers.entries()]);
    const ct = res.headers.get("content-type") ?? "";
    if (/json/.test(ct) && method !== "HEAD") {
      try {
        entry.json = await res.clone().json();
      } catch {
        entry.json = "<unparsable JSON>";
      }
    }
    return res;
  };
  f.log = log;
  f.clear = () => log.splice(0, log.length);
  f.since = (n) => log.slice(n);
  // Compact one-line-per-request dump, for failure messages.
  f.dump = (entries = log) =>
    entries.map((e) => `${e.method} ${e.url} -> ${e.status}${e.json !== undefined ? " " + JSON.stringify(e.json).slice(0, 300) : ""}`).join("\n");
  return f;
}

// Classify a logged request by what it is in the Hub protocol.
export function kindOf(e) {
  const u = new URL(e.url);
  const p = u.pathname;
  if (/\/preupload\//.test(p)) return "preupload";
  if (/\.git\/info\/lfs\/objects\/batch$/.test(p)) return "batch";
  if (/\/api\/(models|datasets|spaces)\/.+\/commit\//.test(p)) return "commit";
  if (/\/tree\//.test(p) && p.startsWith("/api/")) return "tree";
  if (e.method === "PUT") return "put";
  return "other";
}

export class Reply {
  constructor(method, url, reqDesc, res, bytes) {
    this.method = method;
    this.url = url;
    this.reqDesc = reqDesc;
    this.status = res.status;
    this.headers = res.headers;
    this.bytes = bytes;
    this.text = bytes.toString("utf8");
    try {
      this.json = JSON.parse(this.text);
    } catch {
      this.json = undefined;
    }
  }
  header(name) {
    return this.headers.get(name);
  }
  describe() {
    const hs = [...this.headers.entries()]
      .filter(([k]) => /^(x-|content-type|content-range|etag|location|link|www-auth)/.test(k))
      .map(([k, v]) => `${k}: ${v}`)
      .join("; ");
    const body = this.text.length > 400 ? this.text.slice(0, 400) + `... <${this.bytes.length} bytes>` : this.text;
    return `${this.method} ${this.url}${this.reqDesc ? " " + this.reqDesc : ""}\n  -> ${this.status} [${hs}] ${body}`;
  }
}

// api(base, method, path, {token, json, body, headers, basic})
// path may be absolute (http://...) or relative to base.
export async function api(base, method, p, opts = {}) {
  const url = /^https?:/.test(p) ? p : base + p;
  const headers = { ...(opts.headers ?? {}) };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.basic) headers.Authorization = "Basic " + Buffer.from(opts.basic).toString("base64");
  let body = opts.body;
  let reqDesc = "";
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers["Content-Type"] ??= "application/json";
    reqDesc = body.length > 300 ? body.slice(0, 300) + "..." : body;
  } else if (typeof body === "string") {
    reqDesc = body.length > 300 ? body.slice(0, 300) + "..." : body;
  } else if (body) {
    reqDesc = `<${bodySize(body)} bytes>`;
  }
  const res = await fetch(url, { method, headers, body, redirect: opts.redirect ?? "manual", signal: opts.signal });
  const bytes = method === "HEAD" ? Buffer.alloc(0) : Buffer.from(await res.arrayBuffer());
  return new Reply(method, url, reqDesc, res, bytes);
}

// A request whose path is sent byte for byte (node's http does not normalize).
export function rawRequest(base, method, rawPath, { headers = {}, body } = {}) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: rawPath, headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(", ") : v);
        resolve(new Reply(method, base + rawPath, "", { status: res.statusCode, headers: h }, Buffer.concat(chunks)));
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body) req.write(body);
    req.end();
  });
}

// The error shape every 4xx/5xx of the Hub API carries (HUB-API.md 1.10,
// STYLE.md): Content-Type JSON, a non-empty string `error`, and X-Error-Message.
export function assertError(r, status, { code } = {}) {
  const statuses = Array.isArray(status) ? status : status === undefined ? null : [status];
  if (statuses) assert.ok(statuses.includes(r.status), `expected status ${statuses.join(" or ")}:\n${r.describe()}`);
  else assert.ok(r.status >= 400 && r.status < 500, `expected a 4xx:\n${r.describe()}`);
  if (r.method !== "HEAD") {
    assert.match(r.header("content-type") ?? "", /^application\/json/, `error body is not JSON:\n${r.describe()}`);
    assert.ok(r.json && typeof r.json.error === "string" && r.json.error.length > 0, `no {"error": "..."} body:\n${r.describe()}`);
  }
  assert.ok((r.header("x-error-message") ?? "").length > 0, `no X-Error-Message header:\n${r.describe()}`);
  if (code) assert.equal(r.header("x-error-code"), code, `X-Error-Code:\n${r.describe()}`);
}

export const is4xx = (r) => r.status >= 400 && r.status < 500;

// Build an NDJSON commit body from {key, value} objects (or raw strings).
export const ndjson = (lines) => lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n";

// POST an NDJSON commit body through the raw API.
export function commitRaw(base, repoType, repo, lines, { token, rev = "main", headers = {} } = {}) {
  const body = Buffer.isBuffer(lines) || typeof lines === "string" ? lines : ndjson(lines);
  return api(base, "POST", `/api/${repoType}s/${repo}/commit/${encodeURIComponent(rev)}`, {
    token,
    body,
    headers: { "Content-Type": "application/x-ndjson", ...headers },
  });
}

// The LFS batch call (as the clients send it). prefix: "" for models, "datasets/"...
export function lfsBatch(base, prefixRepo, { operation = "upload", objects, token, basic, ref = "main", transfers = ["basic", "multipart"] }) {
  return api(base, "POST", `/${prefixRepo}.git/info/lfs/objects/batch`, {
    token,
    basic,
    body: JSON.stringify({ operation, transfers, hash_algo: "sha_256", ...(ref ? { ref: { name: ref } } : {}), objects }),
    headers: { Accept: "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json" },
  });
}

// Send a (large) body with `Expect: 100-continue`, so a server that refuses it
// early (413 before reading it all) can answer without the client tripping on
// a reset while still writing. Resolves to a Reply; a socket error after the
// response started is ignored.
export function sendWithContinue(base, method, p, body, headers = {}) {
  const u = new URL(p.startsWith("http") ? p : base + p);
  return new Promise((resolve, reject) => {
    let responded = false;
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path: u.pathname + u.search,
        headers: { ...headers, "Content-Length": String(body.length), Expect: "100-continue" },
      },
      (res) => {
        responded = true;
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(", ") : v);
          resolve(new Reply(method, u.href, `<${body.length} bytes>`, { status: res.statusCode, headers: h }, Buffer.concat(chunks)));
        });
        res.on("error", (e) => (responded ? null : reject(e)));
      },
    );
    req.on("continue", () => req.end(body));
    req.on("error", (e) => {
      if (!responded) reject(e);
    });
    // A server that ignores Expect gets the body after a short wait anyway.
    setTimeout(() => {
      if (!req.writableEnded && !responded) req.end(body);
    }, 1000);
  });
}

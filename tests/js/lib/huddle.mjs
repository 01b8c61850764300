// huddle.mjs: start the real `huddle` binary ($HUDDLE_BIN) and drive its CLI.
//
//   const srv = await startServer({ args: ["--tree-page-size", "50"] });
//   srv.url            // "http://127.0.0.1:PORT", from the "huddle listening on" line
//   cli(srv.dataDir, "user", "create", "alice")
//   await srv.stop()   // SIGTERM; resolves to {code, signal}; a nonzero code means an
//                      // unclean shutdown (for the ASan build: a leak or error report)
//   await srv.kill9()  // SIGKILL, for durability tests
//
// The server's stdout/stderr are kept (srv.output()) and printed if it dies
// unexpectedly, so a crash under ASan shows its report next to the failing test.
import { spawn, execFile } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { tmpDir, slow } from "./util.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
export const HUDDLE_BIN = process.env.HUDDLE_BIN || path.resolve(here, "../../../build/huddle");

const LISTEN_RE = /huddle listening on (http:\/\/[^\s/]+)/;

// A port that was free a moment ago (for tests that must know the port before
// the server starts, e.g. to pass --public-url). Racy by nature; startServer
// retries on a bind failure.
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function spawnServer(dataDir, args, opts) {
  const proc = spawn(HUDDLE_BIN, ["serve", "--data", dataDir, ...args], {
    cwd: opts.cwd ?? dataDir,
    env: { ...process.env, ...(opts.env ?? {}) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines = [];
  const keep = (prefix) => (chunk) => {
    for (const l of chunk.toString().split("\n")) {
      if (!l) continue;
      lines.push(prefix + l);
      if (lines.length > 400) lines.shift();
      if (process.env.HUDDLE_TEST_VERBOSE === "1") process.stderr.write(`[huddle] ${prefix}${l}\n`);
    }
  };
  proc.stdout.on("data", keep(""));
  proc.stderr.on("data", keep("! "));
  return { proc, lines };
}

// Start `huddle serve --data DIR --port 0 ...args` and wait for its ready line.
// opts: dataDir (default: a fresh temp dir), args (extra serve flags),
// publicUrl (true: reserve a port and pass --port P --public-url http://127.0.0.1:P;
// a string: use that URL with a reserved port), env, cwd, timeout.
export async function startServer(opts = {}) {
  const dataDir = opts.dataDir ?? tmpDir("huddle-data-");
  const timeout = opts.timeout ?? slow(30000);
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    let args;
    if (opts.publicUrl) {
      const port = await freePort();
      const pub = typeof opts.publicUrl === "string" ? opts.publicUrl.replace("PORT", port) : `http://127.0.0.1:${port}`;
      args = ["--port", String(port), "--public-url", pub, ...(opts.args ?? [])];
    } else {
      args = ["--port", "0", ...(opts.args ?? [])];
    }
    const { proc, lines } = spawnServer(dataDir, args, opts);
    try {
      const url = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`huddle serve did not print its listening line in ${timeout} ms`)), timeout);
        const onData = () => {
          for (const l of lines) {
            const m = LISTEN_RE.exec(l);
            if (m && !l.startsWith("! ")) {
              clearTimeout(timer);
              proc.stdout.off("data", onData);
              return resolve(m[1]);
            }
          }
        };
        proc.stdout.on("data", onData);
        proc.on("error", (e) => {
          clearTimeout(timer);
          reject(new Error(`cannot run ${HUDDLE_BIN}: ${e.message}`));
        });
        proc.on("exit", (code, sig) => {
          clearTimeout(timer);
          reject(new Error(`huddle serve exited (code ${code}, signal ${sig}) before listening:\n${lines.join("\n")}`));
        });
      });
      return makeHandle(proc, lines, url, dataDir, args, opts);
    } catch (e) {
      lastErr = e;
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      // Retry only what looks like a lost port race.
      if (!opts.publicUrl || !/in use|EADDRINUSE|bind/i.test(e.message)) throw e;
    }
  }
  throw lastErr;
}

function makeHandle(proc, lines, url, dataDir, args, opts) {
  let expectedExit = false;
  const exited = new Promise((resolve) => {
    proc.on("exit", (code, signal) => {
      if (!expectedExit) {
        process.stderr.write(
          `\n[huddle] server ${url} died unexpectedly (code ${code}, signal ${signal}); last output:\n` + lines.slice(-60).join("\n") + "\n",
        );
      }
      resolve({ code, signal });
    });
  });
  const handle = {
    url,
    port: Number(new URL(url).port),
    dataDir,
    args,
    proc,
    pid: proc.pid,
    output: () => lines.join("\n"),
    alive: () => proc.exitCode === null && proc.signalCode === null,
    exited,
    // SIGTERM and wait. Resolves {code, signal, output}; never throws.
    async stop(timeout = slow(20000)) {
      expectedExit = true;
      if (handle.alive()) proc.kill("SIGTERM");
      const t = setTimeout(() => handle.alive() && proc.kill("SIGKILL"), timeout);
      const r = await exited;
      clearTimeout(t);
      return { ...r, output: handle.output() };
    },
    // SIGKILL (kill -9) and wait.
    async kill9() {
      expectedExit = true;
      if (handle.alive()) proc.kill("SIGKILL");
      return exited;
    },
    // Start a new server on the same data dir (same flags, a new port unless publicUrl).
    restart(extra = {}) {
      return startServer({ ...opts, ...extra, dataDir });
    },
  };
  return handle;
}

// Run a huddle subcommand: resolves to trimmed stdout; rejects with an Error
// carrying code, stdout and stderr when it exits nonzero.
export function cli(dataDir, ...args) {
  return new Promise((resolve, reject) => {
    execFile(HUDDLE_BIN, [...args, "--data", dataDir], { timeout: slow(30000), maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const e = new Error(`huddle ${args.join(" ")} failed (code ${err.code}): ${stderr || stdout}`);
        Object.assign(e, { code: err.code, stdout, stderr });
        return reject(e);
      }
      resolve(stdout.trim());
    });
  });
}

// Like cli(), but never rejects: resolves {code, stdout, stderr}.
export function cliRaw(dataDir, ...args) {
  return new Promise((resolve) => {
    execFile(HUDDLE_BIN, [...args, "--data", dataDir], { timeout: slow(30000) }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }),
    );
  });
}

export const TOKEN_RE = /^hf_[A-Za-z0-9]{34}$/;

export const userCreate = (d, name, { admin = false } = {}) => cli(d, "user", "create", name, ...(admin ? ["--admin"] : []));
export const orgCreate = (d, name) => cli(d, "org", "create", name);
export const orgAddMember = (d, org, user, role) => cli(d, "org", "add-member", org, user, "--role", role);

// Returns the token text (checked against the agreed format).
export async function tokenCreate(d, user, { role, repos = [], expiresDays } = {}) {
  const args = ["token", "create", "--user", user];
  if (role) args.push("--role", role);
  for (const r of repos) args.push("--repo", r);
  if (expiresDays !== undefined) args.push("--expires-days", String(expiresDays));
  const out = await cli(d, ...args);
  if (!TOKEN_RE.test(out)) throw new Error(`huddle ${args.join(" ")} printed ${JSON.stringify(out)}, not only a token`);
  return out;
}

export const tokenList = (d, user) => cli(d, "token", "list", "--user", user);

// Revoke a token given its secret. The CLI takes "PREFIX_OR_ID" as shown by
// `token list` (which never shows the secret), so we look for the field of the
// listing that is a proper prefix of the secret (the display prefix), falling
// back to an id on the same line. Decision: the display prefix is whatever
// whitespace-separated field of `token list` the secret starts with (trailing
// ellipsis or punctuation ignored).
export async function tokenRevoke(d, user, secret) {
  const list = await tokenList(d, user);
  for (const line of list.split("\n")) {
    for (const raw of line.split(/[\s,|]+/)) {
      const f = raw.replace(/(\.\.\.|…|\*+)$/, "").replace(/[^A-Za-z0-9_]+$/, "");
      if (f.length >= 5 && f.length < secret.length && secret.startsWith(f)) {
        await cli(d, "token", "revoke", f);
        return f;
      }
    }
  }
  throw new Error(`no display prefix of the token found in \`huddle token list --user ${user}\`:\n${list}`);
}

// Find the bare git repositories under DATA/repos (layout is the server's choice).
export function findBareRepos(dataDir) {
  const out = [];
  const walk = (d, depth) => {
    if (depth > 8) return;
    let ents;
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    const names = new Set(ents.map((e) => e.name));
    if (names.has("HEAD") && names.has("objects") && names.has("refs")) {
      out.push(d);
      return;
    }
    for (const e of ents) if (e.isDirectory()) walk(path.join(d, e.name), depth + 1);
  };
  walk(path.join(dataDir, "repos"), 0);
  return out;
}

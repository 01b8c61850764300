// git.mjs: run the real git and git-lfs against a test server, isolated from
// the machine's configuration (own HOME, no system config, no prompts).
//
//   const g = gitEnv({ user: "alice", token });   // credentials via a helper, so
//   await g.run(["clone", url, dir]);               // git and git-lfs both get them
//   const r = await g.try(["push"], { cwd: dir });  // never throws: {code, stdout, stderr}
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { tmpDir, slow } from "./util.mjs";

export function gitEnv({ user, token } = {}) {
  const home = tmpDir("huddle-githome-");
  const cfg = [
    "[user]\n\tname = Huddle Test\n\temail = test@example.invalid\n",
    "[init]\n\tdefaultBranch = main\n",
    "[advice]\n\tdetachedHead = false\n",
    "[protocol]\n\tversion = 2\n",
    '[filter "lfs"]\n\tclean = git-lfs clean -- %f\n\tsmudge = git-lfs smudge -- %f\n\tprocess = git-lfs filter-process\n\trequired = true\n',
    // The Hub has no locks API; git-lfs only warns on a 404 but skip the probe.
    "[lfs]\n\tlocksverify = false\n",
  ];
  if (token) {
    const helper = path.join(home, "cred.sh");
    fs.writeFileSync(helper, `#!/bin/sh\n[ "$1" = get ] || exit 0\necho username=${user ?? "user"}\necho password=${token}\n`, { mode: 0o700 });
    cfg.push(`[credential]\n\thelper = ${helper}\n`);
  }
  fs.writeFileSync(path.join(home, ".gitconfig"), cfg.join(""));
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, ".config"),
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    GIT_ASKPASS: "/bin/false",
    SSH_ASKPASS: "/bin/false",
    GIT_LFS_SKIP_SMUDGE: "0",
    LANG: "C",
  };
  const exec = (args, opts = {}) =>
    new Promise((resolve) => {
      execFile(
        "git",
        args,
        { cwd: opts.cwd ?? home, env: { ...env, ...(opts.env ?? {}) }, timeout: opts.timeout ?? slow(120000), maxBuffer: 64 << 20 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr, args }),
      );
    });
  return {
    home,
    env,
    try: exec,
    async run(args, opts) {
      const r = await exec(args, opts);
      if (r.code !== 0) throw new Error(`git ${args.join(" ")} failed (${r.code}):\n${r.stderr}${r.stdout}`);
      return r.stdout;
    },
  };
}

// `git fsck --full --strict` on a bare repo (no credentials needed).
export async function fsck(bareDir) {
  const g = gitEnv();
  return g.try(["--git-dir", bareDir, "fsck", "--full", "--strict", "--no-dangling"]);
}

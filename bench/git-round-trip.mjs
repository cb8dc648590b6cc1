// The git baseline the CLI benchmarks compare with: the same edit committed,
// pushed to a local bare repository and pulled into a second clone.
import { spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { GIT_IDENTITY, standardText } from "./measure.mjs";

/**
 * A bare repository and two clones under `temp`; `round()` times commit +
 * push + pull of an edit of `size` bytes and checks clone 2 holds it.
 */
export async function setUpGit(temp, size) {
  const root = join(temp, "git");
  const origin = join(root, "origin.git");
  const clone1 = join(root, "clone1");
  const clone2 = join(root, "clone2");
  await mkdir(root);
  const env = {
    ...process.env,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_TERMINAL_PROMPT: "0",
  };
  const git = (cwd, ...args) => {
    const result = spawnSync("git", [...GIT_IDENTITY, "-c", "init.defaultBranch=main", ...args], {
      cwd,
      env,
    });
    if (result.status !== 0)
      throw new Error(
        `git ${args.join(" ")}: ${result.error?.message ?? result.stderr.toString()}`,
      );
  };
  git(root, "init", "-q", "--bare", origin);
  git(root, "clone", "-q", origin, clone1);
  await writeFile(join(clone1, "standard.md"), standardText("git 0", size));
  git(clone1, "add", "standard.md");
  git(clone1, "commit", "-q", "-m", "x");
  git(clone1, "push", "-q", "origin", "HEAD:main");
  git(root, "clone", "-q", origin, clone2);
  let revision = 0;
  return {
    async round() {
      revision++;
      const bytes = standardText(`git ${revision}`, size);
      await writeFile(join(clone1, "standard.md"), bytes);
      const start = performance.now();
      git(clone1, "commit", "-a", "-q", "-m", "x");
      git(clone1, "push", "-q");
      git(clone2, "pull", "-q", "--ff-only");
      const elapsed = performance.now() - start;
      if (!(await readFile(join(clone2, "standard.md"))).equals(bytes))
        throw new Error("git: clone 2 does not hold the pushed file after pull");
      return elapsed;
    },
  };
}

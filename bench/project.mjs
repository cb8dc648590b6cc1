// Benchmark "project": installing a project's context, and checking it in CI.
//
//   (a) `canon pull --offline` of 50 standards (40 single files as Cursor
//       rules, 10 skill folders of 20 files each) into an empty project,
//   (b) `canon status --check` on that project once current,
//
// beside baselines measured in the same run, interleaved round by round:
// `node -e 0` (the floor for any Node CLI), and `git clone` (file://, so git
// copies objects rather than hard-linking them) / `git status` of a
// repository holding the same tree.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gitCommit, median, ms, shuffled, standardText, times, toMs } from "./measure.mjs";

export const title = "Project pull and status (50 standards, 10 of them 20-file bundles)";

const CLI = fileURLToPath(new URL("../packages/cli/dist/canon.cjs", import.meta.url));
const RULES = 40;
const SKILLS = 10;
const FILES_PER_SKILL = 20;
/** Rounds; odd, so the median is one real sample. */
const ROUNDS = 9;

/** Runs the benchmark; returns the table, what each row means, and the targets. */
export async function run({ log = () => {} } = {}) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing; run \`pnpm build\` first`);
  const temp = await mkdtemp(join(tmpdir(), "canon-bench-"));
  try {
    return await measure(temp, log);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/** Times one spawned command; throws unless it exits 0. */
function timed(label, command, args, options) {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { ...options, maxBuffer: 64 * 1024 * 1024 });
  const elapsed = toMs(process.hrtime.bigint() - start);
  if (result.error) throw new Error(`${label}: could not run: ${result.error.message}`);
  if (result.status !== 0)
    throw new Error(`${label}: exited ${result.status}\n${result.stderr?.toString().trim()}`);
  return elapsed;
}

async function measure(temp, log) {
  const home = join(temp, "home");
  const repo = join(temp, "repo");
  const env = { ...process.env, CANON_HOME: home };
  const canon = (...args) => execFileSync(process.execPath, [CLI, ...args], { env, stdio: "pipe" });

  log("writing a repository with 40 Cursor rules and 10 skill folders of 20 files…");
  let bytes = 0;
  for (let i = 0; i < RULES; i++) {
    const text = `---\ndescription: rule ${i}\nalwaysApply: false\n---\n${standardText(i, 2048)}`;
    await mkdir(join(repo, ".cursor/rules"), { recursive: true });
    await writeFile(join(repo, `.cursor/rules/rule-${i}.mdc`), text);
    bytes += Buffer.byteLength(text);
  }
  for (let s = 0; s < SKILLS; s++) {
    const skill = join(repo, `.claude/skills/skill-${s}`);
    await mkdir(join(skill, "references"), { recursive: true });
    await writeFile(
      join(skill, "SKILL.md"),
      `---\nname: skill-${s}\ndescription: bench\n---\n${standardText(s, 4096)}`,
    );
    for (let f = 1; f < FILES_PER_SKILL; f++) {
      const path = f === 1 ? join(skill, "run.sh") : join(skill, `references/ref-${f}.md`);
      const content = standardText(s * 100 + f, 4096);
      await writeFile(path, content);
      if (f === 1) await chmod(path, 0o755);
      bytes += content.length;
    }
  }

  log("canon import (publishes 50 standards) and a git repository of the same tree…");
  canon("init");
  canon("space", "create", "bench");
  canon("import", repo);
  const manifest = await readFile(join(repo, "canon.json"));
  const lock = JSON.parse(await readFile(join(repo, "canon.lock"), "utf8"));
  const fileCount = Object.values(lock.standards).reduce((n, entry) => n + entry.files.length, 0);
  const git = (...args) => execFileSync("git", args, { cwd: repo, env, stdio: "pipe" });
  git("init", "-q");
  git("add", "-A");
  gitCommit(repo, env, "context");

  const samples = { node: [], clone: [], pull: [], gitStatus: [], status: [] };
  log(`timing 5 commands × ${ROUNDS} rounds, interleaved…`);
  for (let round = 0; round <= ROUNDS; round++) {
    const project = join(temp, `project-${round}`);
    const clone = join(temp, `clone-${round}`);
    await mkdir(project);
    await writeFile(join(project, "canon.json"), manifest);
    const steps = shuffled([
      ["node", () => timed("node -e 0", process.execPath, ["-e", "0"], { env })],
      ["clone", () => timed("git clone", "git", ["clone", "-q", `file://${repo}`, clone], { env })],
      [
        "pull",
        () =>
          timed("canon pull", process.execPath, [CLI, "pull", "--offline", "--project", project], {
            env,
          }),
      ],
    ]);
    for (const [name, step] of steps) {
      const elapsed = step();
      if (round > 0) samples[name].push(elapsed);
    }
    const checks = shuffled([
      [
        "gitStatus",
        () => timed("git status", "git", ["status", "--porcelain"], { cwd: clone, env }),
      ],
      [
        "status",
        () =>
          timed(
            "canon status --check",
            process.execPath,
            [CLI, "status", "--check", "--project", project],
            { env },
          ),
      ],
    ]);
    for (const [name, step] of checks) {
      const elapsed = step();
      if (round > 0) samples[name].push(elapsed);
    }
    if (round === 0) {
      // The pulled tree is the repository's, file for file (checked once, outside the timing).
      const pulled = JSON.parse(await readFile(join(project, "canon.lock"), "utf8"));
      if (JSON.stringify(pulled.standards) !== JSON.stringify(lock.standards))
        throw new Error("canon pull wrote a different tree than the import's lock names");
    }
    await rm(project, { recursive: true, force: true });
    await rm(clone, { recursive: true, force: true });
  }

  const nodeMs = median(samples.node);
  const row = (label, list, meaning) => ({
    cells: [
      label,
      ms(median(list)),
      times(median(list) / nodeMs),
      ms(Math.min(...list)),
      `${list.length}`,
    ],
    meaning,
  });
  const pullMs = median(samples.pull);
  const statusMs = median(samples.status);
  return {
    columns: ["Measurement", "Median", "vs `node -e 0`", "Fastest", "Samples"],
    rows: [
      row("baseline: `node -e 0`", samples.node, "The floor for any command written for Node."),
      row(
        "baseline: `git clone file://…` (same tree)",
        samples.clone,
        `A native binary copying the same ${fileCount} files (${(bytes / 1024).toFixed(0)} KiB) from a local repository.`,
      ),
      row(
        "(a) `canon pull --offline` into an empty project",
        samples.pull,
        `Resolves 50 standards from the replica, renders each, writes ${fileCount} files atomically (temporary file, fsync, rename) and canon.lock.`,
      ),
      row(
        "baseline: `git status` (same tree, clean)",
        samples.gitStatus,
        "A native binary checking the same tree for changes.",
      ),
      row(
        "(b) `canon status --check` on a current project",
        samples.status,
        `Hashes the ${fileCount} written files and compares them and the lock with the replica (folded from the verified snapshot).`,
      ),
    ],
    checks: [
      { target: "(a) pull of 50 standards < 5 s", measured: ms(pullMs), pass: pullMs < 5000 },
      {
        target: "(b) `status --check` < 4× `node -e 0`",
        measured: times(statusMs / nodeMs),
        pass: statusMs < 4 * nodeMs,
      },
    ],
    notes: [
      `The project: ${RULES} single-file standards (Cursor rules with front matter, 2 KB each) and ${SKILLS} skill folders of ${FILES_PER_SKILL} files (4 KB each, one executable), ${fileCount} files in all, published with \`canon import\`. Each round pulls into a fresh empty project holding only canon.json; the first round's lock is checked against the import's.`,
    ],
  };
}

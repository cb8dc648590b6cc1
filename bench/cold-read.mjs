// Benchmark "cold-read": how long an agent waits to read a 20 KB standard.
//
//   (a) a fresh `canon show <standard>` process (the latest version),
//   (b) a fresh `canon show <standard>@<content cid>` process (a pinned version),
//   (c) resolve() of the latest version inside a process that already loaded the store,
//
// beside two baselines measured in the same run: `node -e 0` (the floor for
// any Node CLI) and `git show HEAD:<file>` (a native tool reading the same
// bytes from a local repository). The spawned commands are interleaved,
// round by round, so that they share whatever else the machine is doing.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  checkOutput,
  gitCommit,
  median,
  ms,
  shuffled,
  standardText,
  timeCommand,
  times,
  toMs,
} from "./measure.mjs";

export const title = "Cold read of a 20 KB standard";

const CLI = fileURLToPath(new URL("../packages/cli/dist/canon.cjs", import.meta.url));
const STORE = new URL("../packages/store/dist/index.js", import.meta.url).href;

const STANDARD = "editorial-style";
const SIZE = 20 * 1024;
const VERSIONS = 5;
/** Rounds of the spawned commands; odd, so the median is one real sample. */
const ROUNDS = 31;
const RESOLVE_WARMUP = 300;
const RESOLVE_CALLS = 2000;

/** Runs the benchmark; returns the table, what each row means, and the targets. */
export async function run({ log = () => {} } = {}) {
  for (const built of [CLI, fileURLToPath(STORE)]) {
    if (!existsSync(built)) throw new Error(`${built} is missing; run \`pnpm build\` first`);
  }
  const temp = await mkdtemp(join(tmpdir(), "canon-bench-"));
  try {
    return await measure(temp, log);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

async function measure(temp, log) {
  const home = join(temp, "home");
  const repo = join(temp, "repo");
  const file = join(temp, "standard.md");
  const env = { ...process.env, CANON_HOME: home };
  const canon = (...args) => execFileSync(process.execPath, [CLI, ...args], { env, stdio: "pipe" });

  // A space with some history: VERSIONS releases of the standard, the last one `bytes`.
  log("setting up a Canon home and a git repository…");
  canon("init");
  canon("space", "create", "bench");
  let bytes;
  let cid;
  for (let revision = 1; revision <= VERSIONS; revision++) {
    bytes = standardText(revision, SIZE);
    await writeFile(file, bytes);
    const published = JSON.parse(
      canon("--json", "publish", STANDARD, file, "-m", `revision ${revision}`),
    );
    cid = published.cid;
  }
  // One read first, so that every timed read finds the read index up to date.
  checkOutput("warm-up show", spawnSync(process.execPath, [CLI, "show", STANDARD], { env }), bytes);

  // The same bytes, committed to a fresh git repository (identity and
  // signing set here, so the commit works whatever the global git config).
  const git = (...args) => execFileSync("git", args, { cwd: repo, env, stdio: "pipe" });
  await mkdir(repo);
  git("init", "-q");
  await writeFile(join(repo, "standard.md"), bytes);
  git("add", "standard.md");
  gitCommit(repo, env, "standard");

  // Make sure the timed reads take the fast path; otherwise the figures below
  // describe the slow path (a replica load) and should say so.
  const { canonHome, readFromIndex, resolve } = await import(STORE);
  const canonRoot = canonHome(home);
  const fastPath = {
    latest: (await readFromIndex(canonRoot, { standard: STANDARD })) !== undefined,
    pinned: (await readFromIndex(canonRoot, { standard: STANDARD, selector: cid })) !== undefined,
  };

  const node = { label: "node -e 0", args: ["-e", "0"], expect: Buffer.alloc(0) };
  const commands = [
    { ...node, command: process.execPath },
    { label: "git show", command: "git", args: ["show", "HEAD:standard.md"], cwd: repo },
    { label: "canon show (latest)", command: process.execPath, args: [CLI, "show", STANDARD] },
    {
      label: "canon show @cid (pinned)",
      command: process.execPath,
      args: [CLI, "show", `${STANDARD}@${cid}`],
    },
  ].map((command) => ({ expect: bytes, env, ...command, samples: [] }));

  // Round 0 is a warm-up (page cache, git's object lookup) and is not kept.
  // Each round runs the commands in a fresh random order, so none always
  // runs right after a particular other (and inherits what it left behind).
  log(`timing ${commands.length} commands × ${ROUNDS} rounds, interleaved…`);
  for (let round = 0; round <= ROUNDS; round++) {
    for (const command of shuffled(commands)) {
      const elapsed = timeCommand(command);
      if (round > 0) command.samples.push(elapsed);
    }
  }
  const [nodeRun, gitRun, latestRun, pinnedRun] = commands.map((command) => command.samples);
  const nodeMs = median(nodeRun);

  log(`timing resolve() in-process, ${RESOLVE_CALLS} calls after ${RESOLVE_WARMUP} warm-up…`);
  const resolveSamples = [];
  for (let call = 0; call < RESOLVE_WARMUP + RESOLVE_CALLS; call++) {
    const start = process.hrtime.bigint();
    const resolved = await resolve(canonRoot, { standard: STANDARD });
    const elapsed = toMs(process.hrtime.bigint() - start);
    // Checked outside the timed span; a wrong answer fails the benchmark.
    if (!Buffer.from(resolved.content).equals(bytes)) {
      throw new Error(`resolve(): returned ${resolved.content.length} bytes that differ`);
    }
    if (call >= RESOLVE_WARMUP) resolveSamples.push(elapsed);
  }
  const resolveMs = median(resolveSamples);
  const latestMs = median(latestRun);
  const pinnedMs = median(pinnedRun);

  const vsNode = (value) => times(value / nodeMs);
  /** A table row: median, median as a multiple of `node -e 0`'s, fastest sample, sample count. */
  const row = (label, samples, meaning, { decimals = 1, relative = true } = {}) => ({
    cells: [
      label,
      ms(median(samples), decimals),
      relative ? vsNode(median(samples)) : "—",
      ms(Math.min(...samples), decimals),
      `${samples.length}`,
    ],
    meaning,
  });
  const path = (fast) => (fast ? "read index and blob cache" : "SLOW PATH: replica loaded");
  return {
    columns: ["Measurement", "Median", "vs `node -e 0`", "Fastest", "Samples"],
    rows: [
      row(
        "baseline: `node -e 0`",
        nodeRun,
        "The floor for any command written for Node: start the runtime, run nothing, exit.",
      ),
      row(
        "baseline: `git show HEAD:standard.md`",
        gitRun,
        "A native binary reading the same 20 KB from a local git repository, for a sense of scale.",
      ),
      row(
        `(a) \`canon show ${STANDARD}\``,
        latestRun,
        `A fresh process reading the latest version costs ${ms(latestMs - nodeMs)} over bare Node ` +
          "start-up: loading the parser and the `show` chunk, reading config and read index, " +
          "checking the index is current (listing the replica's chunk files), and reading and " +
          "hashing the blob.",
      ),
      row(
        `(b) \`canon show ${STANDARD}@<cid>\``,
        pinnedRun,
        `A pinned read costs ${ms(pinnedMs - nodeMs)} over bare Node start-up; it skips the ` +
          "freshness check, since an accepted release never changes, but still hashes the blob.",
      ),
      row(
        "(c) `resolve()` in-process, latest",
        resolveSamples,
        "An agent that keeps the store loaded pays this per read, with the same checks as (a) " +
          "but no process start.",
        { decimals: 3, relative: false },
      ),
    ],
    checks: [
      {
        target: "(b) pinned `canon show` ≤ 1.5× `node -e 0`",
        measured: vsNode(pinnedMs),
        pass: pinnedMs <= 1.5 * nodeMs,
      },
      {
        target: "(a) latest `canon show` < 4× `node -e 0`",
        measured: vsNode(latestMs),
        pass: latestMs < 4 * nodeMs,
      },
      {
        target: "(c) in-process `resolve()` < 1 ms",
        measured: ms(resolveMs, 3),
        pass: resolveMs < 1,
      },
    ],
    notes: [
      `Each \`canon show\` run printed exactly the ${SIZE}-byte file (checked on every run), ` +
        `version ${VERSIONS} of ${VERSIONS}; reads answered from: latest, ${path(fastPath.latest)}; ` +
        `pinned, ${path(fastPath.pinned)}.`,
    ],
  };
}

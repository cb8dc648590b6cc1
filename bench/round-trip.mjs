// Benchmark "round-trip": the CLI round trip a team does most, Canon against
// git in the same run, and how soon a watching reader sees a release the
// CLI published (issue #17, points 2 and 5; docs/decisions/2026-11-29-home-owner.md).
//   Fewer commands (docs/decisions/2026-11-30-round-trip.md): A's `canon publish`,
//     then B's `canon show` with no sync in between, which must print the new
//     bytes (a show that printed anything else is counted as a miss).
//
//   Canon, with owner processes (the default): owner A `canon publish` +
//     `canon sync`, then reader B `canon sync` + `canon show` (which must
//     print the published bytes). Each home's owner was started by the
//     commands themselves and is warm (started on demand, as a user's is).
//   Canon, CANON_NO_OWNER=1 (every command does all the work itself: the
//     "before" figure, and what a command costs when no owner runs).
//   git: commit -a + push to a local bare repository, pull in a second clone.
//   Live: B runs `canon watch --json` (which becomes B's owner); A runs
//     `canon publish`; timed from A's command returning to B's watch printing
//     that release (negative when the watch printed it first).
//
// Everything is a real process on 127.0.0.1: the relay is `canon relay`.
// Owner rounds and git rounds are interleaved in random order.
import { execFile, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { setUpGit } from "./git-round-trip.mjs";
import { checkOutput, median, ms, percentile, shuffled, standardText, times } from "./measure.mjs";

export const title =
  "CLI round trip: publish + sync → sync + show, Canon's CLI against git, and live visibility";

// The installed bin (packages/cli/package.json): the CommonJS thin client, which imports
// canon.mjs for what no owner takes (docs/decisions/2026-11-30-round-trip.md, "Second round").
const CLI = fileURLToPath(new URL("../packages/cli/dist/canon.cjs", import.meta.url));
const STANDARD = "editorial-style";
const SIZE = 5 * 1024;
const ROUNDS = 21;
const NO_OWNER_ROUNDS = 5;
const LIVE_ROUNDS = 21;
const WARMUP = 3;
const STEP_TIMEOUT_MS = 20_000;

/** Runs the benchmark; returns the table, what each row means, and the targets. */
export async function run({ log = () => {} } = {}) {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing; run \`pnpm build\` first`);
  const temp = await mkdtemp(join(tmpdir(), "canon-bench-rt-"));
  const cleanup = [];
  try {
    return await measure(temp, log, cleanup);
  } finally {
    for (const stop of cleanup.reverse())
      await stop().catch((error) => log(`cleanup: ${error.message}`));
    await rm(temp, { recursive: true, force: true });
  }
}

async function measure(temp, log, cleanup) {
  const loadBefore = loadavg()[0];
  const relay = await startRelay(join(temp, "relay"), cleanup);
  const homeA = join(temp, "a");
  const homeB = join(temp, "b");
  const file = join(temp, "standard.md");
  const envA = { ...process.env, CANON_HOME: homeA, CANON_OWNER_IDLE_SECONDS: "120" };
  const envB = { ...process.env, CANON_HOME: homeB, CANON_OWNER_IDLE_SECONDS: "120" };
  delete envA.CANON_NO_OWNER;
  delete envB.CANON_NO_OWNER;
  // Owners must not outlive the benchmark.
  cleanup.push(async () => {
    cli(envA, ["owner", "--stop"]);
    cli(envB, ["owner", "--stop"]);
  });

  cli(envA, ["init"]);
  const url = JSON.parse(cli(envA, ["space", "create", "bench", "--json"]).stdout).url;
  await writeFile(file, standardText("0", SIZE));
  cli(envA, ["publish", STANDARD, file]);
  cli(envA, ["sync", "--relay", relay.url]);
  cli(envB, ["init"]);
  const didB = JSON.parse(cli(envB, ["id", "--json"]).stdout).did;
  cli(envA, ["member", "add", didB, "--role", "reader"]);
  cli(envA, ["sync"]);
  cli(envB, ["space", "join", url, "--relay", relay.url]);

  let revision = 0;
  /** Each command's share of the owner rounds. */
  const steps = { publish: [], sync: [], receive: [], show: [] };
  /** One Canon round trip; returns its wall time (the four commands, not the file write). */
  const canonRound = async (env) => {
    revision++;
    const bytes = standardText(`canon ${revision}`, SIZE);
    await writeFile(file, bytes);
    const start = performance.now();
    cli({ ...envA, ...env }, ["publish", STANDARD, file]);
    const published = performance.now();
    cli({ ...envA, ...env }, ["sync"]);
    const synced = performance.now();
    cli({ ...envB, ...env }, ["sync"]);
    const received = performance.now();
    const shown = spawnSync(process.execPath, [CLI, "show", STANDARD], {
      env: { ...envB, ...env },
    });
    const elapsed = performance.now() - start;
    if (env.CANON_NO_OWNER === undefined) {
      steps.publish.push(published - start);
      steps.sync.push(synced - published);
      steps.receive.push(received - synced);
      steps.show.push(start + elapsed - received);
    }
    checkOutput(`reader's canon show after round ${revision}`, shown, bytes);
    return elapsed;
  };
  const git = await setUpGit(temp, SIZE);

  log(`no owner (CANON_NO_OWNER=1): ${NO_OWNER_ROUNDS} rounds…`);
  const noOwner = [];
  for (let i = 0; i < NO_OWNER_ROUNDS; i++) noOwner.push(await canonRound({ CANON_NO_OWNER: "1" }));

  log(
    `${WARMUP} warm-up rounds (owners start on demand), then ${ROUNDS} timed rounds with git, interleaved…`,
  );
  for (let i = 0; i < WARMUP; i++) {
    await canonRound({});
    await new Promise((resolve) => setTimeout(resolve, 800));
  }
  const owned = [];
  const gitSamples = [];
  for (const samples of Object.values(steps)) samples.length = 0;
  for (let i = 0; i < ROUNDS; i++) {
    for (const which of shuffled(["canon", "git"])) {
      if (which === "canon") owned.push(await canonRound({}));
      else gitSamples.push(await git.round());
    }
  }

  // Fewer commands (docs/decisions/2026-11-30-round-trip.md): A's publish returns once the
  // relay holds the release, B's owner writes it to B's read index as it arrives; B's show
  // must print the new bytes. A show that printed anything else is a miss, counted.
  log(`publish + show: ${ROUNDS} rounds with git, interleaved…`);
  const twoCommands = [];
  const twoGit = [];
  const twoSteps = { publish: [], show: [] };
  let misses = 0;
  for (let i = 0; i < ROUNDS; i++) {
    for (const which of shuffled(["canon", "git"])) {
      if (which === "git") {
        twoGit.push(await git.round());
        continue;
      }
      revision++;
      const bytes = standardText(`canon ${revision}`, SIZE);
      await writeFile(file, bytes);
      const start = performance.now();
      cli(envA, ["publish", STANDARD, file]);
      const published = performance.now();
      const shown = spawnSync(process.execPath, [CLI, "show", STANDARD], { env: envB });
      twoCommands.push(performance.now() - start);
      twoSteps.publish.push(published - start);
      twoSteps.show.push(performance.now() - published);
      if (shown.status !== 0 || !Buffer.from(shown.stdout).equals(Buffer.from(bytes))) misses++;
    }
  }

  const nodeBaseline = [];
  for (let i = 0; i < ROUNDS; i++) {
    const begin = performance.now();
    spawnSync(process.execPath, ["-e", "0"]);
    nodeBaseline.push(performance.now() - begin);
  }

  log(`live: B watches, A publishes, ${LIVE_ROUNDS} rounds…`);
  const live = await liveRounds(envA, envB, file, cleanup, () => ++revision);

  const row = (label, samples, meaning) => ({
    cells: [label, String(samples.length), ms(median(samples)), ms(percentile(samples, 95))],
    meaning,
  });
  const ratio = median(owned) / median(gitSamples);
  return {
    columns: ["", "rounds", "median", "p95"],
    rows: [
      row(
        "Canon CLI round trip, owner processes",
        owned,
        "owner A `canon publish` + `canon sync`, reader B `canon sync` + `canon show` (checked: prints the published bytes), each a thin client of its home's owner process",
      ),
      row("of which A `canon publish`", steps.publish, "through A's owner"),
      row(
        "of which A `canon sync`",
        steps.sync,
        "through A's owner, which holds the relay connection",
      ),
      row(
        "of which B `canon sync`",
        steps.receive,
        "through B's owner, which holds the relay connection",
      ),
      row(
        "of which B `canon show`",
        steps.show,
        "no owner: reads the read index and blob cache B's owner wrote",
      ),
      row(
        "Canon CLI publish + show (no sync)",
        twoCommands,
        `owner A \`canon publish\` (returns once the relay holds the release), then reader B \`canon show\`, whose owner wrote the release to B's read index as it arrived; ${misses} of ${twoCommands.length} shows printed other bytes than the release (misses)`,
      ),
      row(
        "of which A `canon publish`",
        twoSteps.publish,
        "through A's owner, which holds the relay connection: returns once the relay holds the release",
      ),
      row(
        "of which B `canon show`",
        twoSteps.show,
        "no owner: reads the read index B's owner wrote as the release arrived (waiting if it is still writing it)",
      ),
      row(
        "git: commit + push, pull (same rounds)",
        twoGit,
        "git's round trip, interleaved with the publish + show rounds",
      ),
      row("`node -e 0`", nodeBaseline, "a Node process that does nothing, timed in the same run"),
      row(
        "Canon CLI round trip, `CANON_NO_OWNER=1`",
        noOwner,
        "the same four commands, each doing all its work itself (opening the replica, connecting to the relay): the figure before owner processes",
      ),
      row(
        "git: commit + push, pull",
        gitSamples,
        "`git commit -a`, `git push` to a local bare repository, `git pull --ff-only` in a second clone, 5 KB file",
      ),
      row(
        "live: `canon publish` returns → B's `canon watch` prints it",
        live,
        "A's `canon publish` (through A's owner, which holds the relay connection) until B's `canon watch --json` prints the release; negative when the watch printed it before the publish process had exited",
      ),
    ],
    checks: [
      {
        target: "CLI round trip ≤ 5× git's (median, same run)",
        measured: `${ms(median(owned))} / git ${ms(median(gitSamples))} = ${times(ratio)}`,
        pass: ratio <= 5,
      },
      {
        target:
          "publish + show (no sync) ≤ 5× git's (median, same rounds), every show printing the new release",
        measured: `${ms(median(twoCommands))} / git ${ms(median(twoGit))} = ${times(median(twoCommands) / median(twoGit))}, ${misses} misses of ${twoCommands.length}`,
        pass: median(twoCommands) / median(twoGit) <= 5 && misses === 0,
      },
      {
        target:
          "a published release visible to a watching reader ≤ 100 ms after `canon publish` returns (median)",
        measured: ms(median(live)),
        pass: median(live) <= 100,
      },
    ],
    notes: [
      `Load average (1 min) ${loadBefore.toFixed(2)} when the benchmark began, ${loadavg()[0].toFixed(2)} when it ended (2 cores, shared: compare within one run).`,
      "Every command is a new `node` process; with owner processes the four are thin clients (`node -e 0` plus a socket round trip) and the work happens in each home's owner.",
      `The floor of any four-command Node CLI round trip is four Node start-ups: 4 × \`node -e 0\` = ${ms(4 * median(nodeBaseline))} = ${times((4 * median(nodeBaseline)) / median(gitSamples))} git's round trip in this run, leaving ${ms(Math.max(0, (5 * median(gitSamples) - 4 * median(nodeBaseline)) / 4))} per command for Canon's own work within the 5× target.`,
    ],
  };
}

/** B's watch (B's owner from then on) against A's publishes: latency from A's command returning to B printing it. */
async function liveRounds(envA, envB, file, cleanup, nextRevision) {
  cli(envB, ["owner", "--stop"]);
  const watch = spawn(process.execPath, [CLI, "watch", "--json"], {
    env: envB,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise((resolve) => watch.once("exit", resolve));
  cleanup.push(async () => {
    watch.kill("SIGTERM");
    await exited;
  });
  const seen = new Map();
  const waiters = new Map();
  createInterface({ input: watch.stdout }).on("line", (line) => {
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      return;
    }
    if (event.event !== "record" || event.record.contentCid === undefined) return;
    const at = performance.now();
    seen.set(event.record.contentCid, at);
    waiters.get(event.record.contentCid)?.(at);
  });
  const arrival = (cid) =>
    seen.has(cid)
      ? Promise.resolve(seen.get(cid))
      : new Promise((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`the watch never printed ${cid}`)),
            STEP_TIMEOUT_MS,
          );
          waiters.set(cid, (at) => {
            clearTimeout(timer);
            resolve(at);
          });
        });
  // Wait until the watch is connected and has printed what the space already holds.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const samples = [];
  for (let i = 0; i < WARMUP + LIVE_ROUNDS; i++) {
    await writeFile(file, standardText(`live ${nextRevision()}`, SIZE));
    const stdout = await cliAsync(envA, ["publish", STANDARD, file, "--json"]);
    const returned = performance.now();
    const cid = JSON.parse(stdout).cid;
    const at = await arrival(cid);
    if (i >= WARMUP) samples.push(at - returned);
  }
  return samples;
}

function cli(env, args) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env,
    encoding: "utf8",
    timeout: 60_000,
  });
  if (result.status !== 0)
    throw new Error(`canon ${args.join(" ")} exited ${result.status}: ${result.stderr}`);
  return result;
}

function cliAsync(env, args) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`canon ${args.join(" ")}: ${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/** `canon relay` as a process on 127.0.0.1, stopped at cleanup. */
async function startRelay(data, cleanup) {
  await mkdir(data, { recursive: true });
  const child = spawn(
    process.execPath,
    [CLI, "relay", "--port", "0", "--host", "127.0.0.1", "--data", data],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  cleanup.push(async () => {
    child.kill("SIGTERM");
    await exited;
  });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the relay did not start")), STEP_TIMEOUT_MS);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const found = /relay listening on (ws:\/\/\S+)/.exec(line);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
  });
  return { url };
}

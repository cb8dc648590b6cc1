// Benchmark "packed": the CLI as a user installs it (packed, then
// `npm install -g`ed into a scratch prefix) beside this repository's build,
// on the same homes in the same run:
//
//   - `node -e 0`, `canon --help` and `canon show <standard>` (start-up, the
//     agent's hot path), interleaved round by round in shuffled order;
//   - a fresh home's `canon space join` of a mid-size space (300 standards ×
//     10 versions by default), the two CLIs taking turns.
//
// Both run the same code since automerge-repo is bundled with Canon's patch
// (docs/decisions/2026-11-30-packaging.md); before, the installed CLI ran npm's
// unpatched automerge-repo and joined three times slower.
//
//   CANON_BENCH_PACKED_BIN=<dist/canon.cjs>  time that installed CLI instead of packing this one
//   CANON_BENCH_PACKED_STANDARDS=300         the space's size
//   CANON_BENCH_PACKED_JOINS=2               joins by each CLI
import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeStandards } from "./flat-costs.mjs";
import { median, ms, shuffled, timeCommand } from "./measure.mjs";

export const title = "The installed tarball beside the workspace build: start-up and a join";

const root = fileURLToPath(new URL("..", import.meta.url));
const WORKSPACE_BIN = join(root, "packages/cli/dist/canon.cjs");
const STANDARDS = Number(process.env.CANON_BENCH_PACKED_STANDARDS ?? 300);
const JOINS = Number(process.env.CANON_BENCH_PACKED_JOINS ?? 2);
/** Rounds of the start-up commands; odd, so the median is one real sample. */
const ROUNDS = 31;
/** The installed CLI runs the same code: within these ratios of the workspace build. */
const TARGETS = { startup: 1.15, join: 1.3 };

/** Runs a command to its end; throws with its output unless it exited 0. */
function runOrThrow(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", timeout: 300_000 });
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(" ")} failed: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** Packs the CLI and installs the tarball into `scratch` as a user does; returns its entry point. */
function installPacked(scratch) {
  const pnpm = JSON.parse(
    runOrThrow(process.execPath, ["-p", "JSON.stringify(require('./package.json'))"], root),
  ).packageManager;
  runOrThrow(
    "npx",
    ["-y", pnpm, "pack", "--pack-destination", scratch],
    join(root, "packages/cli"),
  );
  const prefix = join(scratch, "prefix");
  runOrThrow(
    "npm",
    [
      "install",
      "-g",
      "--no-audit",
      "--no-fund",
      "--prefix",
      prefix,
      join(scratch, "canon-cli-0.1.0.tgz"),
    ],
    scratch,
  );
  return join(prefix, "lib/node_modules/@canon/cli/dist/canon.cjs");
}

const load = () =>
  loadavg()
    .map((value) => value.toFixed(1))
    .join(" ");

export async function run({ log = () => {} } = {}) {
  const core = await import(join(root, "packages/core/dist/index.js"));
  const store = await import(join(root, "packages/store/dist/index.js"));
  const { startRelayServer } = await import(join(root, "apps/relay/dist/index.js"));
  const work = await mkdtemp(join(tmpdir(), "canon-bench-packed-"));
  const loads = [`start ${load()}`];
  // As in flat-costs.mjs: under load, the in-process relay's automerge-repo can give up
  // waiting for a document a client announced (a rejection nobody handles); it is logged,
  // and the CLI's own commands decide whether the sync succeeded.
  const unhandled = (error) => log(`relay: unhandled rejection: ${error?.message ?? error}`);
  process.on("unhandledRejection", unhandled);
  let relay;
  try {
    const packedBin = process.env.CANON_BENCH_PACKED_BIN ?? installPacked(work);
    log(`installed CLI: ${packedBin}`);
    const bins = { workspace: WORKSPACE_BIN, packed: packedBin };
    relay = await startRelayServer({
      storageDirectory: join(work, "relay"),
      port: 0,
      host: "127.0.0.1",
    });
    const envOf = (home) => ({ ...process.env, CANON_HOME: home, CANON_NO_OWNER: "1" });
    // Asynchronous: the relay runs in this process and must keep answering.
    const canon = (bin, home, args) =>
      new Promise((resolve, reject) => {
        const start = performance.now();
        execFile(
          process.execPath,
          [bin, ...args],
          { env: envOf(home), cwd: work, maxBuffer: 256 * 1024 * 1024 },
          (error, stdout, stderr) => {
            if (error)
              reject(new Error(`canon ${args.join(" ")} failed: ${error.message} ${stderr}`));
            else resolve({ elapsed: performance.now() - start, stdout });
          },
        );
      });

    log(`building a space of ${STANDARDS} standards × 10 versions…`);
    const ownerHome = join(work, "owner");
    await canon(WORKSPACE_BIN, ownerHome, ["init"]);
    const { url } = JSON.parse(
      (await canon(WORKSPACE_BIN, ownerHome, ["space", "create", "bench", "--json"])).stdout,
    );
    const home = store.canonHome(ownerHome);
    await writeStandards(core, store, home, await store.loadIdentity(home), STANDARDS);
    await canon(WORKSPACE_BIN, ownerHome, ["ls"]);
    await canon(WORKSPACE_BIN, ownerHome, ["sync", "--relay", relay.url, "--timeout", "600"]);

    log("start-up, interleaved…");
    // The relay stays up (its process is this one); the start-up commands are synchronous
    // spawns that never talk to it.
    const shown = spawnSync(process.execPath, [WORKSPACE_BIN, "show", "s1"], {
      env: envOf(ownerHome),
    }).stdout;
    const help = spawnSync(process.execPath, [WORKSPACE_BIN, "--help"]).stdout;
    const commands = [
      {
        key: "node",
        label: "node -e 0",
        command: process.execPath,
        args: ["-e", "0"],
        expect: Buffer.alloc(0),
      },
      ...Object.entries(bins).flatMap(([side, bin]) => [
        {
          key: `help-${side}`,
          label: `${side} --help`,
          command: process.execPath,
          args: [bin, "--help"],
          expect: help,
        },
        {
          key: `show-${side}`,
          label: `${side} show`,
          command: process.execPath,
          args: [bin, "show", "s1"],
          expect: shown,
        },
      ]),
    ];
    const samples = Object.fromEntries(commands.map(({ key }) => [key, []]));
    for (let round = 0; round < ROUNDS; round++)
      for (const command of shuffled(commands))
        samples[command.key].push(timeCommand({ ...command, env: envOf(ownerHome), cwd: work }));

    log(`joins, ${JOINS} by each CLI, taking turns…`);
    const joins = { workspace: [], packed: [] };
    for (let round = 0; round < JOINS; round++)
      for (const side of round % 2 === 0 ? ["workspace", "packed"] : ["packed", "workspace"]) {
        const newcomer = join(work, `newcomer-${side}-${round}`);
        await canon(bins[side], newcomer, ["init"]);
        const joined = await canon(bins[side], newcomer, [
          "space",
          "join",
          url,
          "--relay",
          relay.url,
          "--timeout",
          "600",
        ]);
        const listed = (await canon(WORKSPACE_BIN, newcomer, ["ls"])).stdout.toString();
        if (!listed.includes(`s${STANDARDS - 1}`))
          throw new Error(`${side}: the newcomer does not list s${STANDARDS - 1} after joining`);
        joins[side].push(joined.elapsed);
        log(`${side} join: ${Math.round(joined.elapsed)} ms (load ${load()})`);
      }
    loads.push(`end ${load()}`);
    return report(samples, joins, loads, process.env.CANON_BENCH_PACKED_BIN !== undefined);
  } finally {
    process.off("unhandledRejection", unhandled);
    await relay?.stop().catch(() => {});
    await rm(work, { recursive: true, force: true, maxRetries: 5 });
  }
}

function report(samples, joins, loads, otherBin) {
  const figures = {
    node: [median(samples.node), median(samples.node)],
    help: [median(samples["help-workspace"]), median(samples["help-packed"])],
    show: [median(samples["show-workspace"]), median(samples["show-packed"])],
    join: [median(joins.workspace), median(joins.packed)],
  };
  const ratio = ([workspace, packed]) => packed / workspace;
  const row = (label, key, meaning) => ({
    cells: [
      label,
      ms(figures[key][0], 0),
      ms(figures[key][1], 0),
      `${ratio(figures[key]).toFixed(2)}×`,
    ],
    meaning,
  });
  return {
    columns: ["Measurement", "workspace build", "installed tarball", "tarball / workspace"],
    rows: [
      row("`node -e 0`", "node", "the interpreter alone, for scale (one series, in both columns)."),
      row("`canon --help`", "help", "the entry point and the argument parser, no command run."),
      row(
        "`canon show <standard>`",
        "show",
        "the agent's hot path: read index and blob cache, no Automerge.",
      ),
      row(
        `\`canon space join\`, ${STANDARDS} standards × 10 versions`,
        "join",
        "a fresh home takes the space from a relay on 127.0.0.1 (bulk answer, fold, caches).",
      ),
    ],
    checks: [
      ...["help", "show"].map((key) => ({
        target: `installed \`canon ${key === "help" ? "--help" : "show"}\` ≤ ${TARGETS.startup}× the workspace build's`,
        measured: `${ratio(figures[key]).toFixed(2)}×`,
        pass: ratio(figures[key]) <= TARGETS.startup,
      })),
      {
        target: `installed join ≤ ${TARGETS.join}× the workspace build's`,
        measured: `${ratio(figures.join).toFixed(2)}×`,
        pass: ratio(figures.join) <= TARGETS.join,
      },
    ],
    notes: [
      `Medians of ${ROUNDS} interleaved cold runs (start-up) and ${joins.workspace.length} joins by each CLI, taking turns; load averages (1, 5, 15 min): ${loads.join("; ")}.${otherBin ? " The installed CLI is CANON_BENCH_PACKED_BIN, not this tree's tarball." : ""}`,
    ],
  };
}

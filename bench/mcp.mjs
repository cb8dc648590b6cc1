// Benchmark "mcp": Canon's MCP server (`canon mcp`, issue #18) as an agent's
// client sees it, each figure beside its baseline in the same run.
//
//   Read: `resources/read canon://editorial-style` (the rendered context)
//     over stdio through the MCP SDK's own client, against the same read
//     in-process with @canon/agent (`renderedContext()`, and `context()`,
//     the bare resolve()).
//   Live: home A (a maintainer, its owner warm and holding the relay
//     connection) runs `canon publish` + `canon sync`; home B runs
//     `canon mcp --space` with a client subscribed to the standard's
//     resource. Timed from A's publish starting to the client receiving
//     `notifications/resources/updated`; against git's commit + push to a
//     local bare repository and pull in a second clone (bench/round-trip.mjs's
//     git side), rounds interleaved.
//
// Everything is a real process on 127.0.0.1: the relay is `canon relay`.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { setUpGit } from "./git-round-trip.mjs";
import { median, ms, percentile, shuffled, standardText, times } from "./measure.mjs";

export const title =
  "MCP server: a resource read over stdio beside in-process resolve(), and publish → notification through a relay beside git";

const CLI = fileURLToPath(new URL("../packages/cli/dist/canon.cjs", import.meta.url));
const AGENT = fileURLToPath(new URL("../packages/agent/dist/index.mjs", import.meta.url));
const STANDARD = "editorial-style";
const URI = `canon://${STANDARD}`;
const SIZE = 5 * 1024;
const READS = 200;
const WARMUP_READS = 20;
const ROUNDS = 15;
const WARMUP = 3;
const STEP_TIMEOUT_MS = 20_000;

/** Runs the benchmark; returns the table, what each row means, and the targets. */
export async function run({ log = () => {} } = {}) {
  for (const file of [CLI, AGENT])
    if (!existsSync(file)) throw new Error(`${file} is missing; run \`pnpm build\` first`);
  const temp = await mkdtemp(join(tmpdir(), "canon-bench-mcp-"));
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
  const relay = await startRelay(join(temp, "relay"), cleanup);
  const homeA = join(temp, "a");
  const homeB = join(temp, "b");
  const file = join(temp, "standard.md");
  const envA = { ...process.env, CANON_HOME: homeA, CANON_OWNER_IDLE_SECONDS: "120" };
  const envB = { ...process.env, CANON_HOME: homeB, CANON_OWNER_IDLE_SECONDS: "120" };
  delete envA.CANON_NO_OWNER;
  delete envB.CANON_NO_OWNER;
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

  // B's MCP server: the whole space, connected to the relay.
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, "mcp", "--space", url],
    cwd: temp,
    env: { PATH: process.env.PATH ?? "", CANON_HOME: homeB },
    stderr: "ignore",
  });
  const client = new Client({ name: "canon-bench", version: "1.0.0" });
  await client.connect(transport);
  cleanup.push(() => client.close());

  log(`reads: ${READS} over stdio, ${READS} in-process (after ${WARMUP_READS} warm-up each)…`);
  const { openAgent } = await import(AGENT);
  const agent = openAgent({ home: homeB, space: url });
  const expected = (await agent.renderedContext(STANDARD)).text;
  const stdioReads = [];
  const renderedReads = [];
  const resolveReads = [];
  for (let i = 0; i < WARMUP_READS + READS; i++) {
    for (const which of shuffled(["stdio", "rendered", "resolve"])) {
      const start = performance.now();
      if (which === "stdio") {
        const read = await client.readResource({ uri: URI });
        const elapsed = performance.now() - start;
        if (read.contents[0]?.text !== expected)
          throw new Error("resources/read returned other bytes than renderedContext()");
        if (i >= WARMUP_READS) stdioReads.push(elapsed);
      } else if (which === "rendered") {
        await agent.renderedContext(STANDARD);
        if (i >= WARMUP_READS) renderedReads.push(performance.now() - start);
      } else {
        await agent.context(STANDARD);
        if (i >= WARMUP_READS) resolveReads.push(performance.now() - start);
      }
    }
  }

  log(`live: ${WARMUP} warm-up rounds, then ${ROUNDS} timed rounds with git, interleaved…`);
  let waiter;
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => {
    if (notification.params.uri !== URI) return;
    const at = performance.now();
    waiter?.(at);
  });
  await client.subscribeResource({ uri: URI });
  let revision = 0;
  const canonRound = async () => {
    revision++;
    await writeFile(file, standardText(`canon ${revision}`, SIZE));
    const arrived = new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no notification for revision ${revision}`)),
        STEP_TIMEOUT_MS,
      );
      waiter = (at) => {
        clearTimeout(timer);
        waiter = undefined;
        resolve(at);
      };
    });
    const start = performance.now();
    await cliAsync(envA, ["publish", STANDARD, file]);
    const published = performance.now();
    await cliAsync(envA, ["sync"]);
    const at = await arrived;
    const read = await client.readResource({ uri: URI });
    if (!read.contents[0]?.text.startsWith(`# Editorial style (revision canon ${revision})`))
      throw new Error(`after the notification, the resource is not revision ${revision}`);
    return { total: at - start, afterPublish: at - published };
  };
  const git = await setUpGit(temp, SIZE);
  for (let i = 0; i < WARMUP; i++) {
    await canonRound();
    await new Promise((resolve) => setTimeout(resolve, 800));
  }
  const live = [];
  const afterPublish = [];
  const gitSamples = [];
  for (let i = 0; i < ROUNDS; i++) {
    for (const which of shuffled(["canon", "git"])) {
      if (which === "canon") {
        const round = await canonRound();
        live.push(round.total);
        afterPublish.push(round.afterPublish);
      } else gitSamples.push(await git.round());
    }
  }

  const row = (label, samples, meaning) => ({
    cells: [label, String(samples.length), ms(median(samples)), ms(percentile(samples, 95))],
    meaning,
  });
  const liveRatio = median(live) / median(gitSamples);
  return {
    columns: ["", "samples", "p50", "p95"],
    rows: [
      row(
        "`resources/read canon://editorial-style` over stdio",
        stdioReads,
        "the MCP SDK's client → `canon mcp` (a child process) → the rendered context (release + corrections in force, read fresh from the home's caches) → back; checked equal to renderedContext()",
      ),
      row(
        "in-process `renderedContext()` (@canon/agent)",
        renderedReads,
        "the same rendered context, read in the benchmark's own process",
      ),
      row(
        "in-process `context()`: resolve()",
        resolveReads,
        "the release's bytes alone, from the read index and blob cache",
      ),
      row(
        "live: A `canon publish` + `canon sync` start → B's client notified",
        live,
        "A's commands (thin clients of A's owner, which holds the relay connection) until `notifications/resources/updated` reaches the client of B's `canon mcp` through the relay (checked: the resource then reads the new revision)",
      ),
      row(
        "of which after `canon publish` returned",
        afterPublish,
        "from A's publish command exiting to the notification (A's sync runs meanwhile)",
      ),
      row(
        "git: commit + push, pull",
        gitSamples,
        "`git commit -a`, `git push` to a local bare repository, `git pull --ff-only` in a second clone, 5 KB file",
      ),
    ],
    checks: [
      {
        target: "publish on another home → notification in the client ≤ 1 s (p95)",
        measured: ms(percentile(live, 95)),
        pass: percentile(live, 95) <= 1000,
      },
      {
        target: "a resource read over stdio ≤ 10 ms (p50)",
        measured: `${ms(median(stdioReads))} (in-process ${ms(median(renderedReads))})`,
        pass: median(stdioReads) <= 10,
      },
    ],
    notes: [
      `Live, Canon against git: ${ms(median(live))} / ${ms(median(gitSamples))} = ${times(liveRatio)}; git's figure has no reader told of anything: the second clone pulls when it is asked to.`,
    ],
  };
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

/** Runs a command without blocking the event loop (the MCP client must keep reading its notifications). */
function cliAsync(env, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.once("exit", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`canon ${args.join(" ")} exited ${code}: ${stderr}`));
    });
  });
}

/** `canon relay` as a process on 127.0.0.1, stopped at cleanup. */
async function startRelay(data, cleanup) {
  await mkdir(data, { recursive: true });
  const child = spawn(
    process.execPath,
    [CLI, "relay", "--port", "0", "--host", "127.0.0.1", "--data", data],
    { stdio: ["ignore", "pipe", "pipe"] },
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

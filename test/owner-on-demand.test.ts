import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CANON_BIN } from "./helpers/cli.js";
import { isRunning, ownerHomes, until } from "./helpers/owner-homes.js";
import { startRelay, stopAll } from "./helpers/processes.js";

// When an owner process starts on demand, and how one hands over to a watch.
// See docs/decisions/2026-11-29-home-owner.md. Real processes throughout.

let dir: string;
let homes: ReturnType<typeof ownerHomes>;
const started: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "canon-owner-on-demand-"));
  homes = ownerHomes(dir);
});
afterEach(async () => {
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  homes.killOwners();
  await stopAll();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Pids of `canon owner` processes serving `home`, found by their command
 * line and environment (Linux's /proc): an owner started on demand is
 * detached and prints nothing, so this is how a leftover one is seen.
 */
function ownersOf(home: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (!argv.includes(CANON_BIN) || argv[argv.indexOf(CANON_BIN) + 1] !== "owner") continue;
      const environment = readFileSync(`/proc/${entry}/environ`, "utf8").split("\0");
      if (environment.includes(`CANON_HOME=${home}`)) found.push(Number(entry));
    } catch {
      // The process ended meanwhile, or is another user's.
    }
  }
  return found;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("an owner started on demand", () => {
  it.runIf(existsSync("/proc/self/environ"))(
    "is not started by a command that fails before writing (a missing file, a bad flag), and is by one that succeeds",
    async () => {
      const { home, file } = await homes.homeWithSpace("on-demand");
      const missing = await homes.run(home, ["publish", "s", join(dir, "no-such-file.md")]);
      expect(missing.status).not.toBe(0);
      expect(missing.stderr).toMatch(/no-such-file\.md/);
      const badFlag = await homes.run(home, ["publish", "s", file, "--no-such-flag"]);
      expect(badFlag.status).not.toBe(0);
      const badSync = await homes.run(home, ["sync", "--timeout", "soon"]);
      expect(badSync.status).not.toBe(0);
      // An owner started by any of them would be listening well within this (see the control below).
      await pause(3_000);
      expect(existsSync(join(home, "owner.sock"))).toBe(false);
      expect(ownersOf(home)).toEqual([]);
      expect(await homes.ownerPid(home)).toBeUndefined();

      // The control: a command that did its work starts one for the next command.
      await writeFile(file, "version 2\n");
      await homes.ok(home, ["publish", "s", file]);
      const pid = await until("an owner started on demand", () => homes.ownerPid(home));
      homes.track(pid);
      expect(ownersOf(home)).toEqual([pid]);
      await homes.ok(home, ["owner", "--stop"]);
      await until("the owner exiting", async () => (isRunning(pid) ? undefined : true));
    },
  );

  it("hands over to a watch without an error line: the watch owns the home and says nothing alarming", async () => {
    const relay = await startRelay(await mkdtemp(join(dir, "relay-")));
    const { home } = await homes.homeWithSpace("hand-over");
    await homes.ok(home, ["sync", "--relay", relay.url], { CANON_NO_OWNER: "1" });
    const owner = await homes.startOwner(home);
    const watch = spawn(process.execPath, [CANON_BIN, "watch"], {
      env: homes.env(home),
      stdio: ["ignore", "ignore", "pipe"],
    });
    started.push(watch);
    let stderr = "";
    watch.stderr?.on("data", (chunk) => {
      stderr += chunk;
    });
    await until("the watch owning the home", async () =>
      (await homes.ownerPid(home)) === watch.pid ? true : undefined,
    );
    await until("the on-demand owner exiting", async () =>
      owner.exitCode === null && owner.signalCode === null ? undefined : true,
    );
    await until("the watch connecting", async () =>
      /connected to/.test(stderr) ? true : undefined,
    );
    // Whatever the watch would print about the hand-over has been printed by now.
    await pause(500);
    expect(stderr).not.toMatch(/stopped answering/);
    expect(stderr).not.toMatch(/another process owns this home/);
    expect(owner.exitCode).toBe(0);
  });
});

const SLOW_START = join(import.meta.dirname, "helpers/slow-start.cjs");

/** Every `canon owner` process of `home` seen while `work` runs and for `afterMs` after, looked for every 50 ms. */
async function ownersSeenDuring<T>(
  home: string,
  work: () => Promise<T>,
  afterMs: number,
): Promise<{ result: T; seen: Set<number> }> {
  const seen = new Set<number>();
  let looking = true;
  const looker = (async () => {
    while (looking) {
      for (const pid of ownersOf(home)) {
        seen.add(pid);
        homes.track(pid);
      }
      await pause(50);
    }
  })();
  try {
    const result = await work();
    await pause(afterMs);
    return { result, seen };
  } finally {
    looking = false;
    await looker;
  }
}

/** The pid of a process that has exited: a claim naming it names no one. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  });
  return Number(child.stdout);
}

describe("one owner started however many commands ask", () => {
  it.runIf(existsSync("/proc/self/environ"))(
    "five commands at once on a home with no owner spawn one owner process, and every command is answered",
    async () => {
      const { home } = await homes.homeWithSpace("at-once");
      const files = await Promise.all(
        [1, 2, 3, 4, 5].map(async (i) => {
          const file = join(dir, `at-once-${i}.md`);
          await writeFile(file, `at once ${i}\n`);
          return file;
        }),
      );
      // An owner spawned in vain waits up to 7 s for the home's lock before it exits:
      // looking on for 9 s after the commands sees every one spawned.
      const { result: runs, seen } = await ownersSeenDuring(
        home,
        () => Promise.all(files.map((file) => homes.run(home, ["publish", "s", file]))),
        9_000,
      );
      for (const run of runs) expect(run.status, run.stderr).toBe(0);
      expect([...seen], "owner processes spawned").toHaveLength(1);
      const pid = await until("the owner answering", () => homes.ownerPid(home));
      expect(seen.has(pid)).toBe(true);
      const log = JSON.parse(
        (await homes.ok(home, ["log", "s", "--json"], { CANON_NO_OWNER: "1" })).stdout,
      );
      const entries = (Array.isArray(log) ? log : (log.entries ?? log.releases)) as {
        version: number;
      }[];
      expect(entries.map((entry) => entry.version).sort()).toEqual([1, 2, 3, 4, 5, 6]);
      // The owner names itself in the home's claim while it serves, and removes it when it stops.
      expect(JSON.parse(readFileSync(join(home, "owner.claim"), "utf8")).pid).toBe(pid);
      await homes.ok(home, ["owner", "--stop"]);
      expect(existsSync(join(home, "owner.claim"))).toBe(false);
    },
  );

  it.runIf(existsSync("/proc/self/environ"))(
    "a claim left by a process killed at any moment, or garbled, holds no command up and is taken over",
    async () => {
      const { home, file } = await homes.homeWithSpace("stale-claim");
      const claim = join(home, "owner.claim");
      let version = 1;
      const publishAndSeeOwner = async (extra: Record<string, string> = {}) => {
        version += 1;
        await writeFile(file, `version ${version}\n`);
        const run = await homes.run(home, ["publish", "s", file], extra);
        expect(run.status, run.stderr).toBe(0);
        const pid = await until("an owner started on demand", () => homes.ownerPid(home));
        homes.track(pid);
        return { pid };
      };
      const stop = async (pid: number) => {
        await homes.ok(home, ["owner", "--stop"]);
        await until("the owner exiting", async () => (isRunning(pid) ? undefined : true));
      };

      // The command that claimed was killed before it spawned: the claim names a dead process.
      writeFileSync(claim, JSON.stringify({ pid: deadPid(), token: "left-by-a-dead-command" }));
      await stop((await publishAndSeeOwner()).pid);

      // Half-written or by hand.
      writeFileSync(claim, "{not a claim");
      await stop((await publishAndSeeOwner()).pid);

      // Naming a live process with no start time: it cannot be told from one that took the pid since.
      writeFileSync(claim, JSON.stringify({ pid: process.pid, token: "no-start-time" }));
      await stop((await publishAndSeeOwner()).pid);

      // The owner a command spawned is killed while it starts (busy 2 s before it loads,
      // test/helpers/slow-start.cjs, as on a loaded machine): the next command is answered
      // and spawns another.
      await writeFile(file, "slow start\n");
      const slow = await homes.run(home, ["publish", "s", file], {
        NODE_OPTIONS: `--require ${SLOW_START}`,
      });
      expect(slow.status, slow.stderr).toBe(0);
      const starting = JSON.parse(readFileSync(claim, "utf8")).pid as number;
      homes.track(starting);
      process.kill(starting, "SIGKILL");
      await until("the starting owner gone", async () => (isRunning(starting) ? undefined : true));
      version += 1;
      const next = await publishAndSeeOwner();
      expect(next.pid).not.toBe(starting);
      await stop(next.pid);
    },
  );
});

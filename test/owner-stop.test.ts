import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { CANON_BIN } from "./helpers/cli.js";
import { until } from "./helpers/owner-homes.js";
import { ownerHomesPerFile } from "./helpers/owner-homes-per-file.js";
import { startRelay } from "./helpers/processes.js";

// `canon owner --stop` while the relay the owner holds a connection to goes
// away at the same moment. The owner was then busy (a command, or starting
// and connecting), did not accept the stop within the client's 2 s, and
// `--stop` said "no owner process is running": the owner served on until
// idle (5 minutes by default, 60 s here), and a second `--stop` worked. Now
// `--stop` asks again while an owner holds the home's lock, and returns
// once it has gone. Real processes: a relay, an owner, thin clients.

const BUSY = resolve(import.meta.dirname, "helpers/busy-owner.cjs");
const SLOW_START = resolve(import.meta.dirname, "helpers/slow-start.cjs");

const { dir, homes } = ownerHomesPerFile("canon-owner-stop-");
const alone = { CANON_NO_OWNER: "1" };

/** Starts `canon owner` (with `nodeArgs`), tracing to stderr, without waiting for it. */
function spawnOwner(home: string, nodeArgs: readonly string[] = []) {
  const child = spawn(process.execPath, [...nodeArgs, CANON_BIN, "owner"], {
    env: { ...homes.env(home), CANON_OWNER_TRACE: "1" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  homes.track(child.pid as number);
  let trace = "";
  child.stderr?.on("data", (chunk) => {
    trace += chunk;
  });
  return { child, trace: () => trace };
}

/** Resolves true once `child` has exited, false if it still runs after `ms`. */
function exitsWithin(child: ChildProcess, ms: number): Promise<boolean> {
  return Promise.race([
    exited(child).then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms)),
  ]);
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
  });
}

/** A home whose space is on a fresh relay, and that relay. */
async function homeOnRelay(name: string) {
  const relay = await startRelay(await mkdtemp(join(dir, "relay-")));
  const { home, file } = await homes.homeWithSpace(name);
  await homes.ok(home, ["sync", "--relay", relay.url], alone);
  return { relay, home, file };
}

describe("canon owner --stop as the relay goes away", () => {
  it("stops an owner busy on a command: after the command (reported done, and kept), within 5 s", async () => {
    const { relay, home, file } = await homeOnRelay("busy");
    const owner = spawnOwner(home, ["--require", BUSY]);
    await until("the owner holding its relay connection", async () =>
      owner.trace().includes("connection opened") ? true : undefined,
    );
    // A publish sent from `busy-4000` keeps the owner's event loop blocked 4 s (see busy-owner.cjs).
    const cwd = join(dir, "busy-dir", "busy-4000");
    await mkdir(cwd, { recursive: true });
    await writeFile(file, "version 2\n");
    const publish = homes.run(home, ["publish", "s", file], {}, cwd);
    await until("the owner busy on the publish", async () =>
      existsSync(join(cwd, "started")) ? true : undefined,
    );
    void relay.stop("SIGKILL");
    const asked = Date.now();
    const stop = await homes.run(home, ["owner", "--stop"]);
    const answered = Date.now();
    expect(stop.status, stop.stderr).toBe(0);
    expect(stop.stdout).toContain("stopped the owner process");
    // It returns once the owner has let go of the home (its process then exits), soon after the busy command.
    expect(await exitsWithin(owner.child, 2_000)).toBe(true);
    expect(answered - asked).toBeLessThan(4_000 + 5_000);
    const published = await publish;
    expect(published.status, published.stderr).toBe(0);
    const versions = JSON.parse((await homes.ok(home, ["log", "s", "--json"], alone)).stdout);
    expect(JSON.stringify(versions)).toContain('"version":2');
    // Nothing left to stop.
    const again = await homes.ok(home, ["owner", "--stop"]);
    expect(again.stdout).toContain("no owner process is running");
  });

  it("stops an owner that is still starting and connecting when the relay is killed", async () => {
    const { relay, home } = await homeOnRelay("starting");
    const owner = spawnOwner(home);
    // The owner holds the home's lock before it listens on its socket.
    await until("the owner taking the home", async () =>
      existsSync(join(home, "owner.lock.holder")) ? true : undefined,
    );
    void relay.stop("SIGKILL");
    const asked = Date.now();
    const stop = await homes.run(home, ["owner", "--stop"]);
    expect(stop.status, stop.stderr).toBe(0);
    expect(stop.stdout).toContain("stopped the owner process");
    expect(await exitsWithin(owner.child, 2_000)).toBe(true);
    expect(Date.now() - asked).toBeLessThan(10_000);
  });

  it("names an owner that is stopped (SIGSTOP) at once, exit 1; resumed, it is stopped", async () => {
    const { home } = await homes.homeWithSpace("sigstop");
    const owner = spawnOwner(home);
    const pid = owner.child.pid as number;
    await until("the owner answering", () => homes.ownerPid(home));
    process.kill(pid, "SIGSTOP");
    try {
      // It holds the home without answering: `--status` names it rather than "not running".
      const status = await homes.run(home, ["owner", "--status", "--json"]);
      expect(status.status, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({
        running: true,
        answering: false,
        pid,
        state: "stopped",
      });
      const asked = Date.now();
      const stop = await homes.run(home, ["owner", "--stop"]);
      expect(stop.status).toBe(1);
      expect(stop.stderr).toContain(`the owner process (pid ${pid})`);
      expect(stop.stderr).toContain("is stopped");
      expect(stop.stderr.trim().split("\n")).toHaveLength(1);
      expect(Date.now() - asked).toBeLessThan(10_000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    const stop = await homes.run(home, ["owner", "--stop"]);
    expect(stop.stdout).toContain("stopped the owner process");
    expect(await exitsWithin(owner.child, 2_000)).toBe(true);
  });

  it("stops an owner spawned a moment before (a command starts one for the next), before it even holds the home", async () => {
    const { relay, home } = await homeOnRelay("spawned");
    // The owner spends its first 2 s busy (test/helpers/slow-start.cjs): `--stop` comes
    // while it neither listens nor holds the home's lock.
    const owner = spawnOwner(home, ["--require", SLOW_START]);
    void relay.stop("SIGKILL");
    const stop = await homes.run(home, ["owner", "--stop"]);
    expect(stop.status, stop.stderr).toBe(0);
    expect(stop.stdout).toContain("no owner process is running");
    // Once it holds the lock, it finds the stop asked for meanwhile and goes.
    const asked = Date.now();
    await exited(owner.child);
    expect(Date.now() - asked).toBeLessThan(5_000);
    expect(existsSync(join(home, "owner.stop"))).toBe(false);
    // A stop mark never stops an owner started after it.
    await homes.ok(home, ["owner", "--stop"]);
    const next = spawnOwner(home);
    await until("the next owner answering", () => homes.ownerPid(home));
    expect(next.child.exitCode).toBeNull();
  });
});

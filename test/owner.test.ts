import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, statSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CANON_BIN } from "./helpers/cli.js";
import { type OwnerHomes, type OwnerRun, ownerHomes, until } from "./helpers/owner-homes.js";
import { type RelayProcess, startRelay, stopAll } from "./helpers/processes.js";

// Real processes: thin clients, owner processes, a relay on 127.0.0.1.
// See docs/decisions/2026-11-29-home-owner.md.

const PROBE = resolve(import.meta.dirname, "helpers/automerge-probe.cjs");
const BUSY = resolve(import.meta.dirname, "helpers/busy-owner.cjs");

let dir: string;
let homes: OwnerHomes;
const started: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "canon-owner-"));
  homes = ownerHomes(dir);
});
afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  await stopAll();
});
afterAll(async () => {
  // Removing the homes removes the owners' sockets: an owner notices within a second and exits.
  await rm(dir, { recursive: true, force: true });
});

const envOf = (home: string, extra: Record<string, string> = {}) => homes.env(home, extra);
const canon = (home: string, args: string[], extra: Record<string, string> = {}, cwd = dir) =>
  homes.run(home, args, extra, cwd);
const ok = (home: string, args: string[], extra: Record<string, string> = {}) =>
  homes.ok(home, args, extra);
const ownerPid = (home: string) => homes.ownerPid(home);
const homeWithSpace = (name: string) => homes.homeWithSpace(name);

/** Versions of `s`, read without any owner. */
async function versions(home: string): Promise<{ version: number; author: string }[]> {
  const log = JSON.parse((await ok(home, ["log", "s", "--json"], { CANON_NO_OWNER: "1" })).stdout);
  const entries = (Array.isArray(log) ? log : (log.entries ?? log.releases)) as {
    version: number;
    author: string;
  }[];
  return entries.map(({ version, author }) => ({ version, author }));
}

async function publishThree(home: string, extra: Record<string, string> = {}): Promise<void> {
  const files = await Promise.all(
    [1, 2, 3].map(async (i) => {
      const file = join(dir, `concurrent-${i}-${Math.random()}.md`);
      await writeFile(file, `concurrent ${i} ${Math.random()}\n`);
      return file;
    }),
  );
  const runs = await Promise.all(files.map((file) => canon(home, ["publish", "s", file], extra)));
  for (const run of runs) expect(run.status, run.stderr).toBe(0);
}

/** Starts `canon owner` for a home in the foreground of a test, tracing each command on stderr. */
async function startOwner(
  home: string,
  nodeArgs: string[] = [],
): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [...nodeArgs, CANON_BIN, "owner"], {
    env: envOf(home, { CANON_OWNER_TRACE: "1" }),
    stdio: ["ignore", "ignore", "pipe"],
  });
  started.push(child);
  let stderr = "";
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  await until("the owner answering", () => ownerPid(home));
  return { child, stderr: () => stderr };
}

describe("one owner per home", () => {
  it("three concurrent publishes without an owner are versions 2, 3, 4 by one author", async () => {
    const { home } = await homeWithSpace("no-owner");
    await publishThree(home, { CANON_NO_OWNER: "1" });
    const all = await versions(home);
    expect(all.map((entry) => entry.version).sort()).toEqual([1, 2, 3, 4]);
    expect(new Set(all.map((entry) => entry.author)).size).toBe(1);
    expect(existsSync(join(home, "owner.sock"))).toBe(false);
  });

  it("three concurrent publishes through an owner are versions 2, 3, 4; its socket is 0600", async () => {
    const { home } = await homeWithSpace("owned");
    const owner = await startOwner(home);
    expect(statSync(join(home, "owner.sock")).mode & 0o777).toBe(0o600);
    await publishThree(home);
    expect((await versions(home)).map((entry) => entry.version).sort()).toEqual([1, 2, 3, 4]);
    expect(owner.stderr().match(/owner: publish ran/g)?.length).toBe(3);
    await ok(home, ["owner", "--stop"]);
    await until("the owner exiting", async () =>
      owner.child.exitCode === null ? undefined : true,
    );
  });

  it("retire, unretire, checkpoint and space settings run in the owner too", async () => {
    const { home } = await homeWithSpace("maintaining");
    const owner = await startOwner(home);
    await ok(home, ["retire", "s"]);
    await ok(home, ["unretire", "s"]);
    await ok(home, ["checkpoint"]);
    await ok(home, ["space", "settings", "--checkpoint-expiry", "14d"]);
    for (const command of ["retire", "unretire", "checkpoint", "space"])
      expect(owner.stderr()).toContain(`owner: ${command} ran`);
    const listed = JSON.parse((await ok(home, ["ls", "--json"], { CANON_NO_OWNER: "1" })).stdout);
    expect(listed.standards.map((entry: { standard: string }) => entry.standard)).toEqual(["s"]);
    expect(listed.freshness.status).toBe("fresh");
    await ok(home, ["owner", "--stop"]);
  });

  it("a command that fails before writing starts no owner; one that succeeds does", async () => {
    const { home, file } = await homeWithSpace("failing");
    const missing = await canon(home, ["publish", "s", join(dir, "no-such-file.md")]);
    expect(missing.status).not.toBe(0);
    // An owner started on demand answers within a second or two; give it more.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await ownerPid(home)).toBeUndefined();
    await writeFile(file, "version 2\n");
    await ok(home, ["publish", "s", file]);
    await until("an owner started on demand", () => ownerPid(home));
    await ok(home, ["owner", "--stop"]);
  });

  it("an owner that stops leaves the caches current: the next read loads no Automerge", async () => {
    const { home, file } = await homeWithSpace("stopping");
    const owner = await startOwner(home);
    // Enough changes to one document that closing the replica would compact it (rename its chunks).
    for (const version of [2, 3, 4, 5, 6]) {
      await writeFile(file, `version ${version}\n`);
      await ok(home, ["publish", "s", file]);
    }
    await ok(home, ["owner", "--stop"]);
    await until("the owner exiting", async () =>
      owner.child.exitCode === null ? undefined : true,
    );
    const read = spawnSync(process.execPath, ["--require", PROBE, CANON_BIN, "ls", "--json"], {
      env: envOf(home, { CANON_NO_OWNER: "1" }),
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(read.status, read.stderr).toBe(0);
    expect(read.stderr).toContain("automerge:not loaded");
    expect(JSON.parse(read.stdout).standards[0]).toMatchObject({ standard: "s", version: 6 });
  });

  it("kill -9 of the owner right after a command returned loses nothing; then a stale socket and a stopped owner block nothing", async () => {
    const { home, file } = await homeWithSpace("crash");
    const owner = await startOwner(home);
    await writeFile(file, "version 2\n");
    await ok(home, ["publish", "s", file]);
    owner.child.kill("SIGKILL");
    expect(owner.stderr()).toMatch(/owner: publish ran/);
    expect((await versions(home)).map((entry) => entry.version)).toContain(2);

    // The socket file is left behind, stale: the command does the work itself and starts a new owner.
    expect(existsSync(join(home, "owner.sock"))).toBe(true);
    await writeFile(file, "version 3\n");
    await ok(home, ["publish", "s", file]);
    const pid = await until("an owner started on demand", () => ownerPid(home));
    expect(pid).not.toBe(owner.child.pid);

    // A stopped (hung) owner: the command gives up on it after the accept timeout and does the work itself.
    process.kill(pid, "SIGSTOP");
    try {
      await writeFile(file, "version 4\n");
      const began = Date.now();
      await ok(home, ["publish", "s", file]);
      expect(Date.now() - began).toBeLessThan(15_000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    expect((await versions(home)).map((entry) => entry.version).sort()).toEqual([1, 2, 3, 4]);
    await ok(home, ["owner", "--stop"]);
  });

  it("a client waits for an owner busy on the CPU past its heartbeats; it gives up on a stopped or killed one, saying why", async () => {
    const { home, file } = await homeWithSpace("busy");
    // The owner preloads test/helpers/busy-owner.cjs: a command sent from `busy-<ms>` blocks its event loop that long.
    const owner = await startOwner(home, ["--require", BUSY]);
    const pid = owner.child.pid as number;
    const busyDir = async (ms: number) => {
      const path = join(dir, `busy-${Math.random().toString(36).slice(2)}`, `busy-${ms}`);
      await mkdir(path, { recursive: true });
      return path;
    };
    const started = (cwd: string) =>
      until("the owner busy on the command", async () =>
        existsSync(join(cwd, "started")) ? true : undefined,
      );

    // Busy for 20 s, longer than the 15 s of silence that used to mean "dead": the command succeeds.
    await writeFile(file, "version 2\n");
    const began = Date.now();
    const busy = await canon(home, ["publish", "s", file], {}, await busyDir(20_000));
    expect(busy.status, busy.stderr).toBe(0);
    expect(Date.now() - began).toBeGreaterThanOrEqual(20_000);
    expect(busy.stderr).toContain(`the owner process (pid ${pid}) is busy`);
    expect((await versions(home)).map((entry) => entry.version).sort()).toEqual([1, 2]);

    // Stopped mid-command (SIGSTOP): the client gives up within seconds and says so, instead of waiting.
    await writeFile(file, "version 3\n");
    const stoppedDir = await busyDir(5_000);
    const onStopped = canon(home, ["publish", "s", file], {}, stoppedDir);
    await started(stoppedDir);
    process.kill(pid, "SIGSTOP");
    const stoppedAt = Date.now();
    let stopped: OwnerRun;
    try {
      stopped = await onStopped;
    } finally {
      process.kill(pid, "SIGCONT");
    }
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(stopped.status).toBe(1);
    expect(stopped.stderr).toContain(`the owner process (pid ${pid}) is stopped`);
    // Resumed, it finishes the command it had accepted.
    await until("the stopped command finishing", async () =>
      (await versions(home)).some((entry) => entry.version === 3) ? true : undefined,
    );

    // Killed (-9) mid-command: the client reports it at once, naming it.
    await writeFile(file, "version 4\n");
    const killedDir = await busyDir(60_000);
    const onKilled = canon(home, ["publish", "s", file], {}, killedDir);
    await started(killedDir);
    owner.child.kill("SIGKILL");
    const killedAt = Date.now();
    const killed = await onKilled;
    expect(Date.now() - killedAt).toBeLessThan(5_000);
    expect(killed.status).toBe(1);
    expect(killed.stderr).toContain(`the owner process (pid ${pid}) exited mid-command`);
  });

  it("hostile bytes on the socket are refused and the owner keeps serving; another user's socket is ignored", async () => {
    const { home } = await homeWithSpace("hostile");
    const owner = await startOwner(home);
    const answer = (payload: string | Buffer) =>
      new Promise<string>((resolve) => {
        const socket = connect(join(home, "owner.sock"));
        let got = "";
        socket.on("data", (chunk) => {
          got += chunk;
        });
        socket.on("close", () => resolve(got));
        socket.on("error", () => resolve(got));
        socket.write(payload);
      });
    expect(await answer("not json\n")).toMatch(/"t":"refused"/);
    expect(
      await answer(
        `${JSON.stringify({ v: 1, version: "0.1.0", op: "run", argv: ["publish"], cwd: "relative" })}\n`,
      ),
    ).toMatch(/"t":"refused"/);
    expect(await answer(`${JSON.stringify({ v: 1, version: "9.9.9", op: "status" })}\n`)).toMatch(
      /"t":"refused".*9\.9\.9/,
    );
    expect(await answer(Buffer.alloc(200 * 1024, 0x61))).toMatch(/"t":"refused"/);
    // Only the commands a thin client routes run in the owner: a `watch` would hold its
    // queue for ever, and a command reading standard input gets none there.
    for (const argv of [["watch"], ["owner"], ["init"], ["publish", "s", "-"], ["sync", "--help"]])
      expect(
        await answer(
          `${JSON.stringify({ v: 1, version: "0.1.0", op: "run", argv, cwd: dir })}\ngo\n`,
        ),
      ).toMatch(/^\{"t":"refused","reason":"the owner does not run/);
    expect(await ownerPid(home)).toBeDefined();

    // A socket of another user is never talked to: the command does the work itself.
    const socket = join(home, "owner.sock");
    chownSync(socket, 65534, 65534);
    try {
      await writeFile(join(dir, "other-user.md"), "by this user\n");
      const run = await canon(home, ["publish", "s", join(dir, "other-user.md")]);
      expect(run.status, run.stderr).toBe(0);
      expect((await versions(home)).map((entry) => entry.version)).toContain(2);
      expect(owner.stderr()).not.toMatch(/owner: publish ran/);
    } finally {
      chownSync(socket, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
    }
    await ok(home, ["owner", "--stop"]);
  });
});

describe("a watch owns its home", () => {
  let relay: RelayProcess;
  beforeAll(async () => {
    relay = await startRelay(await mkdtemp(join(dir, "relay-")));
  });

  it("publishes from other shells run in the watch and go out live through its connection", async () => {
    const { home: a, file } = await homeWithSpace("watcher-a");
    await ok(a, ["sync", "--relay", relay.url], { CANON_NO_OWNER: "1" });
    const b = join(dir, "watcher-b");
    await ok(b, ["init"], { CANON_NO_OWNER: "1" });
    const did = JSON.parse((await ok(b, ["id", "--json"])).stdout).did as string;
    await ok(a, ["member", "add", did, "--role", "reader"], { CANON_NO_OWNER: "1" });
    await ok(a, ["sync"], { CANON_NO_OWNER: "1" });
    const url = JSON.parse((await ok(a, ["space", "ls", "--json"])).stdout);
    const spaceUrl = (Array.isArray(url) ? url : url.spaces)[0].url as string;
    await ok(b, ["space", "join", spaceUrl, "--relay", relay.url], { CANON_NO_OWNER: "1" });

    const watchA = spawn(process.execPath, [CANON_BIN, "watch"], {
      env: envOf(a),
      stdio: ["ignore", "ignore", "ignore"],
    });
    started.push(watchA);
    const pid = await until("A's watch owning the home", () => ownerPid(a));
    expect(pid).toBe(watchA.pid);

    const watchB = spawn(process.execPath, [CANON_BIN, "watch", "--json"], {
      env: envOf(b),
      stdio: ["ignore", "pipe", "ignore"],
    });
    started.push(watchB);
    let printed = "";
    watchB.stdout?.on("data", (chunk) => {
      printed += chunk;
    });
    await until("B's watch owning its home", () => ownerPid(b));

    await publishThree(a);
    await writeFile(file, "after the three\n");
    await ok(a, ["publish", "s", file]);
    // A never ran `sync`: the releases reached B through A's watch's connection.
    await until("B's watch printing version 5", async () =>
      /"version":5/.test(printed) ? true : undefined,
    );
    // A membership change from another shell goes out the same way.
    const c = join(dir, "watcher-c");
    await ok(c, ["init"], { CANON_NO_OWNER: "1" });
    const didC = JSON.parse((await ok(c, ["id", "--json"])).stdout).did as string;
    await ok(a, ["member", "add", didC, "--role", "reader"]);
    await until("B's watch printing the new member", async () =>
      printed.includes(didC) ? true : undefined,
    );
    const all = await versions(a);
    expect(all.map((entry) => entry.version).sort()).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(all.map((entry) => entry.author)).size).toBe(1);
    watchA.kill("SIGTERM");
    watchB.kill("SIGTERM");
  });
});

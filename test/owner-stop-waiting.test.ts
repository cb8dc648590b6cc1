import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CANON_BIN } from "./helpers/cli.js";
import { isRunning, type OwnerHomes, ownerHomes, until } from "./helpers/owner-homes.js";

// Real processes: owners of one home, `canon owner --stop`. See
// docs/decisions/2026-11-29-home-owner.md.

let dir: string;
let homes: OwnerHomes;
const started: ChildProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "canon-owner-stop-waiting-"));
  homes = ownerHomes(dir);
});
afterEach(() => {
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  homes.killOwners();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts `canon owner` for `home` without waiting for it to answer (it may be waiting for the lock). */
function spawnOwner(home: string, extra: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, [CANON_BIN, "owner"], {
    env: homes.env(home, extra),
    stdio: "ignore",
  });
  started.push(child);
  return child;
}

const exited = (child: ChildProcess) =>
  until("the process exiting", async () =>
    child.exitCode === null && child.signalCode === null ? undefined : true,
  );

describe("canon owner --stop", () => {
  it("stops the owner, and an owner spawned before the stop waiting for its lock stops too instead of taking the home over", async () => {
    const { home } = await homeWithSpace("waiting");
    const first = spawnOwner(home);
    const pid = await until("the owner answering", () => homes.ownerPid(home));
    expect(pid).toBe(first.pid);
    // What a command run without the owner does (`startOwnerForNext` in main.ts): an
    // owner for the next command, which waits up to 7 s for the lock the first holds.
    const second = spawnOwner(home);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(second.exitCode).toBeNull();

    const stop = await homes.run(home, ["owner", "--stop"]);
    expect(stop.status, stop.stderr).toBe(0);
    await exited(first);
    // Before, the second took the lock the first released and served on: the stop waited
    // for it for 60 s ("accepted to stop but still runs"), or returned with it serving.
    await exited(second);
    expect(await homes.ownerPid(home)).toBeUndefined();
    expect(second.pid !== undefined && isRunning(second.pid)).toBe(false);

    // An owner started after the stop serves as usual.
    const third = spawnOwner(home);
    expect(await until("the next owner answering", () => homes.ownerPid(home))).toBe(third.pid);
    await homes.ok(home, ["owner", "--stop"]);
    await exited(third);
  }, 150_000);
});

const homeWithSpace = (name: string) => homes.homeWithSpace(name);

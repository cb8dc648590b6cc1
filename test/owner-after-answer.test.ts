import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CANON_BIN } from "./helpers/cli.js";
import { type OwnerHomes, type OwnerRun, ownerHomes } from "./helpers/owner-homes.js";

// A command the home's owner runs answers once what it wrote is durable, and
// writes its caches after the answer, while the refresh mark makes reads wait.
// See docs/decisions/2026-11-30-round-trip.md ("Second round").

const PROBE = resolve(import.meta.dirname, "helpers/automerge-probe.cjs");
const SLOW_CACHES = resolve(import.meta.dirname, "helpers/slow-index-writes.cjs");

let dir: string;
let homes: OwnerHomes;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "canon-after-answer-"));
  homes = ownerHomes(dir);
});
afterEach(() => homes.killOwners());
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `canon show s` with the Automerge probe, no owner involved. */
function show(home: string): Promise<OwnerRun> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      ["--require", PROBE, CANON_BIN, "show", "s"],
      { env: homes.env(home), cwd: dir, timeout: 60_000 },
      (error, stdout, stderr) =>
        done({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("an owner's caches after its answer", () => {
  it("publish answers before its caches are written: a show right after prints it, and kill -9 in between loses nothing", async () => {
    const { home, file } = await homes.homeWithSpace("after");
    // Each read index write in this owner takes 3 s (test/helpers/slow-index-writes.cjs).
    const owner = await homes.startOwner(home, ["--require", SLOW_CACHES], {
      CANON_TEST_INDEX_WRITE_MS: "3000",
    });
    await writeFile(file, "version 2\n");
    await homes.ok(home, ["publish", "s", file]);
    const shown = await show(home);
    expect(shown.status, shown.stderr).toBe(0);
    expect(shown.stdout).toBe("version 2\n");

    // Killed at once after the answer: the caches for version 3 were still to be written.
    await writeFile(file, "version 3\n");
    await homes.ok(home, ["publish", "s", file]);
    owner.kill("SIGKILL");
    await new Promise((done) => owner.once("exit", done));
    const after = await show(home);
    expect(after.status, after.stderr).toBe(0);
    // Nothing it reported done is lost: the release is on disk, read from the replica
    // (the caches name the files before it, so the read does not trust them).
    expect(after.stdout).toBe("version 3\n");
    expect(after.stderr).toContain("automerge:loaded");
    // The next read finds caches current again, written by that read.
    const again = await show(home);
    expect(again.stdout).toBe("version 3\n");
  });
});

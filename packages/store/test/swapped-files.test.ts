import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readInputFile, sha256OfInputFile } from "../src/operations/input-file.js";
import { checkInsideProject, removeStale, writeTree } from "../src/workspace/write-tree.js";

// A local attacker swaps a file between a check and a read: another process
// renames, in a tight loop, a regular file and then a link to a FIFO over the
// same path. A check of the path followed by a second open of it reads the
// FIFO, which blocks for ever (no writer); a file opened once and checked
// through its handle (fstat) is either the regular file or refused.

let dir: string;
let attacker: ChildProcess | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "canon-swapped-"));
});
afterEach(async () => {
  attacker?.kill("SIGKILL");
  attacker = undefined;
  await unblock();
  await rm(dir, { recursive: true, force: true });
});

const CONTENT = "what the user meant to stamp\n";

/** Kills the swapping process and waits until it is gone, so nothing swaps after. */
async function stopAttacker(): Promise<void> {
  const running = attacker;
  attacker = undefined;
  if (running === undefined || running.exitCode !== null || running.signalCode !== null) return;
  const gone = new Promise((resolve) => running.once("exit", resolve));
  running.kill("SIGKILL");
  await gone;
}

/** Starts the swapping process on `dir/target`; resolves once it has swapped a first time. */
async function startSwapping(): Promise<string> {
  const target = join(dir, "target");
  execFileSync("mkfifo", [join(dir, "fifo")]);
  await writeFile(target, CONTENT);
  const script = `
    const { renameSync, symlinkSync, writeFileSync } = require("node:fs");
    const [dir, content] = process.argv.slice(1);
    let i = 0;
    for (;;) {
      const link = dir + "/l" + (i % 2);
      const file = dir + "/f" + (i % 2);
      symlinkSync(dir + "/fifo", link);
      renameSync(link, dir + "/target");
      writeFileSync(file, content);
      renameSync(file, dir + "/target");
      if (i++ === 0) process.stdout.write("swapping\\n");
    }`;
  attacker = spawn(process.execPath, ["-e", script, dir, CONTENT], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve) => attacker?.stdout?.once("data", () => resolve()));
  return target;
}

/** Releases any read blocked on the FIFO (by the code before the fix): open it for writing, then close. */
async function unblock(): Promise<void> {
  for (let i = 0; i < 8; i++) {
    try {
      const writer = await open(join(dir, "fifo"), constants.O_WRONLY | constants.O_NONBLOCK);
      await writer.close();
    } catch {
      return; // No reader waiting (ENXIO), or no FIFO.
    }
  }
}

/** `work`'s result, or "hung" when it has not settled within `ms`. */
async function within<T>(ms: number, work: Promise<T>): Promise<T | "hung"> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<"hung">((resolve) => {
    timer = setTimeout(() => resolve("hung"), ms);
  });
  try {
    return await Promise.race([work, hung]);
  } finally {
    clearTimeout(timer);
  }
}

const ROUNDS = 2_000;

describe("a file swapped between a check and a read", () => {
  it("sha256OfInputFile and readInputFile read the regular file or refuse the FIFO, never block on it", async () => {
    const target = await startSwapping();
    const expected = createHash("sha256").update(CONTENT).digest("hex");
    const outcomes = new Set<string>();
    for (let round = 0; round < ROUNDS; round++) {
      const outcome = await within(
        3_000,
        (round % 2 === 0
          ? sha256OfInputFile(target)
          : readInputFile(target, 1024).then((bytes) =>
              createHash("sha256").update(bytes).digest("hex"),
            )
        ).then(
          (sha) => (sha === expected ? "hashed" : `wrong hash ${sha}`),
          (error: Error & { code?: string }) =>
            error.code === "FILE_UNREADABLE" ? "refused" : `${error.code}: ${error.message}`,
        ),
      );
      expect(outcome, `round ${round}`).not.toBe("hung");
      outcomes.add(outcome);
    }
    expect([...outcomes].every((outcome) => outcome === "hashed" || outcome === "refused")).toBe(
      true,
    );
  });

  it("pull's write of a target already holding its bytes never reads through a link put there", async () => {
    const target = await startSwapping();
    const bytes = new TextEncoder().encode(CONTENT);
    for (let round = 0; round < ROUNDS; round++) {
      const outcome = await within(
        3_000,
        writeTree(dir, [{ path: "target", bytes, executable: false }]).then(
          () => "written",
          (error: Error) => error.message,
        ),
      );
      expect(outcome, `round ${round}`).not.toBe("hung");
    }
    attacker?.kill("SIGKILL");
    // The FIFO was never written through: it is still a FIFO, and the target was a file or a link.
    expect(execFileSync("stat", ["-c", "%F", join(dir, "fifo")], { encoding: "utf8" }).trim()).toBe(
      "fifo",
    );
    expect(target).toBe(join(dir, "target"));
  });

  it.runIf(process.platform === "linux")(
    "pull never writes through a folder swapped for a link leaving the project after its paths were checked",
    async () => {
      const project = join(dir, "project");
      const outside = join(dir, "outside");
      await mkdir(project);
      await mkdir(outside);
      // docs is, in turn, a real folder and a link to a folder outside the project.
      const script = `
        const { mkdirSync, rmSync, symlinkSync } = require("node:fs");
        const [docs, outside] = process.argv.slice(1);
        // Each step may find what the pull just made (its mkdir): the loop goes on.
        const step = (work) => { try { work(); } catch {} };
        let i = 0;
        for (;;) {
          step(() => rmSync(docs, { recursive: true, force: true }));
          step(() => mkdirSync(docs));
          step(() => rmSync(docs, { recursive: true, force: true }));
          step(() => symlinkSync(outside, docs));
          if (i++ === 0) process.stdout.write("swapping\\n");
        }`;
      attacker = spawn(process.execPath, ["-e", script, join(project, "docs"), outside], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      await new Promise<void>((resolve) => attacker?.stdout?.once("data", () => resolve()));
      const file = {
        path: "docs/style.md",
        bytes: new TextEncoder().encode(CONTENT),
        executable: false,
      };
      let written = 0;
      for (let round = 0; round < ROUNDS && written < 300; round++) {
        try {
          await checkInsideProject(project, [file.path]);
          await writeTree(project, [file]);
          written++;
        } catch {
          // Refused (the check saw the link, or the opened folder is outside), or the folder vanished: never written outside.
        }
      }
      await stopAttacker();
      expect(await readdir(outside)).toEqual([]);
      // How many rounds the race let through is the scheduler's: without the attacker, the
      // same write goes through (so the rounds above ran the code that writes).
      await rm(join(project, "docs"), { recursive: true, force: true });
      await checkInsideProject(project, [file.path]);
      await writeTree(project, [file]);
      expect(await readFile(join(project, "docs", "style.md"), "utf8")).toBe(CONTENT);
    },
  );

  it.runIf(process.platform === "linux")(
    "pull's removal of a stale file never removes one outside through a folder swapped for a link after its check",
    async () => {
      const project = join(dir, "project");
      const outside = join(dir, "outside");
      await mkdir(project);
      await mkdir(outside);
      // The victim holds the bytes the lock names for docs/stale.md.
      await writeFile(join(outside, "stale.md"), CONTENT);
      const sha256 = createHash("sha256").update(CONTENT).digest("hex");
      const script = `
        const { mkdirSync, rmSync, symlinkSync, writeFileSync } = require("node:fs");
        const [docs, outside, content] = process.argv.slice(1);
        const step = (work) => { try { work(); } catch {} };
        let i = 0;
        for (;;) {
          step(() => rmSync(docs, { recursive: true, force: true }));
          step(() => mkdirSync(docs));
          step(() => writeFileSync(docs + "/stale.md", content));
          step(() => rmSync(docs, { recursive: true, force: true }));
          step(() => symlinkSync(outside, docs));
          if (i++ === 0) process.stdout.write("swapping\\n");
        }`;
      attacker = spawn(process.execPath, ["-e", script, join(project, "docs"), outside, CONTENT], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      await new Promise<void>((resolve) => attacker?.stdout?.once("data", () => resolve()));
      for (let round = 0; round < ROUNDS; round++) {
        // Refused, or nothing there to remove this round: never removed outside.
        await removeStale(project, [{ path: "docs/stale.md", sha256 }], new Set()).catch(
          () => undefined,
        );
      }
      await stopAttacker();
      expect(await readFile(join(outside, "stale.md"), "utf8")).toBe(CONTENT);
      // How many rounds the race let through is the scheduler's: without the attacker, the
      // same removal goes through (so the rounds above ran the code that removes).
      await rm(join(project, "docs"), { recursive: true, force: true });
      await mkdir(join(project, "docs"));
      await writeFile(join(project, "docs", "stale.md"), CONTENT);
      const clean = await removeStale(project, [{ path: "docs/stale.md", sha256 }], new Set());
      expect(clean.removed).toHaveLength(1);
      await expect(readFile(join(project, "docs", "stale.md"))).rejects.toMatchObject({
        code: "ENOENT",
      });
    },
  );
});

import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  holderPathOf,
  LOCK_STALE_MS,
  lockHolderOf,
  lockPathOf,
  withFileLock,
  writeHolder,
} from "../src/home/file-lock.js";
import { processStartTime } from "../src/home/process-liveness.js";

const FILE_LOCK = fileURLToPath(new URL("../dist/home/file-lock.js", import.meta.url));

/** A live process of no consequence, for a holder file to name. */
function idleProcess(): ChildProcess {
  return spawn(process.execPath, ["-e", "setTimeout(() => {}, 60_000)"], { stdio: "ignore" });
}

/** Resolves once the process has exited. */
function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

describe("a lock's holder", () => {
  let directory: string;
  let file: string;
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "canon-lock-holder-"));
    file = join(directory, "replica");
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill("SIGKILL");
      await exited(child);
    }
    await rm(directory, { recursive: true, force: true });
  });

  /** A lock not refreshed for 10 × the stale time, its holder file naming `pid` (started at `started`). */
  async function oldLock(pid: number, started: string | undefined): Promise<void> {
    await mkdir(lockPathOf(file));
    await writeFile(
      `${lockPathOf(file)}.holder`,
      JSON.stringify({ pid, started, host: hostname() }),
    );
    const longAgo = new Date(Date.now() - 10 * LOCK_STALE_MS);
    await utimes(lockPathOf(file), longAgo, longAgo);
  }

  it("is waited for while it runs, busy on the CPU for longer than the stale time, instead of taken over", async () => {
    // A real second process blocks its event loop for 7 s while it holds the
    // lock, so it cannot refresh it: the lock looks stale after 5 s. Taking
    // it over then made two writers (the holder learned only afterwards).
    const holder = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { withFileLock } from ${JSON.stringify(FILE_LOCK)};
         await withFileLock(${JSON.stringify(file)}, async () => {
           process.stdout.write("holding\\n");
           const until = Date.now() + 7000;
           while (Date.now() < until) {}
         });
         process.stdout.write("released\\n");`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(holder);
    let output = "";
    let errors = "";
    holder.stdout?.on("data", (chunk) => {
      output += chunk;
    });
    holder.stderr?.on("data", (chunk) => {
      errors += chunk;
    });
    await expect.poll(() => output, { timeout: 10_000, interval: 20 }).toContain("holding");
    // The lock now ages past the stale time while its holder spins.
    await new Promise((resolve) => setTimeout(resolve, LOCK_STALE_MS + 500));
    const took = await withFileLock(file, async () => output);
    // Ours ran only after the holder released it, and the holder lost nothing.
    expect(took).toContain("released");
    expect(await exited(holder)).toBe(0);
    expect(errors).toBe("");
  }, 30_000);

  it("names a stopped holder and how to resume it, and leaves its lock alone", async () => {
    const child = idleProcess();
    children.push(child);
    await expect.poll(() => processStartTime(child.pid as number), { interval: 10 }).toBeDefined();
    await oldLock(child.pid as number, processStartTime(child.pid as number));
    child.kill("SIGSTOP");
    await expect(withFileLock(file, async () => "never")).rejects.toMatchObject({
      code: "STORAGE_UNWRITABLE",
      message: expect.stringContaining(
        `canon process ${child.pid} (stopped: resume it with \`kill -CONT ${child.pid}\`) has held its lock`,
      ),
    });
    expect((await stat(lockPathOf(file))).isDirectory()).toBe(true);
  }, 30_000);

  it("is taken over at once once its process is gone", async () => {
    const child = idleProcess();
    await expect.poll(() => processStartTime(child.pid as number), { interval: 10 }).toBeDefined();
    const started = processStartTime(child.pid as number);
    child.kill("SIGKILL");
    await exited(child);
    await oldLock(child.pid as number, started);
    const before = Date.now();
    expect(await withFileLock(file, async () => "written")).toBe("written");
    expect(Date.now() - before).toBeLessThan(2_000);
  });

  it("is taken over at once when its pid now names another process (started at another time)", async () => {
    await oldLock(process.pid, "1");
    const before = Date.now();
    expect(await withFileLock(file, async () => "written")).toBe("written");
    expect(Date.now() - before).toBeLessThan(2_000);
  });

  it("is judged by the lock's age alone when it names a process of another machine", async () => {
    await mkdir(lockPathOf(file));
    await writeFile(
      `${lockPathOf(file)}.holder`,
      JSON.stringify({
        pid: process.pid,
        started: processStartTime(process.pid),
        host: "elsewhere",
      }),
    );
    const longAgo = new Date(Date.now() - 10 * LOCK_STALE_MS);
    await utimes(lockPathOf(file), longAgo, longAgo);
    expect(await withFileLock(file, async () => "written")).toBe("written");
  });

  it("names the command its writer gave, in the same file the home's locks read", async () => {
    const lock = lockPathOf(file);
    await writeHolder(lock, "pull");
    const written = JSON.parse(await readFile(holderPathOf(lock), "utf8"));
    expect(written).toEqual({
      pid: process.pid,
      started: processStartTime(process.pid),
      host: hostname(),
      command: "pull",
    });
    expect(await lockHolderOf(lock)).toEqual({ pid: process.pid, state: "running" });
    // Without a command, the file is as before: no command field at all.
    await writeHolder(lock);
    expect(Object.keys(JSON.parse(await readFile(holderPathOf(lock), "utf8")))).toEqual([
      "pid",
      "started",
      "host",
    ]);
  });

  it("names no one when its file is damaged: the lock's age decides, as before", async () => {
    await mkdir(lockPathOf(file));
    await writeFile(`${lockPathOf(file)}.holder`, '{"pid": "1; rm -rf /"');
    const longAgo = new Date(Date.now() - 10 * LOCK_STALE_MS);
    await utimes(lockPathOf(file), longAgo, longAgo);
    expect(await withFileLock(file, async () => "written")).toBe("written");
    // The holder file named us while we wrote, and is gone once we released.
    await expect(stat(`${lockPathOf(file)}.holder`)).rejects.toMatchObject({ code: "ENOENT" });
  });
});

import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LOCK_STALE_MS, LOCK_WAIT_MS, lockPathOf, withFileLock } from "../src/home/file-lock.js";

describe("withFileLock", () => {
  let directory: string;
  let file: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), "canon-file-lock-"));
    file = join(directory, "config.json");
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("runs one holder at a time, even within one process", async () => {
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        withFileLock(file, async () => {
          inside += 1;
          most = Math.max(most, inside);
          await sleep(20);
          inside -= 1;
        }),
      ),
    );
    expect(most).toBe(1);
  });

  it("releases the lock when the work throws, and passes the error on", async () => {
    await expect(
      withFileLock(file, async () => {
        throw new Error("change failed");
      }),
    ).rejects.toThrow("change failed");
    await expect(stat(lockPathOf(file))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("takes over at once a lock that has not been refreshed for longer than the stale time", async () => {
    await mkdir(lockPathOf(file));
    const longAgo = new Date(Date.now() - 10 * LOCK_STALE_MS);
    await utimes(lockPathOf(file), longAgo, longAgo);
    const started = Date.now();
    expect(await withFileLock(file, async () => "written")).toBe("written");
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("gives up on a lock a live process keeps holding, naming the file and the lock", async () => {
    let finish = () => {};
    const holding = withFileLock(file, () => new Promise<void>((resolve) => (finish = resolve)));
    await sleep(50);
    const started = Date.now();
    await expect(withFileLock(file, async () => "never")).rejects.toMatchObject({
      code: "STORAGE_UNWRITABLE",
      message: expect.stringContaining(
        `cannot write ${file}: canon process ${process.pid} has held its lock (${lockPathOf(file)})`,
      ),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(LOCK_WAIT_MS);
    finish();
    await holding;
  });

  it("says what to check when the lock cannot be made at all", async () => {
    const notADirectory = join(directory, "plain-file");
    await writeFile(notADirectory, "");
    await expect(
      withFileLock(join(notADirectory, "config.json"), async () => "never"),
    ).rejects.toMatchObject({
      code: "STORAGE_UNWRITABLE",
      message: expect.stringMatching(/^cannot lock .* for writing \(ENOTDIR\); check that/),
    });
  });
});

import { mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CanonError } from "@canon/core";
import type { LockOptions } from "proper-lockfile";
import { processLiveness, processStartTime } from "./process-liveness.js";

/**
 * A lock whose holder has not refreshed it for this long is taken over. The
 * holder refreshes it every second, so only a process that was killed (or
 * stopped, or froze for seconds) in the middle of a write leaves one this old.
 */
export const LOCK_STALE_MS = 5_000;

/**
 * A lock whose holder still runs (or is stopped) is taken over only once
 * this old: its holder may be busy on the CPU for longer than
 * {@link LOCK_STALE_MS} (a fold of a large space) and cannot refresh it, and
 * taking it over then would make two writers. The bound covers a pid reused by
 * another process where the machine cannot tell (no `/proc`).
 */
export const LIVE_HOLDER_STALE_MS = 10 * 60_000;

/**
 * How long a writer waits for a lock before giving up. Longer than
 * {@link LOCK_STALE_MS}, so a lock left by a process killed a moment ago is
 * waited out and taken over rather than reported.
 */
export const LOCK_WAIT_MS = 8_000;

// Pauses between tries: the first, doubling up to the longest.
const FIRST_RETRY_MS = 10;
const LONGEST_RETRY_MS = 250;

/** Where the lock on `path` lives: a directory beside it, present only while someone writes. */
export function lockPathOf(path: string): string {
  return `${path}.lock`;
}

/**
 * Runs `work` while holding an exclusive lock on `path`, shared by every
 * process that writes it: a directory created beside it with `mkdir`, which
 * only one process can win. Hold it only around
 * a read-modify-write: others wait for it. A lock left by a killed process is
 * taken over once {@link LOCK_STALE_MS} old. Readers need no lock when writers
 * replace the file by an atomic rename.
 * @throws CanonError `STORAGE_UNWRITABLE` naming the file when the lock cannot
 * be taken within {@link LOCK_WAIT_MS} or its directory is not writable, or
 * when another process took the lock over while `work` ran (this process
 * froze for seconds): then the write may have raced and should be checked.
 * Whatever `work` throws passes through, after the lock is released.
 */
export async function withFileLock<T>(path: string, work: () => Promise<T>): Promise<T> {
  let compromised: Error | undefined;
  const release = await acquire(path, {
    lockfilePath: lockPathOf(path),
    // The file itself may not exist yet (a home's first config).
    realpath: false,
    stale: LOCK_STALE_MS,
    update: 1_000,
    // Upstream throws from a timer, which would crash the process; reported once `work` is done.
    onCompromised: (error) => {
      compromised = error;
    },
  });
  let result: T;
  try {
    result = await work();
  } finally {
    // Fails only when the lock was lost, which is reported below.
    await release().catch(() => {});
  }
  if (compromised !== undefined) {
    throw new CanonError(
      "STORAGE_UNWRITABLE",
      `lost the lock on ${path} while writing it (this process stalled for over ${LOCK_STALE_MS / 1000} s and another one took the lock over); check the file (\`canon space ls\`) and re-run the command`,
      { cause: compromised },
    );
  }
  return result;
}

/**
 * The file beside a lock that names the process holding it:
 * `{"pid":…,"started":…,"host":…}`, plus `"command":…` when its writer said
 * which command holds it (the project's pull lock does).
 */
export function holderPathOf(lockfilePath: string): string {
  return `${lockfilePath}.holder`;
}

/** The process named by a lock's holder file, when it names one that still exists. */
async function liveHolder(
  lockfilePath: string,
): Promise<{ pid: number; state: "stopped" | "running" } | undefined> {
  let text: string;
  try {
    text = await readFile(holderPathOf(lockfilePath), "utf8");
  } catch {
    return undefined;
  }
  // Written by another process, maybe half or by hand: anything unexpected names no one.
  let holder: unknown;
  try {
    holder = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof holder !== "object" || holder === null) return undefined;
  const { pid, started, host } = holder as { pid?: unknown; started?: unknown; host?: unknown };
  if (typeof pid !== "number" || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
  // A pid of another machine (a home on a shared file system) says nothing here.
  if (host !== hostname()) return undefined;
  if (started !== undefined && typeof started !== "string") return undefined;
  const state = processLiveness(pid, started);
  return state === "gone" ? undefined : { pid, state };
}

/**
 * The process on this machine holding the lock at `lockfilePath` (as its
 * holder file names it), with whether it runs or is stopped; undefined when
 * none that still exists is named (no holder, a holder gone, one of another
 * machine).
 */
export function lockHolderOf(
  lockfilePath: string,
): Promise<{ readonly pid: number; readonly state: "stopped" | "running" } | undefined> {
  return liveHolder(lockfilePath);
}

/**
 * How old a lock must be to be taken over: {@link LOCK_STALE_MS}, or
 * {@link LIVE_HOLDER_STALE_MS} while the process that holds it still exists.
 */
async function staleAfter(lockfilePath: string): Promise<number> {
  return (await liveHolder(lockfilePath)) === undefined ? LOCK_STALE_MS : LIVE_HOLDER_STALE_MS;
}

/**
 * Names this process as the lock's holder (written once the lock is taken),
 * in the format {@link lockHolderOf} reads, in one write (temporary file +
 * rename): a process that stops between taking the lock and naming itself is
 * never half named.
 * @param command what the holder runs, for whoever waits to name it (`lockHolderOf` ignores it).
 */
export async function writeHolder(lockfilePath: string, command?: string): Promise<void> {
  const path = holderPathOf(lockfilePath);
  const temporary = `${path}.${process.pid}.tmp`;
  const started = processStartTime(process.pid);
  try {
    await writeFile(
      temporary,
      JSON.stringify({ pid: process.pid, started, host: hostname(), command }),
    );
    await rename(temporary, path);
  } catch {
    // Without it the lock is only as safe as its age: as before, no worse.
    await unlink(temporary).catch(() => {});
  }
}

/** Removes the holder file before the lock is released, if it still names this process. */
export async function removeHolder(lockfilePath: string): Promise<void> {
  const path = holderPathOf(lockfilePath);
  try {
    const holder = JSON.parse(await readFile(path, "utf8")) as { pid?: unknown };
    if (holder.pid === process.pid) await unlink(path);
  } catch {
    // Gone, or another's: nothing of ours to remove.
  }
}

/** Takes the lock, retrying with growing, jittered pauses until {@link LOCK_WAIT_MS} has passed. */
async function acquire(path: string, options: LockOptions): Promise<() => Promise<void>> {
  // Loaded here rather than at the top so that commands that only read (the
  // hot path of \`canon show\`) never load the library.
  const { lock } = await import("proper-lockfile");
  // Without its directory the lock cannot be made; a failure here shows up as lock()'s.
  await mkdir(dirname(path), { recursive: true }).catch(() => {});
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let pause = FIRST_RETRY_MS; ; pause = Math.min(pause * 2, LONGEST_RETRY_MS)) {
    try {
      const lockfilePath = options.lockfilePath ?? lockPathOf(path);
      const release = await lock(path, { ...options, stale: await staleAfter(lockfilePath) });
      await writeHolder(lockfilePath);
      return async () => {
        await removeHolder(lockfilePath);
        await release();
      };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ELOCKED") {
        throw new CanonError(
          "STORAGE_UNWRITABLE",
          `cannot lock ${path} for writing (${code ?? (error as Error).message}); check that ${dirname(path)} exists and is writable`,
          { cause: error },
        );
      }
      if (Date.now() >= deadline) {
        const holder = await liveHolder(options.lockfilePath ?? lockPathOf(path));
        const who =
          holder === undefined
            ? "another canon process"
            : `canon process ${holder.pid}${holder.state === "stopped" ? ` (stopped: resume it with \`kill -CONT ${holder.pid}\`)` : ""}`;
        throw new CanonError(
          "STORAGE_UNWRITABLE",
          `cannot write ${path}: ${who} has held its lock (${options.lockfilePath}) for over ${LOCK_WAIT_MS / 1000} s; retry once it finishes (a lock left by a crashed process frees itself after ${LOCK_STALE_MS / 1000} s)`,
          { cause: error },
        );
      }
      // Jittered, so processes waiting together do not retry in step.
      await sleep(pause * (0.5 + Math.random()));
    }
  }
}

/**
 * Takes the lock on `path` for as long as this process wants it (a home's
 * owner holds `owner.lock` for its life), refreshed every second, or
 * resolves undefined when another live process holds it (after `waitMs`). `onLost`
 * runs if another process takes it over (this one froze for over
 * {@link LOCK_STALE_MS}). Resolves with the function that releases it.
 */
export async function holdFileLock(
  path: string,
  lockfilePath: string,
  onLost: () => void,
  /** Keep trying this long (a lock left by a process just killed frees itself after {@link LOCK_STALE_MS}). */
  waitMs = 0,
): Promise<(() => Promise<void>) | undefined> {
  const { lock } = await import("proper-lockfile");
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const release = await lock(path, {
        lockfilePath,
        realpath: false,
        stale: await staleAfter(lockfilePath),
        update: 1_000,
        onCompromised: onLost,
      });
      await writeHolder(lockfilePath);
      return async () => {
        await removeHolder(lockfilePath);
        await release();
      };
    } catch {
      if (Date.now() >= deadline) return undefined;
      await sleep(500);
    }
  }
}

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CanonError } from "@canon/core";
import {
  holderPathOf,
  LIVE_HOLDER_STALE_MS,
  LOCK_STALE_MS,
  lockHolderOf,
  removeHolder,
  writeHolder,
} from "../home/file-lock.js";
import { LOCK_FILE } from "./lock-file.js";

/**
 * The project's pull lock, beside canon.lock: a directory present only while
 * a pull writes the project (made with `mkdir`, which one process wins), and
 * beside it `canon.pull.lock.holder` naming that process. Never a target.
 */
export const PULL_LOCK = "canon.pull.lock";

/**
 * How long a pull waits for another pull of the same project to finish
 * before giving up: a pull syncs first (bounded by `--timeout`, 10 s by
 * default) and then writes every target, so two minutes is a pull that is
 * stuck, not slow.
 */
export const PULL_LOCK_WAIT_MS = 120_000;

// Pauses between tries: the first, doubling up to the longest.
const FIRST_RETRY_MS = 20;
const LONGEST_RETRY_MS = 500;

/** The canon commands that write a project holding its pull lock, as a waiting one names the holder. */
export type ProjectCommand = "pull" | "add" | "import" | "run" | "mcp";

const PROJECT_COMMANDS: readonly string[] = ["pull", "add", "import", "run", "mcp"];

/** Who holds a project's pull lock: its process, and the canon command it runs when the holder file names one. */
export interface PullLockHolder {
  readonly pid: number;
  readonly command: ProjectCommand | undefined;
}

/** How a waiting command names the holder: `canon add (process 12)`, `a canon command` when unknown. */
function holderName(holder: PullLockHolder | undefined): string {
  if (holder === undefined) return "another canon command";
  return `another canon ${holder.command ?? "command"} (process ${holder.pid})`;
}

/**
 * The `waiting` callback {@link withPullLock} takes, telling `warn` that
 * another command (named: `canon add`, `canon import`, `canon pull`…) holds
 * the pull lock of `dir` and this one waits for it.
 */
export function sayWaiting(
  dir: string,
  warn: ((message: string) => void) | undefined,
): (holder: PullLockHolder | undefined) => void {
  return (holder) => warn?.(`${holderName(holder)} is writing ${dir}; waiting for it to finish`);
}

/** The command the holder file names, when it names a known one (written by another process: anything else names none). */
async function holderCommand(lockfilePath: string): Promise<ProjectCommand | undefined> {
  try {
    const { command } = JSON.parse(await readFile(holderPathOf(lockfilePath), "utf8")) as {
      command?: unknown;
    };
    return typeof command === "string" && PROJECT_COMMANDS.includes(command)
      ? (command as ProjectCommand)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `work` (a whole pull: reading canon.json and canon.lock, writing the
 * targets, writing canon.lock) holding the project's pull lock, so two pulls
 * of one project (two shells, an editor's and a terminal's, `canon run` and
 * `canon pull`) run one after the other and the project ends as exactly one
 * of them left it, never a mix. `canon add` and `canon import` write the
 * project under the same lock, so neither interleaves its writes with a pull. Staleness as the home's lock
 * (`home/file-lock.ts`): the holder refreshes the lock every second; a lock
 * whose holder file names a process that is gone (killed mid-pull) is taken
 * over once {@link LOCK_STALE_MS} old, one whose holder still exists only
 * after {@link LIVE_HOLDER_STALE_MS}. Released when `work` ends, whatever it
 * throws.
 * @param command the canon command running `work`, named in the holder file to a command that waits.
 * @param waiting told once, with the holder's pid and command when known, when another command holds the lock.
 * @throws CanonError `STORAGE_UNWRITABLE` when the lock cannot be made (the
 * project is not writable), when another pull has held it for over
 * {@link PULL_LOCK_WAIT_MS}, or when another process took it over while
 * `work` ran (this one stalled for seconds: check with `canon status`).
 */
export async function withPullLock<T>(
  dir: string,
  command: ProjectCommand,
  work: () => Promise<T>,
  waiting: (holder: PullLockHolder | undefined) => void = () => {},
  waitMs = PULL_LOCK_WAIT_MS,
): Promise<T> {
  const { lock } = await import("proper-lockfile");
  const lockfilePath = join(dir, PULL_LOCK);
  let compromised: Error | undefined;
  const deadline = Date.now() + waitMs;
  let told = false;
  let release: () => Promise<void>;
  for (let pause = FIRST_RETRY_MS; ; pause = Math.min(pause * 2, LONGEST_RETRY_MS)) {
    const live = await lockHolderOf(lockfilePath);
    const holder =
      live === undefined ? undefined : { ...live, command: await holderCommand(lockfilePath) };
    try {
      release = await lock(join(dir, LOCK_FILE), {
        lockfilePath,
        // canon.lock may not exist yet (a first pull).
        realpath: false,
        stale: holder === undefined ? LOCK_STALE_MS : LIVE_HOLDER_STALE_MS,
        update: 1_000,
        // Upstream throws from a timer, which would crash the process; reported once `work` is done.
        onCompromised: (error) => {
          compromised = error;
        },
      });
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "ELOCKED")
        throw new CanonError(
          "STORAGE_UNWRITABLE",
          `cannot take the pull lock ${lockfilePath} (${code ?? (error as Error).message}); check that ${dir} is writable`,
          { cause: error },
        );
      const who = holderName(holder);
      if (Date.now() >= deadline)
        throw new CanonError(
          "STORAGE_UNWRITABLE",
          `${who} has been writing ${dir} for over ${waitMs / 1000} s (it holds ${lockfilePath}); nothing was written. Retry once it finishes${holder?.state === "stopped" ? ` (it is stopped: resume it with \`kill -CONT ${holder.pid}\`)` : ""}; a lock left by a killed pull frees itself after ${LOCK_STALE_MS / 1000} s`,
          { cause: error },
        );
      if (!told) waiting(holder);
      told = true;
      // Jittered, so pulls waiting together do not retry in step.
      await sleep(pause * (0.5 + Math.random()));
    }
  }
  // The home's holder file (`home/file-lock.ts`) with `command`, for a command that waits.
  await writeHolder(lockfilePath, command);
  let result: T;
  try {
    result = await work();
  } finally {
    await removeHolder(lockfilePath);
    // Fails only when the lock was lost, which is reported below.
    await release().catch(() => {});
  }
  if (compromised !== undefined)
    throw new CanonError(
      "STORAGE_UNWRITABLE",
      `lost the pull lock on ${dir} while pulling (this process stalled for over ${LOCK_STALE_MS / 1000} s and another pull took the lock over); run \`canon status\` and pull again`,
      { cause: compromised },
    );
  return result;
}

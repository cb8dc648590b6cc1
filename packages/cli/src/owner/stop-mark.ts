/**
 * The stop mark, `$CANON_HOME/owner.stop`: left by `canon owner --stop` when
 * no owner answered and none holds the home's lock, for an owner process
 * that was spawned (by a command, for the next one) but has not yet taken
 * the lock, and so could be neither asked nor seen; left too once an owner
 * accepts the stop, for one spawned before it and waiting for the lock that
 * owner holds. Such an owner, once it
 * holds the lock, finds a mark written after it started and stops at once;
 * an owner started after the mark removes it and serves.
 */
import { rmSync, statSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { ownerStopMarkOf } from "./owner-socket.js";

/** Leaves the mark. Never fails: without it, only an owner still starting is missed. */
export function setStopMark(root: string): void {
  try {
    writeFileSync(ownerStopMarkOf(root), String(Date.now()), { mode: 0o600 });
  } catch {
    // A read-only home: no owner can start there either.
  }
}

/**
 * True when a stop was asked for while this process was starting (the mark
 * is newer than the process); the mark is removed either way.
 */
export function takeStopMark(root: string): boolean {
  const path = ownerStopMarkOf(root);
  let writtenAt: number;
  try {
    writtenAt = statSync(path).mtimeMs;
  } catch {
    return false;
  }
  rmSync(path, { force: true });
  return writtenAt >= performance.timeOrigin;
}

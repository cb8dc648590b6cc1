/**
 * The owner's refresh mark, `$CANON_HOME/owner.refreshing`: present (holding
 * the owner's pid) from the moment the owner hears of a change from a relay
 * until it has written the read index and caches for it. A read (`show`,
 * `ls`, ...) started meanwhile waits for it to go, so that a release the
 * owner has already received is what the read prints
 * (docs/decisions/2026-11-30-round-trip.md). Only `node:` modules: the entry
 * point reads it before anything else loads.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { processLiveness } from "@canon/store";
import { refreshMarkOf } from "./owner-socket.js";

/** Longest a read waits for an owner's refresh: past it, the read goes on with what the files hold. */
export const REFRESH_WAIT_MS = 2_000;
/** How often a waiting read looks again. */
const POLL_MS = 3;

/** Sets the mark (the owner heard of a change). Never fails: the mark is only a courtesy to reads. */
export function setRefreshMark(root: string): void {
  try {
    writeFileSync(refreshMarkOf(root), String(process.pid), { mode: 0o600 });
  } catch {
    // A read then goes on with what the files hold, as without an owner.
  }
}

/** Clears the mark (the caches now hold what the owner received). */
export function clearRefreshMark(root: string): void {
  rmSync(refreshMarkOf(root), { force: true });
}

/**
 * Waits while the home's owner is refreshing the caches for what it
 * received: returns at once when there is no mark (one failed `stat`), when
 * the mark's process is gone or stopped (a crashed owner's mark never blocks
 * a read), when the mark is not this user's, or after {@link REFRESH_WAIT_MS}.
 * Resolves true when it waited for a refresh that finished.
 */
export async function untilOwnerRefreshed(root: string): Promise<boolean> {
  const path = refreshMarkOf(root);
  const deadline = Date.now() + REFRESH_WAIT_MS;
  let waited = false;
  for (;;) {
    let pid: number;
    try {
      const stats = statSync(path);
      if (!stats.isFile() || (process.getuid && stats.uid !== process.getuid())) return false;
      pid = Number(readFileSync(path, "utf8").slice(0, 16));
    } catch {
      return waited;
    }
    if (!Number.isSafeInteger(pid) || pid <= 0 || processLiveness(pid) !== "running") return false;
    if (Date.now() >= deadline) return false;
    waited = true;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

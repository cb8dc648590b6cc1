import type { CanonHome } from "./canon-home.js";
import { withFileLock } from "./file-lock.js";

/**
 * Runs `work` holding the home lock, `$CANON_HOME/replica.lock`: every
 * command that writes records (publish, correct, member, stamp, retire,
 * checkpoint) holds it from the fold it decides from to the flush of what it
 * wrote, whether it runs in its own process or in the home's owner, so two
 * writers never decide from the same state (three concurrent publishes are
 * versions N+1, N+2, N+3, not three N+1). See docs/decisions/2026-11-29-home-owner.md.
 * @throws CanonError `STORAGE_UNWRITABLE` as {@link withFileLock} does.
 */
export function withHomeLock<T>(home: CanonHome, work: () => Promise<T>): Promise<T> {
  return withFileLock(home.replica, work);
}

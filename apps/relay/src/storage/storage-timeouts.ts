import type { RelayMetrics } from "../metrics.js";
import type { RelayLog } from "../relay-log.js";
import type { StorageTimeout } from "./postgres-storage.js";

/** The fewest milliseconds between two `storage-timeout` lines of one pool and stage. */
export const STORAGE_TIMEOUT_LOG_INTERVAL_MS = 10_000;

/**
 * What a relay does when a database request waited too long for a
 * connection or ran too long (`PostgresPoolOptions`): counts it in
 * `canon_relay_storage_timeouts_total{pool,stage}` and logs a
 * `storage-timeout` warning, at most one line per pool and stage every
 * {@link STORAGE_TIMEOUT_LOG_INTERVAL_MS} (a stalled database times out
 * every waiting request at once), with how many time-outs the line stands
 * for and how many requests were waiting.
 */
export function storageTimeoutReporter(
  log: RelayLog,
  metrics: RelayMetrics,
  now: () => number = Date.now,
): (timeout: StorageTimeout) => void {
  const lastLine = new Map<string, { at: number; unlogged: number }>();
  return (timeout) => {
    metrics.storageTimeouts.inc({ pool: timeout.pool, stage: timeout.stage });
    const key = `${timeout.pool} ${timeout.stage}`;
    const last = lastLine.get(key);
    const at = now();
    if (last !== undefined && at - last.at < STORAGE_TIMEOUT_LOG_INTERVAL_MS) {
      last.unlogged += 1;
      return;
    }
    lastLine.set(key, { at, unlogged: 0 });
    log.write("warn", "storage-timeout", {
      pool: timeout.pool,
      stage: timeout.stage,
      timeouts: 1 + (last?.unlogged ?? 0),
      waiting: timeout.waiting,
      reason:
        timeout.stage === "wait"
          ? "no database connection came free in time; trying again"
          : "a database statement ran too long; trying again",
    });
  };
}

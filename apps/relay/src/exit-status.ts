import type { CanonErrorCode } from "@canon/core";

/**
 * The codes a relay can fail with while starting (its settings, its port, its
 * data directory), with the statuses the `canon` CLI gives the same codes, so
 * one table in the README reads for both. The relay keeps its own copy
 * because it must not depend on the CLI; `test/exit-status.test.ts` checks
 * every entry against the CLI's table.
 */
export const RELAY_EXIT_STATUS: Readonly<Partial<Record<CanonErrorCode, number>>> = {
  // A missing or malformed variable, a bad peer URL.
  BAD_ARGUMENT: 2,
  BAD_URL: 2,
  // The data directory cannot be written, or a stored file is damaged.
  STORAGE_UNWRITABLE: 4,
  STORAGE_DAMAGED: 4,
  // The port is taken, or not ours to listen on: a local resource, not bad input.
  PORT_UNAVAILABLE: 4,
};

/** The status `canon-relay` exits with for an error code: 1 (unexpected) for any code not in its table. */
export function relayExitStatusOf(code: CanonErrorCode): number {
  return RELAY_EXIT_STATUS[code] ?? 1;
}

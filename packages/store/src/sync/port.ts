import { CanonError } from "@canon/core";

/**
 * Parses a TCP port to listen on, from the command line or the environment:
 * decimal digits only, 0 to 65535, where 0 asks the system for a free port.
 * Stricter than `Number()`, which would take "", " 80" or "1e3".
 * @param name What the value was given as (`--port`, `CANON_RELAY_PORT`), for the message.
 * @throws CanonError `BAD_ARGUMENT` naming `name` and the value.
 */
export function parsePort(value: string, name: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `${name} must be a port number between 0 and 65535 (0 picks a free one), not ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

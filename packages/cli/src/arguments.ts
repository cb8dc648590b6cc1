import { CanonError } from "@canon/core";

/** Parses a `--timeout` in seconds (0 < s ≤ 3600) into milliseconds. */
export function parseSeconds(value: string, option = "--timeout"): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `${option} must be a number of seconds between 0 and 3600, not "${value}"`,
    );
  }
  return Math.round(seconds * 1000);
}

/** Parses a `--port` (0 asks the system for a free one). */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `--port must be an integer between 0 and 65535, not "${value}"`,
    );
  }
  return port;
}

/** Collects a repeatable option's values (`--peer a --peer b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

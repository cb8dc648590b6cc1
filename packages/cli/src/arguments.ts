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

/** Collects a repeatable option's values (`--peer a --peer b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

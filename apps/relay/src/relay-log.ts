import { CanonError } from "@canon/core";

/** How much a relay logs, most verbose last; `silent` logs nothing. */
export const LOG_LEVELS = ["silent", "error", "warn", "info", "debug"] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The level a relay logs at unless told otherwise: misbehaving peers and
 * exceeded quotas (`warn`) but not every connection (`info`), so a test suite
 * that starts many relays stays quiet and an operator still sees attacks.
 */
export const DEFAULT_LOG_LEVEL: LogLevel = "warn";

/** The events a relay logs, each one JSON line. */
export type RelayEvent =
  | "connection-opened"
  | "peer-joined"
  | "connection-closed"
  | "peer-disconnected"
  | "quota-exceeded"
  | "checks-delayed"
  | "access-refused"
  | "peer-relay-refused"
  | "repo-error"
  | "database-lost"
  | "database-back"
  | "storage-timeout"
  | "merge-failed"
  | "documents-evicted"
  | "eviction-failed"
  | "unhandled-rejection";

/** Longest text a log field keeps; a longer one is cut, saying how long it was. */
export const MAX_LOGGED_TEXT = 500;

/** Writes one JSON line per event; fields are plain values, never a peer's raw bytes. */
export interface RelayLog {
  /** True when `level` would be written, so a caller can skip building fields. */
  enabled(level: Exclude<LogLevel, "silent">): boolean;
  /** Logs `event` at `level` with `fields`, as `{"time","level","event",...fields}`. */
  write(
    level: Exclude<LogLevel, "silent">,
    event: RelayEvent,
    fields: Readonly<Record<string, string | number | boolean | undefined>>,
  ): void;
}

/** True when `value` names a level. */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * A log writing JSON lines at `level` and above to `sink` (stderr unless
 * given). A tiny writer rather than pino: the relay logs a handful of
 * events, synchronously, to one stream, and `canon relay` loads this module
 * in a CLI whose start-up time is measured (see STACK-NOTES).
 */
export function createRelayLog(
  level: LogLevel,
  sink: (line: string) => void = (line) => process.stderr.write(line),
): RelayLog {
  const threshold = LOG_LEVELS.indexOf(level);
  const enabled = (wanted: Exclude<LogLevel, "silent">) => LOG_LEVELS.indexOf(wanted) <= threshold;
  return {
    enabled,
    write(wanted, event, fields) {
      if (!enabled(wanted)) return;
      sink(
        `${escapedLine(JSON.stringify({ time: new Date().toISOString(), level: wanted, event, ...shortened(fields) }))}\n`,
      );
    },
  };
}

/**
 * A JSON line with every character a terminal or a log viewer may act on
 * written as a `\u` escape (still the same JSON): `JSON.stringify` escapes
 * only the C0 controls (newline, ESC), not the C1 controls (U+009B starts
 * an escape sequence on some terminals, like ESC [), the line and paragraph
 * separators (U+2028/9, a new line to some viewers), nor the bidirectional
 * controls (U+202A-E, U+2066-9, which reorder what a reader sees).
 */
function escapedLine(json: string): string {
  return json.replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The fields with each text cut to {@link MAX_LOGGED_TEXT} characters (a reason may quote a peer). */
function shortened(
  fields: Readonly<Record<string, string | number | boolean | undefined>>,
): Record<string, string | number | boolean | undefined> {
  const cut: Record<string, string | number | boolean | undefined> = {};
  for (const [name, value] of Object.entries(fields))
    cut[name] =
      typeof value === "string" && value.length > MAX_LOGGED_TEXT
        ? `${value.slice(0, MAX_LOGGED_TEXT)}… (${value.length} characters)`
        : value;
  return cut;
}

/**
 * Parses a log level given as text (a variable or a flag called `name`).
 * @throws CanonError `BAD_ARGUMENT` naming `name` and the levels.
 */
export function parseLogLevel(value: string, name: string): LogLevel {
  if (isLogLevel(value)) return value;
  throw new CanonError(
    "BAD_ARGUMENT",
    `${name} must be one of ${LOG_LEVELS.join(", ")}, not ${JSON.stringify(value)}`,
  );
}

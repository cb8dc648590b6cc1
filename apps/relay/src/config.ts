import { resolve } from "node:path";
import { CanonError, isCanonError } from "@canon/core";
import { parsePort, parseRelayUrl } from "@canon/store";
import { z } from "zod";
import { parseTrustedProxies } from "./guard/client-address.js";
import { LIMIT_SETTINGS, parseLimit, type RelayLimits } from "./limits.js";
import { DEFAULT_LOG_LEVEL, parseLogLevel } from "./relay-log.js";
import { parseDatabaseUrl } from "./storage/database-url.js";
import type { PostgresPoolOptions } from "./storage/postgres-storage.js";

/** The port a relay listens on when `CANON_RELAY_PORT` is not set. */
export const DEFAULT_PORT = 3030;

/** The address a relay listens on when `CANON_RELAY_HOST` is not set: this machine only. */
export const DEFAULT_HOST = "127.0.0.1";

/** The environment variables a relay reads; nothing else in the environment is looked at. */
export const RELAY_VARIABLES = [
  "CANON_RELAY_PORT",
  "CANON_RELAY_HOST",
  "CANON_RELAY_DATA",
  "CANON_RELAY_DATABASE_URL",
  "CANON_RELAY_DATABASE_READ_CONNECTIONS",
  "CANON_RELAY_DATABASE_WRITE_CONNECTIONS",
  "CANON_RELAY_DATABASE_WAIT_MILLIS",
  "CANON_RELAY_DATABASE_STATEMENT_MILLIS",
  "CANON_RELAY_TOKEN",
  "CANON_RELAY_TOKENS_FILE",
  "CANON_RELAY_PEERS",
  "CANON_RELAY_LOG_LEVEL",
  "CANON_RELAY_EVICT_AFTER_SECONDS",
  "CANON_RELAY_MAX_MESSAGE_BYTES",
  "CANON_RELAY_MAX_DOCUMENT_BYTES",
  "CANON_RELAY_RECEIVE_BYTES_PER_MINUTE",
  "CANON_RELAY_WRITE_BYTES_PER_MINUTE",
  "CANON_RELAY_NEW_DOCUMENTS_PER_MINUTE",
  "CANON_RELAY_HEADS_REQUESTS_PER_MINUTE",
  "CANON_RELAY_CHECK_MILLIS_PER_MINUTE",
  "CANON_RELAY_TRUSTED_PROXIES",
] as const;

/** Checks a variable by one of Canon's own parsers, whose messages already name it. */
function checkedBy<T>(parse: (value: string, name: string) => T, name: string) {
  return z.string().transform((value, context) => {
    try {
      return parse(value, name);
    } catch (error) {
      if (!isCanonError(error)) throw error;
      context.addIssue({ code: "custom", message: error.message, input: value });
      return z.NEVER;
    }
  });
}

const Limit = (name: string) => checkedBy(parseLimit, name).optional();

/** Most connections one of the database's pools may open. */
const MOST_CONNECTIONS = 1000;
/** Most milliseconds a wait may be: Node's timers take at most 2^31 - 1 (a larger one fires at once), and so does PostgreSQL's statement_timeout. */
const MOST_MILLIS = 2 ** 31 - 1;

/** The environment variables of the database's pools: the {@link PostgresPoolOptions} field each sets, and its largest value. */
const DATABASE_POOL_VARIABLES = {
  CANON_RELAY_DATABASE_READ_CONNECTIONS: { field: "readConnections", most: MOST_CONNECTIONS },
  CANON_RELAY_DATABASE_WRITE_CONNECTIONS: { field: "writeConnections", most: MOST_CONNECTIONS },
  CANON_RELAY_DATABASE_WAIT_MILLIS: { field: "waitMillis", most: MOST_MILLIS },
  CANON_RELAY_DATABASE_STATEMENT_MILLIS: { field: "statementMillis", most: MOST_MILLIS },
} as const;

/**
 * One of the `CANON_RELAY_DATABASE_*` pool settings: a whole number of at
 * least 1 and at most its largest (1000 connections; 2^31 - 1 ms).
 * @throws CanonError `BAD_ARGUMENT` naming the variable otherwise.
 */
function parsePoolSetting(value: string, variable: keyof typeof DATABASE_POOL_VARIABLES): number {
  const parsed = parseLimit(value, variable);
  const { most } = DATABASE_POOL_VARIABLES[variable];
  if (parsed > most)
    throw new CanonError("BAD_ARGUMENT", `${variable} must be at most ${most}, not ${parsed}`);
  return parsed;
}

/** The schema of one pool setting's variable (see {@link parsePoolSetting}). */
const PoolSetting = (variable: keyof typeof DATABASE_POOL_VARIABLES) =>
  checkedBy((value) => parsePoolSetting(value, variable), variable).optional();

/**
 * The database's connections and waits set by `CANON_RELAY_DATABASE_*`
 * (`canon relay` reads them as `canon-relay` does); a field is undefined,
 * the default, where its variable is unset or empty.
 * @throws CanonError `BAD_ARGUMENT` naming the variable when one is not a whole number within its bounds.
 */
export function databasePoolOf(
  environment: Readonly<Record<string, string | undefined>>,
): Omit<PostgresPoolOptions, "onTimeout"> {
  const pool: { -readonly [field in keyof PostgresPoolOptions]?: number } = {};
  for (const [variable, { field }] of Object.entries(DATABASE_POOL_VARIABLES)) {
    const value = environment[variable];
    if (value)
      pool[field] = parsePoolSetting(value, variable as keyof typeof DATABASE_POOL_VARIABLES);
  }
  return pool;
}

/**
 * Seconds a document may stay idle in memory: a whole number, 0 for never.
 * @throws CanonError `BAD_ARGUMENT` naming `name` otherwise.
 */
export function parseEvictAfterSeconds(value: string, name: string): number {
  if (value.trim() === "0") return 0;
  return parseLimit(value, name);
}

/** Checked by the same rule as the CLI's `--port`. */
const Port = z
  .string()
  .transform((value, context) => {
    try {
      return parsePort(value, "CANON_RELAY_PORT");
    } catch (error) {
      if (!isCanonError(error)) throw error;
      context.addIssue({ code: "custom", message: error.message, input: value });
      return z.NEVER;
    }
  })
  .default(DEFAULT_PORT);

const Host = z
  .union([z.ipv4(), z.ipv6(), z.hostname()], {
    error: (issue) =>
      `must be an IP address or a host name such as 0.0.0.0 or localhost, not ${JSON.stringify(issue.input)}`,
  })
  .default(DEFAULT_HOST);

const DataDirectory = z
  .string()
  .transform((directory) => resolve(directory))
  .optional();

const Token = z.string().optional();

/** Comma-separated `ws://`/`wss://` URLs, checked by the same rule the CLI uses for `--peer`. */
const Peers = z
  .string()
  .transform((list) =>
    list
      .split(",")
      .map((url) => url.trim())
      .filter((url) => url !== ""),
  )
  .pipe(
    z.array(
      z.string().superRefine((url, context) => {
        try {
          parseRelayUrl(url);
        } catch (error) {
          if (!isCanonError(error)) throw error;
          context.addIssue({
            code: "custom",
            message: `CANON_RELAY_PEERS has a bad URL: ${withoutSecrets(error.message, url)}`,
          });
        }
      }),
    ),
  )
  .default([]);

/**
 * `message` with `url` (as written, or quoted as JSON) shown without what
 * may be secret: a peer's URL carries the token this relay presents to it
 * (`?token=`), perhaps a password (`user:password@`), and a start-up error
 * goes to standard error, a service log, a CI log. Scheme, host and path
 * stay, so the operator still sees which entry is wrong.
 */
function withoutSecrets(message: string, url: string): string {
  let shown: string;
  try {
    const parsed = new URL(url);
    if (
      parsed.search === "" &&
      parsed.hash === "" &&
      parsed.username === "" &&
      parsed.password === ""
    )
      return message;
    shown = `${parsed.protocol}//${parsed.host}${parsed.pathname} (query and user info not shown)`;
  } catch {
    shown = "(a URL that does not parse, not shown: it may hold a token)";
  }
  return message.split(JSON.stringify(url).slice(1, -1)).join(shown).split(url).join(shown);
}

/**
 * The relay's environment, parsed into its settings. Unset and empty
 * variables mean the same thing (deployment tools often write `VAR=` for
 * "not set"); see {@link readRelayConfig}, which does that normalisation.
 */
export const RelayEnvironment = z
  .object({
    CANON_RELAY_PORT: Port,
    CANON_RELAY_HOST: Host,
    CANON_RELAY_DATA: DataDirectory,
    CANON_RELAY_DATABASE_URL: checkedBy(parseDatabaseUrl, "CANON_RELAY_DATABASE_URL").optional(),
    CANON_RELAY_DATABASE_READ_CONNECTIONS: PoolSetting("CANON_RELAY_DATABASE_READ_CONNECTIONS"),
    CANON_RELAY_DATABASE_WRITE_CONNECTIONS: PoolSetting("CANON_RELAY_DATABASE_WRITE_CONNECTIONS"),
    CANON_RELAY_DATABASE_WAIT_MILLIS: PoolSetting("CANON_RELAY_DATABASE_WAIT_MILLIS"),
    CANON_RELAY_DATABASE_STATEMENT_MILLIS: PoolSetting("CANON_RELAY_DATABASE_STATEMENT_MILLIS"),
    CANON_RELAY_TOKEN: Token,
    CANON_RELAY_TOKENS_FILE: z
      .string()
      .transform((path) => resolve(path))
      .optional(),
    CANON_RELAY_PEERS: Peers,
    CANON_RELAY_LOG_LEVEL: checkedBy(parseLogLevel, "CANON_RELAY_LOG_LEVEL").default(
      DEFAULT_LOG_LEVEL,
    ),
    CANON_RELAY_EVICT_AFTER_SECONDS: checkedBy(
      parseEvictAfterSeconds,
      "CANON_RELAY_EVICT_AFTER_SECONDS",
    ).optional(),
    CANON_RELAY_MAX_MESSAGE_BYTES: Limit(LIMIT_SETTINGS.maxMessageBytes.variable),
    CANON_RELAY_MAX_DOCUMENT_BYTES: Limit(LIMIT_SETTINGS.maxDocumentBytes.variable),
    CANON_RELAY_RECEIVE_BYTES_PER_MINUTE: Limit(LIMIT_SETTINGS.receiveBytesPerMinute.variable),
    CANON_RELAY_WRITE_BYTES_PER_MINUTE: Limit(LIMIT_SETTINGS.writeBytesPerMinute.variable),
    CANON_RELAY_NEW_DOCUMENTS_PER_MINUTE: Limit(LIMIT_SETTINGS.newDocumentsPerMinute.variable),
    CANON_RELAY_HEADS_REQUESTS_PER_MINUTE: Limit(LIMIT_SETTINGS.headsRequestsPerMinute.variable),
    CANON_RELAY_CHECK_MILLIS_PER_MINUTE: Limit(LIMIT_SETTINGS.checkMillisPerMinute.variable),
    CANON_RELAY_TRUSTED_PROXIES: checkedBy(
      parseTrustedProxies,
      "CANON_RELAY_TRUSTED_PROXIES",
    ).optional(),
  })
  .superRefine((environment, context) => {
    if (
      environment.CANON_RELAY_DATA === undefined &&
      environment.CANON_RELAY_DATABASE_URL === undefined
    )
      context.addIssue({
        code: "custom",
        message:
          "CANON_RELAY_DATA is required: the directory where the relay keeps its documents (or CANON_RELAY_DATABASE_URL, a PostgreSQL database)",
        path: ["CANON_RELAY_DATA"],
      });
  })
  .transform((environment) => ({
    port: environment.CANON_RELAY_PORT,
    host: environment.CANON_RELAY_HOST,
    /** Where documents are stored, unless `databaseUrl` is set (which wins). */
    dataDirectory: environment.CANON_RELAY_DATA,
    /** A PostgreSQL URL to store documents in, shared with other relays. */
    databaseUrl: environment.CANON_RELAY_DATABASE_URL,
    /** The database's connections and waits (`PostgresPoolOptions`); the defaults where undefined. */
    databasePool: {
      readConnections: environment.CANON_RELAY_DATABASE_READ_CONNECTIONS,
      writeConnections: environment.CANON_RELAY_DATABASE_WRITE_CONNECTIONS,
      waitMillis: environment.CANON_RELAY_DATABASE_WAIT_MILLIS,
      statementMillis: environment.CANON_RELAY_DATABASE_STATEMENT_MILLIS,
    },
    token: environment.CANON_RELAY_TOKEN,
    tokensFile: environment.CANON_RELAY_TOKENS_FILE,
    peers: environment.CANON_RELAY_PEERS,
    logLevel: environment.CANON_RELAY_LOG_LEVEL,
    /** Reverse proxies whose `X-Forwarded-For` is believed; none unless set. */
    trustedProxies: environment.CANON_RELAY_TRUSTED_PROXIES ?? [],
    /** Seconds an idle document stays in memory (0: for ever); the relay's default when undefined. */
    evictAfterSeconds: environment.CANON_RELAY_EVICT_AFTER_SECONDS,
    limits: {
      maxMessageBytes: environment.CANON_RELAY_MAX_MESSAGE_BYTES,
      maxDocumentBytes: environment.CANON_RELAY_MAX_DOCUMENT_BYTES,
      receiveBytesPerMinute: environment.CANON_RELAY_RECEIVE_BYTES_PER_MINUTE,
      writeBytesPerMinute: environment.CANON_RELAY_WRITE_BYTES_PER_MINUTE,
      newDocumentsPerMinute: environment.CANON_RELAY_NEW_DOCUMENTS_PER_MINUTE,
      headsRequestsPerMinute: environment.CANON_RELAY_HEADS_REQUESTS_PER_MINUTE,
      checkMillisPerMinute: environment.CANON_RELAY_CHECK_MILLIS_PER_MINUTE,
    } satisfies Partial<Record<keyof RelayLimits, number | undefined>>,
  }));

/** A relay's settings: where it listens, where it stores, what it requires, whom it peers with. */
export type RelayConfig = z.output<typeof RelayEnvironment>;

/**
 * Reads a relay's settings from the environment (normally `process.env`).
 * Only the `CANON_RELAY_*` variables are read; the token is never echoed in a
 * message. The data directory is made absolute against the working directory.
 * @throws CanonError `BAD_ARGUMENT` naming every variable that is missing or
 * wrong, on one line.
 */
export function readRelayConfig(
  environment: Readonly<Record<string, string | undefined>>,
): RelayConfig {
  const variables = Object.fromEntries(
    RELAY_VARIABLES.map((name) => [name, environment[name] === "" ? undefined : environment[name]]),
  );
  const parsed = RelayEnvironment.safeParse(variables);
  if (parsed.success) return parsed.data;
  // Custom issues come from Canon's own parsers and already name the variable.
  const problems = parsed.error.issues.map((issue) =>
    issue.code === "custom" ? issue.message : `${String(issue.path[0])} ${issue.message}`,
  );
  throw new CanonError("BAD_ARGUMENT", problems.join("; "));
}

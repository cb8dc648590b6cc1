import { CanonError } from "@canon/core";
import {
  databasePoolOf,
  LIMIT_SETTINGS,
  type LimitOverrides,
  parseDatabaseUrl,
  parseEvictAfterSeconds,
  parseLimit,
  parseLogLevel,
  parseTrustedProxies,
  type RelayLimits,
  readTokensFile,
  startRelayServer,
} from "@canon/relay";
import { parsePort } from "@canon/store";
import { type GlobalOptions, printLine } from "../output.js";
import { serveUntilSignal } from "../serve-until-signal.js";

/** The limit flags, as commander names them (`--max-message-bytes` is `maxMessageBytes`). */
export type LimitFlags = { [name in keyof RelayLimits]?: string };

/**
 * `canon relay --port <p> (--data <dir> | --database-url <url>) [--evict-after <s>] [--host] [--token]
 * [--tokens <file>] [--peer <ws-url>...] [--log-level] [--trusted-proxies <list>] [limits]`: run a relay until SIGTERM/SIGINT.
 * The database URL's password is never printed (the start-up line shows it as `***`); its pools'
 * sizes and waits come from `CANON_RELAY_DATABASE_*`, as for `canon-relay`.
 */
export async function run(
  options: GlobalOptions &
    LimitFlags & {
      port: string;
      data?: string;
      databaseUrl?: string;
      evictAfter?: string;
      host: string;
      token?: string;
      tokens?: string;
      peer?: string[];
      logLevel?: string;
      trustedProxies?: string;
    },
): Promise<void> {
  const limits = limitsOf(options);
  const port = parsePort(options.port, "--port");
  const databaseUrl = databaseUrlOf(options.databaseUrl);
  if (databaseUrl === undefined && options.data === undefined)
    throw new CanonError(
      "BAD_ARGUMENT",
      "canon relay needs --data <dir> (where to keep documents) or --database-url <postgres://…> (or CANON_RELAY_DATABASE_URL)",
    );
  const server = await startRelayServer({
    // A database, when given, wins over the directory (as for canon-relay).
    storageDirectory: databaseUrl === undefined ? options.data : undefined,
    databaseUrl,
    // The pools' sizes and waits, from the same variables as canon-relay (checked only for a database).
    databasePool: databaseUrl === undefined ? undefined : databasePoolOf(process.env),
    idleEvictionMs: evictAfterOf(options.evictAfter),
    port,
    host: options.host,
    token: options.token,
    spaceTokens: await spaceTokensOf(options.tokens, options.token),
    peers: (options.peer ?? []).map((url) => ({ url, token: options.token })),
    limits,
    logLevel: logLevelOf(options.logLevel),
    trustedProxies: trustedProxiesOf(options.trustedProxies),
    ownsProcess: true,
  });
  const where = databaseUrl === undefined ? { data: server.storage } : { database: server.storage };
  // Listening for SIGTERM before the line is printed: whoever reads it may stop us at once.
  const served = serveUntilSignal(server);
  printLine(
    options,
    { url: server.url, port: server.port, ...where },
    `relay listening on ${server.url} (${databaseUrl === undefined ? "data in" : "database"} ${server.storage})`,
  );
  await served;
}

/**
 * The limits of their flags, else of their `CANON_RELAY_*` variables (as
 * `canon-relay` reads them; unset or empty is not given); a limit given by
 * neither is undefined, the relay's default.
 * @throws CanonError `BAD_ARGUMENT` naming the flag or variable when one is not a whole number of at least 1.
 */
export function limitsOf(flags: LimitFlags): LimitOverrides {
  return Object.fromEntries(
    Object.entries(LIMIT_SETTINGS).map(([name, setting]) => {
      const flag = flags[name as keyof RelayLimits];
      if (flag !== undefined) return [name, parseLimit(flag, setting.flag)];
      const variable = process.env[setting.variable];
      return [name, variable ? parseLimit(variable, setting.variable) : undefined];
    }),
  );
}

/**
 * `--database-url`, else `CANON_RELAY_DATABASE_URL`, checked (a
 * `postgres://` URL naming a host); undefined when neither is set.
 * @throws CanonError `BAD_ARGUMENT` naming the flag or variable, the URL shown without its password.
 */
export function databaseUrlOf(flag: string | undefined): string | undefined {
  if (flag !== undefined) return parseDatabaseUrl(flag, "--database-url");
  const variable = process.env.CANON_RELAY_DATABASE_URL;
  return variable ? parseDatabaseUrl(variable, "CANON_RELAY_DATABASE_URL") : undefined;
}

/** `--evict-after` seconds, else `CANON_RELAY_EVICT_AFTER_SECONDS`, in ms; undefined for the relay's default. */
export function evictAfterOf(flag: string | undefined): number | undefined {
  if (flag !== undefined) return parseEvictAfterSeconds(flag, "--evict-after") * 1000;
  const variable = process.env.CANON_RELAY_EVICT_AFTER_SECONDS;
  return variable
    ? parseEvictAfterSeconds(variable, "CANON_RELAY_EVICT_AFTER_SECONDS") * 1000
    : undefined;
}

/**
 * The tokens file of `--tokens`, else `CANON_RELAY_TOKENS_FILE`, parsed with
 * `--token` as the admin token; undefined when neither names one.
 * @throws CanonError `BAD_ARGUMENT` when it cannot be read or is wrong.
 */
export async function spaceTokensOf(flag: string | undefined, adminToken: string | undefined) {
  const path = flag ?? (process.env.CANON_RELAY_TOKENS_FILE || undefined);
  return path === undefined ? undefined : readTokensFile(path, adminToken);
}

/** `--log-level`, else `CANON_RELAY_LOG_LEVEL`, else the relay's default. */
export function logLevelOf(flag: string | undefined) {
  if (flag !== undefined) return parseLogLevel(flag, "--log-level");
  const variable = process.env.CANON_RELAY_LOG_LEVEL;
  return variable ? parseLogLevel(variable, "CANON_RELAY_LOG_LEVEL") : undefined;
}

/** `--trusted-proxies`, else `CANON_RELAY_TRUSTED_PROXIES`; undefined (no proxy trusted) when neither is set. */
export function trustedProxiesOf(flag: string | undefined) {
  if (flag !== undefined) return parseTrustedProxies(flag, "--trusted-proxies");
  const variable = process.env.CANON_RELAY_TRUSTED_PROXIES;
  return variable ? parseTrustedProxies(variable, "CANON_RELAY_TRUSTED_PROXIES") : undefined;
}

import {
  LIMIT_SETTINGS,
  type LimitOverrides,
  parseLimit,
  parseLogLevel,
  type RelayLimits,
  readTokensFile,
  startRelayServer,
} from "@canon/relay";
import { parsePort } from "@canon/store";
import { type GlobalOptions, printLine } from "../output.js";
import { serveUntilSignal } from "../serve-until-signal.js";

/** The limit flags, as commander names them (`--max-message-bytes` is `maxMessageBytes`). */
type LimitFlags = { [name in keyof RelayLimits]?: string };

/** `canon relay --port <p> --data <dir> [--host] [--token] [--tokens <file>] [--peer <ws-url>...] [--log-level] [limits]`: run a relay until SIGTERM/SIGINT. */
export async function run(
  options: GlobalOptions &
    LimitFlags & {
      port: string;
      data: string;
      host: string;
      token?: string;
      tokens?: string;
      peer?: string[];
      logLevel?: string;
    },
): Promise<void> {
  const limits: LimitOverrides = Object.fromEntries(
    Object.entries(LIMIT_SETTINGS).map(([name, setting]) => {
      const given = options[name as keyof RelayLimits];
      return [name, given === undefined ? undefined : parseLimit(given, setting.flag)];
    }),
  );
  const server = await startRelayServer({
    storageDirectory: options.data,
    port: parsePort(options.port, "--port"),
    host: options.host,
    token: options.token,
    spaceTokens: await spaceTokensOf(options.tokens, options.token),
    peers: (options.peer ?? []).map((url) => ({ url, token: options.token })),
    limits,
    logLevel: logLevelOf(options.logLevel),
  });
  printLine(
    options,
    { url: server.url, port: server.port, data: options.data },
    `relay listening on ${server.url} (data in ${options.data})`,
  );
  await serveUntilSignal(server);
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

#!/usr/bin/env node
import { isCanonError } from "@canon/core";
import { readTokensFile } from "./access/tokens-file.js";
import { readRelayConfig } from "./config.js";
import { relayExitStatusOf } from "./exit-status.js";
import { startRelayServer } from "./relay-server.js";

/**
 * `canon-relay`: reads its settings from `CANON_RELAY_*` (and the tokens
 * file `CANON_RELAY_TOKENS_FILE` names), starts the relay,
 * prints `{"url","port","data"}` (`"database"`, the URL without its
 * password, instead of `"data"` with `CANON_RELAY_DATABASE_URL`) on one line, and serves until SIGTERM or
 * SIGINT, when it writes every document to disk and exits 0.
 */
async function main(): Promise<void> {
  // Listen for signals before starting the server, so a stop requested while
  // it starts still ends in a flush and exit 0 rather than a kill mid-write.
  const signalled = new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
  const config = readRelayConfig(process.env);
  const spaceTokens =
    config.tokensFile === undefined
      ? undefined
      : await readTokensFile(config.tokensFile, config.token);
  const server = await startRelayServer({
    // A database, when given, wins over the directory.
    storageDirectory: config.databaseUrl === undefined ? config.dataDirectory : undefined,
    databaseUrl: config.databaseUrl,
    databasePool: config.databasePool,
    port: config.port,
    host: config.host,
    token: config.token,
    spaceTokens,
    // Peered relays of one organisation share its token.
    peers: config.peers.map((url) => ({ url, token: config.token })),
    name: "canon-relay",
    ownsProcess: true,
    logLevel: config.logLevel,
    limits: config.limits,
    trustedProxies: config.trustedProxies,
    idleEvictionMs:
      config.evictAfterSeconds === undefined ? undefined : config.evictAfterSeconds * 1000,
  });
  const where =
    config.databaseUrl === undefined ? { data: server.storage } : { database: server.storage };
  process.stdout.write(`${JSON.stringify({ url: server.url, port: server.port, ...where })}\n`);
  await signalled;
  await server.stop();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const message = isCanonError(error)
      ? error.message
      : `unexpected error: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`canon-relay: ${message.replace(/\s*\n\s*/g, " ")}\n`);
    process.exit(isCanonError(error) ? relayExitStatusOf(error.code) : 1);
  },
);

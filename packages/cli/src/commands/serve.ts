import { startRelayServer } from "@canon/relay";
import { parsePort } from "@canon/store";
import { home } from "../context.js";
import { type GlobalOptions, printLine } from "../output.js";
import { serveUntilSignal } from "../serve-until-signal.js";
import { evictAfterOf, logLevelOf, spaceTokensOf } from "./relay.js";

/** `canon serve --port <p> [--host] [--token] [--tokens <file>] [--log-level] [--evict-after <s>]`: serve this home's replica to peers (a relay is just a replica that serves). */
export async function run(
  options: GlobalOptions & {
    port: string;
    host: string;
    token?: string;
    tokens?: string;
    logLevel?: string;
    evictAfter?: string;
  },
): Promise<void> {
  const server = await startRelayServer({
    storageDirectory: home().replica,
    port: parsePort(options.port, "--port"),
    host: options.host,
    token: options.token,
    spaceTokens: await spaceTokensOf(options.tokens, options.token),
    name: "peer",
    idleEvictionMs: evictAfterOf(options.evictAfter),
    logLevel: logLevelOf(options.logLevel),
    ownsProcess: true,
  });
  // Listening for SIGTERM before the line is printed: whoever reads it may stop us at once.
  const served = serveUntilSignal(server);
  printLine(
    options,
    { url: server.url, port: server.port },
    `serving ${home().root} on ${server.url}`,
  );
  await served;
}

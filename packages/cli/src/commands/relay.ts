import { startRelayServer } from "@canon/relay";
import { parsePort } from "@canon/store";
import { type GlobalOptions, printLine } from "../output.js";
import { serveUntilSignal } from "../serve-until-signal.js";

/** `canon relay --port <p> --data <dir> [--host] [--token] [--peer <ws-url>...]`: run a relay until SIGTERM/SIGINT. */
export async function run(
  options: GlobalOptions & {
    port: string;
    data: string;
    host: string;
    token?: string;
    peer?: string[];
  },
): Promise<void> {
  const server = await startRelayServer({
    storageDirectory: options.data,
    port: parsePort(options.port, "--port"),
    host: options.host,
    token: options.token,
    peers: (options.peer ?? []).map((url) => ({ url, token: options.token })),
  });
  printLine(
    options,
    { url: server.url, port: server.port, data: options.data },
    `relay listening on ${server.url} (data in ${options.data})`,
  );
  await serveUntilSignal(server);
}

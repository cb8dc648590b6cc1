import type { RelayServer } from "@canon/relay";

/** Runs a server until SIGTERM or SIGINT, then flushes its storage and returns. */
export async function serveUntilSignal(server: RelayServer): Promise<void> {
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  await server.stop();
}

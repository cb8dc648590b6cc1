import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NetworkAdapterInterface } from "@automerge/automerge-repo";
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket";
// The relay depends on store, so store's tests reach it by path rather than as a dependency.
import { type RelayServer, startRelayServer } from "../../../apps/relay/src/index.js";

/** A relay started for a test, on 127.0.0.1 with a random free port and a fresh data directory. */
export interface TestRelay {
  readonly server: RelayServer;
  /** The relay's server-side network adapter. */
  readonly adapter: NetworkAdapterInterface;
  /** Stops the relay and deletes its data directory. */
  stop(): Promise<void>;
}

/**
 * Starts a relay. `startRelayServer` resolves only once its server adapter
 * accepts peers (the Repo connects it after reading its storage id; a client
 * connecting before that used to be ignored), which every test using this
 * fixture relies on and this checks.
 */
export async function startTestRelay(options: { token?: string } = {}): Promise<TestRelay> {
  const directory = await mkdtemp(join(tmpdir(), "canon-test-relay-"));
  const server = await startRelayServer({
    storageDirectory: directory,
    port: 0,
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  const adapter = server.repo.networkSubsystem.adapters.find(
    (candidate) => candidate instanceof WebSocketServerAdapter,
  );
  if (adapter === undefined) throw new Error("the relay has no WebSocket server adapter");
  if (adapter.peerId === undefined) throw new Error("the relay listens before it accepts peers");
  return {
    server,
    adapter,
    stop: async () => {
      await server.stop();
      // Saves the relay started before stopping may still be landing: retry a directory that filled meanwhile.
      await rm(directory, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NetworkAdapterInterface } from "@automerge/automerge-repo";
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { type ReplicaServer, startReplicaServer } from "../src/index.js";

/** A relay started for a test, on 127.0.0.1 with a random free port and a fresh data directory. */
export interface TestRelay {
  readonly server: ReplicaServer;
  /** The relay's server-side network adapter. */
  readonly adapter: NetworkAdapterInterface;
  /** Stops the relay and deletes its data directory. */
  stop(): Promise<void>;
}

/**
 * Starts a relay and waits until it accepts peers. `startReplicaServer`
 * resolves once the port listens, but its server adapter connects only
 * after the Repo has read (or first written) its storage id; a client that
 * connects in between is ignored until the keep-alive drops it, 5 s later.
 * Tests wait for the adapter so they measure what they name, not that race.
 */
export async function startTestRelay(options: { token?: string } = {}): Promise<TestRelay> {
  const directory = await mkdtemp(join(tmpdir(), "canon-test-relay-"));
  const server = await startReplicaServer({
    storageDirectory: directory,
    port: 0,
    ...(options.token === undefined ? {} : { token: options.token }),
  });
  const adapter = server.repo.networkSubsystem.adapters.find(
    (candidate) => candidate instanceof WebSocketServerAdapter,
  );
  if (adapter === undefined) throw new Error("the relay has no WebSocket server adapter");
  while (adapter.peerId === undefined) await new Promise((resolve) => setTimeout(resolve, 2));
  return {
    server,
    adapter,
    stop: async () => {
      await server.stop();
      await rm(directory, { recursive: true, force: true });
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

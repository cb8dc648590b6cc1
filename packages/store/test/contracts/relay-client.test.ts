import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { afterAll } from "vitest";
import { startReplicaServer } from "../../src/index.js";
import { RelayClient } from "../../src/sync/relay-client.js";
import { type HubSetup, runHubNetworkAdapterTests } from "./network-adapter-contract.js";

/** A real relay on 127.0.0.1 (a random free port, a fresh data directory) and three clients of it. */
async function relayWithThreeClients(): Promise<HubSetup> {
  const directory = await mkdtemp(join(tmpdir(), "canon-relay-contract-"));
  const relay = await startReplicaServer({ storageDirectory: directory, port: 0 });
  const adapter = relay.repo.networkSubsystem.adapters.find(
    (candidate) => candidate instanceof WebSocketServerAdapter,
  );
  if (adapter === undefined) throw new Error("the relay has no WebSocket server adapter");
  // startReplicaServer resolves once the port listens, but its server adapter starts
  // accepting peers only after the Repo has read (or written) its storage id; a client
  // that connects in between is ignored until the keep-alive drops it (see the report
  // of issue 12). Wait for the adapter, so each case measures the client, not that race.
  while (adapter.peerId === undefined) await new Promise((resolve) => setTimeout(resolve, 2));
  const clients = [
    new RelayClient(relay.url),
    new RelayClient(relay.url),
    new RelayClient(relay.url),
  ] as const;
  return {
    clients,
    hub: { repo: relay.repo, adapter },
    teardown: async () => {
      for (const client of clients) client.disconnect();
      await relay.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

runHubNetworkAdapterTests(relayWithThreeClients, "RelayClient through a Canon relay");

afterAll(async () => {
  // Every case has torn its relay down: no TCP socket or listening server may remain.
  const deadline = Date.now() + 5_000;
  while (openSockets().length > 0 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  if (openSockets().length > 0)
    throw new Error(`sockets left open after the relay tests: ${openSockets().join(", ")}`);
});

function openSockets(): string[] {
  return process
    .getActiveResourcesInfo()
    .filter((resource) => resource === "TCPSocketWrap" || resource === "TCPServerWrap");
}

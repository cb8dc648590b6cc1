import { afterAll } from "vitest";
import { RelayClient } from "../../src/sync/relay-client.js";
import { startTestRelay } from "../relay-fixture.js";
import { type HubSetup, runHubNetworkAdapterTests } from "./network-adapter-contract.js";

/** A real relay on 127.0.0.1 (a random free port, a fresh data directory) and three clients of it. */
async function relayWithThreeClients(): Promise<HubSetup> {
  const relay = await startTestRelay();
  const clients = [
    new RelayClient(relay.server.url),
    new RelayClient(relay.server.url),
    new RelayClient(relay.server.url),
  ] as const;
  return {
    clients,
    hub: { repo: relay.server.repo, adapter: relay.adapter },
    teardown: async () => {
      for (const client of clients) client.disconnect();
      await relay.stop();
    },
  };
}

// RelayClient drops ephemeral messages (relay-client.ts, #unasked): Canon never broadcasts.
runHubNetworkAdapterTests(relayWithThreeClients, "RelayClient through a Canon relay", {
  deliversBroadcasts: false,
});

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

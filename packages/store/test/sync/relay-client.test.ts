import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { type PeerId, Repo } from "@automerge/automerge-repo";
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocketServer } from "ws";
import { RelayClient } from "../../src/sync/relay-client.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A sync peer on 127.0.0.1 that counts the TCP sockets the client holds open to it. */
interface CountingPeer {
  readonly url: string;
  /** Sockets open right now. */
  open(): number;
  /** The most sockets that were open at once. */
  readonly peak: number;
  /** Sockets accepted so far. */
  readonly accepted: number;
  /** Closes every WebSocket connection from the server's side (the client sees a close). */
  dropConnections(): void;
}

/**
 * Starts a real automerge-repo sync peer (a Repo behind `ws`) whose HTTP
 * server accepts every TCP connection but leaves the first `heldUpgrades`
 * WebSocket upgrade requests unanswered, like a relay too busy to finish a
 * handshake in time: the client gives up on them and retries.
 */
async function startCountingPeer(heldUpgrades: number): Promise<CountingPeer> {
  const sockets = new Set<Socket>();
  const everySocket = new Set<Socket>();
  const server: Server = createServer();
  const wss = new WebSocketServer({ noServer: true });
  // The adapter's `ws` types are another copy's (as in the relay's GuardedServerAdapter).
  const adapter = new WebSocketServerAdapter(
    wss as unknown as ConstructorParameters<typeof WebSocketServerAdapter>[0],
  );
  const repo = new Repo({ network: [adapter], peerId: "peer" as PeerId });
  const counts = { peak: 0, accepted: 0 };
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    everySocket.add(socket);
    counts.accepted += 1;
    counts.peak = Math.max(counts.peak, sockets.size);
    // A socket the client ended counts as closed: the HTTP server is half-open by default, and
    // a held upgrade is never answered, so only the client can end it.
    socket.on("end", () => sockets.delete(socket));
    socket.on("close", () => sockets.delete(socket));
  });
  let upgrades = 0;
  server.on("upgrade", (request: IncomingMessage, socket, head) => {
    upgrades += 1;
    if (upgrades <= heldUpgrades) return; // Held: never answered, never closed by this side.
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.push(async () => {
    await repo.shutdown();
    for (const socket of everySocket) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    open: () => sockets.size,
    get peak() {
      return counts.peak;
    },
    get accepted() {
      return counts.accepted;
    },
    dropConnections: () => {
      for (const ws of wss.clients) ws.close();
    },
  };
}

/** A client Repo connected through a RelayClient retrying every `retryMs`. */
function connectClient(url: string, retryMs: number): { client: RelayClient; repo: Repo } {
  const client = new RelayClient(url, retryMs);
  const repo = new Repo({ network: [client], peerId: "client" as PeerId });
  cleanup.push(() => repo.shutdown());
  return { client, repo };
}

describe("RelayClient", () => {
  it("terminates the socket whose handshake it gave up on before opening another", async () => {
    const peer = await startCountingPeer(3);
    const { client, repo } = connectClient(peer.url, 150);
    // Three held handshakes, each given up on, then a fourth the peer answers.
    await vi.waitFor(() => expect(client.remotePeerId).toBe("peer"), { timeout: 10_000 });
    expect(peer.accepted).toBeGreaterThanOrEqual(4);
    // Never more than one socket to the peer, and the abandoned ones are gone.
    expect(peer.peak).toBe(1);
    await vi.waitFor(() => expect(peer.open()).toBe(1), { timeout: 5_000 });
    await repo.shutdown();
    await vi.waitFor(() => expect(peer.open()).toBe(0), { timeout: 5_000 });
  });

  it("reconnects after the peer closes the connection, and not after disconnect", async () => {
    const peer = await startCountingPeer(0);
    const { client } = connectClient(peer.url, 150);
    await vi.waitFor(() => expect(client.remotePeerId).toBe("peer"), { timeout: 10_000 });
    // The peer drops the connection: the client reconnects on its own, one socket at a time.
    peer.dropConnections();
    await vi.waitFor(() => expect(peer.accepted).toBe(2), { timeout: 5_000 });
    await vi.waitFor(() => expect(client.lostConnection).toBeUndefined(), { timeout: 5_000 });
    expect(peer.peak).toBe(1);
    // Dropped again, and this time the client is disconnected before its retry is due.
    peer.dropConnections();
    await vi.waitFor(() => expect(client.lostConnection).toBeDefined(), { timeout: 5_000 });
    client.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(peer.accepted).toBe(2);
    expect(peer.open()).toBe(0);
  });
});

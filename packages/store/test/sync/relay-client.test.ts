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

/** A sync peer on 127.0.0.1 that counts the TCP sockets clients hold open to it. */
interface CountingPeer {
  readonly url: string;
  /** Sockets open right now. */
  open(): number;
  /** The most sockets that were open at once. */
  readonly peak: number;
  /** Sockets accepted so far. */
  readonly accepted: number;
  /** WebSocket connections the peer completed and still holds. */
  webSockets(): number;
  /** Closes every WebSocket connection from the server's side (the client sees a close). */
  dropConnections(): void;
  /** Stops the peer: its Repo, every socket, the listening server. */
  stop(): Promise<void>;
}

/**
 * Starts a real automerge-repo sync peer (a Repo behind `ws`) whose HTTP
 * server accepts every TCP connection but answers the first `slowUpgrades`
 * WebSocket upgrade requests only after `delayMs`, like a relay too busy to
 * finish a handshake in time: the client gives up on them and retries. A
 * late upgrade whose socket is still open is completed, as a relay does.
 */
async function startCountingPeer(
  slowUpgrades: number,
  delayMs = 0,
  port = 0,
): Promise<CountingPeer> {
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
    // A socket the client ended or reset counts as gone at once (the HTTP server keeps
    // it half-open, and a reset's `close` comes a loop turn later).
    const gone = () => sockets.delete(socket);
    socket.on("end", gone);
    socket.on("error", gone);
    socket.on("close", gone);
  });
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let upgrades = 0;
  server.on("upgrade", (request: IncomingMessage, socket: Socket, head: Buffer) => {
    upgrades += 1;
    const answer = () => {
      if (!sockets.has(socket)) return;
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request));
    };
    if (upgrades > slowUpgrades) return answer();
    const timer = setTimeout(() => {
      timers.delete(timer);
      answer();
    }, delayMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      for (const timer of timers) clearTimeout(timer);
      await repo.shutdown();
      for (const socket of everySocket) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })();
    return stopped;
  };
  cleanup.push(stop);
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    open: () => sockets.size,
    get peak() {
      return counts.peak;
    },
    get accepted() {
      return counts.accepted;
    },
    webSockets: () => wss.clients.size,
    dropConnections: () => {
      for (const ws of wss.clients) ws.close();
    },
    stop,
  };
}

/** A client Repo connected through a RelayClient retrying every `retryMs`. */
function connectClient(url: string, retryMs: number): { client: RelayClient; repo: Repo } {
  const client = new RelayClient(url, retryMs);
  const repo = new Repo({ network: [client], peerId: "client" as PeerId });
  cleanup.push(() => repo.shutdown());
  return { client, repo };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when the client next hears the peer introduce itself; rejects after 5 s. */
function introduced(client: RelayClient): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the peer did not introduce itself")), 5_000);
    client.once("peer-candidate", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe("RelayClient", () => {
  it("terminates the socket whose handshake it gave up on before opening another", async () => {
    // Three handshakes answered after 1 s, each given up on after 150 ms; the fourth at once.
    const peer = await startCountingPeer(3, 1_000);
    const { client, repo } = connectClient(peer.url, 150);
    await vi.waitFor(() => expect(client.remotePeerId).toBe("peer"), { timeout: 10_000 });
    expect(peer.accepted).toBeGreaterThanOrEqual(4);
    // Never more than one socket to the peer, and the late handshakes found theirs gone.
    expect(peer.peak).toBe(1);
    await pause(1_200);
    expect(peer.open()).toBe(1);
    expect(peer.webSockets()).toBe(1);
    expect(peer.peak).toBe(1);
    await repo.shutdown();
    await vi.waitFor(() => expect(peer.open()).toBe(0), { timeout: 5_000 });
  });

  it("connects again on a caller's connect after disconnect, one socket at a time", async () => {
    const peer = await startCountingPeer(0);
    const { client } = connectClient(peer.url, 150);
    await vi.waitFor(() => expect(client.remotePeerId).toBe("peer"), { timeout: 10_000 });
    for (let round = 2; round <= 4; round += 1) {
      client.disconnect();
      const again = introduced(client);
      client.connect("client" as PeerId);
      await again;
      expect(peer.webSockets()).toBe(1);
      expect(peer.accepted).toBe(round);
    }
    expect(peer.peak).toBe(1);
  });

  it("drops a message sent while its socket closes instead of throwing it into automerge-repo's synchronizer", async () => {
    const peer = await startCountingPeer(0);
    const { client } = connectClient(peer.url, 60_000);
    await vi.waitFor(() => expect(client.remotePeerId).toBe("peer"), { timeout: 10_000 });
    const socket = client.socket;
    if (!socket) throw new Error("no socket");
    socket.close();
    expect(socket.readyState).toBe(socket.CLOSING);
    // Upstream threw "Websocket not ready (2)" here, which broke the document's handle.
    expect(() =>
      client.send({
        type: "sync",
        senderId: "client" as PeerId,
        targetId: "peer" as PeerId,
        documentId: "3RSvkBk9k5uBaLeyWPR9uD3j7Zge" as never,
        data: new Uint8Array([1]),
      }),
    ).not.toThrow();
  });

  it("reconnects after the peer closes the connection, and a retry due at disconnect opens nothing", async () => {
    const peer = await startCountingPeer(0);
    const { client } = connectClient(peer.url, 150);
    await vi.waitFor(() => expect(client.remotePeerId).toBe("peer"), { timeout: 10_000 });
    // The peer drops the connection: the client reconnects on its own.
    peer.dropConnections();
    await vi.waitFor(() => expect(peer.accepted).toBe(2), { timeout: 5_000 });
    await vi.waitFor(() => expect(peer.webSockets()).toBe(1), { timeout: 5_000 });
    // Dropped again, and this time the client is disconnected before its retry is due.
    peer.dropConnections();
    await vi.waitFor(() => expect(client.lostConnection).toBeDefined(), { timeout: 5_000 });
    client.disconnect();
    await pause(600);
    expect(peer.accepted).toBe(2);
    expect(peer.open()).toBe(0);
    // A caller's connect still connects.
    const again = introduced(client);
    client.connect("client" as PeerId);
    await again;
    expect(peer.webSockets()).toBe(1);
    expect(client.lostConnection).toBeUndefined();
    expect(peer.accepted).toBe(3);
    expect(peer.peak).toBe(1);
  });

  it("reaches the peer again after it restarts on the same port, one socket at a time", async () => {
    const before = await startCountingPeer(0);
    const { client } = connectClient(before.url, 150);
    await vi.waitFor(() => expect(client.remotePeerId).toBe("peer"), { timeout: 10_000 });
    const port = Number(new URL(before.url).port);
    await before.stop();
    await vi.waitFor(() => expect(client.lostConnection).toBeDefined(), { timeout: 5_000 });
    // Down for a few retries (each refused), then back on the same port.
    await pause(500);
    const again = introduced(client);
    const after = await startCountingPeer(0, 0, port);
    await again;
    await pause(500);
    expect(after.webSockets()).toBe(1);
    expect(after.peak).toBe(1);
    expect(client.lostConnection).toBeUndefined();
  });
});

import type { AddressInfo } from "node:net";
import WebSocket, { type RawData, WebSocketServer } from "ws";

/** A WebSocket proxy in front of a relay that can hold back what the relay sends. */
export interface HoldingProxy {
  /** The proxy's address, to connect to instead of the relay's. */
  readonly url: string;
  /** Delivers what was held back, in order, and passes everything on from then on. */
  release(): void;
  /** Closes every proxied connection and stops listening. */
  close(): Promise<void>;
}

/**
 * Starts a proxy on 127.0.0.1 to the relay at `relayUrl` (same path and
 * query). What the client sends goes through at once; of what the relay
 * sends, only its first frame (its introduction: peer id and storage id)
 * goes through until {@link HoldingProxy.release}: a test can then look at
 * a connection that is open but has heard nothing else from the relay yet.
 */
export async function startHoldingProxy(relayUrl: string): Promise<HoldingProxy> {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  let holding = true;
  const held: (() => void)[] = [];
  const upstreams = new Set<WebSocket>();
  server.on("connection", (client, request) => {
    const upstream = new WebSocket(new URL(request.url ?? "/", relayUrl));
    upstreams.add(upstream);
    const early: [RawData, boolean][] = [];
    client.on("message", (data, isBinary) => {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: isBinary });
      else early.push([data, isBinary]);
    });
    upstream.on("open", () => {
      for (const [data, isBinary] of early.splice(0)) upstream.send(data, { binary: isBinary });
    });
    let introduced = false;
    upstream.on("message", (data, isBinary) => {
      const deliver = () => {
        if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      };
      if (holding && introduced) held.push(deliver);
      else deliver();
      introduced = true;
    });
    client.on("close", () => upstream.close());
    upstream.on("close", () => client.close());
    client.on("error", () => upstream.terminate());
    upstream.on("error", () => client.terminate());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    release: () => {
      holding = false;
      for (const deliver of held.splice(0)) deliver();
    },
    close: async () => {
      for (const client of server.clients) client.terminate();
      for (const upstream of upstreams) upstream.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

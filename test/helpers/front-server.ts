import type { Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import type { Duplex } from "node:stream";

/** A front server listening on 127.0.0.1, its WebSocket upgrades tunnelled to a real relay. */
export interface ListeningFront {
  /** `ws://127.0.0.1:<port>`: give it to clients instead of the relay's URL. */
  readonly url: string;
  /** Ends every tunnel and connection, and stops listening. */
  close(): Promise<void>;
}

/**
 * Passes every WebSocket upgrade `server` receives to the relay on
 * `relayPort` byte for byte (the request line and headers as received, then
 * both directions piped), and listens on 127.0.0.1. What `server` answers to
 * plain HTTP requests is the caller's: a test front that lies on one route.
 */
export async function listenAsFront(server: Server, relayPort: number): Promise<ListeningFront> {
  const tunnels = new Set<Duplex>();
  server.on("upgrade", (request, socket, head) => {
    tunnels.add(socket);
    socket.on("close", () => tunnels.delete(socket));
    const upstream = connect(relayPort, "127.0.0.1", () => {
      const lines = [`${request.method} ${request.url} HTTP/1.1`];
      for (let index = 0; index < request.rawHeaders.length; index += 2)
        lines.push(`${request.rawHeaders[index]}: ${request.rawHeaders[index + 1]}`);
      upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
    socket.on("close", () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of tunnels) socket.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

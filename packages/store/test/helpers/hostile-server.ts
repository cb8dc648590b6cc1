import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cbor } from "@automerge/automerge-repo";
import { WebSocketServer } from "ws";

/** A message a peer sent, as the hostile server reads it. */
export interface PeerMessage {
  readonly type: string;
  readonly senderId: string;
  readonly documentId?: string;
}

/** A running hostile server ({@link hostileServer}). */
export interface HostileServer {
  /** Its `ws://127.0.0.1:<port>` URL. */
  readonly url: string;
  /** How many connections peers opened to it so far. */
  connections(): number;
  /** Sends a message to the peer that joined last (unasked, as a relay may). */
  send(fields: Record<string, unknown>): void;
}

/**
 * A WebSocket server on 127.0.0.1 speaking automerge-repo's wire messages as
 * an attacker would: each message a peer sends goes to `onMessage` with
 * `reply`, which answers that peer (from the peer id `peerId`, unless a
 * field says otherwise) while its socket is open. Closed, its sockets
 * terminated, by a step pushed onto `cleanup`. The store's tests play a
 * hostile relay with it (`hostile-relay.ts`); the relay's, a hostile relay
 * it peers with.
 */
export async function hostileServer(
  cleanup: (() => Promise<void>)[],
  peerId: string,
  onMessage: (message: PeerMessage, reply: (fields: Record<string, unknown>) => void) => void,
): Promise<HostileServer> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  let connections = 0;
  let send: (fields: Record<string, unknown>) => void = () => {
    throw new Error("no peer has joined the hostile server yet");
  };
  wss.on("connection", (socket) => {
    connections += 1;
    socket.on("message", (raw: Buffer) => {
      const message = cbor.decode(new Uint8Array(raw)) as PeerMessage;
      const reply = (fields: Record<string, unknown>) => {
        if (socket.readyState === socket.OPEN)
          socket.send(cbor.encode({ senderId: peerId, targetId: message.senderId, ...fields }));
      };
      if (message.type === "join") send = reply;
      onMessage(message, reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.close(() => resolve());
      }),
  );
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    send: (fields) => send(fields),
  };
}

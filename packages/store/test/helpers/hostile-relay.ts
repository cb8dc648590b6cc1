import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as A from "@automerge/automerge";
import { cbor, generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { afterEach } from "vitest";
import { WebSocketServer } from "ws";
import type { RelayClient } from "../../src/sync/relay-client.js";

/** Steps run after each test of the calling file, newest first (each hostile relay pushes its own close). */
export function cleanupAfterEach(): (() => Promise<void>)[] {
  const steps: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of steps.splice(0).reverse()) await step();
  });
  return steps;
}

/** A fresh document id, as automerge-repo makes them. */
export const newDocumentId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId;

/** A sync message carrying the whole of `doc`, as to a peer that holds nothing. */
export const carryingWhole = (doc: A.Doc<unknown>) =>
  A.encodeSyncMessage({ heads: A.getHeads(doc), need: [], have: [], changes: [A.save(doc)] });

/** A message a client sent, as the hostile relay reads it. */
export interface ClientMessage {
  readonly type: string;
  readonly senderId: string;
  readonly documentId?: string;
}

/**
 * A WebSocket server on 127.0.0.1 playing a hostile relay: each message a
 * client sends goes to `onMessage` with `reply`, which sends a message back
 * to that client (from the peer "hostile"). Closed, its sockets terminated,
 * by a step pushed onto `cleanup`. Resolves with its `ws://` URL.
 */
export async function hostileRelay(
  cleanup: (() => Promise<void>)[],
  onMessage: (message: ClientMessage, reply: (fields: Record<string, unknown>) => void) => void,
): Promise<string> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  wss.on("connection", (socket) => {
    socket.on("message", (raw: Buffer) => {
      const message = cbor.decode(new Uint8Array(raw)) as ClientMessage;
      onMessage(message, (fields) =>
        socket.send(cbor.encode({ senderId: "hostile", targetId: message.senderId, ...fields })),
      );
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
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The first error `client` records within `ms` (polled), or undefined. */
export async function firstClientError(
  client: RelayClient,
  ms = 20_000,
): Promise<Error | undefined> {
  const deadline = Date.now() + ms;
  while (client.lastError === undefined && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 50));
  return client.lastError;
}

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { afterEach } from "vitest";
import { canonHome, openReplica } from "../../src/index.js";
import type { RelayClient } from "../../src/sync/relay-client.js";
import { hostileServer, type PeerMessage } from "./hostile-server.js";

/** Steps run after each test of the calling file, newest first (each hostile relay pushes its own close). */
export function cleanupAfterEach(): (() => Promise<void>)[] {
  const steps: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of steps.splice(0).reverse()) await step();
  });
  return steps;
}

/**
 * A replica in a fresh home of its own, closed (its writes settled) and
 * removed after the test; `close` may also be called by the test, once or more.
 */
export async function freshReplica(cleanup: (() => Promise<void>)[]) {
  const directory = await mkdtemp(join(tmpdir(), "canon-hostile-relay-"));
  cleanup.push(() => rm(directory, { recursive: true, force: true }));
  const home = canonHome(directory);
  const replica = await openReplica(home);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await replica.close();
    await replica.writesSettled();
  };
  cleanup.push(close);
  return { home, replica, close };
}

/** A fresh document id, as automerge-repo makes them. */
export const newDocumentId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId;

/** A sync message carrying the whole of `doc`, as to a peer that holds nothing. */
export const carryingWhole = (doc: A.Doc<unknown>) =>
  A.encodeSyncMessage({ heads: A.getHeads(doc), need: [], have: [], changes: [A.save(doc)] });

/** A message a client sent, as the hostile relay reads it. */
export type ClientMessage = PeerMessage;

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
  return (await hostileServer(cleanup, "hostile", onMessage)).url;
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

import * as A from "@automerge/automerge";
import {
  type DocHandle,
  type DocumentId,
  decodeHeads,
  type PeerId,
  type StorageId,
  type UrlHeads,
} from "@automerge/automerge-repo";
import { CanonError } from "@canon/core";
import type { Replica } from "../replica.js";
import { ACCESS_REFUSED_CLOSE_CODE } from "./access-refused.js";
import { pause } from "./alarm.js";
import { RelayClient } from "./relay-client.js";
import { type RelayEndpoint, socketUrlOf } from "./relay-url.js";
import { type HeadsView, ReportedHeads } from "./reported-heads.js";

/** A live connection from a replica to one relay or serving peer. */
export interface RelaySession {
  readonly client: RelayClient;
  readonly peerId: PeerId;
  /** The relay's storage id. */
  readonly storageId: StorageId;
  /**
   * The heads the relay last reported for a document over this connection,
   * or undefined until it has: never what it said over an earlier one.
   */
  relayHeads(documentId: string): UrlHeads | undefined;
  /**
   * What the relay held of each document when this use of the session
   * began: the heads it had reported by then, else the first it reports
   * after (to tell which records a sync sent).
   */
  readonly atStart: HeadsView;
  /**
   * The same connection for another use (a held session reused by the next
   * sync): its {@link atStart} begins now, and its `close()` leaves the
   * connection open.
   */
  reuse(): RelaySession;
  /**
   * Throws when the connection closed since the session opened (the relay
   * stopped or the network dropped), so a loop waiting on the relay ends at
   * once instead of at its deadline.
   * @throws CanonError `RELAY_UNREACHABLE` saying the connection was lost,
   * `RELAY_REFUSED` when the relay closed it because the token may not do
   * what was asked (another space's document, or a write with a read-only token).
   */
  assertConnected(): void;
  close(): void;
}

/** Effectively "never": retries are Canon's own (watch backs off), not the adapter's fixed interval. */
const NO_ADAPTER_RETRY_MS = 24 * 60 * 60 * 1000;

/**
 * Connects a replica to a relay and waits until the relay has introduced
 * itself (peer id and storage id).
 * @throws CanonError `RELAY_UNREACHABLE` when that does not happen within `timeoutMs`.
 */
export async function openRelaySession(
  replica: Replica,
  endpoint: RelayEndpoint,
  timeoutMs: number,
  /** The timeout the user asked for, for the message (`timeoutMs` may be what is left of it). */
  shownTimeoutMs = timeoutMs,
  /** Gives up at once when aborted (the error then says so). */
  signal?: AbortSignal,
): Promise<RelaySession> {
  const client = new RelayClient(socketUrlOf(endpoint), NO_ADAPTER_RETRY_MS);
  client.heldDocument = (documentId) => {
    const handle = replica.repo.handles[documentId as DocumentId];
    return handle?.isReady() ? handle.doc() : undefined;
  };
  // Only documents this replica asked for or holds: a relay pushing others is dropped.
  client.knownDocument = (documentId) => documentId in replica.repo.handles;
  // Listening before connecting: the relay's first report on each document is never missed.
  const reported = new ReportedHeads(replica.repo);
  const firstUse = reported.fromNow(() => client.remotePeerId);
  const disconnect = () => {
    firstUse.stop();
    reported.stop();
    replica.disconnect(client);
  };
  replica.connect(client);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const peerId = client.remotePeerId;
    const storageId = peerId ? replica.repo.getStorageIdOfPeer(peerId) : undefined;
    if (peerId && storageId) {
      const assertConnected = () => {
        const lost = client.lostConnection;
        if (lost === undefined) return;
        if (lost.code === ACCESS_REFUSED_CLOSE_CODE) {
          throw new CanonError(
            "RELAY_REFUSED",
            `relay ${endpoint.url} refused this token: ${lost.reason || "access refused"}; nothing more was exchanged (what arrived is kept); ask the relay's operator for a token of this space, a write token to publish`,
          );
        }
        if (client.droppedMessage !== undefined) {
          throw new CanonError(
            "RELAY_UNREACHABLE",
            `relay ${endpoint.url} sent ${client.droppedMessage}, which would have crashed this process: dropped it and closed the connection; what arrived before is kept; the relay is broken or hostile, ask its operator`,
          );
        }
        throw new CanonError(
          "RELAY_UNREACHABLE",
          `lost the connection to ${endpoint.url} mid-sync (${describeClose(client)}): the relay stopped or the network dropped; what arrived is kept, run \`canon sync\` again once the relay is back`,
        );
      };
      const relayHeads = (documentId: string) => reported.latest(peerId, documentId);
      const reuse = (): RelaySession => {
        const atStart = reported.fromNow(() => peerId);
        return {
          client,
          peerId,
          storageId,
          relayHeads,
          atStart,
          assertConnected,
          reuse,
          close: () => atStart.stop(),
        };
      };
      return {
        client,
        peerId,
        storageId,
        relayHeads,
        atStart: firstUse,
        assertConnected,
        reuse,
        close: disconnect,
      };
    }
    if (signal?.aborted) {
      disconnect();
      throw new CanonError("RELAY_UNREACHABLE", `stopped connecting to ${endpoint.url}`);
    }
    if (client.droppedMessage !== undefined) {
      // Its answer to our join was unfit (a storage id that is a path, say): asking again gets the same.
      const dropped = client.droppedMessage;
      disconnect();
      throw new CanonError(
        "RELAY_UNREACHABLE",
        `relay ${endpoint.url} sent ${dropped} when this client joined: dropped it and closed the connection; nothing was exchanged; the relay is broken or hostile, ask its operator`,
      );
    }
    if (Date.now() > deadline) {
      disconnect();
      const why = client.lastError ? `: ${client.lastError.message}` : "";
      throw new CanonError(
        "RELAY_UNREACHABLE",
        `relay ${endpoint.url} did not answer as a sync peer within ${Math.round(shownTimeoutMs / 1000)} s${why}`,
      );
    }
    await pause(5, signal);
  }
}

/** How a connection closed, for a message: the WebSocket close code, its reason, the last socket error. */
function describeClose(client: RelayClient): string {
  const { code, reason } = client.lostConnection ?? { code: 1006, reason: "" };
  const parts = [`close code ${code}${code === 1006 ? ", closed without a goodbye" : ""}`];
  if (reason !== "") parts.push(reason);
  if (client.lastError) parts.push(client.lastError.message);
  return parts.join("; ");
}

/**
 * True when a document is in step with the relay: the heads the relay
 * reported (over the current connection, {@link RelaySession.relayHeads})
 * equal ours, and, when `floor` is given (the heads the relay's summary
 * listed when the sync began), this replica holds every change of it. A
 * connection held open between syncs may not have heard yet of what another
 * home pushed a moment ago: the floor makes the sync wait for it.
 */
export function inSync(
  handle: DocHandle<unknown>,
  theirs: readonly string[] | undefined,
  floor?: readonly string[],
): boolean {
  if (theirs === undefined) return false;
  const ours = handle.heads();
  if (theirs.length !== ours.length || !theirs.every((head) => ours.includes(head))) return false;
  return floor === undefined || holds(handle, floor);
}

/** True when a document holds every change up to `heads` (a relay's, unsigned: undecodable ones are not held). */
function holds(handle: DocHandle<unknown>, heads: readonly string[]): boolean {
  if (heads.length === 0) return true;
  if (!handle.isReady()) return false;
  try {
    return A.hasHeads(handle.doc() as A.Doc<unknown>, decodeHeads(heads as UrlHeads));
  } catch {
    return false;
  }
}

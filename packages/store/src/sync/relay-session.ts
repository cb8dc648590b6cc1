import type { DocHandle, PeerId, StorageId } from "@automerge/automerge-repo";
import { CanonError } from "@canon/core";
import type { Replica } from "../replica.js";
import { ACCESS_REFUSED_CLOSE_CODE } from "./access-refused.js";
import { pause } from "./alarm.js";
import { RelayClient } from "./relay-client.js";
import { type RelayEndpoint, socketUrlOf } from "./relay-url.js";

/** A live connection from a replica to one relay or serving peer. */
export interface RelaySession {
  readonly client: RelayClient;
  readonly peerId: PeerId;
  /** The relay's storage id: its sync info on a handle says which heads the relay holds. */
  readonly storageId: StorageId;
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
  replica.connect(client);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const peerId = client.remotePeerId;
    const storageId = peerId ? replica.repo.getStorageIdOfPeer(peerId) : undefined;
    if (peerId && storageId) {
      return {
        client,
        peerId,
        storageId,
        assertConnected: () => {
          const lost = client.lostConnection;
          if (lost === undefined) return;
          if (lost.code === ACCESS_REFUSED_CLOSE_CODE) {
            throw new CanonError(
              "RELAY_REFUSED",
              `relay ${endpoint.url} refused this token: ${lost.reason || "access refused"}; nothing more was exchanged (what arrived is kept); ask the relay's operator for a token of this space, a write token to publish`,
            );
          }
          throw new CanonError(
            "RELAY_UNREACHABLE",
            `lost the connection to ${endpoint.url} mid-sync (${describeClose(client)}): the relay stopped or the network dropped; what arrived is kept, run \`canon sync\` again once the relay is back`,
          );
        },
        close: () => replica.disconnect(client),
      };
    }
    if (signal?.aborted) {
      replica.disconnect(client);
      throw new CanonError("RELAY_UNREACHABLE", `stopped connecting to ${endpoint.url}`);
    }
    if (Date.now() > deadline) {
      replica.disconnect(client);
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

/** True when the relay's last reported heads for a document equal ours. */
export function inSync(handle: DocHandle<unknown>, storageId: StorageId): boolean {
  const theirs = handle.getSyncInfo(storageId)?.lastHeads;
  if (theirs === undefined) return false;
  const ours = handle.heads();
  return theirs.length === ours.length && theirs.every((head) => ours.includes(head));
}

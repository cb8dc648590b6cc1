import { cbor, type Message, type PeerId } from "@automerge/automerge-repo";
import { RelayClient, type RelayEndpoint, socketUrlOf } from "@canon/store";
import type { PeerBudgets, PeerRelayRefusal } from "../guard/guarded-server-adapter.js";
import { type IncomingChange, parseWireMessage, type WireMessage } from "../guard/wire-message.js";
import type { RelayLimits } from "../limits.js";
import type { RelayMetrics } from "../metrics.js";
import type { RelayLog } from "../relay-log.js";

/** What a {@link PeerRelayClient} asks of the relay it belongs to. */
export interface PeerRelayGuard {
  readonly limits: RelayLimits;
  readonly log: RelayLog;
  readonly metrics?: RelayMetrics | undefined;
  /** What this relay is charged for the peer relay's messages (kept across its reconnections). */
  readonly budgets: PeerBudgets;
  /** The guard's checks of a message from a peer relay (`GuardedServerAdapter.checkFromPeerRelay`). */
  check(
    message: WireMessage,
    changes: readonly IncomingChange[],
    peerId: string,
    budgets: PeerBudgets,
  ): Promise<PeerRelayRefusal | undefined>;
  /** True when `peerId` is this relay's own id or one a connected client holds. */
  claimed(peerId: string): boolean;
  /** Told the id a peer relay answered our join with, once accepted (clients may not join under it). */
  joined(peerId: string): void;
}

/**
 * The connection a relay opens to each relay it peers with
 * (`CANON_RELAY_PEERS`), guarded like a client's connection to it. A relay
 * a peer relay's owner controls is as hostile as any client, and
 * automerge-repo's client adapter trusts what it hears: a storage id of
 * `../../..` in its answer to our join made the Repo save sync states (and
 * read them) outside the data directory; a change nesting 20,000 levels
 * across changes would trap Automerge for every tenant; and nothing bounded
 * how much it stored here for this relay's clients to load. So every
 * message from it is decoded and checked by the guard's schema
 * (`parseWireMessage`: ids, storage ids, sizes, chunks declaring too many
 * ops, changes nesting too deep) and then by the guard's checks of a
 * client's message (`checkFromPeerRelay`: the new-document and write
 * budgets, the document size limit, changes that apply and nest at most 64
 * deep in the document), in order; only the parsed message (unknown fields
 * dropped) goes on. A peer relay that breaks a rule is logged
 * (`peer-relay-refused`) and its connection closed; it is opened again
 * after a second, with the budgets it has spent. Its answer to our join
 * may not claim this relay's own peer id or a connected client's (the Repo
 * would route that client's messages to it).
 */
export class PeerRelayClient extends RelayClient {
  readonly #url: string;
  readonly #guard: PeerRelayGuard;
  /** Messages are checked one at a time, in order (some checks read the storage). */
  #queue: Promise<void> = Promise.resolve();
  /** The peer relay's id, from its answer to our join on the current connection. */
  #peerId: string | undefined;

  /** A connection to the relay `endpoint` names (its token in the query), retried every `retryInterval` ms. */
  constructor(endpoint: RelayEndpoint, retryInterval: number, guard: PeerRelayGuard) {
    super(socketUrlOf(endpoint), retryInterval);
    // What a client takes from a relay is bounded by a client's sense of a document; a peer
    // relay carries every client's changes and documents up to this relay's own limits, and
    // its messages pass this relay's guard (budgets, size limit) instead.
    this.allowanceLimits = {
      documentBytes: 2 * guard.limits.maxDocumentBytes,
      messageBytes:
        Math.max(guard.limits.maxMessageBytes, 2 * guard.limits.maxDocumentBytes) + 1024 * 1024,
      connectionBytes: Number.POSITIVE_INFINITY,
      connectionMessageBytes: Number.POSITIVE_INFINITY,
    };
    this.#url = shownUrl(endpoint.url);
    this.#guard = guard;
  }

  override connect(...args: Parameters<RelayClient["connect"]>): void {
    this.#peerId = undefined;
    super.connect(...args);
  }

  override receiveMessage(messageBytes: Uint8Array): void {
    const socket = this.socket;
    const bytes = new Uint8Array(messageBytes);
    if (!this.#guard.budgets.received.take(bytes.byteLength)) {
      this.#refuse({ kind: "quota", quota: "receiveBytesPerMinute" });
      return;
    }
    this.#queue = this.#queue
      .then(async () => {
        // A message of a connection already closed (a refused one) is dropped.
        if (this.socket !== socket || socket?.readyState !== socket?.OPEN) return;
        const refusal = await this.#check(bytes, socket);
        if (this.socket !== socket) return;
        if (refusal === undefined) return;
        if (refusal.kind === "unavailable") return;
        this.#refuse(refusal);
      })
      .catch((error: unknown) =>
        this.#refuse({ kind: "rule", reason: `relay error: ${describe(error)}` }),
      );
  }

  /**
   * Checks one message of the connection on `socket` and, when it passes and
   * that connection is still the current one, hands the parsed message on;
   * the refusal otherwise.
   */
  async #check(
    bytes: Uint8Array,
    socket: RelayClient["socket"],
  ): Promise<PeerRelayRefusal | undefined> {
    const parsed = parseWireMessage(bytes);
    if (!parsed.ok) return { kind: "rule", reason: parsed.reason };
    const { message } = parsed;
    if (message.type === "peer") {
      if (this.#peerId !== undefined) return { kind: "rule", reason: "answered join twice" };
      if (this.#guard.claimed(message.senderId))
        return { kind: "rule", reason: "claims this relay's or a client's peer id" };
      this.#peerId = message.senderId;
      this.#guard.joined(message.senderId);
    } else {
      if (this.#peerId === undefined)
        return { kind: "rule", reason: `sent ${message.type} before answering join` };
      const refusal = await this.#guard.check(
        message,
        parsed.changes,
        this.#peerId,
        this.#guard.budgets,
      );
      if (refusal?.kind === "unavailable") {
        this.send({
          type: "doc-unavailable",
          senderId: this.peerId as PeerId,
          targetId: this.#peerId as PeerId,
          documentId: (message as { documentId: string }).documentId,
        } as Message);
        return refusal;
      }
      if (refusal !== undefined) return refusal;
    }
    // A check may wait for storage: the connection it came on may be gone (refused, replaced).
    if (this.socket !== socket) return undefined;
    // Re-encoded from the parsed message: only checked fields go on.
    super.receiveMessage(cbor.encode(message));
    return undefined;
  }

  /** Logs the refusal and closes the connection (opened again after the retry interval). */
  #refuse(refusal: Exclude<PeerRelayRefusal, { kind: "unavailable" }>): void {
    const { log, metrics, limits } = this.#guard;
    if (refusal.kind === "quota") {
      metrics?.refused.inc({ reason: "quota-exceeded" });
      log.write("warn", "peer-relay-refused", {
        peer: this.#url,
        peerId: this.#peerId,
        reason: `quota exceeded: ${refusal.quota}`,
        limit: limits[refusal.quota],
      });
    } else {
      metrics?.refused.inc({ reason: "bad-message" });
      log.write("warn", "peer-relay-refused", {
        peer: this.#url,
        peerId: this.#peerId,
        reason: refusal.reason,
      });
    }
    this.lastError = new Error(
      `the peer relay ${this.#url} was refused: ${
        refusal.kind === "quota" ? `quota exceeded: ${refusal.quota}` : refusal.reason
      }`,
    );
    this.socket?.close();
  }
}

/** The peer relay's URL as logged: scheme, host and path, never a token (query) or a password (user info). */
function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return "(a relay URL that does not parse)";
  }
}

/** An error's message, one line and short: it goes into a log. */
function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, " ").slice(0, 200);
}

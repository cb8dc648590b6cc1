import type { IncomingMessage } from "node:http";
import * as A from "@automerge/automerge";
import {
  cbor,
  type Message,
  type PeerId,
  type PeerMetadata,
  type Repo,
  type StorageAdapterInterface,
} from "@automerge/automerge-repo";
import {
  type FromServerMessage,
  WebSocketServerAdapter,
} from "@automerge/automerge-repo-network-websocket";
import { ACCESS_REFUSED_CLOSE_CODE, chunksApply } from "@canon/store";
import type { WebSocket, WebSocketServer } from "ws";
import { type AccessGrant, ALL_ACCESS } from "../access/access-grant.js";
import type { SpaceAccess } from "../access/space-access.js";
import type { RelayLimits } from "../limits.js";
import type { DocumentActivity } from "../memory/idle-eviction.js";
import type { RefusalReason, RelayMetrics } from "../metrics.js";
import type { RelayLog } from "../relay-log.js";
import { AddressBudgets } from "./address-budgets.js";
import type { DocumentSizes } from "./document-sizes.js";
import { RateBudget } from "./rate-budget.js";
import { storedDocument } from "./stored-document.js";
import {
  type IncomingChange,
  MAX_CHANGE_NESTING,
  parseWireMessage,
  type WireMessage,
} from "./wire-message.js";

/** Why a sync message whose changes do not apply to the document is refused. */
const DOES_NOT_APPLY = "sync message does not apply to the document";

/** What the guard needs besides the WebSocket server. */
export interface GuardOptions {
  readonly limits: RelayLimits;
  readonly log: RelayLog;
  readonly sizes: DocumentSizes;
  /** The relay's storage, to try changes on a document not yet in memory. */
  readonly storage: StorageAdapterInterface;
  /** Which documents each connection's token opens; every connection may touch everything when absent. */
  readonly access?: SpaceAccess | undefined;
  /** The grant of the token a connection presented at the upgrade (which refused any without one). */
  readonly grantOf?: (request: IncomingMessage) => AccessGrant | undefined;
  /** The client a connection comes from, whose budgets it draws on (see `client-address.ts`); the socket's peer when absent. */
  readonly addressOf?: (request: IncomingMessage) => string | undefined;
  /**
   * Resolves once everything the relay holds of a document is stored
   * (committed). A sync message to a peer whose changes to the document are
   * not yet known to be stored waits for it before it leaves, so that peer
   * never hears heads including its changes, and so never decides it is
   * synced, before they are durable. Messages to one peer keep their order.
   */
  readonly stored?: (documentId: string) => Promise<void>;
  /** Counters and histograms for `/metrics`. */
  readonly metrics?: RelayMetrics;
  /** How often each peer is pinged ({@link KEEP_ALIVE_MS} by default). */
  readonly keepAliveMs?: number | undefined;
  /** Told of every message about a document, so idle documents can leave memory (see `memory/`). */
  readonly activity?: DocumentActivity | undefined;
  /**
   * True for the peer id of a relay this one peers with. A connection
   * joining under it must hold the admin token (as a peer relay does): the
   * Repo shares every document with that id and routes its messages to the
   * last connection that claimed it.
   */
  readonly peerRelay?: ((peerId: string) => boolean) | undefined;
}

/**
 * What one peer may still spend: a connection's (see {@link Connection}), or
 * a relay this one peers with ({@link GuardedServerAdapter.checkFromPeerRelay}).
 */
export interface PeerBudgets {
  /** Bytes the peer may send. */
  readonly received: RateBudget;
  /** Bytes of new changes the peer may write. */
  readonly written: RateBudget;
  /** Documents the relay did not hold the peer may name. */
  readonly created: RateBudget;
  /** Milliseconds the relay may spend checking the peer's changes (see {@link RelayLimits.checkMillisPerMinute}). */
  readonly checked: RateBudget;
  /** Documents this peer has named, each counted once against {@link PeerBudgets.created}. */
  readonly named: Set<string>;
}

/** The budgets of a new peer under `limits` (a relay this one peers with has its own, not an address's). */
export function peerBudgets(limits: RelayLimits): PeerBudgets {
  return {
    received: new RateBudget(limits.receiveBytesPerMinute),
    written: new RateBudget(limits.writeBytesPerMinute),
    created: new RateBudget(limits.newDocumentsPerMinute),
    checked: new RateBudget(limits.checkMillisPerMinute),
    named: new Set(),
  };
}

/** Why {@link GuardedServerAdapter.checkFromPeerRelay} refused a message: a quota, or a rule broken. */
export type PeerRelayRefusal =
  | { readonly kind: "quota"; readonly quota: keyof RelayLimits }
  | { readonly kind: "unavailable" }
  | { readonly kind: "rule"; readonly reason: string };

/**
 * One peer's socket, as the guard sees it. Its `written` and `created`
 * budgets are shared by every connection from the same address (see
 * {@link AddressBudgets}).
 */
interface Connection extends PeerBudgets {
  readonly remoteAddress: string;
  /** What the connection's token opens. */
  readonly grant: AccessGrant;
  /** Documents {@link GuardOptions.access} already let this connection touch (reads; writes also need a write grant). */
  readonly allowed: Set<string>;
  /** Set by the peer's one `join`; every later message must come from it. */
  peerId: string | undefined;
  /** Messages are checked one at a time, in order (some checks read the disk). */
  queue: Promise<void>;
  closed: boolean;
  bytesReceived: number;
  messages: number;
}

/**
 * How often the relay pings each peer; one that has neither answered the
 * last ping nor sent anything since is dropped. Upstream pings every 5 s and
 * counts only pongs, so a client pushing a space of many large documents,
 * whose pong waits behind its own messages, or either side busy for a few
 * seconds (a fold, a large document stored), lost its connection (close
 * 1006) mid-sync; and a relay busy loading many documents ran the check
 * before reading the pongs waiting on its sockets and cut healthy clients
 * (which reconnected and loaded again). A peer that is really gone still goes within a minute.
 */
const KEEP_ALIVE_MS = 30_000;

/**
 * How long a sync message's check waits for the Repo to apply the message
 * before it about the same document. Without the wait, on a document only on
 * disk (a restarted relay), two messages sent back to back were both checked
 * against the stored document: 60 levels and then 104 more, each message
 * within the limit, nested the document 164 deep. Past the wait (the Repo
 * stuck loading the document) the check goes on against what is there.
 */
const REPO_WAIT_MS = 5000;

/** How long a peer told to go (close 1008) has to answer the close before its socket is cut. */
const CLOSE_GRACE_MS = 1000;

/**
 * automerge-repo's WebSocket server adapter with a guard in front: every
 * socket gets an error handler (an unmasked frame or an oversized message
 * makes `ws` emit `error`, which upstream leaves unhandled and so kills the
 * process); every message is decoded and checked ({@link parseWireMessage})
 * and counted against its connection's budgets and the document size limit
 * before the adapter or the Repo sees it; and a peer that breaks any rule is
 * logged and disconnected, while the others keep syncing.
 */
export class GuardedServerAdapter extends WebSocketServerAdapter {
  readonly #server: WebSocketServer;
  readonly #options: GuardOptions;
  readonly #connections = new WeakMap<WebSocket, Connection>();
  /**
   * The write and new-document budgets, per remote address: a peer that
   * reconnects (or opens many sockets) draws on what it already spent,
   * rather than starting each connection with a fresh minute's worth.
   */
  readonly #written: AddressBudgets;
  readonly #created: AddressBudgets;
  /** The time checking each address's changes may take (its changes are tried on a copy of the document). */
  readonly #checked: AddressBudgets;
  #repo: Repo | undefined;
  /** Per peer and document (`peer document`, or the peer alone), the last message on its way out: each waits for the one before. */
  readonly #outgoing = new Map<string, Promise<void>>();
  /** When changes from a peer to a document arrived (`peer document`), until the relay answers. */
  readonly #arrived = new Map<string, number>();
  /**
   * Per `peer document`, the hashes of the changes that peer sent which are
   * not yet known to be stored ("?" for a change whose hash did not decode:
   * cleared by the next wait for storage).
   */
  readonly #unstored = new Map<string, Set<string>>();
  /**
   * Per document, the Repo's handling of the last message about it, until
   * it settles: the next message's changes are checked against the document
   * once the Repo applied the ones before (see {@link REPO_WAIT_MS}).
   */
  readonly #inRepo = new Map<string, Promise<void>>();

  /** Guards the connections `server` accepts; call {@link GuardedServerAdapter.guardRepo} once the Repo exists. */
  constructor(server: WebSocketServer, options: GuardOptions) {
    super(
      server as unknown as ConstructorParameters<typeof WebSocketServerAdapter>[0],
      options.keepAliveMs ?? KEEP_ALIVE_MS,
    );
    this.#server = server;
    this.#options = options;
    this.#written = new AddressBudgets(options.limits.writeBytesPerMinute);
    this.#created = new AddressBudgets(options.limits.newDocumentsPerMinute);
    this.#checked = new AddressBudgets(options.limits.checkMillisPerMinute);
  }

  /**
   * Catches what the Repo throws while handling a message that passed the
   * guard (a sync message whose changes decode but do not apply, for one),
   * which upstream only prints to stdout, and disconnects the sender.
   * Replaces `repo.synchronizer.receiveMessage` on this one instance: the
   * Repo offers no hook for it.
   */
  guardRepo(repo: Repo): void {
    this.#repo = repo;
    const synchronizer = repo.synchronizer;
    const receive = synchronizer.receiveMessage.bind(synchronizer);
    const activity = this.#options.activity;
    synchronizer.receiveMessage = async (message) => {
      activity?.begin(message.documentId);
      const documentId = message.documentId;
      const handled = (async () => {
        try {
          await receive(message);
        } catch (error) {
          this.#repoError(message.senderId, error);
        } finally {
          activity?.end(message.documentId);
        }
      })();
      if (documentId !== undefined) {
        this.#inRepo.set(documentId, handled);
        void handled.then(() => {
          if (this.#inRepo.get(documentId) === handled) this.#inRepo.delete(documentId);
        });
      }
      await handled;
    };
  }

  override connect(peerId: PeerId, peerMetadata?: PeerMetadata): void {
    // Registered before the adapter's own listener, so every socket has an
    // error handler and a connection record before it can deliver a message.
    this.#server.on("connection", (socket: WebSocket, request: IncomingMessage) =>
      this.#open(socket, request),
    );
    super.connect(peerId, peerMetadata);
  }

  /**
   * Sends a message to a peer; a sync message to a peer with changes to the
   * document not yet known to be stored first waits for
   * {@link GuardOptions.stored} (see there). Other peers get the relay's
   * changes at once: what they hear of is not theirs to lose, and the
   * writer's copy stays unacknowledged until it is stored. Messages to one
   * peer about one document leave in the order the Repo sent them; documents
   * do not wait for each other (a commit per document would add up).
   */
  override send(message: FromServerMessage): void {
    const target = message.targetId as string;
    const about = "documentId" in message ? message.documentId : undefined;
    const queue = about === undefined ? target : `${target} ${about}`;
    const previous = this.#outgoing.get(queue);
    const stored = this.#options.stored;
    const documentId = message.type === "sync" ? about : undefined;
    const unstored =
      documentId === undefined ? undefined : this.#unstored.get(`${target} ${documentId}`);
    const waits = stored !== undefined && unstored !== undefined && unstored.size > 0;
    const activity = this.#options.activity;
    if (about !== undefined) activity?.touch(about);
    if (previous === undefined && !waits) {
      this.#sendNow(message);
      return;
    }
    if (about !== undefined) activity?.begin(about);
    const next = (previous ?? Promise.resolve())
      .then(async () => {
        if (stored !== undefined && documentId !== undefined && unstored !== undefined) {
          // The state `stored` saves is this one (documents are immutable values).
          const handle = this.#repo?.handles[documentId as never];
          const snapshot = handle?.isReady() ? handle.doc() : undefined;
          await stored(documentId);
          for (const hash of [...unstored])
            if (hash === "?" || (snapshot !== undefined && A.hasHeads(snapshot, [hash])))
              unstored.delete(hash);
          if (unstored.size === 0) this.#unstored.delete(`${target} ${documentId}`);
        }
        this.#sendNow(message);
      })
      .catch((error: unknown) => {
        // Not stored (the storage closed): the message is dropped, and the peer never hears of those heads.
        this.#options.log.write("warn", "repo-error", {
          peerId: target,
          error: `not sent, not stored: ${describe(error)}`,
        });
      })
      .finally(() => {
        if (about !== undefined) activity?.end(about);
        if (this.#outgoing.get(queue) === next) this.#outgoing.delete(queue);
      });
    this.#outgoing.set(queue, next);
  }

  #sendNow(message: FromServerMessage): void {
    const socket = this.sockets[message.targetId as PeerId];
    if (socket === undefined) return;
    if ("data" in message && message.data?.byteLength === 0) return;
    const encoded = cbor.encode(message);
    socket.send(encoded);
    const metrics = this.#options.metrics;
    metrics?.bytesOut.inc(encoded.byteLength);
    if (metrics !== undefined && message.type === "sync") {
      const key = `${message.targetId} ${message.documentId}`;
      const since = this.#arrived.get(key);
      if (since !== undefined) {
        this.#arrived.delete(key);
        metrics.syncSeconds.observe((performance.now() - since) / 1000);
      }
    }
  }

  override receiveMessage(messageBytes: Uint8Array, socket: WebSocket): void {
    const connection = this.#connections.get(socket);
    if (connection === undefined || connection.closed) return;
    // A peer that sends is alive, whether or not its answer to the last ping
    // got through yet: it queues behind the megabytes it is sending.
    (socket as WebSocket & { isAlive?: boolean }).isAlive = true;
    this.#options.metrics?.bytesIn.inc(messageBytes.byteLength);
    connection.bytesReceived += messageBytes.byteLength;
    connection.messages += 1;
    if (!connection.received.take(messageBytes.byteLength)) {
      this.#quotaExceeded(socket, connection, "receiveBytesPerMinute");
      return;
    }
    connection.queue = connection.queue
      .then(() => this.#check(messageBytes, socket, connection))
      .catch((error: unknown) =>
        this.#disconnect(socket, connection, `relay error: ${describe(error)}`),
      );
  }

  #open(socket: WebSocket, request: IncomingMessage): void {
    const { limits, log } = this.#options;
    const grant = this.#options.grantOf ? this.#options.grantOf(request) : ALL_ACCESS;
    if (grant === undefined) {
      // The upgrade already refused this; never serve a socket without a grant.
      socket.terminate();
      return;
    }
    const address = this.#options.addressOf
      ? this.#options.addressOf(request)
      : request.socket.remoteAddress;
    const connection: Connection = {
      remoteAddress: `${address ?? "?"}:${request.socket.remotePort ?? "?"}`,
      grant,
      allowed: new Set(),
      peerId: undefined,
      received: new RateBudget(limits.receiveBytesPerMinute),
      written: this.#written.of(address),
      created: this.#created.of(address),
      checked: this.#checked.of(address),
      named: new Set(),
      queue: Promise.resolve(),
      closed: false,
      bytesReceived: 0,
      messages: 0,
    };
    this.#connections.set(socket, connection);
    socket.on("error", (error: Error & { code?: string }) => {
      // `ws` closes the socket itself after a protocol error.
      if (connection.closed) return;
      connection.closed = true;
      this.#refused("protocol-error");
      log.write("warn", "peer-disconnected", {
        peerId: connection.peerId,
        remoteAddress: connection.remoteAddress,
        reason:
          error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
            ? `message over ${limits.maxMessageBytes} bytes`
            : `protocol error: ${error.message}`,
      });
    });
    socket.on("close", (code: number) => {
      connection.closed = true;
      log.write("info", "connection-closed", {
        peerId: connection.peerId,
        remoteAddress: connection.remoteAddress,
        code,
        bytesReceived: connection.bytesReceived,
        messages: connection.messages,
      });
    });
    log.write("info", "connection-opened", { remoteAddress: connection.remoteAddress });
  }

  async #check(bytes: Uint8Array, socket: WebSocket, connection: Connection): Promise<void> {
    if (connection.closed) return;
    // Reading a change's ops costs about 0.4 µs a byte of the values it holds (10 s for
    // one of 25 MB), written or already known: the time counts against the same budget.
    await this.#checkTurn(connection, connection.checked);
    if (connection.closed) return;
    const began = performance.now();
    const parsed = parseWireMessage(bytes);
    connection.checked.spend(performance.now() - began);
    if (!parsed.ok) return this.#disconnect(socket, connection, parsed.reason);
    const { message } = parsed;
    if (message.type === "join") {
      if (connection.peerId !== undefined)
        return this.#disconnect(socket, connection, "joined twice");
      if (message.senderId === this.peerId)
        return this.#disconnect(socket, connection, "claims the relay's own peer id");
      if (connection.grant.kind !== "all" && this.#options.peerRelay?.(message.senderId) === true)
        return this.#disconnect(
          socket,
          connection,
          "claims the peer id of a relay this one peers with",
        );
      // A join under a peer id another socket holds takes that socket's place, and with it
      // the messages still on their way to it: only for a token that may read all it could.
      const holder = this.sockets[message.senderId as PeerId] as WebSocket | undefined;
      const held = holder === undefined ? undefined : this.#connections.get(holder);
      if (held !== undefined && !held.closed && !covers(connection.grant, held.grant))
        return this.#disconnect(
          socket,
          connection,
          "claims the peer id of another token's connection",
        );
      connection.peerId = message.senderId;
      this.#options.log.write("info", "peer-joined", {
        peerId: message.senderId,
        remoteAddress: connection.remoteAddress,
      });
      // Re-encoded from the parsed message: only checked fields go on.
      super.receiveMessage(cbor.encode(message), socket);
      return;
    }
    if (connection.peerId === undefined)
      return this.#disconnect(socket, connection, `sent ${message.type} before joining`);
    if (message.senderId !== connection.peerId)
      return this.#disconnect(socket, connection, "speaks for another peer id");
    if (message.type === "leave" || message.type === "peer" || message.type === "error") return;
    if (message.targetId !== this.peerId)
      return this.#disconnect(socket, connection, "addressed to another peer");
    const activity = this.#options.activity;
    if (activity === undefined || !("documentId" in message))
      return this.#checkDocumentMessage(message, parsed.changes, socket, connection);
    // A document being evicted is dropped first, then loaded again for this message.
    await activity.settled(message.documentId);
    activity.begin(message.documentId);
    try {
      return await this.#checkDocumentMessage(message, parsed.changes, socket, connection);
    } finally {
      activity.end(message.documentId);
    }
  }

  /** The checks of a message from a joined peer, addressed to the relay; passes it to the Repo if it passes. */
  async #checkDocumentMessage(
    message: WireMessage,
    changes: readonly IncomingChange[],
    socket: WebSocket,
    connection: Connection,
  ): Promise<void> {
    const parsed = { changes };
    if ("documentId" in message) {
      const writes =
        (message.type === "sync" || message.type === "request") && parsed.changes.length > 0;
      const refused = await this.#refusal(connection, message.documentId, writes);
      if (refused !== undefined) return this.#refuse(socket, connection, refused);
    }
    if (
      message.type === "sync" ||
      message.type === "request" ||
      message.type === "doc-unavailable" ||
      message.type === "ephemeral"
    ) {
      if (!(await this.#mayName(connection, message.documentId))) {
        // Only asking (a space routing thousands of documents that exist nowhere makes
        // every reader ask): told the relay has none, at once, instead of being cut off.
        if (message.type === "request" && parsed.changes.length === 0)
          return this.#unavailable(message);
        return this.#quotaExceeded(socket, connection, "newDocumentsPerMinute");
      }
    }
    if ((message.type === "sync" || message.type === "request") && parsed.changes.length > 0) {
      const refused = await this.#mayWrite(connection, message.documentId, parsed.changes);
      if (refused !== undefined) return this.#quotaExceeded(socket, connection, refused);
      const refusal = await this.#applies(message.documentId, message.data, connection.checked);
      if (refusal !== undefined) return this.#disconnect(socket, connection, refusal);
      const key = `${message.senderId} ${message.documentId}`;
      if (this.#options.metrics !== undefined && !this.#arrived.has(key))
        this.#arrived.set(key, performance.now());
      const unstored = this.#unstored.get(key) ?? new Set<string>();
      for (const change of parsed.changes) unstored.add(change.hash ?? "?");
      this.#unstored.set(key, unstored);
    }
    if (connection.closed) return;
    // The adapter's own rule: a socket whose peer id a later join took over no longer speaks for it.
    if (this.sockets[message.senderId as PeerId] !== socket) return;
    this.emit("message", message as WireMessage & Message);
  }

  /**
   * The checks a message from a relay this one peers with gets, after
   * {@link parseWireMessage}: the same as a client's past its token (a peer
   * relay holds the admin token): it must come from `peerId` (the id the
   * peer relay answered our join with) and be addressed to this relay; a
   * document the relay does not hold costs its new-document budget (past
   * it, a request that only asks is answered unavailable); new changes
   * cost its write budget and may not grow a document past the size limit;
   * and they must apply to the document and nest nothing over
   * {@link MAX_CHANGE_NESTING} deep in it (one level per change or not).
   * Without them a peer relay could store anything in this relay, without
   * end, for its clients to load, and one sync message of 20,000 changes
   * one level deep each traps Automerge for every tenant. Undefined when
   * the message may go on to the Repo. Cost: as a client's message.
   */
  async checkFromPeerRelay(
    message: WireMessage,
    changes: readonly IncomingChange[],
    peerId: string,
    budgets: PeerBudgets,
  ): Promise<PeerRelayRefusal | undefined> {
    if (message.type === "join") return { kind: "rule", reason: "a relay sent join" };
    if (message.senderId !== peerId) return { kind: "rule", reason: "speaks for another peer id" };
    if (message.type === "leave" || message.type === "error") return undefined;
    if (message.targetId !== this.peerId)
      return { kind: "rule", reason: "addressed to another peer" };
    if (!("documentId" in message)) return undefined;
    const activity = this.#options.activity;
    await activity?.settled(message.documentId);
    activity?.begin(message.documentId);
    try {
      const writes = (message.type === "sync" || message.type === "request") && changes.length > 0;
      if (
        message.type === "sync" ||
        message.type === "request" ||
        message.type === "doc-unavailable" ||
        message.type === "ephemeral"
      ) {
        if (!(await this.#mayName(budgets, message.documentId)))
          return message.type === "request" && !writes
            ? { kind: "unavailable" }
            : { kind: "quota", quota: "newDocumentsPerMinute" };
      }
      if (!writes || !("data" in message)) return undefined;
      const quota = await this.#mayWrite(budgets, message.documentId, changes);
      if (quota !== undefined) return { kind: "quota", quota };
      await this.#checkTurn({ peerId, remoteAddress: "peer relay" }, budgets.checked);
      const refusal = await this.#applies(message.documentId, message.data, budgets.checked);
      return refusal === undefined ? undefined : { kind: "rule", reason: refusal };
    } finally {
      activity?.end(message.documentId);
    }
  }

  /** True when a client connected to this relay holds `peerId` (a peer relay claiming it would take its messages). */
  holdsPeer(peerId: string): boolean {
    const socket = this.sockets[peerId as PeerId] as WebSocket | undefined;
    const held = socket === undefined ? undefined : this.#connections.get(socket);
    return held !== undefined && !held.closed;
  }

  /** Why the connection's token may not touch `documentId` (with changes when `writes`), or undefined. */
  async #refusal(
    connection: Connection,
    documentId: string,
    writes: boolean,
  ): Promise<string | undefined> {
    const { grant } = connection;
    const access = this.#options.access;
    if (grant.kind === "all" || access === undefined) return undefined;
    if (writes && !grant.write) return `read-only token: changes to ${documentId} refused`;
    if (connection.allowed.has(documentId)) return undefined;
    const refused = await access.refusal(grant, documentId, writes);
    if (refused === undefined) connection.allowed.add(documentId);
    return refused;
  }

  /**
   * Logs the refusal and closes the socket with {@link ACCESS_REFUSED_CLOSE_CODE}
   * and the reason, so the client reports `RELAY_REFUSED` saying what was
   * refused rather than a lost connection. Closing (rather than answering
   * `doc-unavailable`) also ends a sync that would otherwise wait for heads
   * the relay will never send.
   */
  #refuse(socket: WebSocket, connection: Connection, reason: string): void {
    if (connection.closed) return;
    connection.closed = true;
    this.#refused("access-refused");
    this.#options.log.write("warn", "access-refused", {
      peerId: connection.peerId,
      remoteAddress: connection.remoteAddress,
      reason,
    });
    // A close reason is at most 123 bytes; the reasons are ASCII.
    socket.close(ACCESS_REFUSED_CLOSE_CODE, reason.slice(0, 120));
    setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  /**
   * Past the new-document budget, a request that only asks for a document
   * the relay does not hold never reaches the Repo (which would keep a
   * handle for it): it is answered `doc-unavailable`, as the Repo would
   * answer it, so the client reports the document missing rather than
   * losing its connection. Costs one storage check.
   */
  #unavailable(message: { readonly senderId: string; readonly documentId: string }): void {
    this.#sendNow({
      type: "doc-unavailable",
      senderId: this.peerId as PeerId,
      targetId: message.senderId as PeerId,
      documentId: message.documentId,
    } as FromServerMessage);
  }

  /** False when naming `documentId` would create one document more than the connection's budget allows. */
  async #mayName(connection: PeerBudgets, documentId: string): Promise<boolean> {
    if (connection.named.has(documentId)) return true;
    const allowed =
      this.#repo?.handles[documentId as never]?.isReady() === true ||
      (await this.#options.sizes.isStored(documentId)) ||
      connection.created.take(1);
    // A document refused here is counted again the next time it is named.
    if (allowed) connection.named.add(documentId);
    return allowed;
  }

  /**
   * Why the sync message's changes may not be taken (undefined when they
   * apply to a copy of the document and nest at most 64 deep).
   * Automerge applies a change's ops one by one and does not roll back: a
   * change naming an object that does not exist throws halfway and leaves the
   * document unloadable for every peer that later fetches it. So the changes
   * are tried on a clone first (read from disk when not in memory).
   * Automerge also patches nested objects recursively, and traps on a
   * document nesting some 20,000 deep however many changes built it, so the
   * changes are first applied to a copy without patches ({@link chunksApply})
   * and refused when an object they create would sit more than
   * {@link MAX_CHANGE_NESTING} deep in the document: each new object's depth
   * is the length of its path on the copy, which Automerge builds in a loop.
   * That is exact (it reads the document as it would be), needs no
   * per-document state to keep in step with the Repo, and costs one path of
   * at most 64 steps per object created.
   * Cost: a clone of the document per sync message that carries changes.
   */
  async #applies(
    documentId: string,
    data: Uint8Array,
    checked: RateBudget,
  ): Promise<string | undefined> {
    const inRepo = this.#inRepo.get(documentId);
    if (inRepo !== undefined) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        inRepo,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, REPO_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    const handle = this.#repo?.handles[documentId as never];
    const doc = handle?.isReady()
      ? handle.doc()
      : await storedDocument(this.#options.storage, documentId);
    const began = performance.now();
    try {
      const { changes } = A.decodeSyncMessage(data);
      const applied = chunksApply(doc, changes, MAX_CHANGE_NESTING);
      if (!applied.ok && applied.reason === "too-deep")
        return `sync message nests objects over ${MAX_CHANGE_NESTING} deep in the document`;
      if (!applied.ok) return DOES_NOT_APPLY;
      A.receiveSyncMessage(A.clone(doc), A.initSyncState(), data);
      return undefined;
    } catch {
      return DOES_NOT_APPLY;
    } finally {
      checked.spend(performance.now() - began);
    }
  }

  /**
   * Waits, when the peer's checks took more of the relay's thread than
   * {@link RelayLimits.checkMillisPerMinute} allows, until that budget has
   * refilled: each check copies the document, which costs in proportion to
   * the document however small the message (a second for 112 bytes of
   * change to a 20 MB document), so without it a few hundred bytes a second
   * from one address froze the relay for every tenant. The peer's own
   * messages wait (they are checked one at a time, in order); nothing is
   * refused, so an honest client pushing a large space only slows down.
   * Logged once per wait (`checks-delayed`).
   */
  async #checkTurn(
    peer: { readonly peerId: string | undefined; readonly remoteAddress: string },
    checked: RateBudget,
  ): Promise<void> {
    const waitMs = checked.msUntilAvailable();
    if (waitMs === 0) return;
    this.#options.log.write("info", "checks-delayed", {
      peerId: peer.peerId,
      remoteAddress: peer.remoteAddress,
      waitMs,
      limit: this.#options.limits.checkMillisPerMinute,
    });
    await new Promise((resolve) => setTimeout(resolve, waitMs).unref());
  }

  /** The quota that writing `changes` to `documentId` would exceed, or undefined (and the bytes counted). */
  async #mayWrite(
    connection: PeerBudgets,
    documentId: string,
    changes: readonly IncomingChange[],
  ): Promise<keyof RelayLimits | undefined> {
    const handle = this.#repo?.handles[documentId as never];
    const doc = handle?.isReady() ? handle.doc() : undefined;
    let bytes = 0;
    for (const change of changes) {
      const known =
        doc !== undefined && change.hash !== undefined && A.hasHeads(doc, [change.hash]);
      if (!known) bytes += change.bytes;
    }
    if (bytes === 0) return undefined;
    const { sizes, limits } = this.#options;
    if ((await sizes.sizeOf(documentId)) + bytes > limits.maxDocumentBytes)
      return "maxDocumentBytes";
    if (!connection.written.take(bytes)) return "writeBytesPerMinute";
    sizes.add(documentId, bytes);
    return undefined;
  }

  #quotaExceeded(socket: WebSocket, connection: Connection, quota: keyof RelayLimits): void {
    if (connection.closed) return;
    this.#options.log.write("warn", "quota-exceeded", {
      peerId: connection.peerId,
      remoteAddress: connection.remoteAddress,
      quota,
      limit: this.#options.limits[quota],
    });
    this.#disconnect(socket, connection, `quota exceeded: ${quota}`, "quota-exceeded");
  }

  #refused(reason: RefusalReason): void {
    this.#options.metrics?.refused.inc({ reason });
  }

  #repoError(senderId: PeerId, error: unknown): void {
    const socket = this.sockets[senderId] as WebSocket | undefined;
    const connection = socket ? this.#connections.get(socket) : undefined;
    if (socket === undefined || connection === undefined) {
      // A peered relay (another adapter) or a peer already gone.
      this.#options.log.write("warn", "repo-error", { peerId: senderId, error: describe(error) });
      return;
    }
    this.#disconnect(socket, connection, `message refused by the repo: ${describe(error)}`);
  }

  /** Logs why and closes the socket (1008, policy violation); cuts it if the peer does not answer the close. */
  #disconnect(
    socket: WebSocket,
    connection: Connection,
    reason: string,
    counted: RefusalReason = "bad-message",
  ): void {
    if (connection.closed) return;
    connection.closed = true;
    this.#refused(counted);
    this.#options.log.write("warn", "peer-disconnected", {
      peerId: connection.peerId,
      remoteAddress: connection.remoteAddress,
      reason,
    });
    socket.close(1008, "policy violation");
    setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
  }
}

/** True when `taker` opens every document `held` opens (the admin token opens all). */
function covers(taker: AccessGrant, held: AccessGrant): boolean {
  if (taker.kind === "all") return true;
  if (held.kind === "all") return false;
  return [...held.spaces].every((space) => taker.spaces.has(space));
}

/** An error's message, one line and short: it goes into a log, and may quote a peer. */
function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, " ").slice(0, 200);
}

import * as A from "@automerge/automerge";
import { cbor } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import {
  chunksApply,
  createsObjects,
  MAX_DOCUMENT_NESTING,
  syncMessageTooDeep,
} from "./document-depth.js";
import { isPlainPeerId, isStorageId } from "./peer-identity.js";
import {
  type RelayAllowance,
  type RelayAllowanceLimits,
  relayAllowanceOf,
} from "./relay-allowance.js";

type Socket = NonNullable<WebSocketClientAdapter["socket"]>;
type ConnectArgs = Parameters<WebSocketClientAdapter["connect"]>;

/**
 * automerge-repo's WebSocket client, hardened for a CLI: an error on the
 * socket (a refused upgrade, a reset connection) or a message it cannot
 * handle is recorded and the connection closed, instead of being thrown
 * from an event listener, which would kill the process. A socket that
 * closes without {@link RelayClient.disconnect} is recorded too, so a caller
 * waiting on the relay notices at once instead of at its timeout.
 *
 * It never holds more than one socket to the relay. Upstream retries by
 * calling `connect()` again (every `retryInterval` while a handshake has not
 * finished, and once `retryInterval` after an open connection closed), and
 * its `connect()` only unhooks the socket it gives up on, which then stays
 * open on the relay. Here that socket is terminated, and the next one opened
 * once it has closed. The retry after a close is this class's own timer
 * (upstream's cannot be cancelled): {@link RelayClient.disconnect} cancels
 * it and upstream's interval, so nothing opens a socket after it, while a
 * caller's `connect()` after it connects again.
 */
export class RelayClient extends WebSocketClientAdapter {
  /** The last socket or protocol error, for the caller's message. */
  lastError: Error | undefined;

  /**
   * How the current connection ended, when the other side (or the network)
   * closed it: undefined while it is open or connecting, or when this side
   * closed it with {@link RelayClient.disconnect}. A new attempt clears it.
   */
  lostConnection: { readonly code: number; readonly reason: string } | undefined;

  /** Whether the current socket opened (upstream's retry interval stops when one does). */
  #opened = false;

  /** The retry due after an open connection closed; cancelled by {@link RelayClient.disconnect}. */
  #retryAfterClose: ReturnType<typeof setTimeout> | undefined;

  /** A socket given up on (by a retry or {@link RelayClient.disconnect}) that has not closed yet. */
  #closing: Socket | undefined;

  /** The connection to open once {@link RelayClient.#closing} has closed. */
  #openWhenClosed: ConnectArgs | undefined;

  /**
   * Opens a connection (a caller's, or one of upstream's retries): the
   * socket it replaces is terminated (one {@link RelayClient.disconnect} is
   * closing is left to finish), and the new one opens only once that has
   * closed, so the relay never sees two sockets from this client.
   */
  override connect(...args: ConnectArgs): void {
    clearTimeout(this.#retryAfterClose);
    this.#retryAfterClose = undefined;
    if (this.#openWhenClosed) {
      // Already waiting for the previous socket to close; this retry adds nothing.
      this.#openWhenClosed = args;
      return;
    }
    const previous = this.socket;
    if (previous) this.#abandon(previous);
    const closing = this.#closing;
    if (closing && closing.readyState !== closing.CLOSED) {
      // A socket `disconnect()` closes gracefully is waited for too (ws gives up on the
      // closing handshake after 30 s): resetting it, the relay might see the next socket
      // before this one's end. An abandoned socket stays `this.socket` meanwhile, so
      // `disconnect()` still runs upstream's, which stops its retry interval.
      this.#openWhenClosed = args;
      closing.addEventListener("close", () => {
        const pending = this.#openWhenClosed;
        this.#openWhenClosed = undefined;
        if (pending) this.connect(...pending);
      });
      return;
    }
    this.#closing = undefined;
    this.lostConnection = undefined;
    this.droppedMessage = undefined;
    this.allowance = relayAllowanceOf(this.url, this.allowanceLimits);
    this.#opened = false;
    super.connect(...args);
    this.socket?.addEventListener("open", this.#markOpened);
    this.socket?.addEventListener("close", this.#recordLoss);
  }

  readonly #markOpened = () => {
    this.#opened = true;
  };

  readonly #recordLoss = (event: { code: number; reason: string }) => {
    this.lostConnection = { code: event.code, reason: String(event.reason) };
  };

  /**
   * Unhooks a socket this client gives up on and, unless it has closed
   * already, terminates it (no closing handshake: it may still be connecting,
   * and a busy relay's close frame is what is not being waited for).
   */
  #abandon(socket: Socket): void {
    socket.removeEventListener("open", this.onOpen);
    socket.removeEventListener("close", this.onClose);
    socket.removeEventListener("message", this.onMessage);
    socket.removeEventListener("error", this.onError);
    socket.removeEventListener("open", this.#markOpened);
    socket.removeEventListener("close", this.#recordLoss);
    if (socket.readyState === socket.CLOSED) return;
    // Aborting a handshake emits an error, which must not be thrown.
    socket.addEventListener("error", ignore);
    terminate(socket);
    this.#closing = socket;
  }

  /**
   * Upstream's close handler, with the retry on this class's timer: it tells
   * Repo the peer is gone and, when this socket had opened (otherwise
   * upstream's retry interval is still running), connects again after
   * `retryInterval`.
   */
  override onClose = () => {
    if (this.remotePeerId) this.emit("peer-disconnected", { peerId: this.remotePeerId });
    if (this.retryInterval > 0 && this.#opened && !this.#retryAfterClose) {
      this.#retryAfterClose = setTimeout(() => {
        this.#retryAfterClose = undefined;
        if (this.peerId) this.connect(this.peerId, this.peerMetadata);
      }, this.retryInterval);
    }
  };

  override onError = (event: unknown) => {
    const error = (event as { error?: Error }).error;
    this.lastError = error ?? new Error("WebSocket error");
  };

  /**
   * Closes the connection and cancels every retry; a later `connect()`
   * connects again. Safe to call more than once (upstream asserts on a
   * second call), and while the handshake is still under way (upstream
   * removes its error listener first, and closing a connecting socket emits
   * an error, which would then be thrown and kill the process).
   */
  override disconnect(): void {
    clearTimeout(this.#retryAfterClose);
    this.#retryAfterClose = undefined;
    this.#openWhenClosed = undefined;
    const socket = this.socket;
    if (!socket || !this.peerId) return;
    socket.removeEventListener("open", this.#markOpened);
    socket.removeEventListener("close", this.#recordLoss);
    socket.addEventListener("error", ignore);
    super.disconnect();
    if (socket.readyState !== socket.CLOSED) this.#closing = socket;
  }

  /**
   * Sends a message, or drops it while the socket is not open (closing, or
   * a retry still connecting). Upstream throws then, from inside
   * automerge-repo's synchronizer, which leaves the document's handle
   * broken: every later change to it throws "Attempting to change an
   * outdated document" (seen in the relay load benchmark). Dropping is what
   * the network would do: the connection is going, its `peer-disconnected`
   * follows, and the next connection syncs from the heads both sides share.
   */
  override send(message: Parameters<WebSocketClientAdapter["send"]>[0]): void {
    const socket = this.socket;
    if (socket && socket.readyState !== socket.OPEN) return;
    super.send(message);
  }

  /**
   * The document this side holds under an id (undefined when none is ready),
   * set by whoever owns the Repo: with it, a sync message's changes are
   * also applied to a copy of that document (without patches) and the
   * message dropped when they would nest it over
   * {@link MAX_DOCUMENT_NESTING} deep, one level per change or not.
   */
  heldDocument: ((documentId: string) => A.Doc<unknown> | undefined) | undefined;

  /** What the message dropped for nesting too deep on the current connection carried (e.g. "a document nesting objects over 64 deep"); a new attempt clears it. */
  droppedMessage: string | undefined;

  /**
   * True for a document this side has asked for or holds (it has a handle
   * for it), set by whoever owns the Repo. With it, a sync message or
   * request about any other document is dropped ({@link unsolicited}
   * counts them): automerge-repo would otherwise take in every document a
   * relay pushes, so a hostile relay could fill a long-lived replica (the
   * home's owner, a watch) and its home with documents without end. An
   * honest relay never sends them: it syncs with a client only the
   * documents the client asked for.
   */
  knownDocument: ((documentId: string) => boolean) | undefined;

  /** Sync messages and requests dropped for documents this side never asked for. */
  unsolicited = 0;

  /**
   * What the relay may still bring (`relay-allowance.ts`): bytes of
   * messages and of changes, per document and in all, and time spent
   * trying changes on copies of documents. A message past it is dropped,
   * recorded in {@link RelayClient.droppedMessage}, and the connection
   * closed. Each connection draws on the relay's allowance in this process
   * ({@link relayAllowanceOf}, taken again at every `connect()`): a new
   * connection, or a new client of the same relay, does not refill it.
   */
  allowance: RelayAllowance = relayAllowanceOf(this.url);

  /** The limits of the relay's {@link RelayClient.allowance}, when not the defaults (set before connecting). */
  allowanceLimits: RelayAllowanceLimits | undefined;

  /**
   * Takes a message from the relay, unless it is a sync message carrying a
   * change or a whole document that nests objects over
   * {@link MAX_DOCUMENT_NESTING} deep: applying it would trap Automerge's
   * WebAssembly and every later Automerge call in the process would fail.
   * Such a message is dropped, recorded in {@link RelayClient.lastError},
   * and the connection closed. A sync message or request about a document
   * this side never asked for is dropped too, quietly ({@link knownDocument}).
   * So is, with the connection closed, a message past the connection's
   * {@link RelayClient.allowance}: more changes to a document or in all than
   * a relay may bring, or a copy to check them on once checks took their time.
   * So is, with the connection closed, a message whose sender is not a plain
   * peer id or whose announced storage id is not a UUID
   * (`peer-identity.ts`): automerge-repo would key objects by the one and
   * save sync state at a path made of the other, outside the home.
   */
  /**
   * True for a message this side drops quietly: an `ephemeral` one (Canon
   * never broadcasts; the Repo decodes their data recursively, and a relay
   * nesting it 200,000 deep made it throw), or one about a document this
   * side never asked for ({@link knownDocument}), its id malformed or not.
   * What the Repo throws for a message it is handed, it prints to standard
   * output with the message (`error receiving message`), in the middle of a
   * command's `--json` output, or a thin client's through the owner.
   */
  #unasked(message: NonNullable<ReturnType<typeof decodedMessage>>): boolean {
    if (message.type === "ephemeral") return true;
    if (!("documentId" in message) || this.knownDocument === undefined) return false;
    const { documentId } = message;
    return typeof documentId !== "string" || !this.knownDocument(documentId);
  }

  override receiveMessage(messageBytes: Uint8Array): void {
    const large = this.allowance.takeMessage(messageBytes.byteLength);
    if (large !== undefined) {
      this.droppedMessage = large;
      this.lastError = new Error(`the relay sent ${large}; message dropped`);
      this.socket?.close();
      return;
    }
    const message = decodedMessage(messageBytes);
    const unfit = unfitIdentity(message);
    if (unfit !== undefined) {
      this.droppedMessage = unfit;
      this.lastError = new Error(`the relay sent ${unfit}; message dropped`);
      this.socket?.close();
      return;
    }
    if (message !== undefined && this.#unasked(message)) {
      this.unsolicited += 1;
      return;
    }
    const chunks = changesOf(message);
    const refusal =
      chunks === undefined
        ? undefined
        : chunks === NOT_A_SYNC_MESSAGE
          ? "a sync message that does not decode"
          : chunks.length === 0
            ? undefined
            : (this.allowance.takeChanges(
                String(message?.documentId),
                chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0),
              ) ?? tooDeep(message, this.heldDocument, this.allowance));
    if (refusal !== undefined) {
      this.droppedMessage = refusal;
      this.lastError = new Error(`the relay sent ${refusal}; message dropped`);
      this.socket?.close();
      return;
    }
    try {
      super.receiveMessage(messageBytes);
    } catch (error) {
      this.lastError = error as Error;
      this.socket?.close();
    }
  }
}

function ignore(): void {}

/** Why a message names its sender or its storage in a way the Repo must not use, or undefined. */
function unfitIdentity(message: ReturnType<typeof decodedMessage>): string | undefined {
  if (message === undefined) return undefined;
  if ("senderId" in message && !isPlainPeerId(message.senderId))
    return `a message from the peer id ${JSON.stringify(String(message.senderId).slice(0, 64))}`;
  const metadata = message.type === "peer" ? message.peerMetadata : undefined;
  if (typeof metadata === "object" && metadata !== null && "storageId" in metadata) {
    const { storageId } = metadata as { storageId?: unknown };
    if (storageId !== undefined && !isStorageId(storageId))
      return `the storage id ${JSON.stringify(String(storageId).slice(0, 64))}, which is not a UUID`;
  }
  return undefined;
}

/** The fields of a relay's message the client looks at, undefined when it is not a CBOR map (upstream refuses it itself). */
function decodedMessage(messageBytes: Uint8Array):
  | {
      readonly type?: unknown;
      readonly data?: unknown;
      readonly documentId?: unknown;
      readonly senderId?: unknown;
      readonly peerMetadata?: unknown;
    }
  | undefined {
  let message: unknown;
  try {
    // Upstream's listener passes the socket's data as is (an ArrayBuffer in a browser).
    message = cbor.decode(new Uint8Array(messageBytes));
  } catch {
    return undefined;
  }
  return typeof message === "object" && message !== null ? message : undefined;
}

/** What {@link changesOf} answers for a sync message whose data is not one. */
const NOT_A_SYNC_MESSAGE = Symbol("not a sync message");

/**
 * The chunks (changes or whole documents) a sync message (or request)
 * carries, {@link NOT_A_SYNC_MESSAGE} when its data is not a sync message
 * (the Repo would throw, and print the message), or undefined for any other
 * message (and for bytes that are no message: upstream refuses those).
 */
function changesOf(
  message: ReturnType<typeof decodedMessage>,
): Uint8Array[] | typeof NOT_A_SYNC_MESSAGE | undefined {
  if (message === undefined) return undefined;
  const { type, data } = message;
  if (type !== "sync" && type !== "request") return undefined;
  if (!(data instanceof Uint8Array)) return NOT_A_SYNC_MESSAGE;
  try {
    return A.decodeSyncMessage(data).changes;
  } catch {
    return NOT_A_SYNC_MESSAGE;
  }
}

/**
 * Why a message from the relay nests too deep to be applied, or would need a
 * copy of a held document to check once the connection's copies took their
 * time ({@link RelayAllowance.mayCheck}), or undefined (also for bytes
 * upstream refuses itself). A copy costs in proportion to the document (a
 * second for 20 MB), however small the message: without a bound, a relay
 * sending tiny changes that create objects kept this process copying.
 * Decoding costs in proportion to the message, which the byte allowance bounds.
 */
function tooDeep(
  message: ReturnType<typeof decodedMessage>,
  heldDocument: ((documentId: string) => A.Doc<unknown> | undefined) | undefined,
  allowance: RelayAllowance,
): string | undefined {
  if (message === undefined) return undefined;
  const { type, data, documentId } = message;
  if ((type !== "sync" && type !== "request") || !(data instanceof Uint8Array)) return undefined;
  const alone = syncMessageTooDeep(data, MAX_DOCUMENT_NESTING);
  if (alone !== undefined) return alone;
  const held = typeof documentId === "string" ? heldDocument?.(documentId) : undefined;
  if (held === undefined) return undefined;
  let changes: Uint8Array[];
  try {
    changes = A.decodeSyncMessage(data).changes;
  } catch {
    return undefined;
  }
  // Only a change that makes objects can nest the document deeper: a release, a member or a
  // stamp only adds entries to maps the document has, and costs no copy of it here.
  if (!createsObjects(changes)) return undefined;
  const spent = allowance.mayCheck();
  if (spent !== undefined) return spent;
  const began = performance.now();
  const applied = chunksApply(held, changes, MAX_DOCUMENT_NESTING);
  allowance.spendCheck(performance.now() - began);
  return !applied.ok && applied.reason === "too-deep"
    ? `changes nesting ${documentId} over ${MAX_DOCUMENT_NESTING} deep`
    : undefined;
}

/** Closes a socket at once, without the closing handshake (`ws` can; a browser's socket only closes). */
function terminate(socket: Socket): void {
  if ("terminate" in socket && typeof socket.terminate === "function") socket.terminate();
  else socket.close();
}

import * as A from "@automerge/automerge";
import { cbor, isValidDocumentId } from "@automerge/automerge-repo";
import {
  isPlainPeerId,
  isStorageId,
  MAX_DOCUMENT_NESTING,
  MAX_PEER_ID_LENGTH,
  nestingOf,
  PEER_ID_PATTERN,
  probeDocument,
  tooManyItems,
} from "@canon/store";
import { z } from "zod";

// The messages of automerge-repo's WebSocket protocol (2.5.6), checked field
// by field before the adapter or the Repo sees them. Upstream trusts its
// peers: a `null` message, a non-array `supportedProtocolVersions`, or sync
// data that is not a sync message each throw inside an event listener or a
// promise, which kills the process. Here every message is decoded in a
// guard and parsed by a zod schema; the parsed (stripped) object is what goes
// on, so unknown fields never reach the Repo or other peers.

/**
 * Deepest nesting of objects a change may create, and a document reach
 * (a map in a map in a map…): {@link MAX_DOCUMENT_NESTING}. Automerge
 * patches nested objects recursively: one change nesting 8,000 maps (16 KB)
 * hangs the process, 10,000 trap its WebAssembly module, after which every
 * Automerge call in the process fails; so does a document nesting 20,000
 * maps built one level per change. Canon's documents nest at most four deep.
 */
export const MAX_CHANGE_NESTING = MAX_DOCUMENT_NESTING;

export { nestingOf };

/** Largest ephemeral payload forwarded: Canon sends none, so this only bounds what a peer can broadcast. */
export const MAX_EPHEMERAL_BYTES = 64 * 1024;

/**
 * A peer id: printable, no path or prototype tricks (`isPlainPeerId`). The
 * adapter keys a plain object by it, so `__proto__` or `constructor` would
 * reach Object.prototype.
 */
const PeerId = z
  .string()
  .max(MAX_PEER_ID_LENGTH)
  .regex(PEER_ID_PATTERN)
  .refine(isPlainPeerId, "names an Object.prototype property");

/**
 * A storage id: automerge-repo makes them with `uuid.v4()`. The Repo uses a
 * peer's storage id as a storage key (where it saves sync state), so a free
 * string such as `../../x` would write outside the data directory.
 */
const StorageId = z.string().refine(isStorageId, "is not a UUID");

/** A document id as automerge-repo writes it: base58check of 16 bytes (no path characters). */
const DocumentId = z
  .string()
  .max(64)
  .refine((id) => isValidDocumentId(id), "is not a valid document id");

const Bytes = z.instanceof(Uint8Array);

const PeerMetadata = z.object({
  storageId: StorageId.optional(),
  isEphemeral: z.boolean().optional(),
});

const Join = z.object({
  type: z.literal("join"),
  senderId: PeerId,
  peerMetadata: PeerMetadata.optional(),
  supportedProtocolVersions: z.array(z.string().max(16)).max(16).optional(),
});

const Leave = z.object({ type: z.literal("leave"), senderId: PeerId });

const Addressed = { senderId: PeerId, targetId: PeerId };

const Sync = z.object({
  type: z.enum(["sync", "request"]),
  ...Addressed,
  documentId: DocumentId,
  data: Bytes.refine((data) => data.byteLength > 0, "is empty"),
});

const DocUnavailable = z.object({
  type: z.literal("doc-unavailable"),
  ...Addressed,
  documentId: DocumentId,
});

const Ephemeral = z.object({
  type: z.literal("ephemeral"),
  ...Addressed,
  documentId: DocumentId,
  count: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  sessionId: z.string().min(1).max(64),
  data: Bytes.refine((data) => data.byteLength <= MAX_EPHEMERAL_BYTES, "is too large"),
});

const Heads = z
  .array(
    z
      .string()
      .max(64)
      .regex(/^[1-9A-HJ-NP-Za-km-z]+$/),
  )
  .max(64);

const RemoteSubscriptionChange = z.object({
  type: z.literal("remote-subscription-change"),
  ...Addressed,
  add: z.array(StorageId).max(256).optional(),
  remove: z.array(StorageId).max(256).optional(),
});

const RemoteHeadsChanged = z.object({
  type: z.literal("remote-heads-changed"),
  ...Addressed,
  documentId: DocumentId,
  newHeads: z
    .record(StorageId, z.object({ heads: Heads, timestamp: z.number().finite() }))
    .refine((entries) => Object.keys(entries).length <= 64, "has too many storage ids"),
});

const Peer = z.object({
  type: z.literal("peer"),
  ...Addressed,
  peerMetadata: PeerMetadata.optional(),
  selectedProtocolVersion: z.string().max(16),
});

const ErrorReport = z.object({
  type: z.literal("error"),
  ...Addressed,
  message: z.string().max(1024),
});

/** Every message a client may send a relay under automerge-repo's WebSocket protocol. */
export const WireMessage = z.discriminatedUnion("type", [
  Join,
  Leave,
  Sync,
  DocUnavailable,
  Ephemeral,
  RemoteSubscriptionChange,
  RemoteHeadsChanged,
  Peer,
  ErrorReport,
]);

/** A message that passed {@link WireMessage}. */
export type WireMessage = z.output<typeof WireMessage>;

/**
 * A chunk carried by a sync message and its size: a change with its hash (to
 * tell whether the relay has it already), or a whole document (Automerge 3
 * sends one to a peer that has none of it), which has no single hash.
 */
export interface IncomingChange {
  readonly hash: string | undefined;
  readonly bytes: number;
}

/** The outcome of {@link parseWireMessage}: the message (and its changes), or why it was refused. */
export type ParsedWireMessage =
  | {
      readonly ok: true;
      readonly message: WireMessage;
      readonly changes: readonly IncomingChange[];
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Decodes and checks one WebSocket message from a peer: CBOR in a guard, the
 * shape by {@link WireMessage}, and the payloads the Repo would otherwise
 * parse unguarded: a sync message's `data` must decode as an Automerge sync
 * message whose every chunk declares no more ops than its size allows
 * (`tooManyItems`, read from its column headers before anything decodes
 * it) and decodes (checksum included) as a change or loads as a whole
 * document, and an ephemeral
 * message's `data` must be CBOR. Never throws. Cost: linear in the message.
 */
export function parseWireMessage(bytes: Uint8Array): ParsedWireMessage {
  let decoded: unknown;
  try {
    decoded = cbor.decode(bytes);
  } catch {
    return { ok: false, reason: "not CBOR" };
  }
  const parsed = WireMessage.safeParse(decoded);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      reason: `bad message: ${issue ? `${shownPath(issue.path) || "(message)"} ${issue.code === "invalid_key" ? (issue.issues[0]?.message ?? issue.message) : issue.message}` : "wrong shape"}`,
    };
  }
  const message = parsed.data;
  if (message.type === "sync" || message.type === "request") {
    return syncChanges(message.data, message);
  }
  if (message.type === "ephemeral") {
    try {
      cbor.decode(message.data);
    } catch {
      return { ok: false, reason: "ephemeral data is not CBOR" };
    }
  }
  return { ok: true, message, changes: [] };
}

/**
 * Where in a message a refusal points, for the log: field names and list
 * positions as they are, but a map key the peer chose (a `newHeads` storage
 * id, say) only by its length. The key is the peer's text, of any length
 * and any characters: it made one bad message a log line as large as the
 * message, carrying whatever the peer wrote.
 */
function shownPath(path: readonly PropertyKey[]): string {
  return path
    .map((part) =>
      typeof part === "number" || (typeof part === "string" && /^[A-Za-z]{1,32}$/.test(part))
        ? String(part)
        : `(a key of ${String(part).length} characters)`,
    )
    .join(".");
}

function syncChanges(data: Uint8Array, message: WireMessage): ParsedWireMessage {
  let changes: Uint8Array[];
  try {
    changes = A.decodeSyncMessage(data).changes;
  } catch {
    return { ok: false, reason: "data is not an Automerge sync message" };
  }
  const incoming: IncomingChange[] = [];
  for (const change of changes) {
    // Before anything decodes it: a few bytes of runs can declare millions of ops.
    if (tooManyItems(change))
      return {
        ok: false,
        reason: "sync message carries a chunk declaring more ops than its size allows",
      };
    const decoded = decodedChange(change);
    if (decoded === undefined) {
      const probe = probeDocument(change, MAX_CHANGE_NESTING);
      if (!probe.ok && probe.reason === "too-deep")
        return {
          ok: false,
          reason: `sync message carries a document nesting objects over ${MAX_CHANGE_NESTING} deep`,
        };
      if (!probe.ok)
        return { ok: false, reason: "sync message carries a change that does not decode" };
    }
    if (decoded !== undefined && nestingOf(decoded) > MAX_CHANGE_NESTING)
      return {
        ok: false,
        reason: `sync message carries a change nesting objects over ${MAX_CHANGE_NESTING} deep`,
      };
    incoming.push({ hash: decoded?.hash, bytes: change.byteLength });
  }
  return { ok: true, message, changes: incoming };
}

/** The change, decoded (without applying it); undefined when the chunk is not a change that decodes. */
function decodedChange(chunk: Uint8Array): A.DecodedChange | undefined {
  try {
    return A.decodeChange(chunk);
  } catch {
    return undefined;
  }
}

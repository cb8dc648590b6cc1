import * as A from "@automerge/automerge";
import {
  CLIENT_DOCUMENT_ITEMS,
  chunkItems,
  itemsPastBound,
  maxInflatedOf,
  tooManyItems,
} from "./chunk-items.js";

/** Bytes a peer sent declaring more ops than a client takes (`chunk-items.ts`); the relay checks its own bound first. */
const declaresTooMany = (bytes: Uint8Array) => tooManyItems(bytes, CLIENT_DOCUMENT_ITEMS);

// Automerge's WebAssembly module recurses over nested objects when it
// patches (`loadIncremental` into a document, `receiveSyncMessage`,
// `applyChanges`, `toJS`, materializing): a document nesting 20,000 maps,
// built one level per change so that no change nests more than one, traps
// it (`RuntimeError: unreachable`, 18 s at 20,000 levels), after which every
// Automerge call in the process fails ("Module terminated"). What stays safe
// at 20,000 and 200,000 levels (measured 2026-11-30, Automerge 3.5.0):
// `A.load` (2 s at 200,000), the low-level handle's `loadIncremental`,
// `keys`, `getAll`, `length` and `objInfo` (whose path Automerge builds in a
// loop), and `decodeChange`. So hostile bytes are loaded into a low-level
// handle, which computes no patches, and measured with those calls only,
// walking with an explicit stack, before anything that patches runs.

/**
 * Deepest nesting of objects (a map in a map in a map…) a document may
 * reach, in one change or across many. Canon's documents nest at most four
 * deep; Automerge's WebAssembly traps somewhere below 20,000.
 */
export const MAX_DOCUMENT_NESTING = 64;

/** Automerge's low-level document handle, which applies changes without computing patches. */
export type DocumentBackend = ReturnType<typeof A.getBackend>;

/** The outcome of {@link probeDocument}. */
export type DocumentProbe =
  | { readonly ok: true; readonly depth: number }
  | { readonly ok: false; readonly reason: "does-not-load" | "too-deep" | "too-many-ops" };

const OBJECT_TYPES = new Set(["map", "list", "text", "table"]);

/**
 * How deep the visible objects of a document nest (0 for a document with no
 * objects under its root), walking them with an explicit stack (never
 * recursing) through calls that do not patch, and stopping at the first
 * object deeper than `limit` (the answer is then `limit + 1`). Conflicting
 * values count too. Cost: one `getAll` per key or element, over the whole
 * document when it is shallow.
 */
export function depthOf(backend: DocumentBackend, limit: number = MAX_DOCUMENT_NESTING): number {
  const stack: Array<{ readonly obj: A.ObjID; readonly depth: number; readonly kind: string }> = [
    { obj: "_root", depth: 0, kind: "map" },
  ];
  let deepest = 0;
  while (stack.length > 0) {
    const { obj, depth, kind } = stack.pop() as (typeof stack)[number];
    if (depth > deepest) deepest = depth;
    if (depth > limit) return limit + 1;
    const props: A.Prop[] =
      kind === "map" || kind === "table"
        ? backend.keys(obj)
        : kind === "text"
          ? objectsInText(backend.text(obj))
          : Array.from({ length: backend.length(obj) }, (_, index) => index);
    for (const prop of props) {
      for (const value of backend.getAll(obj, prop)) {
        const [type, id] = value as unknown as [string, unknown];
        if (OBJECT_TYPES.has(type) && typeof id === "string")
          stack.push({ obj: id, depth: depth + 1, kind: type });
      }
    }
  }
  return deepest;
}

/**
 * The indexes of a text's characters that may be objects: Automerge writes
 * an object in a text (a block) as U+FFFC, so only those are read, not
 * every character (a megabyte of text took 3.7 s read one by one).
 */
function objectsInText(text: string): number[] {
  const indexes: number[] = [];
  for (let index = text.indexOf("\uFFFC"); index !== -1; index = text.indexOf("\uFFFC", index + 1))
    indexes.push(index);
  return indexes;
}

/**
 * Loads hostile bytes (a saved document, a chunk of changes, or several
 * concatenated) into a fresh low-level handle, which computes no patches,
 * and measures how deep they nest ({@link depthOf}). Only bytes that load
 * and nest at most `limit` deep are safe to hand to `A.loadIncremental`,
 * `A.receiveSyncMessage` or the Repo. Bytes declaring more ops than their
 * size allows (`too-many-ops`, `chunk-items.ts`) are not loaded at all.
 * Never throws. Cost: a load of the bytes and a walk of the document.
 */
export function probeDocument(
  bytes: Uint8Array,
  limit: number = MAX_DOCUMENT_NESTING,
): DocumentProbe {
  if (declaresTooMany(bytes)) return { ok: false, reason: "too-many-ops" };
  const backend = A.getBackend(A.init());
  try {
    backend.loadIncremental(bytes);
  } catch {
    return { ok: false, reason: "does-not-load" };
  }
  const depth = depthOf(backend, limit);
  return depth > limit ? { ok: false, reason: "too-deep" } : { ok: true, depth };
}

/**
 * Loads hostile bytes as a whole document (`A.load`, safe however deep they
 * nest, see above) and returns it only when its objects nest at most `limit`
 * deep, measured on the loaded document itself rather than on a second
 * copy ({@link probeDocument} loads the bytes once more to walk them). A
 * document of at most `limit` ops, or whose chunks hold at most `limit`
 * ops that may make an object (`ChunkItems.making`, read from the action
 * columns while the bytes are checked for run-length bombs), cannot nest
 * deeper (each level is an object some op makes), so only others are
 * walked ({@link depthOf}): a standard's document makes three objects.
 * Undefined when the bytes do not load or nest deeper: the caller must not
 * hand them to anything that patches. Undefined too, without loading them,
 * for bytes declaring more ops than their size allows (`chunk-items.ts`: a
 * few hostile bytes would otherwise cost seconds and gigabytes). Never
 * throws. Cost: one read of the chunks' columns, one load, and a walk of
 * documents that may make more than `limit` objects.
 */
export function loadWithin<T>(
  bytes: Uint8Array,
  limit: number = MAX_DOCUMENT_NESTING,
): A.Doc<T> | undefined {
  const items = chunkItems(bytes, maxInflatedOf(bytes.length));
  if (items === undefined || itemsPastBound(bytes.length, items, CLIENT_DOCUMENT_ITEMS))
    return undefined;
  let doc: A.Doc<T>;
  try {
    doc = A.load<T>(bytes);
  } catch {
    return undefined;
  }
  if (items.making <= limit) return doc;
  const backend = A.getBackend(doc);
  if (backend.stats().numOps <= limit || depthOf(backend, limit) <= limit) return doc;
  A.free(doc);
  return undefined;
}

/**
 * How deep the objects a change creates nest inside each other (0 when it
 * creates none), read from its ops: the op at index `i` has the id
 * `startOp + i @ actor`, and an object made inside one made by the same
 * change is one level deeper. Linear in the ops.
 */
export function nestingOf(change: A.DecodedChange): number {
  const depths = new Map<string, number>();
  let deepest = 0;
  change.ops.forEach((op, index) => {
    if (!op.action.startsWith("make")) return;
    const depth = (depths.get(op.obj) ?? 0) + 1;
    depths.set(`${change.startOp + index}@${change.actor}`, depth);
    if (depth > deepest) deepest = depth;
  });
  return deepest;
}

/**
 * How deep, in the document, the deepest object created by the changes
 * `backend` gained since `heads` sits (0 when they create none), stopping
 * at the first deeper than `limit` (the answer is then `limit + 1`). Meant
 * for a copy to which a peer's changes were just applied with the low-level
 * `loadIncremental` (no patches): this catches nesting built up across
 * changes, one level each, which {@link nestingOf} cannot see. Each
 * object's depth is the length of its path (`objInfo`, which Automerge
 * builds in a loop, so one deep path costs time, never the stack); an
 * object no longer reachable (its parent deleted) is never patched and
 * counts 0. Cost: a decode of the new changes and one path per new object.
 */
export function createdDepth(
  backend: DocumentBackend,
  heads: A.Heads,
  limit: number = MAX_DOCUMENT_NESTING,
): number {
  let deepest = 0;
  for (const bytes of backend.getChanges(heads)) {
    const change = A.decodeChange(bytes);
    for (const [index, op] of change.ops.entries()) {
      if (!op.action.startsWith("make")) continue;
      const path = backend.objInfo(`${change.startOp + index}@${change.actor}`).path;
      const depth = path?.length ?? 0;
      if (depth > limit) return limit + 1;
      if (depth > deepest) deepest = depth;
    }
  }
  return deepest;
}

/**
 * Applies a sync message's chunks (changes, or whole documents) to a copy of
 * `doc` without computing patches, and says whether they apply and leave
 * every object they create at most `limit` deep: what must hold before
 * `A.receiveSyncMessage` or the Repo takes the message (chunks declaring
 * more ops than their size allows, `chunk-items.ts`, do not apply). Never
 * throws. Cost: a fork of the document, the chunks applied, {@link createdDepth}.
 */
export function chunksApply(
  doc: A.Doc<unknown>,
  chunks: readonly Uint8Array[],
  limit: number = MAX_DOCUMENT_NESTING,
): { readonly ok: true } | { readonly ok: false; readonly reason: "does-not-apply" | "too-deep" } {
  if (chunks.some(declaresTooMany)) return { ok: false, reason: "does-not-apply" };
  const backend = A.getBackend(A.clone(doc));
  const heads = backend.getHeads();
  try {
    for (const chunk of chunks) backend.loadIncremental(chunk);
  } catch {
    return { ok: false, reason: "does-not-apply" };
  }
  return createdDepth(backend, heads, limit) > limit
    ? { ok: false, reason: "too-deep" }
    : { ok: true };
}

/**
 * True when any chunk makes an object (a `make…` op), or is not a change
 * that decodes (a whole document, or bytes Automerge will judge): only such
 * chunks can nest a document deeper, so only they need {@link chunksApply}.
 */
export function createsObjects(chunks: readonly Uint8Array[]): boolean {
  return chunks.some((chunk) => {
    try {
      return A.decodeChange(chunk).ops.some((op) => op.action.startsWith("make"));
    } catch {
      return true;
    }
  });
}

/**
 * Why a sync message's chunks would nest objects over `limit` deep on their
 * own (a change whose new objects nest deeper, by {@link nestingOf}, or a
 * whole document that does, by {@link probeDocument}), or declare more ops
 * than their size allows (`chunk-items.ts`: checked first, as decoding
 * them is what costs seconds and gigabytes), or undefined. Bytes
 * that are not a sync message, or chunks that neither decode nor load, are
 * left to Automerge, which throws for them without trapping. Nesting built
 * across changes against the document already held is not seen here
 * ({@link chunksApply} sees it). Never throws. Cost: a decode of each
 * change, a load and walk of each whole document.
 */
export function syncMessageTooDeep(
  data: Uint8Array,
  limit: number = MAX_DOCUMENT_NESTING,
): string | undefined {
  let chunks: Uint8Array[];
  try {
    chunks = A.decodeSyncMessage(data).changes;
  } catch {
    return undefined;
  }
  for (const chunk of chunks) {
    if (declaresTooMany(chunk)) return "a chunk declaring more ops than its size allows";
    let change: A.DecodedChange | undefined;
    try {
      change = A.decodeChange(chunk);
    } catch {
      change = undefined;
    }
    if (change !== undefined && nestingOf(change) > limit)
      return `a change nesting objects over ${limit} deep`;
    if (change === undefined) {
      const probe = probeDocument(chunk, limit);
      if (!probe.ok && probe.reason === "too-deep")
        return `a document nesting objects over ${limit} deep`;
    }
  }
  return undefined;
}

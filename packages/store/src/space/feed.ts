import type { DocHandle } from "@automerge/automerge-repo";
import {
  type FoldResult,
  type Provenance,
  type SignedRecord,
  type SpaceState,
  sameBytes,
} from "@canon/core";
import type { Replica } from "../replica.js";
import {
  FEED_SEGMENT_BYTES,
  FEED_SEGMENT_STAMPS,
  type FeedDocument,
  isBytes,
  mapField,
  writableMap,
} from "./documents.js";
import type { LoadedSpace } from "./space-reader.js";

/**
 * Appends signed provenance records (stamps) to their authors' feeds in the
 * space: each goes into a segment of its author's feed with room left, or a
 * new segment routed from the space document's `feeds` map. Records some
 * loaded document already holds with exactly these bytes are skipped, and
 * every document holding an accepted stamp is routed, so a routing entry a
 * peer deleted comes back. Which segment is the author's is read from the
 * verified records it holds, never from its unsigned `author` tag: a peer
 * can fill or retag a segment, which only makes the author start a new one.
 * Returns how many values it wrote.
 */
export function appendToFeeds(
  replica: Replica,
  loaded: LoadedSpace,
  state: SpaceState,
  stamps: readonly SignedRecord<Provenance>[],
): number {
  let writes = 0;
  const fresh = new Map<string, DocHandle<FeedDocument>>();
  const held = heldValues(loaded, stamps);
  for (const stamp of stamps) {
    if (held.get(stamp.cid)?.some((bytes) => sameBytes(bytes, stamp.bytes))) continue;
    const author = stamp.record.author;
    const segment =
      fresh.get(author) ??
      segmentWithRoom(loaded, state, author) ??
      createSegment(replica, loaded, author);
    fresh.set(author, segment);
    segment.change((changing) => {
      const writable = changing as unknown as Record<string, unknown>;
      if (writable.canon !== "feed") writable.canon = "feed";
      if (writable.v !== 1) writable.v = 1;
      writableMap<Uint8Array>(writable, "records")[stamp.cid] = stamp.bytes;
    });
    writes += 1;
    if (!hasRoom(segment.doc())) fresh.delete(author);
  }
  return writes + routeFeeds(loaded, state);
}

/**
 * The stamps a member's write-back keeps in the feeds: every accepted one,
 * and every one the space's rules refused whose author has been a member
 * (a removed agent's stamp made after its removal), so an auditor still
 * finds it by its output and is told why it does not verify. A stamp by
 * someone who never was a member is not kept: a peer cannot make members
 * store stamps of keys nobody admitted.
 */
export function stampsToKeep(result: FoldResult, state: SpaceState): SignedRecord<Provenance>[] {
  const everMembers = new Set([
    state.genesis.record.author,
    ...state.membershipChanges.map((change) => change.record.member),
  ]);
  const refused: SignedRecord<Provenance>[] = [];
  for (const signed of result.verified.values()) {
    const record = signed.record;
    if (record.type !== "canon/provenance" || record.space !== state.genesis.cid) continue;
    if (state.provenance.has(signed.cid) || !everMembers.has(record.author)) continue;
    refused.push(signed as SignedRecord<Provenance>);
  }
  refused.sort((a, b) => (a.cid < b.cid ? -1 : 1));
  return [...state.provenance.values(), ...refused];
}

/**
 * The byte values the space document and every loaded document hold under
 * the CIDs of `records`: read once, so checking thousands of stamps costs
 * one pass over the documents, not one per stamp.
 */
function heldValues(
  loaded: LoadedSpace,
  records: readonly SignedRecord[],
): Map<string, Uint8Array[]> {
  const wanted = new Set(records.map((signed) => signed.cid));
  const held = new Map<string, Uint8Array[]>();
  for (const handle of [loaded.space, ...loaded.standards.values()] as DocHandle<unknown>[]) {
    const map = mapField(handle.doc(), "records");
    const keys = Object.keys(map);
    // Whichever side is smaller is walked.
    const cids = keys.length < wanted.size ? keys.filter((cid) => wanted.has(cid)) : [...wanted];
    for (const cid of cids) {
      const value = Object.hasOwn(map, cid) ? map[cid] : undefined;
      if (isBytes(value)) held.set(cid, [...(held.get(cid) ?? []), value]);
    }
  }
  return held;
}

/** The first loaded document (by id) holding an accepted stamp of `author` that has room left. */
function segmentWithRoom(
  loaded: LoadedSpace,
  state: SpaceState,
  author: string,
): DocHandle<FeedDocument> | undefined {
  // `standards` is sorted by document id.
  for (const handle of loaded.standards.values())
    if (holdsStampOf(handle.doc(), state, author) && hasRoom(handle.doc()))
      return handle as unknown as DocHandle<FeedDocument>;
  return undefined;
}

/** True when the document holds an accepted stamp of `author`. */
function holdsStampOf(doc: unknown, state: SpaceState, author: string): boolean {
  for (const cid of Object.keys(mapField(doc, "records")))
    if (state.provenance.get(cid)?.record.author === author) return true;
  return false;
}

/** True when a segment holds fewer than {@link FEED_SEGMENT_STAMPS} records and {@link FEED_SEGMENT_BYTES} bytes of them. */
export function hasRoom(doc: unknown): boolean {
  const records = Object.values(mapField(doc, "records"));
  if (records.length >= FEED_SEGMENT_STAMPS) return false;
  let bytes = 0;
  for (const value of records) bytes += isBytes(value) ? value.byteLength : 0;
  return bytes < FEED_SEGMENT_BYTES;
}

/** A new, empty segment of `author`'s feed, routed from the space document. */
function createSegment(
  replica: Replica,
  loaded: LoadedSpace,
  author: string,
): DocHandle<FeedDocument> {
  const handle = replica.create<FeedDocument>({ canon: "feed", v: 1, author, records: {} });
  loaded.space.change((changing) => {
    writableMap<string>(changing, "feeds")[handle.documentId] = author;
  });
  return handle;
}

/**
 * Routes every loaded document holding an accepted stamp from the space
 * document's `feeds` map, unless the `standards` map routes it already (a
 * new segment was routed when it was created). Returns how many entries it wrote.
 */
function routeFeeds(loaded: LoadedSpace, state: SpaceState): number {
  const routing = mapField(loaded.space.doc(), "standards");
  const feeds = mapField(loaded.space.doc(), "feeds");
  const routes: [string, string][] = [];
  for (const handle of loaded.standards.values() as Iterable<DocHandle<unknown>>) {
    const id = handle.documentId;
    if (Object.hasOwn(routing, id) || typeof feeds[id] === "string") continue;
    const author = authorHeld(handle.doc(), state);
    if (author !== undefined) routes.push([id, author]);
  }
  if (routes.length === 0) return 0;
  loaded.space.change((changing) => {
    const routeMap = writableMap<string>(changing, "feeds");
    for (const [id, author] of routes) routeMap[id] = author;
  });
  return routes.length;
}

/** The author of the first accepted stamp a document holds, if any. */
function authorHeld(doc: unknown, state: SpaceState): string | undefined {
  for (const cid of Object.keys(mapField(doc, "records"))) {
    const author = state.provenance.get(cid)?.record.author;
    if (author !== undefined) return author;
  }
  return undefined;
}

/**
 * What a space document holds. Every field may have been written by anyone
 * who knows the URL, so only signed records carry meaning: the type tags are
 * hints written for people and other tools, never checked; `standards` is a
 * routing table (which documents to read), never trusted for content.
 */
export interface SpaceDocument {
  canon: "space";
  v: 1;
  /** Signed records: genesis and membership changes, as `records[cid] = envelope bytes`. */
  records: Record<string, Uint8Array>;
  /** Standard documents of this space: document id → standard name. Keyed by id so concurrent additions never collide. */
  standards: Record<string, string>;
  /**
   * Provenance feed segments of this space: document id → the agent's did
   * (a hint). Absent in spaces no one has stamped in yet. A routing table
   * like `standards`: which documents to read, never trusted for content.
   */
  feeds?: Record<string, string>;
}

/**
 * One segment of an agent's provenance feed: the signed provenance records
 * (stamps) it appended, as `records[cid] = envelope bytes`. The `author`
 * is a hint; every record is verified like any other, and a segment is
 * closed for writing once it holds {@link FEED_SEGMENT_STAMPS} records or
 * {@link FEED_SEGMENT_BYTES} bytes of them, so no document grows without bound.
 */
export interface FeedDocument {
  canon: "feed";
  v: 1;
  author: string;
  records: Record<string, Uint8Array>;
}

/** Most stamps one feed segment takes before the agent starts a new one. */
export const FEED_SEGMENT_STAMPS = 1000;

/**
 * Most bytes of stamps one feed segment takes before the agent starts a new
 * one: a quarter of a relay's default document limit (32 MiB), so a segment
 * of the largest records (64 KiB each) still syncs through any default relay.
 */
export const FEED_SEGMENT_BYTES = 8 * 1024 * 1024;

/**
 * Most feed segments a reader loads per agent from the space's `feeds` map:
 * 100 segments of up to {@link FEED_SEGMENT_STAMPS} stamps, so 100,000
 * stamps an agent. The map is unsigned and anyone can fill it: this, with
 * only agents that have been members counting, bounds what a peer can make
 * every reader fetch (see `space/feed-routes.ts`).
 */
export const MAX_FEED_SEGMENTS_PER_AGENT = 100;

/**
 * What a standard document holds: signed releases and corrections, and the
 * content bytes releases point to (checked against their CIDs on read). Its
 * `name` is a hint: a document belongs to the standards whose accepted
 * records it holds.
 */
export interface StandardDocument {
  canon: "standard";
  v: 1;
  name: string;
  records: Record<string, Uint8Array>;
  contents: Record<string, Uint8Array>;
}

/**
 * A map field of a document (`records`, `contents`, `standards`), or an empty
 * map when a peer deleted it or wrote something else there: entries stay
 * unverified, and the fold rejects each bad one with a reason.
 */
export function mapField(doc: unknown, field: string): Record<string, unknown> {
  const value = isMap(doc) ? doc[field] : undefined;
  return isMap(value) ? value : {};
}

/**
 * The map at `field` of a document being changed (inside `handle.change`),
 * recreated empty first when a peer deleted it or wrote another type there,
 * so a write never throws on what a peer left.
 */
export function writableMap<T>(doc: unknown, field: string): Record<string, T> {
  const parent = doc as Record<string, unknown>;
  if (!isMap(parent[field])) parent[field] = {};
  return parent[field] as Record<string, T>;
}

/** True for a byte string; entries of any other type are rejected by the fold with a reason. */
export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/**
 * True for a plain map. Automerge also stores counters, timestamps, immutable
 * strings, lists and bytes as objects: none of them is a map, and writing
 * into one would throw.
 */
export function isMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * What a space document holds. Every field may have been written by anyone
 * who knows the URL, so only signed records carry meaning: `standards` is a
 * routing table (which documents to read), never trusted for content.
 */
export interface SpaceDocument {
  canon: "space";
  v: 1;
  /** Signed records: genesis and membership changes, as `records[cid] = envelope bytes`. */
  records: Record<string, Uint8Array>;
  /** Standard documents of this space: document id → standard name. Keyed by id so concurrent additions never collide. */
  standards: Record<string, string>;
}

/**
 * What a standard document holds: signed releases and corrections, and the
 * content bytes releases point to (checked against their CIDs on read).
 */
export interface StandardDocument {
  canon: "standard";
  v: 1;
  name: string;
  records: Record<string, Uint8Array>;
  contents: Record<string, Uint8Array>;
}

/** True for a space document: its tag is right. Every other field is read leniently where used. */
export function isSpaceDocument(doc: unknown): boolean {
  return isMap(doc) && doc.canon === "space";
}

/** True for a standard document: its tag is right. Every other field is read leniently where used. */
export function isStandardDocument(doc: unknown): boolean {
  return isMap(doc) && doc.canon === "standard";
}

/**
 * A map field of a document (`records`, `contents`, `standards`), or an empty
 * map when a peer wrote something else there: entries stay unverified, and
 * the fold rejects each bad one with a reason.
 */
export function mapField(doc: unknown, field: string): Record<string, unknown> {
  const value = isMap(doc) ? doc[field] : undefined;
  return isMap(value) ? value : {};
}

/** True for a byte string; entries of any other type are rejected by the fold with a reason. */
export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array)
  );
}

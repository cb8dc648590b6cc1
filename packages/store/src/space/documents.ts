import { z } from "zod";

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

const Bytes = z.instanceof(Uint8Array);
const ByteMap = z.record(z.string(), z.unknown()).catch({});

/** Reads a space document from a peer leniently: wrong fields become empty, entries stay unverified. */
export const SpaceDocumentShape = z.object({
  canon: z.literal("space"),
  records: ByteMap,
  standards: z.record(z.string(), z.unknown()).catch({}),
});

/** Reads a standard document from a peer leniently. */
export const StandardDocumentShape = z.object({
  canon: z.literal("standard"),
  name: z.string().catch(""),
  records: ByteMap,
  contents: ByteMap,
});

/** True for a byte string; entries of any other type are rejected by the fold with a reason. */
export function isBytes(value: unknown): value is Uint8Array {
  return Bytes.safeParse(value).success;
}

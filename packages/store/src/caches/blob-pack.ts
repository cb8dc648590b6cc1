import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";

// A blob pack: many blobs of the blob cache in one file, written once (a join
// fills the cache with 10,000 blobs; one file each cost seconds of waiting on
// the disk) and never changed. Layout, integers big-endian:
//
//   header   "CNK1", count (u32), names length (u32), sha-256 of index + names (32 bytes)
//   index    count entries sorted by key: key (32 bytes, the blob's sha-256),
//            offset of the blob in the file (u64), its length (u32)
//   names    the CIDs' text, one a line (what `BlobCache.stored` lists)
//   blobs    the bytes, one after another
//
// A blob is found by its sha-256 (a content CID's digest; two CIDs of the same
// bytes share it). The index and names are checked against the header's hash
// before use, and each blob is hashed again when read (`BlobCache.get`): bytes
// that do not match their own key mean a damaged pack, refused, never served.

const MAGIC = "CNK1";
const HEADER_BYTES = 4 + 4 + 4 + 32;
const ENTRY_BYTES = 32 + 8 + 4;
/** Most blobs one pack may list: past this its index alone would be tens of megabytes. */
const MAX_ENTRIES = 1_000_000;
/** Most bytes of CIDs one pack may list. */
const MAX_NAMES_BYTES = 256 * 1024 * 1024;
/**
 * Most packs a blob cache keeps: a blob missing from every pack reads each
 * one's index, so past this many the cache merges them into one (see
 * `BlobCache.putAll`). A join writes one; each later write of 64 blobs or
 * more, another.
 */
export const MAX_PACKS = 8;

/** A pack's index, read and checked: finds a blob's place by its CID. */
export interface BlobPackIndex {
  /** The CIDs the pack holds. */
  names(): string[];
  /** Where the pack holds the bytes whose sha-256 is `sha256Hex`, or undefined. */
  find(sha256Hex: string): { readonly offset: number; readonly length: number } | undefined;
  /** Every blob's sha-256 (hex) and place, in key order: what merging packs copies. */
  places(): { readonly sha256Hex: string; readonly offset: number; readonly length: number }[];
}

/** The bytes of a pack holding `blobs` (CIDs unique, bytes already known to match them). */
export function encodeBlobPack(
  blobs: readonly (readonly [contentCid: string, bytes: Uint8Array])[],
): Buffer {
  return encodePack(
    blobs.map(([cid]) => cid),
    blobs.map(([, bytes]) => bytes),
  );
}

/**
 * The bytes of one pack holding what several held (when there are more
 * than {@link MAX_PACKS}): their CIDs and their blobs, the bytes already
 * checked against their sha-256.
 */
export function encodeMergedBlobPack(
  contentCids: readonly string[],
  blobs: readonly Uint8Array[],
): Buffer {
  return encodePack([...new Set(contentCids)], blobs);
}

function encodePack(contentCids: readonly string[], blobs: readonly Uint8Array[]): Buffer {
  const byKey = new Map<string, { key: Buffer; bytes: Uint8Array }>();
  for (const bytes of blobs) {
    const key = createHash("sha256").update(bytes).digest();
    byKey.set(key.toString("hex"), { key, bytes });
  }
  const entries = [...byKey.values()].sort((a, b) => Buffer.compare(a.key, b.key));
  const names = Buffer.from(contentCids.join("\n"));
  const index = Buffer.alloc(entries.length * ENTRY_BYTES);
  let offset = HEADER_BYTES + index.length + names.length;
  entries.forEach(({ key, bytes }, position) => {
    const at = position * ENTRY_BYTES;
    key.copy(index, at);
    index.writeBigUInt64BE(BigInt(offset), at + 32);
    index.writeUInt32BE(bytes.length, at + 40);
    offset += bytes.length;
  });
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(MAGIC, 0, "latin1");
  header.writeUInt32BE(entries.length, 4);
  header.writeUInt32BE(names.length, 8);
  createHash("sha256").update(index).update(names).digest().copy(header, 12);
  return Buffer.concat([header, index, names, ...entries.map(({ bytes }) => bytes)]);
}

/**
 * Reads and checks an open pack's index (the header's hash over index and
 * names). Undefined when the file is not a whole pack: too short, another
 * format, a header that claims more bytes than the file holds (checked
 * before anything is allocated for them), an index that does not match its
 * hash, or an entry whose blob lies outside the file. With `checked` (the
 * caller knows this very file passed these checks before: see
 * `BlobCache`'s notes), the hash and the walk of every entry are skipped;
 * the header's sizes are still checked against the file, and `find` still
 * refuses a place outside it, so nothing is allocated beyond the file's
 * size even then. Throws only what reading the file throws.
 */
export async function readBlobPackIndex(
  file: FileHandle,
  options: { readonly checked?: boolean } = {},
): Promise<BlobPackIndex | undefined> {
  const header = Buffer.alloc(HEADER_BYTES);
  const { bytesRead } = await file.read(header, 0, HEADER_BYTES, 0);
  if (bytesRead !== HEADER_BYTES || header.toString("latin1", 0, 4) !== MAGIC) return undefined;
  const count = header.readUInt32BE(4);
  const namesLength = header.readUInt32BE(8);
  if (count > MAX_ENTRIES || namesLength > MAX_NAMES_BYTES) return undefined;
  const size = count * ENTRY_BYTES + namesLength;
  // A header that claims more than the file holds lies (or the pack was cut
  // short): nothing is allocated for it.
  const fileSize = (await file.stat()).size;
  if (HEADER_BYTES + size > fileSize) return undefined;
  const body = Buffer.alloc(size);
  if ((await file.read(body, 0, size, HEADER_BYTES)).bytesRead !== size) return undefined;
  // Every blob lies after the index and names, within the file: a reader allocates what an entry says.
  const dataStart = HEADER_BYTES + size;
  const inside = (offset: number, length: number) =>
    offset >= dataStart && offset + length <= fileSize;
  if (!options.checked) {
    if (!createHash("sha256").update(body).digest().equals(header.subarray(12))) return undefined;
    for (let at = 0; at < count * ENTRY_BYTES; at += ENTRY_BYTES)
      if (!inside(Number(body.readBigUInt64BE(at + 32)), body.readUInt32BE(at + 40)))
        return undefined;
  }
  return {
    places: () =>
      Array.from({ length: count }, (_, position) => {
        const at = position * ENTRY_BYTES;
        return {
          sha256Hex: body.toString("hex", at, at + 32),
          offset: Number(body.readBigUInt64BE(at + 32)),
          length: body.readUInt32BE(at + 40),
        };
      }),
    names: () =>
      namesLength === 0 ? [] : body.toString("utf8", count * ENTRY_BYTES, size).split("\n"),
    find: (sha256Hex) => {
      const key = Buffer.from(sha256Hex, "hex");
      if (key.length !== 32) return undefined;
      let low = 0;
      let high = count - 1;
      while (low <= high) {
        const middle = (low + high) >>> 1;
        const at = middle * ENTRY_BYTES;
        const order = Buffer.compare(body.subarray(at, at + 32), key);
        if (order === 0) {
          const place = {
            offset: Number(body.readBigUInt64BE(at + 32)),
            length: body.readUInt32BE(at + 40),
          };
          // Checked again here: an index taken as checked (`options.checked`) was not walked.
          return inside(place.offset, place.length) ? place : undefined;
        }
        if (order < 0) low = middle + 1;
        else high = middle - 1;
      }
      return undefined;
    },
  };
}

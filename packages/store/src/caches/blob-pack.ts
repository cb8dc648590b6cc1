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
/**
 * How much one pack may list: past `maxEntries` blobs its index alone would
 * be tens of megabytes, past `maxNamesBytes` its CIDs' text as much. A
 * reader refuses (and so removes) a pack past either, so every writer keeps
 * within them: `putAll` writes more blobs as several packs, and merging
 * packs takes only as many as fit in one ({@link packsToMerge}).
 */
export interface BlobPackLimits {
  readonly maxEntries: number;
  readonly maxNamesBytes: number;
}

/** The limits every pack is written and read within (see {@link BlobPackLimits}). */
export const PACK_LIMITS: BlobPackLimits = {
  maxEntries: 1_000_000,
  maxNamesBytes: 256 * 1024 * 1024,
};
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
  /** How many blobs the pack holds (its index's entries). */
  readonly entries: number;
  /** How many bytes its CIDs' text takes (one a line). */
  readonly namesBytes: number;
}

/**
 * Splits blobs to store into runs that each fit one pack within `limits`
 * (entries, and bytes of CIDs one a line), in order: what `putAll` writes
 * as one pack each. CIDs are unique; blobs of equal bytes count once each
 * here (an upper bound: the pack keys them by sha-256).
 */
export function packRuns<T extends readonly [contentCid: string, bytes: Uint8Array]>(
  blobs: readonly T[],
  limits: BlobPackLimits = PACK_LIMITS,
): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let namesBytes = 0;
  for (const blob of blobs) {
    const cidBytes = Buffer.byteLength(blob[0]);
    // Each CID after the first takes its line's end too.
    const full =
      run.length >= limits.maxEntries || namesBytes + 1 + cidBytes > limits.maxNamesBytes;
    if (run.length > 0 && full) {
      runs.push(run);
      run = [];
    }
    namesBytes = run.length === 0 ? cidBytes : namesBytes + 1 + cidBytes;
    run.push(blob);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/**
 * Which packs to merge into one, given each one's size: the smallest first,
 * as many as the merged pack can hold within `limits` (entries and bytes of
 * CIDs counted as if none were shared, so the merged pack never passes
 * them). Packs already at the limits are left as they are. Returns the
 * chosen packs' positions in `sizes`; fewer than two means nothing to merge.
 */
export function packsToMerge(
  sizes: readonly { readonly entries: number; readonly namesBytes: number }[],
  limits: BlobPackLimits = PACK_LIMITS,
): number[] {
  const order = sizes
    .map((size, position) => ({ ...size, position }))
    .sort(
      (a, b) => a.entries - b.entries || a.namesBytes - b.namesBytes || a.position - b.position,
    );
  const chosen: number[] = [];
  let entries = 0;
  let namesBytes = 0;
  for (const size of order) {
    const moreNames = size.namesBytes + (chosen.length > 0 && size.namesBytes > 0 ? 1 : 0);
    if (entries + size.entries > limits.maxEntries || namesBytes + moreNames > limits.maxNamesBytes)
      break;
    chosen.push(size.position);
    entries += size.entries;
    namesBytes += moreNames;
  }
  return chosen;
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
  options: {
    readonly checked?: boolean;
    /** The file's size, when the caller has just `stat`ed it (else it is `stat`ed here). */
    readonly fileSize?: number;
    readonly limits?: BlobPackLimits;
  } = {},
): Promise<BlobPackIndex | undefined> {
  const limits = options.limits ?? PACK_LIMITS;
  const header = Buffer.alloc(HEADER_BYTES);
  const { bytesRead } = await file.read(header, 0, HEADER_BYTES, 0);
  if (bytesRead !== HEADER_BYTES || header.toString("latin1", 0, 4) !== MAGIC) return undefined;
  const count = header.readUInt32BE(4);
  const namesLength = header.readUInt32BE(8);
  if (count > limits.maxEntries || namesLength > limits.maxNamesBytes) return undefined;
  const size = count * ENTRY_BYTES + namesLength;
  // A header that claims more than the file holds lies (or the pack was cut
  // short): nothing is allocated for it.
  const fileSize = options.fileSize ?? (await file.stat()).size;
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
    entries: count,
    namesBytes: namesLength,
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

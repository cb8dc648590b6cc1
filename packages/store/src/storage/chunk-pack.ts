import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readdirSync, readSync } from "node:fs";
import { basename, join } from "node:path";
import { CanonError } from "@canon/core";
import { fileIdentityOf } from "../caches/file-identity.js";

// A chunk pack: the chunks of many documents in one file, written once by a
// join (`FileStorage.settle`) instead of a file each. A join of 1,000
// documents wrote ~1,000 files in ~3,000 new folders, each file and folder
// synced (~3,400 `fsync`s, ~4,600 `mkdir`s); a pack is one file, one
// `fsync`, and its folder's. Layout, integers big-endian:
//
//   header   "CNC1", index length (u32), sha-256 of the index (32 bytes)
//   index    JSON: { v: 1, chunks: [[documentId, "snapshot", name, offset, length], ...] },
//            each document once
//   chunks   each chunk's file bytes as `FileStorage` writes them (tag and
//            sha-256 of its own, `checksummed.ts`), one after another
//
// Packs live in `<replica>/packs/<sha-256 of the index>.pack` and are never
// changed. A document's chunks are its files in the usual layout
// (`chunk-layout.ts`) when it has a chunk folder (`<id[0..2]>/<id[2..]>/snapshot`
// or `…/incremental`), and its entry in the packs only when it has neither
// (a sync state, in `…/sync-state`, changes nothing): the first write of a
// chunk to a packed document moves its snapshot into such a folder, whole,
// with one rename (`FileStorage`), and from then on its files alone describe
// it, so a chunk removed later (a compaction) never comes back from a pack.

/** The folder of a replica's chunk packs (no document's folder is named so: those are 2 characters). */
export const PACKS_FOLDER = "packs";

const MAGIC = "CNC1";
const HEADER_BYTES = 4 + 4 + 32;
/** The largest index a pack may claim (a million chunks is ~100 MB of JSON; a join's 1,000, ~100 KB). */
const MAX_INDEX_BYTES = 128 * 1024 * 1024;

/** One chunk in a pack: where its file bytes lie. */
export interface PackedChunk {
  readonly documentId: string;
  /** `snapshot` or `incremental`. */
  readonly kind: string;
  /** The chunk's name within its kind (a content hash). */
  readonly name: string;
  /** The pack holding it. */
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

const DOCUMENT_ID = /^[A-Za-z0-9]{3,128}$/;
const CHUNK_NAME = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * True when a chunk key can go in a pack (the index's schema accepts it): a
 * snapshot, one a document (what a document taken in whole is stored as);
 * others are stored as files.
 */
export function packable(documentId: string, kind: string, name: string): boolean {
  return DOCUMENT_ID.test(documentId) && kind === "snapshot" && CHUNK_NAME.test(name);
}

type IndexEntry = readonly [
  documentId: string,
  kind: "snapshot",
  name: string,
  offset: number,
  length: number,
];

const isCount = (value: unknown): value is number =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0;

/**
 * A pack index's entries, or undefined when `value` is not an index: checked
 * by hand rather than with zod because `canon show` (the agent's hot path,
 * which must load no zod: packages/cli/rollup.config.mjs) imports this file
 * through the disk proof.
 */
function indexEntries(value: unknown): IndexEntry[] | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const { v, chunks, ...rest } = value as Record<string, unknown>;
  if (v !== 1 || !Array.isArray(chunks) || Object.keys(rest).length > 0) return undefined;
  for (const entry of chunks) {
    if (!Array.isArray(entry) || entry.length !== 5) return undefined;
    const [documentId, kind, name, offset, length] = entry as unknown[];
    if (
      typeof documentId !== "string" ||
      !DOCUMENT_ID.test(documentId) ||
      kind !== "snapshot" ||
      typeof name !== "string" ||
      !CHUNK_NAME.test(name) ||
      !isCount(offset) ||
      !isCount(length)
    )
      return undefined;
  }
  return chunks as IndexEntry[];
}

/** The bytes of a pack holding `chunks`: each a document's chunk key and its file bytes (already checksummed). */
export function encodeChunkPack(
  chunks: readonly (readonly [key: readonly [string, string, string], fileBytes: Uint8Array])[],
): Buffer {
  // Offsets are counted from the end of the index, whose length depends on them: encode
  // with relative offsets, then shift by the header and index length (a fixed point
  // reached in a few rounds, as the digits of the offsets grow).
  let start = 0;
  for (;;) {
    let offset = start;
    const entries = chunks.map(([[documentId, kind, name], bytes]) => {
      const entry = [documentId, kind, name, offset, bytes.length] as const;
      offset += bytes.length;
      return entry;
    });
    const index = Buffer.from(JSON.stringify({ v: 1, chunks: entries }));
    if (HEADER_BYTES + index.length === start) {
      const header = Buffer.alloc(HEADER_BYTES);
      header.write(MAGIC, 0, "latin1");
      header.writeUInt32BE(index.length, 4);
      createHash("sha256").update(index).digest().copy(header, 8);
      return Buffer.concat([header, index, ...chunks.map(([, bytes]) => bytes)]);
    }
    start = HEADER_BYTES + index.length;
  }
}

/** The name a pack of these bytes is stored under: the hash of its index (two writers of the same pack write one file). */
export function chunkPackName(pack: Uint8Array): string {
  return `${Buffer.from(pack.buffer, pack.byteOffset + 8, 32).toString("hex")}.pack`;
}

/**
 * Reads one pack's index and checks it: its hash, its schema, and that every
 * chunk lies inside the file after the index.
 * @throws CanonError `STORAGE_DAMAGED` naming the pack when it is not whole.
 */
export function readChunkPackIndex(path: string): PackedChunk[] {
  const damaged = (what: string) =>
    new CanonError(
      "STORAGE_DAMAGED",
      `chunk pack ${path} is damaged (${what}); the rest of the replica is intact — move this file away and run \`canon sync\` to fetch its documents again`,
    );
  const file = openSync(path, "r");
  try {
    const size = fstatSync(file).size;
    const header = Buffer.alloc(HEADER_BYTES);
    if (
      readSync(file, header, 0, HEADER_BYTES, 0) !== HEADER_BYTES ||
      header.toString("latin1", 0, 4) !== MAGIC
    )
      throw damaged("no pack header");
    const indexLength = header.readUInt32BE(4);
    if (indexLength > MAX_INDEX_BYTES || HEADER_BYTES + indexLength > size)
      throw damaged("an index longer than the file");
    const index = Buffer.alloc(indexLength);
    if (readSync(file, index, 0, indexLength, HEADER_BYTES) !== indexLength)
      throw damaged("cut short");
    if (!createHash("sha256").update(index).digest().equals(header.subarray(8)))
      throw damaged("checksum mismatch");
    let entries: IndexEntry[] | undefined;
    try {
      entries = indexEntries(JSON.parse(index.toString("utf8")));
    } catch {
      entries = undefined;
    }
    if (entries === undefined) throw damaged("an index that is not a pack's");
    const dataStart = HEADER_BYTES + indexLength;
    const documents = new Set<string>();
    return entries.map(([documentId, kind, name, offset, length]) => {
      if (offset < dataStart || offset + length > size) throw damaged("a chunk outside the file");
      if (documents.has(documentId)) throw damaged("a document listed twice");
      documents.add(documentId);
      return { documentId, kind, name, path, offset, length };
    });
  } finally {
    closeSync(file);
  }
}

/** By replica folder: the packs' chunks by document id, and the identities of the folder and packs they were read at. */
const readAt = new Map<
  string,
  {
    identity: string;
    packs: readonly (readonly [string, string | undefined])[];
    byDocument: Map<string, PackedChunk[]>;
  }
>();

/**
 * Every packed chunk of the replica in `directory`, by document id (in
 * pack-name order, each document's chunks in key order). Read once a
 * process and again whenever the packs folder or a pack's file changes (a
 * pack added by another process, an edit); empty when there is none.
 * @throws CanonError `STORAGE_DAMAGED` when a pack is not whole.
 */
export function packedChunks(directory: string): ReadonlyMap<string, readonly PackedChunk[]> {
  const folder = join(directory, PACKS_FOLDER);
  const identity = fileIdentityOf(folder);
  if (identity === undefined) return new Map();
  const known = readAt.get(directory);
  if (
    known?.identity === identity &&
    known.packs.every(([path, packIdentity]) => fileIdentityOf(path) === packIdentity)
  )
    return known.byDocument;
  const byDocument = new Map<string, PackedChunk[]>();
  const names = readdirSync(folder)
    .filter((name) => name.endsWith(".pack"))
    .sort();
  const packs = names.map(
    (name) => [join(folder, name), fileIdentityOf(join(folder, name))] as const,
  );
  for (const name of names)
    for (const chunk of readChunkPackIndex(join(folder, name))) {
      const list = byDocument.get(chunk.documentId) ?? [];
      if (!list.some((other) => other.kind === chunk.kind && other.name === chunk.name))
        list.push(chunk);
      byDocument.set(chunk.documentId, list);
    }
  for (const list of byDocument.values())
    list.sort((a, b) => (`${a.kind}/${a.name}` < `${b.kind}/${b.name}` ? -1 : 1));
  readAt.set(directory, { identity, packs, byDocument });
  return byDocument;
}

/**
 * The packs' seal: the identities (`file-identity.ts`) of the replica's
 * packs folder and of each pack in it, at which {@link packedChunks} last
 * read and checked every pack's index in this process, with what it read
 * then; undefined when there is no packs folder. Reads (and checks) the
 * indexes first when they changed since, or were never read. A disk proof
 * records it, so that a later process finds the same packs by
 * {@link packsSealHolds} (a `stat` each) without reading their indexes
 * again: packs are never changed, and adding, removing or replacing one
 * changes the folder's or its identity.
 * @throws CanonError `STORAGE_DAMAGED` when a pack is not whole.
 */
export function packsSeal(
  directory: string,
):
  | { readonly seal: string; readonly chunks: ReadonlyMap<string, readonly PackedChunk[]> }
  | undefined {
  packedChunks(directory);
  const known = readAt.get(directory);
  // No packs folder (any more): packedChunks left what it read before, if anything, in place.
  if (known === undefined || known.identity !== fileIdentityOf(join(directory, PACKS_FOLDER)))
    return undefined;
  const seal = JSON.stringify([
    known.identity,
    known.packs.map(([path, identity]) => [basename(path), identity ?? null]),
  ]);
  return { seal, chunks: known.byDocument };
}

/**
 * True when the replica's packs folder and every pack in it have the
 * identities `seal` ({@link packsSeal}) recorded, so the packs' indexes say
 * what they said then. A `stat` of the folder and of each pack the seal
 * names; no pack is read. False for a seal that is not one.
 */
export function packsSealHolds(directory: string, seal: string): boolean {
  try {
    const parsed: unknown = JSON.parse(seal);
    if (!Array.isArray(parsed) || parsed.length !== 2) return false;
    const [identity, packs] = parsed as [unknown, unknown];
    if (typeof identity !== "string" || !Array.isArray(packs)) return false;
    const folder = join(directory, PACKS_FOLDER);
    if (fileIdentityOf(folder) !== identity) return false;
    return packs.every(
      (entry: unknown) =>
        Array.isArray(entry) &&
        typeof entry[0] === "string" &&
        typeof entry[1] === "string" &&
        entry[0] === basename(entry[0]) &&
        entry[0].endsWith(".pack") &&
        fileIdentityOf(join(folder, entry[0])) === entry[1],
    );
  } catch {
    return false;
  }
}

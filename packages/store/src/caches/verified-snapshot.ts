import { createHash } from "node:crypto";
import { readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import {
  type CanonRecord,
  type FoldResult,
  fold,
  REJECTION_CODES,
  type Rejection,
  type RejectionCode,
  type SignedRecord,
} from "@canon/core";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";
import { checksummed, storedChecksum, unchecksummed } from "../storage/checksummed.js";
import {
  checksumOf,
  dropDamaged,
  MAX_TAIL_BYTES,
  NOT_DURABLE,
  readTail,
  TailWriter,
  type Written,
} from "./cache-tail.js";

/**
 * The verified snapshot of a space: every record of its documents that passed
 * its own checks (CID, envelope, schema, signature), the entries that failed
 * them with the reason, and the releases whose content matched, as this home
 * last folded them. Kept in `$CANON_HOME/index/<space-document-id>.verified`.
 *
 * Two uses:
 * - a replica seeds its cache of verified records from it, so a fold checks
 *   only records whose bytes it has not verified before (a CID fixes the
 *   bytes, and the bytes fix every check's outcome);
 * - when `fingerprint` still names exactly the chunk files on disk, the
 *   documents hold nothing else, and the space's state is the fold of these
 *   records alone: read-only commands get it without loading Automerge.
 *
 * It is a cache, as trusted as the replica beside it (whoever can edit it can
 * edit the replica), checksummed so a damaged file is ignored, never half-read.
 * Format: tag `CNV1`, sha-256, then a 4-byte big-endian length, a JSON header,
 * and the records' envelopes back to back (records hold only strings, numbers,
 * arrays and maps, so JSON keeps them exactly, and parses far faster than
 * decoding ten thousand DAG-CBOR payloads).
 *
 * Provenance records (stamps) are kept apart, one file per author in
 * `<space-document-id>.feeds/` (tag `CNVF`, same layout), each named in the
 * main file's header with its checksum: so `stamp` and `verify`, which need
 * the space's other records and one agent's stamps, read and rewrite those
 * alone ({@link readVerifiedSnapshot} with `agents`, a {@link PartialStamps}
 * snapshot), whatever the number of stamps in the space.
 *
 * What a command added since the main file was written can be kept in its
 * tail, `<space-document-id>.verified-tail` (tag `CNVT`, `cache-tail.ts`):
 * the added records, invalid entries and matched contents, and the
 * fingerprint and stamps files that replace the main file's.
 */
export interface VerifiedSnapshot {
  /** CID of the space's genesis record. */
  readonly genesis: string;
  /** Chunk file names (`kind/name`) of every document folded, by document id. */
  readonly fingerprint: Readonly<Record<string, readonly string[]>>;
  /** Records that passed their own checks, whether or not the space's rules accepted them. */
  readonly records: readonly SignedRecord[];
  /** Entries that failed their own checks, with the reason. */
  readonly invalid: readonly Rejection[];
  /** Releases, by CID, whose content the fold matched against its content CID. */
  readonly contentVerified: readonly string[];
  /**
   * Set when `records` holds the provenance records of only some authors
   * (read with `agents`): the others' stay on disk as they are, and writing
   * this snapshot rewrites only these authors' files.
   */
  readonly partial?: PartialStamps | undefined;
}

/** Which authors' stamps a partial snapshot holds, and the checksums of the others' files, kept as they are. */
export interface PartialStamps {
  /** The authors (dids) whose provenance records `records` holds, all of them. */
  readonly agents: readonly string[];
  /** Checksum (hex) of every other author's stamps file, by did. */
  readonly others: Readonly<Record<string, string>>;
}

const TAG = "CNV1";
const FEED_TAG = "CNVF";
/** The tail's tag (`cache-tail.ts`): what was appended since the main file was written. */
const TAIL_TAG = "CNVT";

interface Header {
  /** 3 since stamps live in their authors' files; a snapshot of another version is not read (the documents are folded instead). */
  v: 3;
  genesis: string;
  fingerprint: Record<string, string[]>;
  records: [cid: string, length: number, record: CanonRecord][];
  invalid: Rejection[];
  contentVerified: string[];
  /** Per author did: the checksum (hex) of its stamps file. */
  feeds: Record<string, string>;
}

/**
 * The tail's header: the records (not stamps), invalid entries and matched
 * contents appended since the main file was written, and the fingerprint and
 * stamps files that replace the main file's.
 */
interface TailHeader {
  v: 1;
  fingerprint: Record<string, string[]>;
  records: [cid: string, length: number, record: CanonRecord][];
  invalid: Rejection[];
  contentVerified: string[];
  feeds: Record<string, string>;
}

/** What this process last wrote of a space's snapshot: the whole, and what its tail holds. */
interface WrittenSnapshot {
  readonly snapshot: VerifiedSnapshot;
  /** The records (stamps aside), invalid entries and matched contents in the tail. */
  readonly tail: {
    readonly records: readonly SignedRecord[];
    readonly invalid: readonly Rejection[];
    readonly contentVerified: readonly string[];
  };
  /** The stamps files the main file (or the tail) names, by did. */
  readonly feeds: Readonly<Record<string, string>>;
}

/** The keys of a written snapshot's records, invalid entries and matched contents, to find what a next one adds. */
interface SnapshotKeys {
  readonly records: Set<string>;
  readonly invalid: Set<string>;
  readonly contents: Set<string>;
}

/**
 * {@link SnapshotKeys} of snapshots this process wrote, by snapshot object:
 * built once, then carried over (extended in place) to the snapshot a tail
 * adds to it, so appending one release does not build three sets of every
 * record's key again. Each entry holds exactly its snapshot's keys.
 */
const keysOfWritten = new WeakMap<VerifiedSnapshot, SnapshotKeys>();

const invalidKey = (entry: Rejection) => `${entry.cid} ${entry.code}`;

function keysOf(snapshot: VerifiedSnapshot): SnapshotKeys {
  let keys = keysOfWritten.get(snapshot);
  if (keys === undefined) {
    keys = {
      records: new Set(snapshot.records.map((signed) => signed.cid)),
      invalid: new Set(snapshot.invalid.map(invalidKey)),
      contents: new Set(snapshot.contentVerified),
    };
    keysOfWritten.set(snapshot, keys);
  }
  return keys;
}

/** Main files and tails this process wrote, to append to (see `cache-tail.ts`). */
const written = new TailWriter<WrittenSnapshot>(TAG, TAIL_TAG);

interface FeedHeader {
  did: string;
  records: [cid: string, length: number, record: CanonRecord][];
}

/** Where a space's verified snapshot lives. */
function pathOf(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.verified`);
}

/** The folder of a space's per-author stamps files. */
function feedsDirOf(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.feeds`);
}

/** An author's stamps file: named by a hash of the did (a did is no file name). */
function feedPathOf(home: CanonHome, spaceDocumentId: string, did: string): string {
  const name = createHash("sha256").update(did).digest("hex").slice(0, 40);
  return join(feedsDirOf(home, spaceDocumentId), name);
}

/** The snapshot a fold produced: what to keep of it. */
export function snapshotOf(
  genesis: string,
  fingerprint: Readonly<Record<string, readonly string[]>>,
  result: FoldResult,
): VerifiedSnapshot {
  const contentVerified: string[] = [];
  for (const standard of result.state?.standards.values() ?? [])
    contentVerified.push(...standard.releases.keys());
  return {
    genesis,
    fingerprint,
    records: [...result.verified.values()],
    invalid: result.invalid,
    contentVerified,
  };
}

/**
 * The space's snapshot, or undefined when there is none or it cannot be
 * trusted (damaged, another format, a stamps file missing or not the one the
 * main file names). With `agents`, only those authors' stamps are read (a
 * {@link PartialStamps} snapshot), so reading costs the same however many
 * stamps the others made.
 */
export async function readVerifiedSnapshot(
  home: CanonHome,
  spaceDocumentId: string,
  options: { readonly agents?: readonly string[] } = {},
): Promise<VerifiedSnapshot | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(pathOf(home, spaceDocumentId));
  } catch {
    return undefined;
  }
  const opened = unchecksummed(TAG, bytes);
  if (!("data" in opened)) {
    await dropDamaged(pathOf(home, spaceDocumentId));
    return undefined;
  }
  try {
    const framed = unframe(opened.data);
    if (framed === undefined) return undefined;
    const base = framed.header as Header;
    if (!isHeader(base)) return undefined;
    const records = [...framed.records];
    // What was appended since the base was written, when there is a tail naming this base.
    const tail = await readTail(
      TailWriter.tailPathOf(pathOf(home, spaceDocumentId)),
      TAIL_TAG,
      checksumOf(bytes),
    );
    if (tail.kind === "damaged") return undefined;
    let header: Header = base;
    if (tail.kind === "tail") {
      const appended = unframe(tail.data);
      const extension = appended?.header as TailHeader | undefined;
      if (appended === undefined || !isTailHeader(extension)) return undefined;
      records.push(...appended.records);
      header = {
        ...base,
        fingerprint: extension.fingerprint,
        invalid: [...base.invalid, ...extension.invalid],
        contentVerified: [...base.contentVerified, ...extension.contentVerified],
        feeds: extension.feeds,
      };
    }
    // An author's corrections and stamps are one chain (`previous`): the fold
    // accepts a correction only with the stamps before it, so a partial read
    // takes the stamps of every author of another record too (corrections are
    // few; an agent that only stamps stays out).
    const agents =
      options.agents === undefined
        ? undefined
        : [
            ...new Set([
              ...options.agents,
              ...records
                .map((signed) => signed.record.author)
                .filter((did) => Object.hasOwn(header.feeds, did)),
            ]),
          ];
    const wanted =
      agents === undefined
        ? Object.keys(header.feeds)
        : agents.filter((did) => Object.hasOwn(header.feeds, did));
    for (const did of wanted) {
      const stamps = await readFeedFile(home, spaceDocumentId, did, header.feeds[did] as string);
      if (stamps === undefined) return undefined;
      records.push(...stamps);
    }
    const partial =
      agents === undefined
        ? undefined
        : {
            agents,
            others: Object.fromEntries(
              Object.entries(header.feeds).filter(([did]) => !agents.includes(did)),
            ),
          };
    return {
      genesis: header.genesis,
      fingerprint: header.fingerprint,
      records,
      invalid: header.invalid,
      contentVerified: header.contentVerified,
      ...(partial ? { partial } : {}),
    };
  } catch {
    return undefined;
  }
}

/** An author's stamps, when its file is intact, is the one `checksum` names, and holds only its stamps. */
async function readFeedFile(
  home: CanonHome,
  spaceDocumentId: string,
  did: string,
  checksum: string,
): Promise<SignedRecord[] | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(feedPathOf(home, spaceDocumentId, did));
  } catch {
    return undefined;
  }
  if (Buffer.from(bytes.subarray(4, 36)).toString("hex") !== checksum) return undefined;
  const opened = unchecksummed(FEED_TAG, bytes);
  if (!("data" in opened)) {
    // Damaged after writing: gone, so the next write does not skip it as unchanged.
    await unlink(feedPathOf(home, spaceDocumentId, did)).catch(() => {});
    return undefined;
  }
  const framed = unframe(opened.data);
  const header = framed?.header as Partial<FeedHeader> | undefined;
  if (framed === undefined || header?.did !== did) return undefined;
  for (const { record } of framed.records)
    if (record.type !== "canon/provenance" || record.author !== did) return undefined;
  return framed.records;
}

/** A JSON header and the records' envelopes after it; undefined when malformed. */
function unframe(
  data: Uint8Array,
): { header: { records: unknown }; records: SignedRecord[] } | undefined {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const headerLength = view.getUint32(0);
  const header = JSON.parse(new TextDecoder().decode(data.subarray(4, 4 + headerLength))) as {
    records: unknown;
  };
  if (typeof header !== "object" || header === null || !Array.isArray(header.records))
    return undefined;
  const records: SignedRecord[] = [];
  let offset = 4 + headerLength;
  for (const entry of header.records) {
    if (!Array.isArray(entry)) return undefined;
    const [cid, length, record] = entry;
    if (typeof cid !== "string" || !Number.isInteger(length) || length < 0) return undefined;
    if (typeof record !== "object" || record === null) return undefined;
    records.push({ cid, bytes: data.subarray(offset, offset + length), record });
    offset += length;
  }
  if (offset !== data.length) return undefined;
  return { header, records };
}

/** A JSON header and the records' envelopes back to back, length-prefixed. */
function frame(header: object, records: readonly SignedRecord[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  let length = 4 + json.length;
  for (const { bytes } of records) length += bytes.length;
  const data = new Uint8Array(length);
  new DataView(data.buffer).setUint32(0, json.length);
  data.set(json, 4);
  let offset = 4 + json.length;
  for (const { bytes } of records) {
    data.set(bytes, offset);
    offset += bytes.length;
  }
  return data;
}

/** The header's shape (our own file, but never trusted to be well-formed). */
function isHeader(header: unknown): header is Header {
  const h = header as Partial<Header> | null;
  return (
    typeof h === "object" &&
    h !== null &&
    h.v === 3 &&
    typeof h.genesis === "string" &&
    typeof h.fingerprint === "object" &&
    h.fingerprint !== null &&
    Object.values(h.fingerprint).every(
      (names) => Array.isArray(names) && names.every((name) => typeof name === "string"),
    ) &&
    Array.isArray(h.records) &&
    Array.isArray(h.invalid) &&
    h.invalid.every(isRejection) &&
    Array.isArray(h.contentVerified) &&
    typeof h.feeds === "object" &&
    h.feeds !== null &&
    Object.values(h.feeds).every((checksum) => typeof checksum === "string")
  );
}

/** The tail header's shape. */
function isTailHeader(header: unknown): header is TailHeader {
  const h = header as Partial<TailHeader> | null | undefined;
  return typeof h === "object" && h !== null && h.v === 1 && isHeader({ ...h, v: 3, genesis: "" });
}

/** A stored rejection: a CID, a known code and a reason. */
function isRejection(value: unknown): value is Rejection {
  const r = value as Partial<Rejection> | null;
  return (
    typeof r === "object" &&
    r !== null &&
    typeof r.cid === "string" &&
    typeof r.reason === "string" &&
    REJECTION_CODES.includes(r.code as RejectionCode)
  );
}

/**
 * Replaces the space's snapshot: each author's stamps file first (only those
 * whose content changed are written; for a partial snapshot, only its
 * authors'), then the main file naming them, so a reader never pairs a main
 * file with stamps it does not name; files no longer named are removed.
 *
 * When this process wrote the snapshot on disk and `snapshot` only adds to
 * it (records, invalid entries, matched contents; a new fingerprint), only
 * the additions are written, as the main file's tail (`cache-tail.ts`), with
 * the stamps files of the authors of new stamps: so a command that adds one
 * release writes a few kilobytes, not the whole space. The tail is rewritten
 * whole each time and becomes a new main file past {@link MAX_TAIL_BYTES}.
 */
export async function writeVerifiedSnapshot(
  home: CanonHome,
  spaceDocumentId: string,
  snapshot: VerifiedSnapshot,
): Promise<void> {
  const path = pathOf(home, spaceDocumentId);
  const onDisk = snapshot.partial === undefined ? await written.current(path) : undefined;
  const previous = onDisk?.state;
  if (onDisk !== undefined && (await appendSnapshot(home, spaceDocumentId, onDisk, snapshot)))
    return;
  const stamps = new Map<string, SignedRecord[]>();
  const rest: SignedRecord[] = [];
  for (const signed of snapshot.records) {
    if (signed.record.type !== "canon/provenance") rest.push(signed);
    else stamps.set(signed.record.author, [...(stamps.get(signed.record.author) ?? []), signed]);
  }
  const previousFeeds = previous?.feeds ?? (await readMainHeader(home, spaceDocumentId))?.feeds;
  const feeds: Record<string, string> = { ...snapshot.partial?.others };
  for (const did of snapshot.partial?.agents ?? []) if (!stamps.has(did)) delete feeds[did];
  for (const [did, records] of stamps) {
    // A partial snapshot rewrites only its authors' files: any other author's would lose stamps.
    if (snapshot.partial !== undefined && !snapshot.partial.agents.includes(did))
      throw new Error(`a partial snapshot holds stamps of ${did}, not one of its authors`);
    feeds[did] = await writeFeedFile(home, spaceDocumentId, did, records, previousFeeds?.[did]);
  }
  const header: Header = {
    v: 3,
    genesis: snapshot.genesis,
    fingerprint: snapshot.fingerprint as Record<string, string[]>,
    records: rest.map(({ cid, bytes, record }) => [cid, bytes.length, record]),
    invalid: [...snapshot.invalid],
    contentVerified: [...snapshot.contentVerified],
    feeds,
  };
  await written.writeBase(path, frame(header, rest), {
    snapshot,
    tail: { records: [], invalid: [], contentVerified: [] },
    feeds,
  });
  // A partial snapshot is not appended to: the next write is a main file again.
  if (snapshot.partial !== undefined) written.forget(path);
  // Stamps files of authors no longer named (a partial write keeps every other one).
  const named = new Set(
    Object.keys(feeds).map((did) => feedPathOf(home, spaceDocumentId, did).split("/").pop()),
  );
  const folder = feedsDirOf(home, spaceDocumentId);
  for (const name of await readdir(folder).catch(() => [] as string[]))
    if (!named.has(name) && !name.includes(".tmp-"))
      await unlink(join(folder, name)).catch(() => {});
}

/** Writes an author's stamps file unless the one on disk holds the same; returns its checksum. */
async function writeFeedFile(
  home: CanonHome,
  spaceDocumentId: string,
  did: string,
  records: readonly SignedRecord[],
  previous: string | undefined,
): Promise<string> {
  const header: FeedHeader = {
    did,
    records: records.map(({ cid, bytes, record }) => [cid, bytes.length, record]),
  };
  const file = checksummed(FEED_TAG, frame(header, records));
  const checksum = checksumOf(file);
  const path = feedPathOf(home, spaceDocumentId, did);
  if (previous !== checksum || (await storedChecksum(path)) !== checksum)
    await writeFileAtomic(path, file, 0o644, false, NOT_DURABLE);
  return checksum;
}

/**
 * Writes `next` as the tail of what this process wrote (`previous`) when it
 * holds everything `previous` held and the tail stays small; false (nothing
 * written) otherwise, and the caller writes a main file.
 */
async function appendSnapshot(
  home: CanonHome,
  spaceDocumentId: string,
  onDisk: Written<WrittenSnapshot>,
  next: VerifiedSnapshot,
): Promise<boolean> {
  const previous = onDisk.state;
  const before = previous.snapshot;
  if (before.genesis !== next.genesis || before.partial !== undefined) return false;
  const keys = keysOf(before);
  const added = <T>(had: ReadonlySet<string>, now: readonly T[], key: (item: T) => string) => {
    const more = now.filter((item) => !had.has(key(item)));
    // Something `previous` held is gone: the tail cannot say so.
    return now.length - more.length === had.size ? more : undefined;
  };
  const records = added(keys.records, next.records, (signed) => signed.cid);
  const invalid = added(keys.invalid, next.invalid, invalidKey);
  const contents = added(keys.contents, next.contentVerified, (cid) => cid);
  if (records === undefined || invalid === undefined || contents === undefined) return false;
  const rest = records.filter((signed) => signed.record.type !== "canon/provenance");
  const tail = {
    records: [...previous.tail.records, ...rest],
    invalid: [...previous.tail.invalid, ...invalid],
    contentVerified: [...previous.tail.contentVerified, ...contents],
  };
  let size = 0;
  for (const { bytes } of tail.records) size += bytes.length;
  if (size > MAX_TAIL_BYTES / 2 || tail.invalid.length + tail.contentVerified.length > 4096)
    return false;
  // Every other author's stamps file still as written (one found damaged was removed).
  for (const [did, checksum] of Object.entries(previous.feeds))
    if ((await storedChecksum(feedPathOf(home, spaceDocumentId, did))) !== checksum) return false;
  // The stamps files of authors with new stamps, whole (each is one author's).
  const feeds: Record<string, string> = { ...previous.feeds };
  const authors = new Set(
    records
      .filter((signed) => signed.record.type === "canon/provenance")
      .map((signed) => signed.record.author),
  );
  for (const did of authors) {
    const stamps = next.records.filter(
      (signed) => signed.record.type === "canon/provenance" && signed.record.author === did,
    );
    feeds[did] = await writeFeedFile(home, spaceDocumentId, did, stamps, previous.feeds[did]);
  }
  const header: TailHeader = {
    v: 1,
    fingerprint: next.fingerprint as Record<string, string[]>,
    records: tail.records.map(({ cid, bytes, record }) => [cid, bytes.length, record]),
    invalid: tail.invalid,
    contentVerified: tail.contentVerified,
    feeds,
  };
  const data = frame(header, tail.records);
  if (data.length > MAX_TAIL_BYTES) return false;
  await written.writeTail(pathOf(home, spaceDocumentId), onDisk, data, {
    snapshot: next,
    tail,
    feeds,
  });
  // Written: `next` holds `before`'s keys and those added; the sets move to it.
  keysOfWritten.delete(before);
  for (const signed of records) keys.records.add(signed.cid);
  for (const entry of invalid) keys.invalid.add(invalidKey(entry));
  for (const cid of contents) keys.contents.add(cid);
  keysOfWritten.set(next, keys);
  return true;
}

/** The main file's header when it is intact, to skip rewriting stamps files that did not change. */
async function readMainHeader(
  home: CanonHome,
  spaceDocumentId: string,
): Promise<Header | undefined> {
  try {
    const opened = unchecksummed(TAG, await readFile(pathOf(home, spaceDocumentId)));
    if (!("data" in opened)) return undefined;
    const header = unframe(opened.data)?.header;
    return isHeader(header) ? header : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The space's state from a snapshot alone: the fold of its records, with no
 * check repeated (each record's bytes are those that passed) and no content
 * looked up (the releases whose content matched are listed). Equal to the
 * fold of the documents the snapshot's fingerprint names.
 */
export async function foldSnapshot(snapshot: VerifiedSnapshot): Promise<FoldResult> {
  const verified = new Map(snapshot.records.map((signed) => [signed.cid, signed]));
  const contentMatched = new Set(snapshot.contentVerified);
  const result = await fold({
    spaceCid: snapshot.genesis,
    entries: snapshot.records,
    content: () => [],
    cache: {
      verifiedRecord: (cid) => verified.get(cid),
      contentMatched: (cid) => contentMatched.has(cid),
    },
  });
  return {
    ...result,
    rejected: [...snapshot.invalid, ...result.rejected],
    invalid: snapshot.invalid,
  };
}

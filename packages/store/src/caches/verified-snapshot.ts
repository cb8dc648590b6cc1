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
  if (!("data" in opened)) return undefined;
  try {
    const framed = unframe(opened.data);
    if (framed === undefined) return undefined;
    const header = framed.header as Header;
    if (!isHeader(header)) return undefined;
    const records = [...framed.records];
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
 */
export async function writeVerifiedSnapshot(
  home: CanonHome,
  spaceDocumentId: string,
  snapshot: VerifiedSnapshot,
): Promise<void> {
  const stamps = new Map<string, SignedRecord[]>();
  const rest: SignedRecord[] = [];
  for (const signed of snapshot.records) {
    if (signed.record.type !== "canon/provenance") rest.push(signed);
    else stamps.set(signed.record.author, [...(stamps.get(signed.record.author) ?? []), signed]);
  }
  const previous = await readMainHeader(home, spaceDocumentId);
  const feeds: Record<string, string> = { ...snapshot.partial?.others };
  for (const did of snapshot.partial?.agents ?? []) if (!stamps.has(did)) delete feeds[did];
  for (const [did, records] of stamps) {
    // A partial snapshot rewrites only its authors' files: any other author's would lose stamps.
    if (snapshot.partial !== undefined && !snapshot.partial.agents.includes(did))
      throw new Error(`a partial snapshot holds stamps of ${did}, not one of its authors`);
    const header: FeedHeader = {
      did,
      records: records.map(({ cid, bytes, record }) => [cid, bytes.length, record]),
    };
    const file = checksummed(FEED_TAG, frame(header, records));
    const checksum = Buffer.from(file.subarray(4, 36)).toString("hex");
    feeds[did] = checksum;
    const path = feedPathOf(home, spaceDocumentId, did);
    if (previous?.feeds[did] === checksum && (await storedChecksum(path)) === checksum) continue;
    await writeFileAtomic(path, file);
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
  await writeFileAtomic(pathOf(home, spaceDocumentId), checksummed(TAG, frame(header, rest)));
  // Stamps files of authors no longer named (a partial write keeps every other one).
  const named = new Set(
    Object.keys(feeds).map((did) => feedPathOf(home, spaceDocumentId, did).split("/").pop()),
  );
  const folder = feedsDirOf(home, spaceDocumentId);
  for (const name of await readdir(folder).catch(() => [] as string[]))
    if (!named.has(name) && !name.includes(".tmp-"))
      await unlink(join(folder, name)).catch(() => {});
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

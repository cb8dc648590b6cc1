import { readFile } from "node:fs/promises";
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
import { checksummed, unchecksummed } from "../storage/checksummed.js";

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
}

const TAG = "CNV1";

interface Header {
  /** 2 since rejections carry a code; a snapshot of another version is not read (the documents are folded instead). */
  v: 2;
  genesis: string;
  fingerprint: Record<string, string[]>;
  records: [cid: string, length: number, record: CanonRecord][];
  invalid: Rejection[];
  contentVerified: string[];
}

/** Where a space's verified snapshot lives. */
function pathOf(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.verified`);
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

/** The space's snapshot, or undefined when there is none or it cannot be trusted (damaged, another format). */
export async function readVerifiedSnapshot(
  home: CanonHome,
  spaceDocumentId: string,
): Promise<VerifiedSnapshot | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(pathOf(home, spaceDocumentId));
  } catch {
    return undefined;
  }
  const opened = unchecksummed(TAG, bytes);
  if (!("data" in opened)) return undefined;
  const { data } = opened;
  try {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const headerLength = view.getUint32(0);
    const header = JSON.parse(
      new TextDecoder().decode(data.subarray(4, 4 + headerLength)),
    ) as Header;
    if (!isHeader(header)) return undefined;
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
    return {
      genesis: header.genesis,
      fingerprint: header.fingerprint,
      records,
      invalid: header.invalid,
      contentVerified: header.contentVerified,
    };
  } catch {
    return undefined;
  }
}

/** The header's shape (our own file, but never trusted to be well-formed). */
function isHeader(header: unknown): header is Header {
  const h = header as Partial<Header> | null;
  return (
    typeof h === "object" &&
    h !== null &&
    h.v === 2 &&
    typeof h.genesis === "string" &&
    typeof h.fingerprint === "object" &&
    h.fingerprint !== null &&
    Object.values(h.fingerprint).every(
      (names) => Array.isArray(names) && names.every((name) => typeof name === "string"),
    ) &&
    Array.isArray(h.records) &&
    Array.isArray(h.invalid) &&
    h.invalid.every(isRejection) &&
    Array.isArray(h.contentVerified)
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

/** Replaces the space's snapshot. */
export async function writeVerifiedSnapshot(
  home: CanonHome,
  spaceDocumentId: string,
  snapshot: VerifiedSnapshot,
): Promise<void> {
  const header: Header = {
    v: 2,
    genesis: snapshot.genesis,
    fingerprint: snapshot.fingerprint as Record<string, string[]>,
    records: snapshot.records.map(({ cid, bytes, record }) => [cid, bytes.length, record]),
    invalid: [...snapshot.invalid],
    contentVerified: [...snapshot.contentVerified],
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  let length = 4 + json.length;
  for (const { bytes } of snapshot.records) length += bytes.length;
  const data = new Uint8Array(length);
  new DataView(data.buffer).setUint32(0, json.length);
  data.set(json, 4);
  let offset = 4 + json.length;
  for (const { bytes } of snapshot.records) {
    data.set(bytes, offset);
    offset += bytes.length;
  }
  await writeFileAtomic(pathOf(home, spaceDocumentId), checksummed(TAG, data));
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

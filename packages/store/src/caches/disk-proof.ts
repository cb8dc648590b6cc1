import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";
import { checksummed, unchecksummed } from "../storage/checksummed.js";
import {
  CHUNK_KINDS,
  chunkFingerprint,
  packedChunkNames,
  pathOfKey,
} from "../storage/chunk-layout.js";
import type { FileStorage } from "../storage/file-storage.js";
import {
  bumpGeneration,
  otherWriters,
  readGeneration,
  writersPresent,
} from "../storage/replica-generation.js";
import { fingerprintHashOf } from "./fingerprint-hash.js";

/**
 * A space's disk proof: "at the replica's generation `token`, the chunk
 * files of the space's documents on disk were exactly `fingerprint`". Kept
 * in `$CANON_HOME/index/<space-document-id>.proof`, checksummed. While the
 * replica's generation is still `token` (one small file read, see
 * `storage/replica-generation.ts`), a cache tagged with the same fingerprint
 * (verified snapshot, read index, heads cache) is current without listing,
 * reading or hashing any chunk file.
 */
interface DiskProof {
  readonly token: string;
  readonly fingerprint: Record<string, string[]>;
  /**
   * When the proof was recorded by listing only some documents (`listed`):
   * every other document of `fingerprint` was proven unchanged since
   * `sinceMs` (an earlier generation's change time) when the command that
   * recorded it started, and was not looked at again. A reader that `stat`s
   * the files checks those documents against `sinceMs`, not against the
   * generation's change time, so a change made while that command ran is
   * still seen (see {@link recordDiskProof}).
   */
  readonly deferred?: { readonly sinceMs: number; readonly listed: readonly string[] };
}

const TAG = "CNP1";

function pathOf(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.proof`);
}

/** The proof's short form: the same token, and the sha-256 of the fingerprint's JSON instead of the fingerprint. */
function shortPathOf(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.proven`);
}

const SHORT_TAG = "CNPH";

/** The proof file, or undefined when absent, damaged or malformed. Synchronous: a small file on a command's start-up path. */
function readProof(home: CanonHome, spaceDocumentId: string): DiskProof | undefined {
  try {
    const opened = unchecksummed(TAG, readFileSync(pathOf(home, spaceDocumentId)));
    if (!("data" in opened)) return undefined;
    const parsed = JSON.parse(new TextDecoder().decode(opened.data)) as Partial<DiskProof> & {
      v?: unknown;
    };
    if ((parsed.v !== 1 && parsed.v !== 2) || typeof parsed.token !== "string") return undefined;
    const { fingerprint } = parsed;
    if (typeof fingerprint !== "object" || fingerprint === null || Array.isArray(fingerprint))
      return undefined;
    for (const names of Object.values(fingerprint))
      if (!Array.isArray(names) || !names.every((name) => typeof name === "string"))
        return undefined;
    if (parsed.v === 1) return { token: parsed.token, fingerprint };
    // Version 2 always says which documents were listed (older readers refuse it: they would
    // check every document against the generation's change time only).
    const { deferred } = parsed;
    if (
      typeof deferred !== "object" ||
      deferred === null ||
      typeof deferred.sinceMs !== "number" ||
      !Number.isFinite(deferred.sinceMs) ||
      !Array.isArray(deferred.listed) ||
      !deferred.listed.every((id) => typeof id === "string")
    )
      return undefined;
    return { token: parsed.token, fingerprint, deferred };
  } catch {
    return undefined;
  }
}

/**
 * The chunk files of the space's documents as its proof names them, when
 * the proof still holds: the replica's generation is the one it was taken
 * at, so no Canon process wrote a chunk since (nor is one in the middle of
 * writing: a writer changes the generation before its first write). With
 * `statFiles`, also every chunk file named and each document's folder of
 * each kind of chunk (absent, or unchanged, when it names none) has not
 * changed since the generation did (`ctime`, which no tool
 * can set back): an edit, a removal or an added file by another tool, or
 * damage written in place, makes the proof not hold. Documents the proof's
 * command did not list (its `deferred` part) are held to the earlier time it
 * proved them unchanged from, so a change made while it ran counts too.
 * Undefined otherwise:
 * the caller lists the files (`chunkFingerprint`) instead.
 */
export function provenFingerprint(
  home: CanonHome,
  spaceDocumentId: string,
  options: { readonly statFiles: boolean },
): Record<string, string[]> | undefined {
  const generation = readGeneration(home.replica);
  if (generation === undefined) return undefined;
  const proof = readProof(home, spaceDocumentId);
  if (proof === undefined || proof.token !== generation.token) return undefined;
  if (options.statFiles && !filesUnchanged(home.replica, proof, generation.changedMs))
    return undefined;
  return proof.fingerprint;
}

/**
 * The sha-256 of the fingerprint's JSON (`fingerprintHashOf`) the disk proof
 * holds for, when it holds, as {@link provenFingerprint} without
 * `statFiles`, from the proof's short form: a read of two small files
 * whatever the number of documents (what `show` needs to trust the listing).
 */
export function provenFingerprintHash(
  home: CanonHome,
  spaceDocumentId: string,
): string | undefined {
  const generation = readGeneration(home.replica);
  if (generation === undefined) return undefined;
  try {
    const opened = unchecksummed(SHORT_TAG, readFileSync(shortPathOf(home, spaceDocumentId)));
    if (!("data" in opened)) return undefined;
    const parsed = JSON.parse(new TextDecoder().decode(opened.data)) as {
      v?: unknown;
      token?: unknown;
      fingerprintHash?: unknown;
    };
    if (parsed.v !== 1 || parsed.token !== generation.token) return undefined;
    return typeof parsed.fingerprintHash === "string" ? parsed.fingerprintHash : undefined;
  } catch {
    return undefined;
  }
}

/**
 * True when no named file or folder of the proof's documents changed after
 * the generation's change time `changedMs`, or, for the documents its
 * command did not list, after the earlier time it proved them unchanged from.
 */
function filesUnchanged(directory: string, proof: DiskProof, changedMs: number): boolean {
  const { fingerprint, deferred } = proof;
  if (deferred === undefined) return unchangedSince(directory, fingerprint, changedMs);
  const listed = new Set(deferred.listed);
  const recent: Record<string, readonly string[]> = {};
  const earlier: Record<string, readonly string[]> = {};
  for (const [id, names] of Object.entries(fingerprint))
    (listed.has(id) ? recent : earlier)[id] = names;
  return (
    unchangedSince(directory, recent, changedMs) &&
    unchangedSince(directory, earlier, Math.min(deferred.sinceMs, changedMs))
  );
}

/** True when no named file or folder of the documents changed after `sinceMs` (and each named chunk exists). */
function unchangedSince(
  directory: string,
  fingerprint: Readonly<Record<string, readonly string[]>>,
  sinceMs: number,
): boolean {
  const changed = (path: string, mustExist: boolean): boolean => {
    // No exception for an absent path (most documents have no folder of one kind): a `stat` each, thousands a command.
    try {
      const stats = statSync(path, { throwIfNoEntry: false });
      if (stats === undefined) return mustExist;
      return stats.ctimeMs > sinceMs || stats.mtimeMs > sinceMs;
    } catch {
      return mustExist; // not a folder where one is expected, unreadable: as absent
    }
  };
  for (const [documentId, names] of Object.entries(fingerprint))
    if (!documentUnchanged(documentId, names) && !packedAs(directory, documentId, names))
      return false;
  return true;

  /** True when the document's files are as named and unchanged since `sinceMs`. */
  function documentUnchanged(documentId: string, names: readonly string[]): boolean {
    // The folders of each kind of chunk, not the document's own folder: automerge-repo
    // adds a `sync-state` folder beside them after a first sync (late, throttled), which
    // changes the document folder's times but no chunk. A kind folder named nowhere may
    // be absent; if present (made, or emptied, by another tool) it must be unchanged too.
    // Paths joined by hand from the document's folder: `path.join` of each was a fifth of the pass.
    const folder = pathOfKey(directory, [documentId]);
    const kindOf = (name: string) => {
      const at = name.indexOf("/");
      return at < 0 ? name : name.slice(0, at);
    };
    const named = new Set(names.map(kindOf));
    for (const kind of CHUNK_KINDS)
      if (!named.has(kind) && changed(`${folder}/${kind}`, false)) return false;
    const kinds = new Set<string>();
    for (const name of names) {
      const kind = kindOf(name);
      if (!kinds.has(kind)) {
        kinds.add(kind);
        if (changed(`${folder}/${kind}`, true)) return false;
      }
      if (changed(`${folder}/${name}`, true)) return false;
    }
    return true;
  }
}

/**
 * True when a document with no folder of its own is described by exactly
 * `names` in the replica's chunk packs (`chunk-pack.ts`): packs never
 * change, and the first write to a packed document gives it a folder,
 * which then alone describes it. A damaged pack proves nothing.
 */
function packedAs(directory: string, documentId: string, names: readonly string[]): boolean {
  try {
    const packed = packedChunkNames(directory, documentId);
    return packed.length > 0 && packed.join("\n") === [...names].sort().join("\n");
  } catch {
    return false;
  }
}

/**
 * Documents a command proved unchanged when it started (their chunk files
 * and folders not changed since `sinceMs`, the change time of the
 * generation the disk proof then held at: {@link provenFingerprint} with
 * `statFiles`), and did not load or write since.
 */
export interface ProvenUnchanged {
  readonly sinceMs: number;
  readonly documents: readonly string[];
}

/**
 * Records that the chunk files of the space's documents are exactly
 * `fingerprint`, at a new generation, after its caches were written for
 * that fingerprint. Writes nothing (returns false) unless it is sure: this
 * process has no write under way, no other process is in the middle of a
 * batch, the files listed on disk are exactly `fingerprint`, and the
 * generation did not change while they were listed. A writer killed
 * mid-batch leaves its writer file; it is cleared here only once that
 * process is gone (its writes final) and before the listing, never after.
 *
 * With `unchanged`, those documents are neither listed nor looked at: the
 * proof records that they were proven unchanged since `unchanged.sinceMs`
 * (at the command's start), and a reader that `stat`s the files (the next
 * command's start) holds them to that earlier time instead of the new
 * generation's. A folder's times move when a file is added to it, removed
 * or renamed in it, and a file's when it is written, so a change by another
 * tool while this command ran, or after, is seen by that reader as one
 * before it would have been (and an edit in place, which a listing does
 * not see), with the timestamp granularity the start's check already has.
 * So one pass of `stat`s a command proves the documents it did not touch,
 * where a listing of each (2,000 `readdir`s at 1,000 documents) or a second
 * pass of `stat`s at the end cost most of a `publish`. A reader that does
 * not `stat` files (`show`) trusts the token alone, as before: it answers
 * for what Canon processes wrote, never for other tools.
 * Returns the generation's token the proof holds at, or undefined when it wrote none.
 */
export async function recordDiskProof(
  home: CanonHome,
  storage: FileStorage,
  spaceDocumentId: string,
  fingerprint: Readonly<Record<string, readonly string[]>>,
  unchanged?: ProvenUnchanged,
): Promise<string | undefined> {
  const writer = storage.generation;
  if (writer === undefined || storage.directory !== home.replica) return undefined;
  if (!(await writer.end())) return undefined;
  if ((await otherWriters(home.replica, undefined)).length > 0) return undefined;
  // A new token, so that the files' times are before the generation's (see provenFingerprint).
  const token = await bumpGeneration(home.replica, false);
  const skipped = new Set(unchanged?.documents.filter((id) => Object.hasOwn(fingerprint, id)));
  const listed = Object.keys(fingerprint).filter((id) => !skipped.has(id));
  const onDisk = await chunkFingerprint(home.replica, listed);
  for (const id of listed)
    if (JSON.stringify(onDisk[id]) !== JSON.stringify(fingerprint[id])) return undefined;
  if (readGeneration(home.replica)?.token !== token) return undefined;
  if (writer.inFlight > 0 || writer.batch !== undefined) return undefined;
  if (writersPresent(home.replica, undefined).length > 0) return undefined;
  const json = JSON.stringify(
    unchanged === undefined
      ? { v: 1, token, fingerprint }
      : { v: 2, token, fingerprint, deferred: { sinceMs: unchanged.sinceMs, listed } },
  );
  await writeFileAtomic(
    pathOf(home, spaceDocumentId),
    checksummed(TAG, new TextEncoder().encode(json)),
  );
  // The short form, after the proof: the same claim at the same token (a crash between the two leaves it
  // at an older token, which no longer holds).
  const short = JSON.stringify({ v: 1, token, fingerprintHash: fingerprintHashOf(fingerprint) });
  await writeFileAtomic(
    shortPathOf(home, spaceDocumentId),
    checksummed(SHORT_TAG, new TextEncoder().encode(short)),
  );
  return token;
}

import { statSync } from "node:fs";
import { join } from "node:path";
import type { CanonHome } from "../home/canon-home.js";
import {
  CHUNK_KINDS,
  chunkFingerprint,
  hasChunkFolder,
  packedChunkNames,
  pathOfKey,
} from "../storage/chunk-layout.js";
import { packsSeal, packsSealHolds } from "../storage/chunk-pack.js";
import type { FileStorage } from "../storage/file-storage.js";
import {
  bumpGeneration,
  otherWriters,
  readGeneration,
  writersPresent,
} from "../storage/replica-generation.js";
import { readChecksummedJsonSync, writeChecksummedJson } from "./checksummed-json.js";
import { fileIdentityOf } from "./file-identity.js";
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
  /**
   * Documents of `fingerprint` that had no chunk folder and were described,
   * exactly by their names there, by the replica's chunk packs at `seal`
   * (`packsSeal`). While the packs still have that seal (`packsSealHolds`, a
   * `stat` each) and such a document still has no chunk folder, it is
   * unchanged without reading any pack's index again. Optional: a proof
   * without it (or written by an older Canon) reads the indexes, as before.
   */
  readonly packs?: PackedProof;
}

/** The packed part of a disk proof ({@link DiskProof.packs}). */
export interface PackedProof {
  readonly seal: string;
  readonly documents: readonly string[];
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

/**
 * By path: the proof this process last wrote (frozen), and its file's
 * identity right after. While the file still has that identity no one wrote
 * it since, and reading it back is returning this: the home's owner reads
 * the proof it wrote at the start of the next command, twice in a `sync`
 * (the fingerprint of 1,000 documents, 110 KB of JSON, checked and parsed
 * each time).
 */
const writtenHere = new Map<string, { readonly proof: DiskProof; readonly identity: string }>();

/** The proof file, or undefined when absent, damaged or malformed. Synchronous: a small file on a command's start-up path. */
function readProof(home: CanonHome, spaceDocumentId: string): DiskProof | undefined {
  const path = pathOf(home, spaceDocumentId);
  const mine = writtenHere.get(path);
  if (mine !== undefined && mine.identity === fileIdentityOf(path)) return mine.proof;
  return readProofFile(path);
}

/** {@link readProof} from the file itself. */
function readProofFile(path: string): DiskProof | undefined {
  try {
    const read = readChecksummedJsonSync(path, TAG);
    if (typeof read !== "object" || read === null) return undefined;
    const parsed = read as Partial<DiskProof> & { v?: unknown };
    if ((parsed.v !== 1 && parsed.v !== 2) || typeof parsed.token !== "string") return undefined;
    const { fingerprint } = parsed;
    if (typeof fingerprint !== "object" || fingerprint === null || Array.isArray(fingerprint))
      return undefined;
    for (const names of Object.values(fingerprint))
      if (!Array.isArray(names) || !names.every((name) => typeof name === "string"))
        return undefined;
    const packs = packedProofOf(parsed.packs);
    if (parsed.v === 1) return { token: parsed.token, fingerprint, ...(packs && { packs }) };
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
    return { token: parsed.token, fingerprint, deferred, ...(packs && { packs }) };
  } catch {
    return undefined;
  }
}

/** A proof's packed part, or undefined when absent or malformed (the packs' indexes are then read, as before). */
function packedProofOf(value: unknown): PackedProof | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const { seal, documents } = value as Partial<Record<keyof PackedProof, unknown>>;
  if (typeof seal !== "string" || !Array.isArray(documents)) return undefined;
  if (!documents.every((id) => typeof id === "string")) return undefined;
  return { seal, documents };
}

/**
 * A disk proof that held when it was read ({@link provenDiskProof}): the
 * chunk files it names, and its packed part. A command that proved documents
 * unchanged with it at its start passes it along ({@link ProvenUnchanged})
 * rather than have it read and parsed again when the next proof is recorded.
 */
export type HeldDiskProof = Pick<DiskProof, "fingerprint" | "packs">;

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
  return provenDiskProof(home, spaceDocumentId, options)?.fingerprint;
}

/** The disk proof itself when it holds, as {@link provenFingerprint} (which returns its fingerprint). */
export function provenDiskProof(
  home: CanonHome,
  spaceDocumentId: string,
  options: { readonly statFiles: boolean },
): HeldDiskProof | undefined {
  const generation = readGeneration(home.replica);
  if (generation === undefined) return undefined;
  const proof = readProof(home, spaceDocumentId);
  if (proof === undefined || proof.token !== generation.token) return undefined;
  if (options.statFiles && !filesUnchanged(home.replica, proof, generation.changedMs))
    return undefined;
  return proof;
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
  const read = readChecksummedJsonSync(shortPathOf(home, spaceDocumentId), SHORT_TAG);
  if (typeof read !== "object" || read === null) return undefined;
  const parsed = read as { v?: unknown; token?: unknown; fingerprintHash?: unknown };
  if (parsed.v !== 1 || parsed.token !== generation.token) return undefined;
  return typeof parsed.fingerprintHash === "string" ? parsed.fingerprintHash : undefined;
}

/**
 * True when no named file or folder of the proof's documents changed after
 * the generation's change time `changedMs`, or, for the documents its
 * command did not list, after the earlier time it proved them unchanged from.
 */
function filesUnchanged(directory: string, proof: DiskProof, changedMs: number): boolean {
  const { fingerprint, deferred } = proof;
  const packed = sealedPacked(directory, proof.packs);
  if (deferred === undefined)
    return unchangedSince(directory, fingerprint, () => changedMs, packed);
  // One pass, each document held to its own time (no copy of the fingerprint split in two).
  const listed = new Set(deferred.listed);
  const earlierMs = Math.min(deferred.sinceMs, changedMs);
  return unchangedSince(
    directory,
    fingerprint,
    (id) => (listed.has(id) ? changedMs : earlierMs),
    packed,
  );
}

/**
 * The documents a proof's packed part vouches for, lazily: empty unless the
 * packs still have its seal (checked once, on the first question).
 */
function sealedPacked(directory: string, packs: PackedProof | undefined): (id: string) => boolean {
  if (packs === undefined) return () => false;
  let documents: ReadonlySet<string> | undefined;
  return (id) => {
    documents ??= packsSealHolds(directory, packs.seal) ? new Set(packs.documents) : new Set();
    return documents.has(id);
  };
}

/** `statSync`'s options for {@link unchangedSince}: no exception for an absent path (most documents have no folder of one kind). */
const IF_PRESENT = { throwIfNoEntry: false } as const;

/**
 * True when the file or folder at `path` changed after `sinceMs`, or is
 * absent while it `mustExist`. Not a folder where one is expected, or
 * unreadable: as absent.
 */
function changedSince(path: string, sinceMs: number, mustExist: boolean): boolean {
  try {
    const stats = statSync(path, IF_PRESENT);
    if (stats === undefined) return mustExist;
    return stats.ctimeMs > sinceMs || stats.mtimeMs > sinceMs;
  } catch {
    return mustExist;
  }
}

/** The kind of a chunk named `kind/name` (what a fingerprint lists). */
function kindOf(name: string): string {
  const at = name.indexOf("/");
  return at < 0 ? name : name.slice(0, at);
}

/** True when no named file or folder of each document changed after its time `sinceMs(id)` (and each named chunk exists). */
function unchangedSince(
  directory: string,
  fingerprint: Readonly<Record<string, readonly string[]>>,
  sinceMs: (documentId: string) => number,
  sealed: (id: string) => boolean,
): boolean {
  // One `stat` a path and nothing else a document: this pass is what `ls` and every command
  // that trusts a cache pay for each document of the space (3,000 `stat`s at 1,000 standards).
  for (const documentId in fingerprint) {
    const names = fingerprint[documentId] as readonly string[];
    // Packed when the proof was recorded, with these names, in packs that are still as they were:
    // unchanged while it has no chunk folder (which would alone describe it), no pack read.
    if (sealed(documentId) && !hasChunkFolder(directory, documentId)) continue;
    if (!documentUnchanged(directory, documentId, names, sinceMs(documentId))) {
      if (!packedAs(directory, documentId, names)) return false;
    }
  }
  return true;
}

/**
 * True when the document's files are as named and unchanged since `sinceMs`.
 * The folders of each kind of chunk, not the document's own folder: automerge-repo
 * adds a `sync-state` folder beside them after a first sync (late, throttled), which
 * changes the document folder's times but no chunk. A kind folder named nowhere may
 * be absent; if present (made, or emptied, by another tool) it must be unchanged too.
 * Paths joined by hand from the document's folder: `path.join` of each was a fifth of the pass.
 */
function documentUnchanged(
  directory: string,
  documentId: string,
  names: readonly string[],
  sinceMs: number,
): boolean {
  const folder = documentFolder(directory, documentId);
  // The kinds named, in order of first appearance (two at most in a fingerprint Canon wrote).
  // Nearly always one, `snapshot`: no array then (this runs for each of 1,000 documents in `ls`).
  const only = names.length === 0 ? undefined : kindOf(names[0] as string);
  let kinds: string[] | undefined;
  for (let at = 1; at < names.length; at++) {
    const kind = kindOf(names[at] as string);
    if (kind === only || kinds?.includes(kind)) continue;
    kinds ??= only === undefined ? [] : [only];
    kinds.push(kind);
  }
  for (const kind of CHUNK_KINDS) {
    const named = kinds === undefined ? kind === only : kinds.includes(kind);
    if (!named && changedSince(`${folder}/${kind}`, sinceMs, false)) return false;
  }
  if (kinds === undefined) {
    if (only !== undefined && changedSince(`${folder}/${only}`, sinceMs, true)) return false;
  } else
    for (const kind of kinds) if (changedSince(`${folder}/${kind}`, sinceMs, true)) return false;
  for (const name of names) if (changedSince(`${folder}/${name}`, sinceMs, true)) return false;
  return true;
}

/**
 * A document id as automerge-repo makes them (base58: letters and digits
 * only) and long enough to split: nothing in it can leave its folder, so its
 * folder is joined by hand. Anything else goes through `pathOfKey`, which
 * refuses what is not a plain name.
 */
const PLAIN_DOCUMENT_ID = /^[A-Za-z0-9]{3,}$/;

/**
 * The document's folder in the replica, as `pathOfKey` gives it (`ab/cdef…`),
 * joined by hand for an id of {@link PLAIN_DOCUMENT_ID}: `pathOfKey`'s checks
 * and `path.join` were ~5 ms of a cold `ls` at 1,000 documents.
 */
function documentFolder(directory: string, documentId: string): string {
  return PLAIN_DOCUMENT_ID.test(documentId)
    ? `${directory}/${documentId.slice(0, 2)}/${documentId.slice(2)}`
    : pathOfKey(directory, [documentId]);
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
  /**
   * The disk proof that proved them ({@link provenDiskProof} with
   * `statFiles`), whose packed part the next proof carries over for them;
   * when absent, the proof on disk is read again for it.
   */
  readonly proof?: HeldDiskProof;
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
  const packedNow = new Set<string>();
  const onDisk = await chunkFingerprint(home.replica, listed, packedNow);
  for (const id of listed)
    if (JSON.stringify(onDisk[id]) !== JSON.stringify(fingerprint[id])) return undefined;
  const previous =
    unchanged === undefined || skipped.size === 0
      ? undefined
      : (unchanged.proof ?? readProof(home, spaceDocumentId));
  const packs = packedProof(home, fingerprint, packedNow, skipped, previous);
  if (readGeneration(home.replica)?.token !== token) return undefined;
  if (writer.inFlight > 0 || writer.batch !== undefined) return undefined;
  if (writersPresent(home.replica, undefined).length > 0) return undefined;
  const path = pathOf(home, spaceDocumentId);
  writtenHere.delete(path);
  const deferred = unchanged === undefined ? undefined : { sinceMs: unchanged.sinceMs, listed };
  await writeChecksummedJson(
    path,
    TAG,
    deferred === undefined
      ? { v: 1, token, fingerprint, packs }
      : { v: 2, token, fingerprint, deferred, packs },
    { durable: true },
  );
  const identity = fileIdentityOf(path);
  if (identity !== undefined)
    writtenHere.set(path, {
      proof: frozenProof({ token, fingerprint, deferred, packs }),
      identity,
    });
  // The short form, after the proof: the same claim at the same token (a crash between the two leaves it
  // at an older token, which no longer holds).
  await writeChecksummedJson(
    shortPathOf(home, spaceDocumentId),
    SHORT_TAG,
    { v: 1, token, fingerprintHash: fingerprintHashOf(fingerprint) },
    { durable: true },
  );
  return token;
}

/**
 * A proof as {@link readProofFile} reads it back, frozen (callers share it)
 * and holding copies: the caller's objects stay the caller's.
 */
function frozenProof(proof: {
  readonly token: string;
  readonly fingerprint: Readonly<Record<string, readonly string[]>>;
  readonly deferred: DiskProof["deferred"];
  readonly packs: PackedProof | undefined;
}): DiskProof {
  const fingerprint: Record<string, string[]> = {};
  for (const [id, names] of Object.entries(proof.fingerprint))
    fingerprint[id] = Object.freeze([...names]) as string[];
  const { deferred, packs } = proof;
  return Object.freeze({
    token: proof.token,
    fingerprint: Object.freeze(fingerprint),
    ...(deferred && {
      deferred: Object.freeze({
        sinceMs: deferred.sinceMs,
        listed: Object.freeze([...deferred.listed]),
      }),
    }),
    ...(packs && {
      packs: Object.freeze({ seal: packs.seal, documents: Object.freeze([...packs.documents]) }),
    }),
  });
}

/**
 * The packed part of a proof about to be recorded ({@link DiskProof.packs}):
 * the documents just listed from the packs (`packedNow`), each checked
 * against what the packs held at the seal taken now (a pack changed since
 * the listing changes the seal and the names read with it), and those of
 * `skipped` (proven unchanged at the command's start, not listed) that
 * `previous` (the proof that proved them, read once) vouched for as packed
 * with the same names, while the packs still have its seal. Reads no
 * pack's index unless a listed document was packed (the listing read it
 * then). Undefined when it vouches for none.
 */
function packedProof(
  home: CanonHome,
  fingerprint: Readonly<Record<string, readonly string[]>>,
  packedNow: ReadonlySet<string>,
  skipped: ReadonlySet<string>,
  previous: HeldDiskProof | undefined,
): PackedProof | undefined {
  const same = (a: readonly string[] | undefined, b: readonly string[] | undefined) =>
    a !== undefined && b !== undefined && a.join("\n") === b.join("\n");
  const carried =
    previous?.packs !== undefined && packsSealHolds(home.replica, previous.packs.seal)
      ? previous.packs
      : undefined;
  const kept = (carried?.documents ?? []).filter(
    (id) => skipped.has(id) && same(previous?.fingerprint[id], fingerprint[id]),
  );
  if (packedNow.size === 0)
    return carried !== undefined && kept.length > 0
      ? { seal: carried.seal, documents: kept }
      : undefined;
  let sealed: ReturnType<typeof packsSeal>;
  try {
    sealed = packsSeal(home.replica);
  } catch {
    return undefined; // a damaged pack vouches for nothing
  }
  if (sealed === undefined) return undefined;
  const documents = [...packedNow].filter((id) =>
    same(
      (sealed.chunks.get(id) ?? []).map(({ kind, name }) => `${kind}/${name}`),
      fingerprint[id],
    ),
  );
  if (carried?.seal === sealed.seal) documents.push(...kept);
  return documents.length === 0 ? undefined : { seal: sealed.seal, documents };
}

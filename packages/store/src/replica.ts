import { createHash } from "node:crypto";
import * as A from "@automerge/automerge";
import {
  type AutomergeUrl,
  type DocHandle,
  type DocumentId,
  isValidDocumentId,
  type NetworkAdapterInterface,
  type PeerId,
  Repo,
} from "@automerge/automerge-repo";
import {
  CanonError,
  contentMatches,
  type FoldResult,
  fold,
  isCanonError,
  parseCid,
  type RecordEntry,
  type Release,
  type SignedRecord,
  sameBytes,
  sha256Hex,
} from "@canon/core";
import { BlobCache } from "./caches/blob-cache.js";
import {
  readVerifiedSnapshot,
  snapshotOf,
  writeVerifiedSnapshot,
} from "./caches/verified-snapshot.js";
import type { CanonHome } from "./home/canon-home.js";
import {
  isBytes,
  isSpaceDocument,
  isStandardDocument,
  mapField,
  type SpaceDocument,
  type StandardDocument,
} from "./space/documents.js";
import { headsOf } from "./space/heads.js";
import type { SpaceAddress } from "./space/space-url.js";
import { FileStorage } from "./storage/file-storage.js";

/**
 * How long a changed document waits before its sync message goes out.
 * automerge-repo hard-codes 100 ms (Canon patches it to be settable, see
 * docs/decisions/2026-11-25-sync.md): a publish then takes ~100 ms per hop to
 * reach a reader. Canon's changes are few and whole (one signed record each),
 * so a short wait costs little extra traffic.
 */
export const SYNC_DEBOUNCE_MS = 2;

/** A document stored in this many chunks or more is compacted into one snapshot when the replica closes. */
const COMPACT_AFTER_CHUNKS = 4;

/** Options for opening a replica. */
export interface ReplicaOptions {
  /** Network adapters to sync through (none: fully offline). */
  readonly network?: NetworkAdapterInterface[];
  /** Peer id to announce; random when absent. */
  readonly peerId?: string;
  /** How long to wait for a document that is not stored locally before calling it unavailable. */
  readonly findTimeoutMs?: number;
  /**
   * False to check every record from scratch, ignoring the records the
   * verified snapshot says were checked before (an audit; the snapshot is
   * rewritten from the result). Default true.
   */
  readonly trustSnapshot?: boolean;
}

/** A space's documents, loaded. */
export interface LoadedSpace {
  readonly address: SpaceAddress;
  readonly space: DocHandle<SpaceDocument>;
  /** Standard documents by document id. */
  readonly standards: ReadonlyMap<string, DocHandle<StandardDocument>>;
  /**
   * Standard documents whose stored files are damaged, by document id, with
   * the standard name the space document routes to them (untrusted, for
   * messages) and the error naming the file. The rest of the space still reads.
   */
  readonly damaged: ReadonlyMap<string, { readonly name: string; readonly error: CanonError }>;
  /** Standard document ids the space document lists that are valid ids (junk entries from peers are ignored). */
  readonly routes: readonly string[];
}

/** A loaded space with its fold. */
export interface FoldedSpace extends LoadedSpace {
  readonly fold: FoldResult;
  /** The documents' heads the fold read ({@link headsOf} at that moment). */
  readonly heads: string;
}

/**
 * The local replica: an automerge-repo `Repo` over {@link FileStorage} in
 * `$CANON_HOME/replica`. It has a lifecycle (open, use, close) and must be
 * closed so pending saves reach the disk before the process exits.
 */
export class Replica {
  /** The underlying automerge-repo peer. */
  readonly repo: Repo;
  /** The home this replica lives in. */
  readonly home: CanonHome;
  /** The storage adapter, for diagnostics (which file holds what). */
  readonly storage: FileStorage;
  readonly #findTimeoutMs: number;
  readonly #trustSnapshot: boolean;
  readonly #touched = new Set<DocumentId>();
  /** Documents whose stored files failed their checksum: asking again would hang until the find timeout. */
  readonly #damaged = new Map<string, CanonError>();
  /** Per space: the fingerprint of the verified snapshot on disk ("" when there is none), once read. */
  readonly #snapshots = new Map<string, string>();
  /** Records verified by earlier folds, in this process or (from the snapshot) an earlier one; see FoldInput.verified. */
  readonly #verified = new Map<string, SignedRecord>();
  /**
   * Per space: every record this replica has verified, in this process or
   * (from the snapshot) an earlier one. Records are append-only: one that a
   * peer deleted from, or overwrote in, a document still counts here.
   */
  readonly #remembered = new Map<string, Map<string, SignedRecord>>();
  #closed = false;

  /** Opens (or creates) the replica in `home`. Cheap: documents load on demand. */
  constructor(home: CanonHome, options: ReplicaOptions = {}) {
    this.home = home;
    this.storage = new FileStorage(home.replica);
    this.#findTimeoutMs = options.findTimeoutMs ?? 5_000;
    this.#trustSnapshot = options.trustSnapshot ?? true;
    this.repo = new Repo({
      storage: this.storage,
      network: options.network ?? [],
      ...(options.peerId ? { peerId: options.peerId as PeerId } : {}),
      sharePolicy: async () => true,
      syncDebounceRate: SYNC_DEBOUNCE_MS,
    });
  }

  /** Starts syncing through another network adapter (a relay, a serving peer). */
  connect(adapter: NetworkAdapterInterface): void {
    this.repo.networkSubsystem.addNetworkAdapter(adapter);
  }

  /** Stops syncing through an adapter added with {@link connect}. */
  disconnect(adapter: NetworkAdapterInterface): void {
    this.repo.networkSubsystem.removeNetworkAdapter(adapter);
  }

  /** Creates a new document with initial content and returns its handle. */
  create<T>(initial: T): DocHandle<T> {
    const handle = this.repo.create<T>(initial);
    this.#touched.add(handle.documentId);
    return handle;
  }

  /**
   * Finds a document locally (or from connected peers).
   * @throws CanonError `STORAGE_DAMAGED` naming the file when a stored chunk is damaged,
   * `UNKNOWN_SPACE`-style `undefined` is returned when it is not available.
   */
  async find<T>(documentId: string): Promise<DocHandle<T> | undefined> {
    // A timer rather than find's `signal`: automerge-repo 2.5.6 rejects an
    // unhandled promise when that signal fires after find has settled.
    const damaged = this.#damaged.get(documentId);
    if (damaged) throw damaged;
    // Routing entries come from peers: an id that is not a document id names nothing.
    if (!isValidDocumentId(documentId)) return undefined;
    // Offline, a document that is not stored is simply absent. Asking the Repo
    // anyway would cache it as "unavailable" and hide it from a later sync.
    const offline = this.repo.networkSubsystem.adapters.length === 0;
    const inMemory = documentId in this.repo.handles;
    if (offline && !inMemory && !(await this.storage.hasDocument(documentId))) {
      return undefined;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.#findTimeoutMs);
    });
    try {
      const handle = await Promise.race([
        this.repo.find<T>(`automerge:${documentId}` as AutomergeUrl),
        timeout,
      ]);
      if (handle) this.#touched.add(handle.documentId);
      return handle;
    } catch (error) {
      if (isCanonError(error, "STORAGE_DAMAGED")) this.#damaged.set(documentId, error);
      if (isCanonError(error)) throw error;
      if (/unavailable/i.test(String((error as Error).message))) return undefined;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Loads a space document and every standard document it lists.
   * @throws CanonError `UNKNOWN_SPACE` when the space document is not here, `STORAGE_DAMAGED` when a file is damaged.
   */
  async loadSpace(address: SpaceAddress): Promise<LoadedSpace> {
    const space = await this.find<SpaceDocument>(address.documentId);
    if (space === undefined || !isSpaceDocument(space.doc())) {
      throw new CanonError(
        "UNKNOWN_SPACE",
        `space ${address.documentId} is not in this replica; join it with \`canon space join <url>\``,
      );
    }
    const standards = new Map<string, DocHandle<StandardDocument>>();
    const damaged = new Map<string, { name: string; error: CanonError }>();
    const routes = mapField(space.doc(), "standards");
    const valid = Object.keys(routes)
      .filter((id) => isValidDocumentId(id))
      .sort();
    for (const documentId of valid) {
      try {
        const handle = await this.find<StandardDocument>(documentId);
        if (handle && isStandardDocument(handle.doc())) standards.set(documentId, handle);
      } catch (error) {
        if (!isCanonError(error, "STORAGE_DAMAGED")) throw error;
        damaged.set(documentId, { name: String(routes[documentId]), error });
      }
    }
    return { address, space, standards, damaged, routes: valid };
  }

  /** Loads a space and folds its records into verified state. */
  async foldSpace(address: SpaceAddress): Promise<FoldedSpace> {
    const loaded = await this.loadSpace(address);
    await this.#seedFromSnapshot(address);
    const entries: RecordEntry[] = [];
    const collect = (records: Record<string, unknown>) => {
      for (const [cid, bytes] of Object.entries(records)) entries.push({ cid, bytes });
    };
    // Entries and heads in the same tick: the fold describes exactly these heads.
    collect(mapField(loaded.space.doc(), "records"));
    for (const handle of loaded.standards.values()) collect(mapField(handle.doc(), "records"));
    const heads = headsOf(loaded);
    const remembered = this.#rememberedOf(address.documentId);
    const held = new Map(entries.map((entry) => [entry.cid, entry.bytes]));
    for (const signed of remembered.values()) {
      const bytes = held.get(signed.cid);
      if (!(bytes instanceof Uint8Array && sameBytes(bytes, signed.bytes)))
        entries.push({ cid: signed.cid, bytes: signed.bytes });
    }
    const result = await fold({
      spaceCid: address.genesis,
      entries,
      content: (cid) => this.contentCandidates(loaded, cid),
      // Bytes verified earlier survive a peer overwriting them in the document.
      fallbackContent: (cid) => this.#cachedContent(cid),
      verified: this.#verified,
    });
    for (const [cid, signed] of result.verified) remembered.set(cid, signed);
    return { ...loaded, fold: result, heads };
  }

  /**
   * Reads the space's snapshot once: its records are remembered (folded even
   * if the documents lost them) and, unless this replica trusts no cache,
   * also taken as verified. Without that trust they are checked again like
   * any entry, and the snapshot is rewritten from the result.
   */
  async #seedFromSnapshot(address: SpaceAddress): Promise<void> {
    if (this.#snapshots.has(address.documentId)) return;
    const snapshot = await readVerifiedSnapshot(this.home, address.documentId);
    const usable = snapshot !== undefined && snapshot.genesis === address.genesis;
    this.#snapshots.set(
      address.documentId,
      usable && this.#trustSnapshot ? JSON.stringify(snapshot.fingerprint) : "",
    );
    if (!usable) return;
    const remembered = this.#rememberedOf(address.documentId);
    for (const signed of snapshot.records) {
      remembered.set(signed.cid, signed);
      if (this.#trustSnapshot) this.#verified.set(signed.cid, signed);
    }
  }

  #rememberedOf(spaceDocumentId: string): Map<string, SignedRecord> {
    let remembered = this.#remembered.get(spaceDocumentId);
    if (remembered === undefined) {
      remembered = new Map();
      this.#remembered.set(spaceDocumentId, remembered);
    }
    return remembered;
  }

  /**
   * Writes back every accepted record the space's documents no longer hold
   * with its exact bytes (a peer deleted or overwrote it): the documents are
   * append-only as far as Canon is concerned, and the next sync gives the
   * record back to every peer. Returns how many were written.
   */
  restoreMissing(folded: FoldedSpace): number {
    const state = folded.fold.state;
    if (state === undefined) return 0;
    const standardDocuments = new Map<string, DocHandle<StandardDocument>>();
    for (const handle of folded.standards.values()) {
      const name = (handle.doc() as { name?: unknown } | undefined)?.name;
      if (typeof name === "string" && !standardDocuments.has(name))
        standardDocuments.set(name, handle);
    }
    const accepted: SignedRecord[] = [
      state.genesis,
      ...state.membershipChanges,
      ...[...state.standards.values()].flatMap((standard) => [...standard.releases.values()]),
      ...state.corrections.values(),
    ];
    let restored = 0;
    for (const signed of accepted) {
      const { record } = signed;
      const target =
        record.type === "canon/release" || record.type === "canon/correction"
          ? standardDocuments.get(record.standard)
          : folded.space;
      if (target === undefined) continue;
      const current = mapField(target.doc(), "records")[signed.cid];
      if (current instanceof Uint8Array && sameBytes(current, signed.bytes)) continue;
      this.appendRecord(target as DocHandle<SpaceDocument | StandardDocument>, signed);
      restored++;
    }
    return restored;
  }

  /**
   * The chunk files (`kind/name`) this process holds of the space's
   * documents, by document id: what a result computed from them describes.
   */
  fingerprintOf(loaded: LoadedSpace): Record<string, string[]> {
    const fingerprint: Record<string, string[]> = {};
    for (const id of [loaded.address.documentId, ...loaded.routes])
      fingerprint[id] = this.storage.chunkNames(id);
    return fingerprint;
  }

  /**
   * Keeps a fold's verified records in the space's snapshot, unless the
   * snapshot on disk already describes exactly these chunk files.
   * `fingerprint` ({@link fingerprintOf}) must have been taken before the
   * fold, so the fold covers every chunk it names; after {@link close}, since
   * compaction renames chunks.
   */
  async rememberFold(folded: FoldedSpace, fingerprint: Record<string, string[]>): Promise<void> {
    const { address } = folded;
    const key = JSON.stringify(fingerprint);
    if (this.#snapshots.get(address.documentId) === key) return;
    await writeVerifiedSnapshot(
      this.home,
      address.documentId,
      snapshotOf(address.genesis, fingerprint, folded.fold),
    );
    this.#snapshots.set(address.documentId, key);
  }

  /**
   * The bytes of an accepted release: the first candidate (documents, then the
   * blob cache) that hashes to its content CID, or undefined. Never returns
   * bytes that do not match, whatever a peer wrote into the documents.
   */
  async verifiedContent(loaded: LoadedSpace, release: Release): Promise<Uint8Array | undefined> {
    for (const bytes of this.contentCandidates(loaded, release.contentCid))
      if (await contentMatches(bytes, release)) return bytes;
    const cached = await this.#cachedContent(release.contentCid);
    return cached !== undefined && (await contentMatches(cached, release)) ? cached : undefined;
  }

  /** Bytes from the blob cache (hash-checked there), or undefined; never throws. */
  async #cachedContent(cid: string): Promise<Uint8Array | undefined> {
    try {
      return await new BlobCache(this.home).get(cid, sha256Hex(parseCid(cid)));
    } catch {
      return undefined;
    }
  }

  /**
   * Every value the standard documents hold for a content CID, including
   * concurrent (conflicting) writes, so a peer's write cannot shadow the
   * real bytes. Unverified: the fold checks each against the CID.
   */
  contentCandidates(loaded: LoadedSpace, contentCid: string): Uint8Array[] {
    const candidates: Uint8Array[] = [];
    for (const handle of loaded.standards.values()) {
      const contents = mapField(handle.doc(), "contents");
      if (!Object.hasOwn(contents, contentCid)) continue;
      const current = contents[contentCid];
      if (isBytes(current)) candidates.push(current);
      for (const value of Object.values(A.getConflicts(contents, contentCid) ?? {})) {
        if (isBytes(value) && value !== current) candidates.push(value);
      }
    }
    return candidates;
  }

  /** Appends a signed record to a document's `records` map. */
  appendRecord(handle: DocHandle<SpaceDocument | StandardDocument>, signed: SignedRecord): void {
    handle.change((doc) => {
      doc.records[signed.cid] = signed.bytes;
    });
    this.#touched.add(handle.documentId);
  }

  /** Compacts every touched document stored in more than a few chunks into one snapshot. */
  async #compact(): Promise<void> {
    for (const documentId of this.touched()) {
      if (this.storage.chunkCount(documentId) < COMPACT_AFTER_CHUNKS) continue;
      const handle = this.repo.handles[documentId];
      if (handle === undefined || !handle.isReady()) continue;
      const doc = handle.doc();
      const name = createHash("sha256").update(A.getHeads(doc).sort().join(",")).digest("hex");
      await this.storage.compact(documentId, A.save(doc), name);
    }
  }

  /** Document ids this process has loaded or changed. */
  touched(): DocumentId[] {
    return [...this.#touched];
  }

  /**
   * Writes every pending change to disk and disconnects from peers. Must be
   * awaited before the process exits, or the last 100 ms of changes are lost.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Flush only documents this process loaded: `Repo.flush()` of everything throws
    // on handles still loading (automerge-repo #740), and so does `shutdown()`.
    await this.repo.flush(this.touched());
    for (const adapter of this.repo.networkSubsystem.adapters) adapter.disconnect();
    await this.#compact();
  }
}

import { type DocHandle, isValidDocumentId } from "@automerge/automerge-repo";
import {
  CanonError,
  type FoldResult,
  fold,
  isCanonError,
  type RecordEntry,
  type SignedRecord,
  sameBytes,
} from "@canon/core";
import {
  readVerifiedSnapshot,
  snapshotOf,
  writeVerifiedSnapshot,
} from "../caches/verified-snapshot.js";
import type { Replica } from "../replica.js";
import {
  isSpaceDocument,
  isStandardDocument,
  mapField,
  type SpaceDocument,
  type StandardDocument,
} from "./documents.js";
import { headsOf } from "./heads.js";
import type { SpaceAddress } from "./space-url.js";

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
 * Reads spaces out of a replica: loads their documents and folds their
 * records into verified state, together with every record the replica
 * verified before (records are append-only, so one a peer deleted or
 * overwrote still counts), and writes those records back when the documents
 * lost them. It remembers verified records for as long as its replica lives,
 * seeded from each space's verified snapshot, so a fold checks only records
 * it has not seen; one lives on each replica, as `replica.spaces`.
 */
export class SpaceReader {
  readonly #replica: Replica;
  readonly #trustSnapshot: boolean;
  /** Per space: the fingerprint of the verified snapshot on disk ("" when there is none), once read. */
  readonly #snapshots = new Map<string, string>();
  /** Records verified by earlier folds, in this process or (from the snapshot) an earlier one; offered to each fold as its cache. */
  readonly #verified = new Map<string, SignedRecord>();
  /**
   * Per space: every record this replica has verified, in this process or
   * (from the snapshot) an earlier one. Records are append-only: one that a
   * peer deleted from, or overwrote in, a document still counts here.
   */
  readonly #remembered = new Map<string, Map<string, SignedRecord>>();

  /**
   * A reader of `replica`'s spaces. With `trustSnapshot` false, every record
   * is checked from scratch, ignoring the records the verified snapshot says
   * were checked before (an audit; the snapshot is rewritten from the result).
   */
  constructor(replica: Replica, options: { readonly trustSnapshot: boolean }) {
    this.#replica = replica;
    this.#trustSnapshot = options.trustSnapshot;
  }

  /**
   * Loads a space document and every standard document it lists.
   * @throws CanonError `UNKNOWN_SPACE` when the space document is not here, `STORAGE_DAMAGED` when a file is damaged.
   */
  async load(address: SpaceAddress): Promise<LoadedSpace> {
    const space = await this.#replica.find<SpaceDocument>(address.documentId);
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
        const handle = await this.#replica.find<StandardDocument>(documentId);
        if (handle && isStandardDocument(handle.doc())) standards.set(documentId, handle);
      } catch (error) {
        if (!isCanonError(error, "STORAGE_DAMAGED")) throw error;
        damaged.set(documentId, { name: String(routes[documentId]), error });
      }
    }
    return { address, space, standards, damaged, routes: valid };
  }

  /**
   * Loads a space and folds its records, with every record remembered from
   * earlier folds, into verified state.
   * @throws CanonError as {@link load} does.
   */
  async fold(address: SpaceAddress): Promise<FoldedSpace> {
    const loaded = await this.load(address);
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
      content: (cid) => this.#replica.content.candidates(loaded, cid),
      cache: {
        verifiedRecord: (cid) => this.#verified.get(cid),
        // Bytes verified earlier survive a peer overwriting them in the document.
        content: (cid) => this.#replica.content.cached(cid),
      },
    });
    for (const [cid, signed] of result.verified) {
      remembered.set(cid, signed);
      this.#verified.set(cid, signed);
    }
    return { ...loaded, fold: result, heads };
  }

  /**
   * Reads the space's snapshot once: its records are remembered (folded even
   * if the documents lost them) and, unless this reader trusts no cache,
   * also taken as verified. Without that trust they are checked again like
   * any entry, and the snapshot is rewritten from the result.
   */
  async #seedFromSnapshot(address: SpaceAddress): Promise<void> {
    if (this.#snapshots.has(address.documentId)) return;
    const snapshot = await readVerifiedSnapshot(this.#replica.home, address.documentId);
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
      ...state.withdrawals.values(),
    ];
    let restored = 0;
    for (const signed of accepted) {
      const { record } = signed;
      const target =
        record.type === "canon/release" ||
        record.type === "canon/correction" ||
        record.type === "canon/withdrawal"
          ? standardDocuments.get(record.standard)
          : folded.space;
      if (target === undefined) continue;
      const current = mapField(target.doc(), "records")[signed.cid];
      if (current instanceof Uint8Array && sameBytes(current, signed.bytes)) continue;
      this.#replica.appendRecord(target as DocHandle<SpaceDocument | StandardDocument>, signed);
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
      fingerprint[id] = this.#replica.storage.chunkNames(id);
    return fingerprint;
  }

  /**
   * Keeps a fold's verified records in the space's snapshot, unless the
   * snapshot on disk already describes exactly these chunk files.
   * `fingerprint` ({@link fingerprintOf}) must have been taken before the
   * fold, so the fold covers every chunk it names; after `Replica.close`,
   * since compaction renames chunks.
   */
  async rememberFold(folded: FoldedSpace, fingerprint: Record<string, string[]>): Promise<void> {
    const { address } = folded;
    const key = JSON.stringify(fingerprint);
    if (this.#snapshots.get(address.documentId) === key) return;
    await writeVerifiedSnapshot(
      this.#replica.home,
      address.documentId,
      snapshotOf(address.genesis, fingerprint, folded.fold),
    );
    this.#snapshots.set(address.documentId, key);
  }
}

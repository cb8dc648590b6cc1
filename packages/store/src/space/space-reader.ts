import { type DocHandle, isValidDocumentId } from "@automerge/automerge-repo";
import {
  CanonError,
  type FoldResult,
  fold,
  isCanonError,
  PERMANENT_REFUSALS,
  type RecordEntry,
  type Rejection,
  type SignedRecord,
  sameBytes,
} from "@canon/core";
import {
  MAX_REFUSED_RECORDS,
  readRefusedRecords,
  writeRefusedRecords,
} from "../caches/refused-records.js";
import {
  readVerifiedSnapshot,
  snapshotOf,
  writeVerifiedSnapshot,
} from "../caches/verified-snapshot.js";
import type { Replica } from "../replica.js";
import { mapsAt } from "./document-maps.js";
import { mapField, type SpaceDocument, type StandardDocument } from "./documents.js";
import { chooseFeedRoutes } from "./feed-routes.js";
import { headsOf } from "./heads.js";
import type { SpaceAddress } from "./space-url.js";
import { writeBack } from "./write-back.js";

/** Stored documents loaded at once: enough to overlap reads, few enough never to run out of file handles. */
const LOCAL_LOADS = 8;
/** Documents asked of peers at once: enough to overlap round trips, few enough for any relay. */
const REMOTE_LOADS = 32;

/** True when two entry values are the same bytes. */
function sameEntry(a: unknown, b: unknown): boolean {
  return a instanceof Uint8Array && b instanceof Uint8Array && sameBytes(a, b);
}

/** A document the space routes to that did not arrive within the find timeout: reported, never waited for. */
export interface MissingDocument {
  readonly documentId: string;
  /** The routing entry's standard name (a hint a peer wrote, cut to 200 characters), or null when it is not a string. */
  readonly name: string | null;
}

/** A space's documents, loaded. */
export interface LoadedSpace {
  readonly address: SpaceAddress;
  readonly space: DocHandle<SpaceDocument>;
  /**
   * Standard documents by document id, sorted: every one the space routes to
   * and every one this replica read the space's records from before (so a
   * routing entry a peer deleted loses nothing), provenance feed segments
   * included (they sync, fold and fingerprint the same way). Whatever their
   * tags say: a document belongs to the standards whose accepted records it holds.
   */
  readonly standards: ReadonlyMap<string, DocHandle<StandardDocument>>;
  /**
   * Standard documents whose stored files are damaged, by document id, with
   * the standard name the space document routes to them (untrusted, for
   * messages) and the error naming the file. The rest of the space still reads.
   */
  readonly damaged: ReadonlyMap<string, { readonly name: string; readonly error: CanonError }>;
  /** Standard document ids the space document lists that are valid ids (junk entries from peers are ignored). */
  readonly routes: readonly string[];
  /** The routing entries' standard names (hints), by document id, where they are strings. */
  readonly routeNames: ReadonlyMap<string, string>;
  /**
   * Document ids the space's `feeds` map routes to (provenance feed
   * segments), with the agent did each entry names (a hint): only entries
   * naming someone who has been a member, at most
   * `MAX_FEED_SEGMENTS_PER_AGENT` each (`space/feed-routes.ts`). They are
   * also in {@link routes}, and loaded with the standard documents.
   */
  readonly feedRoutes: ReadonlyMap<string, string>;
  /** Every standard document id this load looked for: {@link routes} and those remembered, sorted. */
  readonly documents: readonly string[];
  /** Routed documents that did not arrive within the find timeout (nowhere, or a peer holds them back). */
  readonly missing: readonly MissingDocument[];
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
  /**
   * Records verified by earlier folds, in this process or (from the snapshot) an earlier one,
   * or checked ahead of a fold in this process ({@link checkedAhead}); offered to each fold as its cache.
   */
  readonly #verified = new Map<string, SignedRecord>();
  /**
   * Per space: every record this replica has verified, in this process or
   * (from the snapshot) an earlier one. Records are append-only: one that a
   * peer deleted from, or overwrote in, a document still counts here.
   */
  readonly #remembered = new Map<string, Map<string, SignedRecord>>();
  /**
   * Per space: standard documents the space's records were read from, in
   * this process or (from the snapshot's fingerprint) an earlier one; loaded
   * with the routed ones, so a routing entry a peer deleted hides nothing.
   */
  readonly #known = new Map<string, Set<string>>();
  /**
   * Per space: entries refused for good by earlier folds, by CID, read once
   * from `caches/refused-records.ts`; `dirty` when a fold refused more since.
   */
  readonly #refused = new Map<string, { byCid: Map<string, Rejection>; dirty: boolean }>();
  /** Records being checked ahead of the next load ({@link checkedAhead}), not yet taken. */
  readonly #ahead: Promise<readonly SignedRecord[]>[] = [];

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
   * Records that passed `verifyRecord` in this process before any fold read
   * them (a bulk answer's, checked on a worker thread as it was loaded:
   * `sync/records-checked-ahead.ts`). The next {@link load} waits for them and
   * adds them to the records verified, which every fold takes as its cache:
   * by CID, for an entry with exactly the bytes that were checked. Only for
   * records checked in full in this process, never for verdicts read from
   * elsewhere.
   */
  checkedAhead(records: Promise<readonly SignedRecord[]>): void {
    // Awaited by the next load; a failure there only leaves the fold to check everything.
    records.catch(() => {});
    this.#ahead.push(records);
  }

  /** Adds the records checked ahead ({@link checkedAhead}) to those verified, once they are all in. */
  async #takeCheckedAhead(): Promise<void> {
    while (this.#ahead.length > 0) {
      const records = await (this.#ahead.shift() as Promise<readonly SignedRecord[]>).catch(
        () => [],
      );
      for (const signed of records) this.#verified.set(signed.cid, signed);
    }
  }

  /**
   * Loads a space document and every standard document it lists or this
   * replica read the space from before. The space document is the one the
   * address names, whatever its fields say (the fold checks its records
   * against the genesis CID). Documents stored here load a few at a time;
   * those only peers may hold are asked for all at once, each waited for at
   * most the replica's find timeout, so a routing entry naming a document
   * that exists nowhere costs one timeout and is reported in `missing`.
   * @throws CanonError `UNKNOWN_SPACE` when the space document is not here, `STORAGE_DAMAGED` when a file is damaged.
   */
  async load(address: SpaceAddress): Promise<LoadedSpace> {
    const space = await this.#replica.find<SpaceDocument>(address.documentId);
    if (space === undefined) {
      throw new CanonError(
        "UNKNOWN_SPACE",
        `space ${address.documentId} is not in this replica; join it with \`canon space join <url>\``,
      );
    }
    await this.#seedFromSnapshot(address);
    await this.#takeCheckedAhead();
    const routing = mapField(space.doc(), "standards");
    const valid = (id: string) => isValidDocumentId(id) && id !== address.documentId;
    const known = this.#knownOf(address.documentId);
    // Only members' feeds, a bounded number each: the map is a hint anyone can fill.
    const feedRoutes = chooseFeedRoutes(mapField(space.doc(), "feeds"), {
      valid,
      everMembers: await this.#everMembers(address, space.doc()),
      known,
    });
    const routes = [
      ...new Set([...Object.keys(routing).filter(valid), ...feedRoutes.keys()]),
    ].sort();
    const routeNames = new Map<string, string>();
    for (const id of routes) {
      const name = Object.hasOwn(routing, id) ? routing[id] : undefined;
      if (typeof name === "string") routeNames.set(id, name);
    }
    const documents = [...new Set([...routes, ...known])].sort();
    const found = await this.#findAll(documents);
    const standards = new Map<string, DocHandle<StandardDocument>>();
    const damaged = new Map<string, { name: string; error: CanonError }>();
    const missing: MissingDocument[] = [];
    for (const documentId of documents) {
      const result = found.get(documentId);
      if (result instanceof CanonError) {
        damaged.set(documentId, { name: routeNames.get(documentId) ?? "", error: result });
      } else if (result !== undefined) {
        standards.set(documentId, result);
        known.add(documentId);
      } else if (Object.hasOwn(routing, documentId) || feedRoutes.has(documentId)) {
        const name = routeNames.get(documentId);
        missing.push({ documentId, name: name === undefined ? null : name.slice(0, 200) });
      }
    }
    return {
      address,
      space,
      standards,
      damaged,
      routes,
      routeNames,
      feedRoutes,
      documents,
      missing,
    };
  }

  /** Finds documents: stored ones a few at a time, the rest all at once; damaged ones as their error. */
  async #findAll(
    documentIds: readonly string[],
  ): Promise<Map<string, DocHandle<StandardDocument> | CanonError | undefined>> {
    const results = new Map<string, DocHandle<StandardDocument> | CanonError | undefined>();
    const findOne = async (documentId: string) => {
      try {
        results.set(documentId, await this.#replica.find<StandardDocument>(documentId));
      } catch (error) {
        if (!isCanonError(error, "STORAGE_DAMAGED")) throw error;
        results.set(documentId, error);
      }
    };
    const stored: string[] = [];
    const remote: string[] = [];
    for (const documentId of documentIds)
      ((await this.#replica.holds(documentId)) ? stored : remote).push(documentId);
    // Asking peers costs a message each and waits on the network, not on files:
    // more at once, but bounded, however many documents a peer routed.
    const pool = async (ids: readonly string[], width: number) => {
      let next = 0;
      const worker = async () => {
        while (next < ids.length) await findOne(ids[next++] as string);
      };
      await Promise.all(Array.from({ length: Math.min(width, ids.length) }, worker));
    };
    await Promise.all([pool(remote, REMOTE_LOADS), pool(stored, LOCAL_LOADS)]);
    return results;
  }

  /**
   * Loads a space and folds its records, with every record remembered from
   * earlier folds, into verified state.
   * @throws CanonError as {@link load} does.
   */
  async fold(address: SpaceAddress): Promise<FoldedSpace> {
    const loaded = await this.load(address);
    const entries: RecordEntry[] = [];
    const collected = new Map<string, unknown[]>();
    const collect = (doc: unknown) => {
      for (const records of mapsAt(doc, "records")) {
        for (const [cid, bytes] of Object.entries(records)) {
          const seen = collected.get(cid) ?? [];
          // The same record in several documents (or maps) is one entry.
          if (seen.some((other) => other === bytes || sameEntry(other, bytes))) continue;
          seen.push(bytes);
          collected.set(cid, seen);
          entries.push({ cid, bytes });
        }
      }
    };
    // Entries and heads in the same tick: the fold describes exactly these heads.
    collect(loaded.space.doc());
    for (const handle of loaded.standards.values()) collect(handle.doc());
    const heads = headsOf(loaded);
    const remembered = this.#rememberedOf(address.documentId);
    for (const signed of remembered.values()) {
      if (!(collected.get(signed.cid) ?? []).some((bytes) => sameEntry(bytes, signed.bytes)))
        entries.push({ cid: signed.cid, bytes: signed.bytes });
    }
    const refused = await this.#refusedOf(address.documentId);
    const result = await fold({
      spaceCid: address.genesis,
      entries,
      content: (cid) => this.#replica.content.candidates(loaded, cid),
      cache: {
        verifiedRecord: (cid) => this.#verified.get(cid),
        refusedRecord: (cid) => refused.byCid.get(cid),
        // Bytes verified earlier survive a peer overwriting them in the document.
        content: (cid) => this.#replica.content.cached(cid),
        // The write-back and the blob cache's writer check the same bytes again.
        contentMatches: this.#replica.content.matches,
      },
    });
    for (const [cid, signed] of result.verified) {
      remembered.set(cid, signed);
      this.#verified.set(cid, signed);
    }
    await this.#rememberRefusals(address.documentId, refused, result.invalid);
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
    // Documents the space's records were read from last time: a deleted routing entry does not hide them.
    const known = this.#knownOf(address.documentId);
    for (const [documentId, chunks] of Object.entries(snapshot.fingerprint))
      if (documentId !== address.documentId && chunks.length > 0 && isValidDocumentId(documentId))
        known.add(documentId);
    const remembered = this.#rememberedOf(address.documentId);
    for (const signed of snapshot.records) {
      remembered.set(signed.cid, signed);
      if (this.#trustSnapshot) this.#verified.set(signed.cid, signed);
    }
  }

  /**
   * Everyone who has been a member of the space (its creator, and every
   * member a verified membership change names, removed ones included, whose
   * earlier stamps still count): the agents whose feeds are read. From the
   * space document's records and those remembered, verified once each.
   */
  async #everMembers(address: SpaceAddress, spaceDoc: unknown): Promise<Set<string>> {
    const entries: RecordEntry[] = [];
    for (const records of mapsAt(spaceDoc, "records"))
      for (const [cid, bytes] of Object.entries(records)) entries.push({ cid, bytes });
    for (const signed of this.#rememberedOf(address.documentId).values())
      if (signed.record.type === "canon/membership" || signed.record.type === "canon/space-genesis")
        entries.push(signed);
    const refused = await this.#refusedOf(address.documentId);
    const result = await fold({
      spaceCid: address.genesis,
      entries,
      content: () => [],
      cache: {
        verifiedRecord: (cid) => this.#verified.get(cid),
        refusedRecord: (cid) => refused.byCid.get(cid),
      },
    });
    for (const [cid, signed] of result.verified) this.#verified.set(cid, signed);
    await this.#rememberRefusals(address.documentId, refused, result.invalid);
    const state = result.state;
    if (state === undefined) return new Set();
    return new Set([
      state.genesis.record.author,
      ...state.membershipChanges.map((change) => change.record.member),
    ]);
  }

  /**
   * The space's refusals for good, read from disk once (none for an audit,
   * which checks everything: it then starts from an empty list).
   */
  async #refusedOf(
    spaceDocumentId: string,
  ): Promise<{ byCid: Map<string, Rejection>; dirty: boolean }> {
    let refused = this.#refused.get(spaceDocumentId);
    if (refused === undefined) {
      const byCid = this.#trustSnapshot
        ? await readRefusedRecords(this.#replica.home, spaceDocumentId)
        : new Map<string, Rejection>();
      // Read by another fold meanwhile: that one is kept.
      refused = this.#refused.get(spaceDocumentId) ?? { byCid, dirty: !this.#trustSnapshot };
      this.#refused.set(spaceDocumentId, refused);
    }
    return refused;
  }

  /**
   * Adds a fold's refusals for good (`PERMANENT_REFUSALS`) to the space's,
   * and writes them to the index when any is new (a failed write only
   * leaves them to be checked again by the next process).
   */
  async #rememberRefusals(
    spaceDocumentId: string,
    refused: { byCid: Map<string, Rejection>; dirty: boolean },
    invalid: readonly Rejection[],
  ): Promise<void> {
    for (const rejection of invalid) {
      if (refused.byCid.size >= MAX_REFUSED_RECORDS) break;
      if (!PERMANENT_REFUSALS.has(rejection.code) || refused.byCid.has(rejection.cid)) continue;
      refused.byCid.set(rejection.cid, rejection);
      refused.dirty = true;
    }
    if (!refused.dirty) return;
    refused.dirty = false;
    await writeRefusedRecords(this.#replica.home, spaceDocumentId, refused.byCid.values()).catch(
      () => {
        refused.dirty = true;
      },
    );
  }

  #knownOf(spaceDocumentId: string): Set<string> {
    let known = this.#known.get(spaceDocumentId);
    if (known === undefined) {
      known = new Set();
      this.#known.set(spaceDocumentId, known);
    }
    return known;
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
   * Writes back what the space's documents lost of its verified state
   * ({@link writeBack}): maps, type tags, routing entries, every accepted
   * record with its exact bytes and every accepted release's content, so the
   * next sync gives them back to every peer. Returns how many writes it made.
   */
  restoreMissing(folded: FoldedSpace): Promise<number> {
    return writeBack(this.#replica, folded);
  }

  /**
   * The chunk files (`kind/name`) this process holds of the space's
   * documents, by document id: what a result computed from them describes.
   */
  fingerprintOf(loaded: LoadedSpace): Record<string, string[]> {
    const fingerprint: Record<string, string[]> = {};
    for (const id of [loaded.address.documentId, ...loaded.documents])
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

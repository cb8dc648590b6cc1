import type { DocHandle } from "@automerge/automerge-repo";
import {
  type FoldResult,
  fold,
  foldMore,
  isBundleCid,
  PERMANENT_REFUSALS,
  type RecordEntry,
  sameBytes,
} from "@canon/core";
import { recordDiskProof } from "../caches/disk-proof.js";
import { readHeadsCache, writeHeadsCache } from "../caches/heads-cache.js";
import { stampIndexOf, writeStampIndex } from "../caches/stamp-index.js";
import { snapshotOf, writeVerifiedSnapshot } from "../caches/verified-snapshot.js";
import { writeListingCache } from "../caches/write-listing-cache.js";
import { writeReadIndex } from "../caches/write-read-index.js";
import type { CanonHome } from "../home/canon-home.js";
import { withHomeLock } from "../home/home-lock.js";
import { openReplica } from "../open-replica.js";
import { afterAnswer } from "../owner/after-answer.js";
import type { Replica } from "../replica.js";
import { mapsAt } from "../space/document-maps.js";
import { mapField, type SpaceDocument, type StandardDocument } from "../space/documents.js";
import { headsOf } from "../space/heads.js";
import type { FoldedSpace } from "../space/space-reader.js";
import { recordCidsOf } from "../space/standard-document.js";
import {
  type ChosenSpace,
  chooseSpace,
  type SessionOptions,
  type SpaceChoice,
  type SpaceSession,
  withSpace,
} from "./space-session.js";
import { type CurrentSnapshot, currentSnapshot, keepCurrent } from "./space-view.js";

/**
 * Runs `work` on a session that loads only the space document and the
 * documents of one standard, when the space's verified snapshot is current
 * (it names exactly the chunk files on disk, each passing its checksum): the
 * state is then the snapshot's fold, the documents the command does not
 * touch are never opened, and afterwards the caches (verified snapshot, read
 * index, stamp index) are updated from the snapshot and the touched
 * documents alone. So writing one standard costs the same in a space of ten
 * standards or a thousand.
 *
 * The standard's documents are those the routing table names for it; when
 * none of them holds an accepted record the state has for it (a peer
 * rerouted them), or the snapshot is not current, it is {@link withSpace}
 * with `writeBack`, which loads and folds every document. Nothing is written
 * back into documents this session does not load: `sync` and `watch`, which
 * load them all, do that.
 */
export async function withStandard<T>(
  home: CanonHome,
  choice: SpaceChoice,
  standard: string,
  work: (session: SpaceSession) => Promise<T>,
  options: SessionOptions = {},
): Promise<T> {
  // The home lock from the snapshot it decides from to the flush, as withSpace holds it.
  return withHomeLock(home, () => standardSession(home, choice, standard, work, options));
}

async function standardSession<T>(
  home: CanonHome,
  choice: SpaceChoice,
  standard: string,
  work: (session: SpaceSession) => Promise<T>,
  options: SessionOptions,
): Promise<T> {
  const chosen = await chooseSpace(home, choice);
  const current = await currentSnapshot(home, chosen);
  const full = () => withSpace(home, choice, work, { ...options, writeBack: true, lockHeld: true });
  if (current === undefined) return full();
  const { writeBack: _, exclusive: __, lockHeld: ___, ...replicaOptions } = options;
  const replica = await openReplica(home, replicaOptions);
  // A replica held open by the home's owner catches up with what other processes wrote
  // (nothing, when the snapshot it kept still holds: no other process wrote since its proof).
  if (current.kept !== true) await replica.catchUp();
  let folded: FoldedSpace | undefined;
  try {
    folded = await loadStandard(replica, chosen, current, standard);
    if (folded === undefined) {
      await replica.close();
      return await full();
    }
    return await work({ replica, chosen, folded, state: current.fold.state });
  } finally {
    await replica.close();
    // What the command wrote is durable now; the caches for it can wait for its answer (in the owner).
    const done = folded;
    if (done)
      await afterAnswer(async () => {
        await refreshTouched(replica, chosen, current, done).catch(() => {});
      });
  }
}

/**
 * The space document and the standard's routed documents, with the
 * snapshot's fold; undefined when a routed document is missing here or the
 * state has accepted records of the standard that none of them holds.
 */
async function loadStandard(
  replica: Replica,
  chosen: ChosenSpace,
  current: CurrentSnapshot,
  standard: string,
): Promise<FoldedSpace | undefined> {
  const { address } = chosen;
  const space = await replica.find<SpaceDocument>(address.documentId);
  if (space === undefined) return undefined;
  const routing = mapField(space.doc(), "standards");
  const routeNames = new Map<string, string>();
  for (const [id, name] of Object.entries(routing))
    if (typeof name === "string" && id in current.snapshot.fingerprint) routeNames.set(id, name);
  const standards = new Map<string, DocHandle<StandardDocument>>();
  for (const [id, name] of [...routeNames].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (name !== standard) continue;
    const handle = await replica.find<StandardDocument>(id);
    if (handle === undefined) return undefined;
    standards.set(id, handle);
  }
  const records = recordCidsOf(current.fold.state, standard);
  if (records.length > 0) {
    const held = (handle: DocHandle<StandardDocument>) =>
      mapsAt(handle.doc(), "records").some((map) => records.some((cid) => Object.hasOwn(map, cid)));
    if (![...standards.values()].some(held)) return undefined;
  }
  const documents = Object.keys(current.snapshot.fingerprint)
    .filter((id) => id !== address.documentId)
    .sort();
  const loaded = {
    address,
    space,
    standards,
    damaged: new Map(),
    routes: documents,
    routeNames,
    feedRoutes: new Map(),
    documents,
    missing: [],
  };
  return { ...loaded, fold: current.fold, heads: headsOf(loaded) };
}

/** True when two entry values are the same bytes. */
function sameEntry(a: unknown, b: unknown): boolean {
  return a instanceof Uint8Array && b instanceof Uint8Array && sameBytes(a, b);
}

/**
 * `result` without its own-check rejections (`invalid`) of the CIDs in
 * `rechecked`: what a fold of the same records without those entries gives
 * (an entry that fails its own checks changes no state), so that the
 * entries, checked again, are not listed twice.
 */
function withoutInvalid<T extends FoldResult>(
  result: T,
  rechecked: ReadonlyMap<string, unknown>,
): T {
  const dropped = new Set(result.invalid.filter((entry) => rechecked.has(entry.cid)));
  if (dropped.size === 0) return result;
  return {
    ...result,
    invalid: result.invalid.filter((entry) => !dropped.has(entry)),
    rejected: result.rejected.filter((entry) => !dropped.has(entry)),
  };
}

/**
 * True when a release `result` refused for its content (`content-missing`,
 * `content-mismatch`) may now be decided otherwise: one of `handles` holds a
 * value under its content CID (for a bundle, whose files have CIDs of their
 * own: any document but the space's). A verdict on content is not one on the
 * release's bytes: the content may arrive later (a member writing back what
 * a peer deleted), and {@link foldMore} keeps the verdicts of standards with
 * no new release, so such a refresh folds everything.
 */
function contentMayHaveArrived(
  result: FoldResult,
  handles: readonly DocHandle<unknown>[],
  spaceDocumentId: string,
): boolean {
  const documents = handles.filter((handle) => handle.documentId !== spaceDocumentId);
  if (documents.length === 0) return false;
  const contents = documents.flatMap((handle) => mapsAt(handle.doc(), "contents"));
  for (const rejection of result.rejected) {
    if (rejection.code !== "content-missing" && rejection.code !== "content-mismatch") continue;
    const release = result.verified.get(rejection.cid)?.record;
    if (release?.type !== "canon/release") continue;
    if (isBundleCid(release.contentCid)) return true;
    if (contents.some((map) => Object.hasOwn(map, release.contentCid))) return true;
  }
  return false;
}

/** The fold of the snapshot's records and `added` (only those are checked), with the snapshot's invalid entries. */
async function foldAll(
  snapshot: CurrentSnapshot["snapshot"],
  added: readonly RecordEntry[],
  content: (cid: string) => Iterable<Uint8Array>,
  replica: Replica,
): Promise<FoldResult> {
  const verified = new Map(snapshot.records.map((signed) => [signed.cid, signed]));
  const contentMatched = new Set(snapshot.contentVerified);
  const result = await fold({
    spaceCid: snapshot.genesis,
    entries: [...snapshot.records, ...added],
    content,
    cache: {
      verifiedRecord: (cid) => verified.get(cid),
      contentMatched: (cid) => contentMatched.has(cid),
      content: (cid) => replica.content.cached(cid),
    },
  });
  return {
    ...result,
    invalid: [...snapshot.invalid, ...result.invalid],
    rejected: [...snapshot.invalid, ...result.rejected],
  };
}

/**
 * Rewrites the caches after a session that loaded only some documents: the
 * snapshot's fingerprint with the touched documents' chunk files as this
 * process now holds them (after `Replica.close`, since compaction renames
 * chunks), and the fold of the snapshot's records with every record of the
 * touched documents (only new ones are checked). Only a verdict on the very
 * bytes a CID names is kept without a new check (`PERMANENT_REFUSALS`): an
 * entry refused for other bytes under its CID is checked again, and a release
 * refused for content a touched document may now hold is decided again. A
 * chunk another process wrote meanwhile is named nowhere, so the next command
 * sees the caches stale. Returns that fold, or undefined when it wrote
 * nothing. Call after `Replica.close`. After a command the home's owner runs
 * through {@link withStandard}, it runs once the command has answered
 * ({@link afterAnswer}): what the command wrote is durable by then, and a
 * crash before the caches are written leaves them stale, never wrong.
 */
export async function refreshTouched(
  replica: Replica,
  chosen: ChosenSpace,
  current: CurrentSnapshot,
  folded: Pick<FoldedSpace, "space" | "standards">,
): Promise<FoldResult | undefined> {
  const { address } = chosen;
  const { snapshot } = current;
  const touched = replica.touched();
  const handles = [folded.space, ...folded.standards.values()];
  for (const id of touched)
    if (!handles.some((handle) => handle.documentId === id)) {
      const handle = replica.repo.handles[id];
      if (handle === undefined || !handle.isReady()) return undefined;
      handles.push(handle as DocHandle<StandardDocument>);
    }
  const fingerprint: Record<string, string[]> = {};
  for (const [id, names] of Object.entries(snapshot.fingerprint)) fingerprint[id] = [...names];
  const seen: Record<string, string[]> = {};
  for (const id of touched) seen[id] = replica.storage.chunkNames(id);
  const touchedIds = new Set<string>(touched);
  for (const handle of handles) touchedIds.add(handle.documentId);
  // As the files on disk name them (automerge-repo compacts on its own).
  Object.assign(fingerprint, await replica.storage.describedOnDisk(seen));
  // Only a verdict about the very bytes a CID names lets an entry under it go unchecked
  // (`PERMANENT_REFUSALS`): one refused for other bytes under that CID (`cid-mismatch`, too
  // large, not bytes) says nothing of the genuine record, which a peer may have shown later.
  const refusedForGood = new Set(
    snapshot.invalid
      .filter((entry) => PERMANENT_REFUSALS.has(entry.code))
      .map((entry) => entry.cid),
  );
  const added: RecordEntry[] = [];
  const values = new Map<string, unknown[]>();
  for (const handle of handles)
    for (const records of mapsAt(handle.doc(), "records"))
      for (const [cid, bytes] of Object.entries(records)) {
        if (current.fold.verified.has(cid) || refusedForGood.has(cid)) continue;
        // Every value under a CID, once each: a peer's other bytes must not hide the record's.
        const under = values.get(cid) ?? [];
        if (under.some((other) => other === bytes || sameEntry(other, bytes))) continue;
        under.push(bytes);
        values.set(cid, under);
        added.push({ cid, bytes });
      }
  // Those entries are checked again: their earlier rejections are replaced by the new verdicts.
  const previous = withoutInvalid(current.fold, values);
  const snapshotInvalid = snapshot.invalid.filter((entry) => !values.has(entry.cid));
  const standards = new Map(
    handles
      .filter((handle) => handle.documentId !== folded.space.documentId)
      .map((handle) => [handle.documentId, handle as DocHandle<StandardDocument>]),
  );
  const content = (cid: string) => replica.content.candidates({ standards }, cid);
  // Usually one standard's new releases: that standard is decided again, the rest kept (`foldMore`);
  // unless content a release was refused for may have arrived: everything is decided again.
  const more = contentMayHaveArrived(current.fold, handles, folded.space.documentId)
    ? undefined
    : await foldMore(previous, {
        spaceCid: address.genesis,
        entries: added,
        content,
        cache: {
          // An accepted release's content was matched when the snapshot was written (its `contentVerified`).
          contentMatched: (cid) => {
            const release = previous.verified.get(cid)?.record;
            return (
              release?.type === "canon/release" &&
              previous.state.standards.get(release.standard)?.releases.has(cid) === true
            );
          },
          content: (cid) => replica.content.cached(cid),
        },
      });
  const merged =
    more ?? (await foldAll({ ...snapshot, invalid: snapshotInvalid }, added, content, replica));
  const state = merged?.state;
  if (merged === undefined || state === undefined) return undefined;
  // Content is looked up in the touched documents (and the blob cache) only: a release newly
  // refused for its content (one a new membership record now admits, whose content sits in a
  // document this session did not load) may be one the full fold accepts. Nothing is written;
  // the next command folds everything.
  const contentVerdicts = new Set(
    current.fold.rejected
      .filter((entry) => entry.code === "content-missing" || entry.code === "content-mismatch")
      .map((entry) => `${entry.cid} ${entry.code}`),
  );
  if (
    merged.rejected.some(
      (entry) =>
        (entry.code === "content-missing" || entry.code === "content-mismatch") &&
        !contentVerdicts.has(`${entry.cid} ${entry.code}`),
    )
  )
    return undefined;
  const written = snapshotOf(address.genesis, fingerprint, merged);
  await writeVerifiedSnapshot(replica.home, address.documentId, written);
  await writeReadIndex(replica.home, address.documentId, fingerprint, state);
  await writeListingCache(
    replica.home,
    address.documentId,
    fingerprint,
    state,
    merged.rejected.length,
  );
  await writeStampIndex(
    replica.home,
    address.documentId,
    stampIndexOf(address.genesis, fingerprint, merged),
  );
  // The heads of untouched documents are those the previous cache recorded, if it described the snapshot's files.
  const headsBefore = await readHeadsCache(replica.home, address.documentId);
  // (The very object when this process wrote both: `readHeadsCache` returns what it wrote while the file is unchanged.)
  if (
    (headsBefore !== undefined && headsBefore.fingerprint === snapshot.fingerprint) ||
    JSON.stringify(headsBefore?.fingerprint) === JSON.stringify(snapshot.fingerprint)
  ) {
    const heads: Record<string, readonly string[]> = { ...headsBefore?.heads };
    for (const handle of handles) heads[handle.documentId] = handle.heads();
    await writeHeadsCache(replica.home, address.documentId, { fingerprint, heads });
  }
  // The next command trusts these caches after one read, if nothing was written meanwhile.
  // Documents this process neither loaded nor wrote were proven unchanged at the start: `stat`ed, not listed.
  const untouched =
    current.provenSinceMs === undefined
      ? undefined
      : {
          sinceMs: current.provenSinceMs,
          documents: Object.keys(fingerprint).filter((id) => !touchedIds.has(id)),
          ...(current.provenBy !== undefined ? { proof: current.provenBy } : {}),
        };
  const token = await recordDiskProof(
    replica.home,
    replica.storage,
    address.documentId,
    fingerprint,
    untouched,
  );
  if (token !== undefined)
    keepCurrent(replica.home, address.documentId, token, {
      snapshot: written,
      fold: { ...merged, state },
    });
  return merged;
}

import { stat } from "node:fs/promises";
import type { DocHandle, DocumentId } from "@automerge/automerge-repo";
import {
  fold,
  PERMANENT_REFUSALS,
  type Provenance,
  type SignedRecord,
  type SpaceState,
} from "@canon/core";
import { readHeadsCache, writeHeadsCache } from "../caches/heads-cache.js";
import { readStampIndex, withAcceptedStamps, writeStampIndex } from "../caches/stamp-index.js";
import { writeVerifiedSnapshot } from "../caches/verified-snapshot.js";
import { writeReadIndex } from "../caches/write-read-index.js";
import type { CanonHome } from "../home/canon-home.js";
import { openReplica } from "../open-replica.js";
import type { Replica } from "../replica.js";
import { mapsAt } from "../space/document-maps.js";
import { mapField, type SpaceDocument, type StandardDocument } from "../space/documents.js";
import { appendToFeeds, hasRoom } from "../space/feed.js";
import type { LoadedSpace } from "../space/space-reader.js";
import { chunkFingerprint, chunkKeyOf, pathOfKey } from "../storage/chunk-layout.js";
import type { ChosenSpace } from "./space-session.js";
import { type CurrentSnapshot, currentSnapshot } from "./space-view.js";

/** What {@link withFeedSession} gives `work`. */
export interface FeedSession {
  /** The space's verified state with the author's own stamps and no other agent's. */
  readonly state: SpaceState;
  /** Appends signed stamps of the author to its feed (its segment with room, else a new one). */
  readonly append: (stamps: readonly SignedRecord<Provenance>[]) => Promise<void>;
}

/**
 * Runs `work` on a session for one author's stamps whose cost does not grow
 * with the space's stamps: the state comes from the verified snapshot with
 * that author's stamps alone (no other agent's stamp bears on the author's
 * chain, role or context), only the space document and the author's feed
 * segments are opened with Automerge, and afterwards the caches are updated
 * in place: the snapshot's file of the author's stamps and its main file,
 * the read index, the stamp index's shard of each new stamp's outputs and
 * its agents' rows, and the heads cache (left stale, for the next command to
 * fold, when the opened documents hold anything else new). Undefined (nothing run) when the
 * snapshot or the stamp index does not describe the chunk files on disk:
 * the caller then opens the whole space. The caller holds the home lock.
 * Returns `work`'s value and the documents the session opened with Automerge.
 */
export async function withFeedSession<T>(
  home: CanonHome,
  chosen: ChosenSpace,
  author: string,
  work: (session: FeedSession) => Promise<T>,
): Promise<{ readonly value: T; readonly opened: readonly string[] } | undefined> {
  const current = await currentSnapshot(home, chosen, { agents: [author] });
  if (current === undefined) return undefined;
  if ((await readStampIndex(home, chosen.address)) === undefined) return undefined;
  let replica: Replica | undefined;
  let appended: SignedRecord<Provenance>[] = [];
  let handles: DocHandle<unknown>[] = [];
  const append = async (stamps: readonly SignedRecord<Provenance>[]) => {
    replica ??= await openReplica(home);
    // A replica held open by the home's owner catches up with what other processes wrote.
    await replica.catchUp();
    const loaded = await loadOwnFeed(replica, chosen, current, author);
    const routedBefore = new Set(Object.keys(mapField(loaded.space.doc(), "feeds")));
    appendToFeeds(replica, loaded, current.fold.state, stamps);
    // What it opened, and a segment it created (routed from the space document only now).
    handles = [loaded.space, ...loaded.standards.values()] as DocHandle<unknown>[];
    for (const id of Object.keys(mapField(loaded.space.doc(), "feeds")))
      if (!routedBefore.has(id) && !handles.some((handle) => handle.documentId === id)) {
        const handle = replica.repo.handles[id as DocumentId];
        if (handle?.isReady()) handles.push(handle as DocHandle<unknown>);
      }
    appended = [...appended, ...stamps];
  };
  try {
    const value = await work({ state: current.fold.state, append });
    return { value, opened: replica?.touched() ?? [] };
  } finally {
    if (replica !== undefined) {
      await replica.close();
      if (appended.length > 0)
        await refreshAfterAppend(replica, chosen, current, appended, handles).catch(() => {});
    }
  }
}

/**
 * The space document and the author's candidate segments: the documents the
 * `feeds` map routes to under the author's did (a hint; `appendToFeeds`
 * writes only into one holding its accepted stamps), smallest on disk first,
 * loaded until one has room, so a full segment is not opened again and again.
 */
async function loadOwnFeed(
  replica: Replica,
  chosen: ChosenSpace,
  current: CurrentSnapshot,
  author: string,
): Promise<LoadedSpace> {
  const { address } = chosen;
  const space = await replica.find<SpaceDocument>(address.documentId);
  if (space === undefined) throw new Error(`space ${address.documentId} vanished`);
  const feeds = mapField(space.doc(), "feeds");
  const candidates: { id: string; bytes: number }[] = [];
  for (const id of Object.keys(feeds))
    if (feeds[id] === author && Object.hasOwn(current.snapshot.fingerprint, id))
      candidates.push({
        id,
        bytes: await storedBytes(replica.home, id, current.snapshot.fingerprint[id] ?? []),
      });
  candidates.sort((a, b) => a.bytes - b.bytes || (a.id < b.id ? -1 : 1));
  const standards = new Map<string, DocHandle<StandardDocument>>();
  for (const { id } of candidates) {
    const handle = await replica.find<StandardDocument>(id);
    if (handle === undefined) continue;
    standards.set(id, handle);
    const records = Object.keys(mapField(handle.doc(), "records"));
    if (records.some((cid) => current.fold.state.provenance.has(cid)) && hasRoom(handle.doc()))
      break;
  }
  const documents = Object.keys(current.snapshot.fingerprint)
    .filter((id) => id !== address.documentId)
    .sort();
  return {
    address,
    space,
    standards,
    damaged: new Map(),
    routes: documents,
    routeNames: new Map(),
    feedRoutes: new Map(),
    documents,
    missing: [],
  };
}

/** Bytes of a document's chunk files on disk, as the snapshot names them (a full segment is the largest). */
async function storedBytes(home: CanonHome, documentId: string, names: readonly string[]) {
  let bytes = 0;
  for (const name of names)
    bytes += await stat(pathOfKey(home.replica, chunkKeyOf(documentId, name)))
      .then((stats) => stats.size)
      .catch(() => 0);
  return bytes;
}

/**
 * The caches after appending `stamps` to a session's documents (call after
 * `Replica.close`, since compaction renames chunks): the fingerprint with the
 * touched documents' chunk files as this process now holds them; the
 * snapshot's file of the author's stamps and its main file; the read index
 * (the standards did not change); the stamp index's shards of the new
 * stamps' outputs and its agents' rows, when the space's rules accept them
 * (checked by folding them with the session's records); and the heads cache,
 * when it described the snapshot's files. A chunk another process wrote
 * meanwhile is named nowhere, so the next command sees the caches stale.
 */
async function refreshAfterAppend(
  replica: Replica,
  chosen: ChosenSpace,
  current: CurrentSnapshot,
  stamps: readonly SignedRecord<Provenance>[],
  handles: readonly DocHandle<unknown>[],
): Promise<void> {
  const { address } = chosen;
  const { snapshot } = current;
  const fingerprint: Record<string, string[]> = {};
  for (const [id, names] of Object.entries(snapshot.fingerprint)) fingerprint[id] = [...names];
  // Only this space's documents (a home's owner holds other spaces' open too),
  // as they are on disk: a home's owner may still remember chunks another
  // process compacted away. Every chunk there must be one this process holds
  // (merged or written); one it does not is a change the session did not fold.
  const onDisk = await chunkFingerprint(
    replica.home.replica,
    handles.map((handle) => handle.documentId),
  );
  for (const { documentId } of handles) {
    const held = new Set(replica.storage.chunkNames(documentId));
    const names = onDisk[documentId] ?? [];
    if (names.some((name) => !held.has(name))) return;
    fingerprint[documentId] = names;
  }
  // A home's owner also holds this space's other documents open, and closing
  // may compact them (new chunk names, same changes): renamed ones keep
  // counting when their heads are those the heads cache recorded for the
  // snapshot; any other change leaves the caches stale.
  const previous = await readHeadsCache(replica.home, address.documentId);
  const described = JSON.stringify(previous?.fingerprint) === JSON.stringify(snapshot.fingerprint);
  const renamed: DocHandle<unknown>[] = [];
  const others = replica
    .touched()
    .filter(
      (id) =>
        Object.hasOwn(snapshot.fingerprint, id) &&
        !handles.some((handle) => handle.documentId === id),
    );
  const othersOnDisk = await chunkFingerprint(replica.home.replica, others);
  for (const id of others) {
    const names = othersOnDisk[id] ?? [];
    if (JSON.stringify(names) === JSON.stringify(snapshot.fingerprint[id])) continue;
    const held = new Set(replica.storage.chunkNames(id));
    if (names.some((name) => !held.has(name))) return;
    const handle = replica.repo.handles[id] as DocHandle<unknown> | undefined;
    const recorded = previous?.heads[id];
    if (!described || handle === undefined || !handle.isReady() || recorded === undefined) return;
    if (JSON.stringify([...handle.heads()].sort()) !== JSON.stringify([...recorded].sort())) return;
    fingerprint[id] = names;
    renamed.push(handle);
  }
  const verified = new Map(current.fold.verified);
  for (const signed of stamps) verified.set(signed.cid, signed);
  // Anything else these documents hold that the session did not fold (a
  // change a held-open replica received meanwhile, a peer's copy of another
  // agent's stamp): the caches are left stale, and the next command folds.
  // An entry refused for other bytes under its CID (not a verdict on that CID's own bytes,
  // `PERMANENT_REFUSALS`) may now be the genuine record: not known.
  const known = new Set([
    ...verified.keys(),
    ...snapshot.invalid
      .filter((entry) => PERMANENT_REFUSALS.has(entry.code))
      .map((entry) => entry.cid),
  ]);
  for (const handle of handles)
    for (const records of mapsAt(handle.doc(), "records"))
      for (const cid of Object.keys(records)) if (!known.has(cid)) return;
  const contentMatched = new Set(snapshot.contentVerified);
  const after = await fold({
    spaceCid: address.genesis,
    entries: [...verified.values()],
    content: () => [],
    cache: {
      verifiedRecord: (cid) => verified.get(cid),
      contentMatched: (cid) => contentMatched.has(cid),
    },
  });
  const state = after.state;
  if (state === undefined || !stamps.every((signed) => state.provenance.has(signed.cid))) return;
  await writeVerifiedSnapshot(replica.home, address.documentId, {
    ...snapshot,
    fingerprint,
    records: [...verified.values()],
  });
  await writeReadIndex(replica.home, address.documentId, fingerprint, state);
  const outputs = stamps.flatMap((signed) => signed.record.subject.map((s) => s.digest.sha256));
  const index = await readStampIndex(replica.home, address, {
    sha256s: outputs,
    describing: snapshot.fingerprint,
  });
  if (index !== undefined)
    await writeStampIndex(
      replica.home,
      address.documentId,
      withAcceptedStamps(index, fingerprint, stamps, state),
      { only: outputs },
    );
  if (!described) return;
  const heads: Record<string, readonly string[]> = { ...previous?.heads };
  for (const handle of [...handles, ...renamed]) heads[handle.documentId] = handle.heads();
  await writeHeadsCache(replica.home, address.documentId, { fingerprint, heads });
}

import type { DocHandle } from "@automerge/automerge-repo";
import {
  type ExpectedContent,
  isBundleCid,
  type SignedRecord,
  type SpaceState,
  sameBytes,
} from "@canon/core";
import type { Replica } from "../replica.js";
import { isBytes, isMap, mapField, type StandardDocument, writableMap } from "./documents.js";
import { appendToFeeds, stampsToKeep } from "./feed.js";
import type { FoldedSpace } from "./space-reader.js";
import { recordCidsOf, standardDocumentLookup } from "./standard-document.js";

/**
 * Writes back into a space's documents what they lost of its verified state,
 * so the next sync gives it back to every peer and a newcomer converges to
 * the same state. The documents are append-only as far as Canon is
 * concerned, and their unsigned structure is only a container; for each
 * document it restores:
 * - its type tags (`canon`, `v`) and, for a standard document, its `name`;
 * - its `records` and `contents` maps, recreated when a peer deleted them or
 *   wrote another type there;
 * - every accepted record with its exact bytes (membership in the space
 *   document; releases, corrections and withdrawals in their standard's
 *   document; provenance in its author's feed, with the stamps of members
 *   that the space's rules refused, see `stampsToKeep`);
 * - the content of every accepted release, from the documents or the blob
 *   cache, checked against its content CID;
 * - the routing entry of every standard document holding accepted records.
 * A standard whose records no loaded document holds (a peer deleted them
 * and its routing entry) gets a new document, unless a document of the
 * space is damaged here (then it may be that one). Returns how many values
 * it wrote (0 when nothing was missing).
 */
export async function writeBack(replica: Replica, folded: FoldedSpace): Promise<number> {
  const state = folded.fold.state;
  if (state === undefined) return 0;
  let writes = 0;
  const targets = new Map<string, DocHandle<StandardDocument>>();
  // Built once: no document changes until every target is chosen.
  const standardDocumentOf = standardDocumentLookup(folded);
  for (const standard of standardsOf(state)) {
    const handle =
      standardDocumentOf(state, standard) ??
      (folded.damaged.size === 0 ? createStandardDocument(replica, standard) : undefined);
    if (handle !== undefined) targets.set(standard, handle);
  }
  const owners = new Map<string, string[]>();
  for (const [standard, handle] of targets)
    owners.set(handle.documentId, [...(owners.get(handle.documentId) ?? []), standard]);

  for (const [standard, handle] of targets) {
    const alone = owners.get(handle.documentId)?.length === 1;
    const records = recordsToWrite(handle.doc(), recordsOf(state, standard));
    const contents = await contentsToWrite(replica, folded, handle.doc(), state, standard);
    const doc = handle.doc() as unknown as Record<string, unknown>;
    const retag = doc.canon !== "standard" || doc.v !== 1 || (alone && doc.name !== standard);
    const remap = !isMap(doc.records) || !isMap(doc.contents);
    if (!retag && !remap && records.length === 0 && contents.length === 0) continue;
    handle.change((changing) => {
      const writable = changing as unknown as Record<string, unknown>;
      if (writable.canon !== "standard") writable.canon = "standard";
      if (writable.v !== 1) writable.v = 1;
      if (alone && writable.name !== standard) writable.name = standard;
      const recordMap = writableMap<Uint8Array>(writable, "records");
      for (const signed of records) recordMap[signed.cid] = signed.bytes;
      const contentMap = writableMap<Uint8Array>(writable, "contents");
      for (const [cid, bytes] of contents) contentMap[cid] = bytes;
    });
    writes += records.length + contents.length + (retag || remap ? 1 : 0);
  }

  const spaceRecords = recordsToWrite(folded.space.doc(), [
    state.genesis,
    ...state.membershipChanges,
    ...state.checkpoints,
    ...state.checkpointPages.values(),
    ...(state.settings.record ? [state.settings.record] : []),
  ]);
  const routing = mapField(folded.space.doc(), "standards");
  const routes: [string, string][] = [];
  for (const [standard, handle] of targets) {
    const current = routing[handle.documentId];
    const alone = owners.get(handle.documentId)?.length === 1;
    if (current === standard || (!alone && typeof current === "string")) continue;
    routes.push([handle.documentId, standard]);
  }
  const space = folded.space.doc() as unknown as Record<string, unknown>;
  const retag = space.canon !== "space" || space.v !== 1;
  const remap = !isMap(space.records) || !isMap(space.standards);
  if (retag || remap || spaceRecords.length > 0 || routes.length > 0) {
    folded.space.change((changing) => {
      const writable = changing as unknown as Record<string, unknown>;
      if (writable.canon !== "space") writable.canon = "space";
      if (writable.v !== 1) writable.v = 1;
      const recordMap = writableMap<Uint8Array>(writable, "records");
      for (const signed of spaceRecords) recordMap[signed.cid] = signed.bytes;
      const routeMap = writableMap<string>(writable, "standards");
      for (const [documentId, standard] of routes) routeMap[documentId] = standard;
    });
    writes += spaceRecords.length + routes.length + (retag || remap ? 1 : 0);
  }
  // Stamps go back into their authors' feeds (a stamp some document still holds stays there),
  // refused ones by members too, so an auditor still finds them with the reason.
  return writes + appendToFeeds(replica, folded, state, stampsToKeep(folded.fold, state));
}

/** Every standard with an accepted record: releases, or corrections and withdrawals. */
function standardsOf(state: SpaceState): string[] {
  const names = new Set(state.standards.keys());
  for (const correction of state.corrections.values()) names.add(correction.record.standard);
  for (const withdrawal of state.withdrawals.values()) names.add(withdrawal.record.standard);
  return [...names].sort();
}

/** A standard's accepted records, as signed. */
function recordsOf(state: SpaceState, standard: string): SignedRecord[] {
  const cids = new Set(recordCidsOf(state, standard));
  const records: SignedRecord[] = [];
  for (const release of state.standards.get(standard)?.releases.values() ?? [])
    if (cids.has(release.cid)) records.push(release);
  for (const map of [state.corrections, state.withdrawals])
    for (const [cid, signed] of map) if (cids.has(cid)) records.push(signed);
  for (const retirement of state.standards.get(standard)?.retirements ?? [])
    if (cids.has(retirement.cid)) records.push(retirement);
  return records;
}

/** The records a document's `records` map does not hold with exactly these bytes. */
function recordsToWrite(doc: unknown, records: readonly SignedRecord[]): SignedRecord[] {
  const held = mapField(doc, "records");
  return records.filter((signed) => {
    const current = held[signed.cid];
    return !(isBytes(current) && sameBytes(current, signed.bytes));
  });
}

/**
 * The content of each accepted release of a standard that the document does
 * not show with matching bytes, with the verified bytes found elsewhere (a
 * concurrent value, another document, the blob cache).
 */
async function contentsToWrite(
  replica: Replica,
  folded: FoldedSpace,
  doc: unknown,
  state: SpaceState,
  standard: string,
): Promise<[string, Uint8Array][]> {
  const held = mapField(doc, "contents");
  const writes: [string, Uint8Array][] = [];
  const want = async (expected: ExpectedContent, found?: Uint8Array) => {
    const current = held[expected.contentCid];
    if (isBytes(current) && (await replica.content.matches(current, expected))) return;
    if (writes.some(([cid]) => cid === expected.contentCid)) return;
    const bytes = found ?? (await replica.content.verified(folded, expected));
    if (bytes !== undefined) writes.push([expected.contentCid, bytes]);
  };
  for (const { record } of state.standards.get(standard)?.releases.values() ?? []) {
    if (!isBundleCid(record.contentCid)) {
      await want(record);
      continue;
    }
    // A bundle: its manifest and every file it lists.
    const pieces = await replica.content.pieces(folded, record);
    if (pieces === undefined) continue;
    await want(record, pieces.content);
    for (const { entry, bytes } of pieces.files ?? [])
      await want({ contentCid: entry.cid, size: entry.size }, bytes);
  }
  return writes;
}

/** A new, empty document for a standard whose records no loaded document holds. */
function createStandardDocument(replica: Replica, standard: string): DocHandle<StandardDocument> {
  return replica.create<StandardDocument>({
    canon: "standard",
    v: 1,
    name: standard,
    records: {},
    contents: {},
  });
}

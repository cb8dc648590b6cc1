import type { DocHandle } from "@automerge/automerge-repo";
import type { SpaceState } from "@canon/core";
import type { StandardDocument } from "./documents.js";
import { mapField } from "./documents.js";
import type { LoadedSpace } from "./space-reader.js";

/**
 * The document that holds a standard's records. A document belongs to the
 * standards whose accepted records it holds (its `name` and the routing
 * entry are unsigned hints a peer may change): the first loaded one, by id,
 * holding an accepted record of the standard; failing that (a peer deleted
 * them all), the first whose name hint is the standard's, then the first
 * the routing table names so. Undefined when none is loaded. To ask for
 * many standards, build {@link standardDocumentLookup} once.
 */
export function standardDocumentOf(
  loaded: Pick<LoadedSpace, "standards" | "routeNames">,
  state: SpaceState | undefined,
  standard: string,
): DocHandle<StandardDocument> | undefined {
  return standardDocumentLookup(loaded)(state, standard);
}

/**
 * {@link standardDocumentOf} for many standards of the same loaded
 * documents: one pass over them builds, for each record CID, name hint and
 * routing name, the first document by id that has it, so each question
 * costs the standard's records rather than a scan of every document (a
 * write-back of 1,000 standards asked 1,000 times over 1,000 documents).
 * Answers as of the documents when built: build again after changing them.
 */
export function standardDocumentLookup(
  loaded: Pick<LoadedSpace, "standards" | "routeNames">,
): (state: SpaceState | undefined, standard: string) => DocHandle<StandardDocument> | undefined {
  const ids = [...loaded.standards.keys()].sort();
  const byRecord = new Map<string, string>();
  const byName = new Map<string, string>();
  const byRoute = new Map<string, string>();
  // In id order, so the first id to claim a key is the first document by id that has it.
  for (const id of ids) {
    const doc = loaded.standards.get(id)?.doc();
    for (const cid of Object.keys(mapField(doc, "records")))
      if (!byRecord.has(cid)) byRecord.set(cid, id);
    const name = (doc as { name?: unknown } | undefined)?.name;
    if (typeof name === "string" && !byName.has(name)) byName.set(name, id);
    const route = loaded.routeNames.get(id);
    if (route !== undefined && !byRoute.has(route)) byRoute.set(route, id);
  }
  return (state, standard) => {
    let first: string | undefined;
    for (const cid of recordCidsOf(state, standard)) {
      const id = byRecord.get(cid);
      if (id !== undefined && (first === undefined || id < first)) first = id;
    }
    first ??= byName.get(standard) ?? byRoute.get(standard);
    return first === undefined ? undefined : loaded.standards.get(first);
  };
}

/** The CIDs of a standard's accepted records: releases, corrections, withdrawals, retirements. */
export function recordCidsOf(state: SpaceState | undefined, standard: string): string[] {
  const entry = state?.standards.get(standard);
  const cids = [...(entry?.releases.keys() ?? [])];
  for (const [cid, correction] of state?.corrections ?? [])
    if (correction.record.standard === standard) cids.push(cid);
  for (const [cid, withdrawal] of state?.withdrawals ?? [])
    if (withdrawal.record.standard === standard) cids.push(cid);
  for (const retirement of entry?.retirements ?? []) cids.push(retirement.cid);
  return cids;
}

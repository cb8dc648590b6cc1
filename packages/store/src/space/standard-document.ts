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
 * the routing table names so. Undefined when none is loaded.
 */
export function standardDocumentOf(
  loaded: Pick<LoadedSpace, "standards" | "routeNames">,
  state: SpaceState | undefined,
  standard: string,
): DocHandle<StandardDocument> | undefined {
  const ids = [...loaded.standards.keys()].sort();
  const records = recordCidsOf(state, standard);
  if (records.length > 0) {
    for (const id of ids) {
      const held = mapField(loaded.standards.get(id)?.doc(), "records");
      if (records.some((cid) => Object.hasOwn(held, cid))) return loaded.standards.get(id);
    }
  }
  for (const id of ids) {
    const handle = loaded.standards.get(id);
    if ((handle?.doc() as { name?: unknown } | undefined)?.name === standard) return handle;
  }
  for (const id of ids) if (loaded.routeNames.get(id) === standard) return loaded.standards.get(id);
  return undefined;
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

import type { SpaceState } from "./fold/space-state.js";
import { newestCids } from "./newest-cids.js";

/**
 * The heads of an author's own chain of accepted contributions (corrections,
 * withdrawals, provenance records): those no other of their records names in `previous`, at most
 * `limit` of them (the newest by date, then CID). A new correction or
 * provenance record names them as its `previous` (at most 64), and a removal
 * pins them as `recordHeads` (at most 1,024). An author who links every
 * record to their heads has one; more heads than the limit come only from
 * records written without links, and those left out are not pinned.
 */
export function ownRecordHeads(state: SpaceState, author: string, limit: number): string[] {
  const own = [
    ...state.corrections.values(),
    ...state.withdrawals.values(),
    ...state.provenance.values(),
  ].filter((signed) => signed.record.author === author);
  const followed = new Set(own.flatMap((signed) => signed.record.previous ?? []));
  return newestCids(
    own.filter((signed) => !followed.has(signed.cid)),
    limit,
  );
}

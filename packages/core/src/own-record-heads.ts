import type { SpaceState } from "./fold.js";

/**
 * The heads of an author's own chain of accepted corrections and provenance
 * records: those no other of their records names in `previous`. A new
 * correction or provenance record names them as its `previous`, and a
 * removal pins them as `recordHeads`.
 */
export function ownRecordHeads(state: SpaceState, author: string): string[] {
  const own = [...state.corrections.values(), ...state.provenance.values()].filter(
    (signed) => signed.record.author === author,
  );
  const followed = new Set(own.flatMap((signed) => signed.record.previous ?? []));
  return own
    .map((signed) => signed.cid)
    .filter((cid) => !followed.has(cid))
    .sort();
}

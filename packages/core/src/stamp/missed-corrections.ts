import type { SpaceState } from "../fold/space-state.js";
import type { Provenance } from "../records/provenance.js";

/** A correction the output's context did not include although it existed, by its date, when the stamp was made. */
export interface MissedCorrection {
  readonly cid: string;
  readonly standard: string;
  readonly text: string;
}

/**
 * Corrections of the standards the stamp used that existed by its date (by
 * their own `createdAt`), that the release it used does not incorporate, and
 * that the stamp does not name among the open corrections it saw. Drift, not
 * a problem: the stamp still verifies.
 */
export function missedCorrectionsOf(record: Provenance, state: SpaceState): MissedCorrection[] {
  const incorporated = new Map<string, Set<string>>();
  for (const entry of record.context) {
    // A release not accepted here incorporates nothing, yet its standard was still used.
    const release = state.standards.get(entry.standard)?.releases.get(entry.releaseCid);
    const cids = incorporated.get(entry.standard) ?? new Set<string>();
    for (const cid of release?.record.incorporates ?? []) cids.add(cid);
    incorporated.set(entry.standard, cids);
  }
  const named = new Set(record.corrections);
  const missed: MissedCorrection[] = [];
  for (const correction of state.corrections.values()) {
    const { standard, createdAt, text } = correction.record;
    const used = incorporated.get(standard);
    if (
      used !== undefined &&
      createdAt <= record.createdAt &&
      !used.has(correction.cid) &&
      !named.has(correction.cid)
    )
      missed.push({ cid: correction.cid, standard, text });
  }
  return missed;
}

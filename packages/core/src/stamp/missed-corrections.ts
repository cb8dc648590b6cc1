import { incorporatedIn, type SpaceState } from "../fold/space-state.js";
import type { Provenance } from "../records/provenance.js";

/** A correction the output's context did not include although it existed, by its date, when the stamp was made. */
export interface MissedCorrection {
  readonly cid: string;
  readonly standard: string;
  readonly text: string;
}

/**
 * Corrections that were in force, by their dates, for a release the stamp
 * used and that the stamp does not name among those it saw: corrections of
 * that standard written by the stamp's date (their own `createdAt`), not
 * incorporated by that release or one it follows, and not withdrawn by then.
 * Drift, not a problem: the stamp still verifies.
 */
export function missedCorrectionsOf(record: Provenance, state: SpaceState): MissedCorrection[] {
  const named = new Set(record.corrections);
  const missed = new Map<string, MissedCorrection>();
  for (const entry of record.context) {
    const standard = state.standards.get(entry.standard);
    if (standard === undefined) continue;
    // A release not accepted here incorporates nothing, yet its standard was still used.
    const incorporated = incorporatedIn(standard.releases, entry.releaseCid);
    for (const status of standard.corrections.values()) {
      const { cid, record: correction } = status.correction;
      if (
        correction.createdAt <= record.createdAt &&
        !incorporated.has(cid) &&
        !named.has(cid) &&
        !status.withdrawnBy.some((withdrawal) => withdrawal.record.createdAt <= record.createdAt)
      )
        missed.set(cid, { cid, standard: entry.standard, text: correction.text });
    }
  }
  return [...missed.values()];
}

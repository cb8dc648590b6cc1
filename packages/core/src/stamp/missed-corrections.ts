import { incorporatedIn, type SpaceState } from "../fold/space-state.js";
import type { Provenance } from "../records/provenance.js";

/**
 * A correction the output's context did not include although it existed, by
 * its date, when the stamp was made: stale when stamped. A Canon stamp lists
 * every correction in force its replica held for the releases it used, so a
 * missed one had not reached the agent's replica (`newer-not-received`);
 * `unknown` for stamps that do not record what their replica held.
 */
export interface MissedCorrection {
  readonly cid: string;
  readonly standard: string;
  readonly text: string;
  readonly staleReason: "newer-not-received" | "unknown";
}

/** A correction of a standard the stamp used, signed after the stamp: superseded since, not stale when stamped. */
export interface LaterCorrection {
  readonly cid: string;
  readonly standard: string;
  readonly text: string;
  readonly createdAt: string;
}

/**
 * Corrections of the standards a stamp used that were signed after the stamp
 * and that the release it used does not incorporate: what the context has
 * missed since.
 */
export function laterCorrectionsOf(record: Provenance, state: SpaceState): LaterCorrection[] {
  const later = new Map<string, LaterCorrection>();
  for (const entry of record.context) {
    const standard = state.standards.get(entry.standard);
    if (standard === undefined) continue;
    const incorporated = incorporatedIn(standard.releases, entry.releaseCid);
    for (const status of standard.corrections.values()) {
      const { cid, record: correction } = status.correction;
      if (correction.createdAt > record.createdAt && !incorporated.has(cid))
        later.set(cid, {
          cid,
          standard: entry.standard,
          text: correction.text,
          createdAt: correction.createdAt,
        });
    }
  }
  return [...later.values()];
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
        missed.set(cid, {
          cid,
          standard: entry.standard,
          text: correction.text,
          staleReason: record.knew === undefined ? "unknown" : "newer-not-received",
        });
    }
  }
  return [...missed.values()];
}

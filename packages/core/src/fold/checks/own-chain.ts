import type { Contribution } from "../../records/contribution.js";
import type { SignedRecord } from "../../signed-record.js";
import type { Check } from "./check.js";

/**
 * A contribution's `previous` (corrections, withdrawals, provenance) names only accepted
 * records of the same author, so an author cannot link to records they hold
 * back (and later pass them off as seen by whoever removes them). The fold
 * decides each record after the records it names (hash links cannot form a
 * cycle), so `accepted` already holds every decision this check needs.
 */
export function ownChain<R extends SignedRecord<Contribution>>(
  accepted: ReadonlyMap<string, SignedRecord<Contribution>>,
): Check<R> {
  return (signed) => {
    const broken = (signed.record.previous ?? []).find(
      (cid) => accepted.get(cid)?.record.author !== signed.record.author,
    );
    return broken === undefined
      ? undefined
      : {
          code: "previous-not-accepted",
          reason: `previous names ${broken}, which is not an accepted record of the same author here (sync, or it was never published)`,
        };
  };
}

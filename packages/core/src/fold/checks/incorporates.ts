import type { Correction } from "../../records/correction.js";
import type { Release } from "../../records/release.js";
import type { SignedRecord } from "../../signed-record.js";
import type { Check } from "./check.js";

/**
 * Every correction a release says it incorporates is an accepted correction
 * of the same standard: a release cannot close corrections that do not
 * exist here, or that belong to another standard.
 */
export function incorporates(
  corrections: ReadonlyMap<string, SignedRecord<Correction>>,
): Check<SignedRecord<Release>> {
  return ({ record }) => {
    for (const correctionCid of record.incorporates) {
      if (corrections.get(correctionCid)?.record.standard !== record.standard)
        return {
          code: "incorporates-unknown",
          reason: `incorporates ${correctionCid}, which is not an accepted correction of ${record.standard}`,
        };
    }
    return undefined;
  };
}

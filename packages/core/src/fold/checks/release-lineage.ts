import type { Release } from "../../records/release.js";
import type { SignedRecord } from "../../signed-record.js";
import type { Check } from "./check.js";

/**
 * A release's parents are accepted releases of the same standard and its
 * version is one more than the highest parent's, so no rollback or replay
 * can rewrite a standard's history. The fold takes releases in ascending
 * version (a topological order), so `accepted` holds every parent that
 * counts.
 */
export function releaseLineage(
  accepted: ReadonlyMap<string, SignedRecord<Release>>,
): Check<SignedRecord<Release>> {
  return ({ record }) => {
    let highestParent = 0;
    for (const parentCid of record.parents) {
      const parent = accepted.get(parentCid);
      if (parent === undefined)
        return {
          code: "parent-not-accepted",
          reason: `parent ${parentCid} is not an accepted release in the history`,
        };
      if (parent.record.standard !== record.standard)
        return {
          code: "parent-other-standard",
          reason: `parent ${parentCid} is a release of another standard`,
        };
      highestParent = Math.max(highestParent, parent.record.version);
    }
    return record.version === highestParent + 1
      ? undefined
      : {
          code: "version-not-following",
          reason: `version ${record.version} does not follow its parents (expected ${highestParent + 1})`,
        };
  };
}

import type { MembershipChain } from "../../membership-chain.js";
import type { Contribution } from "../../records/contribution.js";
import type { Correction } from "../../records/correction.js";
import type { SignedRecord } from "../../signed-record.js";
import type { Check } from "./check.js";

/**
 * A withdrawal closes an accepted correction of its own standard, and is
 * signed by that correction's author or by someone who was a maintainer at
 * the membership point the withdrawal names: a contributor cannot silence
 * another's lesson. Other contributions pass. The fold decides each record
 * after the correction it withdraws, so `accepted` holds it if it counts.
 */
export function withdraws(
  chain: MembershipChain,
  accepted: ReadonlyMap<string, SignedRecord<Contribution>>,
): Check<SignedRecord<Contribution>> {
  return ({ record }) => {
    if (record.type !== "canon/withdrawal") return undefined;
    const target = accepted.get(record.correction);
    if (target?.record.type !== "canon/correction" || target.record.standard !== record.standard)
      return {
        code: "withdraws-unknown",
        reason: `withdraws ${record.correction}, which is not an accepted correction of ${record.standard}`,
      };
    const correction = target as SignedRecord<Correction>;
    if (
      correction.record.author === record.author ||
      chain.roleAt(record.author, record.membership) === "maintainer"
    )
      return undefined;
    return {
      code: "withdraw-not-allowed",
      reason: `only the correction's author or a maintainer may withdraw it; the author was ${chain.roleAt(record.author, record.membership) ?? "not a member"}`,
    };
  };
}

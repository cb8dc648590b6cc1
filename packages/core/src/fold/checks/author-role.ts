import type { MembershipChain } from "../../membership-chain.js";
import type { Positioned } from "../../records/contribution.js";
import type { Role } from "../../records/membership.js";
import type { Refusal } from "../../rejection.js";
import type { SignedRecord } from "../../signed-record.js";
import type { Check } from "./check.js";

/**
 * The author held one of `roles` at the point of the membership chain the
 * record names (its `membership` heads): the role a record needs is judged
 * where its author says they stood, and every head must be in the chain.
 */
export function authorRole<R extends SignedRecord<Positioned>>(
  chain: MembershipChain,
  roles: readonly Role[],
  needs = `needs ${roles.join(" or ")}`,
): Check<R> {
  return (signed) => roleRefusal(chain, signed.record, roles, needs);
}

/** The refusal for a record whose author lacked `roles` at its membership point (shared with the membership chain's replay). */
export function roleRefusal(
  chain: MembershipChain,
  record: { readonly author: string; readonly membership: readonly string[] },
  roles: readonly Role[],
  needs: string,
): Refusal | undefined {
  const role = chain.roleAt(record.author, record.membership);
  if (role !== undefined && roles.includes(role)) return undefined;
  if (!record.membership.every((head) => chain.knows(head)))
    return {
      code: "unknown-membership-point",
      reason: "names membership records that are not in the chain",
    };
  return {
    code: "author-role",
    reason: `author was ${role ?? "not a member"} at that point of the membership chain; ${needs}`,
  };
}

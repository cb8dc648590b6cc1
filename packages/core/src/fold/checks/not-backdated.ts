import type { MembershipChain } from "../../membership-chain.js";
import type { Positioned } from "../../records/contribution.js";
import type { MembershipChange, Role } from "../../records/membership.js";
import type { Refusal } from "../../rejection.js";
import type { SignedRecord } from "../../signed-record.js";
import type { Check } from "./check.js";

/** A change that took a role away from a member: a removal, or a demotion below the role a record needs. */
type Loss = SignedRecord<MembershipChange>;

/**
 * The backdating rule, one for every kind of record: a record whose author
 * later lost the role it needs counts only if it follows that loss, or the
 * member who made the change had seen it. Otherwise a removed or demoted
 * member could keep writing by citing the membership point from before
 * their removal. Returns the first loss the record neither follows nor was
 * seen by, or undefined when there is none.
 */
export function unseenLoss(
  losses: readonly Loss[],
  follows: (loss: Loss) => boolean,
  seenBy: (loss: Loss) => boolean,
): Loss | undefined {
  return losses.find((loss) => !follows(loss) && !seenBy(loss));
}

/** The refusal of a record that {@link unseenLoss} found backdated past `loss`. */
export function backdatedRefusal(loss: Loss): Refusal {
  const what = loss.record.role === "removed" ? "removed" : `made ${loss.record.role}`;
  return {
    code: "backdated",
    reason: `author was ${what} by ${loss.cid}, and that change had not seen this record: it cannot predate the removal`,
  };
}

/**
 * The backdating rule for releases and contributions (corrections, withdrawals, provenance): a record
 * follows a loss when the loss is in the past of its membership heads; the
 * loss's author had seen it when it is one of the heads the change pinned
 * (`pinnedBy`: `releaseHeads` for releases, `recordHeads` for contributions) or their ancestor through `parentsOf`. What each change pinned
 * is computed once and kept for the whole fold.
 */
export function notBackdated<R extends SignedRecord<Positioned>>(
  chain: MembershipChain,
  roles: readonly Role[],
  pinnedBy: (loss: Loss) => readonly string[],
  parentsOf: ReadonlyMap<string, readonly string[]>,
): Check<R> {
  const seen = new Map<string, ReadonlySet<string>>();
  const seenBy = (loss: Loss, cid: string) => {
    let reachable = seen.get(loss.cid);
    if (reachable === undefined) {
      reachable = reachableFrom(pinnedBy(loss), parentsOf);
      seen.set(loss.cid, reachable);
    }
    return reachable.has(cid);
  };
  return (signed) => {
    const loss = unseenLoss(
      chain.lossesOf(signed.record.author, roles),
      (candidate) => chain.isInPast(candidate.cid, signed.record.membership),
      (candidate) => seenBy(candidate, signed.cid),
    );
    return loss === undefined ? undefined : backdatedRefusal(loss);
  };
}

/** Every CID in `heads` or among their ancestors, following `parentsOf`. */
function reachableFrom(
  heads: readonly string[],
  parentsOf: ReadonlyMap<string, readonly string[]>,
): Set<string> {
  const reachable = new Set<string>();
  const stack = [...heads];
  while (stack.length > 0) {
    const cid = stack.pop() as string;
    if (reachable.has(cid)) continue;
    reachable.add(cid);
    stack.push(...(parentsOf.get(cid) ?? []));
  }
  return reachable;
}

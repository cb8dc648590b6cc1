import type { Checkpoint } from "../records/checkpoint.js";
import type { SignedRecord } from "../signed-record.js";
import type { SpaceState } from "./space-state.js";

/** A checkpoint dated this far in the future is not believed newest (clock skew allowance). */
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/**
 * What a replica can prove about its view of a space:
 * - `fresh`: the newest checkpoint has not expired and this replica holds
 *   every record it names;
 * - `incomplete`: the newest checkpoint names records this replica lacks
 *   (a relay withheld them, or a sync is due);
 * - `expired`: the newest checkpoint expired: the view may be frozen;
 * - `unproven`: no maintainer has signed a checkpoint yet.
 */
export interface Freshness {
  readonly status: "fresh" | "incomplete" | "expired" | "unproven";
  /** The newest accepted checkpoint, or null. */
  readonly checkpoint: {
    readonly cid: string;
    readonly author: string;
    readonly createdAt: string;
    readonly expires: string;
  } | null;
  /** Records (membership changes, releases) the newest checkpoint names that this replica does not hold. */
  readonly missing: readonly string[];
}

/** The newest accepted checkpoint: by `createdAt`, ignoring any dated more than a few minutes after `now`. */
export function newestCheckpoint(
  state: SpaceState,
  now: Date,
): SignedRecord<Checkpoint> | undefined {
  const limit = now.getTime() + MAX_CLOCK_SKEW_MS;
  return state.checkpoints.filter((signed) => Date.parse(signed.record.createdAt) <= limit).at(-1);
}

/** Records a checkpoint names that the state does not hold as accepted. */
export function missingFrom(state: SpaceState, checkpoint: Checkpoint): string[] {
  const membership = new Set([state.genesis.cid, ...state.membershipChanges.map((c) => c.cid)]);
  const missing = checkpoint.membership.filter((cid) => !membership.has(cid));
  for (const { standard, heads } of checkpoint.standards) {
    const releases = state.standards.get(standard)?.releases;
    for (const cid of heads) if (!releases?.has(cid)) missing.push(cid);
  }
  return missing;
}

/**
 * When a checkpoint stops counting: its own `expires`, but never later than
 * the space's signed expiry window after it was made, so a checkpoint
 * signed to last for ever cannot hide a frozen view.
 */
export function effectiveExpiry(state: SpaceState, checkpoint: Checkpoint): string {
  const windowEnd =
    Date.parse(checkpoint.createdAt) + state.settings.checkpointExpirySeconds * 1000;
  return Date.parse(checkpoint.expires) <= windowEnd
    ? checkpoint.expires
    : new Date(windowEnd).toISOString();
}

/** How fresh and complete a replica's view of a space is provably, at `now`. */
export function freshnessOf(state: SpaceState, now: Date): Freshness {
  const newest = newestCheckpoint(state, now);
  if (newest === undefined) return { status: "unproven", checkpoint: null, missing: [] };
  const missing = missingFrom(state, newest.record);
  const { author, createdAt } = newest.record;
  const expires = effectiveExpiry(state, newest.record);
  return {
    status:
      missing.length > 0 ? "incomplete" : Date.parse(expires) < now.getTime() ? "expired" : "fresh",
    checkpoint: { cid: newest.cid, author, createdAt, expires },
    missing,
  };
}

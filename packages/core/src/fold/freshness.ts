import type { Checkpoint } from "../records/checkpoint.js";
import { type CheckpointPage, checkpointBucketOf } from "../records/checkpoint-page.js";
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
  /**
   * Records the newest checkpoint names that this replica does not hold:
   * membership changes, releases, corrections and withdrawals (correction-log
   * heads), and pages of the checkpoint itself (withheld, or refused by the fold).
   */
  readonly missing: readonly string[];
  /** Pages the newest checkpoint names that are held but do not fit where it names them (never trusted); absent when none. */
  readonly problems?: readonly CheckpointProblem[];
}

/**
 * A page a version-2 checkpoint names that this replica holds but cannot
 * use: `checkpoint-page-misplaced` (another space, another number of
 * buckets, another position, or a standard outside its bucket),
 * `checkpoint-page-unsorted` (standards not in strictly ascending order).
 * Its standards are not believed; the view is reported `incomplete`.
 */
export interface CheckpointProblem {
  readonly code: "checkpoint-page-misplaced" | "checkpoint-page-unsorted";
  readonly cid: string;
  readonly reason: string;
}

/** The newest accepted checkpoint: by `createdAt`, ignoring any dated more than a few minutes after `now`. */
export function newestCheckpoint(
  state: SpaceState,
  now: Date,
): SignedRecord<Checkpoint> | undefined {
  const limit = now.getTime() + MAX_CLOCK_SKEW_MS;
  return state.checkpoints.filter((signed) => Date.parse(signed.record.createdAt) <= limit).at(-1);
}

/** Records a checkpoint names that the state does not hold as accepted (see {@link Freshness.missing}). */
export function missingFrom(state: SpaceState, checkpoint: Checkpoint): string[] {
  return checkpointGaps(state, checkpoint).missing;
}

/**
 * What a checkpoint names that the state lacks, and the pages it names that
 * cannot be used. Linear in what the checkpoint names: one `Set` or `Map`
 * lookup a named record (the state is indexed by standard, release and
 * correction CID), and one bucket hash a page's standard. The schema's
 * bounds multiply to about 84 million named records (512 pages × 512
 * standards × 320 heads), but a record is at most 64 KiB, so a page names
 * at most a few thousand: 512 full pages take a quarter of a second.
 */
export function checkpointGaps(
  state: SpaceState,
  checkpoint: Checkpoint,
): { missing: string[]; problems: CheckpointProblem[] } {
  const membership = new Set([state.genesis.cid, ...state.membershipChanges.map((c) => c.cid)]);
  const missing = checkpoint.membership.filter((cid) => !membership.has(cid));
  const problems: CheckpointProblem[] = [];
  const entries: { standard: string; heads: readonly string[]; corrections?: readonly string[] }[] =
    [];
  if (checkpoint.v === 1) entries.push(...checkpoint.standards);
  else
    checkpoint.pages.forEach((cid, bucket) => {
      const page = state.checkpointPages.get(cid);
      if (page === undefined) missing.push(cid);
      else {
        const problem = pageProblem(cid, page.record, bucket, checkpoint);
        if (problem === undefined) entries.push(...page.record.standards);
        else {
          problems.push(problem);
          missing.push(cid);
        }
      }
    });
  for (const { standard, heads, corrections } of entries) {
    const releases = state.standards.get(standard)?.releases;
    for (const cid of heads) if (!releases?.has(cid)) missing.push(cid);
    for (const cid of corrections ?? []) {
      const held = state.corrections.get(cid) ?? state.withdrawals.get(cid);
      if (held?.record.standard !== standard) missing.push(cid);
    }
  }
  return { missing, problems };
}

/** Why a held page cannot be read where a checkpoint names it, or undefined when it can. */
function pageProblem(
  cid: string,
  page: CheckpointPage,
  bucket: number,
  checkpoint: Checkpoint & { v: 2 },
): CheckpointProblem | undefined {
  const buckets = checkpoint.pages.length;
  const misplaced = (reason: string): CheckpointProblem => ({
    code: "checkpoint-page-misplaced",
    cid,
    reason,
  });
  if (page.space !== checkpoint.space) return misplaced("the page is of another space");
  if (page.buckets !== buckets || page.bucket !== bucket)
    return misplaced(
      `the page is bucket ${page.bucket} of ${page.buckets}, named as bucket ${bucket} of ${buckets}`,
    );
  let previous: string | undefined;
  for (const { standard } of page.standards) {
    if (checkpointBucketOf(standard, buckets) !== bucket)
      return misplaced(`the page names ${standard}, which is not in bucket ${bucket}`);
    if (previous !== undefined && !(previous < standard))
      return {
        code: "checkpoint-page-unsorted",
        cid,
        reason: `the page names ${standard} after ${previous}`,
      };
    previous = standard;
  }
  return undefined;
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
  const { missing, problems } = checkpointGaps(state, newest.record);
  const { author, createdAt } = newest.record;
  const expires = effectiveExpiry(state, newest.record);
  return {
    status:
      missing.length > 0 ? "incomplete" : Date.parse(expires) < now.getTime() ? "expired" : "fresh",
    checkpoint: { cid: newest.cid, author, createdAt, expires },
    missing,
    ...(problems.length > 0 ? { problems } : {}),
  };
}

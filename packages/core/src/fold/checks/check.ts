import { type Refusal, type Rejection, rejectionOf } from "../../rejection.js";
import type { SignedRecord } from "../../signed-record.js";

/**
 * One rule of the fold: nothing when the record passes it, else why not.
 * Checks run in a fixed order and the first refusal is the record's
 * rejection; a check may be async (the content check hashes bytes).
 */
export type Check<R extends SignedRecord> = (
  signed: R,
) => Refusal | undefined | Promise<Refusal | undefined>;

/** Runs `checks` in order and returns the first refusal, or undefined when the record passes them all. */
export async function firstRefusal<R extends SignedRecord>(
  signed: R,
  checks: readonly Check<R>[],
): Promise<Refusal | undefined> {
  for (const check of checks) {
    const answer = check(signed);
    // Most checks answer at once; awaiting only promises keeps a refold of 10,000 records cheap.
    const refusal = answer instanceof Promise ? await answer : answer;
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}

/**
 * Decides each record in turn: one that passes every check goes into
 * `accepted` at once (later records' checks may look it up there), one that
 * fails is returned as a rejection with the first refusal.
 */
export async function decideEach<R extends SignedRecord>(
  records: Iterable<R>,
  checks: readonly Check<R>[],
  accepted: Map<string, R>,
): Promise<Rejection[]> {
  const rejected: Rejection[] = [];
  for (const signed of records) {
    const refusal = await firstRefusal(signed, checks);
    if (refusal === undefined) accepted.set(signed.cid, signed);
    else rejected.push(rejectionOf(signed, refusal));
  }
  return rejected;
}

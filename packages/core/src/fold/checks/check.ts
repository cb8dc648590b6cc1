import type { Refusal } from "../../rejection.js";
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

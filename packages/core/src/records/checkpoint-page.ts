import { z } from "zod";
import { MAX_CHECKPOINT_PAGES, MAX_CHECKPOINT_STANDARDS } from "./checkpoint.js";
import { CidString, DidString, MembershipHeads, StandardName, Timestamp } from "./fields.js";

/** Most correction-log heads a checkpoint page names for one standard (the newest, when there are more). */
export const MAX_CORRECTION_LOG_HEADS = 256;

/**
 * One page of a version-2 checkpoint, signed by a maintainer: the standards
 * whose name falls in bucket `bucket` of `buckets` ({@link checkpointBucketOf}),
 * sorted by name, each with its release heads and its correction log's heads
 * (the standard's accepted corrections and withdrawals that no other of them
 * names in `previous` or as the correction withdrawn: the fold accepts a
 * contribution only after everything it names, so holding the heads means
 * holding the whole log). A page proves nothing alone: a checkpoint names
 * it by CID at position `bucket`.
 */
export const CheckpointPage = z
  .object({
    type: z.literal("canon/checkpoint-page"),
    v: z.literal(1),
    space: CidString,
    buckets: z.number().int().min(1).max(MAX_CHECKPOINT_PAGES),
    bucket: z
      .number()
      .int()
      .min(0)
      .max(MAX_CHECKPOINT_PAGES - 1),
    standards: z
      .array(
        z
          .object({
            standard: StandardName,
            heads: z.array(CidString).min(1).max(64),
            corrections: z.array(CidString).max(MAX_CORRECTION_LOG_HEADS),
          })
          .strict(),
      )
      .max(MAX_CHECKPOINT_STANDARDS),
    membership: MembershipHeads,
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();
/** One page of a version-2 checkpoint. */
export type CheckpointPage = z.infer<typeof CheckpointPage>;

/**
 * The bucket of a standard's name among `buckets` (FNV-1a over its UTF-16
 * code units): the same on every replica, spread evenly, and stable while
 * the number of buckets stays, so a publish changes one page.
 */
export function checkpointBucketOf(standard: string, buckets: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < standard.length; i++) {
    hash ^= standard.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % buckets;
}

import { z } from "zod";
import { CidString, DidString, MembershipHeads, StandardName, Timestamp } from "./fields.js";

/** Most standards one version-1 checkpoint names (version 2 names pages instead). */
export const MAX_CHECKPOINT_STANDARDS = 512;

/** Most pages a version-2 checkpoint names (each names a bucket of standards, see `checkpoint-page.ts`). */
export const MAX_CHECKPOINT_PAGES = 512;

/**
 * A version-1 checkpoint: the membership chain's heads and every standard's
 * release heads, inline (at most {@link MAX_CHECKPOINT_STANDARDS} standards).
 * Still read; Canon now signs version 2.
 */
export const CheckpointV1 = z
  .object({
    type: z.literal("canon/checkpoint"),
    v: z.literal(1),
    space: CidString,
    standards: z
      .array(
        z.object({ standard: StandardName, heads: z.array(CidString).min(1).max(64) }).strict(),
      )
      .max(MAX_CHECKPOINT_STANDARDS),
    expires: Timestamp,
    membership: MembershipHeads,
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();

/**
 * A version-2 checkpoint: the membership chain's heads inline, and the
 * standards (release heads and correction-log heads) in signed pages named
 * by CID, one page per bucket of standard names (`pages[i]` holds bucket
 * `i` of `pages.length`; see {@link CheckpointPage}). Pages are
 * content-addressed, so a page that did not change since an earlier
 * checkpoint is named again rather than signed again, and any number of
 * standards fits in bounded records.
 */
export const CheckpointV2 = z
  .object({
    type: z.literal("canon/checkpoint"),
    v: z.literal(2),
    space: CidString,
    /** How many standards the pages name together (said for people; the pages decide). */
    standards: z
      .number()
      .int()
      .min(0)
      .max(MAX_CHECKPOINT_PAGES * MAX_CHECKPOINT_STANDARDS),
    pages: z.array(CidString).min(1).max(MAX_CHECKPOINT_PAGES),
    expires: Timestamp,
    membership: MembershipHeads,
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();

/**
 * A maintainer's signed statement of what the space held when they last
 * synced: the membership chain's heads (`membership`, also the point the
 * author's role is judged at), every standard's release heads and, from
 * version 2, its correction log's heads, valid until `expires` (TUF's
 * timestamp and snapshot roles, for a CRDT). A reader holding a checkpoint
 * that names records it lacks knows its view is incomplete; one whose
 * newest checkpoint expired knows it may be frozen.
 */
export const Checkpoint = z.discriminatedUnion("v", [CheckpointV1, CheckpointV2]);
/** A maintainer's signed statement of the space's heads, with an expiry. */
export type Checkpoint = z.infer<typeof Checkpoint>;

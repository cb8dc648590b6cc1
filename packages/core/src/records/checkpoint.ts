import { z } from "zod";
import { CidString, DidString, MembershipHeads, StandardName, Timestamp } from "./fields.js";

/** Most standards one checkpoint names. */
export const MAX_CHECKPOINT_STANDARDS = 512;

/**
 * A maintainer's signed statement of what the space held when they last
 * synced: the membership chain's heads (`membership`, also the point the
 * author's role is judged at) and every standard's release heads, valid
 * until `expires` (TUF's timestamp and snapshot roles, for a CRDT). A
 * reader holding a checkpoint that names records it lacks knows its view is
 * incomplete; one whose newest checkpoint expired knows it may be frozen.
 */
export const Checkpoint = z
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
/** A maintainer's signed statement of the space's heads, with an expiry. */
export type Checkpoint = z.infer<typeof Checkpoint>;

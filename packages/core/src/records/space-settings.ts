import { z } from "zod";
import { CidString, DidString, MembershipHeads, Timestamp } from "./fields.js";

/** The checkpoint expiry a space has until a maintainer sets one: 7 days. */
export const DEFAULT_CHECKPOINT_EXPIRY_SECONDS = 7 * 24 * 3600;

/**
 * Settings of a space that maintainers sign; the newest accepted one (by
 * `createdAt`, then CID) is in force. `checkpointExpirySeconds`: how long a
 * checkpoint stays valid (1 minute to 1 year).
 */
export const SpaceSettings = z
  .object({
    type: z.literal("canon/space-settings"),
    v: z.literal(1),
    space: CidString,
    checkpointExpirySeconds: z
      .number()
      .int()
      .min(60)
      .max(366 * 24 * 3600),
    membership: MembershipHeads,
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();
/** Settings of a space that maintainers sign. */
export type SpaceSettings = z.infer<typeof SpaceSettings>;

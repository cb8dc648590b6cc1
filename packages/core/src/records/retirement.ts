import { z } from "zod";
import { CidString, DidString, MembershipHeads, StandardName, Text, Timestamp } from "./fields.js";

/**
 * A maintainer retires a standard (`retired: true`: hidden from listings
 * and default stamps; its history, pinned reads and old stamps still work)
 * or brings it back (`retired: false`). The newest accepted one for a
 * standard (by `createdAt`, then CID) decides.
 */
export const Retirement = z
  .object({
    type: z.literal("canon/retirement"),
    v: z.literal(1),
    space: CidString,
    standard: StandardName,
    retired: z.boolean(),
    message: Text(4096),
    membership: MembershipHeads,
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();
/** A maintainer retires a standard, or brings it back. */
export type Retirement = z.infer<typeof Retirement>;

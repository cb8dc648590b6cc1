import { z } from "zod";
import {
  CidString,
  DidString,
  MembershipHeads,
  PreviousRecords,
  StandardName,
  Text,
  Timestamp,
} from "./fields.js";

/**
 * A decision learned from feedback, tied to a standard: append-only, open
 * until a release lists it in `incorporates`. `against` is the release the
 * author was reading when the lesson was learned.
 */
export const Correction = z
  .object({
    type: z.literal("canon/correction"),
    v: z.literal(1),
    space: CidString,
    standard: StandardName,
    text: Text(16_384).min(1),
    against: CidString.optional(),
    previous: PreviousRecords,
    membership: MembershipHeads,
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();
/** A decision learned from feedback, tied to a standard. */
export type Correction = z.infer<typeof Correction>;

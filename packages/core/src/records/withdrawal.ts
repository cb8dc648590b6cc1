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
 * Closes a correction without a release: by the correction's own author, or
 * by a maintainer. Append-only like every record; part of its author's own
 * chain of records (`previous`), like corrections and provenance.
 */
export const Withdrawal = z
  .object({
    type: z.literal("canon/withdrawal"),
    v: z.literal(1),
    space: CidString,
    standard: StandardName,
    correction: CidString,
    reason: Text(4096).optional(),
    previous: PreviousRecords,
    membership: MembershipHeads,
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();
/** Closes a correction without a release. */
export type Withdrawal = z.infer<typeof Withdrawal>;

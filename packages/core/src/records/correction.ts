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

/** Longest correction text, in characters. */
export const MAX_CORRECTION_TEXT = 16_384;

/**
 * A decision learned from feedback, tied to a standard: append-only, in
 * force until a release on every head of the standard incorporates it, or
 * a withdrawal closes it. `against` is the release the author was reading
 * when the lesson was learned; `evidence` the record (usually the stamp of
 * the output that went wrong) that shows it.
 */
export const Correction = z
  .object({
    type: z.literal("canon/correction"),
    v: z.literal(1),
    space: CidString,
    standard: StandardName,
    text: Text(MAX_CORRECTION_TEXT).min(1),
    against: CidString.optional(),
    evidence: CidString.optional(),
    previous: PreviousRecords,
    membership: MembershipHeads,
    author: DidString,
    createdAt: Timestamp,
  })
  .strict();
/** A decision learned from feedback, tied to a standard. */
export type Correction = z.infer<typeof Correction>;

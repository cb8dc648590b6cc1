import type { RejectionCode } from "../rejection.js";

/**
 * Why a stamp does not verify, by code: stable across releases, so scripts
 * and tests match on the code while people read the message. In the order
 * the checks run (see {@link verifyStamp}).
 */
export type StampProblemCode =
  /** The entry is not a valid signed record: size, CID, encoding, schema or signature. */
  | "invalid-record"
  /** A valid signed record, but not a `canon/provenance` one. */
  | "not-provenance"
  /** The record as JSON in the stamp file is not the signed record. */
  | "readable-mismatch"
  /** A DSSE envelope (in-toto form) not signed by the stamp's author, or whose Statement differs from the signed record it carries. */
  | "dsse-mismatch"
  /** The output's sha256 is not among the stamp's subjects. */
  | "output-mismatch"
  /** The space's fold refuses the stamp (the author's role at the membership point it names, a removal, another space). */
  | "refused-by-space"
  /** The context names the same release more than once. */
  | "release-named-twice"
  /** A release of the context is not an accepted release of that standard, with that version and content. */
  | "release-not-accepted";

/**
 * One reason a stamp does not verify: a stable `code`, and a `message`
 * written for a person. For `invalid-record` and `refused-by-space`,
 * `rejection` is the code of the record check or fold rule that refused it
 * (`bad-signature`, `author-role`, `backdated`, ...).
 */
export interface StampProblem {
  readonly code: StampProblemCode;
  readonly message: string;
  readonly rejection?: RejectionCode;
}

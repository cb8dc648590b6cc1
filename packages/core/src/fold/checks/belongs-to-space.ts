import type { Refusal } from "../../rejection.js";
import type { SignedRecord } from "../../signed-record.js";

/**
 * The record belongs to this space: a genesis must be this space's own (its
 * CID is the space's identity), and every other record must name this
 * genesis as its `space`, so a record signed for one space cannot be
 * replayed into another.
 */
export function belongsToSpace(signed: SignedRecord, spaceCid: string): Refusal | undefined {
  const { record } = signed;
  if (record.type === "canon/space-genesis") {
    return signed.cid === spaceCid
      ? undefined
      : { code: "other-genesis", reason: "genesis of another space" };
  }
  return record.space === spaceCid
    ? undefined
    : { code: "other-space", reason: `belongs to space ${record.space}, not this one` };
}

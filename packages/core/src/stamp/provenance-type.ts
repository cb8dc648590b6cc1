import type { Provenance } from "../records/provenance.js";
import type { SignedRecord } from "../signed-record.js";
import type { StampProblem } from "./stamp-problem.js";

/** The signed record is a provenance record, not another record of the space passed off as a stamp. */
export function checkProvenanceType(
  signed: SignedRecord,
): { ok: true; signed: SignedRecord<Provenance> } | { ok: false; problem: StampProblem } {
  if (signed.record.type === "canon/provenance")
    return { ok: true, signed: signed as SignedRecord<Provenance> };
  return {
    ok: false,
    problem: {
      code: "not-provenance",
      message: `the stamp is not a valid provenance record: it is a ${signed.record.type} record`,
    },
  };
}

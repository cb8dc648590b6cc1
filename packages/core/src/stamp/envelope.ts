import type { SignedRecord } from "../signed-record.js";
import { type RecordEntry, verifyRecord } from "../verify-record.js";
import type { StampProblem } from "./stamp-problem.js";

/**
 * The stamp's entry is a valid signed record on its own: size, CID,
 * canonical encoding, schema and the author's signature, the checks every
 * record goes through ({@link verifyRecord}). Never throws.
 */
export async function checkEnvelope(
  entry: RecordEntry,
): Promise<{ ok: true; signed: SignedRecord } | { ok: false; problem: StampProblem }> {
  const check = await verifyRecord(entry);
  if (check.ok) return check;
  return {
    ok: false,
    problem: {
      code: "invalid-record",
      message: `the stamp is not a valid provenance record: ${check.rejection.reason}`,
      rejection: check.rejection.code,
    },
  };
}

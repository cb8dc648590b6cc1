import type { Provenance } from "../records/provenance.js";
import type { StampProblem } from "./stamp-problem.js";

/** The output is one the stamp was made for: its sha256 is among the stamp's subject digests. */
export function checkSubject(record: Provenance, outputSha256: string): StampProblem | undefined {
  if (record.subject.some((subject) => subject.digest.sha256 === outputSha256)) return undefined;
  return {
    code: "output-mismatch",
    message: `the output's sha256 is ${outputSha256}; the stamp names ${record.subject.map((s) => s.digest.sha256).join(", ")}`,
  };
}

import { fold } from "../fold/fold.js";
import type { Provenance } from "../records/provenance.js";
import type { SignedRecord } from "../signed-record.js";
import type { StampProblem } from "./stamp-problem.js";
import type { StampSpace } from "./stamp-space.js";

/**
 * The space's rules accept the stamp: its author held a role allowing it at
 * the membership point it names, and no removal since rules it out. Rather
 * than restate those rules, the stamp is folded with the space's verified
 * records, so it meets exactly the rules every record meets and a removed
 * member cannot backdate a stamp. Costs one fold of the space, without
 * hashing content or checking signatures again.
 */
export async function checkAuthorRole(
  stamp: SignedRecord<Provenance>,
  space: StampSpace,
): Promise<StampProblem | undefined> {
  // Every accepted release had its content matched already; the documents holding it are not at hand.
  const contentMatched = new Set(
    [...space.state.standards.values()].flatMap((standard) => [...standard.releases.keys()]),
  );
  const refolded = await fold({
    spaceCid: space.state.genesis.cid,
    entries: [...space.verified.values(), stamp],
    content: () => [],
    cache: {
      verifiedRecord: (cid) => (cid === stamp.cid ? stamp : space.verified.get(cid)),
      contentMatched: (cid) => contentMatched.has(cid),
    },
  });
  if (refolded.state?.provenance.has(stamp.cid)) return undefined;
  const rejection = refolded.rejected.find((r) => r.cid === stamp.cid);
  return {
    code: "refused-by-space",
    message: `the space's rules refuse the stamp: ${rejection?.reason ?? "refused"}`,
    ...(rejection ? { rejection: rejection.code } : {}),
  };
}

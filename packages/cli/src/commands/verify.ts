import { CanonError } from "@canon/core";
import { verifyStamp } from "@canon/store";
import { home } from "../context.js";
import { freshnessNote, requireFresh } from "../freshness.js";
import { type GlobalOptions, print, shortDid, syncNote, terminalSafe } from "../output.js";

/** `canon verify <output> [--stamp <file>]`: an auditor's check of an output against its stamp. Exit 7 when it does not verify. */
export async function run(
  options: GlobalOptions & { stamp?: string; requireFresh?: boolean },
  output: string,
): Promise<void> {
  const verdict = await verifyStamp(home(), { output, stamp: options.stamp, space: options.space });
  print(options, verdict, () =>
    [
      `${verdict.verified ? "Verified" : "NOT verified"}: ${output} (sha256 ${verdict.output.sha256})`,
      ...(verdict.stamp.author
        ? [`  stamped  by ${shortDid(verdict.stamp.author)} at ${verdict.stamp.createdAt}`]
        : []),
      ...verdict.context.map(
        (entry) =>
          `  context  ${entry.standard}@${entry.version}  ${entry.contentCid}  ${
            !entry.accepted
              ? "NOT an accepted release"
              : entry.current
                ? "current"
                : `outdated: latest is v${entry.latestVersion}`
          }`,
      ),
      ...verdict.missedCorrections.map(
        (correction) =>
          `  missed   ${correction.standard} correction ${correction.cid}: ${terminalSafe(correction.text.split("\n")[0] ?? "")}`,
      ),
      ...verdict.problems.map((problem) => `  problem  ${problem.message}`),
      ...(verdict.space ? [`  against  ${verdict.space} (${syncNote(verdict.lastSync)})`] : []),
      ...(verdict.freshness ? [`  view     ${freshnessNote(verdict.freshness)}`] : []),
    ].join("\n"),
  );
  if (verdict.verified && verdict.freshness) requireFresh(verdict.freshness, options.requireFresh);
  if (!verdict.verified) {
    throw new CanonError(
      "NOT_VERIFIED",
      `${output} does not verify: ${verdict.problems[0]?.message}${verdict.problems.length > 1 ? ` (and ${verdict.problems.length - 1} more)` : ""}`,
    );
  }
}

import { stat } from "node:fs/promises";
import { CanonError } from "@canon/core";
import { type Verification, verifyFromFeeds, verifyStamp } from "@canon/store";
import { home } from "../context.js";
import { freshnessNote, requireFresh } from "../freshness.js";
import {
  escapeControls,
  type GlobalOptions,
  print,
  shortDid,
  syncNote,
  terminalSafe,
} from "../output.js";

/**
 * `canon verify [output] [--stamp <file|cid>] [--feeds]`: an auditor's check
 * of an output against its stamp and the shared history: the sidecar when
 * there is one, else every stamp the space's feeds hold for the output's
 * sha256 (or the one stamp a CID names). Exit 7 when it does not verify.
 */
export async function run(
  options: GlobalOptions & {
    stamp?: string;
    requireFresh?: boolean;
    feeds?: boolean;
    strict?: boolean;
  },
  output: string | undefined,
): Promise<void> {
  if (output === undefined && options.stamp === undefined)
    throw new CanonError(
      "BAD_ARGUMENT",
      "name the output to verify, or a stamp with --stamp <cid>",
    );
  const stampFile = options.stamp ?? (output === undefined ? undefined : `${output}.canon.json`);
  const sidecar = !options.feeds && stampFile !== undefined && (await isFile(stampFile));
  if (sidecar || (options.stamp !== undefined && !looksLikeCid(options.stamp))) {
    if (output === undefined)
      throw new CanonError("BAD_ARGUMENT", "name the output the stamp file is for");
    const verdict = await verifyStamp(home(), {
      output,
      stamp: options.stamp,
      space: options.space,
    });
    print(options, verdict, () => describe(output, verdict));
    finish(options, output, verdict.verified, [verdict]);
    return;
  }
  const found = await verifyFromFeeds(home(), {
    output,
    stampCid: options.stamp,
    space: options.space,
  });
  const what = output ?? (options.stamp as string);
  print(options, found, () =>
    [
      `${found.stamps.length} stamp(s) in the feeds of ${found.space}`,
      ...found.stamps.map((verdict) => describe(what, verdict)),
    ].join("\n"),
  );
  finish(options, what, found.verified, found.stamps);
}

/** The human report of one verdict. */
function describe(output: string, verdict: Verification): string {
  return [
    `${verdict.verified ? "Verified" : "NOT verified"}: ${escapeControls(output)} (sha256 ${verdict.output.sha256})`,
    `  stamp    ${verdict.stamp.cid}${verdict.stamp.path === null ? " (from the feeds)" : ""}`,
    ...(verdict.stamp.author
      ? [`  stamped  by ${shortDid(verdict.stamp.author)} at ${verdict.stamp.createdAt}`]
      : []),
    ...verdict.context.map(
      (entry) =>
        `  context  ${entry.standard}@${entry.version}  ${entry.contentCid}  ${
          !entry.accepted ? "NOT an accepted release" : whenStampedNote(entry)
        }`,
    ),
    ...verdict.warnings.map(
      (warning) =>
        `  warned   ${warning.standard}: ${warning.code === "forked" ? "the standard was forked in the agent's replica" : "the context named several versions of it"}`,
    ),
    ...verdict.missedCorrections.map(
      (correction) =>
        `  missed   ${correction.standard} correction ${correction.cid} (stale when stamped: ${correction.staleReason === "unknown" ? "the stamp does not say what its replica held" : "it had not reached the agent's replica"}): ${terminalSafe(correction.text.split("\n")[0] ?? "")}`,
    ),
    ...verdict.laterCorrections.map(
      (correction) =>
        `  since    ${correction.standard} correction ${correction.cid} at ${correction.createdAt}: ${terminalSafe(correction.text.split("\n")[0] ?? "")}`,
    ),
    ...verdict.problems.map((problem) => `  problem  ${problem.message}`),
    ...(verdict.space ? [`  against  ${verdict.space} (${syncNote(verdict.lastSync)})`] : []),
    ...(verdict.freshness ? [`  view     ${freshnessNote(verdict.freshness)}`] : []),
  ].join("\n");
}

/** One context release for people: current or stale when stamped (and why), and superseded since. */
function whenStampedNote(entry: Verification["context"][number]): string {
  const then =
    entry.whenStamped === "current"
      ? "current when stamped"
      : entry.staleReason === "held-newer"
        ? `STALE when stamped: the agent's replica held v${entry.heldVersion}`
        : entry.staleReason === "newer-not-received"
          ? `STALE when stamped: v${entry.newerWhenStamped.join(", v")} existed but had not reached the agent's replica (a sync problem)`
          : `STALE when stamped: v${entry.newerWhenStamped.join(", v")} existed (the stamp does not say what its replica held)`;
  const since = entry.supersededSince
    ? `; superseded since by v${entry.newerSince.join(", v")}`
    : "";
  return `${then}${since}`;
}

/** Exit 8 on an unproven view when asked, exit 10 under --strict when stale when stamped, exit 7 when no stamp verifies. */
function finish(
  options: { requireFresh?: boolean; strict?: boolean },
  output: string,
  verified: boolean,
  verdicts: readonly Verification[],
): void {
  const freshness = verdicts.find((verdict) => verdict.freshness)?.freshness;
  if (verified && freshness) requireFresh(freshness, options.requireFresh);
  const good = verdicts.filter((verdict) => verdict.verified);
  if (verified && options.strict && good.every((verdict) => verdict.staleWhenStamped)) {
    throw new CanonError(
      "STALE_WHEN_STAMPED",
      `${output} verifies, but its context was stale when stamped (--strict); \`canon verify ${output}\` says which release or correction`,
    );
  }
  if (!verified) {
    const problems = verdicts.flatMap((verdict) => verdict.problems);
    throw new CanonError(
      "NOT_VERIFIED",
      `${output} does not verify: ${problems[0]?.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ""}`,
    );
  }
}

/** True when `path` names a file. */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** A CID as Canon writes them (base32 `b...`), not a path. */
function looksLikeCid(value: string): boolean {
  return /^b[a-z2-7]{20,}$/.test(value);
}

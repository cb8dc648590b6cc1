import { CanonError } from "@canon/core";
import { correct, withdrawCorrection } from "@canon/store";
import { home, signer } from "../context.js";
import { type GlobalOptions, print, terminalSafe } from "../output.js";

/**
 * `canon correct <standard> "<text>" [--evidence <output|cid>]`: record a
 * correction; `canon correct --withdraw <id> [--reason <text>]`: close one
 * without a release.
 */
export async function run(
  options: GlobalOptions & { evidence?: string; withdraw?: string; reason?: string },
  standard: string | undefined,
  text: string | undefined,
): Promise<void> {
  if (options.withdraw !== undefined) {
    if (standard !== undefined || options.evidence !== undefined)
      throw new CanonError(
        "BAD_ARGUMENT",
        "--withdraw <id> takes no standard, text or --evidence: `canon correct --withdraw <id> [--reason <text>]`",
      );
    const withdrawn = await withdrawCorrection(home(), await signer(options), {
      correction: options.withdraw,
      reason: options.reason,
      space: options.space,
    });
    print(options, withdrawn, () =>
      [
        `Withdrew correction ${withdrawn.correction} to ${withdrawn.standard}`,
        `  record   ${withdrawn.cid}`,
      ].join("\n"),
    );
    return;
  }
  if (standard === undefined || text === undefined)
    throw new CanonError(
      "BAD_ARGUMENT",
      'give the standard and the correction\'s text: `canon correct <standard> "<text>"` (or `--withdraw <id>`)',
    );
  if (options.reason !== undefined)
    throw new CanonError("BAD_ARGUMENT", "--reason goes with --withdraw <id>");
  const corrected = await correct(home(), await signer(options), {
    standard,
    text,
    evidence: options.evidence,
    space: options.space,
  });
  print(options, corrected, () =>
    [
      `Recorded a correction to ${corrected.standard}: in force for every agent from its next sync`,
      `  id       ${corrected.cid}`,
      `  against  ${corrected.against}`,
      ...(corrected.evidence ? [`  evidence ${corrected.evidence}`] : []),
      `  text     ${terminalSafe(corrected.text).split("\n").join("\n           ")}`,
    ].join("\n"),
  );
}

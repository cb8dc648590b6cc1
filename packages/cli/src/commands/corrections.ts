import { correctionLog } from "@canon/store";
import { home } from "../context.js";
import { type GlobalOptions, print, shortDid, syncNote, terminalSafe } from "../output.js";

/** `canon corrections <standard> [--open|--all]`: a standard's correction log, oldest first. */
export async function run(
  options: GlobalOptions & { all?: boolean; open?: boolean },
  standard: string,
): Promise<void> {
  const log = await correctionLog(home(), {
    standard,
    all: options.all === true,
    space: options.space,
  });
  print(options, log, () =>
    [
      `${log.standard}: ${log.open} correction(s) in force, ${log.total} in the log`,
      ...log.corrections.map((entry) =>
        [
          "",
          `${entry.cid}  ${stateOf(entry)}`,
          `  author   ${shortDid(entry.author)}`,
          `  date     ${entry.createdAt}`,
          ...(entry.evidence ? [`  evidence ${entry.evidence}`] : []),
          `  text     ${terminalSafe(entry.text).split("\n").join("\n           ")}`,
        ].join("\n"),
      ),
      "",
      syncNote(log.lastSync),
    ].join("\n"),
  );
}

function stateOf(entry: {
  state: string;
  incorporatedBy: readonly { version: number }[];
  withdrawnBy: readonly { author: string }[];
}): string {
  const versions = entry.incorporatedBy.map((release) => `v${release.version}`).join(", ");
  if (entry.state === "incorporated") return `incorporated (${versions})`;
  if (entry.state === "withdrawn")
    return `withdrawn by ${entry.withdrawnBy.map((w) => shortDid(w.author)).join(", ")}`;
  return versions ? `open (incorporated on another branch: ${versions})` : "open";
}

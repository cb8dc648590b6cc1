import { type ListedStandard, list } from "@canon/store";
import { home } from "../context.js";
import { exitStatusOf } from "../exit-status.js";
import { freshnessNote, requireFresh } from "../freshness.js";
import { escapeControls, type GlobalOptions, print, syncNote } from "../output.js";

/** `canon ls [--require-fresh]`: standards in the space with their latest version, and what the replica can prove about its view. */
export async function run(
  options: GlobalOptions & { requireFresh?: boolean; all?: boolean },
): Promise<void> {
  const listing = await list(home(), { space: options.space, all: options.all === true });
  print(options, listing, () =>
    [
      `${listing.name}  ${listing.space}`,
      ...(listing.standards.length === 0
        ? ["  (no standards yet; publish one with `canon publish <standard> <file>`)"]
        : groupedLines(listing.standards)),
      ...(listing.retired > 0
        ? [`  ${listing.retired} retired standard(s): \`canon ls --all\``]
        : []),
      ...(listing.rejected > 0
        ? [`  ${listing.rejected} record(s) refused; see \`canon doctor\``]
        : []),
      syncNote(listing.lastSync),
      freshnessNote(listing.freshness),
    ].join("\n"),
  );
  // Damaged standards are listed in --json and reported here; the others were still read.
  for (const { message } of listing.damaged)
    process.stderr.write(`canon: ${escapeControls(message)}\n`);
  if (listing.damaged.length > 0) process.exitCode = exitStatusOf("STORAGE_DAMAGED");
  requireFresh(listing.freshness, options.requireFresh);
}

/**
 * The listing for people: names of one segment first, then a heading per
 * group (`skills/`) with its members under it, each by its whole name so it
 * can be copied into another command.
 */
function groupedLines(standards: readonly ListedStandard[]): string[] {
  const line = (s: ListedStandard, indent: string) =>
    `${indent}${s.standard}@${s.version}  ${s.cid}${s.forked ? `  FORKED (${s.heads} heads)` : ""}${s.retired ? "  (retired)" : ""}`;
  const groups = new Map<string, ListedStandard[]>();
  const lines: string[] = [];
  for (const s of standards) {
    if (s.group === null) lines.push(line(s, "  "));
    else {
      const members = groups.get(s.group);
      if (members === undefined) groups.set(s.group, [s]);
      else members.push(s);
    }
  }
  for (const group of [...groups.keys()].sort()) {
    lines.push(`  ${group}`);
    for (const s of groups.get(group) ?? []) lines.push(line(s, "    "));
  }
  return lines;
}

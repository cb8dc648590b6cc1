import { list } from "@canon/store";
import { home } from "../context.js";
import { exitStatusOf } from "../exit-status.js";
import { escapeControls, type GlobalOptions, print, syncNote } from "../output.js";

/** `canon ls`: standards in the space with their latest version. */
export async function run(options: GlobalOptions): Promise<void> {
  const listing = await list(home(), { space: options.space });
  print(options, listing, () =>
    [
      `${listing.name}  ${listing.space}`,
      ...(listing.standards.length === 0
        ? ["  (no standards yet; publish one with `canon publish <standard> <file>`)"]
        : listing.standards.map(
            (s) =>
              `  ${s.standard}@${s.version}  ${s.cid}${s.forked ? `  FORKED (${s.heads} heads)` : ""}`,
          )),
      ...(listing.rejected > 0
        ? [`  ${listing.rejected} record(s) refused; see \`canon doctor\``]
        : []),
      syncNote(listing.lastSync),
    ].join("\n"),
  );
  // Damaged standards are listed in --json and reported here; the others were still read.
  for (const { message } of listing.damaged)
    process.stderr.write(`canon: ${escapeControls(message)}\n`);
  if (listing.damaged.length > 0) process.exitCode = exitStatusOf("STORAGE_DAMAGED");
}

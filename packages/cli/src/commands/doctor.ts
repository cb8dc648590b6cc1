import { CanonError } from "@canon/core";
import { doctor } from "@canon/store";
import { home } from "../context.js";
import { describeMissing } from "../describe-sync.js";
import { escapeControls, type GlobalOptions, print } from "../output.js";

/**
 * `canon doctor`: every record the replica refused, with the reason and its
 * stable code (`--json`: `rejected[].code`), every routed document that is
 * not here (`missing`), and every damaged storage file with the fix
 * (`--json`: `damagedFiles[]`). Exits 4 (`STORAGE_DAMAGED`) when any file is
 * damaged.
 */
export async function run(options: GlobalOptions): Promise<void> {
  const diagnosis = await doctor(home(), { space: options.space });
  const damaged = diagnosis.damagedFiles;
  print(options, diagnosis, () =>
    [
      `${diagnosis.records} record(s) accepted, ${diagnosis.rejected.length} refused`,
      ...diagnosis.rejected.map(
        (r) =>
          // Key, type and author are a peer's bytes: escaped, so no escape sequence reaches the terminal.
          `  ${escapeControls(r.cid)}${r.type ? ` ${escapeControls(r.type)}` : ""}${r.author ? ` by ${escapeControls(r.author)}` : ""}: ${escapeControls(r.reason)} [${r.code}]`,
      ),
      ...describeMissing(diagnosis.missing),
      damaged.length === 0
        ? "every storage file passes its checksum"
        : `${damaged.length} damaged storage file(s):`,
      ...damaged.map((file) => `  ${file.path}: ${file.damage}; ${file.fix}`),
    ].join("\n"),
  );
  if (damaged.length > 0) {
    throw new CanonError(
      "STORAGE_DAMAGED",
      `${damaged.length} storage file(s) of the replica are damaged (each listed with its fix); move each away and run \`canon sync\` to fetch its document again, or restore it from a backup`,
    );
  }
}

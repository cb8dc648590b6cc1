import { doctor } from "@canon/store";
import { home } from "../context.js";
import { describeMissing } from "../describe-sync.js";
import { type GlobalOptions, print } from "../output.js";

/** `canon doctor`: every record the replica refused, with the reason and its stable code (`--json`: `rejected[].code`), and every routed document that is not here (`missing`). */
export async function run(options: GlobalOptions): Promise<void> {
  const diagnosis = await doctor(home(), { space: options.space });
  print(options, diagnosis, () =>
    [
      `${diagnosis.records} record(s) accepted, ${diagnosis.rejected.length} refused`,
      ...diagnosis.rejected.map(
        (r) =>
          `  ${r.cid}${r.type ? ` ${r.type}` : ""}${r.author ? ` by ${r.author}` : ""}: ${r.reason} [${r.code}]`,
      ),
      ...describeMissing(diagnosis.missing),
    ].join("\n"),
  );
}

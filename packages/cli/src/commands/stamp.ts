import { stamp } from "@canon/store";
import { home, signer } from "../context.js";
import { escapeControls, type GlobalOptions, print } from "../output.js";

/** `canon stamp <output> [--standard <ref>]...`: sign the context an output was produced with. */
export async function run(
  options: GlobalOptions & { standard?: string[]; format?: "canon" | "in-toto" },
  output: string,
): Promise<void> {
  const stamped = await stamp(home(), await signer(options), {
    output,
    context: options.standard,
    space: options.space,
    format: options.format,
  });
  for (const warning of stamped.warnings)
    process.stderr.write(
      `canon: warning: ${warning.standard} ${warning.code === "forked" ? "is forked (several latest releases in this replica): the stamp says so" : "is named at several versions: the stamp says so"}\n`,
    );
  print(options, stamped, () =>
    [
      `Stamped ${escapeControls(output)} (sha256 ${stamped.output.sha256})`,
      `  stamp    ${escapeControls(stamped.stampFile)}`,
      `  record   ${stamped.cid}`,
      ...stamped.context.map(
        (entry) => `  context  ${entry.standard}@${entry.version}  ${entry.contentCid}`,
      ),
      ...(stamped.corrections.length > 0
        ? [`  with     ${stamped.corrections.length} correction(s) in force`]
        : []),
    ].join("\n"),
  );
}

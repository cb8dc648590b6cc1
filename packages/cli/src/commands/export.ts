import { exportStandard, parseStandardReference } from "@canon/store";
import { home } from "../context.js";
import { escapeControls, type GlobalOptions, print } from "../output.js";

/** `canon export <standard>[@<version>|@<cid>] <dir> [--force]`: write a release out as files. */
export async function run(
  options: GlobalOptions & { force?: boolean },
  reference: string,
  dir: string,
): Promise<void> {
  const { standard, selector } = parseStandardReference(reference);
  const exported = await exportStandard(home(), {
    standard,
    selector,
    dir,
    force: options.force === true,
    space: options.space,
  });
  const written = exported.files.filter((file) => file.written).length;
  print(options, exported, () =>
    [
      `Exported ${exported.standard}@${exported.version} to ${escapeControls(exported.dir)}: ${written} file${written === 1 ? "" : "s"} written, ${exported.files.length - written} already current`,
      ...exported.files.map(
        (file) =>
          `  ${file.written ? "wrote" : "same "}  ${file.executable ? "0755" : "0644"}  ${escapeControls(file.path)}`,
      ),
    ].join("\n"),
  );
}

import { pull } from "@canon/store";
import { parseSeconds } from "../arguments.js";
import { home } from "../context.js";
import { escapeControls, type GlobalOptions, print } from "../output.js";
import { projectDir } from "../project-dir.js";

/** `canon pull [--frozen] [--force] [--offline] [--timeout <s>]`: write every target of canon.json, then canon.lock. */
export async function run(
  options: GlobalOptions & {
    project?: string;
    frozen?: boolean;
    force?: boolean;
    offline?: boolean;
    timeout: string;
  },
): Promise<void> {
  const report = await pull(home(), {
    dir: await projectDir(options),
    frozen: options.frozen,
    force: options.force,
    offline: options.offline,
    timeoutMs: parseSeconds(options.timeout),
    space: options.space,
    warn: (message) => process.stderr.write(`canon: warning: ${escapeControls(message)}\n`),
  });
  print(options, report, () =>
    [
      `Pulled ${report.standards.length} standard(s) into ${report.project}${report.sync === "synced" ? " (synced first)" : ""}`,
      ...report.standards.map(
        (entry) =>
          `  ${escapeControls(entry.standard)}@${entry.version}  ${entry.files} file(s)${entry.corrections > 0 ? `, ${entry.corrections} correction(s) in force` : ""}`,
      ),
      `  ${report.written} file(s) written${report.removed.length > 0 ? `, ${report.removed.length} removed` : ""}; canon.lock updated`,
    ].join("\n"),
  );
}

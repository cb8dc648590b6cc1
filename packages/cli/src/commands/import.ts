import { resolve } from "node:path";
import { importContext } from "@canon/store";
import { home, signer } from "../context.js";
import { escapeControls, type GlobalOptions, print } from "../output.js";

/** `canon import <path> [--prefix <p>]`: publish a repository's agent context and record it in its canon.json. */
export async function run(
  options: GlobalOptions & { prefix?: string; message?: string },
  path: string,
): Promise<void> {
  const report = await importContext(home(), await signer(options), {
    dir: resolve(path),
    prefix: options.prefix,
    message: options.message,
    space: options.space,
    warn: (message) => process.stderr.write(`canon: warning: ${escapeControls(message)}\n`),
  });
  print(options, report, () =>
    [
      ...report.imported.map(
        (entry) =>
          `${entry.published ? "published" : "unchanged"}  ${escapeControls(entry.standard)}@${entry.version}  from ${escapeControls(entry.path)}`,
      ),
      `${report.imported.filter((entry) => entry.published).length} published, ${report.imported.filter((entry) => !entry.published).length} unchanged; canon.json and canon.lock written in ${report.project}`,
    ].join("\n"),
  );
}

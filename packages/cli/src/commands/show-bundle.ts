import { CanonError, parseCid, sha256Hex } from "@canon/core";
import { canonHome, resolveFiles } from "@canon/store";
import { contentForJson, escapeControls, type GlobalOptions, print } from "../output.js";

/**
 * `canon show <standard>` on a bundle: its files (mode, size, sha256, path);
 * with `--file <path>`, one file's exact bytes. A chunk of its own, so the
 * plain `show` of a single file never loads it.
 */
export async function showBundle(
  options: GlobalOptions & { file?: string; requireFresh?: boolean },
  standard: string,
  selector: string | undefined,
): Promise<void> {
  const resolved = await resolveFiles(canonHome(), { standard, selector, space: options.space });
  const { reportFreshness } = await import("./show.js");
  if (options.file !== undefined) {
    if (resolved.files === null)
      throw new CanonError(
        "BAD_ARGUMENT",
        `${standard}@${resolved.version} is a single file, not a bundle; \`canon show ${standard}\` prints it`,
      );
    const wanted = options.file.replace(/^\.\//, "");
    const file = resolved.files.find((candidate) => candidate.path === wanted);
    if (file === undefined)
      throw new CanonError(
        "UNKNOWN_VERSION",
        `${standard}@${resolved.version} has no file ${JSON.stringify(options.file)}; \`canon show ${standard}\` lists its ${resolved.files.length} files`,
      );
    if (options.json) {
      print(
        options,
        {
          standard: resolved.standard,
          version: resolved.version,
          path: file.path,
          cid: file.cid,
          size: file.size,
          executable: file.executable,
          ...contentForJson(file.bytes),
        },
        () => "",
      );
    } else process.stdout.write(file.bytes);
    return reportFreshness(resolved.freshness, options);
  }
  const files = (resolved.files ?? []).map((file) => ({
    path: file.path,
    size: file.size,
    mode: file.executable ? "0755" : "0644",
    executable: file.executable,
    sha256: sha256Hex(parseCid(file.cid)),
    cid: file.cid,
  }));
  const { content: _content, files: _files, ...view } = resolved;
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const width = String(Math.max(0, ...files.map((file) => file.size))).length;
  print(options, { ...view, bundle: true, files }, () =>
    [
      `${resolved.standard}@${resolved.version}  ${resolved.cid}  bundle of ${files.length} file${files.length === 1 ? "" : "s"}, ${total} bytes`,
      ...files.map(
        (file) =>
          `  ${file.mode}  ${String(file.size).padStart(width)}  ${file.sha256}  ${escapeControls(file.path)}`,
      ),
    ].join("\n"),
  );
  await reportFreshness(resolved.freshness, options);
}

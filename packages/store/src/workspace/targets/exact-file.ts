import type { TargetFile, TargetInput } from "./target-input.js";

/** Suffix of the companion file an exact `file` target gets when corrections are in force. */
export const FILE_CORRECTIONS_SUFFIX = ".corrections.md";

/**
 * Any file, the release's exact bytes at `path`; corrections in force go to
 * `<path>.corrections.md` beside it, never into the bytes.
 */
export function exactFiles(input: TargetInput, path: string): TargetFile[] {
  const out: TargetFile[] = [{ path, bytes: input.content, executable: false }];
  if (input.section !== null)
    out.push({
      path: `${path}${FILE_CORRECTIONS_SUFFIX}`,
      bytes: input.section,
      executable: false,
    });
  return out;
}

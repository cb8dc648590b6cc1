import { CanonError } from "@canon/core";
import { findProjectDir } from "@canon/store";

/**
 * The project a command acts on: `--project <dir>`, else the nearest of the
 * working directory and its parents holding canon.json, else (when `create`)
 * the working directory.
 * @throws CanonError `FILE_UNREADABLE` when there is none and `create` is false.
 */
export async function projectDir(
  options: { readonly project?: string },
  create = false,
): Promise<string> {
  const found = await findProjectDir(process.cwd(), options.project);
  if (found !== undefined) return found;
  if (create) return process.cwd();
  throw new CanonError(
    "FILE_UNREADABLE",
    `no canon.json in ${process.cwd()} or its parents; \`canon add <standard>\` creates one (or pass --project <dir>)`,
  );
}

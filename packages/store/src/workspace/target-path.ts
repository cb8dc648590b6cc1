import { z } from "zod";
import { isGitMetadataPath } from "../operations/git-metadata.js";

/**
 * A target's path: relative to the project, `/`-separated, no empty, `.` or
 * `..` segment, not canon.json, canon.lock nor the pull lock (`canon.pull.lock`
 * and its holder file), no `.git` folder (see
 * isGitMetadataPath), no `\`, no control
 * character, at most 512 characters. Symlinks
 * leaving the project are refused when writing (see write-tree).
 */
export const TargetPath = z
  .string()
  .min(1)
  .max(512)
  .refine((path) => !path.startsWith("/") && !/^[A-Za-z]:/.test(path), "must be relative")
  .refine((path) => !path.includes("\\"), "must use / (no backslash)")
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
  .refine((path) => !/[\u0000-\u001f\u007f]/.test(path), "must not hold control characters")
  .refine(
    (path) =>
      path.split("/").every((segment) => segment !== "" && segment !== "." && segment !== ".."),
    "must stay inside the project (no empty, . or .. segment)",
  )
  // The project's own files (MANIFEST_FILE, LOCK_FILE, PULL_LOCK and its holder; named here, which they import), any case.
  .refine((path) => {
    const lower = path.toLowerCase();
    return !(
      ["canon.json", "canon.lock"].includes(lower) || /^canon\.pull\.lock($|[./])/.test(lower)
    );
  }, "must not be canon.json or canon.lock, nor canon.pull.lock, the project's own files")
  .refine(
    (path) => !isGitMetadataPath(path),
    "must not go into a .git folder (hooks and config there run code)",
  );

/** The last `/`-separated segment of a standard's name: what a target file or folder is named after. */
export function lastSegment(standard: string): string {
  return standard.slice(standard.lastIndexOf("/") + 1);
}

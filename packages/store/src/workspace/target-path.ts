import { MAX_BUNDLE_PATH_BYTES } from "@canon/core";
import { z } from "zod";
import { isGitMetadataPath } from "../operations/git-metadata.js";

/** Longest target path canon.json may state, in characters. */
export const MAX_TARGET_PATH = 512;

/**
 * Longest path of a file canon.lock names: a skill target's folder
 * ({@link MAX_TARGET_PATH}), `/`, then a path in the bundle (at most 512
 * bytes, so at most 512 characters). A bundle file near its own limit under
 * a skill folder is longer than a target path may be, and a lock bounded as
 * targets are would be refused by every command after the pull that wrote it.
 */
export const MAX_LOCKED_PATH = MAX_TARGET_PATH + 1 + MAX_BUNDLE_PATH_BYTES;

/**
 * A target's path: relative to the project, `/`-separated, no empty, `.` or
 * `..` segment, not canon.json, canon.lock nor the pull lock (`canon.pull.lock`
 * and its holder file), no `.git` folder (see
 * isGitMetadataPath), no `\`, no control
 * character, at most {@link MAX_TARGET_PATH} characters. Symlinks
 * leaving the project are refused when writing (see write-tree).
 */
export const TargetPath = projectPath(MAX_TARGET_PATH).refine(
  (path) => path.split("/").every(portableName),
  'must be a name Windows can hold too (no CON, PRN, AUX, NUL, COM1-9 or LPT1-9, none of <>:"|?*, no trailing dot or space)',
);

/** A path canon.lock names (a target's file, or a file of a bundle under a skill folder): as {@link TargetPath}, at most {@link MAX_LOCKED_PATH} characters. */
export const LockedPath = projectPath(MAX_LOCKED_PATH);

/** A path of the project, as {@link TargetPath} describes, of at most `maxLength` characters. */
function projectPath(maxLength: number) {
  return (
    z
      .string()
      .min(1)
      .max(maxLength)
      .refine((path) => !path.startsWith("/") && !/^[A-Za-z]:/.test(path), "must be relative")
      .refine((path) => !path.includes("\\"), "must use / (no backslash)")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point.
      .refine((path) => !/[\u0000-\u001f\u007f]/.test(path), "must not hold control characters")
      .refine(
        (path) =>
          path.split("/").every((segment) => segment !== "" && segment !== "." && segment !== ".."),
        "must stay inside the project (no empty, . or .. segment)",
      )
      // The project's own files (MANIFEST_FILE, LOCK_FILE, PULL_LOCK and its holder; named here, which they import), as Windows and macOS name them too.
      .refine(
        (path) => !isProjectOwnFile(path),
        "must not be canon.json or canon.lock, nor canon.pull.lock, the project's own files (in any case, with a trailing dot or space, a :stream or as a short name CANON~1.JSO)",
      )
      .refine(
        (path) => !isGitMetadataPath(path),
        "must not go into a .git folder (hooks and config there run code)",
      )
  );
}

/**
 * One segment of a path as Windows resolves it: an NTFS stream (`:…`) and
 * trailing dots and spaces dropped, lowercase (`CANON.JSON. ` and
 * `canon.json::$DATA` are canon.json there).
 */
function windowsName(segment: string): string {
  return segment
    .replace(/:.*$/s, "")
    .replace(/[. ]+$/, "")
    .toLowerCase();
}

/**
 * True when a target path names one of the project's own files, as any file
 * system the project is checked out on may resolve it: canon.json, canon.lock
 * (the path itself), or canon.pull.lock, its holder file or anything under
 * it, ignoring case, an NTFS stream and trailing dots or spaces, or an NTFS
 * short name (`CANON~1.JSO`).
 */
function isProjectOwnFile(path: string): boolean {
  const [first = "", ...rest] = path.split("/");
  const name = windowsName(first);
  if (/^canon.?~\d/.test(name)) return true;
  if (name === "canon.pull.lock" || name.startsWith("canon.pull.lock.")) return true;
  return rest.length === 0 && (name === "canon.json" || name === "canon.lock");
}

/** Windows' reserved device names, which name a device in every folder, with any extension. */
const RESERVED_ON_WINDOWS = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\.|$)/i;

/**
 * True when Windows can hold a file or folder of this name: not a device
 * name, none of the characters it refuses (`:` opens an NTFS stream), no
 * trailing dot or space (dropped, so the name meets another file's).
 */
function portableName(segment: string): boolean {
  return (
    !RESERVED_ON_WINDOWS.test(segment.replace(/[. ]+$/, "")) &&
    !/[<>:"|?*]/.test(segment) &&
    !/[. ]$/.test(segment)
  );
}

/** The last `/`-separated segment of a standard's name: what a target file or folder is named after. */
export function lastSegment(standard: string): string {
  return standard.slice(standard.lastIndexOf("/") + 1);
}

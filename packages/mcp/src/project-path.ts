import { lstat, realpath } from "node:fs/promises";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { CanonError } from "@canon/core";

/** Longest path a tool accepts. */
const MAX_PATH_LENGTH = 4096;

/**
 * A path a client gave (hostile: any string), as a regular file inside
 * `root`: resolved against `root`, every link followed, and refused when it
 * ends outside `root` (a `..`, an absolute path elsewhere, a link leading
 * out) or is not a regular file (a folder, FIFO, device, socket). Returns
 * the real path, which the store's own input-file checks read again.
 * @throws CanonError `BAD_ARGUMENT` (outside the project, malformed), `FILE_UNREADABLE` (missing, not a regular file).
 */
export async function fileInside(root: string, given: string, what: string): Promise<string> {
  if (given.length === 0 || given.length > MAX_PATH_LENGTH || given.includes("\0"))
    throw new CanonError(
      "BAD_ARGUMENT",
      `${what} must be a path of 1 to ${MAX_PATH_LENGTH} characters`,
    );
  const realRoot = await realpath(root);
  const lexical = resolve(realRoot, given);
  if (outside(realRoot, lexical) && outside(resolve(root), resolve(root, given)))
    throw new CanonError("BAD_ARGUMENT", `${what} ${given} is outside the project ${root}`);
  let real: string;
  try {
    real = await realpath(resolve(root, given));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CanonError(
      "FILE_UNREADABLE",
      `cannot read ${what} ${given}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (error as Error).message}`,
    );
  }
  if (outside(realRoot, real))
    throw new CanonError(
      "BAD_ARGUMENT",
      `${what} ${given} leads outside the project ${root} (through a link)`,
    );
  const info = await lstat(real);
  if (!info.isFile())
    throw new CanonError(
      "FILE_UNREADABLE",
      `${what} ${given} is not a regular file (a folder, FIFO, device or socket)`,
    );
  return real;
}

/** True when `path` is not `root` or below it. */
function outside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel);
}

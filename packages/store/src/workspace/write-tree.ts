import { createHash } from "node:crypto";
import { constants, existsSync } from "node:fs";
import {
  type FileHandle,
  lstat,
  mkdir,
  open,
  realpath,
  rmdir,
  stat,
  unlink,
} from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import { CanonError } from "@canon/core";
import { writeFileAtomic } from "../home/atomic-write.js";
import {
  MAX_FILE_NAME_BYTES,
  MAX_NAME_BYTES,
  overlongName,
} from "../operations/file-name-limit.js";
import { isGitMetadataPath } from "../operations/git-metadata.js";
import { sha256OfOpenFile } from "../operations/input-file.js";
import type { LockedFile } from "./lock-file.js";
import type { TargetFile } from "./targets/target-input.js";

/** Hex sha-256 of bytes. */
export function sha256Of(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * How a file of the project is opened: once, for reading, without blocking
 * (a FIFO is never waited on) and without following a link at its last
 * name (where the platform has `O_NOFOLLOW`): what was written there is a
 * regular file, and a link put in its place is not what canon wrote. The
 * opened file is then checked (`fstat`) and read, so a file swapped between
 * a check and a read cannot be.
 */
const OPEN_PROJECT_FILE = constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOFOLLOW ?? 0);

/**
 * Hex sha-256 of a file's bytes, or undefined when it is absent or not a
 * regular file: a FIFO, a link (to a device, `/dev/zero`, or anywhere) where
 * canon.lock names a file is opened without blocking, never read, and the bytes of a
 * regular file are hashed as a stream, whatever its size, from the same
 * opened file whose type was checked.
 */
export async function sha256OfFile(path: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_PROJECT_FILE);
  } catch {
    return undefined;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    return await sha256OfOpenFile(handle);
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}

/**
 * Refuses any target path that would leave the project through a symlinked
 * directory, is itself a directory, lies under a file, goes into a `.git`
 * folder (a bundle's paths included), or holds a name longer than file
 * systems take (a peer's bundle may: the pull would stop halfway), before
 * anything is written.
 * @throws CanonError `BAD_CONFIG` naming the path, `STORAGE_UNWRITABLE` when a parent is a file.
 */
export async function checkInsideProject(dir: string, paths: readonly string[]): Promise<void> {
  const root = await realpath(dir);
  for (const path of paths) {
    const tooLong = overlongName(path);
    if (tooLong !== undefined)
      throw new CanonError(
        "STORAGE_UNWRITABLE",
        `cannot write ${path}: a name in it is ${Buffer.byteLength(tooLong)} bytes, longer than file systems take (${MAX_NAME_BYTES}, ${MAX_FILE_NAME_BYTES} for a file's own name); nothing was written and canon.lock is unchanged`,
      );
    // A bundle's own paths too: a peer's `.git/hooks/…` or `.git/config` under a skill folder runs code.
    if (isGitMetadataPath(path))
      throw new CanonError(
        "BAD_CONFIG",
        `${path} is inside a .git folder, where Canon never writes (hooks and config there run code); nothing was written`,
      );
    let ancestor = dirname(join(dir, path));
    // The deepest directory that exists decides where the file lands.
    for (;;) {
      const found = await stat(ancestor).catch(() => undefined);
      if (found?.isDirectory()) break;
      if (found !== undefined)
        throw new CanonError(
          "STORAGE_UNWRITABLE",
          `cannot write ${join(dir, path)}: ${ancestor} is not a directory; nothing was written and canon.lock is unchanged`,
        );
      ancestor = dirname(ancestor);
    }
    const real = await realpath(ancestor);
    if (real !== root && !real.startsWith(root + sep))
      throw new CanonError(
        "BAD_CONFIG",
        `target ${path} leaves the project through a symlink (${relative(dir, ancestor) || "."} → ${real}); point the target elsewhere`,
      );
    // A link the repository commits (`hooks` → `.git/hooks`) must not lead there either.
    if (isGitMetadataPath(relative(root, real).split(sep).join("/")))
      throw new CanonError(
        "BAD_CONFIG",
        `target ${path} leads into .git through a symlink (${relative(dir, ancestor) || "."} → ${real}), where Canon never writes (hooks and config there run code); nothing was written`,
      );
    const existing = await lstat(join(dir, path)).catch(() => undefined);
    if (existing?.isDirectory())
      throw new CanonError(
        "BAD_CONFIG",
        `target ${path} is a directory in the project; point the target elsewhere`,
      );
  }
}

/**
 * Writes every file atomically (temporary file + rename) with its
 * executable bit, skipping those already holding the same bytes and mode.
 * @throws CanonError `STORAGE_UNWRITABLE` naming the file that could not be written.
 */
export async function writeTree(dir: string, files: readonly TargetFile[]): Promise<number> {
  let written = 0;
  const root = await realpath(dir);
  for (const file of files) {
    const path = join(dir, file.path);
    const mode = file.executable ? 0o755 : 0o644;
    // A symlink at a target path is replaced by the file (a rename), never written through.
    if (await holdsExactly(path, file.bytes, mode)) continue;
    try {
      await writeInside(root, file.path, path, file.bytes, mode);
    } catch (error) {
      if (error instanceof CanonError) throw error;
      throw new CanonError(
        "STORAGE_UNWRITABLE",
        `cannot write ${path}: ${(error as Error).message}; canon.lock is unchanged`,
        { cause: error },
      );
    }
    written++;
  }
  return written;
}

/** Whether a folder opened here can be written through (`/proc/self/fd/<fd>/`: Linux). */
const FOLDERS_BY_HANDLE = process.platform === "linux" && existsSync("/proc/self/fd");

/**
 * Writes one file atomically (mode set exactly, on the temporary file's own
 * handle) into its folder as opened, not as named: the folder is opened, the
 * opened folder's real place is checked to be inside `root` (and not in
 * `.git`), and the file is written and renamed through it. On Linux that is
 * `/proc/self/fd/<fd>/`, which the kernel resolves to the opened folder, so
 * a folder swapped for a link leaving the project after
 * {@link checkInsideProject} is refused rather than written through. Where
 * there is no `/proc` (macOS, Windows) the file is written by path, as before.
 * @throws CanonError `BAD_CONFIG` when the opened folder is outside the project.
 */
async function writeInside(
  root: string,
  target: string,
  path: string,
  bytes: Uint8Array,
  mode: number,
): Promise<void> {
  const parent = dirname(path);
  await mkdir(parent, { recursive: true });
  if (!FOLDERS_BY_HANDLE) {
    await writeFileAtomic(path, bytes, mode, true, true, false);
    return;
  }
  // Any failure from here (the folder gone, swapped) is an error, never a fallback to the path.
  const folder = await open(parent, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const via = `/proc/self/fd/${folder.fd}`;
    const real = await realpath(via);
    if (
      (real !== root && !real.startsWith(root + sep)) ||
      isGitMetadataPath(relative(root, real).split(sep).join("/"))
    )
      throw new CanonError(
        "BAD_CONFIG",
        `target ${target} leaves the project: its folder became ${real} while being written (a symlink swapped in); files written before it stay, canon.lock is unchanged`,
      );
    await writeFileAtomic(join(via, basename(path)), bytes, mode, true, true, false);
  } finally {
    await folder.close();
  }
}

/**
 * True when `path` is a regular file (not a link) with exactly `bytes` and
 * `mode`: opened once, checked and read from the same opened file.
 */
async function holdsExactly(path: string, bytes: Uint8Array, mode: number): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_PROJECT_FILE);
  } catch {
    return false;
  }
  try {
    const current = await handle.stat();
    if (!current.isFile() || (current.mode & 0o777) !== mode || current.size !== bytes.length)
      return false;
    return Buffer.from(await handle.readFile()).equals(bytes);
  } catch {
    return false;
  } finally {
    await handle.close();
  }
}

/**
 * Removes files a previous pull wrote that no target writes now, only those
 * still holding the bytes the lock names (a file someone edited is kept), and
 * the directories that leaves empty.
 * @returns the paths removed and the paths kept because they were edited.
 */
export async function removeStale(
  dir: string,
  previous: readonly LockedFile[],
  keep: ReadonlySet<string>,
): Promise<{ removed: string[]; kept: string[] }> {
  const removed: string[] = [];
  const kept: string[] = [];
  const root = await realpath(dir);
  for (const file of previous) {
    if (keep.has(file.path)) continue;
    const path = join(dir, file.path);
    // A lock is input too: never remove a file reached through a symlink leaving the project,
    // checked on the folder as opened (then hashed and removed through it), as writeInside writes.
    const folder = FOLDERS_BY_HANDLE
      ? await open(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY).catch(() => undefined)
      : undefined;
    if (FOLDERS_BY_HANDLE && folder === undefined) continue;
    try {
      const where = folder === undefined ? dirname(path) : `/proc/self/fd/${folder.fd}`;
      const realParent = await realpath(where).catch(() => undefined);
      if (realParent === undefined || (realParent !== root && !realParent.startsWith(root + sep)))
        continue;
      const reached = join(where, basename(path));
      const sha = await sha256OfFile(reached);
      if (sha === undefined) continue;
      if (sha !== file.sha256) {
        kept.push(file.path);
        continue;
      }
      await unlink(reached);
    } finally {
      await folder?.close();
    }
    removed.push(file.path);
    let parent = dirname(path);
    while (parent !== dir && parent.startsWith(dir + sep)) {
      try {
        await rmdir(parent);
      } catch {
        break;
      }
      parent = dirname(parent);
    }
  }
  return { removed, kept };
}

import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, open, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Creates `path` (it must not exist), making its folder first only when the
 * open fails for want of it: the folder is nearly always there, and a
 * recursive `mkdir` before every write was a measurable share of the
 * owner's file work (docs/decisions/2026-11-30-round-trip.md, "Third round").
 */
async function openNew(path: string, mode: number, makeFolder: boolean): Promise<FileHandle> {
  try {
    return await open(path, "wx", mode);
  } catch (error) {
    if (!makeFolder || (error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    await mkdir(dirname(path), { recursive: true });
    return open(path, "wx", mode);
  }
}

/**
 * Writes a file so that a reader sees either the old bytes or the new ones,
 * never a part: write a temporary file beside it, fsync, rename over it, then
 * fsync the directory so the rename itself survives a power cut (a compaction
 * removes old chunks only after its snapshot is durable). A crash (even
 * SIGKILL) in the middle leaves at most a stray `.tmp-*` file.
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array | string,
  mode = 0o644,
  /** Set `mode` exactly, whatever the umask (an exported file's executable bit). */
  exactMode = false,
  /**
   * fsync the file and its directory (the default). A cache whose every read
   * is checked against a hash may skip it: a power cut then leaves an old,
   * empty or partial file, which the read refuses, never a wrong answer.
   */
  durable = true,
  /** Create the folder first when it is missing (the default); false when the caller made it. */
  makeFolder = true,
): Promise<void> {
  const temporary = `${path}.tmp-${randomBytes(6).toString("hex")}`;
  const file = await openNew(temporary, mode, makeFolder);
  try {
    if (exactMode) await file.chmod(mode);
    await file.writeFile(bytes);
    if (durable) await file.sync();
  } catch (error) {
    await file.close();
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await file.close();
  await rename(temporary, path);
  if (durable) await syncDirectory(dirname(path));
}

/**
 * Writes the temporary file of an atomic write (created new, not synced)
 * beside `path` and returns its path: the first half of
 * {@link writeFileAtomic}, for a caller that syncs many files at once before
 * renaming them ({@link syncFile}, then `rename`, then {@link syncDirectory}).
 */
export async function writeTemporary(path: string, bytes: Uint8Array): Promise<string> {
  const temporary = `${path}.tmp-${randomBytes(6).toString("hex")}`;
  const file = await openNew(temporary, 0o644, true);
  try {
    await file.writeFile(bytes);
  } catch (error) {
    await file.close();
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await file.close();
  return temporary;
}

/** fsyncs a file already written (its bytes reach the disk before anything renames it). */
export async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsyncs a directory, so renames and creations in it are durable. */
export async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, "r");
    await handle.sync();
  } catch (error) {
    // Some file systems cannot fsync a directory; the rename is still atomic there.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "EISDIR" && code !== "EPERM" && code !== "ENOTSUP")
      throw error;
  } finally {
    await handle?.close();
  }
}

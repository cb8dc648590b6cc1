import { randomBytes } from "node:crypto";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Writes a file so that a reader sees either the old bytes or the new ones,
 * never a part: write a temporary file beside it, fsync, rename over it.
 * A crash (even SIGKILL) in the middle leaves at most a stray `.tmp-*` file.
 */
export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array | string,
  mode = 0o644,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${randomBytes(6).toString("hex")}`;
  const file = await open(temporary, "wx", mode);
  try {
    await file.writeFile(bytes);
    await file.sync();
  } catch (error) {
    await file.close();
    await unlink(temporary).catch(() => {});
    throw error;
  }
  await file.close();
  await rename(temporary, path);
}

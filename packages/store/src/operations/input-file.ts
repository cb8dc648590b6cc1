import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { CanonError } from "@canon/core";

/**
 * Reads a file the user named (a standard to publish), at most `maxBytes`.
 * @throws CanonError `FILE_UNREADABLE` (missing, not a regular file, no permission), `BAD_ARGUMENT` when too large.
 */
export async function readInputFile(file: string, maxBytes: number): Promise<Uint8Array> {
  const size = await inputFileSize(file);
  if (size > maxBytes) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `${file} is ${size} bytes; a standard is at most ${maxBytes} bytes`,
    );
  }
  return unreadable(file, async () => new Uint8Array(await readFile(file)));
}

/**
 * The sha-256 of a file the user named (an output to stamp or verify), in hex,
 * read as a stream so its size does not matter.
 * @throws CanonError `FILE_UNREADABLE`.
 */
export async function sha256OfInputFile(file: string): Promise<string> {
  await inputFileSize(file);
  return unreadable(file, async () => {
    const hash = createHash("sha256");
    for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
    return hash.digest("hex");
  });
}

async function inputFileSize(file: string): Promise<number> {
  const info = await unreadable(file, () => stat(file));
  if (!info.isFile()) throw new CanonError("FILE_UNREADABLE", `${file} is not a regular file`);
  return info.size;
}

/**
 * Runs `work` on a path the user named, turning a file-system error into
 * `FILE_UNREADABLE` naming the path (`missing` says what is not there).
 */
export async function unreadable<T>(
  file: string,
  work: () => Promise<T>,
  missing = "no such file",
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof CanonError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT"
        ? missing
        : code === "EACCES"
          ? "permission denied"
          : (error as Error).message;
    throw new CanonError("FILE_UNREADABLE", `cannot read ${file}: ${why}`);
  }
}

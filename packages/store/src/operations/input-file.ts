import { createHash } from "node:crypto";
import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { CanonError } from "@canon/core";

/**
 * Reads a file the user named (a standard to publish), at most `maxBytes`.
 * Opened once (without blocking: a FIFO is never waited on), then the opened
 * file is checked (regular, its size) and read: what is checked is what is
 * read, even if the path is swapped for another file, a FIFO or a link to a
 * device in between.
 * @throws CanonError `FILE_UNREADABLE` (missing, not a regular file, no permission), `BAD_ARGUMENT` when too large.
 */
export async function readInputFile(file: string, maxBytes: number): Promise<Uint8Array> {
  return withInputFile(file, async (handle, size) => {
    if (size > maxBytes)
      throw new CanonError(
        "BAD_ARGUMENT",
        `${file} is ${size} bytes; a standard is at most ${maxBytes} bytes`,
      );
    const bytes = await readAtMost(handle, maxBytes, size);
    // It may grow while being read (or be a /proc file, 0 bytes by its size): past the bound is refused too.
    if (bytes === undefined)
      throw new CanonError(
        "BAD_ARGUMENT",
        `${file} grew past ${maxBytes} bytes while being read; a standard is at most ${maxBytes} bytes`,
      );
    return bytes;
  });
}

/**
 * What an opened file holds, read until its end or until more than
 * `maxBytes` have come, whichever is first: undefined in the second case.
 * Its size is not trusted: a file under `/proc` (`/proc/self/pagemap`) says
 * 0 bytes and holds gigabytes, which a whole-file read would take into memory.
 * `sizeHint` (the size `fstat` gave) only sizes the first read, so that an
 * ordinary file is read in one call.
 */
export async function readAtMost(
  handle: FileHandle,
  maxBytes: number,
  sizeHint = 0,
): Promise<Uint8Array | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  let next = Math.max(sizeHint + 1, 64 * 1024);
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(next, maxBytes + 1 - total));
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
    if (bytesRead === 0) return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total);
    chunks.push(chunk.subarray(0, bytesRead));
    total += bytesRead;
    if (total > maxBytes) return undefined;
    next = 64 * 1024;
  }
}

/**
 * The sha-256 of a file the user named (an output to stamp or verify), in hex,
 * read as a stream so its size does not matter. Opened once, then the opened
 * file is checked and hashed (see {@link readInputFile}).
 * @throws CanonError `FILE_UNREADABLE`.
 */
export async function sha256OfInputFile(file: string): Promise<string> {
  return withInputFile(file, sha256OfOpenFile);
}

/**
 * The sha-256, in hex, of what an opened file holds from where it stands,
 * read as a stream (its size does not matter); the handle stays open.
 */
export async function sha256OfOpenFile(handle: FileHandle): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of handle.createReadStream({ autoClose: false }))
    hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Opens `file` once for reading without blocking, checks the opened file is
 * a regular file (`fstat`), and runs `work` on that handle with its size.
 * @throws CanonError `FILE_UNREADABLE` naming the file.
 */
async function withInputFile<T>(
  file: string,
  work: (handle: FileHandle, size: number) => Promise<T>,
): Promise<T> {
  const handle = await unreadable(file, () =>
    open(file, constants.O_RDONLY | constants.O_NONBLOCK),
  );
  try {
    const info = await unreadable(file, () => handle.stat());
    if (!info.isFile()) throw new CanonError("FILE_UNREADABLE", `${file} is not a regular file`);
    return await unreadable(file, () => work(handle, info.size));
  } finally {
    await handle.close();
  }
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

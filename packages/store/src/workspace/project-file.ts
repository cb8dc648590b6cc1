import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { CanonError } from "@canon/core";
import { readAtMost } from "../operations/input-file.js";

/**
 * The text of canon.json or canon.lock, or undefined when there is none,
 * without a leading UTF-8 byte order mark (an editor's, which JSON refuses). A
 * repository may commit either as a FIFO or a link to a device
 * (`/dev/zero`): the file is opened without blocking and read only when it is
 * a regular file of at most `maxBytes`.
 * @throws CanonError `BAD_CONFIG` naming the file when it is not a regular file or is too large, `FILE_UNREADABLE` when it cannot be read.
 */
export async function readProjectFile(path: string, maxBytes: number): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CanonError("FILE_UNREADABLE", `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new CanonError("BAD_CONFIG", `${path} is not a regular file; replace it with one`);
    if (info.size > maxBytes)
      throw new CanonError(
        "BAD_CONFIG",
        `${path} is ${info.size} bytes; it may be at most ${maxBytes} bytes`,
      );
    const bytes = await readAtMost(handle, maxBytes, info.size);
    if (bytes === undefined)
      throw new CanonError(
        "BAD_CONFIG",
        `${path} holds more than ${maxBytes} bytes (it grew while being read, or is a special file that says it is empty)`,
      );
    // A byte order mark (Notepad, PowerShell 5's `Out-File -Encoding utf8`) is no part of the JSON.
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      .toString("utf8")
      .replace(/^\uFEFF/, "");
  } catch (error) {
    if (error instanceof CanonError) throw error;
    throw new CanonError("FILE_UNREADABLE", `cannot read ${path}: ${(error as Error).message}`);
  } finally {
    await handle.close();
  }
}

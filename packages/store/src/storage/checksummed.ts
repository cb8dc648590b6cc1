import { createHash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";

/**
 * Files Canon writes and must never half-trust carry a 4-byte tag naming
 * their format, then the sha-256 of the rest, then the rest. A torn or
 * damaged file is then told apart from a good one on every read.
 */
const TAG_BYTES = 4;
const HEADER = TAG_BYTES + 32;

/** Frames `data` under a 4-character ASCII `tag` (such as `CNS1`). */
export function checksummed(tag: string, data: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(HEADER + data.length);
  bytes.set(tagBytes(tag), 0);
  bytes.set(createHash("sha256").update(data).digest(), TAG_BYTES);
  bytes.set(data, HEADER);
  return bytes;
}

/**
 * The data inside a framed file, or why it cannot be trusted: `"no header"`
 * when it does not start with `tag`, `"checksum mismatch"` when the bytes
 * changed after writing. The data is a plain `Uint8Array` view, not a Buffer.
 */
export function unchecksummed(
  tag: string,
  bytes: Uint8Array,
): { data: Uint8Array } | { damage: "no header" | "checksum mismatch" } {
  const expected = tagBytes(tag);
  if (bytes.length < HEADER || !expected.every((byte, i) => bytes[i] === byte))
    return { damage: "no header" };
  const data = bytes.subarray(HEADER);
  const digest = createHash("sha256").update(data).digest();
  if (!digest.equals(bytes.subarray(TAG_BYTES, HEADER))) return { damage: "checksum mismatch" };
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function tagBytes(tag: string): Uint8Array {
  const bytes = new TextEncoder().encode(tag);
  if (bytes.length !== TAG_BYTES) throw new Error(`a file tag is ${TAG_BYTES} ASCII characters`);
  return bytes;
}

/**
 * The checksum (hex) a framed file on disk carries, read without the rest
 * (not checked against it); undefined when there is no such file. Lets a
 * writer skip rewriting a file that already holds the same data.
 */
export async function storedChecksum(path: string): Promise<string | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, "r");
    const head = Buffer.alloc(HEADER);
    const { bytesRead } = await handle.read(head, 0, HEADER, 0);
    return bytesRead === HEADER ? head.subarray(TAG_BYTES).toString("hex") : undefined;
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

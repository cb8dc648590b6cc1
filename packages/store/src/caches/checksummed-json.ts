import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../home/atomic-write.js";
import { checksummed, unchecksummed } from "../storage/checksummed.js";
import { checksumOf, dropDamaged } from "./cache-tail.js";

// A small cache file of JSON framed as every checksummed file is
// (`storage/checksummed.ts`: a 4-character tag naming its format, the
// sha-256 of the rest, then the JSON's UTF-8 bytes). Written atomically; read
// back whole and refused (as absent) when it does not start with its tag,
// its bytes changed after writing, or it is not JSON. What the JSON holds is
// the caller's to check: this file says only that the bytes are the ones
// written under that tag.

/** The bytes of a file holding `value` as JSON under `tag` (4 ASCII characters, such as `CNH1`). */
export function encodeChecksummedJson(tag: string, value: unknown): Uint8Array {
  return checksummed(tag, new TextEncoder().encode(JSON.stringify(value)));
}

/**
 * The JSON value a file's `bytes` hold under `tag`, or undefined when they
 * are not framed under that tag, fail their checksum, or are not JSON.
 */
export function decodeChecksummedJson(tag: string, bytes: Uint8Array): unknown {
  const opened = unchecksummed(tag, bytes);
  return "data" in opened ? parsedJson(opened.data) : undefined;
}

/** The JSON value of UTF-8 bytes, or undefined when they are not JSON. */
function parsedJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data)) as unknown;
  } catch {
    return undefined;
  }
}

/** The JSON value the file at `path` holds under `tag` ({@link decodeChecksummedJson}); undefined also when it cannot be read. */
export async function readChecksummedJson(path: string, tag: string): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch {
    return undefined;
  }
  return decodeChecksummedJson(tag, bytes);
}

/**
 * {@link readChecksummedJson}, removing the file ({@link dropDamaged}) when
 * its bytes are not framed under `tag` or fail their checksum, so that a
 * writer skipping files that already carry the checksum it would write does
 * not keep a damaged one. With `checksum`, only the file carrying that
 * checksum (hex) is read: another (a file of another write) is undefined,
 * and kept.
 */
export async function readChecksummedJsonOrDrop(
  path: string,
  tag: string,
  checksum?: string,
): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch {
    return undefined;
  }
  if (checksum !== undefined && checksumOf(bytes) !== checksum) return undefined;
  const opened = unchecksummed(tag, bytes);
  if (!("data" in opened)) {
    await dropDamaged(path);
    return undefined;
  }
  return parsedJson(opened.data);
}

/**
 * {@link readChecksummedJsonOrDrop}, the file read synchronously: for the
 * many small files of one cache read together (a listing's 64 shards),
 * where a read through the thread pool (open, stat, read, close: four
 * round trips) cost more than the file. Not for a large file: it blocks.
 */
export async function readSmallChecksummedJsonOrDrop(
  path: string,
  tag: string,
  checksum: string,
): Promise<unknown> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  if (checksumOf(bytes) !== checksum) return undefined;
  const opened = unchecksummed(tag, bytes);
  if (!("data" in opened)) {
    await dropDamaged(path);
    return undefined;
  }
  return parsedJson(opened.data);
}

/** {@link readChecksummedJson}, synchronous: for a small file on a command's start-up path. */
export function readChecksummedJsonSync(path: string, tag: string): unknown {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  return decodeChecksummedJson(tag, bytes);
}

/**
 * Replaces the file at `path` (atomically, its folder made when missing)
 * with `value` as JSON under `tag`. `durable` as `writeFileAtomic`'s: a
 * cache whose reads are checked may skip the fsyncs (a power cut then
 * leaves an old or damaged file, which a read refuses).
 */
export async function writeChecksummedJson(
  path: string,
  tag: string,
  value: unknown,
  options: { readonly durable: boolean },
): Promise<void> {
  await writeFileAtomic(path, encodeChecksummedJson(tag, value), 0o644, false, options.durable);
}

import { readFile, unlink } from "node:fs/promises";
import { writeFileAtomic } from "../home/atomic-write.js";
import { checksummed, storedChecksum, unchecksummed } from "../storage/checksummed.js";

/**
 * A cache kept as a base file and a small tail file beside it that extends
 * it, so that a command which changed one standard rewrites the tail (what
 * changed since the base was written) instead of every standard's entries.
 *
 * The tail names the base it extends by the base's checksum (the sha-256
 * every checksummed file carries), and is itself checksummed:
 * `tag, sha-256, base checksum (32 bytes), data`. A reader applies a tail
 * only to the base it names; one that names another base (left behind by a
 * crash between writing a new base and removing the old tail) is ignored,
 * and the base alone is what was last written. A damaged tail makes the
 * whole cache unreadable (the caller takes its slow path), never half-read,
 * and a reader removes a damaged base or tail ({@link dropDamaged}).
 *
 * Writers append only to files this process wrote itself and that are still
 * on disk as it wrote them ({@link TailWriter}): anything else (another
 * process's write, a damaged or removed file) is a full rewrite of the base.
 */
export type TailRead =
  | { readonly kind: "none" }
  | { readonly kind: "tail"; readonly data: Uint8Array; readonly checksum: string }
  | { readonly kind: "damaged" };

/** The tail at `path` that extends the base with checksum `baseChecksum` (hex). */
export async function readTail(path: string, tag: string, baseChecksum: string): Promise<TailRead> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch {
    return { kind: "none" };
  }
  const opened = unchecksummed(tag, bytes);
  if (!("data" in opened) || opened.data.length < 32) {
    await dropDamaged(path);
    return { kind: "damaged" };
  }
  const names = Buffer.from(opened.data.subarray(0, 32)).toString("hex");
  // A tail of an earlier base: what the base alone says is what was last written.
  if (names !== baseChecksum) return { kind: "none" };
  return {
    kind: "tail",
    data: opened.data.subarray(32),
    checksum: Buffer.from(bytes.subarray(4, 36)).toString("hex"),
  };
}

/** What a process last wrote of one cache: its base's checksum and its tail's, if any. */
export interface Written<S> {
  readonly base: string;
  readonly tail: string | undefined;
  /** What the cache holds, as the writer needs it to compute the next tail. */
  readonly state: S;
}

/**
 * Remembers, per cache file, what this process last wrote there, so that a
 * later write can append to it: {@link current} returns what was written
 * when the base and tail on disk are still exactly those this process wrote.
 *
 * Writes of one process can overlap (a watch's cache refresh and a command
 * it runs): each tail names the base it was computed against, so a tail
 * written after another write replaced the base names an old base and is
 * ignored by readers (and the next write of this process is a base); two
 * tails on the same base each describe their writer's whole view, and the
 * last one written is what the files say, as with whole files.
 */
export class TailWriter<S> {
  readonly #written = new Map<string, Written<S>>();

  constructor(
    readonly tag: string,
    readonly tailTag: string,
  ) {}

  /** The tail file of the base at `basePath`. */
  static tailPathOf(basePath: string): string {
    return `${basePath}-tail`;
  }

  /**
   * What this process last wrote at `basePath`, when the files on disk are
   * still those it wrote (their stored checksums match), or undefined.
   */
  async current(basePath: string): Promise<Written<S> | undefined> {
    const written = this.#written.get(basePath);
    if (written === undefined) return undefined;
    const [base, tail] = await Promise.all([
      storedChecksum(basePath),
      storedChecksum(TailWriter.tailPathOf(basePath)),
    ]);
    if (base !== written.base || tail !== written.tail) {
      if (this.#written.get(basePath) === written) this.#written.delete(basePath);
      return undefined;
    }
    return written;
  }

  /** Writes a new base (`data`, checksummed under the tag) and removes any tail; remembers `state`. */
  async writeBase(basePath: string, data: Uint8Array, state: S): Promise<void> {
    this.#written.delete(basePath);
    const file = checksummed(this.tag, data);
    await writeFileAtomic(basePath, file, 0o644, false, NOT_DURABLE);
    // A tail left now would name the old base, and be ignored; removed so it never lingers.
    await unlink(TailWriter.tailPathOf(basePath)).catch(() => {});
    this.#written.set(basePath, { base: checksumOf(file), tail: undefined, state });
  }

  /** Replaces the tail of the base `previous` ({@link current}) names; remembers `state`. */
  async writeTail(
    basePath: string,
    previous: Written<S>,
    data: Uint8Array,
    state: S,
  ): Promise<void> {
    this.#written.delete(basePath);
    const framed = new Uint8Array(32 + data.length);
    framed.set(Buffer.from(previous.base, "hex"), 0);
    framed.set(data, 32);
    const file = checksummed(this.tailTag, framed);
    await writeFileAtomic(TailWriter.tailPathOf(basePath), file, 0o644, false, NOT_DURABLE);
    this.#written.set(basePath, { base: previous.base, tail: checksumOf(file), state });
  }

  /** Forgets what was written at `basePath` (the next write is a base). */
  forget(basePath: string): void {
    this.#written.delete(basePath);
  }
}

/**
 * Removes a cache file found damaged, so that its writer (which appends only
 * to files still on disk as it wrote them, judged by the checksum they carry)
 * writes it whole again instead of appending to damaged bytes.
 */
export async function dropDamaged(path: string): Promise<void> {
  await unlink(path).catch(() => {});
}

/** The checksum (hex) a checksummed file carries. */
export function checksumOf(file: Uint8Array): string {
  return Buffer.from(file.subarray(4, 36)).toString("hex");
}

/**
 * Caches are written without fsync (`writeFileAtomic`'s `durable`): every
 * read checks the checksum, and every answer a cache gives is tied to the
 * disk proof's fingerprint (the proof itself is written durably, after the
 * caches). A power cut then leaves a cache old, empty or partial: refused,
 * or describing other files than the proof, so the slow path runs; never a
 * wrong answer. What `kill -9` interrupts is atomic either way (rename).
 */
export const NOT_DURABLE = false;

/** A tail is rewritten whole each time; past this size the next write is a new base instead. */
export const MAX_TAIL_BYTES = 256 * 1024;

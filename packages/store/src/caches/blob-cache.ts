import { createHash } from "node:crypto";
import { access, mkdir, readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";

/** How many blobs {@link BlobCache.putAll} writes at once. */
const WRITES_AT_ONCE = 16;

/**
 * Release bodies by content CID, one file each under `$CANON_HOME/blobs`.
 * Reading a pinned version needs only this (no Automerge): the bytes are
 * hashed on every read and returned only if they match the CID, so a
 * damaged or edited blob is never served.
 */
export class BlobCache {
  readonly #directory: string;

  /** A cache in `home.blobs`. */
  constructor(home: CanonHome) {
    this.#directory = home.blobs;
  }

  /** The file holding a content CID's bytes. */
  pathOf(contentCid: string): string {
    return join(this.#directory, contentCid);
  }

  /**
   * Stores bytes already known to match `contentCid`. Not fsynced: every
   * read hashes the bytes, so what a power cut leaves is refused (and
   * removed), and the next command that loads the replica writes it again (a join writes
   * thousands of blobs; an fsync each would cost seconds).
   */
  async put(contentCid: string, bytes: Uint8Array): Promise<void> {
    await writeFileAtomic(this.pathOf(contentCid), bytes, 0o644, false, false);
  }

  /**
   * Stores many blobs, each already known to match its CID, as {@link put}
   * does (atomically, not fsynced), several at once: a join fills the cache
   * with 10,000 blobs, and one write after another waits on the disk for
   * each (3.4 s of a 1,000-standard join, against ~0.5 s at once). The
   * folder is created once. Resolves when every blob is written; throws
   * the first error after the writes under way have ended.
   */
  async putAll(blobs: Iterable<readonly [contentCid: string, bytes: Uint8Array]>): Promise<void> {
    const queue = [...blobs];
    if (queue.length === 0) return;
    await mkdir(this.#directory, { recursive: true });
    let next = 0;
    const worker = async () => {
      while (next < queue.length) {
        const [cid, bytes] = queue[next++] as readonly [string, Uint8Array];
        await writeFileAtomic(this.pathOf(cid), bytes, 0o644, false, false, false);
      }
    };
    const results = await Promise.allSettled(
      Array.from({ length: Math.min(WRITES_AT_ONCE, queue.length) }, worker),
    );
    const failed = results.find((result) => result.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  /**
   * The content CIDs with a file in the cache (not checked), in one listing
   * of the folder: what a caller about to store thousands of blobs asks
   * instead of {@link has} for each.
   */
  async stored(): Promise<Set<string>> {
    try {
      return new Set((await readdir(this.#directory)).filter((name) => !name.includes(".tmp-")));
    } catch {
      return new Set();
    }
  }

  /** True when a file for the CID exists (not checked). */
  async has(contentCid: string): Promise<boolean> {
    try {
      await access(this.pathOf(contentCid));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The bytes for a raw sha2-256 content CID, or undefined when absent or
   * when they no longer hash to it. `sha256Hex` is the CID's digest in hex.
   */
  async get(contentCid: string, sha256Hex: string): Promise<Uint8Array | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.pathOf(contentCid));
    } catch {
      return undefined;
    }
    if (createHash("sha256").update(bytes).digest("hex") === sha256Hex) return bytes;
    // Damaged or edited: remove it, so the next command that loads the replica writes it again.
    await unlink(this.pathOf(contentCid)).catch(() => {});
    return undefined;
  }
}

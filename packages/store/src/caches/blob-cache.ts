import { createHash } from "node:crypto";
import { access, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";

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

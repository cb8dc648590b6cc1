import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { CHUNK_KINDS, pathOfKey } from "@canon/store";

/**
 * How large each document the relay stores is, as far as the per-document
 * limit is concerned: the bytes of its chunks on disk when the relay first
 * hears of it, plus the bytes of every new change accepted since. It only
 * grows while the process runs (compaction on disk is not subtracted), so it
 * errs towards refusing, never towards storing more than the limit.
 */
export class DocumentSizes {
  readonly #directory: string;
  readonly #sizes = new Map<string, number>();

  /** Sizes of the documents stored under `directory` (the relay's data dir). */
  constructor(directory: string) {
    this.#directory = directory;
  }

  /** True when `documentId` has chunks on disk. Costs one `stat`. */
  async isStored(documentId: string): Promise<boolean> {
    try {
      return (await stat(pathOfKey(this.#directory, [documentId]))).isDirectory();
    } catch {
      return false;
    }
  }

  /** The document's size in bytes; the first call for a document reads its chunks' sizes. */
  async sizeOf(documentId: string): Promise<number> {
    const known = this.#sizes.get(documentId);
    if (known !== undefined) return known;
    let total = 0;
    for (const kind of CHUNK_KINDS) {
      const folder = pathOfKey(this.#directory, [documentId, kind]);
      let names: string[];
      try {
        names = await readdir(folder);
      } catch {
        continue;
      }
      for (const name of names) {
        try {
          total += (await stat(join(folder, name))).size;
        } catch {
          // Compacted away while we listed it.
        }
      }
    }
    // Another message may have been counted while we read the disk.
    const size = Math.max(total, this.#sizes.get(documentId) ?? 0);
    this.#sizes.set(documentId, size);
    return size;
  }

  /** Records `bytes` of new changes accepted for `documentId` (after {@link DocumentSizes.sizeOf}). */
  add(documentId: string, bytes: number): void {
    this.#sizes.set(documentId, (this.#sizes.get(documentId) ?? 0) + bytes);
  }
}

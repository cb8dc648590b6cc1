import type { RelayStorage } from "../storage/relay-storage.js";

/**
 * How large each document the relay stores is, as far as the per-document
 * limit is concerned: the bytes of its chunks in storage when the relay first
 * hears of it, plus the bytes of every new change accepted since. It only
 * grows while the process runs (compaction is not subtracted, nor are other
 * relays' writes on a shared database added), so it errs towards refusing,
 * never towards storing more than the limit.
 */
export class DocumentSizes {
  readonly #storage: Pick<RelayStorage, "hasDocument" | "storedBytes">;
  readonly #sizes = new Map<string, number>();

  /** Sizes of the documents in `storage` (the relay's directory or database). */
  constructor(storage: Pick<RelayStorage, "hasDocument" | "storedBytes">) {
    this.#storage = storage;
  }

  /** True when `documentId` has chunks stored. Costs one `stat` or one query. */
  isStored(documentId: string): Promise<boolean> {
    return this.#storage.hasDocument(documentId);
  }

  /** The document's size in bytes; the first call for a document reads its chunks' sizes. */
  async sizeOf(documentId: string): Promise<number> {
    const known = this.#sizes.get(documentId);
    if (known !== undefined) return known;
    const total = await this.#storage.storedBytes(documentId);
    // Another message may have been counted while we read the storage.
    const size = Math.max(total, this.#sizes.get(documentId) ?? 0);
    this.#sizes.set(documentId, size);
    return size;
  }

  /** Records `bytes` of new changes accepted for `documentId` (after {@link DocumentSizes.sizeOf}). */
  add(documentId: string, bytes: number): void {
    this.#sizes.set(documentId, (this.#sizes.get(documentId) ?? 0) + bytes);
  }
}

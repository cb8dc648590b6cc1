import type { RelayStorage } from "../storage/relay-storage.js";

/**
 * How large each document the relay stores is, as far as the per-document
 * limit is concerned: the bytes of its chunks in storage when the relay first
 * hears of it, plus the bytes of every new change accepted since. Compaction
 * is not subtracted while the count is held, so it errs towards refusing.
 * The count is read from storage again when the document leaves memory (it
 * was saved first) and, on a shared database, whenever another relay writes
 * to it (the notification says so): the database's size then includes that
 * relay's write, so the limit holds across relays (see
 * docs/decisions/2026-11-29-relay-memory.md for the window where it does not).
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

  /**
   * Forgets the document's size: another relay on the database wrote to it
   * (the next check reads the stored size again, which includes that
   * write), or it left memory.
   */
  forget(documentId: string): void {
    this.#sizes.delete(documentId);
  }

  /** Forgets every document's size (notices from other relays may have been missed). */
  forgetAll(): void {
    this.#sizes.clear();
  }

  /** Records `bytes` of new changes accepted for `documentId` (after {@link DocumentSizes.sizeOf}). */
  add(documentId: string, bytes: number): void {
    this.#sizes.set(documentId, (this.#sizes.get(documentId) ?? 0) + bytes);
  }
}

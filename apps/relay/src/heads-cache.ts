import type { Chunk, StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo";

/** What the heads summary needs of a stored document: its heads and, for a space, the documents it routes to. */
export interface DocumentHeads {
  /** The document's heads, encoded as automerge-repo does, sorted. */
  readonly heads: readonly string[];
  /** The document ids its `standards` and `feeds` maps name (empty for a document that is not a space). */
  readonly routed: readonly string[];
}

/** How many heads and routed ids the cache holds at most, over all documents (about 100 bytes each). */
export const DEFAULT_HEADS_CACHE_WEIGHT = 400_000;

/**
 * The heads of stored documents that are not in memory, as `GET /heads/<space>`
 * last read them, so that asking again costs no storage read. Every write to
 * a document's chunks through this relay's storage, and every notification
 * of another relay's write, forgets the document. Bounded by weight (one per
 * entry plus one per head and routed id), least recently used first out.
 * A read that a write overtakes is not cached.
 */
export class HeadsCache {
  readonly #maxWeight: number;
  readonly #entries = new Map<string, DocumentHeads>();
  /** Per document being read now: set to true when a write lands meanwhile. */
  readonly #reading = new Map<string, { stale: boolean }>();
  #weight = 0;

  /** A cache holding at most `maxWeight` (see {@link DEFAULT_HEADS_CACHE_WEIGHT}). */
  constructor(maxWeight = DEFAULT_HEADS_CACHE_WEIGHT) {
    this.#maxWeight = maxWeight;
  }

  /** Entries held now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The document's cached heads, else what `read` answers (cached unless a
   * write to the document landed while it ran). `read` answering undefined
   * (nothing stored) is not cached.
   */
  async get(
    documentId: string,
    read: () => Promise<DocumentHeads | undefined>,
  ): Promise<DocumentHeads | undefined> {
    const cached = this.#entries.get(documentId);
    if (cached !== undefined) {
      // Most recently used last.
      this.#entries.delete(documentId);
      this.#entries.set(documentId, cached);
      return cached;
    }
    const reading = this.#reading.get(documentId) ?? { stale: false };
    this.#reading.set(documentId, reading);
    try {
      const value = await read();
      if (value !== undefined && !reading.stale) this.#add(documentId, value);
      return value;
    } finally {
      if (this.#reading.get(documentId) === reading) this.#reading.delete(documentId);
    }
  }

  /** Forgets the document: it was written (here or by another relay on the database) or left memory. */
  invalidate(documentId: string): void {
    const reading = this.#reading.get(documentId);
    if (reading !== undefined) reading.stale = true;
    const entry = this.#entries.get(documentId);
    if (entry === undefined) return;
    this.#entries.delete(documentId);
    this.#weight -= weightOf(entry);
  }

  /** Forgets everything (notifications from other relays may have been missed). */
  clear(): void {
    for (const reading of this.#reading.values()) reading.stale = true;
    this.#entries.clear();
    this.#weight = 0;
  }

  #add(documentId: string, value: DocumentHeads): void {
    this.invalidate(documentId);
    const weight = weightOf(value);
    if (weight > this.#maxWeight) return;
    this.#entries.set(documentId, value);
    this.#weight += weight;
    for (const [oldest, entry] of this.#entries) {
      if (this.#weight <= this.#maxWeight) break;
      this.#entries.delete(oldest);
      this.#weight -= weightOf(entry);
    }
  }
}

function weightOf(entry: DocumentHeads): number {
  return 1 + entry.heads.length + entry.routed.length;
}

/**
 * `storage` with every write and removal of a document's content reported
 * to `written` (with the key's document id) once it has finished, so caches of what is stored
 * forget it. Reads pass through.
 */
export function reportingWrites(
  storage: StorageAdapterInterface,
  written: (documentId: string) => void,
): StorageAdapterInterface {
  const after = async (key: StorageKey, write: Promise<void>) => {
    try {
      await write;
    } finally {
      // A sync state (which heads a peer had) is not the document's content, and
      // the storage's own id (saved by automerge-repo once, at any moment) is no document.
      if (key[0] !== undefined && key[0] !== "storage-adapter-id" && key[1] !== "sync-state")
        written(key[0]);
    }
  };
  return {
    load: (key) => storage.load(key),
    loadRange: (prefix): Promise<Chunk[]> => storage.loadRange(prefix),
    save: (key, data) => after(key, storage.save(key, data)),
    remove: (key) => after(key, storage.remove(key)),
    removeRange: (prefix) => after(prefix, storage.removeRange(prefix)),
  };
}

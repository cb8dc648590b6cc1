import * as A from "@automerge/automerge";
import type { DocumentId, Repo } from "@automerge/automerge-repo";

/**
 * Saves a document now (instead of after the Repo's save debounce) for
 * whoever must know it is stored, one save per document at a time, and
 * remembers which heads are known to be stored. Several peers waiting on one
 * document share the work: a save queued behind another finds the heads
 * already stored and writes nothing. Without the queue, each waiter would
 * start its own save of the same changes (the Repo records what is stored
 * only once a save finishes), one commit each.
 */
export class DocumentFlushes {
  readonly #repo: () => Repo | undefined;
  readonly #queues = new Map<string, Promise<void>>();
  /** Per document, heads (sorted, joined) known to be in storage. */
  readonly #storedHeads = new Map<string, string>();

  /** Flushes through the Repo `repo()` answers (undefined while it starts). */
  constructor(repo: () => Repo | undefined) {
    this.#repo = repo;
  }

  /**
   * Resolves once every change the Repo holds of `documentId` when called is
   * stored (for the database, committed): at once when those heads are known
   * to be stored already. A document still loading has nothing in memory to
   * store yet, and resolves at once.
   * @throws what the storage throws (a closed database).
   */
  stored(documentId: string): Promise<void> {
    const repo = this.#repo();
    const handle = repo?.handles[documentId as DocumentId];
    if (repo === undefined || handle === undefined || !handle.isReady()) return Promise.resolve();
    const heads = A.getHeads(handle.doc());
    if (this.isStored(documentId, heads)) return Promise.resolve();
    const previous = this.#queues.get(documentId) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(() => repo.flush([documentId as DocumentId]))
      .then(() => this.markStored(documentId, heads))
      .finally(() => {
        if (this.#queues.get(documentId) === next) this.#queues.delete(documentId);
      });
    this.#queues.set(documentId, next);
    return next;
  }

  /** True when `heads` of the document are known to be stored. */
  isStored(documentId: string, heads: readonly string[]): boolean {
    return this.#storedHeads.get(documentId) === keyOf(heads);
  }

  /**
   * Records that the document's state at `heads` is stored: after a save, or
   * after merging chunks read from storage into a state that was stored.
   */
  markStored(documentId: string, heads: readonly string[]): void {
    this.#storedHeads.set(documentId, keyOf(heads));
  }

  /** Forgets what is known of the document (it left memory; a later load starts afresh). */
  forget(documentId: string): void {
    this.#storedHeads.delete(documentId);
  }
}

function keyOf(heads: readonly string[]): string {
  return [...heads].sort().join(",");
}

import type { DocumentId, Repo } from "@automerge/automerge-repo";

/**
 * Saves a document now (instead of after the Repo's save debounce) for
 * whoever must know it is stored, one save per document at a time. Several
 * peers waiting on one document share the work: a save queued behind another
 * finds the heads already stored and writes nothing. Without the queue, each
 * waiter would start its own save of the same changes (the Repo records what
 * is stored only once a save finishes), one commit each.
 */
export class DocumentFlushes {
  readonly #repo: () => Repo | undefined;
  readonly #queues = new Map<string, Promise<void>>();

  /** Flushes through the Repo `repo()` answers (undefined while it starts). */
  constructor(repo: () => Repo | undefined) {
    this.#repo = repo;
  }

  /**
   * Resolves once every change the Repo holds of `documentId` when called is
   * stored (for the database, committed). A document still loading has
   * nothing in memory to store yet, and resolves at once.
   * @throws what the storage throws (a closed database).
   */
  stored(documentId: string): Promise<void> {
    const repo = this.#repo();
    const handle = repo?.handles[documentId as DocumentId];
    if (repo === undefined || handle === undefined || !handle.isReady()) return Promise.resolve();
    const previous = this.#queues.get(documentId) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(() => repo.flush([documentId as DocumentId]))
      .finally(() => {
        if (this.#queues.get(documentId) === next) this.#queues.delete(documentId);
      });
    this.#queues.set(documentId, next);
    return next;
  }
}

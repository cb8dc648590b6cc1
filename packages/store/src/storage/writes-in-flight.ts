import type { StorageAdapterInterface } from "@automerge/automerge-repo";

/**
 * automerge-repo's save throttle: a document's save and a peer's sync-state
 * save may start up to this long after the message that caused them.
 */
const SAVE_THROTTLE_MS = 100;

/**
 * Counts the writes (`save`, `remove`, `removeRange`) a Repo makes through
 * one storage, so whoever closes it can wait for the ones automerge-repo
 * scheduled on its own (a peer's throttled sync-state save) before closing
 * the storage or removing its directory. Without it, such a save landed
 * after a relay had stopped: in a directory already removed (an unhandled
 * `ENOENT`) or in a closed database. Used by the relay's stop and by
 * {@link Replica.writesSettled}.
 */
export class WritesInFlight {
  readonly #running = new Set<Promise<unknown>>();
  #started = 0;

  /** `storage`, with every write counted here. Reads pass through. */
  wrap(storage: StorageAdapterInterface): StorageAdapterInterface {
    const count = <T>(write: Promise<T>): Promise<T> => {
      this.#started += 1;
      this.#running.add(write);
      const forget = () => this.#running.delete(write);
      write.then(forget, forget);
      return write;
    };
    return {
      load: (key) => storage.load(key),
      loadRange: (prefix) => storage.loadRange(prefix),
      save: (key, data) => count(storage.save(key, data)),
      remove: (key) => count(storage.remove(key)),
      removeRange: (prefix) => count(storage.removeRange(prefix)),
    };
  }

  /**
   * Resolves once no write is running and none started during a whole
   * throttle window after that (every save automerge-repo scheduled before
   * the call has then run), or once `timeoutMs` has passed, whichever comes
   * first: a storage that hangs must not hang a relay's stop for ever.
   * A write that fails is not this method's to report (the Repo does).
   */
  async settled(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const before = this.#started;
      await Promise.race([
        Promise.allSettled([...this.#running]),
        new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now()))),
      ]);
      await new Promise((resolve) => setTimeout(resolve, SAVE_THROTTLE_MS * 2));
      if (this.#started === before && this.#running.size === 0) return;
    }
  }
}

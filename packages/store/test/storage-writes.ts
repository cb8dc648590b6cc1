import type { StorageAdapterInterface } from "@automerge/automerge-repo";

/**
 * automerge-repo's default `saveDebounceRate`: a document's save and a
 * peer's sync-state save are throttled by this much, so either may start up
 * to this long after what caused it (after a replica's `close()` returned).
 */
const THROTTLE_MS = 100;

/** Writes of one storage adapter, counted so a test removes its directory only once they landed. */
export interface StorageWrites {
  /**
   * Resolves once no write is in flight and none started during a whole
   * throttle window after that: every throttled save scheduled before the
   * call has then run (Node fires timers in the order of their deadlines)
   * and landed.
   */
  settled(): Promise<void>;
}

/**
 * Counts the writes (`save`, `remove`, `removeRange`) of `storage`, which
 * keep doing what they do. Call before the Repo uses the storage.
 */
export function countWrites(storage: StorageAdapterInterface): StorageWrites {
  const inFlight = new Set<Promise<unknown>>();
  let started = 0;
  for (const name of ["save", "remove", "removeRange"] as const) {
    const write = storage[name].bind(storage) as (...args: unknown[]) => Promise<void>;
    (storage as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      started += 1;
      const running = write(...args);
      inFlight.add(running);
      const forget = () => inFlight.delete(running);
      running.then(forget, forget);
      return running;
    };
  }
  return {
    settled: async () => {
      for (;;) {
        await Promise.allSettled([...inFlight]);
        const before = started;
        await new Promise((resolve) => setTimeout(resolve, THROTTLE_MS * 2));
        if (started === before && inFlight.size === 0) return;
      }
    },
  };
}

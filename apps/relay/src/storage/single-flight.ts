/**
 * Wraps an asynchronous check so that calls made while one is running share
 * its answer instead of starting their own: at most one runs at a time,
 * whatever the number of callers, and a call made after it settled starts a
 * fresh one (nothing is cached). For the storage's health and document count,
 * which every `GET /healthz` asks for: each health check opened a database
 * connection of its own, and a flood of requests (every sync, join and watch
 * asks it first; anyone on an open relay may) opened as many at once, up to
 * every connection the database allows, for this relay and every other relay
 * on that database.
 */
export function singleFlight<T>(work: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () => {
    if (running !== undefined) return running;
    const started = work().finally(() => {
      if (running === started) running = undefined;
    });
    running = started;
    return started;
  };
}

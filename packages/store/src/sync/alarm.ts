/**
 * Wakes a waiting loop: {@link Alarm.wait} resolves after a timeout, when the
 * signal aborts, or as soon as {@link Alarm.ring} is called (also when it was
 * rung before the wait began), so a long-running loop reacts to events at
 * once without polling.
 */
export class Alarm {
  #rung = false;
  #wake: (() => void) | undefined;

  /** Wakes the current wait, or the next one. */
  ring(): void {
    this.#rung = true;
    this.#wake?.();
  }

  /** Waits for a ring, `ms` milliseconds, or the signal to abort, whichever comes first. */
  async wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (!this.#rung && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          this.#wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal?.addEventListener("abort", done, { once: true });
        this.#wake = done;
      });
    }
    this.#rung = false;
  }
}

/** Resolves after `ms` milliseconds, or at once when `signal` (if any) aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Alarm().wait(ms, signal);
}

/**
 * The owner's one line of work: commands, refreshes and reconnections run
 * one after the other, each after everything queued before it. A job that
 * fails (a cache write after an answer that could not take the home lock, a
 * refresh that threw) is reported to `failed` and does not stop the jobs
 * after it: a promise chain of `queue = queue.then(job)` stays rejected
 * after one failure and skips every later job, so every later command would
 * wait for an answer that never comes.
 */
export class CommandQueue {
  #tail: Promise<void> = Promise.resolve();

  /** @param failed told of each job that threw or rejected (the owner traces it). */
  constructor(private readonly failed: (error: unknown) => void = () => {}) {}

  /** Runs `job` once every job queued before it has settled. */
  add(job: () => Promise<void>): void {
    this.#tail = this.#tail.then(job).catch((error: unknown) => this.failed(error));
  }

  /** Resolves once every job queued so far has settled (never rejects). */
  settled(): Promise<void> {
    return this.#tail;
  }
}

import { AddressBudgets } from "./address-budgets.js";

/** Summaries computed at once; the others wait their turn. */
const MAX_RUNNING = 4;

/** Summaries waiting for a turn; past this, a request is answered 503 at once. */
const MAX_WAITING = 256;

/** Why a heads request was not answered: `rate` (429) or `busy` (503). */
export type HeadsRefusal = "rate" | "busy";

/**
 * What `GET /heads/<space>` may cost: each remote address may ask
 * `perMinute` times a minute (a token bucket, as the WebSocket budgets), at
 * most {@link MAX_RUNNING} summaries are computed at once and
 * {@link MAX_WAITING} wait, so no client (authenticated or not, on a relay
 * without a token) can make the relay read its storage without bound. A
 * refused client loses nothing: without a summary, `canon sync` exchanges
 * every document.
 */
export class HeadsRequests {
  readonly #budgets: AddressBudgets;
  readonly #maxRunning: number;
  readonly #maxWaiting: number;
  readonly #waiting: (() => void)[] = [];
  #running = 0;

  /**
   * Admits `perMinute` requests a minute from each address, and runs at most
   * `turns.running` at once with `turns.waiting` in line (by default
   * {@link MAX_RUNNING} and {@link MAX_WAITING}; the bulk answer of
   * `GET /documents` takes fewer).
   */
  constructor(
    perMinute: number,
    turns: { readonly running: number; readonly waiting: number } = {
      running: MAX_RUNNING,
      waiting: MAX_WAITING,
    },
  ) {
    this.#budgets = new AddressBudgets(perMinute);
    this.#maxRunning = turns.running;
    this.#maxWaiting = turns.waiting;
  }

  /**
   * Runs `work` once the request from `address` is admitted and a turn is
   * free; answers why not otherwise, without running it.
   */
  async run<T>(address: string, work: () => Promise<T>): Promise<T | HeadsRefusal> {
    if (!this.#budgets.of(address).take(1)) return "rate";
    if (this.#running >= this.#maxRunning) {
      if (this.#waiting.length >= this.#maxWaiting) return "busy";
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else this.#running += 1;
    try {
      return await work();
    } finally {
      // The turn passes to the next in line, or is given back.
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#running -= 1;
    }
  }
}

import { AddressBudgets, addressKey } from "./address-budgets.js";

/** Summaries computed at once; the others wait their turn. */
const MAX_RUNNING = 4;

/** Summaries waiting for a turn; past this, a request is answered 503 at once. */
const MAX_WAITING = 256;

/** Requests of one address (its /64 for IPv6) running or waiting at once; past this, 503 at once. */
const MAX_PER_ADDRESS = 16;

/** Why a heads request was not answered: `rate` (429) or `busy` (503). */
export type HeadsRefusal = "rate" | "busy";

/**
 * What `GET /heads/<space>` may cost: each remote address may ask
 * `perMinute` times a minute (a token bucket, as the WebSocket budgets), at
 * most {@link MAX_RUNNING} summaries are computed at once and
 * {@link MAX_WAITING} wait, and one address holds at most
 * {@link MAX_PER_ADDRESS} of these places at once (running or waiting), so
 * no client (authenticated or not, on a relay without a token) can make the
 * relay read its storage without bound, nor fill every turn and the line
 * so that others are refused. A
 * refused client loses nothing: without a summary, `canon sync` exchanges
 * every document.
 */
export class HeadsRequests {
  readonly #budgets: AddressBudgets;
  readonly #maxRunning: number;
  readonly #maxWaiting: number;
  readonly #maxPerAddress: number;
  readonly #waiting: (() => void)[] = [];
  /** Requests running or waiting, by {@link addressKey}. */
  readonly #held = new Map<string, number>();
  #running = 0;

  /**
   * Admits `perMinute` requests a minute from each address, and runs at most
   * `turns.running` at once with `turns.waiting` in line, at most
   * `turns.perAddress` of them from one address (by default
   * {@link MAX_RUNNING}, {@link MAX_WAITING} and {@link MAX_PER_ADDRESS};
   * the bulk answer of `GET /documents` takes fewer).
   */
  constructor(
    perMinute: number,
    turns: {
      readonly running: number;
      readonly waiting: number;
      readonly perAddress?: number;
    } = {
      running: MAX_RUNNING,
      waiting: MAX_WAITING,
    },
  ) {
    this.#budgets = new AddressBudgets(perMinute);
    this.#maxRunning = turns.running;
    this.#maxWaiting = turns.waiting;
    this.#maxPerAddress = turns.perAddress ?? MAX_PER_ADDRESS;
  }

  /**
   * Runs `work` once the request from `address` is admitted and a turn is
   * free; answers why not otherwise, without running it.
   */
  async run<T>(address: string, work: () => Promise<T>): Promise<T | HeadsRefusal> {
    const key = addressKey(address);
    const held = this.#held.get(key) ?? 0;
    // Refused before the budget is drawn on: this address already holds its share of the places.
    if (held >= this.#maxPerAddress) return "busy";
    if (!this.#budgets.of(address).take(1)) return "rate";
    if (this.#running >= this.#maxRunning && this.#waiting.length >= this.#maxWaiting)
      return "busy";
    this.#held.set(key, held + 1);
    try {
      if (this.#running >= this.#maxRunning)
        await new Promise<void>((resolve) => this.#waiting.push(resolve));
      else this.#running += 1;
      try {
        return await work();
      } finally {
        // The turn passes to the next in line, or is given back.
        const next = this.#waiting.shift();
        if (next !== undefined) next();
        else this.#running -= 1;
      }
    } finally {
      const left = (this.#held.get(key) ?? 1) - 1;
      if (left > 0) this.#held.set(key, left);
      else this.#held.delete(key);
    }
  }
}

/**
 * A token bucket: `perMinute` units, refilled evenly over a minute. Bursts up
 * to the full minute's worth are allowed (a client pushing a document at
 * once), a sustained flood is not. Time comes from `now` so tests need not
 * wait a minute.
 */
export class RateBudget {
  readonly #perMinute: number;
  readonly #now: () => number;
  #available: number;
  #checkedAt: number;

  /** A full bucket of `perMinute` units. */
  constructor(perMinute: number, now: () => number = Date.now) {
    this.#perMinute = perMinute;
    this.#now = now;
    this.#available = perMinute;
    this.#checkedAt = now();
  }

  /** Takes `amount` units and returns true, or takes nothing and returns false when fewer are left. */
  take(amount: number): boolean {
    this.#refill();
    if (amount > this.#available) return false;
    this.#available -= amount;
    return true;
  }

  /**
   * Takes `amount` units whatever is left, for a cost known only once paid
   * (the time a check took): the bucket may go below zero, and refills from there.
   */
  spend(amount: number): void {
    this.#refill();
    this.#available -= amount;
  }

  /** Milliseconds until the bucket holds more than nothing again (0 when it does now). */
  msUntilAvailable(): number {
    this.#refill();
    if (this.#available > 0) return 0;
    return Math.ceil(((1 - this.#available) * 60_000) / this.#perMinute);
  }

  #refill(): void {
    const now = this.#now();
    const refilled = ((now - this.#checkedAt) * this.#perMinute) / 60_000;
    this.#available = Math.min(this.#perMinute, this.#available + refilled);
    this.#checkedAt = now;
  }
}

import { RateBudget } from "./rate-budget.js";

/** Addresses whose budgets are remembered; past this, the least recently used are forgotten (they start full again). */
const MAX_ADDRESSES = 10_000;

/**
 * One {@link RateBudget} per remote address, shared by every connection (or
 * request) from it, so a peer that reconnects, or opens many connections at
 * once, draws on the budget it already spent instead of a fresh one. An IPv4
 * address written as IPv6 (`::ffff:1.2.3.4`) is the same address. At most
 * {@link MAX_ADDRESSES} are remembered, the least recently used forgotten
 * first: a budget forgotten that way has had time to refill, unless
 * thousands of addresses are spending at once.
 */
export class AddressBudgets {
  readonly #perMinute: number;
  readonly #maxAddresses: number;
  readonly #budgets = new Map<string, RateBudget>();

  /** Budgets of `perMinute` units a minute each (see {@link RateBudget}). */
  constructor(perMinute: number, maxAddresses = MAX_ADDRESSES) {
    this.#perMinute = perMinute;
    this.#maxAddresses = maxAddresses;
  }

  /** The budget of `address` (a socket's `remoteAddress`; `undefined` counts as one unknown address). */
  of(address: string | undefined): RateBudget {
    const key = addressKey(address);
    let budget = this.#budgets.get(key);
    if (budget !== undefined) {
      // Most recently used last, so the first key is the one to forget.
      this.#budgets.delete(key);
    } else {
      budget = new RateBudget(this.#perMinute);
      if (this.#budgets.size >= this.#maxAddresses) {
        const oldest = this.#budgets.keys().next().value;
        if (oldest !== undefined) this.#budgets.delete(oldest);
      }
    }
    this.#budgets.set(key, budget);
    return budget;
  }
}

/** The address a budget is kept for: `remoteAddress` without an IPv4-mapped prefix. */
export function addressKey(address: string | undefined): string {
  if (address === undefined) return "?";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

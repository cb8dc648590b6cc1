import ipaddr from "ipaddr.js";
import { RateBudget } from "./rate-budget.js";

/** Addresses whose budgets are remembered; past this, the least recently used are forgotten (they start full again). */
const MAX_ADDRESSES = 10_000;

/**
 * One {@link RateBudget} per remote address, shared by every connection (or
 * request) from it, so a peer that reconnects, or opens many connections at
 * once, draws on the budget it already spent instead of a fresh one. An IPv4
 * address written as IPv6 (`::ffff:1.2.3.4`) is the same address; an IPv6
 * address counts as its /64 (see {@link addressKey}). At most
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

/** How many leading bits of an IPv6 address name who holds it: one /64 is what one subscriber gets. */
const IPV6_PREFIX_BITS = 64;

/**
 * What a budget is kept for: an IPv4 address (also when written as IPv6,
 * `::ffff:1.2.3.4`), or the /64 an IPv6 address is in (`2001:db8:1:2::/64`):
 * a single subscriber is handed a whole /64 and can take any address in it,
 * so budgets per exact address would give one attacker 2^64 of them. Text
 * that is no address (never from a socket) is kept as it is.
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined) return "?";
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return address;
  }
  if (parsed.kind() === "ipv4") return parsed.toString();
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  const prefix = new ipaddr.IPv6([...v6.parts.slice(0, IPV6_PREFIX_BITS / 16), 0, 0, 0, 0]);
  return `${prefix.toString()}/${IPV6_PREFIX_BITS}`;
}

import { addressKey } from "./address-budgets.js";

/**
 * Connections (WebSocket upgrades, from the request on) one address may hold
 * open at once. A home holds one (its owner, or the command that syncs), so
 * this leaves room for a large office behind one NAT, while one peer can no
 * longer open sockets until the relay runs out of file descriptors or memory.
 */
export const MAX_CONNECTIONS_PER_ADDRESS = 256;

/**
 * Counts the open connections of each address (an IPv6 address as its /64,
 * see {@link addressKey}), so that the relay refuses an upgrade past
 * `limit` before any work is done for it.
 */
export class AddressConnections {
  readonly #limit: number;
  readonly #open = new Map<string, number>();

  /** At most `limit` connections per address ({@link MAX_CONNECTIONS_PER_ADDRESS} by default). */
  constructor(limit = MAX_CONNECTIONS_PER_ADDRESS) {
    this.#limit = limit;
  }

  /**
   * Counts a new connection of `address` and returns the function that
   * uncounts it (call it once, when the connection closes); undefined, and
   * nothing counted, when the address holds `limit` already.
   */
  open(address: string | undefined): (() => void) | undefined {
    const key = addressKey(address);
    const count = this.#open.get(key) ?? 0;
    if (count >= this.#limit) return undefined;
    this.#open.set(key, count + 1);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left > 0) this.#open.set(key, left);
      else this.#open.delete(key);
    };
  }
}

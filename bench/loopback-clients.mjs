// The benchmarks' clients each connect from an address of their own.
//
// A relay keeps its limits per remote address (256 connections at once, and
// budgets of bytes and new documents a minute: apps/relay/src/guard/), as it
// must: one address is one peer to it. A benchmark's clients all run on this
// machine, and from 127.0.0.1 the 257th is refused, and every client would
// draw on one shared budget, which no real deployment of a thousand users
// does. On Linux the whole of 127.0.0.0/8 is this machine, so client `i`
// connects from 127.0.x.y of its own, as a thousand users would from a
// thousand addresses; the relay's limits stay as they are.
import net from "node:net";

/** The loopback address client `index` connects from: 127.0.0.2 onwards (127.0.0.1 stays the relay's own). */
export function loopbackAddress(index) {
  const n = index + 2;
  if (n >= 256 ** 3 - 1) throw new Error(`no loopback address for client ${index}`);
  return `127.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

/**
 * A subclass of `RelayClient` (packages/store) whose sockets connect from
 * `localAddress`. The WebSocket client (`ws`) opens its TCP connection
 * synchronously inside the adapter's `connect`, through `net.connect`, and
 * takes no local address from automerge-repo's adapter: `net.connect` is
 * given one for the duration of that call only.
 */
export function loopbackClientClass(RelayClient) {
  return class LoopbackRelayClient extends RelayClient {
    #localAddress;

    constructor(url, retryInterval, localAddress) {
      super(url, retryInterval);
      this.#localAddress = localAddress;
    }

    connect(...args) {
      const original = net.connect;
      const localAddress = this.#localAddress;
      net.connect = (options, ...rest) => original.call(net, { ...options, localAddress }, ...rest);
      try {
        super.connect(...args);
      } finally {
        net.connect = original;
      }
    }
  };
}

import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";

/** How long the end of input waits for the answers still being worked on. */
export const ANSWER_GRACE_MS = 30_000;

/**
 * The requests a transport delivered and the server has not answered yet, so
 * that a client which writes its requests and then closes its end (a script
 * piping into `canon mcp`) still receives every answer before the server
 * stops.
 */
export class PendingRequests {
  readonly #pending = new Set<string | number>();
  #settled: (() => void) | undefined;

  /** Counts requests in and answers out on `transport` (call after the server connected to it). */
  watch(transport: Transport): void {
    const receive = transport.onmessage;
    transport.onmessage = (message, extra) => {
      if ("method" in message && "id" in message) this.#pending.add(message.id);
      receive?.(message, extra);
    };
    const send = transport.send.bind(transport);
    transport.send = async (message, options) => {
      try {
        await send(message, options);
      } finally {
        const id = "method" in message || !("id" in message) ? undefined : message.id;
        if (id !== undefined && this.#pending.delete(id) && this.#pending.size === 0)
          this.#settled?.();
      }
    };
  }

  /** Resolves once every request received so far is answered, or after `timeoutMs`. */
  async answered(timeoutMs = ANSWER_GRACE_MS): Promise<void> {
    if (this.#pending.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#settled = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

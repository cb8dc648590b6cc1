import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

/**
 * automerge-repo's WebSocket client, hardened for a CLI: an error on the
 * socket (a refused upgrade, a reset connection) or a message it cannot
 * handle is recorded and the connection closed, instead of being thrown
 * from an event listener, which would kill the process. A socket that
 * closes without {@link RelayClient.disconnect} is recorded too, so a caller
 * waiting on the relay notices at once instead of at its timeout.
 */
export class RelayClient extends WebSocketClientAdapter {
  /** The last socket or protocol error, for the caller's message. */
  lastError: Error | undefined;

  /**
   * How the current connection ended, when the other side (or the network)
   * closed it: undefined while it is open or connecting, or when this side
   * closed it with {@link RelayClient.disconnect}. A new attempt clears it.
   */
  lostConnection: { readonly code: number; readonly reason: string } | undefined;

  override connect(...args: Parameters<WebSocketClientAdapter["connect"]>): void {
    this.lostConnection = undefined;
    super.connect(...args);
    this.socket?.addEventListener("close", this.#recordLoss);
  }

  readonly #recordLoss = (event: { code: number; reason: string }) => {
    this.lostConnection = { code: event.code, reason: String(event.reason) };
  };

  override onError = (event: unknown) => {
    const error = (event as { error?: Error }).error;
    this.lastError = error ?? new Error("WebSocket error");
  };

  /**
   * Closes the connection; safe to call more than once (upstream asserts on
   * a second call), and while the handshake is still under way (upstream
   * removes its error listener first, and closing a connecting socket emits
   * an error, which would then be thrown and kill the process).
   */
  override disconnect(): void {
    if (!this.socket || !this.peerId) return;
    this.socket.removeEventListener("close", this.#recordLoss);
    this.socket.addEventListener("error", ignore);
    super.disconnect();
  }

  override receiveMessage(messageBytes: Uint8Array): void {
    try {
      super.receiveMessage(messageBytes);
    } catch (error) {
      this.lastError = error as Error;
      this.socket?.close();
    }
  }
}

function ignore(): void {}

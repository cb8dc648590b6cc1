import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

/**
 * automerge-repo's WebSocket client, hardened for a CLI: an error on the
 * socket (a refused upgrade, a reset connection) or a message it cannot
 * handle is recorded and the connection closed, instead of being thrown
 * from an event listener, which would kill the process.
 */
export class RelayClient extends WebSocketClientAdapter {
  /** The last socket or protocol error, for the caller's message. */
  lastError: Error | undefined;

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

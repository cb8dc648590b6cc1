import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";

type Socket = NonNullable<WebSocketClientAdapter["socket"]>;

/**
 * automerge-repo's WebSocket client, hardened for a CLI: an error on the
 * socket (a refused upgrade, a reset connection) or a message it cannot
 * handle is recorded and the connection closed, instead of being thrown
 * from an event listener, which would kill the process. A socket that
 * closes without {@link RelayClient.disconnect} is recorded too, so a caller
 * waiting on the relay notices at once instead of at its timeout.
 *
 * It never holds more than one socket to the relay: upstream retries (every
 * `retryInterval` while a handshake has not finished, or after a close) by
 * opening a new socket and only unhooking the one it gave up on, which then
 * stays open on the relay; here that socket is terminated first, and the
 * next one opened once it has closed. After
 * {@link RelayClient.disconnect}, a retry upstream had already scheduled
 * opens nothing.
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

  /** Set by {@link RelayClient.disconnect}: later (scheduled) retries do nothing. */
  #disconnected = false;

  /** True while an abandoned socket is closing: the next one opens once it has. */
  #waitingForClose = false;

  override connect(...args: Parameters<WebSocketClientAdapter["connect"]>): void {
    if (this.#disconnected || this.#waitingForClose) return;
    const previous = this.socket;
    if (previous) {
      this.#abandon(previous);
      if (previous.readyState !== previous.CLOSED) {
        // Opening the next socket only once this one is closed keeps it to one at a time.
        // (It stays `this.socket` meanwhile, so `disconnect` still stops upstream's retries.)
        this.#waitingForClose = true;
        previous.addEventListener("close", () => {
          this.#waitingForClose = false;
          this.connect(...args);
        });
        return;
      }
    }
    this.lostConnection = undefined;
    super.connect(...args);
    this.socket?.addEventListener("close", this.#recordLoss);
  }

  readonly #recordLoss = (event: { code: number; reason: string }) => {
    this.lostConnection = { code: event.code, reason: String(event.reason) };
  };

  /**
   * Unhooks a socket this client gives up on and terminates it (no closing
   * handshake: it may still be connecting), so the relay does not keep it.
   */
  #abandon(socket: Socket): void {
    socket.removeEventListener("open", this.onOpen);
    socket.removeEventListener("close", this.onClose);
    socket.removeEventListener("message", this.onMessage);
    socket.removeEventListener("error", this.onError);
    socket.removeEventListener("close", this.#recordLoss);
    // Aborting a handshake emits an error, which must not be thrown.
    socket.addEventListener("error", ignore);
    if ("terminate" in socket && typeof socket.terminate === "function") socket.terminate();
    else socket.close();
  }

  override onError = (event: unknown) => {
    const error = (event as { error?: Error }).error;
    this.lastError = error ?? new Error("WebSocket error");
  };

  /**
   * Closes the connection for good; safe to call more than once (upstream
   * asserts on a second call), and while the handshake is still under way
   * (upstream removes its error listener first, and closing a connecting
   * socket emits an error, which would then be thrown and kill the process).
   */
  override disconnect(): void {
    this.#disconnected = true;
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

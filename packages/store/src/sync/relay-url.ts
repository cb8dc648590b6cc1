import { CanonError } from "@canon/core";

/** A relay (or serving peer) to sync with: its WebSocket URL and the token it may require. */
export interface RelayEndpoint {
  readonly url: string;
  readonly token?: string | undefined;
}

/**
 * Checks an untrusted relay URL: it must be `ws://` or `wss://` with a host.
 * @throws CanonError `BAD_URL` saying what is wrong.
 */
export function parseRelayUrl(input: string): URL {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new CanonError(
      "BAD_URL",
      `"${input}" is not a URL; a relay URL looks like ws://host:port`,
    );
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new CanonError(
      "BAD_URL",
      `"${input}" is not a WebSocket URL (it must start with ws:// or wss://)`,
    );
  }
  if (url.hostname === "") throw new CanonError("BAD_URL", `"${input}" has no host`);
  return url;
}

/** The URL a client connects to: the relay URL with the token as a query parameter (the client adapter cannot send headers). */
export function socketUrlOf(endpoint: RelayEndpoint): string {
  const url = parseRelayUrl(endpoint.url);
  if (endpoint.token) url.searchParams.set("token", endpoint.token);
  return url.toString();
}

/** The relay's health endpoint over plain HTTP(S), with the token. */
export function healthUrlOf(endpoint: RelayEndpoint): string {
  const url = parseRelayUrl(endpoint.url);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  url.pathname = "/healthz";
  if (endpoint.token) url.searchParams.set("token", endpoint.token);
  return url.toString();
}

/**
 * The relay to use for a space: the one asked for (with its remembered token
 * unless another is given), else the first one remembered for the space.
 * @throws CanonError `BAD_URL` for a malformed URL, `BAD_ARGUMENT` when no relay is known.
 */
export function relayFor(
  remembered: readonly { url: string; token: string | null }[],
  request: { readonly relay?: string | undefined; readonly token?: string | undefined },
): RelayEndpoint {
  if (request.relay !== undefined) {
    parseRelayUrl(request.relay);
    const known = remembered.find((relay) => relay.url === request.relay);
    return { url: request.relay, token: request.token ?? known?.token ?? undefined };
  }
  const first = remembered[0];
  if (first === undefined) {
    throw new CanonError(
      "BAD_ARGUMENT",
      "no relay is known for this space; pass --relay ws://host:port (it is remembered)",
    );
  }
  return { url: first.url, token: request.token ?? first.token ?? undefined };
}

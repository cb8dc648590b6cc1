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

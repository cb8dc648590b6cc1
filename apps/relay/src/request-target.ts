import type { IncomingMessage } from "node:http";

/** The path and query of a request, as the relay reads them. */
export interface RequestTarget {
  readonly pathname: string;
  readonly searchParams: URLSearchParams;
}

/**
 * The path and query a request names, or undefined when its target is not
 * one a URL can be read from (`//[`, `http://[`: the WHATWG parser throws on
 * them, and one such upgrade request used to kill the relay). Never throws.
 */
export function requestTarget(request: IncomingMessage): RequestTarget | undefined {
  try {
    const url = new URL(request.url ?? "/", "http://relay");
    return { pathname: url.pathname, searchParams: url.searchParams };
  } catch {
    return undefined;
  }
}

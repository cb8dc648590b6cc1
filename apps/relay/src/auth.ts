import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { AccessGrant } from "./access/access-grant.js";
import type { RelayTokens } from "./access/relay-tokens.js";
import { requestTarget } from "./request-target.js";

/**
 * The token a request presents, as `?token=`, `Authorization: Bearer`, or
 * `X-Canon-Token`, or undefined (also for a request whose target cannot be
 * read: see `request-target.ts`). The query parameter exists because
 * automerge-repo's WebSocket client cannot send headers.
 */
export function presentedToken(request: IncomingMessage): string | undefined {
  const target = requestTarget(request);
  if (target === undefined) return undefined;
  const header =
    request.headers.authorization?.replace(/^Bearer\s+/i, "") ?? request.headers["x-canon-token"];
  return target.searchParams.get("token") ?? (typeof header === "string" ? header : undefined);
}

/**
 * What a request may reach on a relay with `tokens`: everything, some
 * spaces (read-only or not), or nothing (undefined: refuse it with 401).
 */
export function grantOf(request: IncomingMessage, tokens: RelayTokens): AccessGrant | undefined {
  return tokens.grantOf(presentedToken(request));
}

/**
 * True when a request may reach the relay: no token is required, or the
 * request presents `token` (see {@link presentedToken}). The comparison takes
 * the same time wherever the tokens differ, so timing does not reveal a prefix.
 */
export function authorized(request: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const given = presentedToken(request);
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

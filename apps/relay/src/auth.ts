import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/**
 * True when a request may reach the relay: no token is required, or the
 * request presents `token` as `?token=`, `Authorization: Bearer`, or
 * `X-Canon-Token`. The query parameter exists because automerge-repo's
 * WebSocket client cannot send headers. The comparison takes the same time
 * wherever the tokens differ, so timing does not reveal a prefix.
 */
export function authorized(request: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const url = new URL(request.url ?? "/", "http://relay");
  const header =
    request.headers.authorization?.replace(/^Bearer\s+/i, "") ?? request.headers["x-canon-token"];
  const given = url.searchParams.get("token") ?? (typeof header === "string" ? header : undefined);
  if (given === undefined || given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Repo } from "@automerge/automerge-repo";
import { etagOf, headsDigest, ifNoneMatchNames } from "@canon/store";
import type { AccessGrant } from "./access/access-grant.js";
import type { RelayTokens } from "./access/relay-tokens.js";
import { grantOf } from "./auth.js";
import type { HeadsRefusal } from "./guard/heads-requests.js";
import type { HeadsSummary } from "./heads-summary.js";
import { requestTarget } from "./request-target.js";
import type { RelayStorage } from "./storage/relay-storage.js";

/** What `/healthz` reports: served with 200 when `ok`, 503 when not. */
export type ServerHealth =
  | {
      readonly ok: true;
      /** Connected peers: clients and peered relays. */
      readonly peers: number;
      /** Documents stored (in the directory or the database). */
      readonly documents: number;
    }
  | {
      readonly ok: false;
      /** Connected peers: clients and peered relays. */
      readonly peers: number;
      /** Why the relay cannot serve now, one line, without secrets. */
      readonly reason: string;
    };

/** Something besides the storage that can make a relay unhealthy (the database notifications). */
export type HealthCheck = () => string | undefined;

/**
 * The health of a relay running `repo` over `storage`: unhealthy while the
 * storage cannot serve (a database that is down) or another check fails.
 */
export async function healthOf(
  repo: Repo,
  storage: RelayStorage,
  checks: readonly HealthCheck[] = [],
): Promise<ServerHealth> {
  const peers = repo.peers.length;
  const reason = (await storage.unhealthy()) ?? checks.map((check) => check()).find(Boolean);
  if (reason !== undefined) return { ok: false, peers, reason };
  return { ok: true, peers, documents: await storage.countDocuments() };
}

/** What the plain HTTP routes answer from. */
export interface HttpReports {
  /** The client a request comes from, for its per-address limits (see `guard/client-address.ts`); the socket's peer when absent. */
  readonly addressOf?: (request: IncomingMessage) => string | undefined;
  /** The `/healthz` report. */
  readonly health: () => Promise<ServerHealth>;
  /** The `/metrics` text (Prometheus exposition format) and its content type. */
  readonly metrics: () => Promise<{ readonly text: string; readonly contentType: string }>;
  /** A space's heads summary for `GET /heads/<id>`, undefined when the relay does not hold it or the grant does not open it. */
  readonly heads?: (
    spaceDocumentId: string,
    grant: AccessGrant,
    remoteAddress: string,
  ) => Promise<HeadsSummary | HeadsRefusal | undefined>;
  /**
   * Streams a space's documents into `response` for `GET /documents/<id>`
   * (see `space-documents.ts`): false when the relay does not hold the space
   * or the grant does not open it (nothing written yet), or why the request
   * was refused.
   */
  readonly documents?: (
    spaceDocumentId: string,
    grant: AccessGrant,
    remoteAddress: string,
    response: ServerResponse,
  ) => Promise<boolean | HeadsRefusal>;
}

/**
 * Answers a plain HTTP request to the relay: `GET /healthz` with the report
 * (200 when healthy, 503 with a reason when not, so a load balancer stops
 * sending to it), `GET /metrics` in Prometheus text format,
 * `GET /heads/<space-document-id>` with the space's heads summary (see
 * `heads-summary.ts`), its digest as `ETag`, and 304 without a body when
 * `If-None-Match` names that digest (the home holds exactly these heads);
 * 404 when the relay does not hold the space or the token does not open it;
 * 429 past the address's `headsRequestsPerMinute`, 503 when
 * too many summaries wait), `GET /documents/<space-document-id>` with the
 * stored bytes of the documents that summary may list (`space-documents.ts`;
 * the same 404, 429 and 503, from a budget of its own), all 401 without a token the relay accepts when it
 * requires one (the admin token or any space's token), 404 for anything
 * else, 405 for a method other than GET on a route, and 400 for a target no
 * URL can be read from. WebSocket upgrades never come here.
 */
export async function answerHttp(
  request: IncomingMessage,
  response: ServerResponse,
  tokens: RelayTokens,
  reports: HttpReports,
): Promise<void> {
  const target = requestTarget(request);
  if (target === undefined) {
    response
      .writeHead(400, { "content-type": "application/json", connection: "close" })
      .end('{"error":"bad request target"}');
    return;
  }
  const path = target.pathname;
  const heads = /^\/heads\/([A-Za-z0-9]{1,100})$/.exec(path);
  const summary = reports.heads;
  const documents = /^\/documents\/([A-Za-z0-9]{1,100})$/.exec(path);
  const bulk = reports.documents;
  if (
    path !== "/healthz" &&
    path !== "/metrics" &&
    (heads === null || summary === undefined) &&
    (documents === null || bulk === undefined)
  ) {
    response.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
    return;
  }
  // Every route only reads: anything but GET (HEAD too, which would read a whole space for
  // an answer without a body) is refused before the token is looked at or storage read.
  if (request.method !== "GET") {
    response
      .writeHead(405, { "content-type": "application/json", allow: "GET", connection: "close" })
      .end('{"error":"method not allowed"}');
    return;
  }
  const grant = grantOf(request, tokens);
  if (grant === undefined) {
    response
      .writeHead(401, { "content-type": "application/json" })
      .end('{"error":"token required"}');
    return;
  }
  if (path === "/metrics") {
    const { text, contentType } = await reports.metrics();
    response.writeHead(200, { "content-type": contentType }).end(text);
    return;
  }
  if (documents !== null && bulk !== undefined) {
    const address = (reports.addressOf ?? ((r) => r.socket.remoteAddress))(request) ?? "?";
    const answer = await bulk(documents[1] as string, grant, address, response).catch(() => {
      // Cut short mid-stream: the client sees no end mark and syncs the rest.
      if (response.headersSent) response.destroy();
      return false;
    });
    if (answer === "rate" || answer === "busy") refuse(response, answer);
    else if (answer === false && !response.headersSent)
      response
        .writeHead(404, { "content-type": "application/json" })
        .end('{"error":"no such space"}');
    return;
  }
  if (heads !== null && summary !== undefined) {
    const address = (reports.addressOf ?? ((r) => r.socket.remoteAddress))(request) ?? "?";
    const answer = await summary(heads[1] as string, grant, address).catch(() => undefined);
    if (answer === "rate" || answer === "busy") {
      refuse(response, answer);
      return;
    }
    if (answer === undefined) {
      response
        .writeHead(404, { "content-type": "application/json" })
        .end('{"error":"no such space"}');
      return;
    }
    // The summary's digest as its entity tag: a home that names it holds exactly these heads (304).
    const etag = etagOf(headsDigest(answer.space, answer.documents));
    // `no-cache`: a cache between home and relay must ask the relay every time, never answer 304 itself.
    const cacheControl = "no-cache";
    if (ifNoneMatchNames(request.headers["if-none-match"], etag)) {
      response.writeHead(304, { etag, "cache-control": cacheControl }).end();
      return;
    }
    response
      .writeHead(200, { "content-type": "application/json", etag, "cache-control": cacheControl })
      .end(JSON.stringify(answer));
    return;
  }
  const health = await reports.health();
  response
    .writeHead(health.ok ? 200 : 503, { "content-type": "application/json" })
    .end(JSON.stringify(health));
}

/** 429 (past the address's budget) or 503 (too many requests wait), with `Retry-After`. */
function refuse(response: ServerResponse, why: HeadsRefusal): void {
  response
    .writeHead(why === "rate" ? 429 : 503, {
      "content-type": "application/json",
      "retry-after": why === "rate" ? "60" : "1",
    })
    .end(why === "rate" ? '{"error":"too many requests"}' : '{"error":"busy"}');
}

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Repo } from "@automerge/automerge-repo";
import { countStoredDocuments } from "@canon/store";
import type { RelayTokens } from "./access/relay-tokens.js";
import { grantOf } from "./auth.js";

/** What `/healthz` reports. */
export interface ServerHealth {
  readonly ok: true;
  /** Connected peers: clients and peered relays. */
  readonly peers: number;
  /** Documents stored on disk. */
  readonly documents: number;
}

/** The health of a relay running `repo` over the documents stored in `directory`. */
export async function healthOf(repo: Repo, directory: string): Promise<ServerHealth> {
  return { ok: true, peers: repo.peers.length, documents: await countStoredDocuments(directory) };
}

/**
 * Answers a plain HTTP request to the relay: `GET /healthz` with the
 * report (401 without a token the relay accepts, when it requires one: the
 * admin token or any space's token), 404 for anything
 * else. WebSocket upgrades never come here.
 */
export async function answerHttp(
  request: IncomingMessage,
  response: ServerResponse,
  tokens: RelayTokens,
  report: () => Promise<ServerHealth>,
): Promise<void> {
  const path = new URL(request.url ?? "/", "http://relay").pathname;
  if (path !== "/healthz") {
    response.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
    return;
  }
  if (grantOf(request, tokens) === undefined) {
    response
      .writeHead(401, { "content-type": "application/json" })
      .end('{"error":"token required"}');
    return;
  }
  response
    .writeHead(200, { "content-type": "application/json" })
    .end(JSON.stringify(await report()));
}

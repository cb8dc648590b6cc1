import type { IncomingMessage, ServerResponse } from "node:http";
import type { Repo } from "@automerge/automerge-repo";
import { countStoredDocuments } from "@canon/store";
import type { AccessGrant } from "./access/access-grant.js";
import type { RelayTokens } from "./access/relay-tokens.js";
import { grantOf } from "./auth.js";
import type { HeadsSummary } from "./heads-summary.js";

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
 * report, `GET /heads/<space-document-id>` with the space's heads summary
 * (see `heads-summary.ts`; 404 when the relay does not hold the space or the
 * token does not open it), 401 without a token the relay accepts when it
 * requires one (the admin token or any space's token), 404 for anything
 * else. WebSocket upgrades never come here.
 */
export async function answerHttp(
  request: IncomingMessage,
  response: ServerResponse,
  tokens: RelayTokens,
  report: () => Promise<ServerHealth>,
  summary?: (spaceDocumentId: string, grant: AccessGrant) => Promise<HeadsSummary | undefined>,
): Promise<void> {
  const path = new URL(request.url ?? "/", "http://relay").pathname;
  const heads = /^\/heads\/([A-Za-z0-9]{1,100})$/.exec(path);
  if (path !== "/healthz" && (heads === null || summary === undefined)) {
    response.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
    return;
  }
  const grant = grantOf(request, tokens);
  if (grant === undefined) {
    response
      .writeHead(401, { "content-type": "application/json" })
      .end('{"error":"token required"}');
    return;
  }
  if (heads !== null && summary !== undefined) {
    const answer = await summary(heads[1] as string, grant).catch(() => undefined);
    if (answer === undefined) {
      response
        .writeHead(404, { "content-type": "application/json" })
        .end('{"error":"no such space"}');
      return;
    }
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
    return;
  }
  response
    .writeHead(200, { "content-type": "application/json" })
    .end(JSON.stringify(await report()));
}

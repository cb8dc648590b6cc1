import { createServer, type Server } from "node:http";
import { listenAsFront } from "./front-server.js";

/** A front on 127.0.0.1 that passes everything to a real relay but what it answers `GET /documents/…` with. */
export interface RelayFront {
  /** `ws://127.0.0.1:<port>`: give it to clients instead of the relay's URL. */
  readonly url: string;
  /** The paths of the `/documents/…` requests it answered. */
  readonly bulkRequests: string[];
  close(): Promise<void>;
}

/**
 * What the front answers `GET /documents/…` with, given the relay's own
 * answer (status and body): a status and body of its own (a lie, a cut, a
 * 404 as an older relay gives).
 */
export type BulkAnswer = (genuine: {
  readonly status: number;
  readonly body: Buffer;
}) =>
  | { readonly status: number; readonly body: Buffer }
  | Promise<{ readonly status: number; readonly body: Buffer }>;

/**
 * Starts a front for the relay listening on `relayPort`: WebSocket upgrades
 * and every other request go through to it unchanged (the upgrade as raw
 * bytes both ways), `/documents/…` is answered by `answer`. A relay that
 * lies in its bulk answer, or an older one without it, while it syncs
 * honestly.
 */
export async function startRelayFront(relayPort: number, answer: BulkAnswer): Promise<RelayFront> {
  const bulkRequests: string[] = [];
  const relay = `http://127.0.0.1:${relayPort}`;
  const server: Server = createServer(async (request, response) => {
    const path = request.url ?? "/";
    try {
      const genuine = await fetch(`${relay}${path}`);
      const body = Buffer.from(await genuine.arrayBuffer());
      if (path.startsWith("/documents/")) {
        bulkRequests.push(path);
        const told = await answer({ status: genuine.status, body });
        response.writeHead(told.status).end(told.body);
        return;
      }
      response
        .writeHead(genuine.status, {
          "content-type": genuine.headers.get("content-type") ?? "application/octet-stream",
        })
        .end(body);
    } catch {
      response.writeHead(502).end();
    }
  });
  const listening = await listenAsFront(server, relayPort);
  return {
    url: listening.url,
    bulkRequests,
    close: listening.close,
  };
}

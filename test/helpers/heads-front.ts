import { createServer, type Server } from "node:http";
import { listenAsFront } from "./front-server.js";

/** One `GET /heads/…` the front answered: what the home named, and what it was answered. */
export interface HeadsRequest {
  /** The `If-None-Match` header the home sent, if any. */
  readonly ifNoneMatch: string | undefined;
  /** The status the home got. */
  readonly status: number;
}

/**
 * How the front answers `GET /heads/…`: `honest` passes the relay's answer
 * (status, body, `ETag`) and the home's `If-None-Match`; `always-304` answers
 * 304 with a made-up `ETag` to every request, without asking the relay (a
 * relay that claims nothing ever changes); `bogus-etag` passes the relay's
 * answer with an `ETag` of 4 KiB of garbage and never passes `If-None-Match`.
 */
export type HeadsMode = "honest" | "always-304" | "bogus-etag";

/** A front on 127.0.0.1 in front of a real relay, recording (and, if told, lying in) its heads answers. */
export interface HeadsFront {
  /** `ws://127.0.0.1:<port>`: give it to homes instead of the relay's URL. */
  readonly url: string;
  /** Every `GET /heads/…` answered, in order. */
  readonly heads: HeadsRequest[];
  /** How `GET /heads/…` is answered from now on. */
  mode: HeadsMode;
  close(): Promise<void>;
}

/**
 * Starts a front for the relay listening on `relayPort`: WebSocket upgrades
 * (as raw bytes both ways) and every other request go through unchanged;
 * `GET /heads/…` is answered as {@link HeadsFront.mode} says.
 */
export async function startHeadsFront(relayPort: number): Promise<HeadsFront> {
  const relay = `http://127.0.0.1:${relayPort}`;
  const front: HeadsFront = {
    url: "",
    heads: [],
    mode: "honest",
    close: async () => {},
  };
  const server: Server = createServer(async (request, response) => {
    const path = request.url ?? "/";
    const isHeads = path.startsWith("/heads/");
    const ifNoneMatch = request.headers["if-none-match"];
    const answer = (status: number, headers: Record<string, string>, body?: Buffer) => {
      if (isHeads) front.heads.push({ ifNoneMatch, status });
      response.writeHead(status, headers).end(body);
    };
    try {
      if (isHeads && front.mode === "always-304") {
        answer(304, { etag: '"made-up"' });
        return;
      }
      const passed: Record<string, string> = {};
      if (ifNoneMatch !== undefined && front.mode === "honest")
        passed["if-none-match"] = ifNoneMatch;
      const genuine = await fetch(`${relay}${path}`, { headers: passed });
      const body = Buffer.from(await genuine.arrayBuffer());
      const headers: Record<string, string> = {
        "content-type": genuine.headers.get("content-type") ?? "application/octet-stream",
      };
      const etag = genuine.headers.get("etag");
      if (isHeads && front.mode === "bogus-etag") headers.etag = `"${"x".repeat(4096)}"`;
      else if (etag !== null) headers.etag = etag;
      answer(genuine.status, headers, body);
    } catch {
      answer(502, {});
    }
  });
  const listening = await listenAsFront(server, relayPort);
  return Object.assign(front, {
    url: listening.url,
    close: listening.close,
  });
}

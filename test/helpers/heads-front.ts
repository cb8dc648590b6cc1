import { createServer, type Server } from "node:http";
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import type { Run, Sandbox } from "./cli.js";
import { listenAsFront } from "./front-server.js";
import { startRelay } from "./processes.js";

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
 * answer with an `ETag` of 4 KiB of garbage and never passes `If-None-Match`;
 * `endless` answers 200 with a summary that never ends (a well-formed start,
 * then heads for ever, as fast as the home reads them), `huge-length` 200
 * with a `Content-Length` of 1 GiB and only the summary's start; `padded`
 * passes the relay's summary with {@link PADDING} made-up document ids added
 * (and no `ETag`).
 */
export type HeadsMode =
  | "honest"
  | "always-304"
  | "bogus-etag"
  | "endless"
  | "huge-length"
  | "padded";

/** How many made-up documents a `padded` summary lists besides the relay's. */
export const PADDING = 2_000;

/** A front on 127.0.0.1 in front of a real relay, recording (and, if told, lying in) its heads answers. */
export interface HeadsFront {
  /** `ws://127.0.0.1:<port>`: give it to homes instead of the relay's URL. */
  readonly url: string;
  /** Every `GET /heads/…` answered, in order. */
  readonly heads: HeadsRequest[];
  /** How `GET /heads/…` is answered from now on. */
  mode: HeadsMode;
  /** Bytes of summary sent in `endless` and `huge-length` answers, all told. */
  hostileBytes: number;
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
    hostileBytes: 0,
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
      if (isHeads && (front.mode === "endless" || front.mode === "huge-length")) {
        front.heads.push({ ifNoneMatch, status: 200 });
        await sendHostileSummary(response, front);
        return;
      }
      const passed: Record<string, string> = {};
      if (ifNoneMatch !== undefined && front.mode === "honest")
        passed["if-none-match"] = ifNoneMatch;
      const genuine = await fetch(`${relay}${path}`, { headers: passed });
      let body = Buffer.from(await genuine.arrayBuffer());
      if (isHeads && front.mode === "padded" && genuine.ok) {
        const summary = JSON.parse(body.toString("utf8")) as {
          documents: Record<string, string[]>;
        };
        for (let index = 0; index < PADDING; index++)
          summary.documents[parseAutomergeUrl(generateAutomergeUrl()).documentId] = [
            "3Jb8RqJPDhYo4Z2qnk6sbJz2yHvSwA2dhzuzqMk6sgf9",
          ];
        body = Buffer.from(JSON.stringify(summary));
        answer(genuine.status, { "content-type": "application/json" }, body);
        return;
      }
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

/**
 * Writes a summary that starts well formed and, in `endless` mode, goes on
 * for ever (one made-up document after another, written as fast as the
 * home reads), until the home closes the connection; in `huge-length` mode,
 * declares 1 GiB and sends only the start.
 */
async function sendHostileSummary(
  response: import("node:http").ServerResponse,
  front: HeadsFront,
): Promise<void> {
  const huge = front.mode === "huge-length";
  response.writeHead(200, {
    "content-type": "application/json",
    ...(huge ? { "content-length": String(1024 ** 3) } : {}),
  });
  const start = Buffer.from('{"space":"x","documents":{');
  front.hostileBytes += start.length;
  response.write(start);
  if (huge) return;
  const head = `"${"h".repeat(52)}"`;
  let index = 0;
  let closed = false;
  response.once("close", () => {
    closed = true;
  });
  while (!closed) {
    const entries: string[] = [];
    for (let n = 0; n < 512; n++) entries.push(`"doc${index++}":[${head},${head}],`);
    const chunk = Buffer.from(entries.join(""));
    front.hostileBytes += chunk.length;
    if (!response.write(chunk))
      await new Promise<void>((resolve) => {
        const done = () => {
          response.off("drain", done);
          response.off("close", done);
          resolve();
        };
        response.on("drain", done);
        response.on("close", done);
      });
  }
}

/** Runs `canon` without blocking this process (a front answers from it), failing unless it exits 0. */
export async function okAsync(home: Sandbox, ...args: string[]): Promise<Run> {
  const run = await home.canonAsync(...args);
  if (run.status !== 0)
    throw new Error(`canon ${args.join(" ")} exited ${run.status}: ${run.stderr}`);
  return run;
}

/**
 * A space "shared" that home `a` created, published `tone` v1 into and synced
 * straight to a real relay (storing in `relayData`), and that home `b`
 * joined and synced through a {@link HeadsFront} before that relay: the
 * setup of every test that makes the front lie to `b`.
 */
export async function spaceBehindHeadsFront(
  a: Sandbox,
  b: Sandbox,
  relayData: string,
): Promise<{ front: HeadsFront; url: string }> {
  const relay = await startRelay(relayData);
  const front = await startHeadsFront(relay.port);
  a.ok("init");
  b.ok("init");
  const { url } = a.ok("space", "create", "shared", "--json").json<{ url: string }>();
  a.ok("publish", "tone", await a.file("tone.md", "tone v1\n"));
  a.ok("sync", "--relay", relay.url);
  await okAsync(b, "space", "join", url, "--relay", front.url);
  await okAsync(b, "sync");
  return { front, url };
}

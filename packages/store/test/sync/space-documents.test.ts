import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { encodeHeads, generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { afterEach, describe, expect, it } from "vitest";
import { canonHome, openReplica } from "../../src/index.js";
import type { Replica } from "../../src/replica.js";
import {
  DOCUMENT_FRAMES_END,
  DOCUMENT_FRAMES_TAG,
  documentFrameHeader,
} from "../../src/sync/document-frames.js";
import { fetchedInStep, fetchSpaceDocuments } from "../../src/sync/space-documents.js";

/** What the hostile relay answers a request with: a status and body, or a handler of its own. */
type Answer = (request: IncomingMessage, response: ServerResponse) => void;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A relay on 127.0.0.1 that answers every request as `answer` says (a test's hostile relay). */
async function hostileRelay(answer: Answer): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request.url ?? "");
    answer(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

async function freshReplica(): Promise<Replica> {
  const root = await mkdtemp(join(tmpdir(), "canon-bulk-"));
  const replica = await openReplica(canonHome(root));
  // The Repo writes its storage id when it starts: let it finish before the folder goes.
  await replica.repo.storageId();
  cleanups.push(async () => {
    await replica.close();
    await rm(root, { recursive: true, force: true });
  });
  return replica;
}

function newId(): string {
  return parseAutomergeUrl(generateAutomergeUrl()).documentId;
}

function frame(id: string, bytes: Uint8Array): Buffer {
  return Buffer.concat([documentFrameHeader(id, bytes.length), bytes]);
}

/** A space routing to two standards, and a stranger: a document of another space. */
function aSpace() {
  const space = newId();
  const style = newId();
  const tone = newId();
  const stranger = newId();
  const bytes = {
    [space]: A.save(A.from({ standards: { [style]: "style", [tone]: "tone" } })),
    [style]: A.save(A.from({ name: "style", text: "style v1" })),
    [tone]: A.save(A.from({ name: "tone", text: "tone v1" })),
    [stranger]: A.save(A.from({ name: "elsewhere", text: "not this space's" })),
  } as Record<string, Uint8Array>;
  return { space, style, tone, stranger, bytes };
}

/** The framed answer of an honest relay: the space document, then both standards. */
function wholeSpace(
  space: string,
  style: string,
  tone: string,
  bytes: Record<string, Uint8Array>,
): Uint8Array[] {
  return [
    DOCUMENT_FRAMES_TAG,
    frame(space, bytes[space] as Uint8Array),
    frame(style, bytes[style] as Uint8Array),
    frame(tone, bytes[tone] as Uint8Array),
    DOCUMENT_FRAMES_END,
  ];
}

const sending =
  (...parts: Uint8Array[]): Answer =>
  (_request, response) => {
    response.writeHead(200).end(Buffer.concat(parts));
  };

const inTime = 20_000;

describe("a join's bulk fetch from a relay that may lie", () => {
  it("takes in the space and the documents it routes, each at the heads it was sent with", async () => {
    const { space, style, tone, bytes } = aSpace();
    const relay = await hostileRelay(sending(...wholeSpace(space, style, tone, bytes)));
    const replica = await freshReplica();
    const fetched = await fetchSpaceDocuments(
      replica,
      { url: relay.url, token: "t0" },
      space,
      inTime,
    );
    expect(fetched).toEqual({ adopted: [space, style, tone], skipped: 0, unrouted: 0 });
    // The answer, and the heads summary asked with it (both with the token).
    expect([...relay.requests].sort()).toEqual([
      `/documents/${space}?token=t0`,
      `/heads/${space}?token=t0`,
    ]);
    const handle = await replica.find<{ text: string }>(tone);
    expect(handle?.doc().text).toBe("tone v1");
    expect(A.getHeads(handle?.doc() as A.Doc<unknown>)).toEqual(
      A.getHeads(A.load(bytes[tone] as Uint8Array)),
    );
  });

  it("skips documents the space does not route (another space's), a second copy, and bytes that do not load", async () => {
    const { space, style, tone, stranger, bytes } = aSpace();
    const relay = await hostileRelay(
      sending(
        DOCUMENT_FRAMES_TAG,
        frame(space, bytes[space] as Uint8Array),
        frame(stranger, bytes[stranger] as Uint8Array),
        frame(style, new Uint8Array([0x85, 0x6f, 0x4a, 0x83, 1, 2, 3])),
        frame(tone, bytes[tone] as Uint8Array),
        frame(tone, bytes[stranger] as Uint8Array),
        DOCUMENT_FRAMES_END,
      ),
    );
    const replica = await freshReplica();
    const fetched = await fetchSpaceDocuments(replica, { url: relay.url }, space, inTime);
    expect(fetched).toEqual({ adopted: [space, tone], skipped: 3, unrouted: 0 });
    expect(await replica.holds(stranger)).toBe(false);
    expect(await replica.holds(style)).toBe(false);
    expect((await replica.find<{ text: string }>(tone))?.doc().text).toBe("tone v1");
    // Not in step: the normal sync must fetch what was skipped.
    expect(await fetchedInStep(replica, { url: relay.url }, space, fetched, inTime)).toBe(false);
  });

  it("takes nothing when the first document is not the space, or the space does not load", async () => {
    const { space, style, stranger, bytes } = aSpace();
    for (const first of [
      frame(stranger, bytes[stranger] as Uint8Array),
      frame(space, new Uint8Array([1, 2, 3])),
    ]) {
      const relay = await hostileRelay(
        sending(
          DOCUMENT_FRAMES_TAG,
          first,
          frame(style, bytes[style] as Uint8Array),
          DOCUMENT_FRAMES_END,
        ),
      );
      const replica = await freshReplica();
      const fetched = await fetchSpaceDocuments(replica, { url: relay.url }, space, inTime);
      expect(fetched).toMatchObject({ adopted: [], stopped: "bad-space" });
      expect(await replica.holds(space)).toBe(false);
      expect(await replica.holds(stranger)).toBe(false);
    }
  });

  it("stops at a frame claiming 4 GiB without waiting for it, and keeps the whole documents before it", async () => {
    const { space, style, bytes } = aSpace();
    const huge = Buffer.concat([documentFrameHeader(style, 0xffff_fff0)]);
    const relay = await hostileRelay((_request, response) => {
      response.writeHead(200);
      // Then never another byte, and never the end.
      response.write(
        Buffer.concat([DOCUMENT_FRAMES_TAG, frame(space, bytes[space] as Uint8Array), huge]),
      );
    });
    const replica = await freshReplica();
    const started = Date.now();
    const fetched = await fetchSpaceDocuments(replica, { url: relay.url }, space, inTime);
    expect(Date.now() - started).toBeLessThan(inTime / 2);
    expect(fetched).toEqual({ adopted: [space], skipped: 0, unrouted: 2, stopped: "too-large" });
    expect(await replica.holds(style)).toBe(false);
  });

  it("keeps what arrived whole when the answer is cut short, and gives up at the deadline on one that stalls", async () => {
    const { space, style, tone, bytes } = aSpace();
    const whole = Buffer.concat([
      DOCUMENT_FRAMES_TAG,
      frame(space, bytes[space] as Uint8Array),
      frame(style, bytes[style] as Uint8Array),
      frame(tone, bytes[tone] as Uint8Array),
    ]);
    // An answer that ends without its end mark, and a connection that breaks in the middle.
    for (const [how, stopped] of [
      ["ended", "truncated"],
      ["broken", "failed"],
    ] as const) {
      const cut = await hostileRelay((_request, response) => {
        response.writeHead(200);
        if (how === "ended") response.end(whole.subarray(0, whole.length - 5));
        else {
          response.write(whole.subarray(0, whole.length - 5));
          setTimeout(() => response.socket?.destroy(), 200);
        }
      });
      const replica = await freshReplica();
      const fetched = await fetchSpaceDocuments(replica, { url: cut.url }, space, inTime);
      expect(fetched).toEqual({ adopted: [space, style], skipped: 0, unrouted: 1, stopped });
      expect(await replica.holds(tone)).toBe(false);
    }

    const stalled = await hostileRelay((_request, response) => {
      response.writeHead(200);
      response.write(whole.subarray(0, whole.length - 5));
    });
    const other = await freshReplica();
    const late = await fetchSpaceDocuments(other, { url: stalled.url }, space, 1_000);
    expect(late).toEqual({ adopted: [space, style], skipped: 0, unrouted: 1, stopped: "failed" });
  });

  it("leaves alone a document this replica already holds, and asks nothing more of an older relay (404)", async () => {
    const { space, style, tone, bytes } = aSpace();
    const replica = await freshReplica();
    const mine = A.from({ name: "tone", text: "mine" });
    expect(await replica.adopt(tone, mine)).toBe(true);
    const relay = await hostileRelay(sending(...wholeSpace(space, style, tone, bytes)));
    const fetched = await fetchSpaceDocuments(replica, { url: relay.url }, space, inTime);
    expect(fetched).toEqual({ adopted: [space, style], skipped: 1, unrouted: 0 });
    expect((await replica.find<{ text: string }>(tone))?.doc().text).toBe("mine");

    const old = await hostileRelay((_request, response) => {
      response.writeHead(404).end('{"error":"not found"}');
    });
    const fresh = await freshReplica();
    expect(await fetchSpaceDocuments(fresh, { url: old.url }, space, inTime)).toEqual({
      adopted: [],
      skipped: 0,
      unrouted: 0,
      stopped: "unanswered",
    });
  });

  it("is in step only when the relay's summary lists exactly the heads taken in", async () => {
    const { space, style, tone, bytes } = aSpace();
    const headsOf = (id: string) =>
      [...encodeHeads(A.getHeads(A.load(bytes[id] as Uint8Array)))].sort() as string[];
    const exact = { [space]: headsOf(space), [style]: headsOf(style), [tone]: headsOf(tone) };
    let summary: Record<string, string[]> = exact;
    const relay = await hostileRelay((request, response) => {
      if (request.url?.startsWith("/heads/"))
        response.writeHead(200).end(JSON.stringify({ space, documents: summary }));
      else sending(...wholeSpace(space, style, tone, bytes))(request, response);
    });
    const endpoint = { url: relay.url };
    // The summary asked together with the answer.
    const replica = await freshReplica();
    const fetched = await fetchSpaceDocuments(replica, endpoint, space, inTime);
    summary = {};
    expect(await fetchedInStep(replica, endpoint, space, fetched, inTime)).toBe(true);
    // Taken once: asked again, the relay's summary now.
    expect(await fetchedInStep(replica, endpoint, space, fetched, inTime)).toBe(false);
    summary = exact;
    expect(await fetchedInStep(replica, endpoint, space, fetched, inTime)).toBe(true);
    for (const differing of [
      { ...exact, [tone]: headsOf(style) },
      { ...exact, [newId()]: headsOf(style) },
      { [space]: exact[space] as string[], [style]: exact[style] as string[] },
    ]) {
      summary = differing;
      const again = await freshReplica();
      const taken = await fetchSpaceDocuments(again, endpoint, space, inTime);
      expect(await fetchedInStep(again, endpoint, space, taken, inTime)).toBe(false);
    }
  });

  it("asks the relay's summary together with the answer, not after reading it", async () => {
    const { space, style, tone, bytes } = aSpace();
    const documents = Object.fromEntries(
      [space, style, tone].map((id) => [
        id,
        [...encodeHeads(A.getHeads(A.load(bytes[id] as Uint8Array)))].sort(),
      ]),
    );
    // This relay answers the documents only once it has been asked for the summary:
    // a client asking for the summary after reading the answer would wait for ever.
    let asked: () => void = () => {};
    const summaryAsked = new Promise<void>((resolve) => {
      asked = resolve;
    });
    const relay = await hostileRelay((request, response) => {
      if (request.url?.startsWith("/heads/")) {
        asked();
        response.writeHead(200).end(JSON.stringify({ space, documents }));
      } else
        void summaryAsked.then(() =>
          sending(...wholeSpace(space, style, tone, bytes))(request, response),
        );
    });
    const replica = await freshReplica();
    const endpoint = { url: relay.url };
    const fetched = await fetchSpaceDocuments(replica, endpoint, space, 5_000);
    expect(fetched).toEqual({ adopted: [space, style, tone], skipped: 0, unrouted: 0 });
    expect(await fetchedInStep(replica, endpoint, space, fetched, inTime)).toBe(true);
  });
});

import { randomBytes } from "node:crypto";
import * as A from "@automerge/automerge";
import type { DocHandle } from "@automerge/automerge-repo";
import { type DocumentFrame, readDocumentFrames } from "@canon/store";
import { describe, expect, it } from "vitest";
import { parseTokensFile } from "../src/access/tokens-file.js";
import type { RelayServer } from "../src/relay-server.js";
import { acknowledged, relayTestKit, waitFor } from "./helpers/relay-test-kit.js";

type Space = { standards: Record<string, string>; feeds?: Record<string, string> };
type Standard = { text: string };

const kit = relayTestKit("canon-space-documents");

const limits = { maxDocumentBytes: 64 * 1024 * 1024, maxTotalBytes: 256 * 1024 * 1024 };

/** `GET /documents/<space>` read to its end: status, frames, and why the framing was refused (if it was). */
async function documentsOf(relay: RelayServer, spaceId: string, query = "") {
  const response = await fetch(`http://127.0.0.1:${relay.port}/documents/${spaceId}${query}`);
  const frames: DocumentFrame[] = [];
  if (!response.ok || response.body === null)
    return { status: response.status, frames, refused: undefined };
  const reading = readDocumentFrames(response.body, limits);
  for (;;) {
    const next = await reading.next();
    if (next.done === true) return { status: response.status, frames, refused: next.value };
    frames.push(next.value);
  }
}

/** A space routing to three standards (and one route to a document no one has), written through `relay` and acknowledged. */
async function spaceThrough(relay: RelayServer) {
  const writer = kit.client(relay);
  const standards = ["a", "b", "c"].map((text) => writer.create<Standard>({ text }));
  const space = writer.create<Space>({
    standards: Object.fromEntries(standards.map((handle) => [handle.documentId, "x"])),
  });
  await waitFor(() => [space, ...standards].every((handle) => acknowledged(writer, handle)));
  return { writer, space, standards };
}

/** Text that does not compress (Automerge deflates what it stores). */
function randomText(length: number): string {
  return randomBytes(length).toString("base64").slice(0, length);
}

function headsOf(bytes: Uint8Array): string[] {
  return A.getHeads(A.load(bytes)).sort();
}

function ownHeads(handle: DocHandle<unknown>): string[] {
  return A.getHeads(handle.doc()).sort();
}

describe.each(["directory", "database"] as const)("GET /documents/<space> (%s)", (storage) => {
  it("sends the space document first, then every routed document, each loading to the heads the writer has", async () => {
    const relay = await kit.relay(storage, { idleEvictionMs: 150 });
    const { writer, space, standards } = await spaceThrough(relay);
    const [first] = standards as [DocHandle<Standard>];
    first.change((doc) => {
      doc.text = "a, version 2";
    });
    await waitFor(() => acknowledged(writer, first));
    // Out of memory too: what is sent is read from storage.
    await waitFor(() => Object.keys(relay.repo.handles).length === 0, 5000);

    const answer = await documentsOf(relay, space.documentId);
    expect(answer.status).toBe(200);
    expect(answer.refused).toBeUndefined();
    const [spaceFrame, ...routed] = answer.frames;
    expect(spaceFrame?.documentId).toBe(space.documentId);
    expect(routed.map((frame) => frame.documentId).sort()).toEqual(
      standards.map((handle) => handle.documentId).sort(),
    );
    const handles = new Map<string, DocHandle<unknown>>(
      [space, ...standards].map((handle) => [handle.documentId, handle as DocHandle<unknown>]),
    );
    for (const frame of answer.frames)
      expect(headsOf(frame.bytes)).toEqual(
        ownHeads(handles.get(frame.documentId) as DocHandle<unknown>),
      );
    const firstFrame = answer.frames.find((frame) => frame.documentId === first.documentId);
    expect(A.load<Standard>(firstFrame?.bytes as Uint8Array).text).toBe("a, version 2");
  });

  it("answers 404 for a space it does not hold or an id that is not one, and 401 without the token", async () => {
    const relay = await kit.relay(storage, { token: "s3cret" });
    expect((await documentsOf(relay, "2PHnaDJm1NpmZXNrsWGXPQayrdZM", "?token=s3cret")).status).toBe(
      404,
    );
    expect((await documentsOf(relay, "..%2F..%2Fetc", "?token=s3cret")).status).toBe(404);
    expect((await documentsOf(relay, "2PHnaDJm1NpmZXNrsWGXPQayrdZM")).status).toBe(401);
  });
});

describe("GET /documents/<space> (directory)", () => {
  it("leaves out a routed document it does not hold, and one past the document size limit", async () => {
    const relay = await kit.relay("directory", {
      limits: { maxDocumentBytes: 64 * 1024, maxMessageBytes: 64 * 1024 },
    });
    const writer = kit.client(relay);
    const small = writer.create<Standard>({ text: "small" });
    const large = writer.create<Standard>({ text: randomText(30 * 1024) });
    await waitFor(() => [small, large].every((handle) => acknowledged(writer, handle)));
    // Grow `large` past the limit on the relay's disk behind its back: the relay refuses such a
    // write from a peer, but a document stored before the limit was lowered can be that large.
    const space = writer.create<Space>({
      standards: {
        [small.documentId]: "small",
        [large.documentId]: "large",
        "2PHnaDJm1NpmZXNrsWGXPQayrdZM": "nowhere",
      },
    });
    await waitFor(() => acknowledged(writer, space));
    const stored = await relay.repo.find<Standard>(large.documentId);
    stored.change((doc) => {
      doc.text = randomText(60 * 1024);
    });
    await relay.repo.flush([large.documentId]);

    const answer = await documentsOf(relay, space.documentId);
    expect(answer.refused).toBeUndefined();
    expect(answer.frames.map((frame) => frame.documentId)).toEqual([
      space.documentId,
      small.documentId,
    ]);
  });

  it("stops taking documents in once the answer holds 16 documents' worth of the size limit", async () => {
    // 64 KiB documents at most: the answer holds at most 1 MiB of them.
    const relay = await kit.relay("directory", {
      limits: { maxDocumentBytes: 64 * 1024, maxMessageBytes: 64 * 1024 },
    });
    const writer = kit.client(relay);
    const standards = Array.from({ length: 30 }, () =>
      writer.create<Standard>({ text: randomText(60 * 1024) }),
    );
    const space = writer.create<Space>({
      standards: Object.fromEntries(standards.map((handle) => [handle.documentId, "x"])),
    });
    await waitFor(
      () => [space, ...standards].every((handle) => acknowledged(writer, handle)),
      30_000,
    );

    const answer = await documentsOf(relay, space.documentId);
    expect(answer.status).toBe(200);
    // Complete (the end mark is there): the documents left out are the client's sync's to fetch.
    expect(answer.refused).toBeUndefined();
    expect(answer.frames[0]?.documentId).toBe(space.documentId);
    const sent = answer.frames.reduce((total, frame) => total + frame.bytes.byteLength, 0);
    expect(sent).toBeLessThanOrEqual(16 * 64 * 1024);
    expect(answer.frames.length).toBeGreaterThan(10);
    expect(answer.frames.length).toBeLessThan(31);
  });

  it("is refused past the address's request budget, as the heads summary is", async () => {
    const relay = await kit.relay("directory", { limits: { headsRequestsPerMinute: 2 } });
    const { space } = await spaceThrough(relay);
    expect((await documentsOf(relay, space.documentId)).status).toBe(200);
    expect((await documentsOf(relay, space.documentId)).status).toBe(200);
    const refused = await fetch(`http://127.0.0.1:${relay.port}/documents/${space.documentId}`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("60");
  });
});

describe("GET /documents/<space> with tokens per space (directory)", () => {
  it("answers a space's token for its own space only, the admin token for any", async () => {
    const admin = "admin-token-0123456789";
    const alphaToken = "alpha-reader-0123456789";
    // The spaces are written first through an admin-token relay, then served with the tokens file.
    const data = await kit.directory();
    const writerRelay = await kit.relay("directory", { storageDirectory: data });
    const alpha = await spaceThrough(writerRelay);
    const beta = await spaceThrough(writerRelay);
    await writerRelay.stop();
    const tokens = parseTokensFile(
      JSON.stringify({
        spaces: {
          [alpha.space.documentId]: { read: [alphaToken] },
          [beta.space.documentId]: { write: ["beta-writer-0123456789"] },
        },
      }),
      "tokens.json",
      admin,
    );
    const relay = await kit.relay("directory", {
      storageDirectory: data,
      token: admin,
      spaceTokens: tokens,
    });
    const own = await documentsOf(relay, alpha.space.documentId, `?token=${alphaToken}`);
    expect(own.status).toBe(200);
    expect(own.frames).toHaveLength(4);
    expect((await documentsOf(relay, beta.space.documentId, `?token=${alphaToken}`)).status).toBe(
      404,
    );
    const byAdmin = await documentsOf(relay, beta.space.documentId, `?token=${admin}`);
    expect(byAdmin.frames.map((frame) => frame.documentId)[0]).toBe(beta.space.documentId);
    expect(byAdmin.frames).toHaveLength(4);
  });
});

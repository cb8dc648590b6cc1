import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { afterEach, describe, expect, it } from "vitest";
import { bombTargetOf, insertBomb } from "../../../../test/helpers/op-bomb.js";
import { canonHome, openReplica } from "../../src/index.js";
import {
  DOCUMENT_FRAMES_END,
  DOCUMENT_FRAMES_TAG,
  documentFrameHeader,
} from "../../src/sync/document-frames.js";
import { fetchSpaceDocuments } from "../../src/sync/space-documents.js";

// The bulk answer's bytes are stored as they arrived (no re-encode): bytes that
// load once but break a later load, or that cost seconds and gigabytes to load,
// must never be taken in. A relay on 127.0.0.1 answers the crafted frames.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const newId = () => parseAutomergeUrl(generateAutomergeUrl()).documentId;
const frame = (id: string, bytes: Uint8Array) =>
  Buffer.concat([documentFrameHeader(id, bytes.length), bytes]);

async function answering(body: Uint8Array): Promise<string> {
  const server: Server = createServer((request, response) => {
    if (request.url?.startsWith("/documents/")) response.writeHead(200).end(body);
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("a bulk answer's bytes that would break or stall the home", () => {
  it("skips a document followed by junk and one whose chunk declares a million inserts; takes in the rest, and the home reopens", async () => {
    const space = newId();
    const padded = newId();
    const bombed = newId();
    const kept = newId();
    const spaceBytes = A.save(
      A.from({ standards: { [padded]: "padded", [bombed]: "bombed", [kept]: "kept" } }),
    );
    const good = A.save(A.from({ name: "padded", text: "v1" }));
    // Stored as received, junk after the document would sit between it and every later chunk.
    const withJunk = new Uint8Array([...good, 1, 2, 3, 4, 5]);
    expect(() => A.load(withJunk)).toThrow();
    const base = A.from<{ l: boolean[] }>({ l: [] });
    const bomb = new Uint8Array([
      ...A.save(base),
      ...insertBomb(
        1_000_000,
        bombTargetOf(A.decodeChange(A.getLastLocalChange(base) as Uint8Array)),
      ),
    ]);
    expect(bomb.length).toBeLessThan(300);
    const url = await answering(
      Buffer.concat([
        DOCUMENT_FRAMES_TAG,
        frame(space, spaceBytes),
        frame(padded, withJunk),
        frame(bombed, bomb),
        frame(kept, A.save(A.from({ name: "kept", text: "kept v1" }))),
        DOCUMENT_FRAMES_END,
      ]),
    );
    const root = await mkdtemp(join(tmpdir(), "canon-bulk-hostile-"));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const replica = await openReplica(canonHome(root));
    await replica.repo.storageId();
    const fetched = await fetchSpaceDocuments(replica, { url }, space, 20_000);
    expect(fetched).toEqual({ adopted: [space, kept], skipped: 2, unrouted: 0 });
    await replica.close();
    // What was stored loads again, and nothing of the refused documents was written.
    const again = await openReplica(canonHome(root));
    try {
      expect(await again.holds(padded)).toBe(false);
      expect(await again.holds(bombed)).toBe(false);
      expect((await again.find<{ text: string }>(kept))?.doc().text).toBe("kept v1");
    } finally {
      await again.close();
    }
  });
});

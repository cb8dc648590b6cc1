import type { DocHandle } from "@automerge/automerge-repo";
import { etagOf, headsDigest } from "@canon/store";
import { describe, expect, it } from "vitest";
import type { RelayServer } from "../src/relay-server.js";
import { acknowledged, relayTestKit, type TestStorage, waitFor } from "./helpers/relay-test-kit.js";

type Space = { standards: Record<string, boolean> };
type Standard = { text: string };

const kit = relayTestKit("canon-heads-digest");

/** `GET /heads/<space>`, naming `etag` in `If-None-Match` when given. */
async function ask(relay: RelayServer, space: DocHandle<Space>, etag?: string) {
  const response = await fetch(`http://127.0.0.1:${relay.port}/heads/${space.documentId}`, {
    headers: etag === undefined ? {} : { "if-none-match": etag },
  });
  const text = await response.text();
  return { status: response.status, etag: response.headers.get("etag"), text };
}

/** The entity tag of the heads `handles` hold now, as a home computes it from its own. */
function etagNow(space: DocHandle<Space>, handles: readonly DocHandle<unknown>[]): string {
  return etagOf(
    headsDigest(
      space.documentId,
      Object.fromEntries(handles.map((handle) => [handle.documentId, [...handle.heads()]])),
    ),
  );
}

/** A space routing to two standards, written through `relay` and acknowledged. */
async function spaceThrough(relay: RelayServer) {
  const writer = kit.client(relay);
  const standards = ["a", "b"].map((text) => writer.create<Standard>({ text }));
  const space = writer.create<Space>({
    standards: Object.fromEntries(standards.map((handle) => [handle.documentId, true])),
  });
  await waitFor(() => [space, ...standards].every((handle) => acknowledged(writer, handle)));
  return { writer, space, standards };
}

describe.each(["directory", "database"] as const)(
  "GET /heads by digest (%s)",
  (storage: TestStorage) => {
    it("answers 304 to the digest of its summary, and 200 after any write to any document of the space", async () => {
      // Documents leave memory quickly: answers come from storage and the heads cache too.
      const relay = await kit.relay(storage, { idleEvictionMs: 150 });
      const { writer, space, standards } = await spaceThrough(relay);
      const all = () => [space, ...standards] as DocHandle<unknown>[];

      const first = await ask(relay, space);
      expect(first.status).toBe(200);
      // The tag is the digest of exactly the heads the summary lists: a home computes the same.
      expect(first.etag).toBe(etagNow(space, all()));
      const listed = JSON.parse(first.text) as {
        space: string;
        documents: Record<string, string[]>;
      };
      expect(etagOf(headsDigest(listed.space, listed.documents))).toBe(first.etag);

      const same = await ask(relay, space, first.etag ?? "");
      expect(same).toEqual({ status: 304, etag: first.etag, text: "" });
      // Out of memory, from storage: still 304.
      await waitFor(() => Object.keys(relay.repo.handles).length === 0, 5000);
      expect((await ask(relay, space, first.etag ?? "")).status).toBe(304);
      // A list of tags, weak or strong, naming it; and tags that do not.
      expect((await ask(relay, space, `"other", W/${first.etag}`)).status).toBe(304);
      expect((await ask(relay, space, '"other"')).status).toBe(200);
      expect((await ask(relay, space, "*")).status).toBe(200);

      // A write to a standard's document: the old tag gets the new summary, with the new tag.
      let etag = first.etag ?? "";
      for (const handle of [...standards, space] as DocHandle<{ text?: string }>[]) {
        handle.change((doc) => {
          doc.text = `changed ${Date.now()}`;
        });
        await waitFor(() => acknowledged(writer, handle));
        const after = await ask(relay, space, etag);
        expect(after.status).toBe(200);
        expect(after.etag).toBe(etagNow(space, all()));
        expect(after.etag).not.toBe(etag);
        etag = after.etag ?? "";
        expect((await ask(relay, space, etag)).status).toBe(304);
        // And again once the document left memory (read back from storage, not a stale cache).
        await waitFor(() => Object.keys(relay.repo.handles).length === 0, 5000);
        expect((await ask(relay, space, etag)).status).toBe(304);
      }
    });
  },
);

describe("GET /heads by digest with several relays on one database", () => {
  it("answers 200 to the old tag once another relay wrote to a document of the space", async () => {
    const one = await kit.relay("database", { idleEvictionMs: 0 });
    const two = await kit.relay("database");
    const { writer, space, standards } = await spaceThrough(one);
    const before = await ask(two, space);
    expect((await ask(two, space, before.etag ?? "")).status).toBe(304);
    const [changed] = standards as [DocHandle<Standard>];
    changed.change((doc) => {
      doc.text = "changed through relay 1";
    });
    await waitFor(() => acknowledged(writer, changed));
    // Relay 2 holds nothing in memory: only the notification tells it.
    await waitFor(async () => (await ask(two, space, before.etag ?? "")).status === 200, 5000);
    expect((await ask(two, space)).etag).toBe(etagNow(space, [space, ...standards]));
  });
});

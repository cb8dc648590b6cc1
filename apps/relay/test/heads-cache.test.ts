import { type DocHandle, Repo } from "@automerge/automerge-repo";
import { FileStorage } from "@canon/store";
import { describe, expect, it } from "vitest";
import { type DocumentHeads, HeadsCache, reportingWrites } from "../src/heads-cache.js";
import type { RelayServer, RelayServerOptions } from "../src/relay-server.js";
import { acknowledged, relayTestKit, type TestStorage, waitFor } from "./helpers/relay-test-kit.js";

type Space = { standards: Record<string, boolean> };
type Standard = { text: string };

const kit = relayTestKit("canon-heads-cache");
const directory = () => kit.directory();
const relayWith = (storage: TestStorage, extra: Partial<RelayServerOptions> = {}) =>
  kit.relay(storage, { idleEvictionMs: 150, ...extra });
const clientOf = (relay: RelayServer) => kit.client(relay);

async function summaryOf(relay: RelayServer, space: DocHandle<Space>) {
  const response = await fetch(`http://127.0.0.1:${relay.port}/heads/${space.documentId}`);
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    body: response.ok
      ? ((await response.json()) as { documents: Record<string, string[]> })
      : undefined,
  };
}

/** A space routing to three standards, written through `relay` and acknowledged. */
async function spaceThrough(relay: RelayServer) {
  const writer = clientOf(relay);
  const standards = ["a", "b", "c"].map((text) => writer.create<Standard>({ text }));
  const space = writer.create<Space>({
    standards: Object.fromEntries(standards.map((handle) => [handle.documentId, true])),
  });
  await waitFor(() => [space, ...standards].every((handle) => acknowledged(writer, handle)));
  return { writer, space, standards };
}

function expected(handles: readonly DocHandle<unknown>[]): Record<string, string[]> {
  return Object.fromEntries(
    handles.map((handle) => [handle.documentId, [...handle.heads()].sort()]),
  );
}

describe.each(["directory", "database"] as const)("GET /heads from storage (%s)", (storage) => {
  it("answers the stored heads of documents out of memory, and the new heads after a write", async () => {
    const relay = await relayWith(storage);
    const { writer, space, standards } = await spaceThrough(relay);
    await waitFor(() => Object.keys(relay.repo.handles).length === 0, 5000);

    const first = await summaryOf(relay, space);
    expect(first.body?.documents).toEqual(expected([space, ...standards]));
    // Asked twice: the same answer (the second from the cache).
    expect((await summaryOf(relay, space)).body?.documents).toEqual(first.body?.documents);

    const [changed] = standards as [DocHandle<Standard>];
    changed.change((doc) => {
      doc.text = "a, version 2";
    });
    await waitFor(() => acknowledged(writer, changed));
    await waitFor(() => Object.keys(relay.repo.handles).length === 0, 5000);
    const after = await summaryOf(relay, space);
    expect(after.body?.documents).toEqual(expected([space, ...standards]));
    expect(after.body?.documents[changed.documentId]).not.toEqual(
      first.body?.documents[changed.documentId],
    );
  });
});

describe("GET /heads with several relays on one database", () => {
  it("forgets a cached document when another relay writes to it", async () => {
    const one = await relayWith("database", { idleEvictionMs: 0 });
    const two = await relayWith("database");
    const { writer, space, standards } = await spaceThrough(one);
    const before = await summaryOf(two, space);
    expect(before.body?.documents).toEqual(expected([space, ...standards]));

    const [changed] = standards as [DocHandle<Standard>];
    changed.change((doc) => {
      doc.text = "changed through relay 1";
    });
    await waitFor(() => acknowledged(writer, changed));
    // Relay 2 holds nothing in memory: only the notification tells it.
    expect(Object.keys(two.repo.handles)).toHaveLength(0);
    await waitFor(
      async () =>
        JSON.stringify((await summaryOf(two, space)).body?.documents[changed.documentId]) ===
        JSON.stringify([...changed.heads()].sort()),
      5000,
    );
  });
});

describe("GET /heads costs", () => {
  it("answers 429 with Retry-After past an address's requests per minute", async () => {
    const relay = await relayWith("directory", { limits: { headsRequestsPerMinute: 3 } });
    const { space } = await spaceThrough(relay);
    for (let request = 0; request < 3; request++)
      expect((await summaryOf(relay, space)).status).toBe(200);
    const refused = await summaryOf(relay, space);
    expect(refused.status).toBe(429);
    expect(refused.retryAfter).toBe("60");
  });
});

describe("HeadsCache", () => {
  const entry = (heads: string[], routed: string[] = []): DocumentHeads => ({ heads, routed });

  it("reads a document once, and again after it is invalidated", async () => {
    const cache = new HeadsCache();
    let reads = 0;
    const read = async () => {
      reads += 1;
      return entry([`head-${reads}`]);
    };
    expect(await cache.get("doc", read)).toEqual(entry(["head-1"]));
    expect(await cache.get("doc", read)).toEqual(entry(["head-1"]));
    expect(reads).toBe(1);
    cache.invalidate("doc");
    expect(await cache.get("doc", read)).toEqual(entry(["head-2"]));
    expect(reads).toBe(2);
  });

  it("does not keep a read that a write overtook", async () => {
    const cache = new HeadsCache();
    let release = () => {};
    const slow = cache.get(
      "doc",
      () =>
        new Promise<DocumentHeads>((resolve) => {
          release = () => resolve(entry(["old"]));
        }),
    );
    cache.invalidate("doc");
    release();
    expect(await slow).toEqual(entry(["old"]));
    expect(await cache.get("doc", async () => entry(["new"]))).toEqual(entry(["new"]));
  });

  // Sixth pass, probed: two reads of one document in flight share one mark,
  // which the first to end takes away; a write ending after it and before
  // the second could leave the second's (older) heads cached, a stale
  // summary until the next write. It cannot: the first read's own caching
  // marks every read of the document still in flight stale.
  it("does not keep a read that a write overtook, when another read of it ended first", async () => {
    const cache = new HeadsCache();
    const pending: ((value: DocumentHeads) => void)[] = [];
    const slowRead = () => new Promise<DocumentHeads>((resolve) => pending.push(resolve));
    const first = cache.get("doc", slowRead);
    const second = cache.get("doc", slowRead);
    expect(pending).toHaveLength(2);
    pending[0]?.(entry(["old"]));
    expect(await first).toEqual(entry(["old"]));
    cache.invalidate("doc");
    pending[1]?.(entry(["old"]));
    expect(await second).toEqual(entry(["old"]));
    expect(await cache.get("doc", async () => entry(["new"]))).toEqual(entry(["new"]));
  });

  it("stays within its weight, dropping the least recently used first", async () => {
    const cache = new HeadsCache(10);
    for (const id of ["a", "b", "c", "d", "e"]) await cache.get(id, async () => entry(["h"]));
    // 2 each: 5 entries weigh 10.
    expect(cache.size).toBe(5);
    await cache.get("a", async () => entry(["fresh"]));
    await cache.get("f", async () => entry(["h"]));
    expect(cache.size).toBe(5);
    // "b" was the least recently used: read again.
    let reread = false;
    await cache.get("b", async () => {
      reread = true;
      return entry(["h"]);
    });
    expect(reread).toBe(true);
    // One entry heavier than the whole cache is answered, not kept.
    await cache.get("huge", async () => entry(Array.from({ length: 20 }, (_, i) => `h${i}`)));
    expect(cache.size).toBeLessThanOrEqual(5);
  });

  it("is told of every content write through the storage, never of a sync state's", async () => {
    const folder = await directory();
    const forgotten: string[] = [];
    const storage = reportingWrites(new FileStorage(folder), (id) => forgotten.push(id));
    const repo = new Repo({ storage, network: [] });
    const handle = repo.create<Standard>({ text: "x" });
    await repo.flush([handle.documentId]);
    expect(forgotten).toContain(handle.documentId);
    forgotten.length = 0;
    await storage.save([handle.documentId, "sync-state", "peer"], new Uint8Array([1]));
    // (The Repo may write its own storage id meanwhile; that names no document.)
    expect(forgotten).not.toContain(handle.documentId);
    await repo.shutdown();
  });
});

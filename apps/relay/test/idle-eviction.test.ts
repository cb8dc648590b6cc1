import * as A from "@automerge/automerge";
import {
  type AutomergeUrl,
  type DocumentId,
  generateAutomergeUrl,
  interpretAsDocumentId,
  Repo,
} from "@automerge/automerge-repo";
import { FileStorage } from "@canon/store";
import { describe, expect, it } from "vitest";
import type { RelayServer } from "../src/relay-server.js";
import { acknowledged, relayTestKit, type TestStorage, waitFor } from "./helpers/relay-test-kit.js";

type Doc = { items: Record<string, number> };

const kit = relayTestKit("canon-relay-evict");
type Storage = TestStorage;
const relayWith = (storage: Storage, idleEvictionMs: number) =>
  kit.relay(storage, { idleEvictionMs, logLevel: "warn" });
const clientOf = (relay: RelayServer, name: string) => kit.client(relay, name);
const close = (client: Repo) => kit.close(client);

function inMemory(relay: RelayServer, documentId: DocumentId): boolean {
  return relay.repo.handles[documentId] !== undefined;
}

async function evictedTotal(relay: RelayServer): Promise<number> {
  const text = await relay.metrics();
  return Number(/^canon_relay_evicted_documents_total (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
}

describe.each<Storage>(["directory", "database"])(
  "idle documents leave memory (%s storage)",
  (storage) => {
    it("evicts a document nobody has touched for the idle time, and loads it again from storage when asked", async () => {
      const relay = await relayWith(storage, 300);
      const writer = clientOf(relay, "writer");
      const handle = writer.create<Doc>({ items: { first: 1 } });
      handle.change((doc) => {
        doc.items.second = 2;
      });
      await waitFor(() => acknowledged(writer, handle));
      expect(inMemory(relay, handle.documentId)).toBe(true);
      await close(writer);

      await waitFor(() => !inMemory(relay, handle.documentId), 5000);
      expect(await evictedTotal(relay)).toBeGreaterThanOrEqual(1);
      expect((await relay.health()).ok).toBe(true);

      const reader = clientOf(relay, "reader");
      const read = await reader.find<Doc>(handle.url as AutomergeUrl);
      expect(read.doc().items).toEqual({ first: 1, second: 2 });
      expect(inMemory(relay, handle.documentId)).toBe(true);
    });

    it("drops the handles of ids nobody had (a peer asking for random ids), and still serves such an id once someone stores it", async () => {
      const relay = await relayWith(storage, 2000);
      const prober = clientOf(relay, "prober");
      const asked = Array.from({ length: 40 }, () => generateAutomergeUrl());
      await Promise.all(
        asked.map((url) =>
          prober.find(url, { allowableStates: ["ready", "unavailable"] }).catch(() => undefined),
        ),
      );
      const ids = asked.map((url) => interpretAsDocumentId(url));
      expect(ids.filter((id) => relay.repo.handles[id]?.state === "unavailable").length).toBe(40);
      await close(prober);
      // Without Canon's patch, unavailable handles stayed in memory for ever.
      await waitFor(() => ids.every((id) => !inMemory(relay, id)), 10_000);

      // One of those ids is stored later, under that id: a reader finds it.
      const writer = clientOf(relay, "writer");
      const handle = writer.import<Doc>(A.save(A.from<Doc>({ items: { late: 1 } })), {
        docId: ids[0] as DocumentId,
      });
      await waitFor(() => acknowledged(writer, handle));
      const reader = clientOf(relay, "reader");
      expect((await reader.find<Doc>(asked[0] as AutomergeUrl)).doc().items).toEqual({ late: 1 });
    });

    it("keeps a document in memory while messages about it keep coming", async () => {
      const relay = await relayWith(storage, 3000);
      const writer = clientOf(relay, "busy");
      const handle = writer.create<Doc>({ items: {} });
      await waitFor(() => acknowledged(writer, handle));
      // A change every 100 ms for 4 s (longer than the idle time), never 3 s apart.
      for (let round = 0; round < 40; round++) {
        handle.change((doc) => {
          doc.items[`round-${round}`] = round;
        });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await waitFor(() => acknowledged(writer, handle));
      expect(await evictedTotal(relay)).toBe(0);
      expect(inMemory(relay, handle.documentId)).toBe(true);
    });

    it("a peer that still has an evicted document open hears of the next change to it", async () => {
      const relay = await relayWith(storage, 200);
      const writer = clientOf(relay, "writer");
      const handle = writer.create<Doc>({ items: { first: 1 } });
      await waitFor(() => acknowledged(writer, handle));
      const watcher = clientOf(relay, "watcher");
      const seen = await watcher.find<Doc>(handle.url as AutomergeUrl);
      await waitFor(() => !inMemory(relay, handle.documentId), 5000);

      handle.change((doc) => {
        doc.items.after = 2;
      });
      await waitFor(() => seen.doc().items.after === 2, 10_000);
    });

    it("a sync racing evictions loses nothing: every change a client made is stored and read back", async () => {
      // Evict anything idle for 1 ms, swept every 100 ms: evictions land between the writer's messages.
      const relay = await relayWith(storage, 1);
      const writer = clientOf(relay, "racer");
      const handle = writer.create<Doc>({ items: {} });
      const changes = 80;
      for (let index = 0; index < changes; index++) {
        handle.change((doc) => {
          doc.items[`change-${index}`] = index;
        });
        // Sometimes in a burst, sometimes after a pause long enough for a sweep (every 100 ms).
        await new Promise((resolve) => setTimeout(resolve, index % 5 === 0 ? 300 : index % 3));
      }
      // Evictions landed between the writer's changes, not only after the last one.
      expect(await evictedTotal(relay)).toBeGreaterThanOrEqual(2);
      await waitFor(() => acknowledged(writer, handle));
      await close(writer);
      await waitFor(() => !inMemory(relay, handle.documentId), 5000);

      const expected = Object.fromEntries(
        Array.from({ length: changes }, (_, index) => [`change-${index}`, index]),
      );
      const reader = clientOf(relay, "reader");
      const read = await reader.find<Doc>(handle.url as AutomergeUrl);
      expect(read.doc().items).toEqual(expected);
      if (storage === "directory") {
        // And straight from the relay's files, without the relay.
        const stored = new Repo({ storage: new FileStorage(relay.storage), network: [] });
        const fromDisk = await stored.find<Doc>(handle.url as AutomergeUrl);
        expect(fromDisk.doc().items).toEqual(expected);
        await stored.shutdown();
      }
    });
  },
);

describe("eviction with several relays on one database", () => {
  it("a watcher on relay 2 hears of a change written through relay 1 to a document relay 2 evicted", async () => {
    const one = await relayWith("database", 0);
    const two = await relayWith("database", 200);
    const writer = clientOf(one, "writer");
    const handle = writer.create<Doc>({ items: { first: 1 } });
    await waitFor(() => acknowledged(writer, handle));
    const watcher = clientOf(two, "watcher");
    const seen = await watcher.find<Doc>(handle.url as AutomergeUrl);
    await waitFor(() => !inMemory(two, handle.documentId), 5000);

    handle.change((doc) => {
      doc.items.across = 2;
    });
    await waitFor(() => seen.doc().items.across === 2, 10_000);
    expect(inMemory(two, handle.documentId)).toBe(true);
  });

  it("a watcher on relay 2 keeps hearing of changes written through relay 1 across evictions on both relays, again and again", async () => {
    const one = await relayWith("database", 200);
    const two = await relayWith("database", 200);
    const writer = clientOf(one, "writer");
    const handle = writer.create<Doc>({ items: { first: 1 } });
    await waitFor(() => acknowledged(writer, handle));
    const watcher = clientOf(two, "watcher");
    const seen = await watcher.find<Doc>(handle.url as AutomergeUrl);
    for (let round = 1; round <= 3; round++) {
      await waitFor(
        () => !inMemory(one, handle.documentId) && !inMemory(two, handle.documentId),
        5000,
      );
      handle.change((doc) => {
        doc.items[`round-${round}`] = round;
      });
      await waitFor(() => seen.doc().items[`round-${round}`] === round, 10_000);
    }
  });

  it("a document nobody on relay 2 has open stays out of its memory when relay 1 writes to it", async () => {
    const one = await relayWith("database", 0);
    const two = await relayWith("database", 200);
    const writer = clientOf(one, "writer");
    const handle = writer.create<Doc>({ items: { first: 1 } });
    await waitFor(() => acknowledged(writer, handle));
    const reader = clientOf(two, "reader");
    await reader.find<Doc>(handle.url as AutomergeUrl);
    await close(reader);
    await waitFor(() => !inMemory(two, handle.documentId), 5000);

    handle.change((doc) => {
      doc.items.later = 2;
    });
    await waitFor(() => acknowledged(writer, handle));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(inMemory(two, handle.documentId)).toBe(false);
  });
});

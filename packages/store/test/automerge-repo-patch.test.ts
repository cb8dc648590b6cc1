import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageChannel } from "node:worker_threads";
import { next as A } from "@automerge/automerge";
import { encodeHeads, generateAutomergeUrl, type PeerId, Repo } from "@automerge/automerge-repo";
import { MessageChannelNetworkAdapter } from "@automerge/automerge-repo-network-messagechannel";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FileStorage } from "../src/storage/file-storage.js";

/**
 * What `patches/@automerge__automerge-repo@2.5.6.patch` changes, observed
 * from outside. Each test fails on an unpatched automerge-repo 2.5.6 (where
 * every document's sync waits a fixed 100 ms, and storage replays chunks
 * with `loadIncremental`); check them again before dropping or porting the
 * patch to a newer release.
 */
describe("the automerge-repo patch", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it("takes syncDebounceRate as a Repo option, defaulting to upstream's 100 ms, and gives it to each document's synchronizer", async () => {
    const fast = new Repo({ syncDebounceRate: 2 });
    const upstream = new Repo();
    expect(fast.syncDebounceRate).toBe(2);
    expect(upstream.syncDebounceRate).toBe(100);

    const handle = fast.create({ n: 0 });
    expect(fast.synchronizer.docSynchronizers[handle.documentId]?.syncDebounceRate).toBe(2);
    const other = upstream.create({ n: 0 });
    expect(upstream.synchronizer.docSynchronizers[other.documentId]?.syncDebounceRate).toBe(100);
    await Promise.all([fast.shutdown(), upstream.shutdown()]);
  });

  it.each([
    { option: 2, waits: 2 },
    { option: undefined, waits: 100 },
  ])(
    "sends a change to a peer $waits ms after it is made (syncDebounceRate: $option)",
    async ({ option, waits }) => {
      const peer = await silentPeer();
      const repo = new Repo({
        network: [peer.adapter],
        peerId: "alice" as PeerId,
        ...(option === undefined ? {} : { syncDebounceRate: option }),
      });
      try {
        await new Promise((resolve) => repo.networkSubsystem.once("peer", resolve));
        const send = vi.spyOn(peer.adapter, "send");
        /** Heads of every sync message sent so far: each names the changes it brings. */
        const sentHeads = () =>
          send.mock.calls.flatMap(([message]) =>
            message.type === "sync" && "data" in message
              ? A.decodeSyncMessage(message.data).heads
              : [],
          );

        vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
        const handle = repo.create<{ n: number }>({ n: 0 });
        // Run the sync that creating the document scheduled: the debounce counts from it.
        await vi.advanceTimersToNextTimerAsync();

        handle.change((doc) => {
          doc.n = 1;
        });
        const [head] = A.getHeads(handle.doc());
        await vi.advanceTimersByTimeAsync(waits - 1);
        expect(sentHeads()).not.toContain(head);
        await vi.advanceTimersByTimeAsync(1);
        expect(sentHeads()).toContain(head);
      } finally {
        vi.useRealTimers();
        await repo.shutdown();
        peer.close();
      }
    },
  );

  it("opens a compacted snapshot from storage whole (A.load), without replaying it through loadIncremental", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-patch-"));
    try {
      const storage = new FileStorage(directory);
      const writer = new Repo({ storage });
      const handle = writer.create<{ records: Record<string, string> }>({ records: {} });
      for (let i = 0; i < 20; i++)
        handle.change((doc) => {
          doc.records[`cid-${i}`] = `record ${i}`;
        });
      await writer.flush();
      await storage.compact(handle.documentId, A.save(handle.doc()), "snapshot-of-20");
      expect(storage.chunkNames(handle.documentId)).toEqual(["snapshot/snapshot-of-20"]);
      await writer.shutdown();

      // Every Automerge document's backend shares this prototype, whichever module loaded it.
      const backend = Object.getPrototypeOf(A.getBackend(A.init()));
      const replayed = vi.spyOn(backend, "loadIncremental");
      const reader = new Repo({ storage: new FileStorage(directory) });
      const loaded = await reader.find<{ records: Record<string, string> }>(handle.url);
      expect(loaded.doc()).toEqual(handle.doc());
      expect(loaded.heads()).toEqual(handle.heads());
      expect(replayed).not.toHaveBeenCalled();
      await reader.shutdown();

      // Control: the unpatched code path, A.loadIncremental(A.init(), bytes), is seen by the spy.
      A.loadIncremental(A.init(), A.save(handle.doc()));
      expect(replayed).toHaveBeenCalledTimes(1);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("computes a change event's patches only when a listener reads them, and they are the same patches", async () => {
    const repo = new Repo();
    const source = A.from<{ records: Record<string, number> }>({ records: { a: 1 } });
    const events: { patches: A.Patch[] }[] = [];
    // A document taken in whole: its first update no longer diffs it against an empty one.
    const taken = repo.import<{ records: Record<string, number> }>(A.save(source));
    taken.on("change", (event) => events.push(event));
    taken.change((doc) => {
      doc.records.b = 2;
    });
    const [event] = events;
    // A getter: nothing was diffed for listeners that do not look.
    expect(typeof Object.getOwnPropertyDescriptor(event, "patches")?.get).toBe("function");
    expect(event?.patches).toEqual([{ action: "put", path: ["records", "b"], value: 2 }]);
    // Read twice, computed once.
    expect(event?.patches).toBe(event?.patches);
    await repo.shutdown();
  });

  it("stores bytes a document was loaded from as its snapshot (saveLoaded) and counts its heads as saved: no save encodes it again", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-patch-"));
    try {
      const storage = new FileStorage(directory);
      const repo = new Repo({ storage });
      const first = A.from<{ n: number }>({ n: 1 });
      const second = A.change(first, (doc) => {
        doc.n = 2;
      });
      const bytes = new Uint8Array([...A.save(first), ...A.saveSince(second, A.getHeads(first))]);
      const doc = A.load<{ n: number }>(bytes);
      const handle = repo.import<{ n: number }>(new Uint8Array(0));
      // automerge-repo reports each save it encodes (a snapshot, or the changes since the last).
      const encoded: string[] = [];
      repo.storageSubsystem?.on("doc-compacted", () => encoded.push("snapshot"));
      repo.storageSubsystem?.on("doc-saved", () => encoded.push("changes"));
      await repo.storageSubsystem?.saveLoaded(handle.documentId, doc, bytes);
      handle.update(() => doc);
      await repo.flush();
      expect(encoded).toEqual([]);
      const chunks = await storage.loadRange([handle.documentId]);
      expect(chunks.map((chunk) => chunk.key[1])).toEqual(["snapshot"]);
      expect(chunks[0]?.data).toEqual(bytes);
      await repo.shutdown();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("remembers a handle's encoded heads for the document value they were read from, and reads them again when the document changes", async () => {
    const repo = new Repo();
    const peer = A.from<{ n: number; m?: number }>({ n: 0 });
    const handle = repo.import<{ n: number; m?: number }>(A.save(peer));
    await handle.whenReady();
    const current = () => encodeHeads(A.getHeads(handle.doc()));
    const first = handle.heads();
    expect(first).toEqual(current());

    // Every Automerge document's backend shares this prototype: a second call reads nothing.
    const backend = Object.getPrototypeOf(A.getBackend(A.init()));
    const read = vi.spyOn(backend, "getHeads");
    const again = handle.heads();
    expect(again).toEqual(first);
    expect(read).not.toHaveBeenCalled();
    // A copy each call, as upstream: a caller's edit does not reach the next caller.
    again.push(first[0] as (typeof first)[number]);
    expect(handle.heads()).toEqual(first);

    // A local change: new heads.
    handle.change((doc) => {
      doc.n = 1;
    });
    const changed = handle.heads();
    expect(changed).not.toEqual(first);
    expect(changed).toEqual(current());

    // A change from elsewhere, taken in by an update (as a sync does): new heads again.
    const theirs = A.change(A.clone(peer), (doc) => {
      doc.m = 2;
    });
    handle.update((doc) => A.merge(doc, theirs));
    const merged = handle.heads();
    expect(merged).not.toEqual(changed);
    expect(merged).toEqual(current());
    expect(merged).toHaveLength(2);

    // A handle fixed at some heads still answers those.
    expect(handle.view(changed).heads()).toEqual(changed);
    await repo.shutdown();
  });

  it("runs each handle's state machine as upstream's (one definition shared by every handle): ready, deleted, unavailable", async () => {
    const repo = new Repo();
    const [one, two] = [repo.create({ n: 1 }), repo.create({ n: 2 })];
    expect([one.isReady(), two.isReady()]).toEqual([true, true]);
    two.change((doc) => {
      doc.n = 3;
    });
    expect([one.doc().n, two.doc().n]).toEqual([1, 3]);
    const deleted: unknown[] = [];
    one.on("delete", ({ handle }) => deleted.push(handle));
    one.delete();
    expect(deleted).toEqual([one]);
    expect(one.isDeleted()).toBe(true);
    expect(two.isReady()).toBe(true);
    // A document no peer has: unavailable, on its own handle only.
    const nowhere = repo.find(generateAutomergeUrl());
    await expect(nowhere).rejects.toThrow();
    expect(two.doc().n).toBe(3);
    await repo.shutdown();
  });
});

/**
 * A MessageChannel peer that completes the adapter's handshake and then
 * never answers, so everything sent is the Repo's own initiative.
 */
async function silentPeer() {
  const { port1, port2 } = new MessageChannel();
  port2.on("message", (message: { type: string; senderId: string }) => {
    if (message.type === "arrive")
      port2.postMessage({
        type: "welcome",
        senderId: "silent",
        peerMetadata: {},
        targetId: message.senderId,
      });
  });
  const adapter = new MessageChannelNetworkAdapter(
    port1 as unknown as ConstructorParameters<typeof MessageChannelNetworkAdapter>[0],
  );
  return {
    adapter,
    close: () => {
      port1.close();
      port2.close();
    },
  };
}

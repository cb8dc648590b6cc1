import * as A from "@automerge/automerge";
import {
  type DocumentId,
  generateAutomergeUrl,
  type PeerId,
  parseAutomergeUrl,
  Repo,
} from "@automerge/automerge-repo";
import { afterEach, describe, expect, it } from "vitest";
import {
  chunksApply,
  createsObjects,
  depthOf,
  loadWithin,
  MAX_DOCUMENT_NESTING,
  probeDocument,
  syncMessageTooDeep,
} from "../../src/sync/document-depth.js";
import { RelayClient } from "../../src/sync/relay-client.js";
import { firstClientError, hostileRelay } from "../helpers/hostile-relay.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A document nesting `levels` maps, one level per change: no change nests more than one. */
function deepDocument(levels: number): { bytes: Uint8Array; heads: A.Heads } {
  const backend = A.getBackend(A.init());
  let obj = "_root";
  for (let i = 0; i < levels; i++) {
    obj = backend.putObject(obj, "a", {});
    backend.commit(`level ${i}`);
  }
  return { bytes: backend.save(), heads: backend.getHeads() };
}

/** Fails unless Automerge's WebAssembly module still works in this process. */
function expectAutomergeAlive(): void {
  expect(
    A.change(A.from({ n: 1 }), (doc) => {
      doc.n = 2;
    }).n,
  ).toBe(2);
}

describe("probing hostile bytes for nesting without patching them", () => {
  it("finds a document nesting 20,000 maps (one level per change) too deep, and Automerge survives", () => {
    const { bytes } = deepDocument(20_000);
    // `A.loadIncremental(A.init(), bytes)` here traps the module ("unreachable").
    expect(probeDocument(bytes)).toEqual({ ok: false, reason: "too-deep" });
    expect(
      syncMessageTooDeep(A.encodeSyncMessage({ heads: [], need: [], have: [], changes: [bytes] })),
    ).toBe(`a document nesting objects over ${MAX_DOCUMENT_NESTING} deep`);
    expectAutomergeAlive();
  }, 30_000);

  it("measures a shallow document, conflicting values and lists included", () => {
    const doc = A.from<Record<string, unknown>>({ standards: { x: { list: [{ deep: {} }] } } });
    expect(probeDocument(A.save(doc))).toEqual({ ok: true, depth: 5 });
    const other = A.change(A.clone(doc, { actor: "ab".repeat(16) }), (d) => {
      d.standards = { a: { b: { c: { d: { e: {} } } } } };
    });
    const merged = A.merge(A.clone(doc), other);
    // The conflict's loser counts: both values of `standards` are walked.
    expect(depthOf(A.getBackend(merged))).toBe(6);
    expect(probeDocument(Uint8Array.of(1, 2, 3))).toEqual({ ok: false, reason: "does-not-load" });
    // Objects inside a text (blocks) count too.
    const withText = A.getBackend(A.init());
    const text = withText.putObject("_root", "t", "hello world");
    const block = withText.insertObject(text, 3, {});
    withText.putObject(block, "inner", {});
    withText.commit("blocks");
    expect(probeDocument(withText.save())).toEqual({ ok: true, depth: 3 });
  });

  it("loads a whole document once and measures it there: deep ones refused, shallow ones returned whole", () => {
    // 20,000 levels, one a change: `A.load` builds no patches, so it survives; the document is refused.
    expect(loadWithin(deepDocument(20_000).bytes)).toBeUndefined();
    expectAutomergeAlive();
    // Just over the limit, and just within it (these have more ops than the limit, so they are walked).
    expect(loadWithin(deepDocument(MAX_DOCUMENT_NESTING + 1).bytes)).toBeUndefined();
    const within = loadWithin<{ a: object }>(deepDocument(MAX_DOCUMENT_NESTING).bytes);
    expect(within && typeof within.a).toBe("object");
    // A small document (at most `limit` ops) is returned without a walk, whole.
    const small = A.from({ canon: "standard", records: { r: new Uint8Array([1, 2]) } });
    expect(loadWithin<typeof small>(A.save(small))?.records.r).toEqual(new Uint8Array([1, 2]));
    // Many ops making few objects (a standard's document: not walked), and many objects side by side (walked): both whole.
    const records = Object.fromEntries(
      Array.from({ length: 100 }, (_, i) => [`r${i}`, new Uint8Array([i])]),
    );
    const standard = A.from({ canon: "standard", name: "s", records, contents: {} });
    expect(loadWithin<typeof standard>(A.save(standard))?.records.r99).toEqual(
      new Uint8Array([99]),
    );
    const wide = A.from({ maps: Array.from({ length: 100 }, (_, i) => ({ i })) });
    expect(loadWithin<typeof wide>(A.save(wide))?.maps[99]?.i).toBe(99);
    // Conflicting values: the deeper one counts, whichever wins.
    const doc = A.from<Record<string, unknown>>({ standards: {} });
    const other = A.change(A.clone(doc, { actor: "ab".repeat(16) }), (d) => {
      d.standards = { a: { a: { a: {} } } };
    });
    const merged = A.merge(A.clone(doc), other);
    expect(loadWithin(A.save(merged), 3)).toBeUndefined();
    expect(loadWithin(A.save(merged), 4)).toBeDefined();
    expect(loadWithin(Uint8Array.of(1, 2, 3))).toBeUndefined();
  }, 30_000);

  it("says which chunks can nest a document deeper: a change making an object, or bytes that are no change", () => {
    const doc = A.from<{ records: Record<string, Uint8Array>; nested?: object }>({ records: {} });
    // A record is bytes: adding one makes no object (a string would: Automerge 3 makes it text).
    const entry = A.change(doc, (d) => {
      d.records.a = new Uint8Array([1, 2, 3]);
    });
    // Read at once: the next change moves the backend both documents share.
    const entryChange = A.getLastLocalChange(entry) as Uint8Array;
    const object = A.change(entry, (d) => {
      d.nested = {};
    });
    expect(createsObjects([entryChange])).toBe(false);
    expect(createsObjects([A.getLastLocalChange(object) as Uint8Array])).toBe(true);
    expect(createsObjects([A.save(doc)])).toBe(true);
    expect(createsObjects([])).toBe(false);
  });

  it("refuses changes of one level each that would nest the document over the limit", () => {
    const base = A.from<Record<string, unknown>>({ text: "kept" });
    const backend = A.getBackend(A.clone(base));
    const changes: Uint8Array[] = [];
    let obj = "_root";
    for (let i = 0; i < MAX_DOCUMENT_NESTING + 100; i++) {
      obj = backend.putObject(obj, "n", {});
      backend.commit(`level ${i}`);
      changes.push(backend.getLastLocalChange() as Uint8Array);
    }
    expect(chunksApply(base, changes.slice(0, MAX_DOCUMENT_NESTING))).toEqual({ ok: true });
    expect(chunksApply(base, changes)).toEqual({ ok: false, reason: "too-deep" });
    expectAutomergeAlive();
  });
});

describe("a hostile relay cannot kill the client's Automerge", () => {
  it("drops a sync message carrying a document nesting 20,000 maps and closes the connection", async () => {
    const { bytes, heads } = deepDocument(20_000);
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    const url = await hostileRelay(cleanup, (join, reply) => {
      if (join.type !== "join") return;
      reply({ type: "peer", selectedProtocolVersion: "1" });
      reply({
        type: "sync",
        documentId,
        data: A.encodeSyncMessage({ heads, need: [], have: [], changes: [bytes] }),
      });
    });
    const client = new RelayClient(url);
    const repo = new Repo({ network: [client], peerId: "client" as PeerId });
    cleanup.push(async () => {
      client.disconnect();
      await repo.shutdown();
    });
    expect((await firstClientError(client))?.message).toBe(
      `the relay sent a document nesting objects over ${MAX_DOCUMENT_NESTING} deep; message dropped`,
    );
    expectAutomergeAlive();
  }, 30_000);

  it("drops changes of one level each that would nest a document it holds over the limit", async () => {
    const source = A.getBackend(A.init());
    let obj = "_root";
    const levels = () => {
      obj = source.putObject(obj, "n", {});
      source.commit("level");
      return source.getLastLocalChange() as Uint8Array;
    };
    for (let i = 0; i < 60; i++) levels();
    const shallow = source.save();
    const shallowHeads = source.getHeads();
    const more = Array.from({ length: 104 }, levels);
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    const url = await hostileRelay(cleanup, (join, reply) => {
      if (join.type !== "join") return;
      const sync = (heads: A.Heads, changes: Uint8Array[]) =>
        reply({
          type: "sync",
          documentId,
          data: A.encodeSyncMessage({ heads, need: [], have: [], changes }),
        });
      reply({ type: "peer", selectedProtocolVersion: "1" });
      // 60 levels, taken; then 104 more, one level per change, each change alone harmless.
      sync(shallowHeads, [shallow]);
      setTimeout(() => sync(source.getHeads(), more), 500);
    });
    const client = new RelayClient(url);
    const repo = new Repo({ network: [client], peerId: "client" as PeerId });
    client.heldDocument = (id) => {
      const handle = repo.handles[id as DocumentId];
      return handle?.isReady() ? handle.doc() : undefined;
    };
    cleanup.push(async () => {
      client.disconnect();
      await repo.shutdown();
    });
    expect((await firstClientError(client))?.message).toBe(
      `the relay sent changes nesting ${documentId} over ${MAX_DOCUMENT_NESTING} deep; message dropped`,
    );
    const held = repo.handles[documentId as DocumentId]?.doc();
    expect(held && depthOf(A.getBackend(A.clone(held)), 500)).toBe(60);
    expectAutomergeAlive();
  }, 30_000);
});

import { deflateRawSync } from "node:zlib";
import * as A from "@automerge/automerge";
import {
  generateAutomergeUrl,
  type PeerId,
  parseAutomergeUrl,
  Repo,
} from "@automerge/automerge-repo";
import { afterEach, describe, expect, it } from "vitest";
import { bombTargetOf, insertBomb } from "../../../../test/helpers/op-bomb.js";
import {
  CLIENT_DOCUMENT_ITEMS,
  chunkItems,
  itemsAllowed,
  maxInflatedOf,
  tooManyItems,
} from "../../src/sync/chunk-items.js";
import {
  chunksApply,
  loadWithin,
  probeDocument,
  syncMessageTooDeep,
} from "../../src/sync/document-depth.js";
import { RelayClient } from "../../src/sync/relay-client.js";
import { firstClientError, hostileRelay } from "../helpers/hostile-relay.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A document like a Canon space's: records under CIDs, names as text, a list. */
function honestDocument(records: number): A.Doc<unknown> {
  let doc = A.from<Record<string, unknown>>({ type: "canon/space", records: {}, standards: {} });
  doc = A.change(doc, (d) => {
    const recordsMap = d.records as Record<string, Uint8Array>;
    const standards = d.standards as Record<string, string>;
    for (let i = 0; i < records; i++) {
      recordsMap[`bafyrei${i.toString(36).padStart(52, "a")}`] = new Uint8Array(120).fill(i % 251);
      standards[`doc${i.toString(36).padStart(20, "x")}`] = `standards/house-style-${i}`;
    }
  });
  return doc;
}

function items(bytes: Uint8Array) {
  return chunkItems(bytes, maxInflatedOf(bytes.length));
}

/** A change chunk (not one Automerge would take: no dependency, no valid hash) holding only `columns` (spec, data). */
function changeOf(columns: readonly (readonly [number, readonly number[]])[]): Uint8Array {
  const body = [0, 1, 0xab, 1, 1, 0, 0, 0, columns.length];
  for (const [spec, data] of columns) body.push(spec, data.length);
  for (const [, data] of columns) body.push(...data);
  return Uint8Array.from([0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, body.length, ...body]);
}

/** A list document and a bomb of `count` inserts into its list. */
function bombOn(count: number): { doc: A.Doc<unknown>; bomb: Uint8Array } {
  const doc = A.from<{ l: boolean[] }>({ l: [] });
  return {
    doc,
    bomb: insertBomb(count, bombTargetOf(A.decodeChange(A.getLastLocalChange(doc) as Uint8Array))),
  };
}

describe("counting what Automerge chunks declare, from their headers and runs", () => {
  it("counts exactly the ops Automerge holds, for saved documents (deflated columns), changes and both concatenated", () => {
    const doc = honestDocument(2_000);
    const saved = A.save(doc);
    // Columns over 256 bytes are deflated in a saved document: this one has some.
    expect(saved.length).toBeGreaterThan(10_000);
    const ops = A.stats(doc).numOps;
    // Every name is a text object (Automerge's strings), and the two maps.
    const makes = (chunks: Uint8Array[]) =>
      chunks
        .flatMap((change) => A.decodeChange(change).ops)
        .filter((op) => op.action.startsWith("make")).length;
    expect(makes(A.getAllChanges(doc))).toBe(2_003);
    expect(items(saved)).toEqual({ changes: 0, documents: ops, making: 2_003 });
    expect(tooManyItems(saved)).toBe(false);
    const changes = A.getAllChanges(doc);
    const last = changes.at(-1) as Uint8Array;
    expect(items(last)).toEqual({
      changes: A.decodeChange(last).ops.length,
      documents: 0,
      making: makes([last]),
    });
    expect(tooManyItems(last)).toBe(false);
    const together = new Uint8Array([...saved, ...last]);
    expect(items(together)).toEqual({
      changes: A.decodeChange(last).ops.length,
      documents: ops,
      making: 2_003 + makes([last]),
    });
  });

  it("counts the ops that may make an object from the action columns: exactly Automerge's makes for honest bytes, every unknown or null action, and no bound without that column", () => {
    // Nested maps, lists, text with a mark, a counter, deletions: many changes.
    let doc = A.from<Record<string, unknown>>({
      a: { b: { c: [1, 2, { x: "t" }] } },
      n: new A.Counter(1),
    });
    for (let i = 0; i < 40; i++)
      doc = A.change(doc, (d) => {
        d[`k${i}`] = i % 3 === 0 ? "x".repeat(i * 20) : { v: [i, { w: i }] };
        if (i % 7 === 0) delete d.a;
        (d.n as A.Counter).increment(2);
      });
    doc = A.change(doc, (d) => {
      d.text = "hello world";
    });
    doc = A.change(doc, (d) => {
      A.mark(d, ["text"], { start: 0, end: 3, expand: "both" }, "bold", true);
      A.splice(d, ["text"], 2, 1, "Z");
    });
    const changes = A.getAllChanges(doc);
    const makes = changes
      .flatMap((change) => A.decodeChange(change).ops)
      .filter((op) => op.action.startsWith("make")).length;
    expect(makes).toBeGreaterThan(60);
    const saved = A.save(doc);
    expect(items(saved)?.making).toBe(makes);
    expect(items(new Uint8Array(changes.flatMap((change) => [...change])))?.making).toBe(makes);
    const more = A.change(doc, (d) => {
      d.deep = { er: { still: {} } };
    });
    expect(items(new Uint8Array([...saved, ...A.saveIncremental(more)]))?.making).toBe(makes + 3);
    // Hostile action columns (a run, a literal run, a null run): anything but set, delete,
    // increment and mark may make an object.
    const action = (data: number[]) => items(changeOf([[0x42, data]]))?.making;
    expect(action([50, 1, 0x7d, 3, 5, 7])).toBe(0);
    expect(action([50, 0, 0x7e, 9, 1, 0, 20])).toBe(71);
    // Ops declared without an action column, or with one not as the format has it: no bound.
    expect(items(changeOf([[0x34, [0, 50]]]))?.making).toBe(Infinity);
    expect(items(changeOf([[0x43, [50, 1]]]))?.making).toBe(Infinity);
    expect(
      items(
        changeOf([
          [0x42, [50, 1]],
          [0x42, [50, 1]],
        ]),
      )?.making,
    ).toBe(Infinity);
    // And none declared at all: nothing made.
    expect(items(changeOf([]))?.making).toBe(0);
  });

  it("reads the test's bomb as Automerge's own bytes at 1,000 inserts", () => {
    const { doc, bomb } = bombOn(1_000);
    // Read before the change below: the document's last local change is then that one.
    const target = bombTargetOf(A.decodeChange(A.getLastLocalChange(doc) as Uint8Array));
    const real = A.change(doc as A.Doc<{ l: boolean[] }>, (d) => {
      A.insertAt(d.l, 0, ...new Array<boolean>(1_000).fill(true));
    });
    const written = A.getLastLocalChange(real) as Uint8Array;
    const time = A.decodeChange(written).time;
    expect(Buffer.from(insertBomb(1_000, target, time)).equals(Buffer.from(written))).toBe(true);
    expect(items(bomb)).toEqual({ changes: 1_000, documents: 0, making: 0 });
  });

  it("refuses a change of 119 bytes declaring a million inserts, and one declaring a billion, without decoding them", () => {
    for (const count of [1_000_000, 1_000_000_000]) {
      const { bomb } = bombOn(count);
      expect(bomb.length).toBeLessThan(140);
      expect(items(bomb)).toEqual({ changes: count, documents: 0, making: 0 });
      expect(count).toBeGreaterThan(itemsAllowed(bomb.length));
      expect(tooManyItems(bomb)).toBe(true);
      // Whatever a client takes of whole documents, a change is held to its size.
      expect(tooManyItems(bomb, CLIENT_DOCUMENT_ITEMS)).toBe(true);
    }
  });

  it("refuses chunks whose header promises more than they hold, unknown chunk types, and deflate bombs", () => {
    const saved = A.save(honestDocument(10));
    expect(tooManyItems(saved.subarray(0, saved.length - 5))).toBe(true);
    const unknownType = new Uint8Array(saved);
    unknownType[8] = 9;
    expect(tooManyItems(unknownType)).toBe(true);
    // A compressed change (type 2) whose body inflates past the limit.
    const body = deflateRawSync(new Uint8Array(64 * 1024 * 1024));
    const header = [0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    let length = body.length;
    while (length >= 0x80) {
      header.push((length & 0x7f) | 0x80);
      length >>>= 7;
    }
    header.push(length);
    expect(tooManyItems(new Uint8Array([...header, ...body]))).toBe(true);
    // Bytes that are no chunk at all declare nothing (Automerge refuses them itself).
    expect(items(Uint8Array.of(1, 2, 3))).toEqual({ changes: 0, documents: 0, making: 0 });
  });

  it("counts every inflate of one message against one budget: columns deflated inside a compressed change cannot nest a kilobyte into gigabytes", () => {
    const uleb = (value: number) => {
      const out: number[] = [];
      while (value >= 0x80) {
        out.push((value & 0x7f) | 0x80);
        value >>>= 7;
      }
      out.push(value);
      return out;
    };
    /** A compressed change (type 2) whose change holds `columns` ULEB columns, each deflated and inflating to `size` zeros. */
    const nested = (columns: number, size: number) => {
      const column = [...deflateRawSync(new Uint8Array(size))];
      const change = [
        ...[0, 1, 0xaa, 1, 1, 0, 0, 0], // no dependencies, a 1-byte actor, seq, start op, time, no message, no other actors
        ...uleb(columns),
        ...Array.from({ length: columns }, (_, id) => [
          ...uleb((id << 4) | 0x08 | 2),
          ...uleb(column.length),
        ]).flat(),
        ...Array.from({ length: columns }, () => column).flat(),
      ];
      const body = [...deflateRawSync(Uint8Array.from(change))];
      return Uint8Array.from([
        0x85,
        0x6f,
        0x4a,
        0x83,
        0,
        0,
        0,
        0,
        2,
        ...uleb(body.length),
        ...body,
      ]);
    };
    // Two columns of 400 KB inflate within a 1 MB budget; three do not, though each alone would.
    expect(chunkItems(nested(2, 400_000), 1_000_000)).toEqual({
      changes: 0,
      documents: 0,
      making: 0,
    });
    expect(chunkItems(nested(3, 400_000), 1_000_000)).toBeUndefined();
  });

  it("a whole document a relay built from small changes is refused by the relay's bound, taken by a client's (up to four million items)", () => {
    // 100,000 inserts in changes of 500, each well within the bound; saved whole, a few hundred bytes.
    let doc = A.from<{ l: boolean[] }>({ l: [] });
    for (let round = 0; round < 200; round++)
      doc = A.change(doc, (d) => {
        A.insertAt(d.l, 0, ...new Array<boolean>(500).fill(true));
      });
    for (const change of A.getAllChanges(doc)) expect(tooManyItems(change)).toBe(false);
    const saved = A.save(doc);
    expect(items(saved)?.documents).toBeGreaterThan(itemsAllowed(saved.length));
    expect(tooManyItems(saved)).toBe(true);
    expect(tooManyItems(saved, CLIENT_DOCUMENT_ITEMS)).toBe(false);
    expect((loadWithin<{ l: boolean[] }>(saved) as A.Doc<{ l: boolean[] }>).l).toHaveLength(
      100_000,
    );
  });

  it("every entry point that hands hostile bytes to Automerge refuses the bomb before Automerge sees it", () => {
    const { doc, bomb } = bombOn(2_000_000);
    const started = Date.now();
    expect(loadWithin(bomb)).toBeUndefined();
    expect(probeDocument(bomb)).toEqual({ ok: false, reason: "too-many-ops" });
    expect(chunksApply(doc, [bomb])).toEqual({ ok: false, reason: "does-not-apply" });
    const message = A.encodeSyncMessage({ heads: [], need: [], have: [], changes: [bomb] });
    expect(syncMessageTooDeep(message)).toBe("a chunk declaring more ops than its size allows");
    // Decoding it takes seconds and gigabytes; refusing it takes nothing (a generous bound).
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe("a hostile relay cannot stall or bloat a client with a run-length bomb", () => {
  it("drops a sync message whose 119-byte change declares a million inserts, and closes", async () => {
    const { doc, bomb } = bombOn(1_000_000);
    const documentId = parseAutomergeUrl(generateAutomergeUrl()).documentId;
    const base = A.getLastLocalChange(doc) as Uint8Array;
    const url = await hostileRelay(cleanup, (join, reply) => {
      if (join.type !== "join") return;
      reply({ type: "peer", selectedProtocolVersion: "1" });
      reply({
        type: "sync",
        documentId,
        data: A.encodeSyncMessage({
          heads: [],
          need: [],
          have: [],
          changes: [base, bomb],
        }),
      });
    });
    const client = new RelayClient(url);
    const repo = new Repo({ network: [client], peerId: "client" as PeerId });
    cleanup.push(async () => {
      client.disconnect();
      await repo.shutdown();
    });
    expect((await firstClientError(client))?.message).toBe(
      "the relay sent a chunk declaring more ops than its size allows; message dropped",
    );
  }, 30_000);
});

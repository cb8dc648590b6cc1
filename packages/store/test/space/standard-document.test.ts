import type { DocHandle } from "@automerge/automerge-repo";
import type { SpaceState } from "@canon/core";
import { describe, expect, it } from "vitest";
import type { StandardDocument } from "../../src/space/documents.js";
import { standardDocumentLookup, standardDocumentOf } from "../../src/space/standard-document.js";

/** Loaded documents as the reader holds them: id -> a handle whose `doc()` is the value given. */
function loadedOf(docs: Record<string, unknown>, routes: Record<string, string> = {}) {
  const standards = new Map(
    Object.entries(docs).map(([id, doc]) => [
      id,
      { documentId: id, doc: () => doc } as unknown as DocHandle<StandardDocument>,
    ]),
  );
  return { standards, routeNames: new Map(Object.entries(routes)) };
}

/** A state whose standards have these release CIDs, and these corrections (cid -> standard). */
function stateOf(releases: Record<string, string[]>, corrections: Record<string, string> = {}) {
  return {
    standards: new Map(
      Object.entries(releases).map(([name, cids]) => [
        name,
        { releases: new Map(cids.map((cid) => [cid, {}])), retirements: [] },
      ]),
    ),
    corrections: new Map(
      Object.entries(corrections).map(([cid, standard]) => [cid, { record: { standard } }]),
    ),
    withdrawals: new Map(),
  } as unknown as SpaceState;
}

const bytes = new Uint8Array([1]);

describe("which document holds a standard, asked for many standards at once", () => {
  it("answers as the one-at-a-time rule does: the first document by id holding a record, then the name hint, then the route", () => {
    const loaded = loadedOf(
      {
        // Holds r1 of `a` and c1 (a correction of `b`); named `z` by a peer.
        d4: { name: "z", records: { r1: bytes, c1: bytes } },
        // Also holds r1, and r2 of `a`: first by id, so `a` is here.
        d2: { name: "a", records: { r1: bytes, r2: bytes } },
        // No records; named `c` (the name hint), and `e` too by the smaller id below.
        d9: { name: "c", records: {} },
        d7: { name: "e", records: "not a map" },
        d6: { name: "e" },
        // Routed as `f` only, and as `c` (the name hint of d9 wins over a route).
        d5: { records: {} },
        d8: 42,
      },
      { d5: "f", d8: "c", d3: "f" },
    );
    const state = stateOf(
      { a: ["r2", "r1"], b: ["rx"], c: [], e: [], f: [], g: ["nowhere"] },
      { c1: "b" },
    );
    const lookup = standardDocumentLookup(loaded);
    const expected: Record<string, string | undefined> = {
      a: "d2",
      b: "d4",
      c: "d9",
      e: "d6",
      f: "d5",
      g: undefined,
      z: "d4",
    };
    for (const [standard, id] of Object.entries(expected)) {
      expect(lookup(state, standard)?.documentId, standard).toBe(id);
      expect(standardDocumentOf(loaded, state, standard)?.documentId, standard).toBe(id);
    }
    // A standard whose records sit in two documents: the smaller id holding any of them.
    const split = loadedOf({ x9: { records: { r1: bytes } }, x3: { records: { r2: bytes } } });
    expect(standardDocumentLookup(split)(stateOf({ a: ["r1", "r2"] }), "a")?.documentId).toBe("x3");
    // No state: hints only.
    expect(lookup(undefined, "a")?.documentId).toBe("d2");
  });
});

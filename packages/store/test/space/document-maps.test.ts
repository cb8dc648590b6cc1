import * as A from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import { mapsAt } from "../../src/space/document-maps.js";

describe("every map a document holds at a field", () => {
  it("is looked up once per document value, and a changed document is looked up again", () => {
    let mine = A.from<{ contents: Record<string, number> }>({ contents: { x: 1 } });
    let theirs = A.clone(mine, { actor: "ab".repeat(16) });
    const first = mapsAt(mine, "contents");
    expect(first).toEqual([{ x: 1 }]);
    // The same document value: the same answer, not a second lookup of its conflicts.
    expect(mapsAt(mine, "contents")).toBe(first);
    // Two members recreate the map concurrently: the merged document shows one and holds both.
    mine = A.change(mine, (doc) => {
      doc.contents = { y: 2 };
    });
    theirs = A.change(theirs, (doc) => {
      doc.contents = { z: 3 };
    });
    const merged = A.merge(mine, theirs);
    const maps = mapsAt(merged, "contents");
    expect(new Set(maps.flatMap((map) => Object.keys(map)))).toEqual(new Set(["y", "z"]));
    expect(mapsAt(merged, "contents")).toBe(maps);
    expect(mapsAt(merged, "records")).toEqual([]);
    expect(mapsAt("not a document", "contents")).toEqual([]);
  });
});

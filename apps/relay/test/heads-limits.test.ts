import * as A from "@automerge/automerge";
import type { DocHandle } from "@automerge/automerge-repo";
import { describe, expect, it } from "vitest";
import { MAX_SUMMARY_HEADS } from "../src/heads-summary.js";
import { acknowledged, relayTestKit, waitFor } from "./helpers/relay-test-kit.js";

// A writer of a space makes a routed document with many concurrent heads
// (changes that depend on nothing cost a few bytes each), so that the
// relay's heads summary grows past what a client reads: the client would
// then refuse every sync as a hostile relay's. The relay leaves such a
// document out of the summary instead (the client syncs it).

const kit = relayTestKit("canon-heads-limits");

type Standard = { text: string; [actor: string]: string };

describe("GET /heads/<space> with a document of many concurrent heads", () => {
  it(`leaves out a document with more than ${MAX_SUMMARY_HEADS} heads, and lists the others`, async () => {
    const relay = await kit.relay("directory");
    const writer = kit.client(relay);
    // One base, then 100 writers each changing it without seeing the others: 100 heads.
    let wide = A.from<Standard>({ text: "base" });
    const base = wide;
    for (let index = 0; index < 100; index++) {
      const fork = A.change(A.clone(base), (doc) => {
        doc[`w${index}`] = "x";
      });
      wide = A.merge(wide, fork);
    }
    expect(A.getHeads(wide)).toHaveLength(100);
    const crowded = writer.import<Standard>(A.save(wide));
    const plain = writer.create<Standard>({ text: "plain" });
    const space = writer.create({
      standards: { [crowded.documentId]: "crowded", [plain.documentId]: "plain" },
    });
    const handles = [space, crowded, plain] as DocHandle<unknown>[];
    await waitFor(() => handles.every((handle) => acknowledged(writer, handle)));

    const response = await fetch(`http://127.0.0.1:${relay.port}/heads/${space.documentId}`);
    expect(response.status).toBe(200);
    const { documents } = (await response.json()) as { documents: Record<string, string[]> };
    expect(Object.keys(documents).sort()).toEqual([space.documentId, plain.documentId].sort());
  });
});

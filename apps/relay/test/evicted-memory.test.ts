import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { AutomergeUrl, DocumentId } from "@automerge/automerge-repo";
import { describe, expect, it } from "vitest";
import type { RelayServer } from "../src/relay-server.js";
import { acknowledged, relayTestKit, waitFor } from "./helpers/relay-test-kit.js";

// An evicted document must leave the relay's memory for real: its Automerge
// document (in WebAssembly memory, freed only when the JavaScript object is
// collected) must become garbage. automerge-repo raced every load from
// storage against one module-wide promise that never settles, and each race
// left a reaction on it holding the loaded document: a relay kept every
// document it had ever loaded, about 12 KB each, and slowed down as its heap
// grew (docs/decisions/2026-11-29-relay-memory.md, "Where a relay's time
// went"). Canon's patch of automerge-repo no longer races against it.

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

type Doc = { items: Record<string, number> };

const kit = relayTestKit("canon-relay-evicted-memory");

function inMemory(relay: RelayServer, documentId: DocumentId): boolean {
  return relay.repo.handles[documentId] !== undefined;
}

/**
 * The WebAssembly-backed document under an Automerge document: every
 * version of a document (each change or sync returns a new JavaScript
 * object) shares it, and its memory is freed when it is collected.
 */
function wasmDocumentOf(doc: object): object {
  const meta = Object.getOwnPropertySymbols(doc).find(
    (symbol) => symbol.description === "_am_meta",
  );
  const wasm =
    meta === undefined ? undefined : (doc as Record<symbol, { handle?: object }>)[meta]?.handle;
  if (wasm === undefined) throw new Error("no Automerge document under this object");
  return wasm;
}

describe("an evicted document", () => {
  it("is garbage once evicted, after the relay loaded it from storage", async () => {
    const relay = await kit.relay("directory", { idleEvictionMs: 200, logLevel: "warn" });
    const writer = kit.client(relay, "writer");
    const handle = writer.create<Doc>({ items: { first: 1 } });
    await waitFor(() => acknowledged(writer, handle));
    await kit.close(writer);
    await waitFor(() => !inMemory(relay, handle.documentId), 5000);

    // Asked for again, the relay loads it from storage: the path that leaked.
    const reader = kit.client(relay, "reader");
    expect((await reader.find<Doc>(handle.url as AutomergeUrl)).doc().items).toEqual({ first: 1 });
    // No reference of the test's own may outlive this block.
    const held = (() => {
      const loaded = relay.repo.handles[handle.documentId];
      expect(loaded?.isReady()).toBe(true);
      return new WeakRef(wasmDocumentOf(loaded?.doc() as object));
    })();
    await kit.close(reader);
    await waitFor(() => !inMemory(relay, handle.documentId), 5000);

    // Collected within a few collections (promise jobs and timers may still hold it briefly).
    await waitFor(async () => {
      collectGarbage();
      await new Promise((resolve) => setTimeout(resolve, 20));
      return held.deref() === undefined;
    }, 5000);
    expect(held.deref()).toBeUndefined();
  });
});

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo";
import { afterEach, describe, expect, it } from "vitest";
import { FileStorage, WritesInFlight } from "../src/index.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A real file storage whose writes take `delayMs` longer, as a busy disk's do. */
async function slowStorage(delayMs: number): Promise<{ storage: StorageAdapterInterface }> {
  const directory = await mkdtemp(join(tmpdir(), "canon-writes-"));
  cleanup.push(() => rm(directory, { recursive: true, force: true }));
  const files = new FileStorage(directory);
  const later = <T>(work: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => setTimeout(() => work().then(resolve, reject), delayMs));
  return {
    storage: {
      load: (key) => files.load(key),
      loadRange: (prefix) => files.loadRange(prefix),
      save: (key, data) => later(() => files.save(key, data)),
      remove: (key) => later(() => files.remove(key)),
      removeRange: (prefix) => later(() => files.removeRange(prefix)),
    },
  };
}

const key = (name: string): StorageKey => ["2JtrbCfcTU4Xvv5Fuy1kzCDhG7WB", "sync-state", name];

describe("WritesInFlight", () => {
  it("settles only after a running write and one started within the throttle window after it have landed", async () => {
    const { storage } = await slowStorage(150);
    const writes = new WritesInFlight();
    const counted = writes.wrap(storage);
    void counted.save(key("first"), new Uint8Array([1]));
    // automerge-repo's throttled save: starts after the first has landed, within 100 ms.
    setTimeout(() => void counted.save(key("late"), new Uint8Array([2])), 200);
    await writes.settled();
    expect(await storage.load(key("first"))).toEqual(new Uint8Array([1]));
    expect(await storage.load(key("late"))).toEqual(new Uint8Array([2]));
  });

  it("gives up after its timeout on a storage that never answers", async () => {
    const writes = new WritesInFlight();
    const counted = writes.wrap({
      load: async () => undefined,
      loadRange: async () => [],
      save: () => new Promise<void>(() => {}),
      remove: async () => {},
      removeRange: async () => {},
    });
    void counted.save(key("hung"), new Uint8Array([1]));
    const started = Date.now();
    await writes.settled(500);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("passes reads through uncounted", async () => {
    const { storage } = await slowStorage(0);
    await storage.save(key("stored"), new Uint8Array([7]));
    const writes = new WritesInFlight();
    const counted = writes.wrap(storage);
    expect(await counted.load(key("stored"))).toEqual(new Uint8Array([7]));
    const started = Date.now();
    await writes.settled();
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

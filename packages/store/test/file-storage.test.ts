import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Chunk, StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo";
import { runStorageAdapterTests } from "@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js";
import { describe, expect, it } from "vitest";
import { FileStorage } from "../src/storage/file-storage.js";

async function temporaryDirectory(): Promise<string> {
  return mkdtemp(join(tmpdir(), "canon-storage-"));
}

/**
 * automerge-repo's own acceptance suite, which every storage adapter must pass.
 * One of its cases expects `loadRange` in save order, an artifact of its
 * in-memory adapters (automerge-repo concatenates chunks in any order, and a
 * directory listing has no save order). So the suite runs on FileStorage
 * behind a wrapper that only puts `loadRange` results back in save order;
 * every byte still comes from FileStorage, and the test below checks that
 * `loadRange` returns exactly the saved set.
 */
class SaveOrdered implements StorageAdapterInterface {
  readonly #order: string[] = [];
  constructor(readonly inner: FileStorage) {}
  load(key: StorageKey) {
    return this.inner.load(key);
  }
  async save(key: StorageKey, data: Uint8Array) {
    await this.inner.save(key, data);
    this.#order.push(key.join("/"));
  }
  remove(key: StorageKey) {
    return this.inner.remove(key);
  }
  async loadRange(prefix: StorageKey): Promise<Chunk[]> {
    const position = (chunk: Chunk) => this.#order.lastIndexOf(chunk.key.join("/"));
    return (await this.inner.loadRange(prefix)).sort((a, b) => position(a) - position(b));
  }
  removeRange(prefix: StorageKey) {
    return this.inner.removeRange(prefix);
  }
}

runStorageAdapterTests(async () => {
  const directory = await temporaryDirectory();
  return {
    adapter: new SaveOrdered(new FileStorage(directory)),
    teardown: () => rm(directory, { recursive: true, force: true }),
  };
}, "FileStorage");

describe("FileStorage integrity", () => {
  it("loads exactly the saved values under a prefix, sorted by key", async () => {
    const directory = await temporaryDirectory();
    const storage = new FileStorage(directory);
    await storage.save(["AAAAA", "sync-state", "x"], new Uint8Array([1]));
    await storage.save(["AAAAA", "snapshot", "y"], new Uint8Array([2]));
    await storage.save(["BBBBB", "snapshot", "z"], new Uint8Array([3]));
    expect(await storage.loadRange(["AAAAA"])).toStrictEqual([
      { key: ["AAAAA", "snapshot", "y"], data: new Uint8Array([2]) },
      { key: ["AAAAA", "sync-state", "x"], data: new Uint8Array([1]) },
    ]);
    await rm(directory, { recursive: true, force: true });
  });

  it("names a damaged file instead of returning its bytes", async () => {
    const directory = await temporaryDirectory();
    const storage = new FileStorage(directory);
    await storage.save(
      ["3H1R1ADT1GnxGUebByLcwifuT3cH", "snapshot", "abc"],
      new Uint8Array([1, 2, 3, 4]),
    );
    const path = storage.pathOf(["3H1R1ADT1GnxGUebByLcwifuT3cH", "snapshot", "abc"]);
    const bytes = await readFile(path);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    await writeFile(path, bytes);
    await expect(storage.load(["3H1R1ADT1GnxGUebByLcwifuT3cH", "snapshot", "abc"])).rejects.toThrow(
      new RegExp(
        `storage file ${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is damaged \\(checksum mismatch\\)`,
      ),
    );
    await rm(directory, { recursive: true, force: true });
  });

  it("detects a truncated file", async () => {
    const directory = await temporaryDirectory();
    const storage = new FileStorage(directory);
    await storage.save(["doc", "incremental", "x"], new Uint8Array(100).fill(7));
    const path = storage.pathOf(["doc", "incremental", "x"]);
    await writeFile(path, (await readFile(path)).subarray(0, 50));
    await expect(storage.load(["doc", "incremental", "x"])).rejects.toMatchObject({
      code: "STORAGE_DAMAGED",
    });
    await rm(directory, { recursive: true, force: true });
  });

  it("leaves no temporary files behind and ignores stray ones from a crash", async () => {
    const directory = await temporaryDirectory();
    const storage = new FileStorage(directory);
    await storage.save(["doc", "incremental", "a"], new Uint8Array([1]));
    const folder = join(directory, "do", "c", "incremental");
    expect(await readdir(folder)).toEqual(["a"]);
    await writeFile(join(folder, "b.tmp-123456"), "partial");
    const chunks = await storage.loadRange(["doc", "incremental"]);
    expect(chunks.map((chunk) => chunk.key)).toEqual([["doc", "incremental", "a"]]);
    await rm(directory, { recursive: true, force: true });
  });
});

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Chunk, StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo";
import { runStorageAdapterTests } from "@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js";
import { afterEach, describe, expect, it } from "vitest";
import { FileStorage } from "../src/storage/file-storage.js";
import { readGeneration } from "../src/storage/replica-generation.js";
import { runStorageContract } from "./contracts/storage-contract.js";

/** The built package, run by a traced child process. */
const STORE_BUILD = join(import.meta.dirname, "../dist/index.js");

async function temporaryDirectory(): Promise<string> {
  return mkdtemp(join(tmpdir(), "canon-storage-"));
}

/** Removes a storage directory and the generation files kept beside it (`<directory>.generation`, `.writers`). */
async function removeStorage(directory: string): Promise<void> {
  for (const path of [directory, `${directory}.generation`, `${directory}.writers`])
    await rm(path, { recursive: true, force: true });
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
    teardown: () => removeStorage(directory),
  };
}, "FileStorage");

runStorageContract("FileStorage", async () => {
  const directory = await temporaryDirectory();
  return {
    open: async () => new FileStorage(directory),
    teardown: () => removeStorage(directory),
  };
});

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
    await removeStorage(directory);
  });

  it("refuses a key with a part that is not a plain file name, writing nothing anywhere", async () => {
    const outer = await temporaryDirectory();
    const directory = join(outer, "replica");
    const storage = new FileStorage(directory);
    await storage.save(["AAAAA", "snapshot", "y"], new Uint8Array([2]));
    const before = await readdir(outer, { recursive: true });
    for (const key of [
      ["AAAAA", "sync-state", "../../../../escaped"],
      ["AAAAA", "sync-state", "a/b"],
      ["AAAAA", "sync-state", "a\\b"],
      ["AAAAA", "sync-state", "nul\0"],
      ["AAAAA", "sync-state", ""],
      ["AAAAA", "..", "y"],
      ["..AAA", "snapshot", "y"],
      ["AA..", "snapshot", "y"],
    ]) {
      await expect(storage.save(key, new Uint8Array([1]))).rejects.toMatchObject({
        code: "STORAGE_UNWRITABLE",
      });
      await expect(storage.load(key)).rejects.toMatchObject({ code: "STORAGE_UNWRITABLE" });
    }
    expect(await readdir(outer, { recursive: true })).toEqual(before);
    expect(await storage.load(["AAAAA", "snapshot", "y"])).toEqual(new Uint8Array([2]));
    await rm(outer, { recursive: true, force: true });
  });

  it("does not count as seen a chunk removed between a range's listing and its load (a compaction meanwhile)", async () => {
    const directory = await temporaryDirectory();
    // Removes one chunk as soon as the range load reaches it, as a concurrent compaction would.
    class Racing extends FileStorage {
      override async load(key: StorageKey) {
        if (key[2] === "gone") await this.remove(key);
        return super.load(key);
      }
    }
    const storage = new Racing(directory);
    await storage.save(["AAAAA", "incremental", "gone"], new Uint8Array([1]));
    await storage.save(["AAAAA", "snapshot", "kept"], new Uint8Array([2]));
    expect(await storage.loadRange(["AAAAA"])).toStrictEqual([
      { key: ["AAAAA", "snapshot", "kept"], data: new Uint8Array([2]) },
    ]);
    expect(storage.chunkNames("AAAAA")).toEqual(["snapshot/kept"]);
    await removeStorage(directory);
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
    await removeStorage(directory);
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
    await removeStorage(directory);
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
    await removeStorage(directory);
  });
});

describe("FileStorage and sync states (a lost one only makes the next sync start from scratch)", () => {
  it("reads a damaged or empty sync state as absent, while a damaged chunk is still named", async () => {
    const directory = await temporaryDirectory();
    const storage = new FileStorage(directory);
    const syncState = ["doc", "sync-state", "peer-storage-id"];
    await storage.save(syncState, new Uint8Array(40).fill(3));
    expect(await storage.load(syncState)).toEqual(new Uint8Array(40).fill(3));
    const path = storage.pathOf(syncState);
    // What a power cut can leave of a file renamed into place without fsync: a part, or nothing.
    await writeFile(path, (await readFile(path)).subarray(0, 20));
    expect(await storage.load(syncState)).toBeUndefined();
    await writeFile(path, "");
    expect(await storage.load(syncState)).toBeUndefined();
    await storage.save(syncState, new Uint8Array([9]));
    expect(await storage.load(syncState)).toEqual(new Uint8Array([9]));

    await storage.save(["doc", "incremental", "x"], new Uint8Array(40).fill(7));
    const chunk = storage.pathOf(["doc", "incremental", "x"]);
    await writeFile(chunk, (await readFile(chunk)).subarray(0, 20));
    await expect(storage.load(["doc", "incremental", "x"])).rejects.toMatchObject({
      code: "STORAGE_DAMAGED",
    });
    await removeStorage(directory);
  });

  it.runIf(existsSync("/usr/bin/strace") && existsSync(STORE_BUILD))(
    "writes a sync state without fsync, and a chunk with (strace of a real process)",
    async () => {
      const directory = await temporaryDirectory();
      const fsyncsOf = (key: string[]) => {
        const traced = join(directory, `strace-${key[1]}.txt`);
        const script = `import { FileStorage } from ${JSON.stringify(STORE_BUILD)};
const storage = new FileStorage(${JSON.stringify(join(directory, key[1] ?? ""))});
await storage.save(${JSON.stringify(key)}, new Uint8Array(64).fill(5));
if ((await storage.load(${JSON.stringify(key)}))?.length !== 64) process.exit(3);`;
        const run = spawnSync(
          "strace",
          [
            "-f",
            "-qq",
            "-e",
            "trace=fsync,fdatasync",
            "-o",
            traced,
            process.execPath,
            "--input-type=module",
            "-e",
            script,
          ],
          { encoding: "utf8" },
        );
        expect(run.status, run.stderr).toBe(0);
        return readFileSync(traced, "utf8")
          .split("\n")
          .filter((line) => /\b(fsync|fdatasync)\(/.test(line)).length;
      };
      expect(fsyncsOf(["doc", "sync-state", "peer-storage-id"])).toBe(0);
      // The control: a chunk is synced, its folder too.
      expect(fsyncsOf(["doc", "incremental", "x"])).toBeGreaterThanOrEqual(2);
      await removeStorage(directory);
    },
  );
});

describe("FileStorage under a Repo", () => {
  const directories: string[] = [];
  afterEach(async () => {
    for (const directory of directories.splice(0)) await removeStorage(directory);
  });
  const directoryForTest = async (): Promise<string> => {
    const directory = await temporaryDirectory();
    directories.push(directory);
    return directory;
  };

  it("compacts only the chunks this process has seen: a chunk another process wrote meanwhile stays", async () => {
    const directory = await directoryForTest();
    const mine = new FileStorage(directory);
    const theirs = new FileStorage(directory);
    await mine.save(["doc", "incremental", "a"], new Uint8Array([1]));
    await mine.save(["doc", "incremental", "b"], new Uint8Array([2]));
    await theirs.save(["doc", "incremental", "c"], new Uint8Array([3]));
    expect(mine.chunkNames("doc")).toEqual(["incremental/a", "incremental/b"]);

    await mine.compact("doc", new Uint8Array([9]), "ab");

    expect((await theirs.loadRange(["doc"])).map((chunk) => chunk.key.join("/"))).toEqual([
      "doc/incremental/c",
      "doc/snapshot/ab",
    ]);
    expect(mine.chunkNames("doc")).toEqual(["snapshot/ab"]);
    expect(mine.chunkCount("doc")).toBe(1);
  });

  it("names the path and says STORAGE_UNWRITABLE when its directory cannot be created", async () => {
    const directory = await directoryForTest();
    const notADirectory = join(directory, "file");
    await writeFile(notADirectory, "");
    const storage = new FileStorage(join(notADirectory, "replica"));
    await expect(storage.save(["doc", "snapshot", "x"], new Uint8Array([1]))).rejects.toMatchObject(
      {
        code: "STORAGE_UNWRITABLE",
        message: expect.stringContaining(join(notADirectory, "replica")),
      },
    );
  });
});

runStorageAdapterTests(async () => {
  const directory = await temporaryDirectory();
  const storage = new FileStorage(directory);
  storage.holdWrites();
  return {
    adapter: new SaveOrdered(storage),
    teardown: () => removeStorage(directory),
  };
}, "FileStorage holding its writes back");

describe("FileStorage.documentsStored (a join's check of 1,000 documents)", () => {
  it("answers as hasDocument does for each: chunks stored, a folder without chunks, a shared prefix, nothing there, held writes", async () => {
    const directory = await temporaryDirectory();
    const storage = new FileStorage(directory);
    await storage.save(["AAstored", "snapshot", "one"], new Uint8Array([1]));
    await storage.save(["AAsyncOnly", "sync-state", "peer"], new Uint8Array([2]));
    await storage.save(["BBincremental", "incremental", "two"], new Uint8Array([3]));
    const ids = ["AAstored", "AAsyncOnly", "AAabsent", "BBincremental", "CCabsent", "x"];
    const expected = new Set<string>();
    for (const id of ids) if (await storage.hasDocument(id)) expected.add(id);
    expect(expected).toEqual(new Set(["AAstored", "BBincremental"]));
    expect(await storage.documentsStored(ids)).toEqual(expected);
    // An empty replica (a join's usual case), and one whose folder is not there yet.
    expect(await new FileStorage(join(directory, "none")).documentsStored(ids)).toEqual(new Set());
    // Held writes count, as for hasDocument.
    storage.holdWrites();
    await storage.save(["DDheld", "snapshot", "three"], new Uint8Array([4]));
    expect(await storage.documentsStored([...ids, "DDheld"])).toEqual(
      new Set([...expected, "DDheld"]),
    );
    await storage.settle();
    await removeStorage(directory);
  });
});

describe("FileStorage holding its writes back (a join's documents)", () => {
  it("reads its held writes itself, shows none of them to another process until settle, then all of them, whole", async () => {
    const directory = await temporaryDirectory();
    const storage = new FileStorage(directory, { generation: true });
    storage.holdWrites();
    await storage.save(["AAAAA", "snapshot", "one"], new Uint8Array([1]));
    await storage.save(["AAAAA", "snapshot", "one"], new Uint8Array([1, 1]));
    await storage.save(["BBBBB", "snapshot", "two"], new Uint8Array([2]));
    await storage.save(["CCCCC", "snapshot", "gone"], new Uint8Array([3]));
    await storage.remove(["CCCCC", "snapshot", "gone"]);
    // This process reads what it wrote.
    expect(await storage.load(["AAAAA", "snapshot", "one"])).toEqual(new Uint8Array([1, 1]));
    expect(await storage.loadRange(["BBBBB"])).toStrictEqual([
      { key: ["BBBBB", "snapshot", "two"], data: new Uint8Array([2]) },
    ]);
    expect(await storage.hasDocument("AAAAA")).toBe(true);
    expect(await storage.hasDocument("CCCCC")).toBe(false);
    // Another process (or this one after a crash) sees none of it: nothing is written yet.
    const other = new FileStorage(directory);
    expect(await other.hasDocument("AAAAA")).toBe(false);
    expect(await other.loadRange(["AAAAA"])).toEqual([]);
    expect(await readdir(directory, { recursive: true })).toEqual([]);

    await storage.settle();
    expect(await other.load(["AAAAA", "snapshot", "one"])).toEqual(new Uint8Array([1, 1]));
    expect(await other.load(["BBBBB", "snapshot", "two"])).toEqual(new Uint8Array([2]));
    expect(await other.hasDocument("CCCCC")).toBe(false);
    expect(
      (await readdir(directory, { recursive: true })).filter((name) => name.includes(".tmp-")),
    ).toEqual([]);
    // Writes are no longer held back: the next one is in place at once.
    await storage.save(["DDDDD", "snapshot", "three"], new Uint8Array([4]));
    expect(await other.load(["DDDDD", "snapshot", "three"])).toEqual(new Uint8Array([4]));
    await removeStorage(directory);
  });

  it("leaves the replica's generation alone while writes are held (no chunk file changes), and changes it when they settle", async () => {
    const directory = await temporaryDirectory();
    const storage = new FileStorage(directory, { generation: true });
    await storage.save(["FFFFF", "snapshot", "first"], new Uint8Array([6]));
    const before = readGeneration(directory)?.token;
    expect(before).toMatch(/^[0-9a-f]{32}$/);
    storage.holdWrites();
    for (let index = 0; index < 20; index++)
      await storage.save([`G${index}AAAA`, "snapshot", "held"], new Uint8Array([index]));
    expect(readGeneration(directory)?.token).toBe(before);
    await storage.settle();
    const after = readGeneration(directory)?.token;
    expect(after).toMatch(/^[0-9a-f]{32}$/);
    expect(after).not.toBe(before);
    expect(await new FileStorage(directory).load(["G7AAAA", "snapshot", "held"])).toEqual(
      new Uint8Array([7]),
    );
    await removeStorage(directory);
  });

  it("makes a write durable and in place on its own when the storage settles while it is under way", async () => {
    const directory = await temporaryDirectory();
    const storage = new FileStorage(directory, { generation: true });
    await storage.save(["EEEEE", "snapshot", "first"], new Uint8Array([4]));
    storage.holdWrites();
    const writing = storage.save(["EEEEE", "snapshot", "late"], new Uint8Array([5]));
    // The write has begun (held back) and is still writing its file when the storage settles.
    await new Promise((resolve) => setImmediate(resolve));
    await storage.settle();
    await writing;
    const other = new FileStorage(directory);
    expect(await other.load(["EEEEE", "snapshot", "late"])).toEqual(new Uint8Array([5]));
    expect(
      (await readdir(directory, { recursive: true })).filter((name) => name.includes(".tmp-")),
    ).toEqual([]);
    await removeStorage(directory);
  });

  it("settles in the background at a slow pace while writes go on: one held meanwhile is settled too, and a second settle joins the one under way", async () => {
    const directory = await temporaryDirectory();
    const storage = new FileStorage(directory, { generation: true });
    storage.holdWrites();
    for (let index = 0; index < 40; index++)
      await storage.save([`H${index}AAAA`, "snapshot", "held"], new Uint8Array([index]));
    const early = storage.settle({ atOnce: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    // Held too (the settle under way takes it in a further round), and read back from memory meanwhile.
    await storage.save(["LATEAAAA", "snapshot", "late"], new Uint8Array([99]));
    expect(await storage.load(["LATEAAAA", "snapshot", "late"])).toEqual(new Uint8Array([99]));
    const joined = storage.settle();
    expect(joined).toBe(early);
    await joined;
    const other = new FileStorage(directory);
    for (let index = 0; index < 40; index++)
      expect(await other.load([`H${index}AAAA`, "snapshot", "held"])).toEqual(
        new Uint8Array([index]),
      );
    expect(await other.load(["LATEAAAA", "snapshot", "late"])).toEqual(new Uint8Array([99]));
    expect(
      (await readdir(directory, { recursive: true })).filter((name) => name.includes(".tmp-")),
    ).toEqual([]);
    await removeStorage(directory);
  });
});

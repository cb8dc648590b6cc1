import { createHash } from "node:crypto";
import fs, { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { provenFingerprint, recordDiskProof } from "../src/caches/disk-proof.js";
import { canonHome } from "../src/home/canon-home.js";
import { auditChunks } from "../src/storage/chunk-audit.js";
import { chunkFingerprint } from "../src/storage/chunk-layout.js";
import { readChunkPackIndex } from "../src/storage/chunk-pack.js";
import { FileStorage, PACK_DOCUMENTS_AT_LEAST } from "../src/storage/file-storage.js";
import { readGeneration } from "../src/storage/replica-generation.js";

const directories: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  syncBuiltinESMExports();
  for (const directory of directories.splice(0))
    for (const path of [directory, `${directory}.generation`, `${directory}.writers`])
      await rm(path, { recursive: true, force: true });
});

const COUNT = 40;
const idOf = (index: number) => `P${index}AAAA`;
const bytesOf = (index: number) => new TextEncoder().encode(`chunk of document ${index}`);

/** A storage whose held writes (COUNT new documents of one snapshot each, one of two chunks) have settled. */
async function settledJoin() {
  const directory = await mkdtemp(join(tmpdir(), "canon-pack-"));
  directories.push(directory);
  const storage = new FileStorage(directory, { generation: true });
  storage.holdWrites();
  for (let index = 0; index < COUNT; index++)
    await storage.save([idOf(index), "snapshot", `s${index}`], bytesOf(index));
  // Two chunks: stored as files, as before.
  await storage.save(["TWOchunks", "snapshot", "a"], new Uint8Array([1]));
  await storage.save(["TWOchunks", "incremental", "b"], new Uint8Array([2]));
  await storage.settle();
  const packs = await readdir(join(directory, "packs"));
  return { directory, storage, pack: join(directory, "packs", packs[0] as string), packs };
}

/** A home whose replica holds three documents of one snapshot each, packed by a settle; its storage's batch ended. */
async function packedHome() {
  const root = await mkdtemp(join(tmpdir(), "canon-pack-proof-"));
  directories.push(root);
  const home = canonHome(root);
  const storage = new FileStorage(home.replica, { generation: true });
  storage.holdWrites();
  for (let index = 0; index < 3; index++)
    await storage.save([idOf(index), "snapshot", `s${index}`], bytesOf(index));
  await storage.settle();
  await storage.generation?.end();
  const ids = [idOf(0), idOf(1), idOf(2)];
  return { root, home, storage, fingerprint: await chunkFingerprint(home.replica, ids) };
}

describe("chunk packs: a join's documents in one file", () => {
  it("a settle of many new documents of one chunk each writes one pack and no folder each; another storage loads, lists and finds every one", async () => {
    const { directory, packs } = await settledJoin();
    expect(packs).toHaveLength(1);
    expect(packs[0]).toMatch(/^[0-9a-f]{64}\.pack$/);
    // No folder of a packed document: only the packs, the two-chunk document's and the storage's own files.
    const top = await readdir(directory);
    expect(top.filter((name) => name.startsWith("P"))).toEqual([]);
    expect(top).toContain("packs");
    expect(top).toContain("TW");
    expect(COUNT).toBeGreaterThanOrEqual(PACK_DOCUMENTS_AT_LEAST);
    const other = new FileStorage(directory);
    for (let index = 0; index < COUNT; index++) {
      const chunks = await other.loadRange([idOf(index)]);
      expect(chunks.map(({ key }) => key)).toEqual([[idOf(index), "snapshot", `s${index}`]]);
      expect(chunks[0]?.data).toEqual(bytesOf(index));
      expect(await other.load([idOf(index), "snapshot", `s${index}`])).toEqual(bytesOf(index));
      expect(await other.loadRange([idOf(index), "incremental"])).toEqual([]);
      expect(await other.hasDocument(idOf(index))).toBe(true);
    }
    const ids = [...Array.from({ length: COUNT }, (_, index) => idOf(index)), "TWOchunks"];
    expect(await other.documentsStored([...ids, "ABSENTdoc"])).toEqual(new Set(ids));
    const fingerprint = await chunkFingerprint(directory, ids);
    expect(fingerprint[idOf(3)]).toEqual(["snapshot/s3"]);
    expect(fingerprint.TWOchunks).toEqual(["incremental/b", "snapshot/a"]);
    expect(await auditChunks(directory)).toEqual([]);
  });

  it("a packed document written to moves into a folder of its own first, whole; a chunk removed later (a compaction) does not come back from the pack", async () => {
    const { directory } = await settledJoin();
    const before = readGeneration(directory)?.token;
    const writer = new FileStorage(directory, { generation: true });
    await writer.save([idOf(3), "incremental", "x"], new Uint8Array([9]));
    expect(readGeneration(directory)?.token).not.toBe(before);
    expect(await readdir(join(directory, "P3", "AAAA", "snapshot"))).toEqual(["s3"]);
    const reader = () => new FileStorage(directory);
    expect((await reader().loadRange([idOf(3)])).map(({ key }) => key.join("/"))).toEqual([
      `${idOf(3)}/incremental/x`,
      `${idOf(3)}/snapshot/s3`,
    ]);
    // A compaction: a new snapshot, then the old chunks removed.
    await writer.save([idOf(3), "snapshot", "whole"], new Uint8Array([7]));
    await writer.remove([idOf(3), "snapshot", "s3"]);
    await writer.remove([idOf(3), "incremental", "x"]);
    expect((await reader().loadRange([idOf(3)])).map(({ key }) => key.join("/"))).toEqual([
      `${idOf(3)}/snapshot/whole`,
    ]);
    expect(await reader().load([idOf(3), "snapshot", "s3"])).toBeUndefined();
    expect((await chunkFingerprint(directory, [idOf(3)]))[idOf(3)]).toEqual(["snapshot/whole"]);
    // A removal of a packed document's chunk, and of a whole packed document.
    await writer.remove([idOf(4), "snapshot", "s4"]);
    expect(await reader().loadRange([idOf(4)])).toEqual([]);
    await writer.removeRange([idOf(5)]);
    expect(await reader().hasDocument(idOf(5))).toBe(false);
    expect((await chunkFingerprint(directory, [idOf(5)]))[idOf(5)]).toEqual([]);
    // The others are still read from the pack.
    expect((await reader().loadRange([idOf(6)]))[0]?.data).toEqual(bytesOf(6));
    expect(
      (await readdir(directory, { recursive: true })).filter((name) => name.includes(".tmp-")),
    ).toEqual([]);
  });

  it("a sync state written beside a packed document moves nothing: its snapshot is still read from the pack, beside the sync state", async () => {
    const { directory } = await settledJoin();
    const writer = new FileStorage(directory, { generation: true });
    await writer.save([idOf(7), "sync-state", "peer"], new Uint8Array([5]));
    expect(existsSync(join(directory, "P7", "AAAA", "sync-state"))).toBe(true);
    expect(existsSync(join(directory, "P7", "AAAA", "snapshot"))).toBe(false);
    const reader = new FileStorage(directory);
    expect((await reader.loadRange([idOf(7), "snapshot"]))[0]?.data).toEqual(bytesOf(7));
    expect((await reader.loadRange([idOf(7)])).map(({ key }) => key.join("/"))).toEqual([
      `${idOf(7)}/snapshot/s7`,
      `${idOf(7)}/sync-state/peer`,
    ]);
    expect((await chunkFingerprint(directory, [idOf(7)]))[idOf(7)]).toEqual(["snapshot/s7"]);
    expect(await reader.hasDocument(idOf(7))).toBe(true);
    // A chunk then moves it, and the sync state stays.
    await writer.save([idOf(7), "incremental", "z"], new Uint8Array([6]));
    expect(await readdir(join(directory, "P7", "AAAA", "snapshot"))).toEqual(["s7"]);
    expect(
      (await new FileStorage(directory).loadRange([idOf(7)])).map(({ key }) => key.join("/")),
    ).toEqual([`${idOf(7)}/incremental/z`, `${idOf(7)}/snapshot/s7`, `${idOf(7)}/sync-state/peer`]);
  });

  it("a disk proof holds for packed documents by the files' times (no listing), and stops holding when one gets a chunk folder", async () => {
    const { home, storage, fingerprint } = await packedHome();
    expect(fingerprint[idOf(1)]).toEqual(["snapshot/s1"]);
    expect(await recordDiskProof(home, storage, "SPACEdoc", fingerprint)).toBeDefined();
    expect(provenFingerprint(home, "SPACEdoc", { statFiles: true })).toEqual(fingerprint);
    // Another tool makes a chunk folder for a packed document (the generation unchanged): not proven.
    await mkdir(join(home.replica, "P1", "AAAA", "snapshot"), { recursive: true });
    expect(provenFingerprint(home, "SPACEdoc", { statFiles: true })).toBeUndefined();
  });

  it("a disk proof over packed documents spares a later process the packs' indexes while the packs are unchanged, also after a publish; a replaced or damaged pack is read and checked again", async () => {
    const { root, home, storage, fingerprint } = await packedHome();
    expect(await recordDiskProof(home, storage, "SPACEdoc", fingerprint)).toBeDefined();

    // Every file this process opens from now on (node:fs's own, as the storage's modules import it).
    const opened: string[] = [];
    const open = fs.openSync;
    vi.spyOn(fs, "openSync").mockImplementation((...args: Parameters<typeof fs.openSync>) => {
      opened.push(String(args[0]));
      return open(...args);
    });
    syncBuiltinESMExports();
    const packsOpened = () => opened.splice(0).filter((path) => path.endsWith(".pack"));
    // A later process: this process remembers the packs it read by the replica's path, so another path to it.
    const later = async () => {
      const link = `${root}-link-${opened.length}-${Math.random().toString(36).slice(2)}`;
      await symlink(root, link);
      directories.push(link);
      return canonHome(link);
    };

    expect(provenFingerprint(await later(), "SPACEdoc", { statFiles: true })).toEqual(fingerprint);
    expect(packsOpened()).toEqual([]);

    // A publish: one document written (moved out of the pack), the two others proven at its start and not listed.
    const start = readGeneration(home.replica);
    await storage.save([idOf(0), "incremental", "i0"], bytesOf(9));
    await storage.generation?.end();
    const published = { ...fingerprint, ...(await chunkFingerprint(home.replica, [idOf(0)])) };
    expect(published[idOf(0)]).toEqual(["incremental/i0", "snapshot/s0"]);
    expect(
      await recordDiskProof(home, storage, "SPACEdoc", published, {
        sinceMs: start?.changedMs ?? 0,
        documents: [idOf(1), idOf(2)],
      }),
    ).toBeDefined();
    opened.length = 0;
    expect(provenFingerprint(await later(), "SPACEdoc", { statFiles: true })).toEqual(published);
    expect(packsOpened()).toEqual([]);

    // The pack replaced by the same bytes (a new file): its index is read and checked again, and holds.
    const [name] = await readdir(join(home.replica, "packs"));
    const pack = join(home.replica, "packs", name as string);
    const bytes = await readFile(pack);
    await rm(pack);
    await writeFile(pack, bytes);
    const again = await later();
    expect(provenFingerprint(again, "SPACEdoc", { statFiles: true })).toEqual(published);
    expect(packsOpened()).toEqual([join(again.replica, "packs", name as string)]);

    // Damaged in place (its index altered): read again, refused, nothing proven.
    bytes[50] = (bytes[50] as number) ^ 0x01;
    await writeFile(pack, bytes);
    expect(provenFingerprint(await later(), "SPACEdoc", { statFiles: true })).toBeUndefined();
    expect(packsOpened()).toHaveLength(1);
  });

  it("a damaged pack is named and never half-read: an altered index or chunk is STORAGE_DAMAGED naming the pack, and the audit reports it", async () => {
    const { directory, pack } = await settledJoin();
    const intact = await readFile(pack);
    const index = Buffer.from(intact);
    index[50] = (index[50] as number) ^ 0x01; // inside the index
    await writeFile(pack, index);
    await expect(new FileStorage(directory).loadRange([idOf(1)])).rejects.toMatchObject({
      code: "STORAGE_DAMAGED",
      message: expect.stringContaining(pack),
    });
    expect(await auditChunks(directory)).toMatchObject([
      { path: pack, kind: "chunk", damage: "checksum mismatch" },
    ]);
    const chunk = Buffer.from(intact);
    const last = chunk.length - 1; // the last document's chunk ends the file
    chunk[last] = (chunk[last] as number) ^ 0x01;
    await writeFile(pack, chunk);
    const damaged = new FileStorage(directory);
    const outcomes = await Promise.allSettled(
      Array.from({ length: COUNT }, (_, index) => damaged.loadRange([idOf(index)])),
    );
    const refused = outcomes.filter((outcome) => outcome.status === "rejected");
    expect(refused).toHaveLength(1);
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({
      code: "STORAGE_DAMAGED",
      message: expect.stringContaining(pack),
    });
    expect(await auditChunks(directory)).toMatchObject([{ path: pack, kind: "chunk" }]);
    // A damaged chunk is not moved out of its pack either: a write to its document fails, nothing written.
    const at = outcomes.findIndex((outcome) => outcome.status === "rejected");
    await expect(
      new FileStorage(directory).save([idOf(at), "incremental", "y"], new Uint8Array([1])),
    ).rejects.toMatchObject({ code: "STORAGE_DAMAGED" });
    expect(existsSync(join(directory, idOf(at).slice(0, 2), idOf(at).slice(2), "snapshot"))).toBe(
      false,
    );
    expect(
      (await readdir(directory, { recursive: true })).filter((name) => name.includes(".tmp-")),
    ).toEqual([]);
  });

  it("an index rewritten with a matching hash but not a pack's shape is STORAGE_DAMAGED naming the pack (checked by hand: show's path loads no zod)", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-pack-shape-"));
    directories.push(directory);
    /** A pack file around `index` (its header's hash made to match) and 64 bytes of chunk data. */
    const packOf = async (name: string, index: unknown) => {
      const json = Buffer.from(JSON.stringify(index));
      const header = Buffer.alloc(40);
      header.write("CNC1", 0, "latin1");
      header.writeUInt32BE(json.length, 4);
      createHash("sha256").update(json).digest().copy(header, 8);
      const path = join(directory, name);
      await writeFile(path, Buffer.concat([header, json, Buffer.alloc(64)]));
      return { path, dataStart: 40 + json.length };
    };
    const good = await packOf("good.pack", { v: 1, chunks: [["GOODdoc", "snapshot", "s1", 0, 0]] });
    // The honest shape, its chunk right after the index (an offset of two digits either way), is read.
    const entry = (offset: number) => ({
      v: 1,
      chunks: [["GOODdoc", "snapshot", "s1", offset, 8]],
    });
    const placed = await packOf("placed.pack", entry(40 + JSON.stringify(entry(10)).length));
    expect(readChunkPackIndex(placed.path)).toMatchObject([
      { documentId: "GOODdoc", kind: "snapshot", name: "s1", offset: placed.dataStart, length: 8 },
    ]);
    expect(() => readChunkPackIndex(good.path)).toThrow(/a chunk outside the file/);
    const hostile: unknown[] = [
      null,
      [],
      "index",
      { v: 2, chunks: [] },
      { v: 1 },
      { v: 1, chunks: {} },
      { v: 1, chunks: [], extra: true },
      { v: 1, chunks: [["GOODdoc", "snapshot", "s1", placed.dataStart]] },
      { v: 1, chunks: [["GOODdoc", "incremental", "s1", placed.dataStart, 8]] },
      { v: 1, chunks: [["../../x", "snapshot", "s1", placed.dataStart, 8]] },
      { v: 1, chunks: [["GOODdoc", "snapshot", "a/b", placed.dataStart, 8]] },
      { v: 1, chunks: [["GOODdoc", "snapshot", "s1", -1, 8]] },
      { v: 1, chunks: [["GOODdoc", "snapshot", "s1", placed.dataStart, 1.5]] },
      { v: 1, chunks: [["GOODdoc", "snapshot", "s1", "40", 8]] },
      { v: 1, chunks: [["GOODdoc", "snapshot", "s1", 2 ** 60, 8]] },
    ];
    for (const [at, index] of hostile.entries()) {
      const { path } = await packOf(`hostile-${at}.pack`, index);
      let refused: unknown;
      try {
        readChunkPackIndex(path);
      } catch (error) {
        refused = error;
      }
      expect(refused, JSON.stringify(index)).toMatchObject({
        code: "STORAGE_DAMAGED",
        message: expect.stringContaining(path),
      });
    }
  });

  it("a pack cut off before its rename (a crash) is never read", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-pack-"));
    directories.push(directory);
    const { pack } = await settledJoin();
    const partial = (await readFile(pack)).subarray(0, 100);
    await rm(directory, { recursive: true, force: true });
    const storage = new FileStorage(directory);
    await storage.save(["LONEdoc", "snapshot", "one"], new Uint8Array([3]));
    await writeFile(join(directory, "packs.tmp-x"), partial).catch(() => {});
    await import("node:fs/promises").then(({ mkdir }) =>
      mkdir(join(directory, "packs"), { recursive: true }),
    );
    await writeFile(join(directory, "packs", "0000.pack.tmp-0123456789ab"), partial);
    const other = new FileStorage(directory);
    expect(await other.loadRange([idOf(1)])).toEqual([]);
    expect(await other.hasDocument(idOf(1))).toBe(false);
    expect((await other.loadRange(["LONEdoc"]))[0]?.data).toEqual(new Uint8Array([3]));
    expect(await auditChunks(directory)).toEqual([]);
  });
});

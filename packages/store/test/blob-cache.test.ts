import { createHash } from "node:crypto";
import { type FileHandle, mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BlobCache, PACK_AT_LEAST } from "../src/caches/blob-cache.js";
import {
  type BlobPackLimits,
  MAX_PACKS,
  PACK_LIMITS,
  readBlobPackIndex,
} from "../src/caches/blob-pack.js";
import { fileIdentityOf } from "../src/caches/file-identity.js";
import {
  canonHome,
  createSpace,
  ensureIdentity,
  openReplica,
  parseSpaceUrl,
  publish,
  readFromIndex,
} from "../src/index.js";
import { refreshCaches } from "../src/operations/space-session.js";

const cleanup: string[] = [];
afterEach(async () => {
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

async function newCache(limits?: BlobPackLimits) {
  const root = await mkdtemp(join(tmpdir(), "canon-blobs-"));
  cleanup.push(root);
  const home = canonHome(root);
  return { home, blobs: new BlobCache(home, limits && { limits }) };
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("the blob cache written in bulk", () => {
  it("putAll writes every blob (the folder made once), each read back checked, and stored() lists them", async () => {
    const { home, blobs } = await newCache();
    const entries = Array.from({ length: PACK_AT_LEAST - 1 }, (_, index) => {
      const bytes = new TextEncoder().encode(`blob ${index}\n`);
      return [`cid-${index}`, bytes] as const;
    });
    await blobs.putAll(entries);
    for (const [cid, bytes] of entries)
      expect(Buffer.from((await blobs.get(cid, sha256(bytes))) ?? [])).toEqual(Buffer.from(bytes));
    // A stray temporary file (a write cut short) is not listed as stored.
    await writeFile(join(home.blobs, "cid-x.tmp-0123456789ab"), "partial");
    expect([...(await blobs.stored())].sort()).toEqual(entries.map(([cid]) => cid).sort());
    expect((await readdir(home.blobs)).filter((name) => name.includes(".tmp-"))).toEqual([
      "cid-x.tmp-0123456789ab",
    ]);
  });

  it("stored() of a cache never written is empty, and putAll of nothing creates no folder", async () => {
    const { home, blobs } = await newCache();
    await blobs.putAll([]);
    expect(await blobs.stored()).toEqual(new Set());
    await expect(readdir(home.blobs)).rejects.toThrow(/ENOENT/);
  });

  it("putAll rejects when a blob cannot be written, after the other writes end", async () => {
    const { home, blobs } = await newCache();
    await blobs.putAll([["taken", new Uint8Array([1])]]);
    // A folder where a blob's temporary file would go cannot hold it: the write fails.
    await rm(home.blobs, { recursive: true });
    await writeFile(home.blobs, "not a folder");
    await expect(blobs.putAll([["a", new Uint8Array([2])]])).rejects.toThrow();
  });
});

describe("the blob cache's packs", () => {
  const many = (count: number, tag = "") =>
    Array.from({ length: count }, (_, index) => {
      const bytes = new TextEncoder().encode(`blob ${tag}${index}\n${"x".repeat(index)}`);
      return [`cid-${tag}${index}`, bytes] as const;
    });
  const packsOf = async (home: { blobs: string }) =>
    (await readdir(join(home.blobs, "packs")).catch(() => [] as string[])).filter(
      (name) => !name.includes(".tmp-") && name.endsWith(".pack"),
    );

  it("putAll of many blobs writes one pack, no file each; every blob is read back checked, has() and stored() see them", async () => {
    const { home, blobs } = await newCache();
    const entries = many(1000);
    await blobs.putAll(entries);
    expect(await readdir(home.blobs)).toEqual(["packs"]);
    expect(await packsOf(home)).toHaveLength(1);
    for (const [cid, bytes] of entries) {
      expect(Buffer.from((await blobs.get(cid, sha256(bytes))) ?? [])).toEqual(Buffer.from(bytes));
      expect(await blobs.has(cid)).toBe(true);
    }
    expect([...(await blobs.stored())].sort()).toEqual(entries.map(([cid]) => cid).sort());
    expect(await blobs.has("cid-absent")).toBe(false);
    expect(await blobs.get("cid-absent", sha256(new Uint8Array()))).toBeUndefined();
    // Bytes that do not hash to what the caller expects are never served (and the pack is kept).
    expect(await blobs.get("cid-1", sha256(new Uint8Array([9])))).toBeUndefined();
    // A second pack beside the first: both are read.
    const more = many(PACK_AT_LEAST, "second-");
    await blobs.putAll(more);
    expect(await packsOf(home)).toHaveLength(2);
    for (const [cid, bytes] of [...more, ...entries.slice(0, 5)])
      expect(Buffer.from((await blobs.get(cid, sha256(bytes))) ?? [])).toEqual(Buffer.from(bytes));
  });

  it("a pack whose blob was altered is never served: the read fails, the pack is removed, and its blobs count as missing", async () => {
    const { home, blobs } = await newCache();
    const entries = many(100);
    await blobs.putAll(entries);
    const [name] = await packsOf(home);
    const path = join(home.blobs, "packs", name as string);
    const bytes = await readFile(path);
    // Flip a byte of the last blob (the data section ends the file).
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    await writeFile(path, bytes);
    const results = await Promise.all(
      entries.map(
        async ([cid, expected]) => (await blobs.get(cid, sha256(expected))) !== undefined,
      ),
    );
    expect(results.filter((served) => !served).length).toBeGreaterThanOrEqual(1);
    expect(await packsOf(home)).toEqual([]);
    expect(await blobs.stored()).toEqual(new Set());
  });

  it("a pack cut short or with an altered index (a power cut, an edit) is refused and removed, and putAll writes it again", async () => {
    const { home, blobs } = await newCache();
    const entries = many(100);
    for (const damage of [
      (bytes: Buffer) => bytes.subarray(0, 100),
      (bytes: Buffer) => {
        bytes[60] = (bytes[60] as number) ^ 0x01;
        return bytes;
      },
      () => Buffer.alloc(0),
    ]) {
      await blobs.putAll(entries);
      const [name] = await packsOf(home);
      const path = join(home.blobs, "packs", name as string);
      await writeFile(path, damage(await readFile(path)));
      expect(await blobs.stored()).toEqual(new Set());
      expect(await packsOf(home)).toEqual([]);
      expect(await blobs.get("cid-3", sha256(entries[3]?.[1] as Uint8Array))).toBeUndefined();
    }
    await blobs.putAll(entries);
    expect(await blobs.stored()).toEqual(new Set(entries.map(([cid]) => cid)));
  });

  it("a pack whose header claims more than the file holds is refused before anything is allocated, removed, and written again", async () => {
    const { home, blobs } = await newCache();
    const entries = many(100);
    for (const [count, namesLength] of [
      [1_000_000, 256 * 1024 * 1024],
      [1_000_000, 0],
      [101, 10],
    ] as const) {
      await blobs.putAll(entries);
      const [name] = await packsOf(home);
      const path = join(home.blobs, "packs", name as string);
      const bytes = await readFile(path);
      bytes.writeUInt32BE(count, 4);
      bytes.writeUInt32BE(namesLength, 8);
      await writeFile(path, bytes);
      // The real file, every read it is asked for recorded.
      const file = await open(path, "r");
      const reads: number[] = [];
      const watched = new Proxy(file, {
        get(target, property) {
          const value = Reflect.get(target, property, target);
          if (property === "read")
            return (buffer: Buffer, offset: number, length: number, position: number) => {
              reads.push(length);
              return target.read(buffer, offset, length, position);
            };
          return typeof value === "function" ? value.bind(target) : value;
        },
      }) as FileHandle;
      try {
        expect(await readBlobPackIndex(watched)).toBeUndefined();
      } finally {
        await file.close();
      }
      expect(Math.max(...reads)).toBeLessThanOrEqual(bytes.length);
      // Damaged: removed on the next read, its blobs count as missing.
      expect(await blobs.stored()).toEqual(new Set());
      expect(await packsOf(home)).toEqual([]);
    }
    await blobs.putAll(entries);
    expect(await blobs.stored()).toEqual(new Set(entries.map(([cid]) => cid)));
  });

  it("a pack whose index places a blob outside the file (its hash made to match) is refused", async () => {
    const { home, blobs } = await newCache();
    await blobs.putAll(many(100));
    const [name] = await packsOf(home);
    const path = join(home.blobs, "packs", name as string);
    const bytes = await readFile(path);
    // The first entry's length: 4 GiB - 1, and the header's hash over index and names made to match.
    const count = bytes.readUInt32BE(4);
    const namesLength = bytes.readUInt32BE(8);
    bytes.writeUInt32BE(0xffffffff, 44 + 40);
    createHash("sha256")
      .update(bytes.subarray(44, 44 + count * 44 + namesLength))
      .digest()
      .copy(bytes, 12);
    await writeFile(path, bytes);
    const file = await open(path, "r");
    try {
      expect(await readBlobPackIndex(file)).toBeUndefined();
    } finally {
      await file.close();
    }
  });

  it("remembers a checked index by the pack file's identity: an unchanged pack's index is not hashed again, a changed one is checked", async () => {
    const { home, blobs } = await newCache();
    const entries = many(1000);
    const [cid, bytes] = entries[7] as readonly [string, Uint8Array];
    const served = async () => Buffer.from((await blobs.get(cid, sha256(bytes))) ?? []);
    const packPath = async () => join(home.blobs, "packs", (await packsOf(home))[0] as string);
    const noteOf = (path: string) => readFile(`${path}.checked`, "utf8").catch(() => undefined);
    const breakHash = async (path: string) => {
      const damaged = await readFile(path);
      damaged[12] = (damaged[12] as number) ^ 0xff; // the header's hash of the index
      await writeFile(path, damaged);
    };
    await blobs.putAll(entries);
    let path = await packPath();
    // Just written: its times are too recent to tell a later edit by, so nothing is noted yet.
    expect(await served()).toEqual(Buffer.from(bytes));
    expect(await noteOf(path)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await served()).toEqual(Buffer.from(bytes));
    expect(await noteOf(path)).toBe(fileIdentityOf(path));
    // Changed since it was noted (its index's hash made wrong): checked again, refused, removed with its note.
    await breakHash(path);
    expect((await served()).length).toBe(0);
    expect(await packsOf(home)).toEqual([]);
    await expect(readdir(join(home.blobs, "packs"))).resolves.toEqual([]);
    // The note is what is trusted: the same damage, with the damaged file's identity noted
    // as if it had passed, is not seen, because the index is not hashed again (the blob
    // itself is still hashed: served because it is intact).
    await blobs.putAll(entries);
    path = await packPath();
    await breakHash(path);
    await writeFile(`${path}.checked`, fileIdentityOf(path) as string);
    expect(await served()).toEqual(Buffer.from(bytes));
    expect(await packsOf(home)).toHaveLength(1);
    // Without the note, the very same file is checked and refused by a process that has not
    // seen it yet (the module loaded afresh: what it remembers starts empty).
    await rm(`${path}.checked`);
    vi.resetModules();
    const fresh = await import("../src/caches/blob-cache.js");
    expect(await new fresh.BlobCache(home).get(cid, sha256(bytes))).toBeUndefined();
    expect(await packsOf(home)).toEqual([]);
  });

  it("reads a pack's note once a process: later misses trust what the process already checked, while the pack keeps its identity", async () => {
    const { home, blobs } = await newCache();
    const entries = many(200);
    await blobs.putAll(entries);
    const path = join(home.blobs, "packs", (await packsOf(home))[0] as string);
    const served = async (at: number) => {
      const [cid, bytes] = entries[at] as readonly [string, Uint8Array];
      return Buffer.from((await blobs.get(cid, sha256(bytes))) ?? []).equals(Buffer.from(bytes));
    };
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(await served(1)).toBe(true);
    expect(await readFile(`${path}.checked`, "utf8")).toBe(fileIdentityOf(path));
    // A note read again would not match: the index would be hashed again and the note written
    // anew. It stays as it is: this process remembers the pack it checked.
    await writeFile(`${path}.checked`, "not this pack");
    for (const at of [2, 3, 150]) expect(await served(at)).toBe(true);
    expect(await readFile(`${path}.checked`, "utf8")).toBe("not this pack");
    // The pack changed (its identity with it): checked again, refused and removed.
    const damaged = await readFile(path);
    damaged[12] = (damaged[12] as number) ^ 0xff;
    await writeFile(path, damaged);
    expect(await served(4)).toBe(false);
    expect(await packsOf(home)).toEqual([]);
  });

  it("a forged note makes no read allocate past the pack: a place outside the file is refused", async () => {
    const { home, blobs } = await newCache();
    await blobs.putAll(many(100));
    const path = join(home.blobs, "packs", (await packsOf(home))[0] as string);
    const bytes = await readFile(path);
    // The first entry's length: 4 GiB - 1, its hash left wrong, and the file noted as checked.
    bytes.writeUInt32BE(0xffffffff, 44 + 40);
    await writeFile(path, bytes);
    await writeFile(`${path}.checked`, fileIdentityOf(path) as string);
    expect(await blobs.get("cid-any", bytes.toString("hex", 44, 76))).toBeUndefined();
  });

  it(`keeps at most ${MAX_PACKS} packs: more are merged into one, every blob still read back checked`, async () => {
    const { home, blobs } = await newCache();
    const written: (readonly [string, Uint8Array])[] = [];
    for (let round = 0; round <= MAX_PACKS + 2; round++) {
      const entries = many(PACK_AT_LEAST, `round-${round}-`);
      written.push(...entries);
      await blobs.putAll(entries);
      expect((await packsOf(home)).length).toBeLessThanOrEqual(MAX_PACKS);
    }
    // Merged once past the bound, then two more beside the merged one.
    expect(await packsOf(home)).toHaveLength(3);
    for (const [cid, bytes] of written)
      expect(Buffer.from((await blobs.get(cid, sha256(bytes))) ?? [])).toEqual(Buffer.from(bytes));
    expect(await blobs.stored()).toEqual(new Set(written.map(([cid]) => cid)));
  });

  /** Each pack's entries and bytes of CIDs, read (and checked) within `limits`; undefined for a pack refused. */
  const sizesOf = async (home: { blobs: string }, limits: BlobPackLimits) => {
    const sizes: ({ entries: number; namesBytes: number } | undefined)[] = [];
    for (const name of await packsOf(home)) {
      const file = await open(join(home.blobs, "packs", name), "r");
      try {
        const index = await readBlobPackIndex(file, { limits });
        sizes.push(index && { entries: index.entries, namesBytes: index.namesBytes });
      } finally {
        await file.close();
      }
    }
    return sizes;
  };

  it("merging packs never makes one past what a pack may hold: the smallest are merged, up to exactly the limit, and every blob is still served", async () => {
    // Three packs' worth of entries at most: merging all nine (as before) made a pack every
    // reader refused, and removed, with every blob of the cache in it.
    const limits = { ...PACK_LIMITS, maxEntries: 3 * PACK_AT_LEAST };
    const { home, blobs } = await newCache(limits);
    const written: (readonly [string, Uint8Array])[] = [];
    for (let round = 0; round <= MAX_PACKS; round++) {
      const entries = many(PACK_AT_LEAST, `round-${round}-`);
      written.push(...entries);
      await blobs.putAll(entries);
    }
    const sizes = await sizesOf(home, limits);
    expect(sizes).not.toContain(undefined);
    expect(sizes.map((size) => size?.entries).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([
      ...Array.from({ length: MAX_PACKS - 2 }, () => PACK_AT_LEAST),
      limits.maxEntries,
    ]);
    for (const [cid, bytes] of written)
      expect(Buffer.from((await blobs.get(cid, sha256(bytes))) ?? [])).toEqual(Buffer.from(bytes));
    expect(await blobs.stored()).toEqual(new Set(written.map(([cid]) => cid)));
    // Packs already at the limit are left as they are: the next merges take the small ones.
    for (let round = MAX_PACKS + 1; round <= 2 * MAX_PACKS; round++) {
      const entries = many(PACK_AT_LEAST, `round-${round}-`);
      written.push(...entries);
      await blobs.putAll(entries);
      expect((await packsOf(home)).length).toBeLessThanOrEqual(MAX_PACKS);
    }
    const later = await sizesOf(home, limits);
    expect(later).not.toContain(undefined);
    expect(Math.max(...later.map((size) => size?.entries ?? 0))).toBe(limits.maxEntries);
    expect(await blobs.stored()).toEqual(new Set(written.map(([cid]) => cid)));
  });

  it("putAll of more blobs than one pack may hold (entries, or bytes of CIDs) writes several packs, each within the limits", async () => {
    for (const limits of [
      { ...PACK_LIMITS, maxEntries: 100 },
      // The CIDs of `many(250)` take 1,889 bytes one a line: at most 800 a pack.
      { ...PACK_LIMITS, maxNamesBytes: 800 },
    ]) {
      const { home, blobs } = await newCache(limits);
      const entries = many(250);
      await blobs.putAll(entries);
      const sizes = await sizesOf(home, limits);
      expect(sizes.length).toBe(3);
      for (const size of sizes) {
        expect(size?.entries).toBeLessThanOrEqual(limits.maxEntries);
        expect(size?.namesBytes).toBeLessThanOrEqual(limits.maxNamesBytes);
      }
      expect(sizes.reduce((sum, size) => sum + (size?.entries ?? 0), 0)).toBe(250);
      for (const [cid, bytes] of entries)
        expect(Buffer.from((await blobs.get(cid, sha256(bytes))) ?? [])).toEqual(
          Buffer.from(bytes),
        );
      expect(await blobs.stored()).toEqual(new Set(entries.map(([cid]) => cid)));
    }
  });

  it("a damaged file of its own gives way to the pack holding the same blob", async () => {
    const { home, blobs } = await newCache();
    const entries = many(100);
    await blobs.putAll(entries);
    const [cid, bytes] = entries[7] as readonly [string, Uint8Array];
    await writeFile(join(home.blobs, cid), "edited");
    expect(Buffer.from((await blobs.get(cid, sha256(bytes))) ?? [])).toEqual(Buffer.from(bytes));
  });
});

describe("the caches' writer fills the blob cache", () => {
  it("writes every release's content when many are missing (one listing, written together), keeping those present", async () => {
    const { home, blobs } = await newCache();
    const signer = await ensureIdentity(home);
    const space = await createSpace(home, signer, "blobs");
    const contents: Uint8Array[] = [];
    for (let version = 1; version <= 40; version++) {
      const text = `version ${version}\n`;
      contents.push(new TextEncoder().encode(text));
      const file = join(home.root, "next.md");
      await writeFile(file, text);
      await publish(home, signer, { standard: `s${version % 3}`, file });
    }
    const kept = [...(await blobs.stored())].sort();
    expect(kept).toHaveLength(40);
    // All but one gone: more than the writer checks one at a time.
    for (const cid of kept.slice(1)) await rm(join(home.blobs, cid));
    const replica = await openReplica(home);
    try {
      const folded = await replica.spaces.fold(parseSpaceUrl(space.url));
      await replica.close();
      await refreshCaches(replica, folded);
    } finally {
      await replica.close();
    }
    expect([...(await blobs.stored())].sort()).toEqual(kept);
    const hashes = new Set(contents.map(sha256));
    for (const cid of kept) {
      const bytes = await readFile(join(home.blobs, cid));
      expect(hashes.has(sha256(bytes))).toBe(true);
    }
  });
  it("writes one pack when as many as a join brings are missing, and a pinned read is served from it without Automerge", async () => {
    const { home, blobs } = await newCache();
    const signer = await ensureIdentity(home);
    const space = await createSpace(home, signer, "packed");
    const file = join(home.root, "next.md");
    for (let version = 1; version <= PACK_AT_LEAST + 2; version++) {
      await writeFile(file, `version ${version}\n`);
      await publish(home, signer, { standard: `s${version % 2}`, file });
    }
    const kept = [...(await blobs.stored())].sort();
    await rm(home.blobs, { recursive: true });
    const replica = await openReplica(home);
    try {
      const folded = await replica.spaces.fold(parseSpaceUrl(space.url));
      await replica.close();
      await refreshCaches(replica, folded);
    } finally {
      await replica.close();
    }
    expect(await readdir(home.blobs)).toEqual(["packs"]);
    expect(await readdir(join(home.blobs, "packs"))).toHaveLength(1);
    expect([...(await blobs.stored())].sort()).toEqual(kept);
    const read = await readFromIndex(home, { space: space.url, standard: "s1", selector: "3" });
    expect(new TextDecoder().decode(read?.content)).toBe("version 5\n");
  });
});

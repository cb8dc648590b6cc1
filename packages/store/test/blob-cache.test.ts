import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BlobCache } from "../src/caches/blob-cache.js";
import {
  canonHome,
  createSpace,
  ensureIdentity,
  openReplica,
  parseSpaceUrl,
  publish,
} from "../src/index.js";
import { refreshCaches } from "../src/operations/space-session.js";

const cleanup: string[] = [];
afterEach(async () => {
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

async function newCache() {
  const root = await mkdtemp(join(tmpdir(), "canon-blobs-"));
  cleanup.push(root);
  const home = canonHome(root);
  return { home, blobs: new BlobCache(home) };
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("the blob cache written in bulk", () => {
  it("putAll writes every blob (the folder made once), each read back checked, and stored() lists them", async () => {
    const { home, blobs } = await newCache();
    const entries = Array.from({ length: 100 }, (_, index) => {
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
});

import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  LISTING_SHARD_TAG,
  LISTING_TAG,
  listingPath,
  readListingCache,
} from "../src/caches/listing-cache.js";
import {
  readStampIndex,
  STAMP_INDEX_TAG,
  type StampIndex,
  stampIndexPath,
  writeStampIndex,
} from "../src/caches/stamp-index.js";
import { canonHome } from "../src/index.js";
import { chooseSpace } from "../src/operations/space-session.js";
import { checksummed, unchecksummed } from "../src/storage/checksummed.js";
import { publishedHome } from "./helpers/published-home.js";

// The listing cache and the stamp index are written through checksummed-json.ts: the files are
// byte for byte those the caches wrote by hand before (tag, sha-256, JSON), and such files still read.

const cleanup: string[] = [];
afterEach(async () => {
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

async function folder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "canon-cache-formats-"));
  cleanup.push(dir);
  return dir;
}

/** The JSON a framed file holds under `tag` (the test fails when it is not framed so). */
function framedJson(tag: string, bytes: Uint8Array): unknown {
  const opened = unchecksummed(tag, bytes);
  if (!("data" in opened)) throw new Error(`not a ${tag} file: ${opened.damage}`);
  return JSON.parse(new TextDecoder().decode(opened.data));
}

/** The bytes the caches wrote by hand before: the tag, the sha-256, `JSON.stringify(value)`. */
function byHand(tag: string, value: unknown): Uint8Array {
  return checksummed(tag, new TextEncoder().encode(JSON.stringify(value)));
}

/** Every file under `dir`, with its bytes. */
async function filesUnder(dir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    if ((await stat(path)).isFile()) files.set(path, await readFile(path));
  }
  return files;
}

describe("the listing cache's files", () => {
  it("are the hand-framed JSON they were, and files framed so by hand read back as the listing", async () => {
    const { home } = await publishedHome(["alpha", "beta", "gamma", "delta"]);
    const { address } = await chooseSpace(home, {});
    const main = listingPath(home, address.documentId);
    const written = new Map<string, Uint8Array>([[main, await readFile(main)]]);
    for (const [path, bytes] of await filesUnder(`${main}.d`)) written.set(path, bytes);
    expect(written.size).toBeGreaterThan(1);
    for (const [path, bytes] of written) {
      const tag = path === main ? LISTING_TAG : LISTING_SHARD_TAG;
      expect(new Uint8Array(bytes), path).toEqual(byHand(tag, framedJson(tag, bytes)));
    }
    const before = await readListingCache(home, address, { statFiles: true });
    expect(before?.standards.map((entry) => entry.latest.standard)).toEqual([
      "alpha",
      "beta",
      "delta",
      "gamma",
    ]);
    // The same files, written again by hand as the old writer did: read as before.
    for (const [path, bytes] of written) {
      const tag = path === main ? LISTING_TAG : LISTING_SHARD_TAG;
      await writeFile(path, byHand(tag, framedJson(tag, bytes)));
    }
    expect(await readListingCache(home, address, { statFiles: true })).toEqual(before);
  });
});

describe("the stamp index's files", () => {
  const genesis = "bafy-genesis";
  const fingerprint = { "space-doc": ["snapshot/a", "incremental/b"] };
  const index: StampIndex = {
    v: 2,
    genesis,
    fingerprint,
    bySha256: {
      ["a".repeat(64)]: [{ cid: "bafy-stamp-1", author: "did:key:one" }],
      ["b".repeat(64)]: [
        { cid: "bafy-stamp-1", author: "did:key:one" },
        { cid: "bafy-stamp-2", author: "did:key:two" },
      ],
    },
    agents: {
      "did:key:one": {
        stamps: 1,
        lastStampedAt: "2026-11-30T10:00:00.000Z",
        latest: {
          style: {
            version: 2,
            releaseCid: "bafy-release",
            stampCid: "bafy-stamp-1",
            stampedAt: "2026-11-30T10:00:00.000Z",
            latestVersion: 3,
            behindVersions: 1,
            behindCorrections: 0,
          },
        },
      },
    },
    latest: { style: 3 },
  };
  const address = { documentId: "space-doc", genesis };
  const sha256s = Object.keys(index.bySha256);

  it("are the hand-framed JSON they were, and files framed so by hand read back as the index", async () => {
    const home = canonHome(await folder());
    await writeStampIndex(home, "space-doc", index);
    const main = stampIndexPath(home, "space-doc");
    const mainBytes = await readFile(main);
    const mainJson = framedJson(STAMP_INDEX_TAG, mainBytes) as { shards: Record<string, string> };
    expect(new Uint8Array(mainBytes)).toEqual(byHand(STAMP_INDEX_TAG, mainJson));
    expect(Object.keys(mainJson.shards).sort()).toEqual(["a", "b"]);
    for (const [path, bytes] of await filesUnder(`${main}.d`))
      expect(new Uint8Array(bytes), path).toEqual(byHand("CNPS", framedJson("CNPS", bytes)));
    const read = await readStampIndex(home, address, { sha256s, describing: fingerprint });
    expect(read).toEqual(index);

    // An index the old writer left, built here by hand: shards by first hex digit, the main file naming their checksums.
    const old = canonHome(await folder());
    const shards: Record<string, string> = {};
    for (const [sha256, stamps] of Object.entries(index.bySha256)) {
      const file = byHand("CNPS", { [sha256]: stamps.map((stamp) => [stamp.cid, stamp.author]) });
      const path = join(`${stampIndexPath(old, "space-doc")}.d`, sha256.slice(0, 1));
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, file);
      shards[sha256.slice(0, 1)] = Buffer.from(file.subarray(4, 36)).toString("hex");
    }
    const { bySha256: _, ...rest } = index;
    await writeFile(stampIndexPath(old, "space-doc"), byHand(STAMP_INDEX_TAG, { ...rest, shards }));
    expect(await readStampIndex(old, address, { sha256s, describing: fingerprint })).toEqual(index);
  });

  it("a write of some shards keeps the others as the main file on disk names them, also when another process rewrote it after this one", async () => {
    const home = canonHome(await folder());
    await writeStampIndex(home, "space-doc", index);
    const main = stampIndexPath(home, "space-doc");
    // Another process's write (this process remembers its own): shard `b` holds one stamp now.
    const written = framedJson(STAMP_INDEX_TAG, await readFile(main)) as {
      shards: Record<string, string>;
    };
    const b = "b".repeat(64);
    const theirs = byHand("CNPS", { [b]: [["bafy-stamp-2", "did:key:two"]] });
    await writeFile(join(`${main}.d`, "b"), theirs);
    const shards = { ...written.shards, b: Buffer.from(theirs.subarray(4, 36)).toString("hex") };
    await writeFile(main, byHand(STAMP_INDEX_TAG, { ...written, shards }));
    // This process then writes shard `a` only: `b` stays as the other process left it.
    await writeStampIndex(home, "space-doc", index, { only: ["a".repeat(64)] });
    const after = framedJson(STAMP_INDEX_TAG, await readFile(main)) as typeof written;
    expect(after.shards).toEqual(shards);
    const read = await readStampIndex(home, address, { sha256s, describing: fingerprint });
    expect(read?.bySha256[b]).toEqual([{ cid: "bafy-stamp-2", author: "did:key:two" }]);
  });

  it("a damaged shard is refused and removed; one another write replaced is refused and kept", async () => {
    const home = canonHome(await folder());
    await writeStampIndex(home, "space-doc", index);
    const shard = join(`${stampIndexPath(home, "space-doc")}.d`, "a");
    const bytes = await readFile(shard);
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 2] = (damaged[damaged.length - 2] as number) ^ 0x01;
    await writeFile(shard, damaged);
    expect(await readStampIndex(home, address, { sha256s, describing: fingerprint })).toBe(
      undefined,
    );
    await expect(stat(shard)).rejects.toThrow();
    // Intact, but not the file the main file names (another checksum): refused, left in place.
    await writeFile(shard, byHand("CNPS", {}));
    expect(await readStampIndex(home, address, { sha256s, describing: fingerprint })).toBe(
      undefined,
    );
    expect((await stat(shard)).isFile()).toBe(true);
    // The next write puts the named shard back.
    await writeStampIndex(home, "space-doc", index);
    expect(await readStampIndex(home, address, { sha256s, describing: fingerprint })).toEqual(
      index,
    );
  });
});

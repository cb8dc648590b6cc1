import * as dagCbor from "@ipld/dag-cbor";
import { describe, expect, it } from "vitest";
import {
  type BundleEntryInput,
  bundleCid,
  bundleManifestOf,
  bundlePathProblem,
  CanonError,
  CID,
  contentCid,
  decodeBundleManifest,
  encodeBundleManifest,
  isBundleCid,
  MAX_BUNDLE_BYTES,
  MAX_BUNDLE_FILES,
  MAX_CONTENT_BYTES,
  Release,
} from "../src/index.js";

const utf8 = new TextEncoder();

async function entry(path: string, text: string, executable = false): Promise<BundleEntryInput> {
  const bytes = utf8.encode(text);
  return { path, cid: (await contentCid(bytes)).toString(), size: bytes.length, executable };
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof CanonError ? error.code : "not a CanonError";
  }
  return undefined;
}

describe("bundle manifests", () => {
  it("are deterministic: the same files in any order give the same bytes and CID", async () => {
    const files = [
      await entry("SKILL.md", "# skill\n"),
      await entry("scripts/run.sh", "#!/bin/sh\n", true),
      await entry("a/b.txt", ""),
    ];
    const one = encodeBundleManifest(bundleManifestOf(files));
    const two = encodeBundleManifest(bundleManifestOf([...files].reverse()));
    expect(one).toEqual(two);
    const cid = await bundleCid(bundleManifestOf(files));
    expect(cid.code).toBe(0x71);
    expect(isBundleCid(cid.toString())).toBe(true);
    expect(isBundleCid(files[0]?.cid ?? "")).toBe(false);
    expect(isBundleCid("not a cid")).toBe(false);
    expect(decodeBundleManifest(one)).toEqual(bundleManifestOf(files));
  });

  it("sort files bytewise by UTF-8 path and give each its mode", async () => {
    const manifest = bundleManifestOf([
      await entry("b", "1"),
      await entry("C", "2", true),
      await entry("a/z", "3"),
      await entry("a-b", "4"),
      await entry("é", "5"),
      await entry("z", "6"),
    ]);
    expect(manifest.files.map((file) => file.path)).toEqual(["C", "a-b", "a/z", "b", "z", "é"]);
    expect(manifest.files.map((file) => file.mode)).toEqual([493, 420, 420, 420, 420, 420]);
  });

  it("encode keys in DAG-CBOR order with CIDs as tag 42", async () => {
    const bytes = encodeBundleManifest(bundleManifestOf([await entry("x", "")]));
    // map(3) "v" 1 "type" "canon/bundle" "files" [ map(4) "cid" tag42 ... ]
    expect([...bytes.subarray(0, 4)]).toEqual([0xa3, 0x61, 0x76, 0x01]);
    const decoded = dagCbor.decode(bytes) as { files: { cid: unknown }[] };
    expect(CID.asCID(decoded.files[0]?.cid)?.code).toBe(0x55);
    const hex = Buffer.from(bytes).toString("hex");
    expect(hex).toContain("d82a5825000155"); // tag 42, bytes(37), 0x00 prefix, CIDv1 raw
    expect(Object.keys(decoded)).toEqual(["v", "type", "files"]);
  });

  it.each([
    "",
    "/abs",
    "a//b",
    "a/",
    ".",
    "..",
    "a/../b",
    "./a",
    "a\\b",
    "a\u0000b",
    "a\nb",
    "a\u007fb",
    "a\u0085b",
    "\ud800x",
    "x".repeat(513),
  ])("refuse the path %j", async (path) => {
    expect(bundlePathProblem(path)).toBeDefined();
    expect(codeOf(() => bundleManifestOf([{ path, cid: "x", size: 0, executable: false }]))).toBe(
      "BAD_ARGUMENT",
    );
  });

  it("accept ordinary paths, dots inside names, Unicode and 512 bytes", () => {
    for (const path of [".claude/skills/x/SKILL.md", "a..b", "...", "é/ü.md", "x".repeat(512)])
      expect(bundlePathProblem(path)).toBeUndefined();
  });

  it("refuse two paths equal ignoring case, a duplicate, and an empty bundle", async () => {
    expect(() => bundleManifestOf([])).toThrow(/invalid bundle manifest/);
    const readme = await entry("README.md", "a");
    expect(() => bundleManifestOf([readme, { ...readme, path: "readme.md" }])).toThrow(
      /differ only in case/,
    );
    expect(() => bundleManifestOf([readme, readme])).toThrow(/listed twice/);
    // A file and a folder of the same name (in any case) cannot both be written.
    expect(() => bundleManifestOf([readme, { ...readme, path: "readme.MD/x" }])).toThrow(
      /is both a file and a folder/,
    );
  });

  it("enforce the limits: files, bytes per file, bytes in all", async () => {
    const one = await entry("f", "x");
    const many = Array.from({ length: MAX_BUNDLE_FILES + 1 }, (_, i) => ({
      ...one,
      path: `f${i}`,
    }));
    expect(codeOf(() => bundleManifestOf(many))).toBe("BAD_ARGUMENT");
    expect(codeOf(() => bundleManifestOf(many.slice(0, MAX_BUNDLE_FILES)))).toBeUndefined();
    expect(codeOf(() => bundleManifestOf([{ ...one, size: MAX_CONTENT_BYTES + 1 }]))).toBe(
      "BAD_ARGUMENT",
    );
    const big = Array.from({ length: 3 }, (_, i) => ({
      ...one,
      path: `big${i}`,
      size: MAX_CONTENT_BYTES,
    }));
    expect(3 * MAX_CONTENT_BYTES).toBeGreaterThan(MAX_BUNDLE_BYTES);
    expect(() => bundleManifestOf(big)).toThrow(/a bundle is at most/);
  });

  it("decode refuses non-canonical and hostile manifests", async () => {
    const files = [await entry("a", "1"), await entry("b", "2")];
    const good = bundleManifestOf(files);
    const cids = good.files.map((file) => ({ ...file, cid: CID.parse(file.cid) }));
    const encode = (value: unknown) => dagCbor.encode(value);
    const hostile: [string, Uint8Array][] = [
      ["not CBOR", utf8.encode("hello")],
      ["not a map", encode([1, 2])],
      ["no files", encode({ v: 1, type: "canon/bundle", files: [] })],
      ["unsorted", encode({ v: 1, type: "canon/bundle", files: [...cids].reverse() })],
      ["cid as text", encode({ v: 1, type: "canon/bundle", files: good.files })],
      ["extra key", encode({ v: 1, type: "canon/bundle", files: cids, x: 1 })],
      ["version 2", encode({ v: 2, type: "canon/bundle", files: cids })],
      ["mode 0777", encode({ v: 1, type: "canon/bundle", files: [{ ...cids[0], mode: 511 }] })],
      [
        "dag-cbor file cid",
        encode({
          v: 1,
          type: "canon/bundle",
          files: [
            { ...cids[0], cid: CID.createV1(0x71, CID.parse(good.files[0]?.cid ?? "").multihash) },
          ],
        }),
      ],
      [
        "traversal",
        encode({ v: 1, type: "canon/bundle", files: [{ ...cids[0], path: "../etc/passwd" }] }),
      ],
      ["negative size", encode({ v: 1, type: "canon/bundle", files: [{ ...cids[0], size: -1 }] })],
    ];
    for (const [what, bytes] of hostile) {
      expect(
        codeOf(() => decodeBundleManifest(bytes)),
        what,
      ).toBe("BAD_RECORD");
    }
    // The same manifest with a map's keys in another order (not DAG-CBOR's): refused as non-canonical.
    const canonical = encodeBundleManifest(good);
    const reordered = new Uint8Array(canonical);
    // Swap the first map's first entry ("v": 1, 3 bytes) behind "type": rebuild by hand.
    const typeEntry = dagCbor.encode("type").length + dagCbor.encode("canon/bundle").length;
    reordered.set(canonical.subarray(4, 4 + typeEntry), 1);
    reordered.set(canonical.subarray(1, 4), 1 + typeEntry);
    expect(codeOf(() => decodeBundleManifest(reordered))).toBe("BAD_RECORD");
    expect(decodeBundleManifest(canonical)).toEqual(good);
  });

  it("a release names a bundle by its dag-cbor CID, and refuses other codecs", async () => {
    const manifest = bundleManifestOf([await entry("a", "1")]);
    const base = {
      type: "canon/release",
      v: 1,
      space: (await contentCid(utf8.encode("s"))).toString(),
      standard: "skills/x",
      version: 1,
      size: encodeBundleManifest(manifest).length,
      parents: [],
      incorporates: [],
      message: "",
      membership: [(await contentCid(utf8.encode("m"))).toString()],
      author: "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
      createdAt: "2026-11-29T12:00:00.000Z",
    };
    const cid = await bundleCid(manifest);
    expect(Release.safeParse({ ...base, contentCid: cid.toString() }).success).toBe(true);
    const dagJson = CID.createV1(0x0129, cid.multihash).toString();
    expect(Release.safeParse({ ...base, contentCid: dagJson }).success).toBe(false);
  });
});

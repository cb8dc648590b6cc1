import * as dagCbor from "@ipld/dag-cbor";
import { describe, expect, it } from "vitest";
import {
  bundleCid,
  bundleManifestOf,
  CID,
  contentCid,
  encodeBundleManifest,
  type Release,
  recordCid,
  type SignedRecord,
  signRecord,
} from "../src/index.js";
import { makeSpace, tick } from "./space-fixture.js";

const utf8 = new TextEncoder();

type Space = Awaited<ReturnType<typeof makeSpace>>;

/** Signs a release whose content is `manifestBytes` (stored under `cid`), as a maintainer's peer would. */
async function bundleRelease(space: Space, manifestBytes: Uint8Array, cid: string) {
  space.contents.set(cid, manifestBytes);
  return space.add(
    await signRecord(space.creator, {
      type: "canon/release",
      v: 1,
      space: space.genesis.cid,
      standard: "skills/review",
      version: 1,
      contentCid: cid,
      size: manifestBytes.length,
      parents: [],
      incorporates: [],
      message: "",
      membership: [space.genesis.cid],
      author: space.creator.did,
      createdAt: tick(),
    }),
  ) as SignedRecord<Release>;
}

/** A two-file bundle: its files stored in the space's contents, its release signed. */
async function storedBundle(space: Space) {
  const files = {
    "SKILL.md": utf8.encode("# Review\n"),
    "scripts/check.sh": utf8.encode("#!/bin/sh\n"),
  };
  const entries = [];
  for (const [path, bytes] of Object.entries(files)) {
    const cid = (await contentCid(bytes)).toString();
    space.contents.set(cid, bytes);
    entries.push({ path, cid, size: bytes.length, executable: path.endsWith(".sh") });
  }
  const manifest = bundleManifestOf(entries);
  const release = await bundleRelease(
    space,
    encodeBundleManifest(manifest),
    (await bundleCid(manifest)).toString(),
  );
  return { manifest, release };
}

describe("the fold and bundle releases", () => {
  it("accepts a bundle whose manifest and every file are here and match", async () => {
    const space = await makeSpace();
    const { release } = await storedBundle(space);
    const { state, rejected } = await space.fold();
    expect(rejected).toEqual([]);
    expect(state?.standards.get("skills/review")?.latest.cid).toBe(release.cid);
  });

  it("refuses a bundle with a missing file as content-missing, naming the file", async () => {
    const space = await makeSpace();
    const { manifest, release } = await storedBundle(space);
    space.contents.delete(manifest.files[1]?.cid as string);
    const { state, rejected } = await space.fold();
    expect(state?.standards.has("skills/review")).toBe(false);
    expect(rejected).toEqual([
      expect.objectContaining({
        cid: release.cid,
        code: "content-missing",
        reason: expect.stringContaining('"scripts/check.sh"'),
      }),
    ]);
  });

  it("refuses a bundle with an altered file as content-mismatch", async () => {
    const space = await makeSpace();
    const { manifest, release } = await storedBundle(space);
    space.contents.set(manifest.files[0]?.cid as string, utf8.encode("# Reviex\n"));
    const { rejected } = await space.fold();
    expect(rejected).toEqual([
      expect.objectContaining({ cid: release.cid, code: "content-mismatch" }),
    ]);
  });

  it("refuses a release whose manifest is altered (content-mismatch) or hostile (bundle-malformed)", async () => {
    const space = await makeSpace();
    const { manifest, release } = await storedBundle(space);
    space.contents.set(release.record.contentCid, utf8.encode("x".repeat(release.record.size)));
    expect((await space.fold()).rejected[0]?.code).toBe("content-mismatch");

    // Signed and hashing to its CID, but a path leaves the folder: refused, never crashes the fold.
    const other = await makeSpace();
    const hostile = dagCbor.encode({
      v: 1,
      type: "canon/bundle",
      files: manifest.files.map((file, i) => ({
        ...file,
        cid: CID.parse(file.cid),
        path: i === 0 ? "../../.bashrc" : file.path,
      })),
    });
    const bad = await bundleRelease(other, hostile, (await recordCid(hostile)).toString());
    for (const file of manifest.files)
      other.contents.set(file.cid, space.contents.get(file.cid) as Uint8Array);
    const { rejected, state } = await other.fold();
    expect(state).toBeDefined();
    expect(rejected).toEqual([
      expect.objectContaining({
        cid: bad.cid,
        code: "bundle-malformed",
        reason: expect.stringContaining("'..'"),
      }),
    ]);
  });
});

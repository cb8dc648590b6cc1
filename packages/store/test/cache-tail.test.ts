import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { provenFingerprint } from "../src/caches/disk-proof.js";
import { listingShardOf, listingShardPath, readListingCache } from "../src/caches/listing-cache.js";
import { readVerifiedSnapshot } from "../src/caches/verified-snapshot.js";
import { type canonHome, publish, readFromIndex, resolve } from "../src/index.js";
import { chooseSpace, withSpace } from "../src/operations/space-session.js";
import { currentSnapshot } from "../src/operations/space-view.js";
import { checksummed, unchecksummed } from "../src/storage/checksummed.js";
import { publishedHome } from "./helpers/published-home.js";

/** A space of three standards, then three more versions of one, all published by this process (so its caches take tails). */
async function homeWithTails() {
  const { home, signer, file } = await publishedHome();
  const releases: string[] = [];
  for (const text of ["two\n", "three\n", "four\n"])
    releases.push(
      (await publish(home, signer, { standard: "beta", file: await file(text) })).release,
    );
  const chosen = await chooseSpace(home, {});
  const base = join(home.indexes, `${chosen.address.documentId}.verified`);
  return { home, signer, chosen, releases, file, base, tail: `${base}-tail` };
}

/** Every record a fold of every document (checking every record again) verifies, and the state. */
async function audited(home: ReturnType<typeof canonHome>) {
  return withSpace(
    home,
    {},
    async ({ state, folded }) => ({ state, cids: [...folded.fold.verified.keys()].sort() }),
    { trustSnapshot: false },
  );
}

describe("caches written as a base and a tail", () => {
  it("a process that publishes again appends tails, and what base and tail say is a fold of every document", async () => {
    const { home, chosen, releases, base, tail } = await homeWithTails();
    expect((await stat(tail)).size).toBeGreaterThan(0);
    expect((await stat(`${base.replace(/\.verified$/, ".index")}-tail`)).size).toBeGreaterThan(0);
    // Read from the files, as another process would (this one keeps its state in memory).
    const read = await readVerifiedSnapshot(home, chosen.address.documentId);
    const truth = await audited(home);
    expect(read?.records.map((signed) => signed.cid).sort()).toEqual(truth.cids);
    expect(read?.fingerprint).toEqual(
      provenFingerprint(home, chosen.address.documentId, { statFiles: true }),
    );
    expect(await currentSnapshot(home, chosen)).toBeDefined();
    // The read index's tail answers a version number (no fallback here: undefined if it cannot).
    const second = await readFromIndex(home, { standard: "beta", selector: "2" });
    expect(second?.release).toBe(releases[0]);
    expect(new TextDecoder().decode(second?.content)).toBe("two\n");
    // The listing's main file and shards answer the latest, for show and for ls.
    expect(await readFromIndex(home, { standard: "beta" })).toMatchObject({
      version: 4,
      release: releases[2],
    });
    const listing = await readListingCache(home, chosen.address, { statFiles: true });
    expect(
      listing?.standards.map((entry) => [entry.latest.standard, entry.latest.version]),
    ).toEqual([
      ["alpha", 1],
      ["beta", 4],
      ["gamma", 1],
    ]);
    for (const [name, standard] of truth.state.standards)
      expect(
        listing?.standards.find((entry) => entry.latest.standard === name)?.latest.releaseCid,
      ).toBe(standard.latest.cid);
  });

  it("a damaged tail is refused and removed, never half-read; the next write is whole and current", async () => {
    const { home, signer, chosen, file, tail } = await homeWithTails();
    const bytes = await readFile(tail);
    bytes[bytes.length - 2] = (bytes[bytes.length - 2] as number) ^ 0xff;
    await writeFile(tail, bytes);
    // A reader (this process keeps its own state in memory: another process reads the files).
    expect(await readVerifiedSnapshot(home, chosen.address.documentId)).toBeUndefined();
    await expect(stat(tail)).rejects.toThrow();
    // This process's next write finds the tail it wrote gone: it writes the whole snapshot.
    const fifth = await publish(home, signer, { standard: "beta", file: await file("five\n") });
    expect(fifth.version).toBe(5);
    await expect(stat(tail)).rejects.toThrow();
    const read = await readVerifiedSnapshot(home, chosen.address.documentId);
    expect(read?.records.map((signed) => signed.cid).sort()).toEqual((await audited(home)).cids);
    expect(read?.fingerprint).toEqual(
      provenFingerprint(home, chosen.address.documentId, { statFiles: true }),
    );
  });

  it("a listing shard another tool replaced after this process wrote it is written again, though its standards did not change", async () => {
    const { home, signer, chosen, file } = await homeWithTails();
    const spaceId = chosen.address.documentId;
    const alpha = listingShardPath(home, spaceId, listingShardOf("alpha"));
    if (alpha === listingShardPath(home, spaceId, listingShardOf("beta")))
      throw new Error("alpha and beta share a shard: pick other names");
    const intact = await readFile(alpha);
    // Another file carrying another checksum, put in its place (the body of a shard of nothing).
    await writeFile(alpha, checksummed("CNLS", new TextEncoder().encode("[]")));
    // This process remembers writing alpha's shard, and publishing beta does not change alpha:
    // the shard is still found replaced, and written again.
    await publish(home, signer, { standard: "beta", file: await file("five\n") });
    expect(await readFile(alpha)).toEqual(intact);
    const listing = await readListingCache(home, chosen.address, { statFiles: true });
    expect(listing?.standards.map((entry) => entry.latest.standard)).toEqual([
      "alpha",
      "beta",
      "gamma",
    ]);
  });

  it("a tail that names another base is ignored: the base alone speaks, for older files than the proof names", async () => {
    const { home, chosen, releases, tail } = await homeWithTails();
    const opened = unchecksummed("CNVT", await readFile(tail));
    if (!("data" in opened)) throw new Error("the tail is not intact");
    const data = new Uint8Array(opened.data);
    data.fill(0, 0, 32);
    await writeFile(tail, checksummed("CNVT", data));
    const alone = await readVerifiedSnapshot(home, chosen.address.documentId);
    expect(alone).toBeDefined();
    expect(alone?.records.some((signed) => signed.cid === releases[2])).toBe(false);
    // Its fingerprint is not the one the disk proof holds for: a reader does not trust it.
    const proven = provenFingerprint(home, chosen.address.documentId, { statFiles: true });
    expect(proven).toBeDefined();
    expect(alone?.fingerprint).not.toEqual(proven);
    expect((await resolve(home, { standard: "beta" })).release).toBe(releases[2]);
  });
});

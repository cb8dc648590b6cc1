import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DocHandle } from "@automerge/automerge-repo";
import { generateKeyPair, type SpaceState, signRecord } from "@canon/core";
import { afterEach, describe, expect, it } from "vitest";
import { readVerifiedSnapshot } from "../src/caches/verified-snapshot.js";
import {
  type CanonHome,
  canonHome,
  changeMember,
  createSpace,
  doctor,
  ensureIdentity,
  history,
  list,
  listMembers,
  openReplica,
  parseSpaceUrl,
  publish,
  readConfig,
  resolve,
} from "../src/index.js";
import { refreshCaches } from "../src/operations/space-session.js";
import { chunkFingerprint } from "../src/storage/chunk-layout.js";

const cleanup: string[] = [];
afterEach(async () => {
  for (const path of cleanup.splice(0)) await rm(path, { recursive: true, force: true });
});

async function newHome(): Promise<CanonHome> {
  const root = await mkdtemp(join(tmpdir(), "canon-home-"));
  cleanup.push(root);
  return canonHome(root);
}

async function fileWith(home: CanonHome, name: string, text: string): Promise<string> {
  const path = join(home.root, `${name}.md`);
  await writeFile(path, text);
  return path;
}

async function homeWithSpace() {
  const home = await newHome();
  const signer = await ensureIdentity(home);
  const space = await createSpace(home, signer, "test");
  return { home, signer, space };
}

describe("replica", () => {
  it("publishes versions and resolves latest, by number, by content CID and by release CID, across restarts", async () => {
    const { home, signer } = await homeWithSpace();
    const v1 = await publish(home, signer, {
      standard: "style",
      file: await fileWith(home, "a", "one\n"),
      message: "first",
    });
    const v2 = await publish(home, signer, {
      standard: "style",
      file: await fileWith(home, "a", "two\n"),
    });
    expect([v1.version, v2.version]).toEqual([1, 2]);
    expect(v2.parents).toEqual([v1.release]);
    const text = async (selector?: string) =>
      new TextDecoder().decode((await resolve(home, { standard: "style", selector })).content);
    expect(await text()).toBe("two\n");
    expect(await text("1")).toBe("one\n");
    expect(await text(v1.cid)).toBe("one\n");
    expect(await text(v1.release)).toBe("one\n");
    const log = await history(home, { standard: "style" });
    expect(log.releases.map((r) => [r.version, r.message])).toEqual([
      [2, ""],
      [1, "first"],
    ]);
  });

  it("answers reads from the replica when the read index and blob cache are gone", async () => {
    const { home, signer } = await homeWithSpace();
    const v1 = await publish(home, signer, {
      standard: "style",
      file: await fileWith(home, "a", "only\n"),
    });
    await rm(home.indexes, { recursive: true });
    await rm(home.blobs, { recursive: true });
    const resolved = await resolve(home, { standard: "style", selector: v1.cid });
    expect(new TextDecoder().decode(resolved.content)).toBe("only\n");
    // The slow path rebuilt both, so the next read is fast again.
    expect(await readdir(home.blobs)).toEqual([v1.cid]);
    expect((await readdir(home.indexes)).filter((name) => name.endsWith(".index"))).toHaveLength(1);
  });

  it("ignores a stale read index: a publish from another process is seen", async () => {
    const { home, signer } = await homeWithSpace();
    await publish(home, signer, { standard: "style", file: await fileWith(home, "a", "one\n") });
    const index = (await readdir(home.indexes)).find((name) => name.endsWith(".index")) as string;
    const staleIndex = await readFile(join(home.indexes, index));
    await publish(home, signer, { standard: "style", file: await fileWith(home, "a", "two\n") });
    await writeFile(join(home.indexes, index), staleIndex);
    const resolved = await resolve(home, { standard: "style" });
    expect(resolved.version).toBe(2);
  });

  it("refuses a blob whose bytes were edited on disk", async () => {
    const { home, signer } = await homeWithSpace();
    const v1 = await publish(home, signer, {
      standard: "style",
      file: await fileWith(home, "a", "true\n"),
    });
    await writeFile(join(home.blobs, v1.cid), "tampered\n");
    const resolved = await resolve(home, { standard: "style", selector: v1.cid });
    expect(new TextDecoder().decode(resolved.content)).toBe("true\n");
  });

  it("stores the identity 0600 in a 0700 directory", async () => {
    const home = await newHome();
    await ensureIdentity(home);
    expect((await stat(join(home.identities, "default.json"))).mode & 0o777).toBe(0o600);
    expect((await stat(home.identities)).mode & 0o777).toBe(0o700);
  });

  it("names the damaged storage file and keeps the other documents readable", async () => {
    const { home, signer, space } = await homeWithSpace();
    await publish(home, signer, { standard: "style", file: await fileWith(home, "a", "style\n") });
    await publish(home, signer, { standard: "tone", file: await fileWith(home, "b", "tone\n") });
    // Damage the tone document's stored chunk.
    const replica = await openReplica(home);
    const loaded = await replica.spaces.load(parseSpaceUrl(space.url));
    await replica.close();
    const toneId = [...loaded.standards].find(
      ([, handle]) => handle.doc().name === "tone",
    )?.[0] as string;
    const folder = join(home.replica, toneId.slice(0, 2), toneId.slice(2));
    const files: string[] = [];
    for (const kind of await readdir(folder))
      for (const f of await readdir(join(folder, kind))) files.push(join(folder, kind, f));
    const chunk = files.find((f) => !f.includes("sync-state")) as string;
    const bytes = await readFile(chunk);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 3) ^ 0x55, bytes.length - 3);
    await writeFile(chunk, bytes);
    await rm(home.indexes, { recursive: true });

    const listing = await list(home);
    expect(listing.standards.map((standard) => standard.standard)).toEqual(["style"]);
    expect(listing.damaged).toEqual([
      { standard: "tone", message: expect.stringContaining(chunk) },
    ]);
    await expect(resolve(home, { standard: "tone" })).rejects.toMatchObject({
      code: "STORAGE_DAMAGED",
    });
    expect(new TextDecoder().decode((await resolve(home, { standard: "style" })).content)).toBe(
      "style\n",
    );
    // The damaged file is left as it was, for inspection; nothing else changed.
    expect(await readFile(chunk)).toEqual(bytes);
    const config = await readConfig(home);
    expect(config.defaultSpace).toBe(space.url);
  });
});

describe("concurrent publishing on two replicas", () => {
  it("keeps both releases after a merge and reports a fork; the next publish resolves it", async () => {
    const { home: homeA, signer, space } = await homeWithSpace();
    await publish(homeA, signer, { standard: "style", file: await fileWith(homeA, "s", "base\n") });
    // The same owner on a second machine: a copy of the whole home.
    const homeB = await newHome();
    await cp(homeA.root, homeB.root, { recursive: true });
    const a = await publish(homeA, signer, {
      standard: "style",
      file: await fileWith(homeA, "s", "from A\n"),
    });
    const b = await publish(homeB, signer, {
      standard: "style",
      file: await fileWith(homeB, "s", "from B\n"),
    });
    expect(a.version).toBe(2);
    expect(b.version).toBe(2);

    await mergeInto(homeA, homeB, space.url);
    const merged = await history(homeA, { standard: "style" });
    expect(merged.forked).toBe(true);
    expect(
      merged.releases
        .filter((r) => r.head)
        .map((r) => r.release)
        .sort(),
    ).toEqual([a.release, b.release].sort());
    await expect(resolve(homeA, { standard: "style", selector: "2" })).rejects.toMatchObject({
      code: "AMBIGUOUS_VERSION",
    });
    const latest = await resolve(homeA, { standard: "style" });
    expect(latest.forkedWith).toHaveLength(1);

    const v3 = await publish(homeA, signer, {
      standard: "style",
      file: await fileWith(homeA, "s", "both\n"),
    });
    expect(v3.version).toBe(3);
    expect([...v3.parents].sort()).toEqual([a.release, b.release].sort());
    expect((await history(homeA, { standard: "style" })).forked).toBe(false);
  });
});

/** Merges every document of the space from `from` into `into`, the way a sync would, in one process. */
async function mergeInto(into: CanonHome, from: CanonHome, url: string): Promise<void> {
  const address = parseSpaceUrl(url);
  const source = await openReplica(from);
  const target = await openReplica(into);
  const sourceSpace = await source.spaces.load(address);
  const targetSpace = await target.spaces.load(address);
  targetSpace.space.merge(sourceSpace.space as DocHandle<never>);
  for (const [id, handle] of sourceSpace.standards) {
    const mine = await target.find(id);
    if (mine) mine.merge(handle as DocHandle<never>);
  }
  await source.close();
  await target.close();
}

describe("caches of a live replica", () => {
  it("the verified snapshot holds exactly what the chunk files it names hold, when a change lands between fold and refresh", async () => {
    const { home, signer, space } = await homeWithSpace();
    await publish(home, signer, { standard: "style", file: await fileWith(home, "s", "one\n") });
    const address = parseSpaceUrl(space.url);
    const replica = await openReplica(home);
    try {
      const folded = await replica.spaces.fold(address);
      // A change lands after the fold (as a sync would) and is saved before the refresh.
      const correction = await signRecord(signer.keyPair, {
        type: "canon/correction",
        v: 1,
        space: address.genesis,
        standard: "style",
        text: "Arrived after the fold.",
        membership: [...(folded.fold.state as SpaceState).membershipHeads],
        author: signer.keyPair.did,
        createdAt: new Date().toISOString(),
      });
      const [standard] = folded.standards.values();
      if (standard === undefined) throw new Error("no standard document");
      replica.appendRecord(standard, correction);
      await replica.repo.flush();
      await refreshCaches(replica, folded);
      const snapshot = await readVerifiedSnapshot(home, address.documentId);
      expect(snapshot?.records.map((signed) => signed.cid)).toContain(correction.cid);
      expect(
        await chunkFingerprint(home.replica, Object.keys(snapshot?.fingerprint ?? {})),
      ).toEqual(snapshot?.fingerprint);
    } finally {
      await replica.close();
    }
  });
});

describe("records are append-only for readers", () => {
  it("a removal deleted from the space document still counts, through doctor's audit too", async () => {
    const { home, signer, space } = await homeWithSpace();
    const mallory = (await generateKeyPair()).did;
    await changeMember(home, signer, { did: mallory, role: "contributor" });
    const removal = await changeMember(home, signer, { did: mallory, role: "removed" });
    const dids = async () => (await listMembers(home)).map((member) => member.did);
    expect(await dids()).not.toContain(mallory);

    // Someone with write access deletes the removal; no Canon cache is refreshed.
    const replica = await openReplica(home);
    try {
      const loaded = await replica.spaces.load(parseSpaceUrl(space.url));
      loaded.space.change((doc) => {
        delete doc.records[removal.record];
      });
    } finally {
      await replica.close();
    }
    expect(await dids()).not.toContain(mallory);
    expect((await doctor(home)).rejected).toEqual([]);
    // Doctor trusts no cache, yet still folds what this replica verified before.
    expect(await dids()).not.toContain(mallory);
  });
});

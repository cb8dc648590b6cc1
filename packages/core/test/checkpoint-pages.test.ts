import { describe, expect, it } from "vitest";
import {
  type CheckpointEntry,
  type CheckpointPage,
  checkpointBucketOf,
  checkpointEntries,
  checkpointGaps,
  contentCid,
  foldMore,
  freshnessOf,
  generateKeyPair,
  type KeyPair,
  MAX_CHECKPOINT_PAGES,
  MAX_CHECKPOINT_STANDARDS,
  type SignedRecord,
  type SpaceState,
  signRecord,
} from "../src/index.js";
import { makeSpace, tick } from "./space-fixture.js";

const NOW = new Date("2026-12-01T00:00:00.000Z");
type Space = Awaited<ReturnType<typeof makeSpace>>;

/** Signs one page (bucket `bucket` of `buckets`) naming `standards`, as a maintainer's sync would. */
async function page(
  space: Space,
  author: KeyPair,
  bucket: number,
  buckets: number,
  standards: readonly CheckpointEntry[],
  membership = [space.genesis.cid],
) {
  return space.add(
    await signRecord(author, {
      type: "canon/checkpoint-page",
      v: 1,
      space: space.genesis.cid,
      buckets,
      bucket,
      standards: standards.map((entry) => ({
        standard: entry.standard,
        heads: [...entry.heads],
        corrections: [...entry.corrections],
      })),
      membership,
      author: author.did,
      createdAt: tick(),
    }),
  ) as SignedRecord<CheckpointPage>;
}

/** Signs a version-2 checkpoint naming `pages` in order. */
async function checkpointV2(
  space: Space,
  author: KeyPair,
  pages: readonly string[],
  membership = [space.genesis.cid],
) {
  return space.add(
    await signRecord(author, {
      type: "canon/checkpoint",
      v: 2,
      space: space.genesis.cid,
      standards: 0,
      pages: [...pages],
      expires: "2099-01-01T00:00:00.000Z",
      membership,
      author: author.did,
      createdAt: tick(),
    }),
  );
}

async function stateOf(space: Space): Promise<SpaceState> {
  const { state } = await space.fold();
  if (state === undefined) throw new Error("no state");
  return state;
}

/** Pages of every standard the state holds, `buckets` of them, signed by `author`: what `appendCheckpoint` names. */
async function signAll(space: Space, author: KeyPair, buckets: number, state: SpaceState) {
  const entries = checkpointEntries(state);
  const pages: string[] = [];
  for (let bucket = 0; bucket < buckets; bucket++) {
    const mine = entries.filter((entry) => checkpointBucketOf(entry.standard, buckets) === bucket);
    pages.push((await page(space, author, bucket, buckets, mine)).cid);
  }
  return checkpointV2(space, author, pages);
}

describe("version-2 checkpoints: pages naming release and correction-log heads", () => {
  it("reports a withheld correction as incomplete, naming it in missing", async () => {
    const space = await makeSpace();
    await space.release(space.creator, "style", "one");
    const correction = await space.correction(space.creator, "style", "no inline code");
    const checkpoint = await signAll(space, space.creator, 1, await stateOf(space));
    expect(freshnessOf(await stateOf(space), NOW)).toMatchObject({
      status: "fresh",
      checkpoint: { cid: checkpoint.cid },
      missing: [],
    });
    // A relay withholds the correction from this reader.
    space.entries.delete(correction.cid);
    expect(freshnessOf(await stateOf(space), NOW)).toMatchObject({
      status: "incomplete",
      missing: [correction.cid],
    });
  });

  it("names a correction log's heads: records no other of the log names (previous, the correction withdrawn)", async () => {
    const space = await makeSpace();
    const bob = await generateKeyPair();
    const addBob = await space.member(space.creator, bob.did, "contributor");
    await space.release(space.creator, "style", "one");
    const first = await space.correction(space.creator, "style", "one lesson");
    const second = await space.correction(space.creator, "style", "another", {
      previous: [first.cid],
    });
    const withdrawn = await space.withdrawal(space.creator, second, { previous: [second.cid] });
    const bobs = await space.correction(bob, "style", "bob's", { membership: [addBob.cid] });
    const entries = checkpointEntries(await stateOf(space));
    expect(entries).toEqual([
      {
        standard: "style",
        heads: [expect.any(String)],
        corrections: [withdrawn.cid, bobs.cid].sort(),
      },
    ]);
    await signAll(space, space.creator, 1, await stateOf(space));
    // Withholding the first correction makes the chain above it unacceptable: its head is named.
    space.entries.delete(first.cid);
    const freshness = freshnessOf(await stateOf(space), NOW);
    expect(freshness.status).toBe("incomplete");
    expect(freshness.missing).toEqual([withdrawn.cid]);
  });

  it("reads many pages: a space's standards spread over buckets, each checked", async () => {
    const space = await makeSpace();
    const heads: string[] = [];
    for (let i = 0; i < 40; i++)
      heads.push((await space.release(space.creator, `s${i}`, `${i}`)).cid);
    await signAll(space, space.creator, 8, await stateOf(space));
    expect(freshnessOf(await stateOf(space), NOW).status).toBe("fresh");
    space.entries.delete(heads[17] as string);
    expect(freshnessOf(await stateOf(space), NOW)).toMatchObject({
      status: "incomplete",
      missing: [heads[17]],
    });
  });

  it("a withheld page, or one whose bytes do not match its CID, is missing; its standards are not believed", async () => {
    const space = await makeSpace();
    for (let i = 0; i < 8; i++) await space.release(space.creator, `s${i}`, `${i}`);
    const checkpoint = await signAll(space, space.creator, 2, await stateOf(space));
    const pages = (checkpoint.record as { pages: string[] }).pages;
    const [first, second] = pages as [string, string];
    // Bytes of another page under the first page's CID: refused by the fold (cid-mismatch).
    space.entries.set(first, space.entries.get(second) as Uint8Array);
    const folded = await space.fold();
    expect(folded.rejected.find((r) => r.cid === first)?.code).toBe("cid-mismatch");
    expect(freshnessOf(folded.state as SpaceState, NOW)).toMatchObject({
      status: "incomplete",
      missing: [first],
    });
    space.entries.delete(first);
    expect(freshnessOf(await stateOf(space), NOW).missing).toEqual([first]);
  });

  it("refuses a page signed by a non-maintainer (author-role) and a page named at another position (checkpoint-page-misplaced)", async () => {
    const space = await makeSpace();
    const carol = await generateKeyPair();
    const addCarol = await space.member(space.creator, carol.did, "contributor");
    const membership = [addCarol.cid];
    const v1 = await space.release(space.creator, "style", "one", { membership });
    const entries = checkpointEntries(await stateOf(space));
    const forged = await page(space, carol, 0, 1, [], membership);
    await checkpointV2(space, space.creator, [forged.cid], membership);
    let folded = await space.fold();
    expect(folded.rejected.find((r) => r.cid === forged.cid)?.code).toBe("author-role");
    expect(freshnessOf(folded.state as SpaceState, NOW)).toMatchObject({
      status: "incomplete",
      missing: [forged.cid],
    });

    // A genuine page of bucket 1 of 2, named as the only page of a one-bucket checkpoint.
    const bucket = checkpointBucketOf("style", 2);
    const misplaced = await page(space, space.creator, bucket, 2, entries, membership);
    await checkpointV2(space, space.creator, [misplaced.cid], membership);
    folded = await space.fold();
    const freshness = freshnessOf(folded.state as SpaceState, NOW);
    expect(freshness).toMatchObject({
      status: "incomplete",
      missing: [misplaced.cid],
      problems: [{ code: "checkpoint-page-misplaced", cid: misplaced.cid }],
    });
    expect(freshness.missing).not.toContain(v1.cid);
  });

  it("refuses a page whose standards are out of order (checkpoint-page-unsorted)", async () => {
    const space = await makeSpace();
    await space.release(space.creator, "a", "one");
    await space.release(space.creator, "b", "two");
    const entries = checkpointEntries(await stateOf(space));
    const unsorted = await page(space, space.creator, 0, 1, [...entries].reverse());
    await checkpointV2(space, space.creator, [unsorted.cid]);
    expect(freshnessOf(await stateOf(space), NOW)).toMatchObject({
      status: "incomplete",
      problems: [{ code: "checkpoint-page-unsorted", cid: unsorted.cid }],
    });
  });

  it("keeps reading version-1 checkpoints (release heads inline)", async () => {
    const space = await makeSpace();
    const v1 = await space.release(space.creator, "style", "one");
    await space.checkpoint(space.creator, { standards: [{ standard: "style", heads: [v1.cid] }] });
    expect(freshnessOf(await stateOf(space), NOW).status).toBe("fresh");
  });

  it("foldMore decides new checkpoints and pages (a maintainer's sync after a publish) as the full fold does", async () => {
    const space = await makeSpace();
    const carol = await generateKeyPair();
    const addCarol = await space.member(space.creator, carol.did, "contributor");
    const membership = [addCarol.cid];
    for (let i = 0; i < 4; i++) await space.release(space.creator, `s${i}`, `${i}`, { membership });
    const previous = await space.fold();
    const before = new Set(space.entries.keys());
    const entries = checkpointEntries(previous.state as SpaceState);
    const good = await page(space, space.creator, 0, 1, entries, membership);
    await checkpointV2(space, space.creator, [good.cid], membership);
    const forged = await page(space, carol, 0, 1, entries, membership);
    const added = [...space.entries]
      .filter(([cid]) => !before.has(cid))
      .map(([cid, bytes]) => ({ cid, bytes }));
    const more = await foldMore(previous, {
      spaceCid: space.genesis.cid,
      entries: added,
      content: () => [],
    });
    const full = await space.fold();
    expect(more).toBeDefined();
    expect(more?.state?.checkpoints.map((c) => c.cid)).toEqual(
      full.state?.checkpoints.map((c) => c.cid),
    );
    expect([...(more?.state?.checkpointPages.keys() ?? [])]).toEqual([good.cid]);
    expect([...(full.state?.checkpointPages.keys() ?? [])]).toEqual([good.cid]);
    const codes = (rejected: readonly { cid: string; code: string }[]) =>
      rejected.map((r) => `${r.cid} ${r.code}`).sort();
    expect(codes(more?.rejected ?? [])).toEqual(codes(full.rejected));
    expect(codes(full.rejected)).toEqual([`${forged.cid} author-role`]);
    expect(freshnessOf(more?.state as SpaceState, NOW).status).toBe("fresh");
  });

  it("checkpointGaps of the largest checkpoint a record can carry (512 full pages, 262,144 standards) finishes, with the same answers: one lookup a named record", async () => {
    const space = await makeSpace();
    const held = await space.release(space.creator, "held/one", "kept");
    // Every page full: 512 standards each, all in its bucket and in order, one release head
    // each (the standards and the CIDs they name each in one pool: a page is at most 64 KiB).
    const pool = await Promise.all(
      Array.from({ length: 256 }, async (_, at) =>
        (await contentCid(new TextEncoder().encode(`withheld ${at}`))).toString(),
      ),
    );
    const buckets = MAX_CHECKPOINT_PAGES;
    const byBucket: string[][] = Array.from({ length: buckets }, () => []);
    for (let at = 0; byBucket.some((names) => names.length < MAX_CHECKPOINT_STANDARDS); at++) {
      const name = `s/${at.toString(36)}`;
      const names = byBucket[checkpointBucketOf(name, buckets)] as string[];
      if (names.length < MAX_CHECKPOINT_STANDARDS) names.push(name);
    }
    const heldBucket = checkpointBucketOf("held/one", buckets);
    const pages: string[] = [];
    let named = 0;
    for (const [bucket, names] of byBucket.entries()) {
      const entries: CheckpointEntry[] = names.map((standard, at) => ({
        standard,
        heads: [pool[at % pool.length] as string],
        corrections: [],
      }));
      // The one standard the state holds takes the place of another in its bucket.
      if (bucket === heldBucket)
        entries.splice(0, 1, { standard: "held/one", heads: [held.cid], corrections: [] });
      entries.sort((a, b) => (a.standard < b.standard ? -1 : 1));
      named += entries.length;
      pages.push((await page(space, space.creator, bucket, buckets, entries)).cid);
    }
    const checkpoint = await checkpointV2(space, space.creator, pages);
    const state = await stateOf(space);
    expect(state.checkpointPages.size).toBe(buckets);
    const { missing, problems } = checkpointGaps(state, checkpoint.record as never);
    expect(problems).toEqual([]);
    expect(named).toBe(MAX_CHECKPOINT_PAGES * MAX_CHECKPOINT_STANDARDS);
    // Every head named but the held one is missing, in page order.
    expect(missing).toHaveLength(named - 1);
    expect(missing).not.toContain(held.cid);
    expect(new Set(missing)).toEqual(new Set(pool));
    expect(freshnessOf(state, NOW).status).toBe("incomplete");
  }, 60_000);
});

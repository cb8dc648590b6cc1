import { describe, expect, it } from "vitest";
import { verifyEntries } from "../src/fold/verify-entries.js";
import { generateKeyPair, type Rejection, type SignedRecord, signRecord } from "../src/index.js";
import type { RecordEntry } from "../src/verify-record.js";

const SPACE = "bafyreihgozv23fxprecqwgmytr4ydcshm5z6kynbhvyv4xgh7nh4sbbvu4";
const CONTENT = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

/** `count` signed releases, one a standard, by one author. */
async function releases(count: number): Promise<SignedRecord[]> {
  const author = await generateKeyPair();
  const signed: SignedRecord[] = [];
  for (let index = 0; index < count; index++)
    signed.push(
      await signRecord(author, {
        type: "canon/release",
        v: 1,
        space: SPACE,
        standard: `s${index}`,
        version: 1,
        contentCid: CONTENT,
        size: 1,
        parents: [],
        incorporates: [],
        message: "",
        membership: [SPACE],
        author: author.did,
        createdAt: new Date(Date.UTC(2026, 10, 1, 0, 0, 0, index)).toISOString(),
      }),
    );
  return signed;
}

describe("verifyEntries", () => {
  it("checks batches while earlier ones are verified, and takes every outcome in the entries' order as before", async () => {
    // 700 entries: three batches of 256 and part of a fourth, so two are under way at once.
    const signed = await releases(700);
    const entries: RecordEntry[] = signed.map(({ cid, bytes }) => ({ cid, bytes }));
    // Damaged in place (a flipped byte), stored under another record's CID, not bytes at all.
    const forged = new Uint8Array((signed[300] as SignedRecord).bytes);
    forged[forged.length - 1] = (forged.at(-1) as number) ^ 1;
    entries[300] = { cid: (signed[300] as SignedRecord).cid, bytes: forged };
    entries[301] = {
      cid: (signed[0] as SignedRecord).cid,
      bytes: (signed[301] as SignedRecord).bytes,
    };
    entries[600] = { cid: "not-a-cid", bytes: "text" };
    // The cache knows some as verified and refuses one for good, in the middle of batches.
    const known = new Map([10, 270, 520, 699].map((index) => [signed[index]?.cid, signed[index]]));
    const refusedCid = (signed[530] as SignedRecord).cid;
    const refusal: Rejection = { cid: refusedCid, code: "bad-signature", reason: "refused before" };
    const pulled: number[] = [];
    function* pulling(): Generator<RecordEntry> {
      for (const [index, entry] of entries.entries()) {
        pulled.push(index);
        yield entry;
      }
    }
    const { verified, invalid } = await verifyEntries(pulling(), {
      verifiedRecord: (cid) => known.get(cid),
      refusedRecord: (cid) => (cid === refusedCid ? refusal : undefined),
    });
    expect(pulled).toHaveLength(700);
    // Each forged entry refused for what it is, the cache's refusal kept, nothing else refused.
    expect(invalid.map(({ cid, code }) => [cid, code])).toEqual([
      [(signed[300] as SignedRecord).cid, "cid-mismatch"],
      [(signed[0] as SignedRecord).cid, "cid-mismatch"],
      [refusedCid, "bad-signature"],
      ["not-a-cid", "not-bytes"],
    ]);
    // In the order the sequential rule gives: what the cache decides goes in at once, each batch
    // of 256 checked entries when it is full (or at the end), its refused entries left out.
    const failing = new Set([300, 301, 600]);
    const expected: string[] = [];
    let batch: number[] = [];
    const drain = () => {
      for (const index of batch)
        if (!failing.has(index)) expected.push(entries[index]?.cid as string);
      batch = [];
    };
    for (const [index, entry] of entries.entries()) {
      if (entry.cid === refusedCid) continue;
      if (known.has(entry.cid)) expected.push(entry.cid);
      else batch.push(index);
      if (batch.length === 256) drain();
    }
    drain();
    expect([...verified.keys()]).toEqual(expected);
    expect(verified.get((signed[10] as SignedRecord).cid)).toBe(
      known.get((signed[10] as SignedRecord).cid),
    );
  }, 60_000);

  it("throws what the cache throws midway, with a batch still under way, and leaves nothing unhandled", async () => {
    const signed = await releases(600);
    const entries: RecordEntry[] = signed.map(({ cid, bytes }) => ({ cid, bytes }));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      // A cache that fails on the 520th entry: batches one and two are under way by then.
      let asked = 0;
      await expect(
        verifyEntries(entries, {
          verifiedRecord: () => {
            asked += 1;
            if (asked === 520) throw new Error("cache unreadable");
            return undefined;
          },
        }),
      ).rejects.toThrow("cache unreadable");
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  }, 60_000);
});

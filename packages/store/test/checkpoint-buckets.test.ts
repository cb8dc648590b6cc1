import { CanonError, type CheckpointEntry, checkpointBucketOf, recordCid } from "@canon/core";
import { describe, expect, it } from "vitest";
import { checkpointBucketsFor } from "../src/index.js";

/** `n` standards named s0…, each with one release head (a real CID) and `corrections` log heads. */
async function entries(n: number, corrections = 0): Promise<CheckpointEntry[]> {
  const cid = (await recordCid(new TextEncoder().encode("head"))).toString();
  return Array.from({ length: n }, (_, i) => ({
    standard: `s${i}`,
    heads: [cid],
    corrections: Array.from({ length: corrections }, () => cid),
  }));
}

describe("how many pages a checkpoint has", () => {
  it("one page for a small space, more as it grows, every page within its bounds", async () => {
    expect(checkpointBucketsFor(await entries(10))).toBe(1);
    const big = await entries(1000);
    const buckets = checkpointBucketsFor(big);
    expect(buckets).toBe(16);
    const counts = new Map<number, number>();
    for (const { standard } of big) {
      const bucket = checkpointBucketOf(standard, buckets);
      counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
    }
    expect(counts.size).toBe(buckets);
    expect(Math.max(...counts.values())).toBeLessThan(120);
  });

  it("refuses heads no 512 pages can hold, with BAD_ARGUMENT", async () => {
    // 2,000 standards of 256 correction-log heads each: some 33 MB of CIDs.
    const tooMany = await entries(2000, 256);
    expect(() => checkpointBucketsFor(tooMany)).toThrow(CanonError);
    expect(() => checkpointBucketsFor(tooMany)).toThrow(/do not fit the 512 pages/);
  });
});

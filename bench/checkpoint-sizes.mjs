// What a checkpoint adds to a space document as the space grows
// (docs/decisions/2026-11-30-checkpoint-pages.md): real signed records, built
// as `appendCheckpoint` builds them, for N standards of one release head each
// (names s0…sN-1, no corrections). Prints the pages, their sizes, the
// checkpoint's, what a sync after one publish adds (one page re-signed and
// the checkpoint), and the version-1 checkpoint's size where one fits.
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const title = "Checkpoint sizes: version-2 pages against version-1 inline heads";

const root = fileURLToPath(new URL("..", import.meta.url));
const SIZES = [10, 100, 512, 600, 1000, 10000];

export async function run({ log }) {
  const core = await import(join(root, "packages/core/dist/index.js"));
  const store = await import(join(root, "packages/store/dist/index.js"));
  const key = await core.generateKeyPair();
  const cidOf = async (text) =>
    (await core.recordCid(new TextEncoder().encode(String(text)))).toString();
  const space = await cidOf("space");
  const createdAt = new Date().toISOString();
  const rows = [];
  const checks = [];
  for (const n of SIZES) {
    log(`${n} standards…`);
    const entries = [];
    for (let i = 0; i < n; i++)
      entries.push({ standard: `s${i}`, heads: [await cidOf(i)], corrections: [] });
    entries.sort((a, b) => (a.standard < b.standard ? -1 : 1));
    const buckets = store.checkpointBucketsFor(entries);
    const pages = Array.from({ length: buckets }, () => []);
    for (const entry of entries)
      pages[core.checkpointBucketOf(entry.standard, buckets)].push(entry);
    const sizes = [];
    const cids = [];
    for (const [bucket, standards] of pages.entries()) {
      const signed = await core.signRecord(key, {
        type: "canon/checkpoint-page",
        v: 1,
        space,
        buckets,
        bucket,
        standards,
        membership: [space],
        author: key.did,
        createdAt,
      });
      sizes.push(signed.bytes.length);
      cids.push(signed.cid);
    }
    const checkpoint = await core.signRecord(key, {
      type: "canon/checkpoint",
      v: 2,
      space,
      standards: n,
      pages: cids,
      expires: createdAt,
      membership: [space],
      author: key.did,
      createdAt,
    });
    const total = sizes.reduce((sum, size) => sum + size, 0);
    let v1 = "cannot be signed";
    if (n <= core.MAX_CHECKPOINT_STANDARDS)
      v1 = `${(
        await core.signRecord(key, {
          type: "canon/checkpoint",
          v: 1,
          space,
          standards: entries.map(({ standard, heads }) => ({ standard, heads })),
          expires: createdAt,
          membership: [space],
          author: key.did,
          createdAt,
        })
      ).bytes.length.toLocaleString("en")} B`;
    const afterPublish = Math.max(...sizes) + checkpoint.bytes.length;
    rows.push({
      cells: [
        n.toLocaleString("en"),
        String(buckets),
        `${Math.min(...sizes).toLocaleString("en")}–${Math.max(...sizes).toLocaleString("en")} B`,
        `${total.toLocaleString("en")} B`,
        `${checkpoint.bytes.length.toLocaleString("en")} B`,
        `≤ ${afterPublish.toLocaleString("en")} B`,
        v1,
      ],
      meaning: "",
    });
    checks.push({
      target: `every record at ${n} standards ≤ ${core.MAX_RECORD_BYTES} B`,
      measured: `${Math.max(...sizes, checkpoint.bytes.length)} B`,
      pass: Math.max(...sizes, checkpoint.bytes.length) <= core.MAX_RECORD_BYTES,
    });
  }
  return {
    columns: [
      "Standards",
      "Pages",
      "Page size",
      "All pages",
      "Checkpoint",
      "Sync after one publish adds",
      "Version 1",
    ],
    rows,
    checks,
    notes: [
      "One release head per standard, no corrections; a first checkpoint adds all pages and the checkpoint, a later one the pages whose content changed and the checkpoint.",
    ],
  };
}

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import * as A from "@automerge/automerge";
import { generateKeyPair, type SignedRecord, signRecord, verifyRecord } from "@canon/core";
import { describe, expect, it } from "vitest";
import { openReplica, parseSpaceUrl } from "../../src/index.js";
import { mapsAt } from "../../src/space/document-maps.js";
import {
  type CheckedBatch,
  coreToSpare,
  RecordsCheckedAhead,
  recordChecksWorkerFile,
} from "../../src/sync/records-checked-ahead.js";
import { publishedHome } from "../helpers/published-home.js";

const SPACE = "bafyreihgozv23fxprecqwgmytr4ydcshm5z6kynbhvyv4xgh7nh4sbbvu4";
const CONTENT = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

/** The worker as the store's build has it (tests run the sources, where there is none). */
const BUILT_WORKER = new URL("../../dist/sync/record-checks-worker.js", import.meta.url);
/** The worker as the CLI's bundle has it (its second rollup entry), beside the bundle's chunks. */
const BUNDLED_WORKER = new URL(
  "../../../cli/dist/chunks/record-checks-worker.mjs",
  import.meta.url,
);

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

/** Waits until the worker has loaded its code (as a join's answer of many documents gives it time to). */
async function readyAhead(): Promise<RecordsCheckedAhead> {
  expect(existsSync(fileURLToPath(BUILT_WORKER)), "build the store first").toBe(true);
  const ahead = RecordsCheckedAhead.start(BUILT_WORKER, true) as RecordsCheckedAhead;
  expect(ahead).toBeDefined();
  await ahead.whenReady();
  return ahead;
}

describe("a bulk answer's records checked on a worker thread ahead of the fold", () => {
  it("gives exactly the entries verifyRecord passes, with the bytes sent, and none it refuses", async () => {
    // 600 good records over three documents: more than two batches of 256.
    const signed = await releases(603);
    const good = signed.slice(0, 600);
    const [damagedSource, misfiled, unsigned] = signed.slice(600) as [
      SignedRecord,
      SignedRecord,
      SignedRecord,
    ];
    const damaged = new Uint8Array(damagedSource.bytes);
    damaged[damaged.length - 1] = (damaged.at(-1) as number) ^ 1;
    const documents = [0, 1, 2].map((part) =>
      A.from<{ records: Record<string, unknown> }>({
        records: Object.fromEntries(
          good.slice(part * 200, part * 200 + 200).map(({ cid, bytes }) => [cid, bytes]),
        ),
      }),
    );
    const hostile = A.from<{ records: Record<string, unknown> }>({
      records: {
        // A flipped byte, another record's bytes under a CID, text instead of bytes.
        [damagedSource.cid]: damaged,
        [(good[0] as SignedRecord).cid.replace(/.$/, "a")]: misfiled.bytes,
        [unsigned.cid]: "not bytes",
      },
    });
    const ahead = await readyAhead();
    for (const doc of [...documents, hostile]) ahead.add(doc);
    const checked = await ahead.finish();
    expect(checked.map((record) => record.cid).sort()).toEqual(
      good.map((record) => record.cid).sort(),
    );
    for (const record of checked) {
      const check = await verifyRecord({ cid: record.cid, bytes: record.bytes });
      expect(check.ok && check.signed.record).toEqual(record.record);
      // The very bytes the document holds: what the fold compares its entries with.
      const doc = documents.find((d) => Object.hasOwn(d.records, record.cid));
      expect(record.bytes).toBe(mapsAt(doc, "records")[0]?.[record.cid]);
    }
  });

  it("gives nothing, and stops the worker, when it had not loaded its code by the end of the answer", async () => {
    const [one] = await releases(1);
    const ahead = RecordsCheckedAhead.start(BUILT_WORKER, true) as RecordsCheckedAhead;
    ahead.add(A.from({ records: { [(one as SignedRecord).cid]: (one as SignedRecord).bytes } }));
    expect(await ahead.finish()).toEqual([]);
  });

  it("starts a worker only with a core to spare: more cores than the load average plus the join's own thread", () => {
    expect(coreToSpare(2, 0.4)).toBe(true);
    expect(coreToSpare(2, 1)).toBe(false);
    expect(coreToSpare(2, 9)).toBe(false);
    expect(coreToSpare(1, 0)).toBe(false);
    expect(coreToSpare(8, 5.5)).toBe(true);
  });

  it("finds no worker beside the sources, and the CLI's bundle carries one that answers", async () => {
    // Run from sources (as here), records are checked by the fold itself.
    expect(recordChecksWorkerFile()).toBeUndefined();
    expect(existsSync(fileURLToPath(BUNDLED_WORKER)), "build the CLI first").toBe(true);
    const [one] = (await releases(1)) as [SignedRecord];
    const worker = new Worker(BUNDLED_WORKER);
    try {
      const answers: (CheckedBatch | "ready")[] = [];
      const answered = new Promise<void>((resolve, reject) => {
        worker.on("error", reject);
        worker.on("message", (answer: CheckedBatch | "ready") => {
          answers.push(answer);
          if (answer !== "ready") resolve();
        });
      });
      const buffer = new Uint8Array(one.bytes).buffer;
      worker.postMessage({ batch: 7, cids: [one.cid], offsets: [0, one.bytes.length], buffer }, [
        buffer,
      ]);
      await answered;
      const check = await verifyRecord({ cid: one.cid, bytes: one.bytes });
      expect(answers).toEqual([
        "ready",
        { batch: 7, passed: [[0, check.ok && check.signed.record]] },
      ]);
    } finally {
      await worker.terminate();
    }
  });

  it("is the next fold's cache: a record checked ahead is taken by CID and exact bytes, other bytes are checked", async () => {
    const { home, space } = await publishedHome(["alpha"]);
    const address = parseSpaceUrl(space.url);
    // An audit trusts no snapshot: every record is checked, unless checked ahead.
    const replica = await openReplica(home, { trustSnapshot: false });
    try {
      const loaded = await replica.spaces.load(address);
      const [alpha] = [...loaded.standards.values()];
      const [cid, bytes] = Object.entries(mapsAt(alpha?.doc(), "records")[0] ?? {})[0] as [
        string,
        Uint8Array,
      ];
      const check = await verifyRecord({ cid, bytes });
      if (!check.ok) throw new Error("the published record does not verify");
      // The verdict the worker would give, as its own object: the fold must take this one.
      const ahead: SignedRecord = { ...check.signed, record: { ...check.signed.record } };
      replica.spaces.checkedAhead(Promise.resolve([ahead]));
      const folded = await replica.spaces.fold(address);
      expect(folded.fold.verified.get(cid)).toBe(ahead);
      // A verdict on other bytes under a CID is not the entry's: the fold checks the entry itself.
      const genesis = folded.fold.state?.genesis as SignedRecord;
      const elsewhere: SignedRecord = { ...genesis, bytes: new Uint8Array(genesis.bytes.length) };
      const other = await openReplica(home, { trustSnapshot: false });
      try {
        other.spaces.checkedAhead(Promise.resolve([elsewhere]));
        const again = await other.spaces.fold(address);
        expect(again.fold.verified.get(genesis.cid)).not.toBe(elsewhere);
        expect(again.fold.verified.get(genesis.cid)?.bytes).toEqual(genesis.bytes);
      } finally {
        await other.close();
      }
    } finally {
      await replica.close();
    }
  });

  it("answers a second finish (a caller's error path after its first) with the first's records, and both settle", async () => {
    const signed = await releases(300);
    const ahead = await readyAhead();
    ahead.add(
      A.from<{ records: Record<string, unknown> }>({
        records: Object.fromEntries(signed.map(({ cid, bytes }) => [cid, bytes])),
      }),
    );
    const first = ahead.finish();
    const second = ahead.finish();
    const [once, twice] = await Promise.all([first, second]);
    expect(once.map((record) => record.cid).sort()).toEqual(signed.map(({ cid }) => cid).sort());
    expect(twice).toBe(once);
  });
});

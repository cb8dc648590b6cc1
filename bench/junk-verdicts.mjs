// What junk a peer wrote into a space costs every reader: 5,000 entries
// with valid CIDs and bad signatures (signed by another key than the author
// they name) beside a small space. Measured in process: the fold alone,
// without and with the refusals remembered from an earlier fold; and a
// replica opened anew that folds the space from its documents (as after a
// sync brought changes), with the refusals file of
// `caches/refused-records.ts` removed before each run (what every such fold
// cost before it existed), and kept.
import { readdir, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import { median, toMs } from "./measure.mjs";
import { foldInputOf, root, styleSpace } from "./style-space.mjs";

export const title = "Junk records with bad signatures (5,000), checked once per home";

const JUNK = 5_000;
const ROUNDS = 5;
export async function run({ log }) {
  const { core, store, work, home, signer } = await styleSpace("junk");
  try {
    log(`writing ${JUNK} junk records…`);
    const dagCbor = await import(join(root, "node_modules/@ipld/dag-cbor/src/index.js")).catch(
      () => import("@ipld/dag-cbor"),
    );
    const { entries, genesis, content } = await store.withSpace(
      home,
      {},
      async ({ state, folded }) => {
        const heads = [...state.membershipHeads];
        const [handle] = folded.standards.values();
        for (let i = 0; i < JUNK; i++) {
          // A maintainer's record with one bit of its signature flipped: a bad signature.
          const signed = await core.signRecord(signer.keyPair, {
            type: "canon/correction",
            v: 1,
            space: state.genesis.cid,
            standard: "style",
            text: `Junk ${i}.`,
            membership: heads,
            author: signer.keyPair.did,
            createdAt: new Date(Date.UTC(2026, 10, 30, 0, 0, 0, i)).toISOString(),
          });
          const envelope = dagCbor.decode(signed.bytes);
          const sig = new Uint8Array(envelope.sig);
          sig[0] ^= 1;
          const bytes = dagCbor.encode({ payload: envelope.payload, sig });
          const cid = (await core.recordCid(bytes)).toString();
          handle.change((doc) => {
            doc.records[cid] = bytes;
          });
        }
        return foldInputOf({ state, folded }, handle);
      },
    );

    const coldTimes = [];
    const warmTimes = [];
    for (let round = 0; round < ROUNDS; round++) {
      let start = process.hrtime.bigint();
      const cold = await core.fold({ spaceCid: genesis, entries, content });
      coldTimes.push(toMs(process.hrtime.bigint() - start));
      const bad = cold.invalid.filter((rejection) => rejection.code === "bad-signature");
      if (bad.length !== JUNK) throw new Error(`refused ${bad.length} bad signatures`);
      const refused = new Map(bad.map((rejection) => [rejection.cid, rejection]));
      start = process.hrtime.bigint();
      const warm = await core.fold({
        spaceCid: genesis,
        entries,
        content,
        cache: { refusedRecord: (cid) => refused.get(cid) },
      });
      warmTimes.push(toMs(process.hrtime.bigint() - start));
      if (warm.invalid.length !== JUNK || warm.verified.size !== cold.verified.size)
        throw new Error("the fold with remembered refusals differs");
    }

    // A replica opened anew folds the space from its documents (no verified snapshot: as
    // after a sync brought changes), with the refusals file removed (before) or kept (after).
    const refusalFiles = async () =>
      (await readdir(home.indexes)).filter((name) => name.endsWith(".refused"));
    const removeIndex = async (suffixes) => {
      for (const name of await readdir(home.indexes))
        if (suffixes.some((suffix) => name.endsWith(suffix)))
          await unlink(join(home.indexes, name));
    };
    const openAndFold = async () => {
      const start = process.hrtime.bigint();
      const invalid = await store.withSpace(home, {}, async ({ folded }) => folded.fold.invalid);
      if (invalid.length !== JUNK) throw new Error(`the replica refused ${invalid.length}`);
      return toMs(process.hrtime.bigint() - start);
    };
    const withoutTimes = [];
    const withTimes = [];
    for (let round = 0; round < ROUNDS; round++) {
      await removeIndex([".verified", ".verified-tail", ".refused"]);
      withoutTimes.push(await openAndFold());
      if ((await refusalFiles()).length !== 1) throw new Error("no refusals file was written");
      await removeIndex([".verified", ".verified-tail"]);
      withTimes.push(await openAndFold());
    }

    const cold = median(coldTimes);
    const warm = median(warmTimes);
    const without = median(withoutTimes);
    const withFile = median(withTimes);
    return {
      columns: ["Measurement", "Median"],
      rows: [
        {
          cells: [`fold, ${JUNK} junk entries checked (before)`, `${cold.toFixed(0)} ms`],
          meaning: "every fold hashed, decoded and checked the signature of each junk entry",
        },
        {
          cells: [`fold, the refusals remembered (after)`, `${warm.toFixed(0)} ms`],
          meaning: "each junk entry is refused by a lookup of its CID",
        },
        {
          cells: [
            "replica opened and folded, no refusals file (before)",
            `${without.toFixed(0)} ms`,
          ],
          meaning: "the space folded from its documents, every junk entry checked",
        },
        {
          cells: [
            "replica opened and folded, refusals file kept (after)",
            `${withFile.toFixed(0)} ms`,
          ],
          meaning: "the same, the refusals of the earlier fold read from the index",
        },
      ],
      checks: [
        {
          target: "a fold with the refusals remembered takes under half the time",
          measured: `${((warm / cold) * 100).toFixed(0)}%`,
          pass: warm < cold / 2,
        },
      ],
      notes: [
        `${ROUNDS} rounds each. The junk stays in the documents; only its verdict is remembered, by CID (a CID names the exact bytes).`,
      ],
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

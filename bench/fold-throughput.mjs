// Verification throughput of the fold on a space of 10,000 signed records,
// beside the raw rate of ed25519 verification (WebCrypto, the same batch
// size), measured in the same run: signature checks are the physical limit of
// this step. Also: how long a replica holding those records takes to open,
// cold, as `canon doctor` (a new process that loads Automerge and folds).
import { spawnSync } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { median, toMs } from "./measure.mjs";
import { bin, foldInputOf, probe, root, styleSpace } from "./style-space.mjs";

export const title = "Fold verification throughput (10,000 signed records)";

const RECORDS = 10_000;
const ROUNDS = 7;
export async function run({ log }) {
  const { core, store, work, home, signer, file } = await styleSpace("fold");
  try {
    log(`signing ${RECORDS} records…`);
    const { entries, genesis, content } = await store.withSpace(
      home,
      {},
      async ({ state, folded }) => {
        const heads = [...state.membershipHeads];
        const records = [];
        for (let i = 0; i < RECORDS - 2; i++) {
          records.push(
            await core.signRecord(signer.keyPair, {
              type: "canon/correction",
              v: 1,
              space: state.genesis.cid,
              standard: "style",
              text: `Correction ${i}: no inline code in non-technical articles.`,
              membership: heads,
              author: signer.keyPair.did,
              createdAt: new Date(Date.UTC(2026, 10, 25, 0, 0, 0, i)).toISOString(),
            }),
          );
        }
        // Write them into the standard's document, one change each (as publishing does).
        const [handle] = folded.standards.values();
        for (const signed of records)
          handle.change((doc) => {
            doc.records[signed.cid] = signed.bytes;
          });
        return foldInputOf({ state, folded }, handle);
      },
    );
    if (entries.length !== RECORDS)
      throw new Error(`expected ${RECORDS} records, built ${entries.length}`);

    // Raw ed25519 verification, the same signatures, in one parallel batch like the fold's.
    const dagCbor = await import(join(root, "node_modules/@ipld/dag-cbor/src/index.js")).catch(
      () => import("@ipld/dag-cbor"),
    );
    const decoded = entries.map(({ bytes }) => dagCbor.decode(bytes));
    const keys = new Map();
    const keyOf = async (did) => {
      if (!keys.has(did))
        keys.set(
          did,
          await crypto.subtle.importKey(
            "raw",
            core.publicKeyFromDid(did),
            { name: "Ed25519" },
            false,
            ["verify"],
          ),
        );
      return keys.get(did);
    };
    const key = await keyOf(signer.keyPair.did);
    const rawTimes = [];
    const foldTimes = [];
    const refoldTimes = [];
    for (let round = 0; round < ROUNDS; round++) {
      let start = process.hrtime.bigint();
      const results = await Promise.all(
        decoded.map(({ payload, sig }) =>
          crypto.subtle.verify({ name: "Ed25519" }, key, sig, core.signingInput(payload)),
        ),
      );
      rawTimes.push(toMs(process.hrtime.bigint() - start));
      if (!results.every(Boolean)) throw new Error("a raw verification failed");
      start = process.hrtime.bigint();
      const { state, rejected, verified } = await core.fold({
        spaceCid: genesis,
        entries,
        content,
      });
      foldTimes.push(toMs(process.hrtime.bigint() - start));
      // The same records again, all recognised as verified before (as from the snapshot).
      start = process.hrtime.bigint();
      const again = await core.fold({
        spaceCid: genesis,
        entries: [...verified.values()],
        content,
        cache: { verifiedRecord: (cid) => verified.get(cid) },
      });
      refoldTimes.push(toMs(process.hrtime.bigint() - start));
      if (again.state?.corrections.size !== RECORDS - 2) throw new Error("the refold lost records");
      if (rejected.length !== 0 || state.corrections.size !== RECORDS - 2) {
        throw new Error(
          `fold accepted ${state?.corrections.size} corrections and rejected ${rejected.length}`,
        );
      }
    }

    // A command that ran on the replica left its verified snapshot (see
    // caches/verified-snapshot.ts); `member ls` makes sure it describes the
    // replica as it is now on disk.
    const cli = (args, env = {}) => {
      const start = process.hrtime.bigint();
      const result = spawnSync(process.execPath, ["--require", probe, bin, ...args, "--json"], {
        env: { ...process.env, CANON_HOME: home.root, ...env },
      });
      const ms = toMs(process.hrtime.bigint() - start);
      if (result.status !== 0) throw new Error(`canon ${args.join(" ")} failed: ${result.stderr}`);
      const automerge = /automerge:loaded/.test(result.stderr.toString());
      return { ms, automerge, output: JSON.parse(result.stdout.toString()) };
    };
    cli(["member", "ls"]);

    // Opening: a new process reads the space's state (members, standards,
    // open corrections) the way `canon ls` does.
    const openTimes = [];
    for (let round = 0; round < ROUNDS; round++) {
      const run = cli(["ls"]);
      if (run.automerge)
        throw new Error("canon ls loaded Automerge: the verified snapshot was not used");
      if (run.output.standards[0]?.openCorrections !== RECORDS - 2)
        throw new Error(`canon ls saw ${run.output.standards[0]?.openCorrections} corrections`);
      openTimes.push(run.ms);
    }
    // An audit: a new process loads the documents with Automerge and checks
    // every record from scratch, signatures included (`canon doctor`).
    const doctorTimes = [];
    for (let round = 0; round < ROUNDS; round++) {
      const run = cli(["doctor"]);
      if (!run.automerge || run.output.records !== RECORDS)
        throw new Error(`canon doctor saw ${run.output.records} records`);
      doctorTimes.push(run.ms);
    }
    // A write: a new process loads the documents, checks only what it has
    // not verified before (by bytes), appends a release and rewrites the caches.
    const publishTimes = [];
    for (let round = 0; round < ROUNDS; round++) {
      await writeFile(file, `# Style\n\nRound ${round}.\n`);
      const run = cli(["publish", "style", file]);
      if (run.output.version !== round + 2) throw new Error(`published ${run.output.version}`);
      publishTimes.push(run.ms);
    }
    const baselineTimes = [];
    for (let round = 0; round < ROUNDS; round++) {
      const start = process.hrtime.bigint();
      spawnSync(process.execPath, ["-e", "0"]);
      baselineTimes.push(toMs(process.hrtime.bigint() - start));
    }

    const raw = median(rawTimes);
    const folded = median(foldTimes);
    const refolded = median(refoldTimes);
    const open = median(openTimes);
    const doctor = median(doctorTimes);
    const publish = median(publishTimes);
    const rate = (ms) => Math.round((RECORDS / ms) * 1000);
    const share = rate(folded) / rate(raw);
    return {
      columns: ["Measurement", "Median", "Records/s"],
      rows: [
        {
          cells: [
            "raw ed25519 verify (WebCrypto, one parallel batch)",
            `${raw.toFixed(0)} ms`,
            rate(raw).toLocaleString("en"),
          ],
          meaning: "The physical limit: the same 10,000 signatures checked and nothing else.",
        },
        {
          cells: [
            "`fold` (CID, envelope, schema, signature, membership)",
            `${folded.toFixed(0)} ms`,
            rate(folded).toLocaleString("en"),
          ],
          meaning: "Every check the fold makes, in process, records already in memory.",
        },
        {
          cells: [
            "`fold` of records verified before",
            `${refolded.toFixed(0)} ms`,
            rate(refolded).toLocaleString("en"),
          ],
          meaning:
            "The same records recognised by their bytes (as from the verified snapshot): only the membership and release rules run.",
        },
        {
          cells: ["open: cold `canon ls`", `${open.toFixed(0)} ms`, "—"],
          meaning:
            "A new process reads the space's state (members, standards, 9,998 open corrections) from the verified snapshot, checked against the chunk files on disk; Automerge is not loaded (checked on every run).",
        },
        {
          cells: ["cold `canon doctor`", `${doctor.toFixed(0)} ms`, "—"],
          meaning:
            "An audit: a new process loads the documents with Automerge and checks every record in them from scratch, signatures included; no cache is trusted.",
        },
        {
          cells: ["cold `canon publish` (one more version)", `${publish.toFixed(0)} ms`, "—"],
          meaning:
            "A write: a new process loads the documents with Automerge, checks only records it has not verified before (recognised by their bytes), appends a release, and rewrites the read index and the verified snapshot.",
        },
        {
          cells: ["baseline `node -e 0`", `${median(baselineTimes).toFixed(0)} ms`, "—"],
          meaning: "Starting Node, for scale.",
        },
      ],
      checks: [
        {
          target: "fold at ≥ 50% of the raw verify rate",
          measured: `${(share * 100).toFixed(0)}%`,
          pass: share >= 0.5,
        },
        {
          target: "a replica with 10,000 records opens in < 1 s (cold `canon ls`)",
          measured: `${open.toFixed(0)} ms`,
          pass: open < 1000,
        },
      ],
      notes: [
        "Commands that write, and `canon doctor`, load the documents with Automerge, whose WASM starts cold in every process (~0.5 s for these documents, and a second load in the same process takes a third of that). Read-only commands skip it while the verified snapshot is current; every Canon command that loads the replica leaves it current.",
        `Records: 1 genesis, 1 release, ${RECORDS - 2} corrections, all by one maintainer, stored one Automerge change each as opaque bytes keyed by CID; ${ROUNDS} rounds, medians.`,
      ],
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

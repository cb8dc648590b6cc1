// Verification throughput of the fold on a space of 10,000 signed records,
// beside the raw rate of ed25519 verification (WebCrypto, the same batch
// size), measured in the same run: signature checks are the physical limit of
// this step. Also: how long a replica holding those records takes to open,
// cold, as `canon doctor` (a new process that loads Automerge and folds).
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, toMs } from "./measure.mjs";

export const title = "Fold verification throughput (10,000 signed records)";

const RECORDS = 10_000;
const ROUNDS = 5;
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "packages/cli/dist/canon.mjs");

export async function run({ log }) {
  const core = await import(join(root, "packages/core/dist/index.js"));
  const store = await import(join(root, "packages/store/dist/index.js"));
  const work = await mkdtemp(join(tmpdir(), "canon-bench-fold-"));
  try {
    const home = store.canonHome(join(work, "home"));
    const signer = await store.ensureIdentity(home);
    const { url } = await store.createSpace(home, signer, "bench");
    const file = join(work, "style.md");
    await writeFile(file, "# Style\n");
    await store.publish(home, signer, { standard: "style", file });

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
        const all = [];
        for (const [cid, bytes] of Object.entries(folded.space.doc().records))
          all.push({ cid, bytes });
        for (const [cid, bytes] of Object.entries(handle.doc().records)) all.push({ cid, bytes });
        const contents = handle.doc().contents;
        return {
          entries: all,
          genesis: state.genesis.cid,
          content: (cid) => (contents[cid] ? [contents[cid]] : []),
        };
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
      const { state, rejected } = await core.fold({ spaceCid: genesis, entries, content });
      foldTimes.push(toMs(process.hrtime.bigint() - start));
      if (rejected.length !== 0 || state.corrections.size !== RECORDS - 2) {
        throw new Error(
          `fold accepted ${state?.corrections.size} corrections and rejected ${rejected.length}`,
        );
      }
    }

    // Cold open: a new process loads the replica (Automerge) and folds it.
    const openTimes = [];
    for (let round = 0; round < ROUNDS; round++) {
      const start = process.hrtime.bigint();
      const result = spawnSync(process.execPath, [bin, "doctor", "--json"], {
        env: { ...process.env, CANON_HOME: home.root },
      });
      openTimes.push(toMs(process.hrtime.bigint() - start));
      if (result.status !== 0) throw new Error(`canon doctor failed: ${result.stderr}`);
      const report = JSON.parse(result.stdout.toString());
      if (report.records !== RECORDS) throw new Error(`canon doctor saw ${report.records} records`);
    }
    // Opening alone, in a new process: load the replica's documents from disk
    // and read every stored record out of them (what the fold then checks).
    const loadScript = [
      `const store = await import(${JSON.stringify(join(root, "packages/store/dist/index.js"))});`,
      `const home = store.canonHome(${JSON.stringify(home.root)});`,
      "const chosen = await store.chooseSpace(home, {});",
      "const replica = await store.openReplica(home);",
      "const loaded = await replica.loadSpace(chosen.address);",
      "let n = Object.keys(loaded.space.doc().records).length;",
      "for (const handle of loaded.standards.values()) n += Object.keys(handle.doc().records).length;",
      "process.stdout.write(String(n));",
      "process.exit(0);",
    ].join("\n");
    const loadTimes = [];
    for (let round = 0; round < ROUNDS; round++) {
      const start = process.hrtime.bigint();
      const result = spawnSync(process.execPath, ["--input-type=module", "-e", loadScript]);
      loadTimes.push(toMs(process.hrtime.bigint() - start));
      if (result.status !== 0 || result.stdout.toString() !== String(RECORDS)) {
        throw new Error(`opening the replica failed: ${result.stderr}${result.stdout}`);
      }
    }
    const baselineTimes = [];
    for (let round = 0; round < ROUNDS; round++) {
      const start = process.hrtime.bigint();
      spawnSync(process.execPath, ["-e", "0"]);
      baselineTimes.push(toMs(process.hrtime.bigint() - start));
    }

    const raw = median(rawTimes);
    const folded = median(foldTimes);
    const open = median(openTimes);
    const load = median(loadTimes);
    const rate = (ms) => Math.round((RECORDS / ms) * 1000);
    const share = rate(folded) / rate(raw);
    void url;
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
            "cold open: new process loads the replica's documents",
            `${load.toFixed(0)} ms`,
            "—",
          ],
          meaning:
            "Node start, imports, Automerge loading both documents from disk and reading out all 10,000 stored records.",
        },
        {
          cells: ["cold `canon doctor` on that replica", `${open.toFixed(0)} ms`, "—"],
          meaning: "A new process opens the replica from disk (Automerge load) and folds it.",
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
          target: "a replica with 10,000 records opens in < 1 s (new process, documents loaded)",
          measured: `${load.toFixed(0)} ms`,
          pass: load < 1000,
        },
        {
          target: "…and is opened and fully re-verified (`canon doctor`) in < 1 s",
          measured: `${open.toFixed(0)} ms`,
          pass: open < 1000,
        },
      ],
      notes: [
        `Records: 1 genesis, 1 release, ${RECORDS - 2} corrections, all by one maintainer, stored one Automerge change each as opaque bytes keyed by CID; ${ROUNDS} rounds, medians.`,
      ],
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// Benchmark "document-depth": what the nesting checks of hostile Automerge
// bytes cost (packages/store/src/sync/document-depth.ts,
// docs/decisions/2026-11-29-relay-attacks.md).
//
//   Deep: a document nesting 20,000 and 200,000 maps, one level per change
//     (what `A.loadIncremental(A.init(), bytes)` traps on), probed with
//     `probeDocument` (low-level load, walk stopping past 64), beside
//     `A.load` of the same bytes.
//   Shallow: a document shaped like a Canon routing map (1,000 keys, maps
//     three deep), probed whole, beside `A.load`; and one change adding a
//     record to it checked with `chunksApply` (the relay's and the client's
//     cost per sync message carrying changes), beside `A.applyChanges` on a
//     clone (what the relay's copy check cost before).
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { median, ms, times } from "./measure.mjs";

export const title =
  "Nesting checks: probing hostile documents (20,000 and 200,000 levels) and checking a sync message's changes";

const STORE = new URL("../packages/store/dist/index.js", import.meta.url);
const ROUNDS = 20;
const TARGETS = { deepProbeMs: 5000, shallowRatio: 3, changeMs: 20 };

/** Runs the benchmark; returns the table, what each row means, and the targets. */
export async function run({ log = () => {} } = {}) {
  const store = await import(STORE.href);
  const require = createRequire(new URL("../packages/store/package.json", import.meta.url));
  const A = await import(pathToFileURL(require.resolve("@automerge/automerge")).href);
  const rows = [];
  const checks = [];
  const time = (rounds, action) => {
    const samples = [];
    for (let i = 0; i < rounds; i++) {
      const start = performance.now();
      action();
      samples.push(performance.now() - start);
    }
    return median(samples);
  };

  for (const levels of [20_000, 200_000]) {
    log(`building ${levels} levels`);
    const backend = A.getBackend(A.init());
    let obj = "_root";
    for (let i = 0; i < levels; i++) {
      obj = backend.putObject(obj, "a", {});
      backend.commit(`level ${i}`);
    }
    const bytes = backend.save();
    const rounds = levels > 100_000 ? 3 : 5;
    const probe = time(rounds, () => {
      if (store.probeDocument(bytes).ok) throw new Error("a deep document passed the probe");
    });
    const load = time(rounds, () => A.load(bytes));
    const size = `${(bytes.byteLength / 1024).toFixed(0)} KB`;
    rows.push({
      cells: [`probe, ${levels.toLocaleString("en")} levels (${size})`, ms(probe), ms(load)],
      meaning: "`probeDocument` (refuses it: too deep), beside `A.load` of the same bytes",
    });
    checks.push({
      target: `probing ${levels.toLocaleString("en")} levels ≤ ${TARGETS.deepProbeMs} ms`,
      measured: ms(probe),
      pass: probe <= TARGETS.deepProbeMs,
    });
  }

  const routes = {};
  for (let i = 0; i < 1000; i++) routes[`standard-${i}`] = { latest: { cid: `cid-${i}` } };
  const shallow = A.from({ standards: routes });
  const shallowBytes = A.save(shallow);
  const probe = time(ROUNDS, () => {
    if (!store.probeDocument(shallowBytes).ok) throw new Error("a shallow document failed");
  });
  const load = time(ROUNDS, () => A.load(shallowBytes));
  rows.push({
    cells: ["probe, 1,000 routes three deep", ms(probe), ms(load)],
    meaning: "`probeDocument` of a document shaped like a space's routing map, beside `A.load`",
  });
  checks.push({
    target: `probing a shallow document ≤ ${TARGETS.shallowRatio}× \`A.load\``,
    measured: times(probe / load),
    pass: probe / load <= TARGETS.shallowRatio,
  });

  const next = A.change(A.clone(shallow), (doc) => {
    doc.standards["standard-new"] = { latest: { cid: "cid-new" } };
  });
  const change = A.getLastLocalChange(next);
  const check = time(ROUNDS, () => {
    if (!store.chunksApply(shallow, [change]).ok) throw new Error("a shallow change failed");
  });
  const before = time(ROUNDS, () => A.applyChanges(A.clone(shallow), [change]));
  rows.push({
    cells: ["one change, checked", ms(check), ms(before)],
    meaning:
      "`chunksApply` of a change adding a route (clone, apply without patches, path of each new object), beside `A.applyChanges` on a clone",
  });
  checks.push({
    target: `checking one change against the document ≤ ${TARGETS.changeMs} ms`,
    measured: ms(check),
    pass: check <= TARGETS.changeMs,
  });

  return {
    columns: ["Measurement", "check", "baseline"],
    rows,
    checks,
    notes: [
      "Medians in one process (deep: 3 or 5 rounds, shallow: 20). `A.loadIncremental(A.init(), bytes)` is not timed: it traps Automerge's WebAssembly at 20,000 levels (18 s, then every call fails).",
    ],
  };
}

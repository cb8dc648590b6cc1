// A standard with 10,000 corrections, most of them closed by ten releases
// that incorporate them: how long a cold `canon show --rendered` (what an
// agent reads) and `canon corrections --open` take, beside `node -e 0` and a
// plain `canon show` measured in the same rounds.
import { spawnSync } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { median, shuffled, toMs } from "./measure.mjs";
import { bin, probe, styleSpace } from "./style-space.mjs";

export const title = "Correction logs at scale (10,000 corrections, 200 open)";

const CORRECTIONS = 10_000;
const OPEN = 200;
/** A release incorporates at most 1,024 corrections: ten releases close the rest. */
const RELEASES = 10;
const ROUNDS = 15;
export async function run({ log }) {
  const { core, store, work, home, signer, file } = await styleSpace(
    "corrections",
    "# Style\n\nWrite plainly.\n",
  );
  try {
    log(`signing ${CORRECTIONS} corrections…`);
    const cids = await store.withSpace(home, {}, async ({ state, folded }) => {
      const heads = [...state.membershipHeads];
      const [handle] = folded.standards.values();
      const written = [];
      for (let i = 0; i < CORRECTIONS; i++) {
        const signed = await core.signRecord(signer.keyPair, {
          type: "canon/correction",
          v: 1,
          space: state.genesis.cid,
          standard: "style",
          text: `Lesson ${i}: no inline code formatting in non-technical articles.`,
          membership: heads,
          author: signer.keyPair.did,
          createdAt: new Date(Date.UTC(2026, 10, 25, 0, 0, i)).toISOString(),
        });
        // One Automerge change each, as `canon correct` writes them.
        handle.change((doc) => {
          doc.records[signed.cid] = signed.bytes;
        });
        written.push(signed.cid);
      }
      return written;
    });
    const closing = cids.slice(0, CORRECTIONS - OPEN);
    const perRelease = Math.ceil(closing.length / RELEASES);
    for (let release = 0; release < RELEASES; release++) {
      log(`publishing v${release + 2}, incorporating ${perRelease} corrections…`);
      await writeFile(file, `# Style\n\nWrite plainly. Revision ${release + 2}.\n`);
      await store.publish(home, signer, {
        standard: "style",
        file,
        incorporates: closing.slice(release * perRelease, (release + 1) * perRelease),
      });
    }

    const env = { ...process.env, CANON_HOME: home.root };
    const timed = (label, args, check) => {
      const start = process.hrtime.bigint();
      const result = spawnSync(process.execPath, args, { env, maxBuffer: 64 * 1024 * 1024 });
      const elapsed = toMs(process.hrtime.bigint() - start);
      if (result.status !== 0) throw new Error(`${label} failed: ${result.stderr}`);
      check?.(result);
      return elapsed;
    };
    const cli = (...args) => ["--require", probe, bin, ...args];
    const noAutomerge = (label) => (result) => {
      if (/automerge:loaded/.test(result.stderr.toString()))
        throw new Error(`${label} loaded Automerge: the verified snapshot was not used`);
    };
    const commands = {
      baseline: { args: ["-e", "0"] },
      show: { args: cli("show", "style"), check: noAutomerge("show") },
      rendered: {
        args: cli("show", "style", "--rendered", "--json"),
        check: (result) => {
          noAutomerge("show --rendered")(result);
          const shown = JSON.parse(result.stdout.toString());
          if (shown.version !== RELEASES + 1 || shown.corrections.length !== 100)
            throw new Error(`show --rendered listed ${shown.corrections.length} corrections`);
          if (shown.omittedCorrections !== OPEN - 100)
            throw new Error(`show --rendered omitted ${shown.omittedCorrections}`);
        },
      },
      open: {
        args: cli("corrections", "style", "--open", "--json"),
        check: (result) => {
          noAutomerge("corrections --open")(result);
          const listed = JSON.parse(result.stdout.toString());
          if (listed.corrections.length !== OPEN || listed.total !== CORRECTIONS)
            throw new Error(`corrections --open listed ${listed.corrections.length}`);
        },
      },
    };
    // One warm-up round, not kept (it also makes the caches current).
    for (const [name, { args, check }] of Object.entries(commands)) timed(name, args, check);
    const samples = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
    log(`timing ${Object.keys(commands).length} commands × ${ROUNDS} rounds, interleaved…`);
    for (let round = 0; round < ROUNDS; round++)
      for (const name of shuffled(Object.keys(commands))) {
        const { args, check } = commands[name];
        samples[name].push(timed(name, args, check));
      }

    const baseline = median(samples.baseline);
    const row = (label, name, meaning) => {
      const value = median(samples[name]);
      return {
        cells: [label, `${value.toFixed(0)} ms`, `${(value / baseline).toFixed(2)}×`],
        meaning,
      };
    };
    const rendered = median(samples.rendered);
    const open = median(samples.open);
    return {
      columns: ["Measurement", "Median", "vs `node -e 0`"],
      rows: [
        row("baseline `node -e 0`", "baseline", "Starting Node, for scale."),
        row(
          "`canon show style` (plain)",
          "show",
          "The release's exact bytes, from the read index and blob cache.",
        ),
        row(
          "`canon show style --rendered`",
          "rendered",
          `The latest release and the corrections in force: the newest 100 listed, the other ${OPEN - 100} counted (checked on every run), folded from the verified snapshot without Automerge.`,
        ),
        row(
          "`canon corrections style --open`",
          "open",
          `The ${OPEN} open corrections of a log of ${CORRECTIONS} (checked on every run), as JSON.`,
        ),
      ],
      checks: [
        {
          target: "cold `show --rendered` of a 10,000-correction standard < 1 s",
          measured: `${rendered.toFixed(0)} ms`,
          pass: rendered < 1000,
        },
        {
          target: "cold `corrections --open` of a 10,000-correction standard < 1 s",
          measured: `${open.toFixed(0)} ms`,
          pass: open < 1000,
        },
      ],
      notes: [
        `Records: 1 genesis, ${RELEASES + 1} releases (${RELEASES} of them incorporating ${perRelease} corrections each), ${CORRECTIONS} corrections, one Automerge change each; ${ROUNDS} interleaved rounds in random order after one warm-up, medians.`,
        "The rendered context is bounded: at most the newest 100 corrections and 64 KiB of their text are listed; a last line counts the rest and names `canon corrections <standard> --open`.",
      ],
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

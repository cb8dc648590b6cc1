// Provenance feeds at scale: a space whose feeds hold up to 100,000 stamps
// across 100 agents. The stamps are signed in this process (real ed25519,
// real records, each agent's chain linked through `previous`) and written
// into the agents' feed segments with automerge-repo (one change per
// segment and size step rather than one per stamp, so that writing 100,000
// stamps takes minutes, not an hour; the documents hold the same records,
// with a shorter change history); then, at each size, a new process
// is timed for what an auditor and an owner run, beside `node -e 0`:
//   - cold `canon verify <output>` with no sidecar (found in the feeds);
//   - cold `canon agents`;
//   - cold `canon stamp` (one more stamp, into a feed), beside raw ed25519
//     signing of one record in process;
//   - the feeds' size on disk, and a newcomer's `canon space join` through a
//     relay on 127.0.0.1 (up to JOIN_LIMIT stamps, to keep the run bounded).
// The first command after the stamps are written folds them from scratch
// (signatures included) and writes the caches; it is reported as "first fold".
import { execFile, spawn, spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { asyncCanon, median, ms, toMs } from "./measure.mjs";

export const title = "Provenance feeds: 100,000 stamps across 100 agents";

const AGENTS = 100;
const STEPS = [1_000, 10_000, 100_000];
const ROUNDS = 5;
const SEGMENT = 1000;
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "packages/cli/dist/canon.cjs");

export async function run({ log }) {
  const core = await import(join(root, "packages/core/dist/index.js"));
  const store = await import(join(root, "packages/store/dist/index.js"));
  const work = await mkdtemp(join(tmpdir(), "canon-bench-feeds-"));
  // The relay in its own process (`canon relay`), as deployed: this one is busy signing.
  const relay = spawn(
    process.execPath,
    // A fresh relay takes the whole space in one sync: its per-minute quotas (32 MiB written
    // by default) would cut the first push of 100,000 stamps, so they are raised here.
    [
      bin,
      "relay",
      "--port",
      "0",
      "--data",
      join(work, "relay"),
      "--json",
      "--write-bytes-per-minute",
      String(4 * 1024 ** 3),
      "--receive-bytes-per-minute",
      String(4 * 1024 ** 3),
    ],
    {
      env: { ...process.env, CANON_HOME: join(work, "relay-home") },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const relayUrl = await new Promise((resolve, reject) => {
    createInterface({ input: relay.stdout }).once("line", (line) => resolve(JSON.parse(line).url));
    relay.once("exit", (code) => reject(new Error(`the relay exited ${code}`)));
  });
  try {
    const homeDir = join(work, "home");
    const env = { ...process.env, CANON_HOME: homeDir };
    // Asynchronous: the relay runs in this process and must keep answering.
    const canon = asyncCanon(bin, work, env);
    const nodeBaseline = () => {
      const start = performance.now();
      spawnSync(process.execPath, ["-e", "0"]);
      return performance.now() - start;
    };

    await canon(["init"]);
    const { url } = JSON.parse((await canon(["space", "create", "bench", "--json"])).stdout);
    await writeFile(join(work, "style.md"), "# Style v1\n");
    await canon(["publish", "style", join(work, "style.md")]);
    await writeFile(join(work, "style.md"), "# Style v2\n");
    await canon(["publish", "style", join(work, "style.md")]);
    await canon(["sync", "--relay", relayUrl]);
    const home = store.canonHome(homeDir);
    const owner = await store.loadIdentity(home);
    const address = store.parseSpaceUrl(url);

    log(`adding ${AGENTS} agents…`);
    const agents = [];
    for (let i = 0; i < AGENTS; i++) agents.push(await core.generateKeyPair());
    const { genesis, membership, releases } = await store.withSpace(home, {}, async (session) => {
      let heads = [...session.state.membershipHeads];
      const changes = [];
      for (const agent of agents) {
        const change = await core.signRecord(owner.keyPair, {
          type: "canon/membership",
          v: 1,
          space: session.state.genesis.cid,
          member: agent.did,
          role: "contributor",
          membership: heads,
          author: owner.keyPair.did,
          createdAt: new Date().toISOString(),
        });
        changes.push(change);
        heads = [change.cid];
      }
      session.folded.space.change((doc) => {
        for (const change of changes) doc.records[change.cid] = change.bytes;
      });
      const style = session.state.standards.get("style");
      return {
        genesis: session.state.genesis.cid,
        membership: heads,
        releases: [...style.releases.values()].sort((a, b) => a.record.version - b.record.version),
      };
    });
    await canon(["sync"]);

    const previous = new Map();
    const segments = new Map(); // agent did -> { documentId, count }
    let made = 0;
    let sample; // an output whose stamp the auditor looks up
    const signStamp = async (agent, n) => {
      const release = releases[n % releases.length];
      const text = `output ${n}\n`;
      const sha256 = core.sha256Hex(await core.contentCid(new TextEncoder().encode(text)));
      const signed = await core.signRecord(agent, {
        type: "canon/provenance",
        v: 1,
        space: genesis,
        subject: [{ name: `out-${n}.md`, digest: { sha256 } }],
        context: [
          {
            standard: "style",
            version: release.record.version,
            contentCid: release.record.contentCid,
            releaseCid: release.cid,
          },
        ],
        corrections: [],
        spaceHeads: [],
        knew: [{ standard: "style", version: 2, heads: [releases[1].cid], openCorrections: 0 }],
        warnings: [],
        previous: previous.has(agent.did) ? [previous.get(agent.did)] : [],
        membership,
        author: agent.did,
        createdAt: new Date(Date.UTC(2026, 10, 28, 0, 0, 0, n)).toISOString(),
      });
      previous.set(agent.did, signed.cid);
      return { signed, text };
    };

    const columns = ["Stamps", "Measurement", "Median", "vs `node -e 0`"];
    const rows = [];
    const checks = [];
    const notes = [];
    let signTimes = [];
    const first1k = { verify: 0, stamp: 0, node: 1 };
    for (const target of STEPS) {
      log(`signing and writing stamps up to ${target}…`);
      const replica = await store.openReplica(home);
      try {
        const loaded = await replica.spaces.load(address);
        const open = new Map();
        const batch = [];
        while (made < target) {
          const agent = agents[made % AGENTS];
          const start = process.hrtime.bigint();
          const { signed, text } = await signStamp(agent, made);
          signTimes.push(toMs(process.hrtime.bigint() - start));
          batch.push(signed);
          if (made === Math.floor(target / 2)) sample = text;
          made += 1;
        }
        // Into each agent's current segment, a new one every SEGMENT stamps.
        const byAgent = new Map();
        for (const signed of batch) {
          const list = byAgent.get(signed.record.author) ?? [];
          list.push(signed);
          byAgent.set(signed.record.author, list);
        }
        for (const [did, list] of byAgent) {
          // One change per segment's share of the batch: the same records, far fewer changes.
          let pending = [];
          const flush = async (segment) => {
            if (pending.length === 0) return;
            if (!open.has(segment.documentId))
              open.set(segment.documentId, await replica.find(segment.documentId));
            const records = pending;
            pending = [];
            open.get(segment.documentId).change((doc) => {
              for (const signed of records) doc.records[signed.cid] = signed.bytes;
            });
          };
          for (const signed of list) {
            let segment = segments.get(did);
            if (segment === undefined || segment.count >= SEGMENT) {
              if (segment !== undefined) await flush(segment);
              const handle = replica.create({ canon: "feed", v: 1, author: did, records: {} });
              loaded.space.change((doc) => {
                doc.feeds ??= {};
                doc.feeds[handle.documentId] = did;
              });
              segment = { documentId: handle.documentId, count: 0 };
              segments.set(did, segment);
              open.set(handle.documentId, handle);
            }
            pending.push(signed);
            segment.count += 1;
          }
          await flush(segments.get(did));
        }
      } finally {
        await replica.close();
      }
      await writeFile(join(work, "sample.md"), sample);

      // The first command after: folds every new stamp from scratch and writes the caches.
      const first = (await canon(["ls", "--json"])).elapsed;
      const baseline = [];
      const verifyTimes = [];
      const agentsTimes = [];
      const stampTimes = [];
      for (let round = 0; round < ROUNDS; round++) {
        baseline.push(nodeBaseline());
        const verified = await canon(["verify", join(work, "sample.md"), "--json"]);
        if (!JSON.parse(verified.stdout).verified) throw new Error("the sample did not verify");
        verifyTimes.push(verified.elapsed);
        const matrix = await canon(["agents", "--json"]);
        // The owner stamps too, from the second size on.
        if (JSON.parse(matrix.stdout).agents.length < AGENTS)
          throw new Error("canon agents did not list every agent");
        agentsTimes.push(matrix.elapsed);
      }
      // One more stamp by the owner into its feed: in a process of its own (no home's owner
      // process), then through the home's owner, as commands that write run by default.
      const ownerStampTimes = [];
      const cold = { ...env, CANON_NO_OWNER: "1" };
      for (let round = 0; round < ROUNDS; round++) {
        baseline.push(nodeBaseline());
        const output = join(work, `owner-${target}-${round}.md`);
        await writeFile(output, `owner output ${target} ${round}\n`);
        stampTimes.push((await canon(["stamp", output, "--standard", "style"], cold)).elapsed);
        const again = join(work, `owner-${target}-${round}-owned.md`);
        await writeFile(again, `owner output ${target} ${round} (owner)\n`);
        ownerStampTimes.push((await canon(["stamp", again, "--standard", "style"])).elapsed);
      }
      const node = median(baseline);
      const rel = (value) => `${(value / node).toFixed(1)}×`;
      /** A row of this size's table: what was measured, its median, its multiple of `node -e 0`. */
      const row = (what, value, meaning) => ({
        cells: [String(target), what, ms(value, 0), rel(value)],
        meaning,
      });
      const feedBytes = await feedSize(homeDir, url, segments);
      rows.push(
        row(
          "first fold after the stamps arrive (`canon ls`)",
          first,
          "A new process loads every document with Automerge, checks each new stamp (signature included) and writes the verified snapshot, read index and stamp index.",
        ),
        row(
          "cold `canon verify <output>` (no sidecar)",
          median(verifyTimes),
          "Reads the stamp index's shard of the output's sha256, folds the snapshot's records without other agents' stamps and verifies the stamp against them.",
        ),
        row("cold `canon agents`", median(agentsTimes), "Reads the stamp index alone."),
        row(
          "cold `canon stamp` (one more, `CANON_NO_OWNER=1`)",
          median(stampTimes),
          "A process of its own reads the snapshot without other agents' stamps, opens the space document and the owner's segment, signs, writes the sidecar, appends, updates the caches in place.",
        ),
        row(
          "`canon stamp` through the home's owner",
          median(ownerStampTimes),
          "The same, run by the home's owner process (started on demand), which holds the replica open.",
        ),
        {
          cells: [
            String(target),
            "feeds on disk",
            `${(feedBytes / 1024 / 1024).toFixed(1)} MiB`,
            "—",
          ],
          meaning: "The stored chunk files of every feed segment after compaction.",
        },
        {
          cells: [String(target), "baseline `node -e 0`", ms(node, 0), "1.0×"],
          meaning: "Starting Node, for scale.",
        },
      );
      {
        // In a process of its own, as the newcomer's join: what a push and a join cost, not the owner's queue.
        const pushed = await canon(["sync", "--timeout", "600"], cold);
        rows.push(
          row(
            "`canon sync` pushing the new stamps (`CANON_NO_OWNER=1`)",
            pushed.elapsed,
            "One sync sends every new feed segment to the relay (no retry: a lost connection fails the run).",
          ),
        );
        const newcomer = join(work, `newcomer-${target}`);
        const newcomerEnv = { ...process.env, CANON_HOME: newcomer, CANON_NO_OWNER: "1" };
        await canon(["init"], newcomerEnv);
        const joined = await canon(
          ["space", "join", url, "--relay", relayUrl, "--timeout", "600"],
          newcomerEnv,
        );
        // The newcomer holds every stamp: its index counts them all.
        const held = JSON.parse((await canon(["agents", "--json"], newcomerEnv)).stdout).agents;
        const count = held.reduce((sum, agent) => sum + agent.stamps, 0);
        if (count < target) throw new Error(`the newcomer holds ${count} of ${target} stamps`);
        rows.push(
          row(
            "newcomer `canon space join` through the relay",
            joined.elapsed,
            "A fresh home fetches the space and every feed segment from a relay on 127.0.0.1 and folds them (signatures included).",
          ),
        );
        await rm(newcomer, { recursive: true, force: true });
      }
      // The machine is shared and its load changes between sizes (node -e 0 itself moved 3× in
      // one run), so sizes are compared by each command's multiple of node -e 0 in the same rounds.
      const times = { verify: median(verifyTimes), stamp: median(stampTimes), node };
      if (target === STEPS[0]) Object.assign(first1k, times);
      if (target === STEPS.at(-1)) {
        for (const [name, label] of [
          ["stamp", "cold `canon stamp`"],
          ["verify", "cold `canon verify <output>`"],
        ]) {
          const ratio = times[name] / times.node / (first1k[name] / first1k.node);
          checks.push({
            target: `${label} at 100,000 stamps within 1.5× of at 1,000 (as multiples of \`node -e 0\`)`,
            measured: `${ms(times[name], 0)} (${(times[name] / times.node).toFixed(1)}×) vs ${ms(first1k[name], 0)} (${(first1k[name] / first1k.node).toFixed(1)}×): ${ratio.toFixed(2)}×`,
            pass: ratio <= 1.5,
          });
        }
        checks.push({
          target: "cold `canon agents` at 100,000 stamps under 1 s",
          measured: ms(median(agentsTimes), 0),
          pass: median(agentsTimes) < 1000,
        });
        checks.push({
          target: "cold `canon verify` of one output at 100,000 stamps under 10 s",
          measured: ms(median(verifyTimes), 0),
          pass: median(verifyTimes) < 10_000,
        });
      }
    }
    const signMedian = median(signTimes);
    const raw = [];
    const message = new Uint8Array(600);
    for (let i = 0; i < 1000; i++) {
      const start = process.hrtime.bigint();
      await core.sign(agents[0], message);
      raw.push(toMs(process.hrtime.bigint() - start));
    }
    rows.push(
      {
        cells: [
          "—",
          "sign one stamp in process (schema, DAG-CBOR, ed25519)",
          ms(signMedian, 3),
          "—",
        ],
        meaning:
          "`signRecord` of a provenance record, what `canon stamp` adds to its fold and writes.",
      },
      {
        cells: ["—", "raw ed25519 sign (WebCrypto, 600 bytes)", ms(median(raw), 3), "—"],
        meaning: "The signature alone: the physical limit of stamping.",
      },
    );
    signTimes = [];
    notes.push(
      `${AGENTS} agents, segments of ${SEGMENT} stamps; each stamp names one release of one standard and links to its agent's previous stamp.`,
      "The relay runs as `canon relay` with its per-minute write and receive quotas raised to 4 GiB: with the defaults (32 MiB written a minute) it disconnects the first push of 100,000 stamps (`quota-exceeded`), and the owner must sync again after a minute.",
      "The owner's push and the newcomer's join run once per size, with no retry.",
    );
    return { columns, rows, checks, notes };
  } finally {
    // The home's owner process the commands started: stopped, not left to its idle timeout.
    await new Promise((resolve) =>
      execFile(
        process.execPath,
        [bin, "owner", "--stop"],
        { env: { ...process.env, CANON_HOME: join(work, "home") } },
        () => resolve(),
      ),
    );
    relay.kill("SIGTERM");
    await new Promise((resolve) =>
      relay.exitCode === null ? relay.once("exit", resolve) : resolve(),
    );
    // The relay may still be flushing a document as it stops: retry, and never lose the figures to cleanup.
    await rm(work, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }).catch(
      (error) => log(`could not remove ${work}: ${error.message}`),
    );
  }
}

/** Bytes of the stored chunk files of every feed segment. */
async function feedSize(homeDir, _url, segments) {
  let bytes = 0;
  for (const { documentId: id } of segments.values()) {
    const dir = join(homeDir, "replica", id.slice(0, 2), id.slice(2));
    for (const file of await listFiles(dir)) bytes += (await stat(file)).size;
  }
  return bytes;
}

async function listFiles(dir) {
  const out = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(path)));
    else out.push(path);
  }
  return out;
}

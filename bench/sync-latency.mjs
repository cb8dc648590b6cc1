// Benchmark "sync-latency": how long a release takes to become readable on
// other replicas through a relay, all on 127.0.0.1.
//
//   (a)-(d) owner A publishes a 5 KB release and syncs it to the relay; B runs
//           `watchSpace` and reports it once verified. Timed from just before
//           A's publish() (and, separately, from just before its syncSpace())
//           to B's onEvent for that version.
//   (e)-(f) the same on a second, independent setup (its own relay, owner and
//           reader) whose automerge-repo peers use upstream's 100 ms sync
//           debounce instead of Canon's 2 ms: what the patch buys.
//   (g)-(h) (b) and (f) with releases back to back (each publish starts as
//           soon as the previous release was reported), where the debounce
//           window can still be open when the next release reaches the relay.
//   (i)-(j) fan-out: 20 replicas watching; until all 20 have verified it.
//   (k)     the same as (a) with the `canon` CLI as processes.
//   baseline: git commit -a + push to a local bare repository, pull in a
//           second clone, for a 5 KB file.
//
// Canon, the relay and every watcher run in this process (the relay is
// `startRelayServer` from apps/relay, as `canon relay` runs it). (a), (e) and git rounds are
// interleaved, round by round in a fresh random order, so they share whatever
// else the machine is doing.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { setUpGit } from "./git-round-trip.mjs";
import { median, ms, percentile, shuffled, standardText, times } from "./measure.mjs";

export const title =
  "Sync latency: publish → readable on other replicas, through a relay on loopback";

const CLI = fileURLToPath(new URL("../packages/cli/dist/canon.cjs", import.meta.url));
const STORE_DIST = new URL("../packages/store/dist/index.js", import.meta.url);
const RELAY_DIST = new URL("../apps/relay/dist/index.js", import.meta.url);

const STANDARD = "editorial-style";
const SIZE = 5 * 1024;
/** Timed rounds of (a)/(b), (e)/(f) and git, interleaved; odd, so each median is one real sample. */
const ROUNDS = 51;
/** Untimed rounds first, for each setup (connections, JIT, page cache). */
const WARMUP = 3;
/** Back-to-back releases: blocks per setup, and timed releases per block (after one lead-in). */
const BURST_BLOCKS = 3;
const BURST_ROUNDS = 6;
const SUBSCRIBERS = 20;
const FANOUT_ROUNDS = 15;
const CLI_ROUNDS = 5;
/** Canon's patched sync debounce, and upstream automerge-repo's fixed one. */
const CANON_DEBOUNCE_MS = 2;
const UPSTREAM_DEBOUNCE_MS = 100;
/** Longest wait for any one step (a sync, an arrival) before the benchmark fails. */
const STEP_TIMEOUT_MS = 10_000;
/** The whole benchmark gives up after this long. */
const BUDGET_MS = 150_000;
/**
 * automerge-repo saves sync states on a 100 ms throttle that neither
 * `Replica.close()` nor the relay's `stop()` waits for; removing the
 * directories while one is pending makes it reject, unhandled, and kill the
 * process. So wait this long after stopping everything.
 */
const SETTLE_MS = 500;

/** Runs the benchmark; returns the table, what each row means, and the targets. */
export async function run({ log = () => {} } = {}) {
  for (const built of [CLI, fileURLToPath(STORE_DIST), fileURLToPath(RELAY_DIST)]) {
    if (!existsSync(built)) throw new Error(`${built} is missing; run \`pnpm build\` first`);
  }
  const temp = await mkdtemp(join(tmpdir(), "canon-bench-sync-"));
  /** Stops everything started (watchers, relays, the debounce override), last first. */
  const cleanup = [];
  try {
    return await measure(temp, log, cleanup);
  } finally {
    for (const stop of cleanup.reverse()) {
      await stop().catch((error) => log(`cleanup: ${error.message}`));
    }
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    await rm(temp, { recursive: true, force: true });
  }
}

async function measure(temp, log, cleanup) {
  const store = await import(STORE_DIST.href);
  const { canonHome, createSpace, ensureIdentity, publish, syncSpace } = store;
  const { startRelayServer } = await import(RELAY_DIST.href);
  const started = performance.now();
  const withinBudget = () => {
    if (performance.now() - started > BUDGET_MS) {
      throw new Error(`the benchmark ran over its ${BUDGET_MS / 1000} s budget`);
    }
  };
  const debounce = await overrideSyncDebounce();
  cleanup.push(async () => debounce.restore());

  /** A relay in this process, with its own data directory. */
  const startRelay = async (name) => {
    const relay = await startRelayServer({
      storageDirectory: join(temp, name),
      port: 0,
      host: "127.0.0.1",
    });
    cleanup.push(() => relay.stop());
    return relay;
  };
  const home = (name) => canonHome(join(temp, name));
  const file = join(temp, "standard.md");

  /** An owner with a space holding one release, synced to `relay`. */
  const setUpOwner = async (name, relay) => {
    const owner = home(name);
    const signer = await ensureIdentity(owner);
    const { url } = await createSpace(owner, signer, `bench ${name}`);
    await writeFile(file, standardText(`${name} 1`, SIZE));
    await publish(owner, signer, { space: url, standard: STANDARD, file, message: "1" });
    await syncSpace(owner, {
      space: url,
      relay: relay.url,
      timeoutMs: STEP_TIMEOUT_MS,
      remember: true,
      makeDefault: true,
    });
    return { home: owner, signer, url, relay, releases: 1 };
  };
  /** A reader joined to the space through the relay (as `canon space join` does). */
  const joinSpace = async (name, space, relay) => {
    const reader = home(name);
    await ensureIdentity(reader);
    await syncSpace(reader, {
      space,
      relay: relay.url,
      timeoutMs: STEP_TIMEOUT_MS,
      remember: true,
      makeDefault: true,
    });
    return reader;
  };
  const startWatcher = async (label, reader, space, relay) => {
    const watcher = watch(store, label, reader, space, relay.url);
    cleanup.push(() => watcher.stop());
    await watcher.connected(STEP_TIMEOUT_MS);
    return watcher;
  };

  /**
   * One timed release: writes the file (untimed), publishes, syncs, and waits
   * until every watcher has reported that version with the same content CID.
   */
  let revision = 0;
  const release = async (owner, watchers) => {
    revision++;
    const bytes = standardText(revision, SIZE);
    await writeFile(file, bytes);
    const t0 = performance.now();
    const published = await publish(owner.home, owner.signer, {
      space: owner.url,
      standard: STANDARD,
      file,
      message: `revision ${revision}`,
    });
    const t1 = performance.now();
    expectVersion(published, ++owner.releases);
    await syncSpace(owner.home, {
      space: owner.url,
      relay: owner.relay.url,
      timeoutMs: STEP_TIMEOUT_MS,
    });
    const t2 = performance.now();
    const arrivals = await Promise.all(
      watchers.map((watcher) => watcher.arrival(published.version, STEP_TIMEOUT_MS)),
    );
    for (const [i, arrival] of arrivals.entries()) {
      if (arrival.contentCid !== published.cid) {
        throw new Error(
          `${watchers[i].label} reported ${STANDARD}@${published.version} with content ${arrival.contentCid}, not ${published.cid}`,
        );
      }
    }
    const last = Math.max(...arrivals.map((arrival) => arrival.at));
    return {
      total: last - t0,
      propagation: last - t1,
      publish: t1 - t0,
      sync: t2 - t1,
      beforeSyncReturned: last < t2,
    };
  };

  // (a)-(d): the patched setup. (e)-(f): the same, every peer on upstream's debounce.
  log("starting relays, owners and readers (patched and upstream debounce)…");
  const setUp = async (suffix) => {
    const relay = await startRelay(`relay${suffix}`);
    const owner = await setUpOwner(`a${suffix}`, relay);
    const reader = await joinSpace(`b${suffix}`, owner.url, relay);
    const watcher = await startWatcher(`b${suffix}`, reader, owner.url, relay);
    return { relay, owner, watcher };
  };
  const patched = await setUp("");
  const upstream = await debounce.during(UPSTREAM_DEBOUNCE_MS, () => setUp("-upstream"));
  const upstreamRelease = () =>
    debounce.during(UPSTREAM_DEBOUNCE_MS, () => release(upstream.owner, [upstream.watcher]));

  const git = await setUpGit(temp, SIZE);

  log(`${WARMUP} warm-up rounds, then ${ROUNDS} timed rounds of (a), (e) and git, interleaved…`);
  const patchedSamples = [];
  const upstreamSamples = [];
  const gitSamples = [];
  const rounds = [
    { samples: patchedSamples, round: () => release(patched.owner, [patched.watcher]) },
    { samples: upstreamSamples, round: upstreamRelease },
    { samples: gitSamples, round: () => git.round() },
  ];
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (const { samples, round: timed } of shuffled(rounds)) {
      const sample = await timed();
      if (round >= WARMUP) samples.push(sample);
    }
    withinBudget();
  }
  // (g)-(h): releases back to back, in alternating blocks on the two setups.
  log(`${BURST_BLOCKS} blocks of ${BURST_ROUNDS} back-to-back releases on each setup…`);
  const burstSamples = { patched: [], upstream: [] };
  const bursts = [
    { name: "patched", next: () => release(patched.owner, [patched.watcher]) },
    { name: "upstream", next: upstreamRelease },
  ];
  for (let block = 0; block < BURST_BLOCKS; block++) {
    for (const { name, next } of shuffled(bursts)) {
      // The first release of a block follows a pause (the other setup's block): not kept.
      for (let i = 0; i <= BURST_ROUNDS; i++) {
        const sample = await next();
        if (i > 0) burstSamples[name].push(sample);
      }
    }
    withinBudget();
  }
  // Check that each setup really ran at the debounce it is labelled with.
  const debounceSeen = {
    patched: debounce.ratesOf([patched.relay.repo]),
    upstream: debounce.ratesOf([upstream.relay.repo]),
  };
  for (const [name, rates] of Object.entries(debounceSeen)) {
    const expected = name === "patched" ? CANON_DEBOUNCE_MS : UPSTREAM_DEBOUNCE_MS;
    if (rates.length === 0 || rates.some((rate) => rate !== expected)) {
      throw new Error(`the ${name} relay synced at ${rates.join(", ")} ms, not ${expected} ms`);
    }
  }
  await upstream.watcher.stop();
  await upstream.relay.stop();

  // (k): the same round trip with the CLI, the way a person or a script runs it.
  log(`${CLI_ROUNDS} rounds of \`canon publish\` + \`canon sync\` as processes…`);
  const cliSamples = [];
  const env = { ...process.env, CANON_HOME: patched.owner.home.root };
  for (let round = 0; round <= CLI_ROUNDS; round++) {
    revision++;
    const bytes = standardText(revision, SIZE);
    await writeFile(file, bytes);
    const t0 = performance.now();
    const published = JSON.parse(
      await runNode(env, ["--json", "publish", STANDARD, file, "-m", `revision ${revision}`]),
    );
    await runNode(env, ["--json", "sync"]);
    const arrival = await patched.watcher.arrival(published.version, STEP_TIMEOUT_MS);
    if (arrival.contentCid !== published.cid) {
      throw new Error(`b reported content ${arrival.contentCid}, not ${published.cid}`);
    }
    expectVersion(published, ++patched.owner.releases);
    if (round > 0) cliSamples.push(arrival.at - t0);
    withinBudget();
  }
  await patched.watcher.stop();

  // (i)-(j): fan-out to SUBSCRIBERS watchers, all in this process.
  log(`joining ${SUBSCRIBERS} replicas and starting a watch on each…`);
  const subscribers = [];
  for (let i = 1; i <= SUBSCRIBERS; i++) {
    const reader = await joinSpace(`s${i}`, patched.owner.url, patched.relay);
    subscribers.push(await startWatcher(`s${i}`, reader, patched.owner.url, patched.relay));
    withinBudget();
  }
  log(`2 warm-up rounds, then ${FANOUT_ROUNDS} timed releases to ${SUBSCRIBERS} watchers…`);
  const fanoutSamples = [];
  for (let round = 0; round < 2 + FANOUT_ROUNDS; round++) {
    const sample = await release(patched.owner, subscribers);
    if (round >= 2) fanoutSamples.push(sample);
    withinBudget();
  }
  for (const subscriber of subscribers) await subscriber.stop();

  const pick = (samples, key) => samples.map((sample) => sample[key]);
  const totalMs = median(pick(patchedSamples, "total"));
  const gitMs = median(gitSamples);
  const row = (label, samples, meaning) => ({
    cells: [
      label,
      ms(median(samples)),
      ms(percentile(samples, 95)),
      ms(Math.min(...samples)),
      `${samples.length}`,
    ],
    meaning,
  });
  const early = patchedSamples.filter((sample) => sample.beforeSyncReturned).length;
  return {
    columns: ["Measurement", "Median", "p95", "Fastest", "Samples"],
    rows: [
      row(
        "(a) publish + sync (A) → visible on B",
        pick(patchedSamples, "total"),
        "From just before A's `publish()` to B's `watchSpace` reporting that version, verified: " +
          "A's publish (open replica, fold, sign, write, close, read index), A's `syncSpace()` " +
          "to the relay, the relay forwarding it, B's fold. This is the publish-to-visible time.",
      ),
      row(
        "(b) sync (A) → visible on B",
        pick(patchedSamples, "propagation"),
        "The propagation part of (a): from just before A's `syncSpace()` (the release is " +
          "already on A's disk) to B's report.",
      ),
      row(
        "(c) `publish()` on A",
        pick(patchedSamples, "publish"),
        "A's publish alone, offline: the first part of (a).",
      ),
      row(
        "(d) `syncSpace()` on A",
        pick(patchedSamples, "sync"),
        "A's sync alone, until the relay holds what A holds (it then also refolds and writes " +
          `A's read index and config). B had the release before it returned in ${early} of ` +
          `${patchedSamples.length} rounds.`,
      ),
      row(
        `(e) as (a), upstream ${UPSTREAM_DEBOUNCE_MS} ms debounce`,
        pick(upstreamSamples, "total"),
        `(a) on a separate relay, owner and reader whose automerge-repo peers wait ` +
          `${UPSTREAM_DEBOUNCE_MS} ms (upstream's fixed value) instead of Canon's ` +
          `${CANON_DEBOUNCE_MS} ms before sending a changed document; compare with (a).`,
      ),
      row(
        `(f) as (b), upstream ${UPSTREAM_DEBOUNCE_MS} ms debounce`,
        pick(upstreamSamples, "propagation"),
        "(b) on that upstream-debounce setup; compare with (b).",
      ),
      row(
        "(g) back to back: sync (A) → visible on B",
        pick(burstSamples.patched, "propagation"),
        "(b), but with each release published as soon as B reported the previous one, in " +
          `blocks of ${BURST_ROUNDS}.`,
      ),
      row(
        `(h) as (g), upstream ${UPSTREAM_DEBOUNCE_MS} ms debounce`,
        pick(burstSamples.upstream, "propagation"),
        "(g) on the upstream-debounce setup; compare with (g).",
      ),
      row(
        `(i) fan-out: publish + sync (A) → all ${SUBSCRIBERS} see it`,
        pick(fanoutSamples, "total"),
        `(a) with ${SUBSCRIBERS} replicas, each running \`watchSpace\`, until the last of them ` +
          "has reported the release. All of them run in this one process, so their " +
          "verification runs one after another on one thread.",
      ),
      row(
        `(j) fan-out: sync (A) → all ${SUBSCRIBERS} see it`,
        pick(fanoutSamples, "propagation"),
        "(i) from just before A's `syncSpace()`.",
      ),
      row(
        "(k) CLI: `canon publish` + `canon sync` → visible on B",
        cliSamples,
        "(a) with A's two steps run as `node packages/cli/dist/canon.cjs` processes, one after " +
          "the other, to B's (in-process) watch: CLI against CLI beside the git baseline, which " +
          "also runs as processes. Each `canon` process starts Node and loads Automerge.",
      ),
      row(
        "baseline: git commit + push, pull",
        gitSamples,
        "`git commit -a`, then `git push` from clone 1 to a local bare repository, then " +
          "`git pull --ff-only` in clone 2, for a 5 KB file already edited in clone 1; clone 2's " +
          "file is checked after each round (untimed).",
      ),
    ],
    checks: [
      {
        target: "(a) median publish-to-visible < 50 ms on loopback",
        measured: ms(totalMs),
        pass: totalMs < 50,
      },
      {
        target: "(a) ≥ 5× faster than the git round trip (in-process Canon against git's commands)",
        measured: `git ${ms(gitMs)} / (a) ${ms(totalMs)} = ${times(gitMs / totalMs)}`,
        pass: gitMs >= 5 * totalMs,
      },
    ],
    notes: [
      `Every release checked: each watcher reported the version A published with A's content ` +
        `CID. The relay's document synchronizers ran at ${debounceSeen.patched[0]} ms for (a)-(d) and (g) ` +
        `and ${debounceSeen.upstream[0]} ms for (e), (f) and (h) (checked). The watched space held ` +
        `${patched.owner.releases} releases at the end; each publish, sync and watch folds (verifies) all of ` +
        "them, so these times grow with a space's history.",
    ],
  };
}

/** Throws unless a publish made the version after the owner's previous one (no fork, no reset). */
function expectVersion(published, version) {
  if (published.version !== version) {
    throw new Error(
      `publish made ${STANDARD}@${published.version}, expected version ${version} (a fork or a lost release)`,
    );
  }
}

/**
 * A reader's `watchSpace`, recording when (performance.now()) each release
 * version was reported and with which content CID.
 */
function watch(store, label, home, space, relay) {
  const controller = new AbortController();
  const arrivals = new Map();
  const waiting = new Map();
  let connect;
  const connected = new Promise((resolve) => {
    connect = resolve;
  });
  let failure;
  const running = store
    .watchSpace(home, {
      space,
      relay,
      signal: controller.signal,
      onEvent: (event) => {
        const at = performance.now();
        if (event.event === "connected") connect();
        if (event.event !== "record" || event.record.type !== "canon/release") return;
        const arrival = { at, contentCid: event.record.contentCid };
        arrivals.set(event.record.version, arrival);
        waiting.get(event.record.version)?.resolve(arrival);
      },
    })
    .catch((error) => {
      failure = new Error(`${label}: watchSpace failed: ${error.message}`);
      for (const waiter of waiting.values()) waiter.reject(failure);
    });
  const within = (promise, timeoutMs, what) => {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${label}: ${what} within ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  };
  return {
    label,
    connected: (timeoutMs) => within(connected, timeoutMs, "did not connect to the relay"),
    /** Resolves with the report of `version` (perhaps already made), or rejects. */
    arrival(version, timeoutMs) {
      const known = arrivals.get(version);
      if (known) return Promise.resolve(known);
      if (failure) return Promise.reject(failure);
      const reported = new Promise((resolve, reject) => waiting.set(version, { resolve, reject }));
      return within(reported, timeoutMs, `release ${version} did not arrive`).finally(() =>
        waiting.delete(version),
      );
    },
    async stop() {
      controller.abort();
      await running;
    },
  };
}

/**
 * Lets this benchmark choose the sync debounce of the automerge-repo peers it
 * creates, without touching Canon's code: `Repo` (Canon-patched) stores it as
 * `this.syncDebounceRate` in its constructor and each document's synchronizer
 * reads it from there. An accessor on the prototype captures the value when a
 * Repo is constructed: Canon's own value, or, inside `during(ms, …)`, `ms`.
 */
async function overrideSyncDebounce() {
  const require = createRequire(
    fileURLToPath(new URL("../packages/store/package.json", import.meta.url)),
  );
  // The same file (so the same module instance) that the store imports.
  const { Repo } = await import(pathToFileURL(require.resolve("@automerge/automerge-repo")).href);
  if (Object.getOwnPropertyDescriptor(Repo.prototype, "syncDebounceRate")) {
    throw new Error("automerge-repo's Repo already has a syncDebounceRate accessor");
  }
  const rates = new WeakMap();
  let forced;
  Object.defineProperty(Repo.prototype, "syncDebounceRate", {
    configurable: true,
    get() {
      return rates.get(this);
    },
    set(value) {
      rates.set(this, forced ?? value);
    },
  });
  return {
    async during(ms, work) {
      forced = ms;
      try {
        return await work();
      } finally {
        forced = undefined;
      }
    },
    /** The debounce each document synchronizer of these Repos actually uses. */
    ratesOf(repos) {
      return repos.flatMap((repo) =>
        Object.values(repo.synchronizer.docSynchronizers).map((sync) => sync.syncDebounceRate),
      );
    },
    restore() {
      delete Repo.prototype.syncDebounceRate;
    },
  };
}

/** Runs the CLI as a child process (without blocking this process's event loop); resolves with its stdout. */
function runNode(env, args) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`canon ${args.join(" ")}: ${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

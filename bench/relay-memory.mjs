// Benchmark "relay-memory" (issue #17, point 4): a relay serving SPACES
// spaces of STANDARDS standards to CLIENTS client connections, with idle
// documents evicted from memory, beside the same load on the same data with
// eviction off, in the same run.
//
// The data is built once by a fast generator and kept between runs (in the
// system's temporary directory, named by its size): every standard document
// holds one real release, signed with ed25519 by one owner key as
// `canon publish` signs it, and its 1 KB content, written as one Automerge
// snapshot through Canon's FileStorage; every space document routes to its
// standards (the `standards` map the heads summary and clients read; no
// membership records). Building through the relay instead would take hours
// here (about 30 documents a second through one relay).
//
// Each relay is its own `canon-relay` process on that directory, so its RSS
// is its own; the clients are automerge-repo peers in this process. Each
// client connects, fetches its space document and every standard it routes
// to (CONNECT_WIDTH clients at a time), then drops them from its own memory
// and stays connected: all CLIENTS connections stay open to the end. Then
// SAMPLES finds of a random standard by a random client are timed ("keeps
// serving"). With eviction off the run stops once the relay's RSS passes
// RSS_CAP_MB, and says how far it got.
//
//   CANON_BENCH_SPACES=1000 CANON_BENCH_STANDARDS=100 CANON_BENCH_CLIENTS=1000
//   CANON_BENCH_EVICT_AFTER=10 CANON_BENCH_RSS_CAP_MB=3072 node bench/run.mjs relay-memory
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";
import { loopbackAddress, loopbackClientClass } from "./loopback-clients.mjs";
import { median, percentile } from "./measure.mjs";

export const title = "Relay memory: idle documents evicted, beside the same load kept in memory";

const root = fileURLToPath(new URL("..", import.meta.url));
const setting = (name) => process.env[`CANON_BENCH_${name}`];
const size = (name, fallback) => {
  const value = Number(setting(name) ?? fallback);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`CANON_BENCH_${name} must be a whole number ≥ 0`);
  return value;
};
const SPACES = size("SPACES", 1000);
const STANDARDS = size("STANDARDS", 100);
const CLIENTS = size("CLIENTS", 1000);
/** Seconds an idle document stays in the evicting relay's memory. */
const EVICT_AFTER = size("EVICT_AFTER", 10);
/** The relay without eviction is stopped past this RSS (it would take the machine's memory). */
const RSS_CAP_MB = size("RSS_CAP_MB", 3072);
/** The RSS the evicting relay must stay under (the stated bound). */
const RSS_BOUND_MB = size("RSS_BOUND_MB", 1024);
const SAMPLES = size("SAMPLES", 300);
/** How many of its space's standards each client fetches (all by default). */
const SYNC_STANDARDS = Math.min(size("SYNC_STANDARDS", STANDARDS), STANDARDS);
const CONNECT_WIDTH = 4;
/** Clients between two progress lines. */
const PROGRESS_EVERY = size("PROGRESS_EVERY", 100) || 100;
/** Which relays run: both by default; `evict` alone runs the evicting relay only (the full load's time). */
const SETUPS = (setting("SETUPS") ?? "evict,keep").split(",");
if (SETUPS.length === 0 || SETUPS.some((setup) => setup !== "evict" && setup !== "keep"))
  throw new Error("CANON_BENCH_SETUPS must be evict, keep or evict,keep");

export async function run({ log }) {
  const { Repo } = await import("@automerge/automerge-repo");
  const store = await import(join(root, "packages/store/dist/index.js"));
  // Each client from a loopback address of its own (bench/loopback-clients.mjs).
  const Client = loopbackClientClass(store.RelayClient);
  const data = join(tmpdir(), `canon-bench-relay-memory-${SPACES}x${STANDARDS}`);
  const manifest = await buildOnce(data, log);
  const processes = [];
  const results = {};
  try {
    for (const setup of SETUPS) {
      const relay = await startRelay(
        {
          CANON_RELAY_DATA: join(data, "relay"),
          CANON_RELAY_EVICT_AFTER_SECONDS: setup === "evict" ? String(EVICT_AFTER) : "0",
        },
        processes,
      );
      let peak = 0;
      let capped = false;
      const sampler = setInterval(async () => {
        const rss = await rssOf(relay.pid).catch(() => 0);
        peak = Math.max(peak, rss);
        if (setup === "keep" && rss > RSS_CAP_MB * 1024 ** 2) capped = true;
      }, 250);
      const clients = [];
      const spaceSeconds = [];
      let documentsSynced = 0;
      let failures = 0;
      let retries = 0;
      const started = performance.now();
      try {
        await parallel(CLIENTS, CONNECT_WIDTH, async (i) => {
          if (capped) return;
          const { space, standards } = manifest.spaces[i % manifest.spaces.length];
          const newClient = () =>
            new Repo({
              network: [new Client(relay.url, 1000, loopbackAddress(i))],
              peerId: `client-${i}-${randomBytes(3).toString("hex")}`,
              syncDebounceRate: store.SYNC_DEBOUNCE_MS,
            });
          const began = performance.now();
          for (let attempt = 1; ; attempt++) {
            const repo = newClient();
            try {
              await connected(repo);
              const spaceHandle = await repo.find(space);
              const routed = Object.keys(spaceHandle.doc().standards ?? {});
              if (routed.length !== standards.length)
                throw new Error(
                  `space ${space} routes ${routed.length} standards, not ${standards.length}`,
                );
              const chosen = standards.slice(0, SYNC_STANDARDS);
              const handles = await Promise.all(chosen.map((url) => repo.find(url)));
              spaceSeconds.push((performance.now() - began) / 1000);
              documentsSynced += 1 + handles.length;
              for (const handle of [spaceHandle, ...handles]) await forget(repo, handle);
              clients.push(repo);
              break;
            } catch (error) {
              // A find answered unavailable stays so in that client: start a fresh one.
              await repo.shutdown().catch(() => undefined);
              if (attempt === 3) {
                failures += 1;
                log(`${setup}: client ${i} gave up: ${error.message}`);
                break;
              }
              retries += 1;
            }
          }
          if (i % PROGRESS_EVERY === PROGRESS_EVERY - 1)
            log(
              `${setup}: ${i + 1} clients connected and synced, ${documentsSynced} documents in ${((performance.now() - started) / 1000).toFixed(0)} s, relay RSS ${mb(await rssOf(relay.pid))} (${await heapOf(relay)})`,
            );
        });
        const loadSeconds = (performance.now() - started) / 1000;
        const afterLoad = await rssOf(relay.pid);
        // Keeps serving: random finds by random (connected) clients.
        const latencies = [];
        if (!capped) {
          for (let sample = 0; sample < SAMPLES; sample++) {
            const index = Math.floor(Math.random() * clients.length);
            const repo = clients[index];
            const { standards } = manifest.spaces[index % manifest.spaces.length];
            const url = standards[Math.floor(Math.random() * standards.length)];
            // The relay may have pushed it again (it syncs a reloaded document with the peers that had it open).
            const held = repo.handles[url.slice("automerge:".length)];
            if (held) await forget(repo, held);
            const began = performance.now();
            const handle = await repo.find(url);
            latencies.push(performance.now() - began);
            await forget(repo, handle);
          }
        }
        const metrics = await (await fetch(`${relay.http}/metrics`)).text();
        const metric = (name) =>
          Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1] ?? NaN);
        results[setup] = {
          capped,
          clients: clients.length,
          connections: metric("canon_relay_connections"),
          documentsSynced,
          failures,
          retries,
          loadSeconds,
          spaceSeconds,
          latencies,
          peak: Math.max(peak, afterLoad),
          afterLoad,
          final: await rssOf(relay.pid),
          inMemory: metric("canon_relay_documents_in_memory"),
          evicted: metric("canon_relay_evicted_documents_total"),
        };
        log(
          `${setup}: ${capped ? `stopped past ${RSS_CAP_MB} MB after ${documentsSynced} documents` : `${documentsSynced} documents in ${loadSeconds.toFixed(0)} s`}; peak RSS ${mb(results[setup].peak)}, find p95 ${latencies.length ? percentile(latencies, 95).toFixed(1) : "-"} ms`,
        );
      } finally {
        clearInterval(sampler);
        for (const repo of clients) await repo.shutdown().catch(() => undefined);
        await relay.stop();
      }
    }
  } finally {
    for (const relay of processes) await relay.stop().catch(() => undefined);
  }
  return report(results);
}

function report({ evict, keep: measured }) {
  const ms = (value) =>
    value === undefined || Number.isNaN(value) ? "–" : `${value.toFixed(1)} ms`;
  const s = (value) => (value === undefined ? "–" : `${value.toFixed(2)} s`);
  // CANON_BENCH_SETUPS=evict: the relay without eviction did not run; its column says so.
  const keep = measured ?? { skipped: true, spaceSeconds: [], latencies: [] };
  const cell = (result, value) =>
    result.skipped ? "not run" : result.capped ? `stopped: ${value}` : value;
  const total = SPACES * (STANDARDS + 1);
  return {
    columns: ["Measurement", `evicted after ${EVICT_AFTER} s idle`, "eviction off"],
    rows: [
      {
        cells: ["relay RSS, peak", mb(evict.peak), cell(keep, mb(keep.peak))],
        meaning:
          "the relay process's highest resident memory (`/proc/<pid>/status` VmRSS, sampled every 250 ms) while the clients connected and synced.",
      },
      {
        cells: [
          "relay RSS, all clients connected",
          mb(evict.afterLoad),
          cell(keep, mb(keep.afterLoad)),
        ],
        meaning: "once every client had synced its space and stayed connected.",
      },
      {
        cells: [
          "documents in the relay's memory",
          String(evict.inMemory),
          cell(keep, String(keep.inMemory)),
        ],
        meaning:
          "`canon_relay_documents_in_memory` at the end; evicted documents stay stored and load again when asked for.",
      },
      {
        cells: ["documents evicted", String(evict.evicted), cell(keep, String(keep.evicted))],
        meaning: "`canon_relay_evicted_documents_total`.",
      },
      {
        cells: [
          "client connections open",
          String(evict.connections),
          cell(keep, String(keep.connections)),
        ],
        meaning:
          "`canon_relay_connections` at the end: one per client (a client whose connection takes longer than its 1 s retry interval to open terminates that socket before opening another: docs/decisions/2026-11-30-client-sockets.md).",
      },
      {
        cells: [
          "documents synced",
          `${evict.documentsSynced} of ${CLIENTS * (SYNC_STANDARDS + 1)}`,
          cell(keep, `${keep.documentsSynced} of ${CLIENTS * (SYNC_STANDARDS + 1)}`),
        ],
        meaning: `each client fetches its space document and ${SYNC_STANDARDS === STANDARDS ? "all" : "the first"} ${SYNC_STANDARDS} of its ${STANDARDS} standards (${CONNECT_WIDTH} clients at a time).`,
      },
      {
        cells: [
          "one client syncs its space, median",
          s(median(evict.spaceSeconds)),
          cell(keep, s(keep.spaceSeconds.length ? median(keep.spaceSeconds) : undefined)),
        ],
        meaning: `the space document and ${SYNC_STANDARDS} standards, fetched by one client while others connect.`,
      },
      {
        cells: [
          "one client syncs its space, p95",
          s(percentile(evict.spaceSeconds, 95)),
          cell(keep, s(keep.spaceSeconds.length ? percentile(keep.spaceSeconds, 95) : undefined)),
        ],
        meaning: "the same samples' 95th percentile.",
      },
      {
        cells: [
          "keeps serving: find a standard, median",
          ms(evict.latencies.length ? median(evict.latencies) : undefined),
          cell(keep, ms(keep.latencies.length ? median(keep.latencies) : undefined)),
        ],
        meaning: `${SAMPLES} finds, one at a time, of a random standard (any of its space's ${STANDARDS}) by a random connected client that does not hold it (the relay loads it from disk when it is not in memory).`,
      },
      {
        cells: [
          "keeps serving: find a standard, p95",
          ms(evict.latencies.length ? percentile(evict.latencies, 95) : undefined),
          cell(keep, ms(keep.latencies.length ? percentile(keep.latencies, 95) : undefined)),
        ],
        meaning: "the same samples' 95th percentile (the p95 sync latency under the load).",
      },
      {
        cells: [
          "clients that started again",
          String(evict.retries),
          cell(keep, String(keep.retries)),
        ],
        meaning:
          "a client whose space sync failed (a find answered unavailable: its document was not loaded within automerge-repo's 60 s, or the connection dropped) and started again with a fresh client; at most 3 tries.",
      },
      {
        cells: ["clients that gave up", String(evict.failures), cell(keep, String(keep.failures))],
        meaning: "a client whose third try failed too (none expected).",
      },
    ],
    checks: [
      {
        target: `the evicting relay stays under ${RSS_BOUND_MB} MB RSS serving ${SPACES} spaces of ${STANDARDS} standards to ${CLIENTS} connections`,
        measured: `peak ${mb(evict.peak)}`,
        // One per client: RelayClient terminates a socket it gives up on before opening another.
        pass:
          evict.peak < RSS_BOUND_MB * 1024 ** 2 &&
          evict.failures === 0 &&
          evict.connections === CLIENTS,
      },
    ],
    notes: [
      `Data: ${SPACES} spaces × ${STANDARDS} standards (${total} documents), built once by the generator described in bench/relay-memory.mjs (one signed release and its 1 KB content per standard). ${keep.skipped ? "The evicting relay alone serves it." : "Both relays serve the same directory, one after the other."} All clients run in the benchmark's process on the same 2-core machine as the relay.`,
      keep.skipped
        ? "Eviction off: not run (CANON_BENCH_SETUPS=evict)."
        : keep.capped
          ? `Eviction off: stopped when the relay passed ${RSS_CAP_MB} MB, after ${keep.documentsSynced} documents synced (${keep.clients} clients).`
          : "Eviction off: ran to the end.",
    ],
  };
}

/** Builds the spaces once (kept between runs); returns their URLs. */
async function buildOnce(data, log) {
  const manifestPath = join(data, "manifest.json");
  try {
    const manifest = JSON.parse(await readFile(manifestPath, "utf8"));
    if (manifest.spaces.length === SPACES) {
      log(`reusing the data in ${data}`);
      return manifest;
    }
  } catch {
    // Not built yet.
  }
  await rm(data, { recursive: true, force: true });
  await mkdir(data, { recursive: true });
  // The relay's own Automerge (the root package has only automerge-repo).
  const A = await import(
    pathToFileURL(
      createRequire(join(root, "apps/relay/package.json")).resolve("@automerge/automerge"),
    ).href
  );
  const { generateAutomergeUrl, parseAutomergeUrl } = await import("@automerge/automerge-repo");
  const core = await import(join(root, "packages/core/dist/index.js"));
  const store = await import(join(root, "packages/store/dist/index.js"));
  const storage = new store.FileStorage(join(data, "relay"));
  const owner = await core.generateKeyPair();
  const genesis = (await core.contentCid(new TextEncoder().encode("bench genesis"))).toString();
  const started = performance.now();
  const save = async (url, doc) => {
    const { documentId } = parseAutomergeUrl(url);
    const name = randomBytes(32).toString("hex");
    await storage.save([documentId, "snapshot", name], A.save(doc));
  };
  const spaces = [];
  await parallel(SPACES, 4, async (s) => {
    const standards = [];
    for (let i = 0; i < STANDARDS; i++) {
      const name = `s${i}`;
      const bytes = new TextEncoder().encode(
        `# ${name} of space ${s}\n${"lorem ipsum ".repeat(85)}\n`,
      );
      const cid = (await core.contentCid(bytes)).toString();
      const signed = await core.signRecord(owner, {
        type: "canon/release",
        v: 1,
        space: genesis,
        standard: name,
        version: 1,
        contentCid: cid,
        size: bytes.length,
        parents: [],
        incorporates: [],
        message: "",
        membership: [genesis],
        author: owner.did,
        createdAt: new Date(Date.UTC(2026, 10, 1)).toISOString(),
      });
      let doc = A.from({ canon: "standard", v: 1, name, records: {}, contents: {} });
      doc = A.change(doc, (d) => {
        d.records[signed.cid] = signed.bytes;
        d.contents[cid] = bytes;
      });
      const url = generateAutomergeUrl();
      await save(url, doc);
      standards.push(url);
    }
    const routes = Object.fromEntries(
      standards.map((url, i) => [parseAutomergeUrl(url).documentId, `s${i}`]),
    );
    const space = generateAutomergeUrl();
    await save(space, A.from({ canon: "space", v: 1, standards: routes }));
    spaces[s] = { space, standards };
    if (s % 50 === 49)
      log(
        `built ${s + 1} of ${SPACES} spaces (${((performance.now() - started) / 1000).toFixed(0)} s)`,
      );
  });
  const manifest = { spaces };
  await writeFile(manifestPath, JSON.stringify(manifest));
  log(
    `built ${SPACES * (STANDARDS + 1)} documents in ${((performance.now() - started) / 1000).toFixed(0)} s`,
  );
  return manifest;
}

/**
 * Drops a document from a client's memory. Its listeners go first:
 * automerge-repo's unload empties the document and announces that as a
 * change, which would offer the empty document to the relay.
 */
async function forget(repo, handle) {
  handle.removeAllListeners();
  await repo.removeFromCache(handle.documentId);
}

async function connected(repo) {
  const deadline = performance.now() + 60_000;
  while (repo.peers.length === 0) {
    if (performance.now() > deadline) throw new Error("a client never connected");
    await sleep(10);
  }
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

function mb(bytes) {
  return `${(bytes / 1024 ** 2).toFixed(0)} MB`;
}

/** The relay's JavaScript heap and its memory outside it (Automerge's WebAssembly memory is there), from its `/metrics`. */
async function heapOf(relay) {
  const text = await (await fetch(`${relay.http}/metrics`)).text();
  const value = (name) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return `heap ${mb(value("nodejs_heap_size_used_bytes"))}, external ${mb(value("nodejs_external_memory_bytes"))}, ${value("canon_relay_documents_in_memory")} documents in memory`;
}

async function rssOf(pid) {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** Starts a `canon-relay` process with `variables` on a free port and waits for its line. */
async function startRelay(variables, processes) {
  // CANON_BENCH_RELAY_PROFILE=<dir>: each relay writes a V8 CPU profile there when it exits.
  const profile = setting("RELAY_PROFILE");
  const flags = profile ? ["--cpu-prof", `--cpu-prof-dir=${profile}`] : [];
  // CANON_BENCH_RELAY_MAIN=<path to a relay's dist/main.js>: another build's relay (main's, to compare) under the same clients.
  const main = setting("RELAY_MAIN") ?? join(root, "apps/relay/dist/main.js");
  const child = spawn(process.execPath, [...flags, main], {
    env: {
      ...process.env,
      CANON_RELAY_PORT: "0",
      CANON_RELAY_HOST: "127.0.0.1",
      CANON_RELAY_LOG_LEVEL: setting("RELAY_LOGS") ?? "error",
      ...variables,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
    if (setting("RELAY_LOGS")) process.stderr.write(chunk);
  });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once("line", resolve);
    child.once("exit", () => reject(new Error(`relay exited: ${stderr}`)));
  });
  const { url, port } = JSON.parse(line);
  const relay = {
    url,
    http: `http://127.0.0.1:${port}`,
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

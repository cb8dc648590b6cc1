// A client worker of the "relay-postgres" benchmark (bench/relay-postgres.mjs):
// one child process (`child_process.fork`) holding a share of the load's
// automerge-repo clients, so that the clients are not all on the benchmark's
// one event loop, and each process's CPU can be read on its own.
//
// The parent sends commands over IPC ({ id, command, ...arguments }) and this
// process answers each with { id, result } or { id, error }; it also sends
// { log } lines. Every client connects from a loopback address of its own
// (bench/loopback-clients.mjs): this worker's addresses start at
// `addressBase` (given by the parent, disjoint between workers).
//
// A publish and the arrival it is timed against are both in this process (the
// publisher and the watchers of its share are this worker's clients), so both
// ends are read from one clock (`performance.now()`).
//
// Commands, in the order the parent sends them:
//   quiet     { writeUrl, readUrl, url, rounds }  one writer and one reader, one change at a time
//   sync      { relayUrls, clients: [{ name, relay, space, standards }], width }
//   write     { everyMs }                          every synced client writes to its space every `everyMs`
//   watch     { readUrl, writeUrl, watchers: [{ name, url }] }  watchers on the read relay, a publisher on the write relay
//   publish   { round, width }                     the publisher changes each watched standard to `round`
//   stop      {}                                   the writes stop; answers this worker's counters
//   shutdown  {}                                   every client shuts down; the process exits
// If the parent goes away (its IPC channel closes), this process exits.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { loopbackAddress, loopbackClientClass } from "./loopback-clients.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const { Repo } = await import("@automerge/automerge-repo");
// Canon's client adapter: safe to disconnect while still connecting.
const { RelayClient, SYNC_DEBOUNCE_MS } = await import(join(root, "packages/store/dist/index.js"));
const LoopbackClient = loopbackClientClass(RelayClient);

const setup = process.env.CANON_BENCH_WORKER_SETUP ?? "?";
const addressBase = Number(process.env.CANON_BENCH_WORKER_ADDRESS_BASE ?? 0);

// The parent's limits (bench/relay-postgres.mjs says what each means): connection attempts,
// the client adapter's own retry, a find's timeout, and how long a publish may take to be seen.
const { CONNECT_ATTEMPT_MS, CONNECT_TOTAL_MS, ADAPTER_RETRY_MS, FIND_TIMEOUT_MS, SEEN_WITHIN_MS } =
  JSON.parse(process.env.CANON_BENCH_WORKER_LIMITS ?? "{}");

const counters = {
  retriedConnections: 0,
  unavailable: 0,
  orphanSocketErrors: 0,
  outdatedDocumentErrors: 0,
};
const clients = [];
const addresses = new Map();
const lastFindError = new WeakMap();
let findFailuresLogged = 0;
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();

const log = (message) => process.send?.({ log: message });

// automerge-repo's client adapter, retrying, strips the listeners from the
// socket it gives up on without closing it; when that socket then fails, the
// error has no listener. Counted and reported instead. A sync message sent
// while the socket is closing breaks that handle ("outdated document"):
// counted; that client's writes stop. Anything else ends this worker (the
// parent sees the exit and counts it).
process.on("uncaughtException", (error) => {
  if (error?.syscall === "connect" || ["ECONNRESET", "EPIPE"].includes(error?.code)) {
    counters.orphanSocketErrors += 1;
    log(`an abandoned client socket failed (${error.code}), counted`);
    return;
  }
  if (/outdated document/.test(error?.message ?? "")) {
    if (counters.outdatedDocumentErrors++ < 3)
      log(`a client's handle is broken (${error.message}), counted`);
    return;
  }
  log(`uncaught: ${error?.stack ?? error}`);
  process.exit(1);
});
process.on("disconnect", () => process.exit(0));
// The parent stops this worker with SIGTERM when interrupted: exit at once.
process.on("SIGTERM", () => process.exit(143));
process.on("SIGINT", () => process.exit(130));

const addressOf = (name) => {
  if (!addresses.has(name)) addresses.set(name, loopbackAddress(addressBase + addresses.size));
  return addresses.get(name);
};

function client(url, name) {
  const repo = new Repo({
    network: [new LoopbackClient(url, ADAPTER_RETRY_MS, addressOf(name))],
    peerId: `${name}-${randomBytes(3).toString("hex")}`,
    // As Canon's own clients do (upstream waits 100 ms before every sync message).
    syncDebounceRate: SYNC_DEBOUNCE_MS,
  });
  clients.push(repo);
  return repo;
}

/**
 * A client once the relay has introduced itself, or undefined when it could
 * not connect within CONNECT_TOTAL_MS: each attempt is a fresh client, after
 * a pause that doubles from 1 s. `failed` collects the names that failed.
 */
async function connected(url, name, failed) {
  const started = performance.now();
  for (let attempt = 1, pause = 1000; ; attempt++, pause *= 2) {
    const repo = client(url, name);
    const deadline = Math.min(performance.now() + CONNECT_ATTEMPT_MS, started + CONNECT_TOTAL_MS);
    while (repo.peers.length === 0 && performance.now() < deadline) await sleep(5);
    if (repo.peers.length > 0) return repo;
    clients.splice(clients.indexOf(repo), 1);
    await repo.shutdown().catch(() => undefined);
    counters.retriedConnections += 1;
    if (performance.now() + pause > started + CONNECT_TOTAL_MS) {
      failed.push(name);
      log(
        `${setup}: ${name} could not connect in ${attempt} attempts (${CONNECT_TOTAL_MS / 1000} s)`,
      );
      return undefined;
    }
    await sleep(pause);
  }
}

/**
 * A handle once found, or undefined after 5 tries. A Repo remembers a
 * document it was told is unavailable and answers every later find of it at
 * once, so each retry is a fresh client on the same relay.
 */
async function find(repo, url, relayUrl) {
  const first = repo;
  for (let attempt = 1; ; attempt++) {
    const started = performance.now();
    try {
      return await withTimeout(repo.find(url), FIND_TIMEOUT_MS, `find ${url}`);
    } catch (error) {
      const failure = `${error.message} after ${((performance.now() - started) / 1000).toFixed(1)} s, ${repo.peers.length === 0 ? "not connected" : "connected"}, ${relayUrl}, try ${attempt}`;
      lastFindError.set(first, failure);
      if (findFailuresLogged++ < 10) log(`${setup}: a find failed: ${failure}`);
      counters.unavailable += 1;
      if (attempt === 5) return undefined;
      await sleep(1000);
      repo = await connected(relayUrl, `retry-${setup}`, []);
      if (!repo) return undefined;
    }
  }
}

const state = { synced: [], watched: [], published: [], writing: false, background: [] };

const commands = {
  async quiet({ writeUrl, readUrl, url, rounds }) {
    const failed = [];
    const writer = await connected(writeUrl, `quiet-writer-${setup}`, failed);
    const reader = await connected(readUrl, `quiet-reader-${setup}`, failed);
    if (!writer || !reader) throw new Error("the quiet writer or reader could not connect");
    const written = await find(writer, url, writeUrl);
    const seen = await find(reader, url, readUrl);
    if (!written || !seen) throw new Error(`the quiet writer or reader could not find ${url}`);
    const latencies = [];
    let missed = 0;
    for (let round = 1; round <= rounds; round++) {
      const arrived = waitForVersion(seen, round);
      const started = performance.now();
      written.change((doc) => {
        doc.version = round;
      });
      if (await arrived) latencies.push(performance.now() - started);
      else missed += 1;
    }
    return { latencies, missed };
  },

  async sync({ relayUrls, clients: share, width }) {
    const failed = [];
    await parallel(share.length, width, async (i) => {
      const { name, relay, space, standards } = share[i];
      const relayUrl = relayUrls[relay];
      const repo = await connected(relayUrl, name, failed);
      if (!repo) return;
      const handles = await Promise.all(
        [space, ...standards].map((url) => find(repo, url, relayUrl)),
      );
      if (handles.some((handle) => handle === undefined)) {
        failed.push(name);
        log(
          `${setup}: ${name} could not sync its space (a find failed 5 times: ${lastFindError.get(repo)})`,
        );
        return;
      }
      state.synced.push({ handles: handles.slice(1), name });
    });
    return { synced: state.synced.length, failed };
  },

  async write({ everyMs }) {
    state.writing = true;
    state.background = state.synced.map(async ({ handles }, i) => {
      await sleep(Math.random() * everyMs);
      let n = 0;
      while (state.writing) {
        const handle = handles[n++ % handles.length];
        try {
          handle.change((doc) => {
            doc[`note-${addressBase}-${i}`] = n;
          });
        } catch (error) {
          // A handle broken by automerge-repo (see uncaughtException): its writes stop.
          if (counters.outdatedDocumentErrors++ < 3)
            log(`${setup}: a syncer's write failed (${error.message}), counted`);
          return;
        }
        await sleep(everyMs);
      }
    });
    return {};
  },

  async watch({ readUrl, writeUrl, watchers, width }) {
    const failed = [];
    const watched = [];
    await parallel(watchers.length, width, async (w) => {
      const { name, url } = watchers[w];
      const repo = await connected(readUrl, name, failed);
      if (!repo) return;
      const handle = await find(repo, url, readUrl);
      if (!handle) {
        failed.push(name);
        log(`${setup}: ${name} could not find ${url} (${lastFindError.get(repo)})`);
        return;
      }
      watched.push({ url, handle });
    });
    if (watched.length === 0) return { failed, watching: 0 };
    const publisher = await connected(writeUrl, `publish-${setup}-${addressBase}`, failed);
    if (!publisher) {
      for (const { url } of watched) failed.push(`watcher of ${url} (no publisher)`);
      return { failed, watching: 0 };
    }
    const published = await Promise.all(watched.map(({ url }) => find(publisher, url, writeUrl)));
    // A standard the publisher cannot find is not measured: its watcher counts as failed.
    for (let w = watched.length - 1; w >= 0; w--) {
      if (published[w] !== undefined) continue;
      failed.push(`watcher of ${watched[w].url} (publisher could not find it)`);
      log(
        `${setup}: the publisher could not find ${watched[w].url} (${lastFindError.get(publisher)})`,
      );
      watched.splice(w, 1);
      published.splice(w, 1);
    }
    state.watched = watched;
    state.published = published;
    return { failed, watching: watched.length };
  },

  async publish({ round, width }) {
    const latencies = [];
    let missed = 0;
    await parallel(state.watched.length, width, async (w) => {
      const seen = waitForVersion(state.watched[w].handle, round);
      const started = performance.now();
      state.published[w].change((doc) => {
        doc.version = round;
      });
      if (await seen) latencies.push(performance.now() - started);
      else {
        missed += 1;
        log(
          `${setup}: watcher of ${state.watched[w].url} missed version ${round} (${SEEN_WITHIN_MS / 1000} s)`,
        );
      }
    });
    return { latencies, missed };
  },

  async stop() {
    state.writing = false;
    await Promise.all(state.background);
    return {
      ...counters,
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      loopDelayMaxMs: loopDelay.max / 1e6,
    };
  },

  async shutdown() {
    state.writing = false;
    for (const repo of clients.splice(0)) await repo.shutdown().catch(() => undefined);
    setImmediate(() => process.exit(0));
    return {};
  },
};

process.on("message", async ({ id, command, ...input }) => {
  try {
    const result = await commands[command](input);
    process.send({ id, result });
  } catch (error) {
    process.send({ id, error: error?.message ?? String(error) });
  }
});
process.send({ ready: true });

/** True once `handle` shows `version` (or a later one), false if it has not within SEEN_WITHIN_MS. */
function waitForVersion(handle, version) {
  return new Promise((resolve) => {
    if (handle.doc()?.version >= version) return resolve(true);
    const timer = setTimeout(() => {
      handle.off("change", listener);
      resolve(false);
    }, SEEN_WITHIN_MS);
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

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
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

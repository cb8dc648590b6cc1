// Benchmark "live-publish": publish on owner A → release verified and
// readable on reader B, through a relay on 127.0.0.1, when A stays connected
// (a long-running owner or agent: `openLiveSpace`) and B runs `watchSpace`.
// Beside it, in the same run, the update carried the way teams do it today:
// `git commit -a && git push` to a local bare repository, `git pull` in a
// second clone. Both sides are measured in this process's terms: Canon
// in-process against git's own commands (git has no interpreter start-up;
// Canon's CLI rows are in the sync-latency section).
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median, percentile } from "./measure.mjs";

export const title = "Live publish → visible on another replica, through a relay on loopback";

const RELEASES = 60;
const SUBSCRIBERS = 20;
const FANOUT_RELEASES = 10;
const GIT_ROUNDS = 30;
const SIZE = 5 * 1024;
const root = fileURLToPath(new URL("..", import.meta.url));

export async function run({ log }) {
  const store = await import(join(root, "packages/store/dist/index.js"));
  const { startRelayServer } = await import(join(root, "apps/relay/dist/index.js"));
  const work = await mkdtemp(join(tmpdir(), "canon-bench-live-"));
  let relay;
  let stopWatch;
  const stopFanout = [];
  let live;
  try {
    relay = await startRelayServer({ storageDirectory: join(work, "relay"), port: 0 });
    const ownerHome = store.canonHome(join(work, "owner"));
    const readerHome = store.canonHome(join(work, "reader"));
    const owner = await store.ensureIdentity(ownerHome);
    const { url } = await store.createSpace(ownerHome, owner, "bench");
    const text = (i) => `${i}\n${"r".repeat(SIZE)}`;
    await writeFile(join(work, "v0.md"), text(0));
    await store.publish(ownerHome, owner, { standard: "style", file: join(work, "v0.md") });
    await store.syncSpace(ownerHome, { relay: relay.url, timeoutMs: 10_000, remember: true });
    await store.ensureIdentity(readerHome);
    await store.syncSpace(readerHome, {
      space: url,
      relay: relay.url,
      timeoutMs: 10_000,
      remember: true,
      makeDefault: true,
    });

    const arrivals = new Map();
    let connected = false;
    const controller = new AbortController();
    const watching = store.watchSpace(readerHome, {
      signal: controller.signal,
      onEvent: (event) => {
        if (event.event === "connected") connected = true;
        if (event.event === "record" && event.record.type === "canon/release")
          arrivals.set(event.record.version, performance.now());
      },
    });
    stopWatch = async () => {
      controller.abort();
      await watching;
    };
    live = await store.openLiveSpace(ownerHome, { relay: relay.url, timeoutMs: 10_000 });
    const until = async (version) => {
      const deadline = performance.now() + 10_000;
      while (!arrivals.has(version)) {
        if (performance.now() > deadline)
          throw new Error(`release ${version} never reached the reader`);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      return arrivals.get(version);
    };
    while (!connected) await new Promise((resolve) => setTimeout(resolve, 5));

    log(`publishing ${RELEASES} releases on a live connection…`);
    const latencies = [];
    const encoder = new TextEncoder();
    for (let i = 2; i < RELEASES + 4; i++) {
      const started = performance.now();
      const published = await live.publish(owner, {
        standard: "style",
        bytes: encoder.encode(text(i)),
      });
      if (published.version !== i)
        throw new Error(`published version ${published.version}, expected ${i}`);
      const seen = await until(i);
      if (i >= 4) latencies.push(seen - started); // the first two warm up
    }

    log(`fan-out to ${SUBSCRIBERS} watching replicas…`);
    const fanout = [];
    for (let n = 0; n < SUBSCRIBERS; n++) {
      const home = store.canonHome(join(work, `subscriber-${n}`));
      await store.ensureIdentity(home);
      await store.syncSpace(home, {
        space: url,
        relay: relay.url,
        timeoutMs: 20_000,
        remember: true,
        makeDefault: true,
      });
      const seen = new Map();
      let up = false;
      const controller = new AbortController();
      const running = store.watchSpace(home, {
        signal: controller.signal,
        onEvent: (event) => {
          if (event.event === "connected") up = true;
          if (event.event === "record" && event.record.type === "canon/release")
            seen.set(event.record.version, performance.now());
        },
      });
      stopFanout.push(async () => {
        controller.abort();
        await running;
      });
      while (!up) await new Promise((resolve) => setTimeout(resolve, 5));
      fanout.push(seen);
    }
    const fanoutTimes = [];
    let version = RELEASES + 3;
    for (let r = 0; r < FANOUT_RELEASES + 1; r++) {
      version++;
      const started = performance.now();
      await live.publish(owner, { standard: "style", bytes: encoder.encode(text(version)) });
      const deadline = started + 20_000;
      while (!fanout.every((seen) => seen.has(version))) {
        if (performance.now() > deadline)
          throw new Error(`release ${version} did not reach all ${SUBSCRIBERS} subscribers`);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      if (r > 0) fanoutTimes.push(Math.max(...fanout.map((seen) => seen.get(version))) - started);
    }

    log(`git round trips (${GIT_ROUNDS})…`);
    const git = (cwd, ...args) =>
      execFileSync(
        "git",
        ["-c", "user.name=bench", "-c", "user.email=bench@example.invalid", ...args],
        { cwd, stdio: "pipe" },
      );
    const bare = join(work, "origin.git");
    git(work, "init", "--bare", "-q", bare);
    git(work, "clone", "-q", bare, join(work, "one"));
    await writeFile(join(work, "one", "style.md"), text(0));
    git(join(work, "one"), "add", "style.md");
    git(join(work, "one"), "commit", "-q", "-m", "0");
    git(join(work, "one"), "push", "-q", "origin", "HEAD");
    git(work, "clone", "-q", bare, join(work, "two"));
    const gitTimes = [];
    for (let i = 1; i <= GIT_ROUNDS; i++) {
      const started = performance.now();
      await writeFile(join(work, "one", "style.md"), text(i));
      git(join(work, "one"), "commit", "-q", "-a", "-m", String(i));
      git(join(work, "one"), "push", "-q", "origin", "HEAD");
      git(join(work, "two"), "pull", "-q");
      gitTimes.push(performance.now() - started);
    }

    const canonMedian = median(latencies);
    const gitMedian = median(gitTimes);
    const fmt = (value) => `${value.toFixed(1)} ms`;
    return {
      columns: ["Measurement", "Median", "p95", "Samples"],
      rows: [
        {
          cells: [
            "live `publish` on A → verified on B (`watch`)",
            fmt(canonMedian),
            fmt(percentile(latencies, 95)),
            String(latencies.length),
          ],
          meaning:
            "A stays connected: fold, sign, write, wait until the relay holds it; B's watcher receives it, folds and verifies the space, and reports it.",
        },
        {
          cells: [
            `fan-out: live \`publish\` → verified on all ${SUBSCRIBERS} watchers`,
            fmt(median(fanoutTimes)),
            fmt(percentile(fanoutTimes, 95)),
            String(fanoutTimes.length),
          ],
          meaning: `${SUBSCRIBERS} replicas, each watching through the same relay, all in this process (so their folds share its one thread).`,
        },
        {
          cells: [
            "git: commit -a + push, then pull in clone 2",
            fmt(gitMedian),
            fmt(percentile(gitTimes, 95)),
            String(gitTimes.length),
          ],
          meaning: "The same 5 KB update carried the way teams do it today, in the same run.",
        },
      ],
      checks: [
        {
          target: "median publish-to-visible < 50 ms on loopback",
          measured: fmt(canonMedian),
          pass: canonMedian < 50,
        },
        {
          target: "≥ 5× faster than the git round trip",
          measured: `${(gitMedian / canonMedian).toFixed(1)}×`,
          pass: gitMedian / canonMedian >= 5,
        },
      ],
      notes: [
        `${RELEASES} releases of ${SIZE / 1024} KB published one after another; a space whose history grows to ${RELEASES + 3} releases.`,
      ],
    };
  } finally {
    await live?.close().catch(() => {});
    await stopWatch?.().catch(() => {});
    for (const stop of stopFanout) await stop().catch(() => {});
    await relay?.stop().catch(() => {});
    // automerge-repo saves sync state on a 100 ms throttle after the last message.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await rm(work, { recursive: true, force: true });
  }
}

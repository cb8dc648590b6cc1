import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest } from "node:http";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { CANON_BIN } from "./helpers/cli.js";
import { listenAsFront } from "./helpers/front-server.js";
import { until } from "./helpers/owner-homes.js";
import { ownerHomesPerFile } from "./helpers/owner-homes-per-file.js";
import { type RelayProcess, startRelay } from "./helpers/processes.js";

// A `canon sync` run after another home's `canon sync` reported success
// receives what that home pushed, also when it goes through an owner process
// that holds its relay connection open between commands, or that connected
// to the same relay before (docs/decisions/2026-11-29-sync-freshness.md).
// Real processes: owners, thin clients, a relay on 127.0.0.1.

const SLOW_INDEX = resolve(import.meta.dirname, "helpers/slow-index-writes.cjs");
const PROBE = resolve(import.meta.dirname, "helpers/automerge-probe.cjs");

const { dir, homes } = ownerHomesPerFile("canon-owner-sync-");
const alone = { CANON_NO_OWNER: "1" };

/** An owner home A with a space synced to `relay`, and a contributor B who joined it. */
async function twoHomes(name: string, relay: RelayProcess) {
  const { home: a, space } = await homes.homeWithSpace(`${name}-a`);
  await homes.ok(a, ["sync", "--relay", relay.url], alone);
  const b = join(dir, `${name}-b`);
  const did = JSON.parse((await homes.ok(b, ["init", "--json"], alone)).stdout).did as string;
  await homes.ok(a, ["member", "add", did, "--role", "contributor"], alone);
  await homes.ok(a, ["sync"], alone);
  await homes.ok(b, ["space", "join", space, "--relay", relay.url], alone);
  return { a, b };
}

/** The CIDs of the corrections of `s` a home holds, read from its files (no owner). */
async function corrections(home: string): Promise<string[]> {
  const listed = JSON.parse((await homes.ok(home, ["corrections", "s", "--json"], alone)).stdout);
  return (listed.corrections as { cid: string }[]).map((entry) => entry.cid);
}

async function correct(home: string, text: string, extra: Record<string, string> = alone) {
  return JSON.parse((await homes.ok(home, ["correct", "s", text, "--json"], extra)).stdout)
    .cid as string;
}

describe("sync through an owner process", () => {
  it("receives what another home's sync pushed, round after round, through the connection the owner holds", async () => {
    const relay = await startRelay(await mkdtemp(join(dir, "relay-")));
    const { a, b } = await twoHomes("held", relay);
    await homes.startOwner(a);
    // The first sync through A's owner opens the connection it then holds.
    await homes.ok(a, ["sync"]);
    for (let round = 0; round < 4; round++) {
      const lesson = await correct(b, `lesson ${round}`);
      await homes.ok(b, ["sync"], alone);
      // (It may arrive before A's sync: the owner's connection hears of it live.)
      await homes.ok(a, ["sync"]);
      expect(await corrections(a), `round ${round}`).toContain(lesson);
    }
  });

  it("after the relay came back on another port, receives what was pushed while the owner was away from it", async () => {
    const data = await mkdtemp(join(dir, "relay-"));
    const first = await startRelay(data);
    const { a, b } = await twoHomes("moved", first);
    await homes.startOwner(a);
    await homes.startOwner(b);
    // A's owner exchanges something with the relay (a new version): it then knows the relay's heads.
    const file = join(dir, "moved-a.md");
    await writeFile(file, "version 2\n");
    await homes.ok(a, ["publish", "s", file]);
    await homes.ok(a, ["sync"]);
    await first.stop();

    // B corrects offline, through its owner; the relay comes back with the same data on a new port.
    const lesson = await correct(b, "written offline", {});
    const second = await startRelay(data);
    await homes.ok(b, ["sync", "--relay", second.url, "--remember"]);
    const synced = JSON.parse(
      (await homes.ok(a, ["sync", "--relay", second.url, "--remember", "--json"])).stdout,
    );
    expect(synced.received.map((record: { cid: string }) => record.cid)).toContain(lesson);
    expect(await corrections(a)).toContain(lesson);
    // What the owner publishes next can incorporate it (the demo's step).
    await writeFile(file, "version 3\n");
    await homes.ok(a, ["publish", "s", file, "--incorporates", lesson]);
  });
});

describe("publish, then show on another home, with no sync (docs/decisions/2026-11-30-round-trip.md)", () => {
  it("B's show prints what A's publish put on the relay, waiting for B's owner to write it to the read index", async () => {
    const relay = await startRelay(await mkdtemp(join(dir, "relay-")));
    const { a, b } = await twoHomes("fewer", relay);
    await homes.startOwner(a);
    // B's owner takes 700 ms to write each read index (test/helpers/slow-index-writes.cjs):
    // a show that did not wait for it would print the version before.
    await homes.startOwner(b, ["--require", SLOW_INDEX]);
    // Each owner's first sync opens the connection it then holds.
    await homes.ok(a, ["sync"]);
    await homes.ok(b, ["sync"]);
    const file = join(dir, "fewer-a.md");
    for (let round = 2; round <= 4; round++) {
      await writeFile(file, `version ${round}\n`);
      // Returns once the relay holds the release (A's owner holds a connection).
      await homes.ok(a, ["publish", "s", file]);
      const shown = await homes.ok(b, ["show", "s"]);
      expect(shown.stdout, `round ${round}`).toBe(`version ${round}\n`);
    }
  });

  it("B's show answers from the read index B's owner wrote (no Automerge loaded), round after round", async () => {
    const relay = await startRelay(await mkdtemp(join(dir, "relay-")));
    const { a, b } = await twoHomes("indexed", relay);
    await homes.startOwner(a);
    await homes.startOwner(b);
    await homes.ok(a, ["sync"]);
    await homes.ok(b, ["sync"]);
    const file = join(dir, "indexed-a.md");
    for (let round = 2; round <= 5; round++) {
      await writeFile(file, `version ${round}\n`);
      await homes.ok(a, ["publish", "s", file]);
      const shown = spawnSync(process.execPath, ["--require", PROBE, CANON_BIN, "show", "s"], {
        env: homes.env(b),
        encoding: "utf8",
        timeout: 60_000,
      });
      expect(shown.stdout, `round ${round}`).toBe(`version ${round}\n`);
      expect(shown.stderr, `round ${round}`).toContain("automerge:not loaded");
    }
  });

  it("a refresh mark left by an owner that is gone never holds up a read", async () => {
    const { home } = await homes.homeWithSpace("stale-mark");
    // A pid that no process holds (the kernel's pids stay below 2^22).
    await writeFile(join(home, "owner.refreshing"), "4194303");
    const began = Date.now();
    const shown = await homes.ok(home, ["show", "s"]);
    expect(shown.stdout).toBe("version 1\n");
    expect(Date.now() - began).toBeLessThan(1_500);
  });
});

describe("a sync through an owner already in step with the relay", () => {
  it("is one request to the relay, answered 304, once the owner received a release live", async () => {
    const relay = await startRelay(await mkdtemp(join(dir, "relay-")));
    // Every plain HTTP request the homes make to the relay passes here and is noted.
    const requests: string[] = [];
    const server = createServer((incoming, answer) => {
      const upstream = httpRequest(
        {
          host: "127.0.0.1",
          port: relay.port,
          method: incoming.method,
          path: incoming.url,
          headers: incoming.headers,
        },
        (response) => {
          requests.push(`${incoming.method} ${incoming.url?.split("?")[0]} ${response.statusCode}`);
          answer.writeHead(response.statusCode ?? 502, response.headers);
          response.pipe(answer);
        },
      );
      upstream.on("error", () => answer.destroy());
      incoming.pipe(upstream);
    });
    const front = await listenAsFront(server, relay.port);
    try {
      const { a, b } = await twoHomes("confirm", { ...relay, url: front.url });
      await homes.startOwner(a);
      await homes.startOwner(b);
      await homes.ok(a, ["sync"]);
      await homes.ok(b, ["sync"]);
      const file = join(dir, "confirm-a.md");
      await writeFile(file, "version 2\n");
      await homes.ok(a, ["publish", "s", file]);
      // B's owner receives it over its connection and writes it to B's read index.
      await until("B's show printing version 2", async () =>
        (await homes.ok(b, ["show", "s"])).stdout === "version 2\n" ? true : undefined,
      );
      await until("B's owner done refreshing", async () =>
        existsSync(join(b, "owner.refreshing")) ? undefined : true,
      );
      requests.length = 0;
      const synced = JSON.parse((await homes.ok(b, ["sync", "--json"])).stdout);
      expect(synced.exchanged).toBe(0);
      expect(requests).toEqual([expect.stringMatching(/^GET \/heads\/\S+ 304$/)]);
      // Without the in-step mark, the relay's whole summary is read: still one request,
      // no /healthz probe (the owner's live connection says the relay is up).
      for (const name of readdirSync(join(b, "index")))
        if (name.endsWith(".in-step")) rmSync(join(b, "index", name));
      requests.length = 0;
      await homes.ok(b, ["sync"]);
      expect(requests).toEqual([expect.stringMatching(/^GET \/heads\/\S+ 200$/)]);
    } finally {
      await front.close();
    }
  });
});

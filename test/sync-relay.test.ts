import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { startCanon, startRelay } from "./helpers/processes.js";
import { twoHomesEachTest } from "./helpers/two-homes.js";

let a: Sandbox;
let b: Sandbox;
let relayData: string;
twoHomesEachTest((homes) => ({ a, b, relayData } = homes));

/** A owns a space with one release; B is initialised and made a maintainer. */
async function twoOwners() {
  a.ok("init");
  const bDid = b.ok("init", "--json").json<{ did: string }>().did;
  const { url } = a.ok("space", "create", "shared", "--json").json<{ url: string }>();
  a.ok("member", "add", bDid, "--role", "maintainer");
  const v1 = a
    .ok("publish", "style", await a.file("s.md", "v1\n"), "--json")
    .json<{ cid: string; release: string }>();
  return { url, bDid, v1 };
}

type Log = { forked: boolean; releases: { release: string; version: number; head: boolean }[] };

describe("sync through a relay (real processes on 127.0.0.1)", () => {
  it("owner A publishes, owner B syncs through the relay and reads the same CID", async () => {
    const relay = await startRelay(relayData);
    const { url, v1 } = await twoOwners();
    const pushed = a
      .ok("sync", "--relay", relay.url, "--json")
      .json<{ synced: boolean; sent: { cid: string }[] }>();
    expect(pushed.synced).toBe(true);
    expect(pushed.sent.map((r) => r.cid)).toContain(v1.release);
    expect(b.canon("show", "style").status).toBe(3); // nothing yet: no space
    const joined = b
      .ok("space", "join", url, "--relay", relay.url, "--json")
      .json<{ received: { cid: string }[] }>();
    expect(joined.received.map((r) => r.cid)).toContain(v1.release);
    const shown = b
      .ok("show", "style", "--json")
      .json<{ cid: string; release: string; content: string; lastSync: string }>();
    expect(shown).toMatchObject({ cid: v1.cid, release: v1.release, content: "v1\n" });
    expect(Date.parse(shown.lastSync)).toBeGreaterThan(Date.now() - 60_000);
    const health = await (await fetch(`http://127.0.0.1:${relay.port}/healthz`)).json();
    expect(health).toMatchObject({ ok: true, documents: 2 });
    expect(await relay.stop("SIGTERM")).toBe(0);
  });

  it("shows progress on a terminal during a sync, and nothing extra when stderr is not one", async () => {
    const relay = await startRelay(relayData);
    await twoOwners();
    const piped = a.ok("sync", "--relay", relay.url);
    expect(piped.stderr).toBe("");
    const { spawnSync } = await import("node:child_process");
    const { CANON_BIN } = await import("./helpers/cli.js");
    // `script` gives the command a terminal; what it prints comes back through it.
    const onTerminal = spawnSync(
      "script",
      ["-qec", `"${process.execPath}" "${CANON_BIN}" sync`, "/dev/null"],
      { env: { ...process.env, CANON_HOME: a.home }, encoding: "utf8", timeout: 60_000 },
    );
    expect(onTerminal.status).toBe(0);
    expect(onTerminal.stdout).toMatch(/canon: syncing… \d+ of \d+ document\(s\) in step/);
    expect(onTerminal.stdout).toMatch(/Synced with/);
  });

  it("a one-off --relay does not replace the remembered relay; --remember does", async () => {
    const relay = await startRelay(relayData);
    await twoOwners();
    a.ok("sync", "--relay", relay.url);
    const otherData = await mkdtemp(join(tmpdir(), "canon-relay-"));
    try {
      const other = await startRelay(otherData);
      expect(a.ok("sync", "--relay", other.url, "--json").json<{ relay: string }>().relay).toBe(
        other.url,
      );
      expect(a.ok("sync", "--json").json<{ relay: string }>().relay).toBe(relay.url);
      a.ok("sync", "--relay", other.url, "--remember");
      expect(a.ok("sync", "--json").json<{ relay: string }>().relay).toBe(other.url);
    } finally {
      await rm(otherData, { recursive: true, force: true });
    }
  });

  it("keeps working offline while the relay is down; after it returns both owners hold both releases and see the fork", async () => {
    let relay = await startRelay(relayData);
    const { url } = await twoOwners();
    a.ok("sync", "--relay", relay.url);
    b.ok("space", "join", url, "--relay", relay.url);
    expect(await relay.stop("SIGTERM")).toBe(0);

    const fromA = a
      .ok("publish", "style", await a.file("s.md", "A's v2\n"), "--json")
      .json<{ release: string }>();
    const fromB = b
      .ok("publish", "style", await b.file("s.md", "B's v2\n"), "--json")
      .json<{ release: string }>();
    expect(b.ok("show", "style").stdout).toBe("B's v2\n");
    const offline = b.canon("sync", "--timeout", "2");
    expect(offline.status).toBe(5);
    expect(offline.stderr).toMatch(
      /^canon: cannot reach relay ws:\/\/127\.0\.0\.1:\d+ .*unchanged/,
    );
    expect(b.ok("show", "style").stdout).toBe("B's v2\n");

    relay = await startRelay(relayData, { port: relay.port });
    a.ok("sync");
    b.ok("sync");
    a.ok("sync");
    for (const owner of [a, b]) {
      const log = owner.ok("log", "style", "--json").json<Log>();
      expect(log.forked).toBe(true);
      expect(
        log.releases
          .filter((r) => r.head)
          .map((r) => r.release)
          .sort(),
      ).toEqual([fromA.release, fromB.release].sort());
      expect(log.releases).toHaveLength(3);
      expect(owner.ok("ls").stdout).toMatch(/FORKED \(2 heads\)/);
    }
  });

  it("converges after the relay is killed with SIGKILL in the middle of syncing a large space, and its data is intact", async () => {
    let relay = await startRelay(relayData);
    const { url } = await twoOwners();
    // A large space: 40 standards of 64 KB each, built in one process through the store.
    const store = await import("../packages/store/dist/index.js");
    const home = store.canonHome(a.home);
    const signer = await store.loadIdentity(home);
    for (let i = 0; i < 40; i++) {
      const file = await a.file(`big-${i}.md`, `${i}\n${"x".repeat(64 * 1024)}`);
      await store.publish(home, signer, { standard: `big-${i}`, file });
    }
    const sync = startCanon(["sync", "--relay", relay.url, "--timeout", "20", "--json"], a.home);
    // Kill the relay as soon as A is connected and sending.
    for (let tries = 0; tries < 2000; tries++) {
      const health = (await (await fetch(`http://127.0.0.1:${relay.port}/healthz`)).json()) as {
        peers: number;
      };
      if (health.peers > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await relay.stop("SIGKILL");
    expect(await sync.stop("SIGCONT")).not.toBe(0);

    relay = await startRelay(relayData, { port: relay.port });
    // The killed sync did not finish, so the relay was not remembered: name it.
    a.ok("sync", "--relay", relay.url, "--timeout", "60");
    b.ok("space", "join", url, "--relay", relay.url, "--timeout", "60");
    const listA = a.ok("ls", "--json").json<{ standards: unknown[] }>();
    const listB = b.ok("ls", "--json").json<{ standards: unknown[] }>();
    expect(listB.standards).toHaveLength(41);
    expect(listB.standards).toEqual(listA.standards);
    expect(b.ok("show", "big-39").stdout.startsWith("39\nxxx")).toBe(true);
    // Restarted on the same data, the relay still serves every document it stored.
    expect(await relay.stop("SIGTERM")).toBe(0);
    relay = await startRelay(relayData, { port: relay.port });
    const c = await sandbox();
    try {
      c.ok("init");
      c.ok("space", "join", url, "--relay", relay.url, "--timeout", "60");
      expect(c.ok("ls", "--json").json<{ standards: unknown[] }>().standards).toEqual(
        listA.standards,
      );
    } finally {
      await c.dispose();
    }
  });

  it("refuses a client with no token or the wrong one before any document is exchanged; the right token syncs", async () => {
    const relay = await startRelay(relayData, { token: "s3cret" });
    const { url } = await twoOwners();
    const anonymous = a.canon("sync", "--relay", relay.url);
    expect(anonymous.status).toBe(5);
    expect(anonymous.stderr).toMatch(/refused the token \(no token given; pass --token\)/);
    expect(a.canon("sync", "--relay", relay.url, "--token", "guess").stderr).toMatch(
      /refused the token \(wrong token\)/,
    );
    // The relay stored no document (only its own storage id, under "st/").
    expect((await readdir(relayData)).filter((entry) => entry !== "st")).toEqual([]);
    a.ok("sync", "--relay", relay.url, "--token", "s3cret");

    const intruder = b.canon("space", "join", url, "--relay", relay.url, "--token", "nope");
    expect(intruder.status).toBe(5);
    expect(b.canon("ls").status).toBe(3); // learned nothing: still no space
    expect((await fetch(`http://127.0.0.1:${relay.port}/healthz`)).status).toBe(401);
    // A raw WebSocket without the token is refused at the upgrade.
    const { default: WebSocket } = await import("ws");
    const refused = await new Promise<number>((resolve) => {
      const socket = new WebSocket(relay.url);
      socket.on("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
      socket.on("open", () => resolve(101));
      socket.on("error", () => {});
    });
    expect(refused).toBe(401);
    b.ok("space", "join", url, "--relay", relay.url, "--token", "s3cret");
    expect(b.ok("show", "style").stdout).toBe("v1\n");
  });

  it("two peered relays, one client on each, converge", async () => {
    const otherData = await mkdtemp(join(tmpdir(), "canon-relay-"));
    try {
      const first = await startRelay(relayData);
      const second = await startRelay(otherData, { peers: [first.url] });
      const { url } = await twoOwners();
      a.ok("sync", "--relay", first.url);
      b.ok("space", "join", url, "--relay", second.url, "--timeout", "20");
      expect(b.ok("show", "style").stdout).toBe("v1\n");
      const fromB = b
        .ok("publish", "tone", await b.file("t.md", "calm\n"), "--json")
        .json<{ release: string }>();
      b.ok("sync");
      let seen = false;
      for (let tries = 0; tries < 50 && !seen; tries++) {
        const report = a.ok("sync", "--json").json<{ received: { cid: string }[] }>();
        seen =
          report.received.some((r) => r.cid === fromB.release) ||
          a.canon("show", "tone").status === 0;
        if (!seen) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(a.ok("show", "tone").stdout).toBe("calm\n");
      expect(a.ok("ls", "--json").json<{ standards: unknown[] }>().standards).toEqual(
        b.ok("ls", "--json").json<{ standards: unknown[] }>().standards,
      );
    } finally {
      await rm(otherData, { recursive: true, force: true });
    }
  });

  it("fails within its timeout with a clear message when nothing listens on the port", async () => {
    await twoOwners();
    const port = await freePort();
    const started = Date.now();
    const run = a.canon("sync", "--relay", `ws://127.0.0.1:${port}`, "--timeout", "3");
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(run.status).toBe(5);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toMatch(
      new RegExp(`^canon: cannot reach relay ws://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`),
    );
  });
});

describe("sync refuses bad input", () => {
  it("a malformed space URL, a non-WebSocket relay URL, a bad timeout", async () => {
    await twoOwners();
    let run = b.canon("space", "join", "canon:nope", "--relay", "ws://127.0.0.1:1");
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^canon: "canon:nope" is not a space URL/);
    run = a.canon("sync", "--relay", "http://127.0.0.1:1234");
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/is not a WebSocket URL/);
    run = a.canon("sync", "--relay", "ws://127.0.0.1:1", "--timeout", "soon");
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--timeout must be a number of seconds/);
    run = a.canon("sync");
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/no relay is known for this space; pass --relay/);
  });

  it("a relay data dir that is not writable", async () => {
    const blocker = await a.file("not-a-dir", "x");
    const run = a.canon("relay", "--port", "0", "--data", join(blocker, "data"));
    expect(run.status).toBe(4);
    expect(run.stderr).toMatch(/^canon: cannot write .*not-a-dir\/data/);
  });

  it("a relay that sends garbage or closes mid-message: clear error, local replica untouched", async () => {
    const { url } = await twoOwners();
    const before = await listTree(a.home);
    for (const behaviour of ["garbage", "close"] as const) {
      const server = await fakeRelay(behaviour);
      try {
        const run = await a.canonAsync("sync", "--relay", server.url, "--timeout", "3");
        expect(run.status, `${behaviour}: ${run.stderr}`).toBe(5);
        expect(run.stderr.trim().split("\n")).toHaveLength(1);
        expect(run.stderr).toMatch(
          /^canon: relay ws:\/\/127\.0\.0\.1:\d+ did not answer as a sync peer within 3 s/,
        );
        const joined = await b.canonAsync(
          "space",
          "join",
          url,
          "--relay",
          server.url,
          "--timeout",
          "3",
        );
        expect(joined.status).toBe(5);
      } finally {
        await server.close();
      }
    }
    expect(await listTree(a.home)).toEqual(before);
    expect(b.canon("ls").status).toBe(3);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A server that looks like a relay over HTTP, then misbehaves on the WebSocket. */
async function fakeRelay(behaviour: "garbage" | "close") {
  const wss = new WebSocketServer({ noServer: true });
  const http = createServer((_request, response) => {
    response
      .writeHead(200, { "content-type": "application/json" })
      .end('{"ok":true,"peers":0,"documents":0}');
  });
  http.on("upgrade", (request, socket, head) => {
    wss.handleUpgrade(request, socket, head, (ws) => {
      if (behaviour === "garbage") {
        ws.send(Buffer.from([0xff, 0x00, 0x13, 0x37, 0xde, 0xad]));
        ws.send(Buffer.from("{not cbor at all"));
      } else {
        // Half a frame, then the connection drops.
        socket.write(Buffer.from([0x82, 0x7e, 0x01, 0x00, 0xa1]));
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

async function listTree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true });
  return entries.filter((entry) => !entry.startsWith("config.json")).sort();
}

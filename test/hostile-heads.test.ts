import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";
import { type HeadsFront, okAsync, spaceBehindHeadsFront } from "./helpers/heads-front.js";
import { stopAll } from "./helpers/processes.js";

// A relay (or whoever owns it) answering `GET /heads/<space>`, which every
// sync asks first, with a summary that never ends or declares a gigabyte.
// The homes talk to a real relay through a front in this process that lies
// on that one route.

let a: Sandbox;
let b: Sandbox;
let relayData: string;
let front: HeadsFront | undefined;
beforeEach(async () => {
  [a, b] = await Promise.all([sandbox(), sandbox()]);
  relayData = await mkdtemp(join(tmpdir(), "canon-relay-"));
});
afterEach(async () => {
  await front?.close();
  front = undefined;
  await stopAll();
  for (const home of [a, b]) await home.dispose();
  await rm(relayData, { recursive: true, force: true });
});

const ok = okAsync;

const MIB = 1024 * 1024;

describe("a heads summary without end", () => {
  it("is refused at 32 MiB with one line and exit 5, and nothing here is lost or marked", async () => {
    const shared = await spaceBehindHeadsFront(a, b, relayData);
    front = shared.front;
    const index = join(b.home, "index");
    const before = (await readdir(index)).sort();

    front.mode = "endless";
    const refused = await b.canonAsync("sync");
    expect(refused.status).toBe(5);
    const lines = refused.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/heads summary of space \S+ is over 32 MiB/);
    expect(lines[0]).toContain("refused");
    // The home stopped reading at the limit: what the front got out is the limit and the socket buffers.
    expect(front.hostileBytes).toBeGreaterThan(32 * MIB);
    expect(front.hostileBytes).toBeLessThan(48 * MIB);
    // Nothing of the answer was kept: no in-step mark or other cache file appeared.
    expect((await readdir(index)).sort()).toEqual(before);
    expect((await ok(b, "show", "tone")).stdout).toBe("tone v1\n");

    // A length declared past the limit is refused before a byte of the body is read.
    front.mode = "huge-length";
    const declared = await b.canonAsync("sync");
    expect(declared.status).toBe(5);
    expect(declared.stderr.trim()).toMatch(
      /^[^\n]*heads summary of space \S+ is over 32 MiB[^\n]*$/,
    );

    // An honest relay again: the sync goes on from what the home held.
    front.mode = "honest";
    a.ok("publish", "tone", await a.file("tone.md", "tone v2\n"));
    a.ok("sync");
    await ok(b, "sync");
    expect((await ok(b, "show", "tone")).stdout).toBe("tone v2\n");
  });
});

describe("a heads summary listing made-up documents", () => {
  it("is no answer past 1,000 documents this home lacks: the sync reads the space's routes instead", async () => {
    const shared = await spaceBehindHeadsFront(a, b, relayData);
    front = shared.front;
    a.ok("publish", "tone", await a.file("tone.md", "tone v2\n"));
    a.ok("sync");

    // 2,000 ids no one has beside the relay's own: the home would look for each one and
    // report it missing. It syncs every routed document instead, and misses nothing.
    front.mode = "padded";
    const synced = (await ok(b, "sync", "--json")).json<{ missing: unknown[] }>();
    expect(front.heads.at(-1)?.status).toBe(200);
    expect(synced.missing).toEqual([]);
    expect((await ok(b, "show", "tone")).stdout).toBe("tone v2\n");
  }, 120_000);
});

describe("a /healthz answer without end", () => {
  it("is refused past 64 KiB with one line and exit 5, before any document is exchanged", async () => {
    // Not a relay: a server that answers every sync's probe with a body that never ends.
    let sent = 0;
    const server = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "application/json" });
      response.write('{"ok":true,"peers":1,"documents":1,"pad":"');
      const chunk = Buffer.alloc(64 * 1024, "x");
      const pump = () => {
        while (!response.destroyed && response.write(chunk)) sent += chunk.length;
        if (!response.destroyed) response.once("drain", pump);
      };
      response.on("close", () => response.removeAllListeners("drain"));
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      a.ok("init");
      a.ok("space", "create", "alone");
      const refused = await a.canonAsync("sync", "--relay", `ws://127.0.0.1:${port}`);
      expect(refused.status).toBe(5);
      const lines = refused.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/answered \/healthz with more than 64 KiB/);
      // Read up to the limit, plus what the socket buffers held.
      expect(sent).toBeLessThan(16 * MIB);
      expect(a.ok("ls").status).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

import { type AddressInfo, createServer } from "node:net";
import { describe, expect, it } from "vitest";
import type { Sandbox } from "./helpers/cli.js";
import { startCanon, startRelay } from "./helpers/processes.js";
import { twoHomesEachTest } from "./helpers/two-homes.js";

let a: Sandbox;
let b: Sandbox;
let relayData: string;
twoHomesEachTest((homes) => ({ a, b, relayData } = homes));

type WatchLine = {
  event: string;
  record?: { type: string; standard?: string; version?: number; cid: string };
};
const parse = (line: string) => JSON.parse(line) as WatchLine;

describe("live updates and direct sync", () => {
  it("watch prints each new release as it arrives, and reconnects with backoff when the relay goes away", async () => {
    let relay = await startRelay(relayData);
    a.ok("init");
    const { url } = a.ok("space", "create", "live", "--json").json<{ url: string }>();
    a.ok("publish", "style", await a.file("s.md", "v1\n"));
    a.ok("sync", "--relay", relay.url);
    b.ok("init");
    b.ok("space", "join", url, "--relay", relay.url);

    const watch = startCanon(["watch", "--json"], b.home);
    await watch.waitForLine((line) => parse(line).event === "connected");
    const v2 = a
      .ok("publish", "style", await a.file("s.md", "v2\n"), "--json")
      .json<{ release: string }>();
    a.ok("sync");
    const seen = parse(await watch.waitForLine((line) => parse(line).record?.cid === v2.release));
    expect(seen.record).toMatchObject({ type: "canon/release", standard: "style", version: 2 });
    // The watcher keeps the home current: a plain read sees v2 at once.
    expect(b.ok("show", "style").stdout).toBe("v2\n");

    await relay.stop("SIGKILL");
    await watch.waitForLine((line) => parse(line).event === "disconnected");
    relay = await startRelay(relayData, { port: relay.port });
    const reconnects = watch.lines.filter((line) => parse(line).event === "connected").length;
    await watch.waitForLine(
      (line) =>
        parse(line).event === "connected" &&
        watch.lines.filter((l) => parse(l).event === "connected").length > reconnects,
      30_000,
    );
    const v3 = a
      .ok("publish", "style", await a.file("s.md", "v3\n"), "--json")
      .json<{ release: string }>();
    a.ok("sync");
    await watch.waitForLine((line) => parse(line).record?.cid === v3.release);
    const retries = watch.lines
      .map(parse)
      .filter((event) => event.event === "disconnected") as unknown as { retryInMs: number }[];
    expect(retries.length).toBeGreaterThan(0);
    expect(await watch.stop("SIGTERM")).toBe(0);
    // Every line was one JSON object.
    for (const line of watch.lines) expect(() => JSON.parse(line)).not.toThrow();
  });

  it("watch stops at once on SIGTERM, even while a connection attempt hangs", async () => {
    // A server that accepts TCP connections and never answers: the WebSocket
    // handshake hangs until the 5 s connect timeout.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      b.ok("init");
      b.ok("space", "create", "s");
      const watch = startCanon(["watch", "--json", "--relay", `ws://127.0.0.1:${port}`], b.home);
      // Let it start connecting (no line is printed until the attempt fails).
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const asked = Date.now();
      expect(await watch.stop("SIGTERM")).toBe(0);
      // Well under the 5 s the hanging attempt would otherwise take.
      expect(Date.now() - asked).toBeLessThan(3_000);
    } finally {
      silent.close();
    }
  });

  it("two owners sync directly: one serves its replica, the other syncs with it; no relay", async () => {
    a.ok("init");
    const { url } = a.ok("space", "create", "lan", "--json").json<{ url: string }>();
    const v1 = a
      .ok("publish", "style", await a.file("s.md", "served\n"), "--json")
      .json<{ cid: string }>();
    const serve = startCanon(["serve", "--port", "0", "--json"], a.home);
    const { url: peerUrl } = JSON.parse(
      await serve.waitForLine((line) => line.startsWith("{")),
    ) as { url: string };
    b.ok("init");
    const joined = b
      .ok("space", "join", url, "--relay", peerUrl, "--json")
      .json<{ received: { cid: string }[] }>();
    expect(joined.received.length).toBe(2);
    expect(b.ok("show", "style", "--json").json<{ cid: string }>().cid).toBe(v1.cid);
    expect(b.ok("ls", "--json").json<{ lastSync: string | null }>().lastSync).not.toBeNull();
    expect(
      b.ok("log", "style", "--json").json<{ lastSync: string | null }>().lastSync,
    ).not.toBeNull();
    expect(await serve.stop("SIGTERM")).toBe(0);
    // A's replica, served and stopped, still reads.
    expect(a.ok("show", "style").stdout).toBe("served\n");
    expect(a.ok("ls", "--json").json<{ lastSync: string | null }>().lastSync).toBeNull();
  });
});

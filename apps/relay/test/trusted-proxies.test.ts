import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { killRelayProcesses, RELAY_MAIN, startRelayProcess } from "./helpers/relay-process.js";

// Behind a reverse proxy every client reaches the relay from the proxy's
// address. With CANON_RELAY_TRUSTED_PROXIES the relay keeps its per-address
// limits for the client X-Forwarded-For names, but only when the request
// comes from a trusted proxy: from anyone else the header is forged and
// ignored. The limit observed here is the heads summaries an address may ask
// for a minute (set to 2), on the real relay process; the test runs from
// 127.0.0.1, which is the "proxy" when trusted.

/** A space the relay does not hold: each request still draws on its address's budget, and is answered 404. */
const SPACE = "4NMNnkMhL8jXrdJ9jamS58PAVdXu";

let directory: string;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "canon-trusted-proxies-"));
});
afterEach(killRelayProcesses);
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** `GET /heads/<SPACE>` from `host` with `X-Forwarded-For: forwardedFor` (none when undefined); the status. */
function headsStatus(port: number, forwardedFor?: string, host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor };
    const outgoing = request(
      { host, port, path: `/heads/${SPACE}`, headers, agent: false },
      (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
      },
    );
    outgoing.on("error", reject);
    outgoing.end();
  });
}

async function relayWith(trusted: string | undefined, name: string) {
  return startRelayProcess({
    CANON_RELAY_DATA: join(directory, name),
    CANON_RELAY_HEADS_REQUESTS_PER_MINUTE: "2",
    ...(trusted === undefined ? {} : { CANON_RELAY_TRUSTED_PROXIES: trusted }),
  });
}

describe("CANON_RELAY_TRUSTED_PROXIES", () => {
  it("ignores X-Forwarded-For by default: every forged client shares the peer's budget", async () => {
    const relay = await relayWith(undefined, "default");
    const { port } = relay.started;
    expect(await headsStatus(port, "203.0.113.1")).toBe(404);
    expect(await headsStatus(port, "203.0.113.2")).toBe(404);
    expect(await headsStatus(port, "203.0.113.3")).toBe(429);
  });

  it("ignores X-Forwarded-For from a peer that is not a trusted proxy", async () => {
    const relay = await relayWith("10.0.0.0/8, fd00::/8", "untrusted");
    const { port } = relay.started;
    expect(await headsStatus(port, "203.0.113.1")).toBe(404);
    expect(await headsStatus(port, "203.0.113.2")).toBe(404);
    expect(await headsStatus(port, "203.0.113.3")).toBe(429);
  });

  it("keeps the budget of the client a trusted proxy names, right-most untrusted address first", async () => {
    const relay = await relayWith("127.0.0.1", "trusted");
    const { port } = relay.started;
    expect(await headsStatus(port, "203.0.113.1")).toBe(404);
    expect(await headsStatus(port, "203.0.113.1")).toBe(404);
    expect(await headsStatus(port, "203.0.113.1")).toBe(429);
    // Another client behind the same proxy has a budget of its own.
    expect(await headsStatus(port, "203.0.113.2")).toBe(404);
    // What a client writes left of the address the proxy appended changes nothing,
    // and a trusted proxy's own address on the right is skipped.
    expect(await headsStatus(port, "198.51.100.9, 203.0.113.2, 127.0.0.1")).toBe(404);
    expect(await headsStatus(port, "198.51.100.8, 203.0.113.2")).toBe(429);
    // An IPv6 client counts as its /64, as a direct one does.
    expect(await headsStatus(port, "2001:db8:1:2::1")).toBe(404);
    expect(await headsStatus(port, "2001:db8:1:2::ffff")).toBe(404);
    expect(await headsStatus(port, "2001:db8:1:2:abcd::5")).toBe(429);
  });

  it("reads an address with the client's port as proxies write it (1.2.3.4:5678, [2001:db8::1]:443), not as malformed", async () => {
    const relay = await relayWith("127.0.0.1", "ports");
    const { port } = relay.started;
    // Each client keeps a budget of its own (2), whatever port it came from: before,
    // every one of these counted as malformed and drew on the proxy's one budget.
    expect(await headsStatus(port, "203.0.113.1:5678")).toBe(404);
    expect(await headsStatus(port, "203.0.113.1:5679")).toBe(404);
    expect(await headsStatus(port, "203.0.113.1")).toBe(429);
    expect(await headsStatus(port, "[2001:db8:1:2::1]:443")).toBe(404);
    expect(await headsStatus(port, "198.51.100.9:1, [2001:db8:1:2::7]")).toBe(404);
    expect(await headsStatus(port, "[2001:db8:1:2::8]:8443")).toBe(429);
    // Only those forms: a bad port, an unbracketed IPv6 with a port, or junk after the
    // bracket is malformed, and counts as the proxy's own (whose budget is 2).
    expect(await headsStatus(port, "203.0.113.3:0")).toBe(404);
    expect(await headsStatus(port, "203.0.113.4:65536")).toBe(404);
    expect(await headsStatus(port, "[2001:db8::1]x")).toBe(429);
    expect(await headsStatus(port, "203.0.113.5:80:80")).toBe(429);
    expect(relay.child.exitCode).toBeNull();
  });

  it("counts a request with a malformed header, or none, as the proxy's own, and keeps serving", async () => {
    const relay = await relayWith("127.0.0.1", "malformed");
    const { port } = relay.started;
    expect(await headsStatus(port, "not an address")).toBe(404);
    expect(await headsStatus(port, "203.0.113.1, 127.1, ")).toBe(404);
    expect(await headsStatus(port)).toBe(429);
    expect(await headsStatus(port, "0x7f.0.0.1")).toBe(429);
    // A well-formed header still names its client.
    expect(await headsStatus(port, "203.0.113.7")).toBe(404);
    expect(relay.child.exitCode).toBeNull();
  });

  it("counts an IPv4 client as one address whether its socket says ::ffff:1.2.3.4 or a proxy names 1.2.3.4", async () => {
    // Listening on "::", the socket of a client connecting over IPv4 reports
    // ::ffff:127.0.0.1; the trusted proxy (::1) forwards the same client as 127.0.0.1.
    const relay = await startRelayProcess({
      CANON_RELAY_DATA: join(directory, "dual-stack"),
      CANON_RELAY_HOST: "::",
      CANON_RELAY_HEADS_REQUESTS_PER_MINUTE: "2",
      CANON_RELAY_TRUSTED_PROXIES: "::1",
      CANON_RELAY_LOG_LEVEL: "info",
    });
    const { port } = relay.started;
    expect(await headsStatus(port, undefined, "127.0.0.1")).toBe(404);
    expect(await headsStatus(port, "127.0.0.1", "::1")).toBe(404);
    // One budget of 2, spent by the two forms together.
    expect(await headsStatus(port, undefined, "127.0.0.1")).toBe(429);
    expect(await headsStatus(port, "127.0.0.1", "::1")).toBe(429);
    // The proxy's own budget is its own.
    expect(await headsStatus(port, undefined, "::1")).toBe(404);
    // The connection limits and the log name the client in that one form too.
    const sockets = [
      new WebSocket(`ws://127.0.0.1:${port}/`),
      new WebSocket(`ws://[::1]:${port}/`, { headers: { "x-forwarded-for": "127.0.0.1" } }),
    ];
    await Promise.all(
      sockets.map(
        (socket) =>
          new Promise((resolve, reject) => {
            socket.once("open", resolve);
            socket.once("error", reject);
          }),
      ),
    );
    const opened = () =>
      relay
        .stderr()
        .split("\n")
        .filter((line) => line.includes('"connection-opened"'))
        .map((line) => JSON.parse(line).remoteAddress as string);
    const deadline = Date.now() + 10_000;
    while (opened().length < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 25));
    for (const socket of sockets) socket.terminate();
    expect(opened()).toHaveLength(2);
    for (const address of opened()) expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it.each([["proxy.example.com"], ["10.0.0.0/33"], ["10.0.0.0/8/1"], ["127.1"], [","]])(
    "refuses to start with %j: one line naming the variable, exit 2",
    (value) => {
      const run = spawnSync(process.execPath, [RELAY_MAIN], {
        env: {
          PATH: process.env.PATH,
          CANON_RELAY_DATA: join(directory, "refused"),
          CANON_RELAY_PORT: "0",
          CANON_RELAY_TRUSTED_PROXIES: value,
        },
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(run.status).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(/^canon-relay: CANON_RELAY_TRUSTED_PROXIES /);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
    },
  );
});

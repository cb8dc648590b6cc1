import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CANON_BIN } from "./helpers/cli.js";
import { startRelay, stopAll } from "./helpers/processes.js";

// `canon relay --trusted-proxies` (or CANON_RELAY_TRUSTED_PROXIES) as
// `canon-relay`'s variable (apps/relay/test/trusted-proxies.test.ts): the
// packaged CLI, a real relay process, this test on 127.0.0.1 as the proxy.

/** A space the relay does not hold: each request still draws on its address's budget (404). */
const SPACE = "4NMNnkMhL8jXrdJ9jamS58PAVdXu";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "canon-relay-proxies-"));
});
afterEach(stopAll);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function headsStatus(port: number, forwardedFor: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: "127.0.0.1",
        port,
        path: `/heads/${SPACE}`,
        headers: { "x-forwarded-for": forwardedFor },
        agent: false,
      },
      (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
      },
    );
    outgoing.on("error", reject);
    outgoing.end();
  });
}

describe("canon relay --trusted-proxies", () => {
  it("keeps the budget of the client a trusted proxy names; without the flag, the header is ignored", async () => {
    const limit = ["--heads-requests-per-minute", "2"];
    const trusting = await startRelay(await mkdtemp(join(dir, "data-")), {
      flags: [...limit, "--trusted-proxies", "127.0.0.0/8"],
    });
    for (const client of ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) {
      expect(await headsStatus(trusting.port, client)).toBe(404);
      expect(await headsStatus(trusting.port, client)).toBe(404);
    }
    expect(await headsStatus(trusting.port, "203.0.113.1")).toBe(429);
    const plain = await startRelay(await mkdtemp(join(dir, "data-")), { flags: limit });
    expect(await headsStatus(plain.port, "203.0.113.1")).toBe(404);
    expect(await headsStatus(plain.port, "203.0.113.2")).toBe(404);
    expect(await headsStatus(plain.port, "203.0.113.3")).toBe(429);
  });

  it("refuses a value that is not an address or a range: one line naming the flag, exit 2", () => {
    const run = spawnSync(
      process.execPath,
      [
        CANON_BIN,
        "relay",
        "--port",
        "0",
        "--data",
        join(dir, "refused"),
        "--trusted-proxies",
        "proxy.local",
      ],
      { env: { ...process.env, CANON_HOME: join(dir, "home") }, encoding: "utf8", timeout: 30_000 },
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^canon: --trusted-proxies has "proxy.local"/);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
  });
});

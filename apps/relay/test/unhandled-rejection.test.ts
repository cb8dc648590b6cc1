import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { type RelayProcess, startRelayProcess } from "./helpers/relay-process.js";

const PRELOAD = fileURLToPath(new URL("./helpers/unhandled-rejection.cjs", import.meta.url));
let relay: RelayProcess | undefined;
let data: string | undefined;
afterEach(async () => {
  await relay?.kill("SIGTERM");
  relay = undefined;
  if (data !== undefined) await rm(data, { recursive: true, force: true, maxRetries: 5 });
});

describe("a promise rejected with no handler inside the relay", () => {
  it("is logged, and the relay keeps serving (Node's default would end it, cutting every client off)", async () => {
    data = await mkdtemp(join(tmpdir(), "canon-relay-unhandled-"));
    relay = await startRelayProcess({
      CANON_RELAY_DATA: data,
      NODE_OPTIONS: `--require ${PRELOAD}`,
    });
    await expect
      .poll(() => relay?.stderr() ?? "", { timeout: 10_000, interval: 50 })
      .toContain('"event":"unhandled-rejection"');
    expect(relay.stderr()).toContain("test: a rejection nobody handles");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(relay.child.exitCode).toBeNull();
    const health = await fetch(`http://127.0.0.1:${relay.started.port}/healthz`);
    expect(health.status).toBe(200);
  });
});

import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CANON_BIN } from "./helpers/cli.js";
import { startRelay, stopAll } from "./helpers/processes.js";

// `canon relay` reads each limit's CANON_RELAY_* variable, as `canon-relay`
// does, when its flag is absent (the flag wins): the packaged CLI, a real
// relay process, the heads route's per-address budget as the limit seen.

/** A space the relay does not hold: each request still draws on its address's budget (404). */
const SPACE = "4NMNnkMhL8jXrdJ9jamS58PAVdXu";
const VARIABLE = "CANON_RELAY_HEADS_REQUESTS_PER_MINUTE";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "canon-relay-limit-variables-"));
});
afterEach(stopAll);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The status of `GET /heads/<SPACE>` from this address. */
function headsStatus(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: "127.0.0.1", port, path: `/heads/${SPACE}`, agent: false },
      (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
      },
    );
    outgoing.on("error", reject);
    outgoing.end();
  });
}

/** A relay started by `canon relay` with `variables` set in its environment (startRelay hands it this process's). */
async function relayWith(variables: Record<string, string>, flags: readonly string[] = []) {
  Object.assign(process.env, variables);
  try {
    return await startRelay(await mkdtemp(join(dir, "data-")), { flags });
  } finally {
    for (const name of Object.keys(variables)) delete process.env[name];
  }
}

describe("canon relay's limit variables", () => {
  it("takes a limit from its variable when the flag is absent", async () => {
    const relay = await relayWith({ [VARIABLE]: "1" });
    expect(await headsStatus(relay.port)).toBe(404);
    expect(await headsStatus(relay.port)).toBe(429);
  });

  it("lets the flag win over the variable", async () => {
    const relay = await relayWith({ [VARIABLE]: "1" }, ["--heads-requests-per-minute", "3"]);
    for (let request = 0; request < 3; request++) expect(await headsStatus(relay.port)).toBe(404);
    expect(await headsStatus(relay.port)).toBe(429);
  });

  it("refuses a bad variable: one line naming it, exit 2", () => {
    const environment = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith("CANON_RELAY_")),
    );
    for (const variable of [
      "CANON_RELAY_MAX_MESSAGE_BYTES",
      "CANON_RELAY_CHECK_MILLIS_PER_MINUTE",
    ]) {
      const run = spawnSync(
        process.execPath,
        [CANON_BIN, "relay", "--port", "0", "--data", join(dir, "refused")],
        {
          env: {
            ...environment,
            CANON_NO_OWNER: "1",
            CANON_HOME: join(dir, "home"),
            [variable]: "lots",
          },
          encoding: "utf8",
          timeout: 30_000,
          killSignal: "SIGKILL",
        },
      );
      expect(run.status).toBe(2);
      expect(run.stderr).toBe(
        `canon: ${variable} must be a whole number of at least 1, not "lots"\n`,
      );
    }
  });
});

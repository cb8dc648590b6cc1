import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  startTestPostgres,
  type TestPostgres,
} from "../apps/relay/test/helpers/postgres-server.js";
import { CANON_BIN } from "./helpers/cli.js";
import { startCanon, stopAll } from "./helpers/processes.js";

let postgres: TestPostgres;
let home: string;

beforeAll(async () => {
  postgres = await startTestPostgres();
  home = await mkdtemp(join(tmpdir(), "canon-relay-db-flag-"));
}, 90_000);

afterEach(async () => {
  await stopAll();
});

afterAll(async () => {
  await postgres?.stop();
  await rm(home, { recursive: true, force: true });
});

/** `canon <args>` run to its end, with only the given `CANON_RELAY_*` variables. */
function canon(args: readonly string[], variables: Record<string, string> = {}) {
  const environment = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("CANON_RELAY_")),
  );
  const run = spawnSync(process.execPath, [CANON_BIN, ...args], {
    env: { ...environment, CANON_NO_OWNER: "1", CANON_HOME: home, ...variables },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

const SECRET = "hunter2-never-shown";

describe("canon relay --database-url", () => {
  it("serves from PostgreSQL, printing the URL with its password as ***", async () => {
    const password = new URL(postgres.url).password;
    const relay = startCanon(
      ["relay", "--port", "0", "--database-url", postgres.url, "--json"],
      home,
    );
    const line = await relay.waitForLine((l) => l.startsWith("{"));
    const started = JSON.parse(line) as { url: string; port: number; database: string };
    expect(started.database).toBe(postgres.url.replace(password, "***"));
    expect(started).not.toHaveProperty("data");
    const health = await fetch(`http://127.0.0.1:${started.port}/healthz`);
    expect(health.status).toBe(200);
    expect(await relay.stop()).toBe(0);
    expect(relay.lines.join("\n")).not.toContain(password);
  });

  it("reads CANON_RELAY_DATABASE_URL when the flag is absent, and says so without the password", async () => {
    const password = new URL(postgres.url).password;
    // startCanon hands this process's environment to the child when it spawns it.
    const variable = "CANON_RELAY_DATABASE_URL";
    process.env[variable] = postgres.url;
    let relay: ReturnType<typeof startCanon>;
    try {
      relay = startCanon(["relay", "--port", "0", "--evict-after", "5"], home);
    } finally {
      delete process.env[variable];
    }
    const line = await relay.waitForLine((l) => l.startsWith("relay listening"));
    expect(line).toMatch(
      /^relay listening on ws:\/\/127\.0\.0\.1:\d+ \(database postgres:\/\/[^:]+:\*\*\*@/,
    );
    expect(line).not.toContain(password);
    expect(await relay.stop()).toBe(0);
  });

  it("refuses a URL that is not PostgreSQL's with exit 2 and one line naming the flag, never the password", () => {
    const run = canon(["relay", "--port", "0", "--database-url", `mysql://u:${SECRET}@db/x`]);
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toMatch(
      /^canon: --database-url must start with postgres:\/\/ or postgresql:\/\//,
    );
    expect(run.stderr + run.stdout).not.toContain(SECRET);

    const unparsable = canon(["relay", "--port", "0", "--database-url", `not a url ${SECRET}`]);
    expect(unparsable.status).toBe(2);
    expect(unparsable.stderr).toMatch(/^canon: --database-url must be a URL such as postgres:/);
    expect(unparsable.stderr).not.toContain(SECRET);
  });

  it("refuses a bad CANON_RELAY_DATABASE_URL with exit 2 naming the variable", () => {
    const run = canon(["relay", "--port", "0"], {
      CANON_RELAY_DATABASE_URL: `postgres://u:${SECRET}@/x`,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^canon: CANON_RELAY_DATABASE_URL must be a URL such as postgres:/);
    expect(run.stderr).not.toContain(SECRET);
  });

  it("reads the pools' CANON_RELAY_DATABASE_* variables as canon-relay does: a bad one is exit 2 naming it", () => {
    // Checked before the database is reached: port 1 would otherwise be exit 4.
    const run = canon(
      ["relay", "--port", "0", "--database-url", `postgres://relay:${SECRET}@127.0.0.1:1/canon`],
      { CANON_RELAY_DATABASE_WAIT_MILLIS: "soon" },
    );
    expect(run.status).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toMatch(
      /^canon: CANON_RELAY_DATABASE_WAIT_MILLIS must be a whole number of at least 1, not "soon"/,
    );
    expect(run.stderr + run.stdout).not.toContain(SECRET);
  });

  it("exits 4 with one line, password hidden, when the database cannot be reached", () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const run = canon([
      "relay",
      "--port",
      "0",
      "--database-url",
      `postgres://relay:${SECRET}@127.0.0.1:1/canon`,
    ]);
    expect(run.status).toBe(4);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toMatch(
      /^canon: cannot use the database postgres:\/\/relay:\*\*\*@127\.0\.0\.1:1\/canon: /,
    );
    expect(run.stderr + run.stdout).not.toContain(SECRET);
  });

  it("needs --data or a database, and says which flags give them (exit 2)", () => {
    const run = canon(["relay", "--port", "0"]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^canon: canon relay needs --data <dir> .* or --database-url/);
  });

  it("refuses a bad --evict-after (exit 2)", () => {
    const run = canon([
      "relay",
      "--port",
      "0",
      "--data",
      join(home, "data"),
      "--evict-after",
      "soon",
    ]);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^canon: --evict-after must be a whole number/);
  });
});

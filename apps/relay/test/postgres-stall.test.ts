import { generateAutomergeUrl } from "@automerge/automerge-repo";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRelayLog } from "../src/relay-log.js";
import { startRelayServer } from "../src/relay-server.js";
import {
  openPostgresStorage,
  type PostgresStorage,
  type StorageTimeout,
} from "../src/storage/postgres-storage.js";
import { startTestPostgres, type TestPostgres } from "./helpers/postgres-server.js";

// Sixth pass: a relay's `pg` pool (10 connections) queued requests without a
// time-out, and statements ran as long as the server took: with PostgreSQL
// stalled (a lock held, a saturated disk), every load and save waited
// silently, and a client's find gave up after automerge-repo's 60 s
// ("unavailable") with nothing in the relay's log or metrics to say why.
// The stall here is real and ends when the test says: a transaction holding
// an exclusive lock on the relay's table, so no assertion depends on timing.

let server: TestPostgres;
let databases = 0;

beforeAll(async () => {
  server = await startTestPostgres();
}, 90_000);

afterAll(async () => {
  await server?.stop();
});

/** A fresh database on the test server. */
async function freshDatabase(): Promise<string> {
  const name = `canon_stall_${process.pid}_${++databases}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Stalls the relay's table: every statement on it waits until `release()`. */
async function stallTable(url: string): Promise<{ release(): Promise<void> }> {
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  await holder.query("BEGIN");
  await holder.query("LOCK TABLE canon_relay_chunks IN ACCESS EXCLUSIVE MODE");
  return {
    release: async () => {
      await holder.query("COMMIT");
      await holder.end();
    },
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("a stalled database", () => {
  const open: PostgresStorage[] = [];
  afterAll(async () => {
    for (const storage of open.splice(0)) await storage.close();
  });

  it("reports waits for a connection and statements that run too long, then finishes every load and save once it answers", async () => {
    const url = await freshDatabase();
    const timeouts: StorageTimeout[] = [];
    const storage = await openPostgresStorage(url, "stall", {
      readConnections: 2,
      writeConnections: 1,
      waitMillis: 200,
      statementMillis: 500,
      onTimeout: (timeout) => timeouts.push(timeout),
    });
    open.push(storage);
    await storage.save(["AAAAA", "snapshot", "before"], new Uint8Array([1]));
    const stall = await stallTable(url);
    let loads: Promise<unknown>;
    let save: Promise<void>;
    try {
      // Five loads for two read connections, and a save on its own pool.
      loads = Promise.all(Array.from({ length: 5 }, () => storage.loadRange(["AAAAA"])));
      save = storage.save(["AAAAA", "incremental", "during"], new Uint8Array([2]));
      await until(
        () =>
          timeouts.some((t) => t.pool === "reads" && t.stage === "wait") &&
          timeouts.some((t) => t.pool === "reads" && t.stage === "statement") &&
          timeouts.some((t) => t.pool === "writes" && t.stage === "statement"),
        "the stall to be reported",
      );
    } finally {
      await stall.release();
    }
    await save;
    for (const chunks of (await loads) as { key: string[] }[][])
      expect(chunks.map((chunk) => chunk.key[2])).toContain("before");
    expect((await storage.loadRange(["AAAAA"])).map((chunk) => chunk.key[2])).toEqual([
      "before",
      "during",
    ]);
    // Nothing the stall left behind holds the table: the relay's own statements run.
    expect(await storage.hasDocument("AAAAA")).toBe(true);
  }, 120_000);

  it("a relay logs the stall once a pool and stage, and counts it in /metrics", async () => {
    const url = await freshDatabase();
    const lines: string[] = [];
    const relay = await startRelayServer({
      port: 0,
      host: "127.0.0.1",
      databaseUrl: url,
      databasePool: { readConnections: 1, waitMillis: 200, statementMillis: 500 },
      log: createRelayLog("warn", (line) => lines.push(line)),
    });
    try {
      const stall = await stallTable(url);
      try {
        // Loads the relay makes for itself and for clients go through the same pool.
        for (let i = 0; i < 3; i++) relay.repo.find(generateAutomergeUrl()).catch(() => undefined);
        await until(
          () => lines.some((line) => line.includes('"event":"storage-timeout"')),
          "a storage-timeout line",
        );
        const metrics = await relay.metrics();
        expect(metrics).toMatch(
          /canon_relay_storage_timeouts_total\{pool="reads",stage="(wait|statement)"\} [1-9]/,
        );
      } finally {
        await stall.release();
      }
      const logged = lines
        .filter((line) => line.includes('"event":"storage-timeout"'))
        .map((line) => JSON.parse(line));
      expect(logged[0]).toMatchObject({ level: "warn", pool: "reads" });
      // At most one line a pool and stage per 10 s, however many requests timed out.
      const kinds = logged.map((line) => `${line.pool} ${line.stage}`);
      expect(new Set(kinds).size).toBe(kinds.length);
    } finally {
      await relay.stop();
    }
  }, 120_000);
});

import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RelayServer, startRelayServer } from "../src/index.js";
import { syncThroughRelay } from "./helpers/hostile-peer.js";
import { startTestPostgres, type TestPostgres } from "./helpers/postgres-server.js";

let postgres: TestPostgres;
let relay: RelayServer | undefined;

beforeAll(async () => {
  postgres = await startTestPostgres();
}, 90_000);

afterAll(async () => {
  await relay?.stop();
  await postgres?.stop();
});

/** Connections the PostgreSQL server has open now, as its own view says. */
async function backends(): Promise<number> {
  const admin = new pg.Client({ connectionString: postgres.url });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend'",
    );
    return Number(rows[0]?.n ?? 0) - 1;
  } finally {
    await admin.end();
  }
}

describe("GET /healthz flooded, on PostgreSQL", () => {
  // Every sync, join and watch asks /healthz first, and it needs no more than the token
  // anyone on an open relay has. Each answer opened a connection of its own to the
  // database and counted every document: 1,000 at once held 48 connections here (a
  // database farther away, with a slower login, holds more: past the 100 PostgreSQL
  // allows, this relay and every other relay on that database could not store).
  it("opens at most one health connection to the database whatever the number asking, and keeps storing", async () => {
    relay = await startRelayServer({ databaseUrl: postgres.url, port: 0 });
    const port = relay.port;
    let peak = 0;
    let flooding = true;
    const watch = (async () => {
      while (flooding) {
        peak = Math.max(peak, await backends().catch(() => peak));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const answers = await Promise.all(
      Array.from({ length: 1000 }, () =>
        fetch(`http://127.0.0.1:${port}/healthz`).then(async (response) => ({
          status: response.status,
          body: await response.text(),
        })),
      ),
    );
    flooding = false;
    await watch;
    const refused = answers.filter((answer) => answer.status !== 200);
    expect(refused.slice(0, 1)).toEqual([]);
    // The pool (10) and the notifications' connection, plus one health check.
    expect(peak).toBeLessThanOrEqual(13);
    await syncThroughRelay(relay.url);
  }, 120_000);
});

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import * as A from "@automerge/automerge";
import {
  type AutomergeUrl,
  type DocHandle,
  type PeerId,
  Repo,
  type StorageId,
} from "@automerge/automerge-repo";
import { RelayClient } from "@canon/store";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestPostgres, type TestPostgres } from "./helpers/postgres-server.js";
import {
  killRelayProcesses,
  RELAY_MAIN,
  type RelayProcess,
  startRelayProcess,
} from "./helpers/relay-process.js";

type Doc = { items: Record<string, number> };

let postgres: TestPostgres;
const clients: Repo[] = [];

beforeAll(async () => {
  if (!existsSync(RELAY_MAIN))
    throw new Error(`${RELAY_MAIN} is missing: run \`pnpm build\` first`);
  postgres = await startTestPostgres();
}, 90_000);

afterEach(async () => {
  for (const client of clients.splice(0)) await client.shutdown().catch(() => undefined);
  await killRelayProcesses();
});

afterAll(async () => {
  await killRelayProcesses();
  await postgres?.stop();
});

const TOKEN = "relay-on-postgres-admin-token";

function relayOnDatabase(extra: Record<string, string> = {}): Promise<RelayProcess> {
  return startRelayProcess({
    CANON_RELAY_DATABASE_URL: postgres.url,
    CANON_RELAY_TOKEN: TOKEN,
    CANON_RELAY_LOG_LEVEL: "info",
    ...extra,
  });
}

function clientOf(relay: RelayProcess, name: string): Repo {
  const client = new Repo({
    // Canon's client adapter: upstream's, shut down while a retry is connecting to a killed
    // relay, closes a CONNECTING socket that then throws with no listener (an uncaught error).
    network: [new RelayClient(`${relay.started.url}?token=${TOKEN}`, 100)],
    peerId: `${name}-${Math.random().toString(36).slice(2, 8)}` as PeerId,
  });
  clients.push(client);
  return client;
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function get(relay: RelayProcess, path: string, token: string | undefined = TOKEN) {
  const response = await fetch(
    `http://127.0.0.1:${relay.started.port}${path}${token ? `?token=${token}` : ""}`,
  );
  return { status: response.status, text: await response.text() };
}

/** The storage id of the relay a client is connected to (every relay on one database shares it). */
function relayStorageId(client: Repo): StorageId | undefined {
  for (const peer of client.peers) {
    const id = client.getStorageIdOfPeer(peer);
    if (id !== undefined) return id;
  }
  return undefined;
}

/** True when the relay told the client it holds exactly the client's heads of `handle`. */
function acknowledged(client: Repo, handle: DocHandle<Doc>): boolean {
  const storageId = relayStorageId(client);
  const theirs = storageId ? handle.getSyncInfo(storageId)?.lastHeads : undefined;
  const ours = handle.heads();
  return (
    theirs !== undefined && theirs.length === ours.length && theirs.every((h) => ours.includes(h))
  );
}

describe("several relays on one PostgreSQL", () => {
  it("a change pushed through relay 1 reaches a client watching through relay 2, live; the password never shows", async () => {
    const [one, two] = await Promise.all([relayOnDatabase(), relayOnDatabase()]);
    const password = new URL(postgres.url).password;
    expect(one.started.database).toBe(postgres.url.replace(password, "***"));
    expect(one.started).not.toHaveProperty("data");

    const writer = clientOf(one, "writer");
    const handle = writer.create<Doc>({ items: { first: 1 } });
    await waitFor(() => acknowledged(writer, handle));

    const watcher = clientOf(two, "watcher");
    const seen = await watcher.find<Doc>(handle.url as AutomergeUrl);
    expect(seen.doc().items).toEqual({ first: 1 });

    for (let round = 0; round < 5; round++) {
      handle.change((doc) => {
        doc.items[`round-${round}`] = round;
      });
      await waitFor(() => seen.doc().items[`round-${round}`] === round, 10_000);
    }
    // And the other way round: a change through relay 2 reaches relay 1's client.
    seen.change((doc) => {
      doc.items.back = 42;
    });
    await waitFor(() => handle.doc().items.back === 42, 10_000);

    for (const relay of [one, two]) {
      expect(relay.stdout.join("\n") + relay.stderr()).not.toContain(password);
    }
  });

  it("serves /metrics in Prometheus text format behind the token, counting what flowed", async () => {
    const relay = await relayOnDatabase();
    expect((await get(relay, "/metrics", "")).status).toBe(401);
    const writer = clientOf(relay, "metrics");
    const handle = writer.create<Doc>({ items: { a: 1 } });
    await waitFor(() => acknowledged(writer, handle));
    const { status, text } = await get(relay, "/metrics");
    expect(status).toBe(200);
    const value = (name: string) =>
      Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
    expect(value("canon_relay_connections")).toBe(1);
    expect(value("canon_relay_documents_in_memory")).toBeGreaterThanOrEqual(1);
    expect(value("canon_relay_received_bytes_total")).toBeGreaterThan(0);
    expect(value("canon_relay_sent_bytes_total")).toBeGreaterThan(0);
    expect(value("canon_relay_sync_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(value("process_resident_memory_bytes")).toBeGreaterThan(0);
    // A refused upgrade is counted by reason.
    const refused = new WebSocket(`${relay.started.url}?token=wrong-token-xxxxxxxx`);
    await new Promise((resolve) => refused.once("error", resolve));
    await waitFor(async () =>
      /canon_relay_refused_connections_total\{reason="unauthorized"\} [1-9]/.test(
        (await get(relay, "/metrics")).text,
      ),
    );
  });

  it("reports 503 with a reason while PostgreSQL is down and recovers without a restart, notifications included", async () => {
    const [one, two] = await Promise.all([relayOnDatabase(), relayOnDatabase()]);
    expect(JSON.parse((await get(one, "/healthz")).text)).toMatchObject({ ok: true });
    await postgres.pause();
    try {
      for (const relay of [one, two]) {
        const down = await get(relay, "/healthz");
        expect(down.status).toBe(503);
        expect(JSON.parse(down.text)).toMatchObject({
          ok: false,
          reason: expect.stringMatching(/^database unreachable/),
        });
      }
    } finally {
      await postgres.start();
    }
    for (const relay of [one, two]) {
      await waitFor(async () => (await get(relay, "/healthz")).status === 200);
    }
    // The LISTEN connection is back: relay 2's client sees relay 1's writes live.
    const writer = clientOf(one, "after-restart");
    const handle = writer.create<Doc>({ items: { before: 1 } });
    await waitFor(() => acknowledged(writer, handle));
    const watcher = clientOf(two, "after-restart-watch");
    const seen = await watcher.find<Doc>(handle.url as AutomergeUrl);
    handle.change((doc) => {
      doc.items.after = 2;
    });
    await waitFor(() => seen.doc().items.after === 2, 10_000);
    expect(one.child.exitCode).toBeNull();
    expect(one.stderr()).toContain('"event":"database-back"');
  });

  it("re-reads the documents it holds after its notification connection drops, so a change it missed still reaches its clients", async () => {
    const [one, two] = await Promise.all([relayOnDatabase(), relayOnDatabase()]);
    const writer = clientOf(one, "missed-writer");
    const handle = writer.create<Doc>({ items: { before: 1 } });
    await waitFor(() => acknowledged(writer, handle));
    const watcher = clientOf(two, "missed-watcher");
    const seen = await watcher.find<Doc>(handle.url as AutomergeUrl);
    // Cut every relay's LISTEN connection (not their pools), then write at once:
    // the notification goes out while nobody listens.
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    try {
      const { rows } = await admin.query(
        "SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE application_name LIKE 'canon-relay % listen'",
      );
      expect(rows).toHaveLength(2);
      // Gone for sure (the relays wait before listening again).
      await waitFor(
        async () =>
          (
            await admin.query(
              "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'canon-relay % listen'",
            )
          ).rowCount === 0,
        5000,
      );
      handle.change((doc) => {
        doc.items.missed = 2;
      });
      await waitFor(() => acknowledged(writer, handle));
    } finally {
      await admin.end();
    }
    await waitFor(() => seen.doc().items.missed === 2, 15_000);
    await waitFor(() => two.stderr().includes('"event":"database-back"'));
  });

  it("loses nothing a client was told was stored when its relay is SIGKILLed mid-sync; the client finishes through the other relay", async () => {
    const [one, two] = await Promise.all([relayOnDatabase(), relayOnDatabase()]);
    const writer = clientOf(one, "killed-mid-sync");
    const handle = writer.create<Doc>({ items: {} });
    await waitFor(() => acknowledged(writer, handle));
    // Each change is acknowledged before the next; the relay dies the moment the last is.
    for (let i = 0; i < 20; i++) {
      handle.change((doc) => {
        doc.items[`acked-${i}`] = i;
      });
      await waitFor(() => acknowledged(writer, handle), 10_000);
    }
    const acknowledgedHeads = A.getHeads(handle.doc());
    await one.kill("SIGKILL");
    // Changes made while the relay is gone: not acknowledged yet.
    for (let i = 0; i < 5; i++) {
      handle.change((doc) => {
        doc.items[`late-${i}`] = i;
      });
    }

    const reader = clientOf(two, "reader");
    const seen = await reader.find<Doc>(handle.url as AutomergeUrl);
    expect(A.hasHeads(seen.doc(), acknowledgedHeads)).toBe(true);

    // The writer reconnects to the other relay and finishes.
    writer.networkSubsystem.addNetworkAdapter(
      new RelayClient(`${two.started.url}?token=${TOKEN}`, 100),
    );
    await waitFor(() => acknowledged(writer, handle), 15_000);
    await waitFor(() => seen.doc().items["late-4"] === 4, 10_000);
    expect(Object.keys(seen.doc().items)).toHaveLength(25);
  });
});

describe("CANON_RELAY_DATABASE_URL refusals", () => {
  /** Runs the relay to its exit with only `variables`; returns its status and stderr. */
  function refused(variables: Record<string, string>) {
    const environment = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith("CANON_RELAY_")),
    );
    const result = spawnSync(process.execPath, [RELAY_MAIN], {
      env: { ...environment, CANON_RELAY_PORT: "0", ...variables },
      encoding: "utf8",
      timeout: 30_000,
    });
    return { status: result.status, stderr: result.stderr, stdout: result.stdout };
  }

  it("exits 2 on a URL that is not postgres://, without quoting its password", () => {
    const { status, stderr, stdout } = refused({
      CANON_RELAY_DATABASE_URL: "mysql://canon:hunter2-secret@db/canon",
    });
    expect(status).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^canon-relay: CANON_RELAY_DATABASE_URL must start with postgres:\/\//);
    expect(stderr).not.toContain("hunter2-secret");
  });

  it("exits 4 when the database cannot be reached, naming it with the password hidden", () => {
    const url = new URL(postgres.url);
    url.port = "1";
    const { status, stderr } = refused({ CANON_RELAY_DATABASE_URL: url.toString() });
    expect(status).toBe(4);
    expect(stderr).toContain(
      `cannot use the database postgres://postgres:***@127.0.0.1:1/postgres`,
    );
    expect(stderr).not.toContain(url.password);
    expect(stderr.trim().split("\n")).toHaveLength(1);
  });

  it("exits 2 naming both CANON_RELAY_DATA and CANON_RELAY_DATABASE_URL when neither is set", () => {
    const { status, stderr } = refused({});
    expect(status).toBe(2);
    expect(stderr).toContain("CANON_RELAY_DATA is required");
    expect(stderr).toContain("CANON_RELAY_DATABASE_URL");
  });
});

import type { Chunk } from "@automerge/automerge-repo";
import { runStorageAdapterTests } from "@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runStorageContract } from "../../../packages/store/test/contracts/storage-contract.js";
import { redactedDatabaseUrl } from "../src/storage/database-url.js";
import { DOCUMENTS_CHANNEL, SCHEMA_VERSION } from "../src/storage/postgres-schema.js";
import { openPostgresStorage, type PostgresStorage } from "../src/storage/postgres-storage.js";
import { startTestPostgres, type TestPostgres } from "./helpers/postgres-server.js";

let server: TestPostgres;
let databases = 0;

beforeAll(async () => {
  server = await startTestPostgres();
}, 90_000);

afterAll(async () => {
  await server?.stop();
});

/** A fresh database on the test server, so each case starts empty. */
async function freshDatabase(): Promise<string> {
  const name = `canon_${process.pid}_${++databases}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

runStorageAdapterTests(async () => {
  const storage = await openPostgresStorage(await freshDatabase(), "acceptance");
  return { adapter: storage, teardown: () => storage.close() };
}, "PostgresStorage");

runStorageContract("PostgresStorage", async () => {
  const url = await freshDatabase();
  const opened: PostgresStorage[] = [];
  return {
    open: async (role) => {
      const storage = await openPostgresStorage(url, role);
      opened.push(storage);
      return storage;
    },
    teardown: async () => {
      for (const storage of opened.splice(0)) await storage.close();
    },
  };
});

describe("PostgresStorage", () => {
  const open: PostgresStorage[] = [];
  afterAll(async () => {
    for (const storage of open.splice(0)) await storage.close();
  });
  const storageOn = async (url: string, origin = "test") => {
    const storage = await openPostgresStorage(url, origin);
    open.push(storage);
    return storage;
  };

  it("creates its schema once and records the version; a second relay on the database migrates nothing", async () => {
    const url = await freshDatabase();
    await Promise.all([storageOn(url, "a"), storageOn(url, "b")]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query("SELECT version FROM canon_relay_migrations");
    await client.end();
    expect(rows).toEqual([{ version: SCHEMA_VERSION }]);
  });

  it("refuses a database whose schema is newer than the relay's, without the password in the message", async () => {
    const url = await freshDatabase();
    await storageOn(url);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query("INSERT INTO canon_relay_migrations (version) VALUES (999)");
    await client.end();
    const password = new URL(url).password;
    const refused = openPostgresStorage(url, "old");
    await expect(refused).rejects.toMatchObject({
      code: "STORAGE_UNWRITABLE",
      message: expect.stringContaining("newer than this relay's"),
    });
    await expect(refused).rejects.not.toMatchObject({
      message: expect.stringContaining(password),
    });
  });

  it("says STORAGE_UNWRITABLE naming the URL without its password when the database cannot be reached", async () => {
    const url = new URL(server.url);
    url.port = "1";
    await expect(openPostgresStorage(url.toString(), "x")).rejects.toMatchObject({
      code: "STORAGE_UNWRITABLE",
      message: expect.stringContaining(redactedDatabaseUrl(url.toString())),
    });
    expect(redactedDatabaseUrl(url.toString())).not.toContain(url.password);
  });

  it("loads exactly the saved values under a prefix, counts documents and their bytes", async () => {
    const storage = await storageOn(await freshDatabase());
    await storage.save(["AAAAA", "sync-state", "x"], new Uint8Array([1]));
    await storage.save(["AAAAA", "snapshot", "y"], new Uint8Array([2, 2]));
    await storage.save(["BBBBB", "incremental", "z"], new Uint8Array([3]));
    const chunks: Chunk[] = await storage.loadRange(["AAAAA"]);
    expect(chunks).toStrictEqual([
      { key: ["AAAAA", "sync-state", "x"], data: new Uint8Array([1]) },
      { key: ["AAAAA", "snapshot", "y"], data: new Uint8Array([2, 2]) },
    ]);
    expect(await storage.countDocuments()).toBe(2);
    expect(await storage.storedBytes("AAAAA")).toBe(2);
    expect(await storage.hasDocument("BBBBB")).toBe(true);
    expect(await storage.hasDocument("CCCCC")).toBe(false);
  });

  it("saves a chunk in one round trip, notifying once when the row is new and not when the same chunk is saved again", async () => {
    const url = await freshDatabase();
    const storage = await storageOn(url, "writer");
    const listener = new pg.Client({ connectionString: url });
    await listener.connect();
    const notices: string[] = [];
    listener.on("notification", ({ channel, payload }) => {
      if (channel === DOCUMENTS_CHANNEL && payload !== undefined) notices.push(payload);
    });
    await listener.query(`LISTEN ${DOCUMENTS_CHANNEL}`);
    // Every query any pg client sends from here on (the listener sends none), counted and passed through.
    const sent = vi.spyOn(pg.Client.prototype, "query");
    try {
      const key = ["DDDDD", "incremental", "hash-of-it"];
      await storage.save(key, new Uint8Array([1, 2, 3]));
      expect(sent).toHaveBeenCalledTimes(1);
      await vi.waitFor(() => expect(notices).toHaveLength(1));
      expect(JSON.parse(notices[0] ?? "{}")).toEqual({
        documentId: "DDDDD",
        key,
        origin: "writer",
      });
      await storage.save(key, new Uint8Array([1, 2, 3]));
      expect(sent).toHaveBeenCalledTimes(2);
      expect(await storage.load(key)).toEqual(new Uint8Array([1, 2, 3]));
      // A notice for the repeat would have arrived before this query's answer on the listener's connection.
      await listener.query("SELECT 1");
      expect(notices).toHaveLength(1);
    } finally {
      sent.mockRestore();
      await listener.end();
    }
  });

  it("waits while the database is down and finishes the write once it is back: nothing is dropped", async () => {
    const storage = await storageOn(await freshDatabase());
    await storage.save(["AAAAA", "snapshot", "before"], new Uint8Array([1]));
    await server.pause();
    try {
      expect(await storage.unhealthy()).toMatch(/^database unreachable/);
      const pending = storage.save(["AAAAA", "incremental", "during"], new Uint8Array([2]));
      let settled = false;
      void pending.finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(settled).toBe(false);
      await server.start();
      await pending;
    } finally {
      await server.start().catch(() => undefined);
    }
    expect(await storage.unhealthy()).toBeUndefined();
    expect((await storage.loadRange(["AAAAA"])).map((chunk) => chunk.key[2])).toEqual([
      "before",
      "during",
    ]);
  });
});

import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStorage, type PostgresStorage } from "../src/storage/postgres-storage.js";
import { startTestPostgres, type TestPostgres } from "./helpers/postgres-server.js";

let server: TestPostgres;
let storage: PostgresStorage;

beforeAll(async () => {
  server = await startTestPostgres();
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query("CREATE DATABASE canon_hostile_keys");
  await admin.end();
  const url = new URL(server.url);
  url.pathname = "/canon_hostile_keys";
  storage = await openPostgresStorage(url.toString(), "hostile-keys");
}, 90_000);

afterAll(async () => {
  await storage?.close();
  await server?.stop();
});

// The relay's guard lets only document ids (base58check, at most 64
// characters) and UUID storage ids reach its storage, from clients and from
// peer relays alike (hostile-peer-relay.test.ts). Should a hostile key get
// through anyway, PostgreSQL must refuse it without harm: keys are data
// there, never paths, and a key it cannot hold is refused cleanly.
describe("PostgreSQL storage under hostile keys", () => {
  it("holds `..` and odd unicode as plain keys, refuses NUL, 100,000 characters and no key at all with STORAGE_UNWRITABLE, and loses nothing stored beside them", async () => {
    const document = "3L8gByYyKzutRBp87ZfAgoJbx6FP";
    await storage.save([document, "snapshot", "genuine"], new Uint8Array([7, 7, 7]));
    const refused: string[] = [];
    for (const key of [
      [document, "sync-state", "a\u0000b"],
      ["d".repeat(100_000), "snapshot", "x"],
      [],
    ]) {
      const error = await storage.save(key, new Uint8Array([1])).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe("STORAGE_UNWRITABLE");
      expect(String(error)).not.toContain(new URL(server.url).password);
      refused.push(
        String((error as Error).message)
          .split(": ")
          .at(-1) ?? "",
      );
    }
    expect(refused[0]).toContain("0x00");
    for (const key of [
      ["..", "sync-state", "../../x"],
      [document, "sync-state", "\ud800"],
    ]) {
      await storage.save(key, new Uint8Array([1, 2, 3]));
      expect(await storage.load(key)).toEqual(new Uint8Array([1, 2, 3]));
    }
    expect(await storage.loadRange([document, "snapshot"])).toEqual([
      { key: [document, "snapshot", "genuine"], data: new Uint8Array([7, 7, 7]) },
    ]);
    expect(await storage.hasDocument(document)).toBe(true);
  });
});

import type { Pool } from "pg";

/** The channel every relay on one database LISTENs on; a notification's payload names a document. */
export const DOCUMENTS_CHANNEL = "canon_relay_documents";

/**
 * The relay's schema, one migration per version, applied in order and never
 * edited once released (add a new version instead). Version 1: one row per
 * automerge-repo storage key. `seq` orders rows by their last save, which is
 * the order `loadRange` answers in; `document_id` (the key's first part) is
 * what every range query and notification is about.
 */
export const MIGRATIONS: readonly { readonly version: number; readonly sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE SEQUENCE canon_relay_chunk_seq;
      CREATE TABLE canon_relay_chunks (
        key text[] PRIMARY KEY CHECK (cardinality(key) > 0),
        document_id text GENERATED ALWAYS AS (key[1]) STORED,
        data bytea NOT NULL,
        seq bigint NOT NULL DEFAULT nextval('canon_relay_chunk_seq')
      );
      CREATE INDEX canon_relay_chunks_document ON canon_relay_chunks (document_id, seq);
    `,
  },
];

/** The newest schema version this relay knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/**
 * Creates or upgrades the schema to {@link SCHEMA_VERSION}, each migration in
 * its own transaction with the version recorded in `canon_relay_migrations`.
 * Several relays starting at once on one database serialise on an advisory
 * lock, so each migration runs exactly once. A database whose schema is newer
 * than this relay knows is refused (an older relay must not write to it).
 * @returns the versions applied now (empty when the schema was current).
 * @throws Error when the database's schema is newer than this relay's.
 */
export async function migrate(pool: Pool): Promise<number[]> {
  const client = await pool.connect();
  try {
    // One number for "canon relay schema"; held for the session, released below.
    await client.query("SELECT pg_advisory_lock(7301946020)");
    await client.query(
      `CREATE TABLE IF NOT EXISTS canon_relay_migrations (
         version integer PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ version: number | null }>(
      "SELECT max(version) AS version FROM canon_relay_migrations",
    );
    const current = rows[0]?.version ?? 0;
    if (current > SCHEMA_VERSION)
      throw new Error(
        `the database's relay schema is version ${current}, newer than this relay's ${SCHEMA_VERSION}: upgrade the relay`,
      );
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      await client.query("BEGIN");
      try {
        await client.query(migration.sql);
        await client.query("INSERT INTO canon_relay_migrations (version) VALUES ($1)", [
          migration.version,
        ]);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw error;
      }
      applied.push(migration.version);
    }
    return applied;
  } finally {
    await client.query("SELECT pg_advisory_unlock(7301946020)").catch(() => undefined);
    client.release();
  }
}

import type { Chunk, StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo";
import { CanonError } from "@canon/core";
import pg from "pg";
import { redactedDatabaseUrl } from "./database-url.js";
import { DOCUMENTS_CHANNEL, migrate } from "./postgres-schema.js";
import type { RelayStorage } from "./relay-storage.js";
import { singleFlight } from "./single-flight.js";

/** The chunk kinds a document's content is stored in (sync states are not content). */
const CONTENT_KINDS = ["snapshot", "incremental"];

/** How long a health check waits for the database before reporting it unreachable. */
const CONNECT_TIMEOUT_MS = 2000;

/** How long the relay waits for the database when it starts. */
const OPEN_TIMEOUT_MS = 10_000;

/** The longest pause between two tries of a write or read while the database is unreachable. */
const MAX_RETRY_PAUSE_MS = 1000;

/**
 * How a relay uses its database connections: two pools, so that a flood of
 * loads (clients' finds, other relays' changes fanned out) never holds every
 * connection a save needs, nor saves every connection a load needs; and
 * bounded waits, for a free connection and for a statement, so that a
 * stalled database (a lock held, a server stopped, a saturated disk) is
 * seen in the log and `/metrics` instead of requests queueing silently.
 */
export interface PostgresPoolOptions {
  /** Connections for reads (loads, ranges, sizes, counts); 6 unless given. */
  readonly readConnections?: number | undefined;
  /** Connections for writes (saves, removals); 4 unless given. */
  readonly writeConnections?: number | undefined;
  /** Most milliseconds a request waits for a free connection before it is reported and tried again; 10 s unless given. */
  readonly waitMillis?: number | undefined;
  /** Most milliseconds a statement runs before the server cancels it, reported and tried again; 30 s unless given. */
  readonly statementMillis?: number | undefined;
  /** Told of each time-out (each is then tried again: a save is never dropped). */
  readonly onTimeout?: (timeout: StorageTimeout) => void;
}

/** One of a relay's two pools of database connections ({@link PostgresPoolOptions}). */
export type StoragePool = "reads" | "writes";

/** A request to the database that took too long, and was then tried again. */
export interface StorageTimeout {
  readonly pool: StoragePool;
  /** `wait`: no connection of the pool came free in time; `statement`: the statement ran too long. */
  readonly stage: "wait" | "statement";
  /** Requests waiting for a connection of that pool when it happened. */
  readonly waiting: number;
}

/** The defaults of {@link PostgresPoolOptions}. */
export const DEFAULT_POOL_OPTIONS = {
  readConnections: 6,
  writeConnections: 4,
  waitMillis: 10_000,
  statementMillis: 30_000,
} as const;

/** How much longer than a statement's time-out the client waits for its answer (a server stopped never cancels). */
const ANSWER_GRACE_MS = 5000;

/** What a notification on {@link DOCUMENTS_CHANNEL} carries: which chunk of which document, written by whom. */
export interface ChunkNotice {
  /** The document written. */
  readonly documentId: string;
  /** The chunk's full storage key. */
  readonly key: readonly string[];
  /** The relay process that wrote it (so it can ignore its own). */
  readonly origin: string;
}

/**
 * automerge-repo storage in PostgreSQL, over two `pg` pools (reads and writes,
 * {@link PostgresPoolOptions}): one row per storage
 * key (`canon_relay_chunks`), the schema created and migrated by
 * {@link openPostgresStorage}. Every write is one statement, so one
 * transaction and one round trip; a write of a
 * new snapshot or incremental chunk also sends a notification naming the chunk
 * (`pg_notify`, delivered by PostgreSQL only when the transaction commits),
 * which other relays on the same database use to pick up the change. While
 * the database is unreachable, or an operation waited too long for a
 * connection or ran too long (reported to `onTimeout`), it waits and tries
 * again (so a save is never dropped, and nothing is acknowledged before it
 * commits) until the storage is closed.
 */
export class PostgresStorage implements StorageAdapterInterface, RelayStorage {
  readonly adapter: StorageAdapterInterface = this;
  readonly location: string;
  /** This relay process, as named in the notifications it sends. */
  readonly origin: string;
  readonly #reads: pg.Pool;
  readonly #writes: pg.Pool;
  readonly #onTimeout: ((timeout: StorageTimeout) => void) | undefined;
  readonly #url: string;
  #closed = false;
  /** The last connection error, while the database is unreachable. */
  #down: string | undefined;

  /** Storage over its pools (see {@link openPostgresStorage}); `origin` names this relay in notifications. */
  constructor(
    pools: { readonly reads: pg.Pool; readonly writes: pg.Pool },
    url: string,
    origin: string,
    onTimeout?: (timeout: StorageTimeout) => void,
  ) {
    this.#reads = pools.reads;
    this.#writes = pools.writes;
    this.#onTimeout = onTimeout;
    this.#url = url;
    this.location = redactedDatabaseUrl(url);
    this.origin = origin;
  }

  load(key: StorageKey): Promise<Uint8Array | undefined> {
    return this.#retrying("reads", async () => {
      const { rows } = await this.#reads.query<{ data: Buffer }>(
        "SELECT data FROM canon_relay_chunks WHERE key = $1",
        [key],
      );
      return rows[0] === undefined ? undefined : bytesOf(rows[0].data);
    });
  }

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (!(key.length === 3 && CONTENT_KINDS.includes(key[1] ?? "")))
      return this.#statement(
        `INSERT INTO canon_relay_chunks (key, data) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET data = excluded.data, seq = nextval('canon_relay_chunk_seq')`,
        [key, bytes],
      );
    // A snapshot or incremental chunk is named by a hash of what it holds
    // (its heads, its bytes): a row under the same key already holds it.
    // Another relay that merged the chunk and saves the same changes again
    // then writes nothing and notifies no one. One statement: the notice is
    // sent only when the row was inserted, and delivered when that
    // statement's transaction commits.
    const notice: ChunkNotice = { documentId: key[0] ?? "", key, origin: this.origin };
    return this.#statement(
      `WITH inserted AS (
         INSERT INTO canon_relay_chunks (key, data) VALUES ($1, $2)
         ON CONFLICT (key) DO NOTHING
         RETURNING 1
       )
       SELECT pg_notify($3, $4) FROM inserted`,
      [key, bytes, DOCUMENTS_CHANNEL, JSON.stringify(notice)],
    );
  }

  remove(key: StorageKey): Promise<void> {
    return this.#statement("DELETE FROM canon_relay_chunks WHERE key = $1", [key]);
  }

  loadRange(prefix: StorageKey): Promise<Chunk[]> {
    return this.#retrying("reads", async () => {
      const { rows } = await this.#reads.query<{ key: string[]; data: Buffer }>(
        `SELECT key, data FROM canon_relay_chunks WHERE ${rangeCondition(prefix)} ORDER BY seq`,
        rangeParameters(prefix),
      );
      return rows.map((row) => ({ key: row.key, data: bytesOf(row.data) }));
    });
  }

  removeRange(prefix: StorageKey): Promise<void> {
    return this.#statement(
      `DELETE FROM canon_relay_chunks WHERE ${rangeCondition(prefix)}`,
      rangeParameters(prefix),
    );
  }

  hasDocument(documentId: string): Promise<boolean> {
    return this.#retrying("reads", async () => {
      const { rows } = await this.#reads.query<{ stored: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM canon_relay_chunks
           WHERE document_id = $1 AND key[2] = ANY($2)) AS stored`,
        [documentId, CONTENT_KINDS],
      );
      return rows[0]?.stored === true;
    });
  }

  storedBytes(documentId: string): Promise<number> {
    return this.#retrying("reads", async () => {
      const { rows } = await this.#reads.query<{ bytes: string }>(
        `SELECT coalesce(sum(octet_length(data)), 0) AS bytes FROM canon_relay_chunks
           WHERE document_id = $1 AND key[2] = ANY($2)`,
        [documentId, CONTENT_KINDS],
      );
      return Number(rows[0]?.bytes ?? 0);
    });
  }

  /** How many documents have chunks stored; callers while a count runs share it (see `single-flight.ts`). */
  readonly countDocuments: () => Promise<number> = singleFlight(() =>
    this.#retrying("reads", async () => {
      const { rows } = await this.#reads.query<{ documents: string }>(
        `SELECT count(DISTINCT document_id) AS documents FROM canon_relay_chunks
           WHERE key[2] = ANY($1)`,
        [CONTENT_KINDS],
      );
      return Number(rows[0]?.documents ?? 0);
    }),
  );

  /**
   * Checks the database on a connection of its own (not the pool's, where a
   * busy relay's queue would make a healthy database look slow), within
   * {@link CONNECT_TIMEOUT_MS}. Callers while a check runs share it, so
   * this relay holds at most one such connection (see `single-flight.ts`).
   */
  readonly unhealthy: () => Promise<string | undefined> = singleFlight(() => this.#checkHealth());

  async #checkHealth(): Promise<string | undefined> {
    const client = new pg.Client({
      connectionString: this.#url,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: CONNECT_TIMEOUT_MS,
      application_name: `canon-relay ${this.origin} health`,
    });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT 1");
      this.#down = undefined;
      return undefined;
    } catch (error) {
      this.#down = describe(error);
      return `database unreachable: ${this.#down}`;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([this.#reads.end(), this.#writes.end()]);
  }

  /**
   * Runs one write statement, trying again while the database is
   * unreachable. A single statement is its own transaction in PostgreSQL
   * (it commits or rolls back whole, and a `pg_notify` in it is delivered
   * at its commit), and costs one round trip to the database where the
   * explicit transaction it replaced cost up to four (`BEGIN`, the insert,
   * the notification, `COMMIT`): on a machine short of CPU,
   * each round trip waits for the server process to be scheduled, and a
   * relay's pool of connections, then shared by every save and every load,
   * fell seconds behind (bench relay-postgres, 2026-11-30). Writes have a
   * pool of their own now.
   */
  async #statement(sql: string, parameters: readonly unknown[]): Promise<void> {
    await this.#retrying("writes", () => this.#writes.query(sql, [...parameters]));
  }

  /**
   * Runs `work`, and again after a pause each time it fails because the
   * database cannot be reached (connection refused or lost, server shutting
   * down), or waited too long for a connection of `pool` or ran too long
   * (reported to `onTimeout` first), until it succeeds or the storage is
   * closed. Any other error (a bug, a full disk on the server) is thrown at
   * once as `STORAGE_UNWRITABLE`. Every statement Canon sends may be sent
   * again: reads change nothing, and each write is one statement that
   * commits whole or not at all, storing the same row either way.
   */
  async #retrying<T>(pool: StoragePool, work: () => Promise<T>): Promise<T> {
    let pause = 50;
    for (;;) {
      if (this.#closed)
        throw new CanonError("STORAGE_UNWRITABLE", `storage ${this.location} is closed`);
      try {
        const result = await work();
        this.#down = undefined;
        return result;
      } catch (error) {
        const stage = timeoutStage(error);
        if (stage !== undefined && !this.#closed)
          this.#onTimeout?.({
            pool,
            stage,
            waiting: (pool === "reads" ? this.#reads : this.#writes).waitingCount,
          });
        if ((stage === undefined && !isConnectionError(error)) || this.#closed)
          throw new CanonError(
            "STORAGE_UNWRITABLE",
            `database ${this.location} refused a storage operation: ${describe(error)}`,
            { cause: error },
          );
        this.#down = describe(error);
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, MAX_RETRY_PAUSE_MS);
      }
    }
  }
}

/**
 * Connects to the database at `url`, creates or migrates the relay's schema,
 * and returns the storage over a connection pool.
 * @throws CanonError `STORAGE_UNWRITABLE` when the database cannot be reached
 * or its schema is newer than this relay's; the message shows the URL
 * without its password.
 */
export async function openPostgresStorage(
  url: string,
  origin: string,
  options: PostgresPoolOptions = {},
): Promise<PostgresStorage> {
  const waitMillis = options.waitMillis ?? DEFAULT_POOL_OPTIONS.waitMillis;
  const statementMillis = options.statementMillis ?? DEFAULT_POOL_OPTIONS.statementMillis;
  const poolOf = (pool: StoragePool, max: number) =>
    new pg.Pool({
      connectionString: url,
      max,
      // A request waits for a free connection (or a new one to connect) this
      // long at most; then it is reported and tried again, behind those
      // already waiting. Without a bound, a stalled database queued every
      // request silently (a client's find gave up after 60 s, "unavailable").
      connectionTimeoutMillis: waitMillis,
      // The server cancels a statement past this (its connection stays
      // usable); a server that stopped answering is given up on by the
      // client a little later, the connection then dropped and replaced.
      statement_timeout: statementMillis,
      query_timeout: statementMillis + ANSWER_GRACE_MS,
      keepAlive: true,
      idleTimeoutMillis: 30_000,
      application_name: `canon-relay ${origin} ${pool}`,
    });
  const pools = {
    reads: poolOf("reads", options.readConnections ?? DEFAULT_POOL_OPTIONS.readConnections),
    writes: poolOf("writes", options.writeConnections ?? DEFAULT_POOL_OPTIONS.writeConnections),
  };
  const pool = {
    end: () => Promise.all([pools.reads.end(), pools.writes.end()]),
  };
  // An idle connection the server dropped (a restart) is reported here; the
  // pool replaces it on the next query. Without a listener it would end the process.
  pools.reads.on("error", () => undefined);
  pools.writes.on("error", () => undefined);
  // The schema is checked on a connection of its own that gives up after
  // OPEN_TIMEOUT_MS: a host that never answers (a firewall dropping packets)
  // fails the start with a message instead of hanging until TCP gives up.
  const opening = new pg.Pool({
    connectionString: url,
    max: 1,
    connectionTimeoutMillis: OPEN_TIMEOUT_MS,
    application_name: `canon-relay ${origin} migrate`,
  });
  opening.on("error", () => undefined);
  try {
    await migrate(opening);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new CanonError(
      "STORAGE_UNWRITABLE",
      `cannot use the database ${redactedDatabaseUrl(url)}: ${describe(error)}`,
      { cause: error },
    );
  } finally {
    await opening.end().catch(() => undefined);
  }
  return new PostgresStorage(pools, url, origin, options.onTimeout);
}

/** True for errors that mean "the database is not there right now", not "the request is wrong". */
export function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string") {
    // SQLSTATE class 08 (connection exception), 57P01-03 (shutting down, cannot connect now).
    if (/^08/.test(code) || /^57P0[123]$/.test(code)) return true;
    if (/^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT…
    return false;
  }
  const message = error instanceof Error ? error.message : "";
  return /connection|timeout|terminated|not queryable/i.test(message);
}

/**
 * Which wait an error ended, when it is a time-out of the relay's own:
 * `wait` for a connection of the pool (pg-pool's), `statement` for the
 * server's `statement_timeout` (SQLSTATE 57014) or the client's answer
 * time-out; undefined for any other error.
 */
function timeoutStage(error: unknown): StorageTimeout["stage"] | undefined {
  const message = error instanceof Error ? error.message : "";
  if (/timeout exceeded when trying to connect/i.test(message)) return "wait";
  if ((error as { code?: unknown }).code === "57014") return "statement";
  if (/query read timeout/i.test(message)) return "statement";
  return undefined;
}

/** The SQL condition for keys starting with `prefix` ($1 the document id, $2 the whole prefix). */
function rangeCondition(prefix: StorageKey): string {
  if (prefix.length === 0) return "true";
  return `document_id = $1 AND key[1:${prefix.length}] = $2::text[]`;
}

function rangeParameters(prefix: StorageKey): unknown[] {
  return prefix.length === 0 ? [] : [prefix[0], prefix];
}

/** A copy as a plain Uint8Array (a Buffer may share a larger pool; automerge-repo expects Uint8Array). */
function bytesOf(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer);
}

/** An error's message on one line, short, without connection strings. */
function describe(error: unknown): string {
  const text =
    error instanceof Error
      ? error.message || (error as { code?: string }).code || error.name
      : String(error);
  return text
    .replace(/postgres(?:ql)?:\/\/\S+/gi, (url) => redactedDatabaseUrl(url))
    .replace(/\s+/g, " ")
    .slice(0, 200);
}

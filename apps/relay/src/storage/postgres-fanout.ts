import * as A from "@automerge/automerge";
import type { DocumentId, Repo } from "@automerge/automerge-repo";
import pg from "pg";
import type { IdleEviction } from "../memory/idle-eviction.js";
import type { RelayLog } from "../relay-log.js";
import type { DocumentFlushes } from "./document-flushes.js";
import { DOCUMENTS_CHANNEL } from "./postgres-schema.js";
import type { ChunkNotice, PostgresStorage } from "./postgres-storage.js";

/** Pauses between attempts to LISTEN again after the connection dropped. */
const RECONNECT_PAUSES_MS = [250, 500, 1000, 2000];

/**
 * Fan-out between relays on one database. Each relay LISTENs on
 * {@link DOCUMENTS_CHANNEL}; every committed chunk write sends a notice naming
 * the document and the chunk (never its bytes). A relay holding that document
 * in memory loads the chunk from the database and merges it, so the Repo
 * syncs the change to the clients connected here, live. A notice is only a
 * hint: when the LISTEN connection drops, notices sent meanwhile are lost, so
 * after listening again the relay re-reads every document it holds in memory
 * from the database.
 */
export class PostgresFanout {
  readonly #url: string;
  readonly #storage: PostgresStorage;
  readonly #repo: Repo;
  readonly #log: RelayLog;
  readonly #flushes: DocumentFlushes;
  #client: pg.Client | undefined;
  #listening = false;
  #stopped = false;
  #attempt = 0;
  /** Per document, the merge in progress: notices for one document are merged one at a time. */
  readonly #merging = new Map<string, Promise<void>>();
  /** Called with the time a merge took, and whether it changed the document. */
  onMerged: ((seconds: number) => void) | undefined;
  /**
   * The relay's eviction of idle documents, if any: a merge counts as work on
   * the document, and a notice for an evicted document that a connected peer
   * had open loads it again (so that peer hears of the change); one nobody
   * here had open is left in the database.
   */
  eviction: IdleEviction | undefined;
  /** Called with the document of every notice from another relay (before any merge), so caches forget it. */
  onNotice: ((documentId: string) => void) | undefined;
  /** Called when listening again after the connection dropped: notices may have been missed. */
  onMissedNotices: (() => void) | undefined;

  /**
   * Fan-out for `repo`, reading chunks through `storage`, listening on its
   * own connection to `url`; `flushes` learns that a merged state is stored.
   */
  constructor(
    url: string,
    storage: PostgresStorage,
    repo: Repo,
    log: RelayLog,
    flushes: DocumentFlushes,
  ) {
    this.#url = url;
    this.#flushes = flushes;
    this.#storage = storage;
    this.#repo = repo;
    this.#log = log;
  }

  /** True while the LISTEN connection is up (for `/healthz`). */
  get listening(): boolean {
    return this.#listening;
  }

  /**
   * Connects and LISTENs; resolves once listening.
   * @throws Error when the first connection fails (the relay refuses to start).
   */
  async start(): Promise<void> {
    await this.#listen();
  }

  /** Stops listening and closes the connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#listening = false;
    await this.#client?.end().catch(() => undefined);
    await Promise.allSettled([...this.#merging.values()]);
  }

  async #listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#url,
      connectionTimeoutMillis: 2000,
      application_name: `canon-relay ${this.#storage.origin} listen`,
      keepAlive: true,
    });
    const lost = () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      const was = this.#listening;
      this.#listening = false;
      if (was)
        this.#log.write("warn", "database-lost", { reason: "the notification connection closed" });
      this.#reconnectLater();
    };
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (message) => {
      if (message.channel === DOCUMENTS_CHANNEL && message.payload !== undefined)
        this.#notice(message.payload);
    });
    this.#client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${DOCUMENTS_CHANNEL}`);
    } catch (error) {
      if (this.#client === client) this.#client = undefined;
      await client.end().catch(() => undefined);
      throw error;
    }
    this.#listening = true;
    this.#attempt = 0;
  }

  #reconnectLater(): void {
    if (this.#stopped) return;
    const pause = RECONNECT_PAUSES_MS[Math.min(this.#attempt, RECONNECT_PAUSES_MS.length - 1)];
    this.#attempt += 1;
    setTimeout(() => {
      if (this.#stopped || this.#client !== undefined) return;
      this.#listen().then(
        () => {
          this.onMissedNotices?.();
          this.#log.write("info", "database-back", { resynced: this.#resyncAll() });
        },
        () => this.#reconnectLater(),
      );
    }, pause).unref();
  }

  /** Re-reads every document held in memory or wanted back (notices may have been missed); returns how many. */
  #resyncAll(): number {
    const held = Object.values(this.#repo.handles).filter((handle) => handle.isReady());
    for (const handle of held) this.#schedule(handle.documentId, undefined);
    const wanted = this.eviction?.wantedDocuments() ?? [];
    for (const documentId of wanted) this.#schedule(documentId, undefined);
    return held.length + wanted.length;
  }

  #notice(payload: string): void {
    let notice: ChunkNotice;
    try {
      notice = JSON.parse(payload) as ChunkNotice;
    } catch {
      return;
    }
    if (typeof notice.documentId !== "string" || !Array.isArray(notice.key)) return;
    if (notice.origin === this.#storage.origin) return;
    this.onNotice?.(notice.documentId);
    this.#schedule(notice.documentId, notice.key);
  }

  /** Merges the chunk `key` (every chunk of the document when undefined) into the document, if held. */
  #schedule(documentId: string, key: readonly string[] | undefined): void {
    const handle = this.#repo.handles[documentId as DocumentId];
    const eviction = this.eviction;
    const evicting = eviction?.settled(documentId);
    if (evicting !== undefined) {
      // Held until the eviction is over, then as for a document not in memory.
      void evicting.then(() => this.#schedule(documentId, key));
      return;
    }
    if (handle === undefined) {
      if (eviction?.wanted(documentId)) this.#reload(documentId);
      return;
    }
    if (!handle.isReady()) {
      // Loading (again, after an eviction): its read of the database may have
      // missed this chunk, so merge it once loaded.
      if (handle.inState(["loading", "requesting"]))
        void handle
          .whenReady(["ready", "unavailable", "deleted", "unloaded"])
          .then(() => this.#schedule(documentId, key));
      return;
    }
    eviction?.begin(documentId);
    const previous = this.#merging.get(documentId) ?? Promise.resolve();
    const next = previous
      .then(() => this.#merge(documentId, key))
      .catch((error: unknown) => {
        this.#log.write("warn", "merge-failed", {
          documentId,
          error: error instanceof Error ? error.message.slice(0, 200) : String(error),
        });
      })
      .finally(() => {
        eviction?.end(documentId);
        if (this.#merging.get(documentId) === next) this.#merging.delete(documentId);
      });
    this.#merging.set(documentId, next);
  }

  /**
   * Loads an evicted document again from the database (which has the chunk
   * just announced): the Repo then syncs it with the peers that had it open.
   */
  #reload(documentId: string): void {
    this.#repo.find(documentId as DocumentId).catch((error: unknown) => {
      this.#log.write("warn", "merge-failed", {
        documentId,
        error: `reload: ${error instanceof Error ? error.message.slice(0, 200) : String(error)}`,
      });
    });
  }

  async #merge(documentId: string, key: readonly string[] | undefined): Promise<void> {
    const started = performance.now();
    const chunks: Uint8Array[] = [];
    if (key === undefined) {
      for (const chunk of await this.#storage.loadRange([documentId])) {
        if (chunk.data !== undefined && chunk.key[1] !== "sync-state") chunks.push(chunk.data);
      }
    } else {
      // Compacted away already: the snapshot that replaced it has its own notice.
      const data = await this.#storage.load([...key]);
      if (data !== undefined) chunks.push(data);
    }
    const handle = this.#repo.handles[documentId as DocumentId];
    if (chunks.length === 0 || handle === undefined || !handle.isReady()) return;
    // A stored state plus chunks read from storage is stored: the relay need
    // not write it again before passing it on (the Repo's own save still will).
    const storedBefore = this.#flushes.isStored(documentId, A.getHeads(handle.doc()));
    handle.update((doc) => {
      let merged = doc;
      for (const chunk of chunks) {
        try {
          merged = A.loadIncremental(merged, chunk);
        } catch {
          // A chunk that does not load is left to the readers' own checks.
        }
      }
      return merged;
    });
    if (storedBefore) this.#flushes.markStored(documentId, A.getHeads(handle.doc()));
    this.onMerged?.((performance.now() - started) / 1000);
  }
}

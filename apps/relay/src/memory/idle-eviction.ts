import * as A from "@automerge/automerge";
import type { DocHandle, DocumentId, PeerId, Repo } from "@automerge/automerge-repo";
import type { RelayLog } from "../relay-log.js";
import type { DocumentFlushes } from "../storage/document-flushes.js";

/** How long a document stays in memory with no message about it, unless the relay is told otherwise. */
export const DEFAULT_IDLE_EVICTION_MS = 60_000;

/**
 * What the rest of the relay tells the eviction about a document: the guard
 * on every message in or out, the Repo while it handles one, the fan-out
 * while it merges another relay's chunk.
 */
export interface DocumentActivity {
  /** A message about the document arrived or left now. */
  touch(documentId: string): void;
  /** Work on the document started (a message the Repo is handling, a message waiting for storage, a merge). */
  begin(documentId: string): void;
  /** That work ended (exactly once per {@link DocumentActivity.begin}). */
  end(documentId: string): void;
  /**
   * Resolves once an eviction of the document in progress has finished, at
   * once when there is none: a message about it waits for this before the
   * Repo sees it, so it never lands in a copy about to be dropped.
   */
  settled(documentId: string): Promise<void> | undefined;
}

/**
 * True for a handle eviction may drop: a loaded document, or one no peer
 * had (`unavailable`: a request for an id nobody stored), which holds no
 * document but stayed in memory for ever; a peer asking for random ids, a
 * thousand a minute per connection, grew a relay without bound
 * (`removeFromCache` drops those only with Canon's automerge-repo patch).
 */
function evictable(handle: DocHandle<unknown>): boolean {
  return handle.isReady() || handle.state === "unavailable";
}

/** What {@link IdleEviction} works with. */
export interface IdleEvictionOptions {
  /** A document with no message about it for this long (and no work in flight) leaves memory. */
  readonly idleMs: number;
  readonly log: RelayLog;
  /** Called with how many documents a sweep evicted. */
  readonly onEvicted?: (count: number) => void;
  /** Called with each evicted document, so what is remembered of it elsewhere can go too. */
  readonly forget?: (documentId: string) => void;
}

/**
 * Frees the memory of documents nobody is using. automerge-repo keeps every
 * document it has loaded for as long as the Repo lives (about 0.14 MB each
 * for a small Canon document), so a relay that serves many spaces grows
 * without bound. A sweep (every `idleMs / 2`, at most every 30 s) drops from
 * the Repo (`repo.removeFromCache`) every document that is ready (or that
 * no peer had: unavailable), has had no
 * message in or out for `idleMs`, and has no work in flight. Before dropping
 * it, the document is saved (for the database, committed) and checked
 * again: if anything arrived meanwhile, it stays. Messages about a document
 * being evicted wait until the eviction is over, and then load it again from
 * storage like any document the relay does not hold in memory.
 *
 * A peer that still has the document open (it synced it and is connected)
 * keeps getting live changes: automerge-repo remembers which peers asked for
 * a document across `removeFromCache` and syncs with them again when it is
 * loaded, and {@link IdleEviction.wanted} tells the database fan-out to load
 * an evicted document that a connected peer here had open when another
 * relay writes to it.
 */
export class IdleEviction implements DocumentActivity {
  readonly #repo: Repo;
  readonly #flushes: DocumentFlushes;
  readonly #options: IdleEvictionOptions;
  /** Per document, when a message about it last went in or out (ms, `performance.now()`). */
  readonly #lastActive = new Map<string, number>();
  /** Per document, work in flight. */
  readonly #inFlight = new Map<string, number>();
  /** Per document being evicted, resolved when it is done. */
  readonly #evicting = new Map<string, Promise<void>>();
  /** Evicted documents that connected peers had open, with those peers. */
  readonly #openBy = new Map<string, Set<string>>();
  /** The same, by peer. */
  readonly #openedBy = new Map<string, Set<string>>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #sweeping: Promise<number> | undefined;
  #evictedTotal = 0;

  /** Evicts from `repo`, saving through `flushes` first. Call {@link IdleEviction.start} to sweep on a timer. */
  constructor(repo: Repo, flushes: DocumentFlushes, options: IdleEvictionOptions) {
    this.#repo = repo;
    this.#flushes = flushes;
    this.#options = options;
    repo.networkSubsystem.on("peer-disconnected", ({ peerId }) => this.#forgetPeer(peerId));
    // Loaded again from storage: which peers to sync with is the Repo's business again.
    repo.on("doc-metrics", (event) => {
      if (event.type === "doc-loaded") this.#forgetDocument(event.documentId);
    });
  }

  /** Documents evicted since the relay started. */
  get evictedTotal(): number {
    return this.#evictedTotal;
  }

  /** Sweeps every `idleMs / 2` (at most every 30 s, at least every 100 ms) until {@link IdleEviction.stop}. */
  start(): void {
    const every = Math.min(30_000, Math.max(100, Math.floor(this.#options.idleMs / 2)));
    this.#timer = setInterval(() => {
      this.#sweeping ??= this.sweep().finally(() => {
        this.#sweeping = undefined;
      });
    }, every);
    this.#timer.unref();
  }

  /** Stops sweeping; a sweep in progress stops after the document it is evicting. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping?.catch(() => undefined);
  }

  touch(documentId: string): void {
    this.#lastActive.set(documentId, performance.now());
  }

  begin(documentId: string): void {
    this.#inFlight.set(documentId, (this.#inFlight.get(documentId) ?? 0) + 1);
    this.touch(documentId);
  }

  end(documentId: string): void {
    const left = (this.#inFlight.get(documentId) ?? 1) - 1;
    if (left <= 0) this.#inFlight.delete(documentId);
    else this.#inFlight.set(documentId, left);
    this.touch(documentId);
  }

  settled(documentId: string): Promise<void> | undefined {
    return this.#evicting.get(documentId);
  }

  /**
   * True when the document is not in memory but a connected peer had it open
   * when it was evicted: a change another relay stores must then load it, so
   * that peer hears of the change.
   */
  wanted(documentId: string): boolean {
    return (this.#openBy.get(documentId)?.size ?? 0) > 0;
  }

  /** The evicted documents {@link IdleEviction.wanted} answers true for. */
  wantedDocuments(): string[] {
    return [...this.#openBy.keys()];
  }

  /**
   * Evicts every document idle for `idleMs` (now, rather than on the timer),
   * one at a time; returns how many.
   */
  async sweep(): Promise<number> {
    const now = performance.now();
    let evicted = 0;
    for (const handle of Object.values(this.#repo.handles)) {
      if (this.#stopped) break;
      const documentId = handle.documentId;
      if (!evictable(handle)) continue;
      const last = this.#lastActive.get(documentId);
      if (last === undefined) {
        // Loaded by something that sent no message (a find of the Repo's own): idle from now.
        this.touch(documentId);
        continue;
      }
      if (now - last < this.#options.idleMs || this.#inFlight.has(documentId)) continue;
      try {
        if (await this.#evict(documentId, last)) evicted += 1;
      } catch (error) {
        this.#options.log.write("warn", "eviction-failed", {
          documentId,
          error: error instanceof Error ? error.message.slice(0, 200) : String(error),
        });
      }
    }
    if (evicted > 0) {
      this.#evictedTotal += evicted;
      this.#options.log.write("debug", "documents-evicted", {
        evicted,
        inMemory: Object.keys(this.#repo.handles).length,
      });
      this.#options.onEvicted?.(evicted);
    }
    return evicted;
  }

  /** Saves the document, and drops it from memory unless anything happened meanwhile; true when dropped. */
  async #evict(documentId: string, last: number): Promise<boolean> {
    let release = () => {};
    this.#evicting.set(
      documentId,
      new Promise<void>((resolve) => {
        release = resolve;
      }),
    );
    try {
      await this.#flushes.stored(documentId);
      const handle = this.#repo.handles[documentId as DocumentId];
      if (
        handle === undefined ||
        !evictable(handle) ||
        this.#inFlight.has(documentId) ||
        this.#lastActive.get(documentId) !== last ||
        (handle.isReady() && !this.#flushes.isStored(documentId, A.getHeads(handle.doc())))
      )
        return false;
      const synchronizer = this.#repo.synchronizer.docSynchronizers[documentId as DocumentId];
      const openBy = new Set<string>(
        this.#repo.peers.filter((peerId) => synchronizer?.hasPeer(peerId as PeerId) === true),
      );
      // `removeFromCache` unloads the handle, which replaces its document with
      // an empty one and announces that as a change: the Repo would then save
      // the empty document as a snapshot and delete the stored chunks
      // (automerge-repo issue #435), and the synchronizer would offer it to
      // peers. Nobody may listen to the handle any more.
      handle.removeAllListeners();
      await this.#repo.removeFromCache(documentId as DocumentId);
      this.#flushes.forget(documentId);
      this.#options.forget?.(documentId);
      this.#lastActive.delete(documentId);
      this.#forgetDocument(documentId);
      if (openBy.size > 0) {
        this.#openBy.set(documentId, openBy);
        for (const peerId of openBy) {
          const opened = this.#openedBy.get(peerId) ?? new Set<string>();
          opened.add(documentId);
          this.#openedBy.set(peerId, opened);
        }
      }
      return true;
    } finally {
      this.#evicting.delete(documentId);
      release();
    }
  }

  #forgetPeer(peerId: string): void {
    for (const documentId of this.#openedBy.get(peerId) ?? []) {
      const peers = this.#openBy.get(documentId);
      peers?.delete(peerId);
      if (peers?.size === 0) this.#openBy.delete(documentId);
    }
    this.#openedBy.delete(peerId);
  }

  #forgetDocument(documentId: string): void {
    for (const peerId of this.#openBy.get(documentId) ?? []) {
      const opened = this.#openedBy.get(peerId);
      opened?.delete(documentId);
      if (opened?.size === 0) this.#openedBy.delete(peerId);
    }
    this.#openBy.delete(documentId);
  }
}

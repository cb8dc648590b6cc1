import { createHash } from "node:crypto";
import * as A from "@automerge/automerge";
import {
  type AutomergeUrl,
  type DocHandle,
  type DocumentId,
  isValidDocumentId,
  type NetworkAdapterInterface,
  type PeerId,
  Repo,
} from "@automerge/automerge-repo";
import { type CanonError, isCanonError, type SignedRecord } from "@canon/core";
import type { CanonHome } from "./home/canon-home.js";
import { LooseDocuments } from "./loose-documents.js";
import { ContentLookup } from "./space/content-lookup.js";
import { type SpaceDocument, type StandardDocument, writableMap } from "./space/documents.js";
import { SpaceReader } from "./space/space-reader.js";
import { FileStorage } from "./storage/file-storage.js";
import { WritesInFlight } from "./storage/writes-in-flight.js";
import { SYNC_DEBOUNCE_MS } from "./sync/sync-debounce.js";

/** A document stored in this many chunks or more is compacted into one snapshot when the replica closes. */
const COMPACT_AFTER_CHUNKS = 4;

/** How many held files {@link Replica.settleSoon} writes and syncs at once, while the fold runs. */
const SETTLE_SOON_AT_ONCE = 2;

/** An empty change set: what {@link Replica.adopt} imports before setting the document. */
const NO_BYTES = new Uint8Array(0);

/**
 * How long after giving up on a document {@link Replica.find} first asks
 * peers for it again, in the background; each further ask waits twice as
 * long, up to {@link ASK_AGAIN_AT_MOST_MS}. A document routed before it
 * reached the relay (or published later) is then fetched by a process that
 * lives long (the owner, `watch`), while a route to nowhere costs one
 * request a minute, never a wait.
 */
const ASK_AGAIN_FIRST_MS = 5_000;

/** The longest wait between two asks for a document no peer had ({@link ASK_AGAIN_FIRST_MS}). */
const ASK_AGAIN_AT_MOST_MS = 60_000;

/**
 * automerge-repo's `Repo`, but a flush skips a document it holds no handle
 * of: a document held loose ({@link LooseDocuments}) was stored whole when
 * it was taken in, and upstream's flush would throw on it.
 */
class ReplicaRepo extends Repo {
  override async flush(documents?: DocumentId[]): Promise<void> {
    await super.flush(documents?.filter((documentId) => Object.hasOwn(this.handles, documentId)));
  }
}

/** Options for opening a replica. */
export interface ReplicaOptions {
  /** Network adapters to sync through (none: fully offline). */
  readonly network?: NetworkAdapterInterface[];
  /** Peer id to announce; random when absent. */
  readonly peerId?: string;
  /** How long to wait for a document that is not stored locally before calling it unavailable. */
  readonly findTimeoutMs?: number;
  /**
   * False to check every record from scratch, ignoring the records the
   * verified snapshot says were checked before (an audit; the snapshot is
   * rewritten from the result). Default true.
   */
  readonly trustSnapshot?: boolean;
}

/**
 * The local replica: an automerge-repo `Repo` over {@link FileStorage} in
 * `$CANON_HOME/replica`. It has a lifecycle (open, use, close) and must be
 * closed so pending saves reach the disk before the process exits; closing
 * also compacts the documents it touched. Spaces are read through
 * {@link Replica.spaces}, release bodies looked up through {@link Replica.content}.
 */
export class Replica {
  /** The underlying automerge-repo peer. */
  readonly repo: Repo;
  /** The home this replica lives in. */
  readonly home: CanonHome;
  /** The storage adapter, for diagnostics (which file holds what). */
  readonly storage: FileStorage;
  /** Loads and folds this replica's spaces, remembering verified records while the replica lives. */
  readonly spaces: SpaceReader;
  /** Finds release bodies in this replica's documents, then the home's blob cache. */
  readonly content: ContentLookup;
  readonly #findTimeoutMs: number;
  readonly #touched = new Set<DocumentId>();
  /** Documents whose stored files failed their checksum: asking again would hang until the find timeout. */
  readonly #damaged = new Map<string, CanonError>();
  /**
   * Documents a find gave up on (unavailable, or not here within the
   * timeout): when to ask peers for each again, and the wait after that.
   */
  readonly #waitedFor = new Map<string, { askAt: number; nextWaitMs: number }>();
  #closed = false;
  /** Every write the Repo makes, so {@link writesSettled} can wait for the late ones. */
  readonly #writes = new WritesInFlight();
  /** Held open by the home's owner process: {@link close} only flushes. */
  #heldOpen = false;
  /** Held writes being made durable early ({@link settleSoon}); {@link close} waits for them. */
  #settling: Promise<void> | undefined;
  /** Documents taken in whole and held without a handle until something needs one ({@link adoptAll}). */
  readonly #loose: LooseDocuments;

  /** Opens (or creates) the replica in `home`. Cheap: documents load on demand. */
  constructor(home: CanonHome, options: ReplicaOptions = {}) {
    this.home = home;
    this.storage = new FileStorage(home.replica, { generation: true });
    this.#findTimeoutMs = options.findTimeoutMs ?? 5_000;
    this.repo = new ReplicaRepo({
      storage: this.#writes.wrap(this.storage),
      network: options.network ?? [],
      ...(options.peerId ? { peerId: options.peerId as PeerId } : {}),
      sharePolicy: async () => true,
      syncDebounceRate: SYNC_DEBOUNCE_MS,
    });
    this.content = new ContentLookup(home);
    this.spaces = new SpaceReader(this, { trustSnapshot: options.trustSnapshot ?? true });
    this.#loose = new LooseDocuments(
      (documentId, doc) => this.#takeIn(documentId, doc),
      (documentId) =>
        Object.hasOwn(this.repo.handles, documentId)
          ? this.repo.handles[documentId as DocumentId]
          : undefined,
    );
  }

  /**
   * Starts syncing through another network adapter (a relay, a serving peer).
   * Every document held loose gets its handle first: the Repo syncs only
   * what it has a handle of.
   */
  connect(adapter: NetworkAdapterInterface): void {
    this.#loose.makeAll();
    this.repo.networkSubsystem.addNetworkAdapter(adapter);
  }

  /** Stops syncing through an adapter added with {@link connect}. */
  disconnect(adapter: NetworkAdapterInterface): void {
    this.repo.networkSubsystem.removeNetworkAdapter(adapter);
  }

  /** Creates a new document with initial content and returns its handle. */
  create<T>(initial: T): DocHandle<T> {
    const handle = this.repo.create<T>(initial);
    this.#touched.add(handle.documentId);
    return handle;
  }

  /**
   * Finds a document locally (or from connected peers).
   * @throws CanonError `STORAGE_DAMAGED` naming the file when a stored chunk is damaged,
   * `UNKNOWN_SPACE`-style `undefined` is returned when it is not available.
   */
  async find<T>(documentId: string): Promise<DocHandle<T> | undefined> {
    // A timer rather than find's `signal`: automerge-repo 2.5.6 rejects an
    // unhandled promise when that signal fires after find has settled.
    const damaged = this.#damaged.get(documentId);
    if (damaged) throw damaged;
    // Taken in whole and held without a handle: its stand-in (see loose-documents.ts).
    const loose = this.#loose.standIn<T>(documentId);
    if (loose !== undefined) {
      this.#touched.add(documentId as DocumentId);
      return loose;
    }
    // Loaded already (taken in from a bulk answer, or found before): the Repo would return
    // the same handle, after checking the id's checksum twice (a JavaScript sha-256 each).
    const held = Object.hasOwn(this.repo.handles, documentId)
      ? this.repo.handles[documentId as DocumentId]
      : undefined;
    if (held?.isReady()) {
      this.#touched.add(held.documentId);
      return held as DocHandle<T>;
    }
    // Routing entries come from peers: an id that is not a document id names nothing.
    if (!isValidDocumentId(documentId)) return undefined;
    // Offline, a document that is not stored is simply absent. Asking the Repo
    // anyway would cache it as "unavailable" and hide it from a later sync.
    const offline = this.repo.networkSubsystem.adapters.length === 0;
    const inMemory = documentId in this.repo.handles;
    if (offline && !inMemory && !(await this.storage.hasDocument(documentId))) {
      return undefined;
    }
    // A document already waited for once in this process is not waited for again:
    // a routing entry naming one that exists nowhere costs one timeout, not one a load.
    // It is asked for again in the background now and then (it may exist by now), and
    // taken once it has come.
    const gaveUp = this.#waitedFor.get(documentId);
    if (gaveUp !== undefined) {
      const handle = this.repo.handles[documentId as DocumentId];
      if (handle?.isReady()) {
        this.#waitedFor.delete(documentId);
        this.#touched.add(handle.documentId);
        return handle as DocHandle<T>;
      }
      if (!offline && Date.now() >= gaveUp.askAt) this.#askAgain(documentId, gaveUp.nextWaitMs);
      return undefined;
    }
    const waitMs = this.#findTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), waitMs);
    });
    try {
      const handle = await Promise.race([
        this.repo.find<T>(`automerge:${documentId}` as AutomergeUrl),
        timeout,
      ]);
      if (handle) this.#touched.add(handle.documentId);
      else this.#gaveUpOn(documentId, ASK_AGAIN_FIRST_MS);
      return handle;
    } catch (error) {
      if (isCanonError(error, "STORAGE_DAMAGED")) this.#damaged.set(documentId, error);
      if (isCanonError(error)) throw error;
      if (/unavailable/i.test(String((error as Error).message))) {
        this.#gaveUpOn(documentId, ASK_AGAIN_FIRST_MS);
        return undefined;
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Remembers giving up on a document: {@link find} asks for it again in `waitMs`. */
  #gaveUpOn(documentId: string, waitMs: number): void {
    this.#waitedFor.set(documentId, {
      askAt: Date.now() + waitMs,
      nextWaitMs: Math.min(waitMs * 2, ASK_AGAIN_AT_MOST_MS),
    });
  }

  /**
   * Asks peers again for a document given up on, without waiting: the
   * Repo's handle of it, once unavailable, answers every find so for ever,
   * so it is dropped first. What comes is taken by a later {@link find}.
   */
  #askAgain(documentId: string, waitMs: number): void {
    this.#gaveUpOn(documentId, waitMs);
    const id = documentId as DocumentId;
    void (async () => {
      if (this.repo.handles[id]?.state === "unavailable") await this.repo.removeFromCache(id);
      if (this.#closed || id in this.repo.handles) return;
      await this.repo.find(`automerge:${documentId}` as AutomergeUrl);
    })().catch(() => {});
  }

  /**
   * True when a document is here without asking peers: loaded, or stored.
   * @throws nothing a peer can cause (a storage error reading the directory only).
   */
  async holds(documentId: string): Promise<boolean> {
    if (this.#loose.has(documentId)) return true;
    if (this.repo.handles[documentId as DocumentId]?.isReady()) return true;
    return isValidDocumentId(documentId) && (await this.storage.hasDocument(documentId));
  }

  /**
   * A document this process holds in memory, ready, without asking the Repo
   * or the disk: its handle, or the stand-in of a document held loose
   * ({@link adoptAll}); undefined otherwise.
   */
  inMemory<T>(documentId: string): DocHandle<T> | undefined {
    const loose = this.#loose.standIn<T>(documentId);
    if (loose !== undefined) return loose;
    const handle = Object.hasOwn(this.repo.handles, documentId)
      ? this.repo.handles[documentId as DocumentId]
      : undefined;
    return handle?.isReady() ? (handle as DocHandle<T>) : undefined;
  }

  /**
   * Takes in a document this replica does not hold yet, already loaded
   * (`Automerge.load` of bytes a relay sent in bulk, see
   * `sync/space-documents.ts`): it becomes a ready handle (or, given its
   * bytes, is held loose until something needs one, see {@link adoptAll}),
   * saved like any other, and flushed when the replica closes. Its records are checked by
   * the fold as any synced ones are. False (and nothing changes) when the
   * replica already holds the document, in memory or on disk, or the id is
   * not a document id. With `bytes` (what `doc` was loaded from, whole),
   * those bytes are stored as the document's snapshot, as received, rather
   * than encoded again ({@link adoptAll}).
   */
  async adopt(documentId: string, doc: A.Doc<unknown>, bytes?: Uint8Array): Promise<boolean> {
    return (await this.adoptAll([[documentId, doc, bytes]])).length === 1;
  }

  /**
   * {@link adopt} for many documents at once: every disk check first (one
   * listing of the replica's folders, `FileStorage.documentsStored`), then
   * every document taken in, with no wait in between. Each
   * document taken in starts its save at once, and a save (written, then
   * synced to disk) holds one of the few threads that file operations share;
   * checks interleaved with saves would each wait behind them (5 s of a
   * 1,000-document join). Their writes are held back until {@link close}
   * (`FileStorage.holdWrites`), which makes them durable together: until
   * then a crash leaves none of them. A document given with the bytes it
   * was loaded from (`Automerge.load` of exactly those bytes, which loading
   * them again reproduces) is stored as those bytes, and automerge-repo
   * counts it as saved (`saveLoaded`, a Canon patch): it does not encode
   * the document again (`Automerge.save`, a third of a 1,000-document
   * join's time in automerge-repo). Such a document is then held loose,
   * without a handle ({@link LooseDocuments}), while this replica syncs with
   * no peer and is not the owner's: the fold and the caches only read it,
   * and a handle is made the moment anything else needs one (a change, a
   * peer connected). Returns the ids taken in, in order.
   */
  async adoptAll(
    documents: readonly (readonly [
      documentId: string,
      doc: A.Doc<unknown>,
      bytes?: Uint8Array | undefined,
    ])[],
  ): Promise<string[]> {
    const seen = new Set<string>();
    const fresh = documents.filter(([documentId]) => {
      if (seen.has(documentId)) return false;
      seen.add(documentId);
      return (
        isValidDocumentId(documentId) &&
        !(documentId in this.repo.handles) &&
        !this.#loose.has(documentId)
      );
    });
    // One listing of the replica's folders first: a join's replica usually holds none of them.
    const stored = await this.storage.documentsStored(fresh.map(([documentId]) => documentId));
    const adopted: string[] = [];
    if (fresh.some(([documentId]) => !stored.has(documentId))) this.storage.holdWrites();
    const saves: Promise<void>[] = [];
    const storage = this.repo.storageSubsystem;
    // Only with the Canon patch: the packed CLI runs the automerge-repo npm installs, unpatched,
    // whose Repo then saves each document itself, as before.
    const patched =
      storage !== undefined &&
      typeof (storage as { saveLoaded?: unknown }).saveLoaded === "function";
    // Without a peer to sync with, nothing needs a handle yet; the owner's replica always makes them.
    const loose = patched && !this.#heldOpen && this.repo.networkSubsystem.adapters.length === 0;
    for (const [documentId, doc, bytes] of fresh) {
      if (stored.has(documentId) || documentId in this.repo.handles) continue;
      // Stored as received, its heads counted as saved before a handle's first update schedules a save.
      if (bytes !== undefined && patched)
        saves.push(storage.saveLoaded(documentId as DocumentId, doc, bytes));
      if (loose && bytes !== undefined) this.#loose.add(documentId, doc);
      else this.#takeIn(documentId, doc);
      this.#touched.add(documentId as DocumentId);
      adopted.push(documentId);
    }
    await Promise.all(saves);
    return adopted;
  }

  /**
   * Makes a ready handle of a document taken in: `import` with no bytes
   * registers an empty handle (saved on change, synced); the document is
   * then set whole, without loading its bytes a second time.
   */
  #takeIn(documentId: string, doc: A.Doc<unknown>): DocHandle<unknown> {
    const handle = this.repo.import<unknown>(NO_BYTES, { docId: documentId as DocumentId });
    handle.update(() => doc);
    handle.doneLoading();
    return handle;
  }

  /**
   * Starts making the writes {@link adoptAll} held back durable now, in the
   * background (`FileStorage.settle`, two files at a time), instead of when
   * the replica closes: a join's 1,000 files are then written and synced
   * while this process folds what it took in, rather than after (~0.8 s of
   * waiting on the disk at load 7). Two at a time leaves the other threads
   * that file operations share to the fold's signature checks (WebCrypto);
   * {@link close} finishes it at full speed and throws what it threw. A crash before it
   * ends leaves each file whole or absent (as `settle` always did); the
   * documents already durable are then simply there for the next sync.
   */
  settleSoon(): void {
    if (this.#settling !== undefined) return;
    const settling = this.storage.settle({ atOnce: SETTLE_SOON_AT_ONCE });
    // Thrown where it is awaited, by `close`.
    settling.catch(() => {});
    this.#settling = settling;
  }

  /**
   * Settles every held write at full speed: joins a {@link settleSoon}
   * under way (raising its pace), and throws what it threw, even if it
   * ended before.
   */
  async #settleAll(): Promise<void> {
    const settling = this.#settling;
    this.#settling = undefined;
    await this.storage.settle();
    await settling;
  }

  /** Appends a signed record to a document's `records` map (recreated first if a peer deleted or retyped it). */
  appendRecord(handle: DocHandle<SpaceDocument | StandardDocument>, signed: SignedRecord): void {
    handle.change((doc) => {
      writableMap<Uint8Array>(doc, "records")[signed.cid] = signed.bytes;
    });
    this.#touched.add(handle.documentId);
  }

  /** Compacts every touched document stored in more than a few chunks into one snapshot. */
  async #compact(): Promise<void> {
    for (const documentId of this.touched()) {
      if (this.storage.chunkCount(documentId) < COMPACT_AFTER_CHUNKS) continue;
      const handle = this.repo.handles[documentId];
      if (handle === undefined || !handle.isReady()) continue;
      const doc = handle.doc();
      const name = createHash("sha256").update(A.getHeads(doc).sort().join(",")).digest("hex");
      await this.storage.compact(documentId, A.save(doc), name);
    }
  }

  /**
   * Waits until no chunk write of this process is under way: a save
   * automerge-repo started on its own before a flush (its throttled save)
   * may still be compacting (writing a snapshot, then removing what it
   * replaced) when the flush returns, and caches written meanwhile would
   * name files about to go. Two quiet turns of the event loop in a row.
   */
  async #settled(): Promise<void> {
    for (let quiet = 0; quiet < 2; ) {
      await new Promise((resolve) => setImmediate(resolve));
      quiet = (this.storage.generation?.inFlight ?? 0) === 0 ? quiet + 1 : 0;
    }
  }

  /** Document ids this process has loaded or changed (in a replica held open: since {@link forgetTouched}). */
  touched(): DocumentId[] {
    return [...this.#touched];
  }

  /**
   * In a replica held open by the home's owner, called before each command
   * it runs: from now on {@link touched} names only what that command loads
   * or changes. Otherwise every document the owner ever loaded (all of them
   * after a sync of every document) counts as touched by every later
   * command, which then reads, flushes, describes and lists them all: a
   * `publish` after such a sync cost 5× one before it at 1,000 documents.
   * What a peer changes between commands is saved by automerge-repo on its
   * own; a save that lands after a command's disk proof moves the
   * generation, and the next command takes the slow path.
   */
  forgetTouched(): void {
    if (this.#heldOpen) this.#touched.clear();
  }

  /**
   * Keeps this replica open for the life of the process (the home's owner):
   * from now on {@link close} only flushes, and {@link shutdown} closes.
   */
  holdOpen(): void {
    // The owner's documents sync as peers come and go: each needs its handle.
    this.#loose.makeAll();
    this.#heldOpen = true;
  }

  /** True while held open by the home's owner ({@link holdOpen}). */
  get isHeldOpen(): boolean {
    return this.#heldOpen;
  }

  /**
   * Merges what another process wrote into this home's storage since these
   * documents were loaded (a command run without the owner), so a held-open
   * replica decides from the newest state. Returns how many chunks it merged.
   */
  async catchUp(): Promise<number> {
    if (!this.#heldOpen) return 0;
    const { mergeChangesOnDisk } = await import("./sync/changes-on-disk.js");
    const ready = Object.values(this.repo.handles).filter((handle) => handle.isReady());
    return mergeChangesOnDisk(this, ready as DocHandle<unknown>[]);
  }

  /**
   * Resolves once the writes automerge-repo scheduled on its own have
   * landed (a peer's sync-state save, throttled to start up to 100 ms after
   * the message that caused it, so possibly after {@link close} returned),
   * or after `timeoutMs`. For a caller about to remove the home's directory
   * or hand it to another process; a command about to exit need not wait:
   * what it reported as done was flushed by {@link close}, and a sync state
   * is only a hint for the next sync.
   */
  writesSettled(timeoutMs = 5_000): Promise<void> {
    return this.#writes.settled(timeoutMs);
  }

  /**
   * Closes a replica held open with {@link holdOpen}: flushes and
   * disconnects, without compacting. Compaction renames chunk files, which
   * would leave every cache of the spaces it touched stale (the next command
   * would load and fold the whole space); the next command that loads a
   * document compacts it and writes the caches for the new names.
   */
  async shutdown(): Promise<void> {
    this.#heldOpen = false;
    await this.close({ compact: false });
  }

  /**
   * Writes every pending change to disk and disconnects from peers. Must be
   * awaited before the process exits, or the last 100 ms of changes are lost.
   * A replica held open ({@link holdOpen}) is only flushed.
   */
  async close(options: { readonly compact?: boolean } = {}): Promise<void> {
    if (this.#heldOpen) {
      await this.repo.flush(this.touched());
      await this.#settled();
      await this.#settleAll();
      return;
    }
    if (this.#closed) return;
    this.#closed = true;
    // Flush only documents this process loaded: `Repo.flush()` of everything throws
    // on handles still loading (automerge-repo #740), and so does `shutdown()`.
    await this.repo.flush(this.touched());
    await this.#settled();
    // Writes held back (a join's documents) become durable together, before anything reports success.
    await this.#settleAll();
    for (const adapter of this.repo.networkSubsystem.adapters) adapter.disconnect();
    if (options.compact !== false) await this.#compact();
    // Every write of this process is on disk: its batch of the replica's generation ends.
    await this.storage.generation?.end();
  }
}

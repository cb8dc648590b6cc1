import * as A from "@automerge/automerge";
import {
  type AutomergeUrl,
  type DocHandle,
  type DocumentId,
  encodeHeads,
  stringifyAutomergeUrl,
  type UrlHeads,
} from "@automerge/automerge-repo";

/** A listener a loose document's stand-in was given, attached to the real handle once there is one. */
interface WaitingListener {
  readonly event: string | symbol;
  readonly listener: (...args: never[]) => void;
  readonly once: boolean;
}

/** One document held without a handle: its value, its encoded heads once asked, its stand-in and listeners. */
interface LooseDocument {
  readonly doc: A.Doc<unknown>;
  heads: UrlHeads | undefined;
  standIn: DocHandle<unknown> | undefined;
  readonly listeners: WaitingListener[];
}

/**
 * What a stand-in answers itself while its document is loose: reading the
 * document and its heads, the handle's state (ready), and listening (kept
 * until the real handle exists; a loose document cannot change). Anything
 * else (a change, a view, a sync's needs) makes the real handle first.
 */
const ANSWERED_LOOSE = new Set<string | symbol>([
  "documentId",
  "url",
  "doc",
  "docSync",
  "heads",
  "isReady",
  "isUnloaded",
  "isDeleted",
  "isUnavailable",
  "inState",
  "state",
  "whenReady",
  "on",
  "addListener",
  "once",
  "off",
  "removeListener",
  // Not a promise: `await standIn` reads `then`, which must not make the handle.
  "then",
  // Nor does printing one (`JSON.stringify` asks for `toJSON`).
  "toJSON",
]);

/**
 * Documents a replica took in whole (a join's bulk answer, already loaded
 * and stored as the bytes they arrived in) and holds as plain Automerge
 * values, without an automerge-repo `DocHandle` until something needs one.
 * A handle costs an xstate actor, an empty document with a random actor id,
 * two state transitions and the synchronizer's bookkeeping: ~0.4 s of a
 * 1,000-document join's main thread, for a fold and caches that only read
 * each document and its heads.
 *
 * Each loose document is handed out as a stand-in
 * ({@link LooseDocuments.standIn}): an object that answers `documentId`,
 * `url`, `doc()`, `heads()` and the handle's state from the loaded value,
 * keeps the listeners it is given, and for anything else (a change, a view,
 * a sync) first has the real handle made (`make`, synchronously), then
 * forwards to it, as it does for everything once that handle exists. The
 * document's bytes are in storage already, so the real handle, made later,
 * holds exactly what the stand-in showed.
 */
export class LooseDocuments {
  readonly #loose = new Map<string, LooseDocument>();
  /** Makes the real handle of a document, ready and holding `doc` (the Repo's import). */
  readonly #make: (documentId: string, doc: A.Doc<unknown>) => DocHandle<unknown>;
  /** The Repo's handle of a document, if it has one. */
  readonly #handleOf: (documentId: string) => DocHandle<unknown> | undefined;

  /**
   * Loose documents whose real handles `make` makes (a document id and its
   * value in, a ready handle holding it out) and `handleOf` finds.
   */
  constructor(
    make: (documentId: string, doc: A.Doc<unknown>) => DocHandle<unknown>,
    handleOf: (documentId: string) => DocHandle<unknown> | undefined,
  ) {
    this.#make = make;
    this.#handleOf = handleOf;
  }

  /** True when `documentId` is held loose (no handle yet). */
  has(documentId: string): boolean {
    return this.#loose.has(documentId);
  }

  /** Holds `doc` loose under `documentId`, a document the Repo has no handle of. */
  add(documentId: string, doc: A.Doc<unknown>): void {
    this.#loose.set(documentId, { doc, heads: undefined, standIn: undefined, listeners: [] });
  }

  /** The stand-in for a loose document (the same object each time), or undefined when it is not loose. */
  standIn<T>(documentId: string): DocHandle<T> | undefined {
    const loose = this.#loose.get(documentId);
    if (loose === undefined) return undefined;
    loose.standIn ??= this.#standInFor(documentId, loose);
    return loose.standIn as DocHandle<T>;
  }

  /** Makes the real handle of every loose document (before a sync, which needs the Repo to know them). */
  makeAll(): void {
    for (const documentId of [...this.#loose.keys()]) this.#handleFor(documentId);
  }

  /**
   * The real handle of a document, made now if it is loose: the Repo's
   * handle when it has one (a loose document is never imported over it).
   */
  #handleFor(documentId: string): DocHandle<unknown> {
    const loose = this.#loose.get(documentId);
    const existing = this.#handleOf(documentId);
    if (loose === undefined || existing !== undefined) {
      this.#loose.delete(documentId);
      if (existing === undefined) throw new Error(`document ${documentId} has no handle`);
      return existing;
    }
    this.#loose.delete(documentId);
    const handle = this.#make(documentId, loose.doc);
    for (const { event, listener, once } of loose.listeners) {
      if (once) handle.once(event as never, listener as never);
      else handle.on(event as never, listener as never);
    }
    return handle;
  }

  /** A stand-in for one loose document (see the class's description). */
  #standInFor(documentId: string, loose: LooseDocument): DocHandle<unknown> {
    const headsOf = (): UrlHeads => {
      loose.heads ??= encodeHeads(A.getHeads(loose.doc));
      return [...loose.heads] as UrlHeads;
    };
    const listen = (event: string | symbol, listener: (...args: never[]) => void, once: boolean) =>
      loose.listeners.push({ event, listener, once });
    const unlisten = (event: string | symbol, listener: (...args: never[]) => void) => {
      const at = loose.listeners.findIndex(
        (waiting) => waiting.event === event && waiting.listener === listener,
      );
      if (at >= 0) loose.listeners.splice(at, 1);
    };
    const ready = (states?: readonly string[]) => states === undefined || states.includes("ready");
    let standIn: DocHandle<unknown>;
    const answers: Record<string | symbol, unknown> = {
      documentId: documentId as DocumentId,
      url: stringifyAutomergeUrl({ documentId: documentId as DocumentId }) as AutomergeUrl,
      doc: () => loose.doc,
      docSync: () => loose.doc,
      heads: headsOf,
      isReady: () => true,
      isUnloaded: () => false,
      isDeleted: () => false,
      isUnavailable: () => false,
      inState: (states: readonly string[]) => states.includes("ready"),
      state: "ready",
      whenReady: async (states?: readonly string[]) => {
        if (!ready(states)) await this.#handleFor(documentId).whenReady(states as never);
      },
      on: (event: string | symbol, listener: (...args: never[]) => void) => {
        listen(event, listener, false);
        return standIn;
      },
      addListener: (event: string | symbol, listener: (...args: never[]) => void) => {
        listen(event, listener, false);
        return standIn;
      },
      once: (event: string | symbol, listener: (...args: never[]) => void) => {
        listen(event, listener, true);
        return standIn;
      },
      off: (event: string | symbol, listener: (...args: never[]) => void) => {
        unlisten(event, listener);
        return standIn;
      },
      removeListener: (event: string | symbol, listener: (...args: never[]) => void) => {
        unlisten(event, listener);
        return standIn;
      },
    };
    const forward = (handle: DocHandle<unknown>, property: string | symbol) => {
      const value = Reflect.get(handle, property, handle);
      return typeof value === "function" ? value.bind(handle) : value;
    };
    standIn = new Proxy(answers, {
      get: (_target, property) => {
        // Made since (by another reader, a change, a sync): the real handle answers everything.
        if (this.#loose.get(documentId) !== loose)
          return forward(this.#handleFor(documentId), property);
        // A symbol (an inspector's, a printer's) names nothing a handle needs made.
        if (ANSWERED_LOOSE.has(property) || typeof property === "symbol") return answers[property];
        return forward(this.#handleFor(documentId), property);
      },
      set: (_target, property, value) => Reflect.set(this.#handleFor(documentId), property, value),
    }) as unknown as DocHandle<unknown>;
    return standIn;
  }
}

import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { isCanonError } from "@canon/core";
import {
  type CanonHome,
  LOCK_FILE,
  MANIFEST_FILE,
  readLock,
  type Signer,
  watchSpace,
} from "@canon/store";
import { ChangeSignal, identitiesOf } from "./change-signal.js";
import { fileUri, standardUri, statusUri } from "./resource-uri.js";
import {
  readServedContext,
  type ServedContext,
  type ServedScope,
  spaceOf,
  statusOf,
} from "./served-context.js";

/** After a record arrives: read again this soon, and once more when the watch has written its caches. */
const AFTER_RECORD_MS = [20, 250] as const;
/** How soon to try watching again when the space is not joined yet. */
const WATCH_RETRY_MS = 5_000;

/** What changed between two readings of the served context. */
export interface ContextChange {
  /** Addresses whose content or metadata changed (or appeared, or went away). */
  readonly updated: readonly string[];
  /** The list of resources (and prompts) changed: added, removed, or a new version or status in their metadata. */
  readonly listChanged: boolean;
}

/** What {@link LiveContext} is given. */
export interface LiveContextOptions {
  readonly home: CanonHome;
  readonly scope: ServedScope;
  /** A relay to watch; the space's remembered one when absent. */
  readonly relay?: string | undefined;
  readonly token?: string | undefined;
  /** A maintainer's identity keeps the space's checkpoint current while connected, as `canon watch` does. */
  readonly checkpointAs?: Signer | undefined;
  /** Lines for the operator (stderr). */
  readonly log: (line: string) => void;
  /** Told each change, after the new context is current. */
  readonly onChange: (change: ContextChange) => void;
}

/**
 * The served context kept current: read once at start, read again when the
 * relay delivers a record (the connection stays open, reconnecting with
 * back-off), after a tool wrote, and when a file it was read from changed
 * (a {@link ChangeSignal} on canon.json, canon.lock and the files it names,
 * the home's config and read indexes: a `canon pull` in a shell, a CLI write
 * without an owner), and compared each time so only real changes are
 * announced. While nothing changes, nothing is read again: a `stat` of those
 * files a second is the whole cost.
 */
export class LiveContext {
  #context: ServedContext | undefined;
  #fingerprints = new Map<string, string>();
  #listKey = "";
  #lastWarning: string | undefined;
  #reading: Promise<void> = Promise.resolve();
  readonly #stop = new AbortController();
  readonly #signal = new ChangeSignal(() => void this.refresh().catch(() => {}));
  #readings = 0;
  #watching: Promise<void> = Promise.resolve();

  constructor(readonly options: LiveContextOptions) {}

  /** How many times the served context was read (a reading follows a change, never a clock). */
  get readings(): number {
    return this.#readings;
  }

  /**
   * Reads the context for the first time; starts watching the relay and the files. When
   * the scope cannot be read yet (no space joined, a malformed canon.json),
   * serves nothing but `canon://status`, whose read reports why, until it can.
   */
  async start(): Promise<void> {
    await this.refresh().catch((error) => {
      if (!isCanonError(error)) throw error;
      this.options.log(`canon: warning: ${error.message}`);
      this.#context = {
        scope: this.options.scope,
        space: undefined,
        standards: [],
        unavailable: [],
      };
    });
    this.#watching = this.#watch();
  }

  /** What is served now. */
  current(): ServedContext {
    if (this.#context === undefined) throw new Error("LiveContext.current() before start()");
    return this.#context;
  }

  /** Reads the context again (one reading at a time) and announces what changed. */
  refresh(): Promise<void> {
    this.#reading = this.#reading.catch(() => {}).then(() => this.#read());
    return this.#reading;
  }

  /** Stops watching the relay and the files. */
  async stop(): Promise<void> {
    this.#signal.stop();
    this.#stop.abort();
    await this.#watching.catch(() => {});
    await this.#reading.catch(() => {});
  }

  async #read(): Promise<void> {
    const { home, scope } = this.options;
    // Identities before the reading: a write during it differs from them, and is read next.
    const files = await this.#sources();
    const identity = await identitiesOf(files);
    // Watched: where canon.lock and the read indexes are replaced. The home's root is not (its owner
    // lock is touched every second); the config there, and target files in subfolders, are looked at each second.
    const folders = scope.kind === "project" ? [scope.dir, home.indexes] : [home.indexes];
    this.#signal.track(files, identity, folders);
    this.#readings++;
    let context: ServedContext;
    let status: string;
    try {
      context = await readServedContext(home, scope);
      status = JSON.stringify(await statusOf(home, scope));
    } catch (error) {
      if (this.#context === undefined) throw error;
      // canon.json half-written by an editor, a damaged file: keep serving the last good reading.
      const message = (error as Error).message;
      if (message !== this.#lastWarning) this.options.log(`canon: warning: ${message}`);
      this.#lastWarning = message;
      return;
    }
    this.#lastWarning = undefined;
    const served = new Set(context.standards.map((standard) => standard.standard));
    const fingerprints = new Map<string, string>([[statusUri(served), status]]);
    for (const served of context.standards) {
      const key = `${served.rendered.release} ${served.rendered.renderedCid} ${served.latestVersion}`;
      fingerprints.set(standardUri(served.standard), key);
      for (const path of served.files) fingerprints.set(fileUri(served.standard, path), key);
    }
    const listKey = JSON.stringify([...fingerprints.entries()]);
    const first = this.#context === undefined;
    const previous = this.#fingerprints;
    this.#context = context;
    this.#fingerprints = fingerprints;
    const listChanged = listKey !== this.#listKey;
    this.#listKey = listKey;
    if (first) return;
    const updated = [...new Set([...previous.keys(), ...fingerprints.keys()])].filter(
      (uri) => previous.get(uri) !== fingerprints.get(uri),
    );
    if (updated.length > 0 || listChanged) this.options.onChange({ updated, listChanged });
  }

  /**
   * The files a reading depends on, beside the replica (whose changes arrive
   * as records, or rewrite the read index): the home's config and read
   * indexes (with their folder, so a new one is seen), and in a project
   * canon.json, canon.lock and every file the lock names (their hashes are
   * the status).
   */
  async #sources(): Promise<string[]> {
    const { home, scope } = this.options;
    const files = [home.config, home.indexes];
    const indexes = await readdir(home.indexes).catch(() => []);
    for (const name of indexes.sort()) files.push(join(home.indexes, name));
    if (scope.kind === "project") {
      files.push(join(scope.dir, MANIFEST_FILE), join(scope.dir, LOCK_FILE));
      // A lock that does not parse names no files; its own identity still tells when it is fixed.
      const lock = await readLock(scope.dir).catch(() => undefined);
      for (const entry of Object.values(lock?.standards ?? {}))
        for (const file of entry.files) files.push(join(scope.dir, file.path));
    }
    return files;
  }

  /** Stays connected to the space's relay while serving; without one, local changes only. */
  async #watch(): Promise<void> {
    const { home, scope, log } = this.options;
    const signal = this.#stop.signal;
    try {
      const space = await spaceOf(scope);
      await watchSpace(home, {
        space,
        relay: this.options.relay,
        token: this.options.token,
        signal,
        checkpointAs: this.options.checkpointAs,
        onEvent: (event) => {
          if (event.event === "record") {
            for (const delay of AFTER_RECORD_MS)
              setTimeout(() => void this.refresh().catch(() => {}), delay).unref();
          } else if (event.event === "connected") log(`canon: connected to ${event.relay}`);
          else log(`canon: ${event.reason}; retrying in ${event.retryInMs} ms`);
        },
      });
    } catch (error) {
      if (signal.aborted) return;
      if (
        isCanonError(error, "NO_SPACE") ||
        isCanonError(error, "UNKNOWN_SPACE") ||
        isCanonError(error, "FILE_UNREADABLE") ||
        isCanonError(error, "BAD_CONFIG")
      ) {
        // Not joined yet, or canon.json unreadable: try again once it may be.
        await pause(WATCH_RETRY_MS, signal);
        if (!signal.aborted) return this.#watch();
        return;
      }
      if (isCanonError(error, "BAD_ARGUMENT"))
        log(
          "canon: no relay is known for this space: serving this replica offline (updates come from this home only)",
        );
      else log(`canon: warning: stopped watching the relay: ${(error as Error).message}`);
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

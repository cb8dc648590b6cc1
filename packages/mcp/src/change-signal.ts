import { type FSWatcher, watch } from "node:fs";
import { stat } from "node:fs/promises";

/** How often the identities are looked at when no file watch told (a file system without events, a target file in a subfolder). */
const FALLBACK_MS = 1_000;
/** File watch events within this long are one look (an atomic write is a create and a rename). */
const SETTLE_MS = 20;

/**
 * A file's identity: inode, size, modification and change times, as the
 * store's `caches/file-identity.ts` takes it. Any write, replacement (an
 * atomic rename is a new inode) or removal changes it, and `ctime` cannot be
 * set back; "-" when the file is absent or cannot be looked at.
 */
async function identityOf(path: string): Promise<string> {
  try {
    const stats = await stat(path);
    return `${stats.ino} ${stats.size} ${stats.mtimeMs} ${stats.ctimeMs}`;
  } catch {
    return "-";
  }
}

/** The identities of `paths`, in order, as one string. */
export async function identitiesOf(paths: readonly string[]): Promise<string> {
  return (await Promise.all(paths.map(identityOf))).join("\n");
}

/**
 * Tells when any of a set of files may have changed, at the cost of a `stat`
 * per file and nothing read: a file watch on the folders that hold them (a
 * `canon pull` replaces canon.lock by a rename there; a command replaces the
 * home's read index) and, as a fallback where watches say nothing (network
 * file systems, files in subfolders), a look at their identities every
 * second. `changed` runs only when an identity differs from the last one
 * {@link ChangeSignal.track} recorded.
 */
export class ChangeSignal {
  #paths: readonly string[] = [];
  #identity: string | undefined;
  #watchers = new Map<string, FSWatcher>();
  #fallback: NodeJS.Timeout | undefined;
  #settle: NodeJS.Timeout | undefined;
  #looking = false;
  #stopped = false;

  constructor(readonly changed: () => void) {}

  /**
   * Records the files to watch and their identities now (taken before the
   * reading they describe, so a write during it is seen on the next look),
   * and watches the folders given.
   */
  track(paths: readonly string[], identity: string, folders: readonly string[]): void {
    if (this.#stopped) return;
    this.#paths = paths;
    this.#identity = identity;
    for (const folder of folders) {
      if (this.#watchers.has(folder)) continue;
      try {
        const watcher = watch(folder, { persistent: false }, () => this.#soon());
        // A folder removed or unwatchable: the fallback still looks.
        watcher.on("error", () => {
          watcher.close();
          this.#watchers.delete(folder);
        });
        this.#watchers.set(folder, watcher);
      } catch {
        // Not there yet (a home before its first index): the fallback looks until it is, then watches.
      }
    }
    if (this.#fallback === undefined) {
      this.#fallback = setInterval(() => void this.#look(), FALLBACK_MS);
      this.#fallback.unref();
    }
  }

  /** Stops watching. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#fallback);
    clearTimeout(this.#settle);
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
  }

  #soon(): void {
    if (this.#settle !== undefined || this.#stopped) return;
    this.#settle = setTimeout(() => {
      this.#settle = undefined;
      void this.#look();
    }, SETTLE_MS);
    this.#settle.unref();
  }

  async #look(): Promise<void> {
    if (this.#looking || this.#stopped || this.#identity === undefined) return;
    this.#looking = true;
    try {
      const now = await identitiesOf(this.#paths);
      if (now !== this.#identity && !this.#stopped) {
        // Until the reading this triggers tracks again, the same change is not told twice.
        this.#identity = now;
        this.changed();
      }
    } finally {
      this.#looking = false;
    }
  }
}

import { createHash } from "node:crypto";
import { access, type FileHandle, mkdir, open, readdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";
import {
  type BlobPackIndex,
  type BlobPackLimits,
  encodeBlobPack,
  encodeMergedBlobPack,
  MAX_PACKS,
  PACK_LIMITS,
  packRuns,
  packsToMerge,
  readBlobPackIndex,
} from "./blob-pack.js";
import { identityOfStats } from "./file-identity.js";

/** How many blobs {@link BlobCache.putAll} writes at once. */
const WRITES_AT_ONCE = 16;

/** From this many blobs, {@link BlobCache.putAll} writes one pack rather than a file each. */
export const PACK_AT_LEAST = 64;

/** The folder of the blob cache holding its packs (no CID is named so). */
const PACKS = "packs";

/**
 * Beside each pack `<name>.pack`, `<name>.pack.checked` holds the pack
 * file's identity (`file-identity.ts`) when its index last passed every
 * check: while the pack still has that identity, no one wrote it since, and
 * its index is not hashed again (~0.5 MB at 10,000 blobs, on every `show`).
 */
const CHECKED = ".checked";

/**
 * A pack's identity is noted only once its times are this much in the past:
 * a file's times move in ticks of the kernel's clock (a few ms), so an edit
 * made within the same tick as the check (same size) could keep the identity
 * the note holds; an edit this much later cannot.
 */
const NOTE_AFTER_MS = 1000;

/**
 * Release bodies by content CID under `$CANON_HOME/blobs`: one file each,
 * or, when many are written together (a join), one pack of them in
 * `blobs/packs` (`blob-pack.ts`: the blobs and an index, checked by a
 * hash). Reading a pinned version needs only this (no Automerge): the bytes
 * are hashed on every read and returned only if they match the CID, so a
 * damaged or edited blob is never served; a damaged file or pack is removed,
 * and the next command that loads the replica writes its blobs again.
 */
export class BlobCache {
  readonly #directory: string;
  readonly #limits: BlobPackLimits;

  /**
   * A cache in `home.blobs`. `options.limits` (what one pack may hold) are
   * {@link PACK_LIMITS} unless a test asks for smaller ones; a cache reads
   * and writes packs within the same limits.
   */
  constructor(home: CanonHome, options: { readonly limits?: BlobPackLimits } = {}) {
    this.#directory = home.blobs;
    this.#limits = options.limits ?? PACK_LIMITS;
  }

  /** The file holding a content CID's bytes. */
  pathOf(contentCid: string): string {
    return join(this.#directory, contentCid);
  }

  /**
   * Stores bytes already known to match `contentCid`. Not fsynced: every
   * read hashes the bytes, so what a power cut leaves is refused (and
   * removed), and the next command that loads the replica writes it again (a join writes
   * thousands of blobs; an fsync each would cost seconds).
   */
  async put(contentCid: string, bytes: Uint8Array): Promise<void> {
    await writeFileAtomic(this.pathOf(contentCid), bytes, 0o644, false, false);
  }

  /**
   * Stores many blobs, each already known to match its CID (not fsynced,
   * as {@link put}). From {@link PACK_AT_LEAST} blobs, as one pack written
   * atomically (a join fills the cache with 10,000 blobs: a file each kept
   * it waiting on the disk for seconds, even 16 at a time), or as several
   * when one would pass what a pack may hold ({@link PACK_LIMITS}); fewer, a file
   * each, several at once, the folder created once. Resolves when every
   * blob is written; throws the first error after the writes under way
   * have ended.
   */
  async putAll(blobs: Iterable<readonly [contentCid: string, bytes: Uint8Array]>): Promise<void> {
    const unique = new Map<string, Uint8Array>(blobs);
    const queue = [...unique];
    if (queue.length === 0) return;
    if (queue.length >= PACK_AT_LEAST) {
      for (const run of packRuns(queue, this.#limits)) {
        const pack = encodeBlobPack(run);
        // Named by the hash of its index: two processes packing the same blobs write the same file.
        const name = `${pack.toString("hex", 12, 44)}.pack`;
        await writeFileAtomic(join(this.#directory, PACKS, name), pack, 0o644, false, false);
      }
      await this.#mergeWhenMany();
      return;
    }
    await mkdir(this.#directory, { recursive: true });
    let next = 0;
    const worker = async () => {
      while (next < queue.length) {
        const [cid, bytes] = queue[next++] as readonly [string, Uint8Array];
        await writeFileAtomic(this.pathOf(cid), bytes, 0o644, false, false, false);
      }
    };
    const results = await Promise.allSettled(
      Array.from({ length: Math.min(WRITES_AT_ONCE, queue.length) }, worker),
    );
    const failed = results.find((result) => result.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  /**
   * The content CIDs the cache holds (not checked), a file's or in a pack, in
   * one listing of the folder and one read of each pack's index: what a
   * caller about to store thousands of blobs asks instead of {@link has}
   * for each.
   */
  async stored(): Promise<Set<string>> {
    let names: string[];
    try {
      names = await readdir(this.#directory);
    } catch {
      return new Set();
    }
    const stored = new Set(names.filter((name) => !name.includes(".tmp-") && name !== PACKS));
    await this.#eachPack(async (index) => {
      for (const cid of index.names()) stored.add(cid);
      return false;
    });
    return stored;
  }

  /** True when a file or a pack holds the CID (not checked). */
  async has(contentCid: string): Promise<boolean> {
    try {
      await access(this.pathOf(contentCid));
      return true;
    } catch {
      return await this.#eachPack(async (index) => index.names().includes(contentCid));
    }
  }

  /**
   * The bytes for a raw sha2-256 content CID, or undefined when absent or
   * when they no longer hash to it. `sha256Hex` is the CID's digest in hex.
   * Its own file first, then the packs (which find blobs by that digest).
   */
  async get(contentCid: string, sha256Hex: string): Promise<Uint8Array | undefined> {
    let bytes: Buffer | undefined;
    try {
      bytes = await readFile(this.pathOf(contentCid));
    } catch {
      bytes = undefined;
    }
    if (bytes !== undefined) {
      if (matches(bytes, sha256Hex)) return bytes;
      // Damaged or edited: remove it, so the next command that loads the replica writes it again.
      await unlink(this.pathOf(contentCid)).catch(() => {});
    }
    let found: Uint8Array | undefined;
    await this.#eachPack(async (index, file, path) => {
      const place = index.find(sha256Hex);
      if (place === undefined) return false;
      const blob = Buffer.alloc(place.length);
      const { bytesRead } = await file.read(blob, 0, place.length, place.offset);
      if (bytesRead === place.length && matches(blob, sha256Hex)) found = blob;
      // A pack whose blob does not match is damaged: removed, its blobs are written again.
      else await removePack(path);
      return true;
    });
    return found;
  }

  /**
   * Merges packs into one when there are more than {@link MAX_PACKS}, so a
   * blob missing from all of them costs at most that many index reads. The
   * merged pack stays within what a pack may hold ({@link PACK_LIMITS}):
   * the smallest packs are merged first, as many as fit ({@link packsToMerge}),
   * and packs already near the limits are left as they are (a pack past
   * them would be refused by every reader, and the whole cache with it).
   * Each blob is checked against its sha-256 as it is copied; a pack with
   * one that does not match is left out (and left for {@link get} to
   * remove). The merged pack is written (atomically) before the packs it
   * holds are removed, so a blob is always in one of them; a reader that
   * listed the folder before may miss it once and load the replica.
   */
  async #mergeWhenMany(): Promise<void> {
    const folder = join(this.#directory, PACKS);
    const packs = (await readdir(folder).catch(() => [] as string[])).filter((name) =>
      name.endsWith(".pack"),
    );
    if (packs.length <= MAX_PACKS) return;
    const sizes: { path: string; entries: number; namesBytes: number }[] = [];
    await this.#eachPack(async (index, _file, path) => {
      sizes.push({ path, entries: index.entries, namesBytes: index.namesBytes });
      return false;
    });
    const chosen = new Set(packsToMerge(sizes, this.#limits).map((at) => sizes[at]?.path));
    if (chosen.size < 2) return;
    const contentCids: string[] = [];
    const blobs: Uint8Array[] = [];
    const merged: string[] = [];
    await this.#eachPack(async (index, file, path) => {
      if (!chosen.has(path)) return false;
      const copied: Uint8Array[] = [];
      for (const place of index.places()) {
        const blob = Buffer.alloc(place.length);
        const { bytesRead } = await file.read(blob, 0, place.length, place.offset);
        if (bytesRead !== place.length || !matches(blob, place.sha256Hex)) return false;
        copied.push(blob);
      }
      contentCids.push(...index.names());
      blobs.push(...copied);
      merged.push(path);
      return false;
    });
    if (merged.length < 2) return;
    const pack = encodeMergedBlobPack(contentCids, blobs);
    const path = join(folder, `${pack.toString("hex", 12, 44)}.pack`);
    await writeFileAtomic(path, pack, 0o644, false, false);
    for (const old of merged) if (old !== path) await removePack(old);
  }

  /**
   * An open pack's index ({@link readBlobPackIndex}), not hashed again when
   * this very file (same identity, taken from the open file's one `stat`)
   * passed every check: as this process already knows (see
   * {@link checkedInProcess}), or else as the pack's note says (read once,
   * then known). Otherwise checked, and noted when it passes and its times
   * are old enough (see {@link NOTE_AFTER_MS}). The note is a cache: not
   * synced, and a missing, stale or unreadable one only means the index is
   * checked again.
   */
  async #readIndex(file: FileHandle, path: string): Promise<BlobPackIndex | undefined> {
    const stats = await file.stat();
    const identity = identityOfStats(stats);
    const options = { fileSize: stats.size, limits: this.#limits };
    if (checkedInProcess.get(path) === identity)
      return readBlobPackIndex(file, { ...options, checked: true });
    const notePath = `${path}${CHECKED}`;
    const noted = await readFile(notePath, "utf8").catch(() => undefined);
    if (noted === identity) {
      checkedInProcess.set(path, identity);
      return readBlobPackIndex(file, { ...options, checked: true });
    }
    const index = await readBlobPackIndex(file, options);
    if (
      index !== undefined &&
      Date.now() - Math.max(stats.mtimeMs, stats.ctimeMs) >= NOTE_AFTER_MS
    ) {
      checkedInProcess.set(path, identity);
      await writeFileAtomic(notePath, identity, 0o644, false, false, false).catch(() => {});
    }
    return index;
  }

  /**
   * Calls `visit` with each pack's checked index, the open pack and its path,
   * until it returns true (then true). A pack that is not whole (cut short
   * by a power cut, edited) is removed and skipped. Never throws.
   */
  async #eachPack(
    visit: (index: BlobPackIndex, file: FileHandle, path: string) => Promise<boolean>,
  ): Promise<boolean> {
    const folder = join(this.#directory, PACKS);
    let names: string[];
    try {
      names = (await readdir(folder)).filter((name) => name.endsWith(".pack"));
    } catch {
      return false;
    }
    for (const name of names.sort()) {
      const path = join(folder, name);
      try {
        const file = await open(path, "r");
        try {
          const index = await this.#readIndex(file, path);
          if (index === undefined) {
            await removePack(path);
            continue;
          }
          if (await visit(index, file, path)) return true;
        } finally {
          await file.close();
        }
      } catch {
        // Unreadable (removed meanwhile by another process): as if absent.
      }
    }
    return false;
  }
}

/**
 * Packs whose index this process checked (or found noted as checked), by
 * path: the identity the file had then. A pack with that identity still is
 * the same file (see `file-identity.ts`), so a miss in a long-running
 * process (`watch`, the MCP server) reads neither its note nor its hash
 * again; a pack with another identity is checked as if never seen.
 */
const checkedInProcess = new Map<string, string>();

/** Removes a damaged or merged pack and its note, and forgets it was checked. Never throws. */
async function removePack(path: string): Promise<void> {
  checkedInProcess.delete(path);
  await unlink(path).catch(() => {});
  await unlink(`${path}${CHECKED}`).catch(() => {});
}

/** True when `bytes` hash to the sha-256 digest `sha256Hex`. */
function matches(bytes: Uint8Array, sha256Hex: string): boolean {
  return createHash("sha256").update(bytes).digest("hex") === sha256Hex;
}

import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, unlink } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import type { Chunk, StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo/slim";
import { CanonError } from "@canon/core";
import { syncDirectory, syncFile, writeFileAtomic, writeTemporary } from "../home/atomic-write.js";
import { checksummed, unchecksummed } from "./checksummed.js";
import {
  CHUNK_KINDS,
  chunkFingerprint,
  chunkKeyOf,
  chunkNameOf,
  hasChunkFolder,
  isChunkKey,
  isSyncStateKey,
  isTemporaryFile,
  pathOfKey,
  snapshotKeyOf,
} from "./chunk-layout.js";
import {
  chunkPackName,
  encodeChunkPack,
  PACKS_FOLDER,
  type PackedChunk,
  packable,
  packedChunks,
} from "./chunk-pack.js";
import { GenerationWriter } from "./replica-generation.js";

/** Error codes that mean "this place cannot be written", not a bug. */
const UNWRITABLE = new Set(["EACCES", "EROFS", "EPERM", "ENOTDIR", "EISDIR", "ENOSPC", "EDQUOT"]);

/** How many files {@link FileStorage.settle} syncs at once. */
const SYNCS_AT_ONCE = 32;

/** From this many new documents of one chunk each, {@link FileStorage.settle} writes them in one chunk pack. */
export const PACK_DOCUMENTS_AT_LEAST = 2;

/** Every stored file starts with this tag, then the sha-256 of the rest (`chunk-audit.ts` checks it too). */
export const STORAGE_FILE_TAG = "CNS1";

/**
 * automerge-repo storage in a directory, made for a replica that must never
 * lose or silently corrupt data:
 * - every file is written atomically (temp file, fsync, rename), so a crash or
 *   SIGKILL mid-write leaves the old state, never a partial chunk;
 * - every file carries a sha-256 of its bytes, checked on every load, so a
 *   damaged file is named (`STORAGE_DAMAGED`) instead of being half-read and
 *   then compacted away;
 * - no in-memory cache, so a long-running relay does not grow without bound.
 * Key layout matches `NodeFSStorageAdapter` (see `chunk-layout.ts`, which owns it):
 * `[docId, kind, name]` lives at `<dir>/<docId[0..2]>/<docId[2..]>/<kind>/<name>`.
 */
export class FileStorage implements StorageAdapterInterface {
  readonly #directory: string;
  /** Chunk keys of each document this process loaded or wrote: the ones a compaction may replace. */
  readonly #chunks = new Map<string, Set<string>>();
  /** Changes the replica's generation around every chunk write (see `replica-generation.ts`); none for a relay's store. */
  readonly generation: GenerationWriter | undefined;
  /**
   * While writes are held back ({@link holdWrites}): each file's final path,
   * with the bytes to write there (checksummed), kept in memory until {@link settle}.
   */
  #held: Map<string, Uint8Array> | undefined;
  /** A {@link settle} under way: a second call joins it (at full speed) rather than starting another. */
  #settling: Promise<void> | undefined;
  /** How many files the settle under way writes and syncs at once; a later call raises it. */
  #settleAtOnce = SYNCS_AT_ONCE;

  /**
   * Stores files under `directory` (created on first write). With
   * `generation`, every chunk written or removed changes the replica's
   * generation token, so caches can prove cheaply that nothing was written since.
   */
  constructor(directory: string, options: { readonly generation?: boolean } = {}) {
    this.#directory = directory;
    this.generation = options.generation ? new GenerationWriter(directory) : undefined;
  }

  /** The storage directory. */
  get directory(): string {
    return this.#directory;
  }

  /**
   * Runs a write of `key`, inside a generation batch when it touches a
   * document's chunks (a chunk's key, or with `wholeDocument` a document's
   * prefix) and the generation is kept; other keys (sync states, the
   * storage id) leave the generation alone.
   */
  #writing<T>(key: StorageKey, work: () => Promise<T>, wholeDocument = false): Promise<T> {
    if (this.generation === undefined || !(isChunkKey(key) || (wholeDocument && key.length === 1)))
      return work();
    return this.generation.write(work);
  }

  /** The file a key is stored in. */
  pathOf(key: StorageKey): string {
    return pathOfKey(this.#directory, key);
  }

  /** True when any chunk of the document is stored. */
  async hasDocument(documentId: string): Promise<boolean> {
    for (const kind of CHUNK_KINDS) {
      const folder = this.pathOf([documentId, kind]);
      if (this.#heldUnder(folder).length > 0) return true;
      if ((await listFiles(folder)).length > 0) return true;
    }
    return this.#packed(documentId).length > 0;
  }

  /**
   * Which of `documentIds` have any chunk stored ({@link hasDocument} for
   * each), listing the replica's folders first: a document whose folder is
   * not there has nothing stored, without two listings of its own. A join
   * asks for 1,000 documents, in a replica that usually holds none.
   */
  async documentsStored(documentIds: Iterable<string>): Promise<Set<string>> {
    const stored = new Set<string>();
    const byPrefix = new Map<string, string[]>();
    for (const documentId of documentIds) {
      const [prefix, rest] = [documentId.slice(0, 2), documentId.slice(2)];
      if (prefix.length < 2 || rest.length === 0 || this.#held !== undefined) {
        if (await this.hasDocument(documentId)) stored.add(documentId);
        continue;
      }
      byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), documentId]);
    }
    const prefixes = new Set(await namesIn(this.#directory));
    const packed = packedChunks(this.#directory);
    for (const [prefix, ids] of byPrefix) {
      const folders = new Set(
        prefixes.has(prefix) ? await namesIn(join(this.#directory, prefix)) : [],
      );
      for (const documentId of ids)
        if (
          folders.has(documentId.slice(2))
            ? await this.hasDocument(documentId)
            : packed.has(documentId)
        )
          stored.add(documentId);
    }
    return stored;
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    const path = this.pathOf(key);
    let bytes: Uint8Array;
    try {
      bytes = this.#held?.get(path) ?? (await readFile(path));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      const [documentId, kind, name] = key;
      const chunk = isChunkKey(key)
        ? this.#packed(documentId as string).find((one) => one.kind === kind && one.name === name)
        : undefined;
      return chunk === undefined ? undefined : unwrap(await readPacked(chunk), describe(chunk));
    }
    // A sync state written without fsync may be empty or partial after a power cut:
    // it is then as good as absent (the next sync with that peer starts from scratch).
    if (isSyncStateKey(key)) {
      const opened = unchecksummed(STORAGE_FILE_TAG, bytes);
      return "data" in opened ? opened.data : undefined;
    }
    return unwrap(bytes, path);
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    this.#remember(key);
    const path = this.pathOf(key);
    try {
      // A packed document given a chunk moves out of its pack first, held or not.
      if (isChunkKey(key)) await this.#unpack(key[0]);
      const held = this.#held;
      if (held === undefined) {
        // A sync state needs no fsync (isSyncStateKey): automerge-repo saves one after
        // every exchange, and its fsyncs were the owner's largest file cost per command.
        const durable = !isSyncStateKey(key);
        await this.#writing(key, () => writeFileAtomic(path, wrap(data), 0o644, false, durable));
        return;
      }
      // Held back: kept in memory, so no chunk file changes (the generation is left alone)
      // and no file operation queues with the fold's signature checks until `settle`.
      held.set(path, wrap(data));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== undefined && UNWRITABLE.has(code)) {
        throw new CanonError(
          "STORAGE_UNWRITABLE",
          `cannot write ${path}: ${code}; check the permissions of ${this.#directory}`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  /**
   * Holds every write back until {@link settle}: its bytes are kept in
   * memory, read from there by this process, and nothing is written. A join
   * takes 1,000 documents in at once: each written, synced, renamed and its
   * folder synced one after another held one of the four threads that file
   * operations and WebCrypto share, and even written only (not synced),
   * their file operations queued with the fold's signature checks. A crash
   * or `kill -9` before {@link settle} leaves nothing of them: the
   * documents are simply not here, and the next sync fetches them. A held
   * write changes no chunk file, so it leaves the replica's generation
   * alone; `settle` changes it around the renames.
   */
  holdWrites(): void {
    this.#held ??= new Map();
  }

  /**
   * Makes every held-back write durable and visible, in as few waits as it
   * can: every file written beside its place and synced (32 at a time), then
   * each renamed into place, then each folder that changed synced once (the
   * file's folder and those above it, which a new document's writes
   * created), so a power cut at any moment leaves each file whole or
   * absent, never part-written. Writes are no longer held back after it.
   * Call when no write is under way (after a flush), or early, in the
   * background, while the process works on (a save arriving meanwhile is
   * held, and settled in a further round); a no-op when nothing was held
   * back. `atOnce` files are written and synced at a time (default
   * {@link SYNCS_AT_ONCE}); a call while one is under way sets its pace
   * from then on and waits for it, throwing what it throws.
   */
  settle(options: { readonly atOnce?: number } = {}): Promise<void> {
    this.#settleAtOnce = options.atOnce ?? SYNCS_AT_ONCE;
    if (this.#settling !== undefined) return this.#settling;
    const settling = this.#settleHeld().finally(() => {
      this.#settling = undefined;
    });
    this.#settling = settling;
    return settling;
  }

  async #settleHeld(): Promise<void> {
    const atOnce = () => this.#settleAtOnce;
    const held = this.#held;
    if (held === undefined) return;
    try {
      await this.#settleInPack(held);
      while (held.size > 0) {
        const batch = [...held];
        // A packed document given a chunk moves out of its pack first (see `#unpack`).
        for (const [path] of batch)
          if (isChunkKey(relative(this.#directory, path).split(sep).slice(1)))
            await this.#unpack(this.#documentOfPath(path));
        const written: [path: string, temporary: string][] = [];
        try {
          await eachAtOnce(batch, atOnce, async ([path, bytes]) => {
            const temporary = await writeTemporary(path, bytes);
            written.push([path, temporary]);
            await syncFile(temporary);
          });
        } catch (error) {
          await Promise.all(written.map(([, temporary]) => unlink(temporary).catch(() => {})));
          throw error;
        }
        const moves = async () => {
          for (const [path, temporary] of written) await rename(temporary, path);
        };
        await (this.generation === undefined ? moves() : this.generation.write(moves));
        // In place now; one saved again meanwhile (a late save of the home's owner) goes in the next round.
        for (const [path, bytes] of batch) if (held.get(path) === bytes) held.delete(path);
        const folders = new Set<string>();
        for (const [path] of written)
          for (
            let folder = dirname(path);
            folder.startsWith(this.#directory) && !folders.has(folder);
            folder = dirname(folder)
          )
            folders.add(folder);
        await eachAtOnce([...folders], atOnce, syncDirectory);
      }
    } finally {
      this.#held = undefined;
    }
  }

  /**
   * Writes the held chunks of new documents, one chunk each, as one chunk
   * pack (`chunk-pack.ts`): one file written, synced and renamed into
   * place, then its folder and the replica's synced, instead of a file, a
   * folder of its own and ~3 synced folders a document (a join's 1,000).
   * A document qualifies when its one held write is a chunk, it has no
   * folder on disk and no packed chunk; others (and all, below
   * {@link PACK_DOCUMENTS_AT_LEAST}) are settled as files. Removes what it
   * packed from `held`.
   */
  async #settleInPack(held: Map<string, Uint8Array>): Promise<void> {
    const byDocument = new Map<string, [path: string, key: [string, string, string]][]>();
    // Documents with a held write a pack may not hold (anything but a snapshot chunk).
    const unpackable = new Set<string>();
    for (const [path] of held) {
      const parts = relative(this.#directory, path).split(sep);
      const [prefix = "", rest = "", kind = "", name = ""] = parts;
      const documentId = `${prefix}${rest}`;
      const list = byDocument.get(documentId) ?? [];
      byDocument.set(documentId, list);
      list.push([path, [documentId, kind, name]]);
      if (parts.length !== 4 || !packable(documentId, kind, name)) unpackable.add(documentId);
    }
    const packed = packedChunks(this.#directory);
    // One listing of the replica's folders: a document under a prefix not there has no folder of
    // its own, without a `stat` (a join's 1,000 documents, in a replica that holds none of them).
    const prefixes = new Set(await namesIn(this.#directory));
    const chunks: [path: string, key: [string, string, string]][] = [];
    for (const [documentId, list] of byDocument) {
      // One packable chunk, for a document neither packed already nor in a folder of its own.
      const [only] = list;
      if (list.length !== 1 || only === undefined || unpackable.has(documentId)) continue;
      if (packed.has(documentId)) continue;
      if (prefixes.has(documentId.slice(0, 2)) && hasChunkFolder(this.#directory, documentId))
        continue;
      chunks.push(only);
    }
    if (chunks.length < PACK_DOCUMENTS_AT_LEAST) return;
    const pack = encodeChunkPack(chunks.map(([path, key]) => [key, held.get(path) as Uint8Array]));
    const path = join(this.#directory, PACKS_FOLDER, chunkPackName(pack));
    // `writeFileAtomic` makes the packs folder, and the replica's folder above it, when missing.
    const write = () => writeFileAtomic(path, pack);
    await (this.generation === undefined ? write() : this.generation.write(write));
    // The packs folder may be new: its entry in the replica's folder made durable too.
    await syncDirectory(this.#directory);
    for (const [chunkPath] of chunks) held.delete(chunkPath);
  }

  /** The document a file under the directory belongs to (`chunk-layout.ts` reversed). */
  #documentOfPath(path: string): string {
    const [prefix = "", rest = ""] = relative(this.#directory, path).split(sep);
    return `${prefix}${rest}`;
  }

  /**
   * A document's chunks in the chunk packs when it has no chunk folder
   * (which, once made, alone describes it: `hasChunkFolder`); none otherwise.
   */
  #packed(documentId: string): readonly PackedChunk[] {
    if (documentId.length < 3 || hasChunkFolder(this.#directory, documentId)) return [];
    return packedChunks(this.#directory).get(documentId) ?? [];
  }

  /**
   * Moves a packed document's snapshot into a chunk folder of its own before
   * a chunk is written to it or removed from it: checked, written into a
   * temporary folder beside its place, synced, then the folder renamed into
   * place at once (`<id>/snapshot`), and the folders above synced. Until the
   * rename the pack describes the document, after it the folder does (the
   * pack is never changed), so a crash leaves one or the other, whole.
   * Another process that moved it first wins; nothing to do for a document
   * not packed. A sync state written beside (`<id>/sync-state`) moves
   * nothing.
   */
  async #unpack(documentId: string | undefined): Promise<void> {
    if (documentId === undefined) return;
    const chunks = this.#packed(documentId);
    if (chunks.length === 0) return;
    const folder = this.pathOf([documentId, "snapshot"]);
    const temporary = `${folder}.tmp-${randomBytes(6).toString("hex")}`;
    const move = async () => {
      const made = await mkdir(dirname(folder), { recursive: true });
      try {
        await mkdir(temporary);
        for (const chunk of chunks) {
          const bytes = await readPacked(chunk);
          unwrap(bytes, describe(chunk));
          const file = await open(join(temporary, chunk.name), "wx");
          try {
            await file.writeFile(bytes);
            await file.sync();
          } finally {
            await file.close();
          }
        }
        await syncDirectory(temporary);
        await rename(temporary, folder);
      } catch (error) {
        await rm(temporary, { recursive: true, force: true });
        // Moved meanwhile by another process: its folder describes the document now.
        if (existsSync(folder)) return;
        throw error;
      }
      // The document's folder, and those above it when it was new.
      for (let above = dirname(folder); above.startsWith(this.#directory); above = dirname(above)) {
        await syncDirectory(above);
        if (made === undefined) break;
      }
    };
    await (this.generation === undefined ? move() : this.generation.write(move));
  }

  async remove(key: StorageKey): Promise<void> {
    if (isChunkKey(key)) await this.#unpack(key[0]);
    const [documentId] = key;
    if (documentId !== undefined) this.#chunks.get(documentId)?.delete(key.join("/"));
    this.#held?.delete(this.pathOf(key));
    await this.#writing(key, () =>
      unlink(this.pathOf(key)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error;
      }),
    );
    // A load that listed the file before it went may have counted it again meanwhile.
    if (documentId !== undefined) this.#chunks.get(documentId)?.delete(key.join("/"));
  }

  async loadRange(prefix: StorageKey): Promise<Chunk[]> {
    const root = this.pathOf(prefix);
    const files = await listFiles(root);
    // A packed document's snapshot (it has no chunk folder, so no chunk file is listed beside it;
    // a sync state may be, and sorts after it).
    const [documentId, kind, name] = prefix;
    const packed: Chunk[] = [];
    if (documentId !== undefined && (kind === undefined || isChunkKey(prefix)))
      for (const chunk of this.#packed(documentId)) {
        if (
          (kind !== undefined && chunk.kind !== kind) ||
          (name !== undefined && chunk.name !== name)
        )
          continue;
        const key = [documentId, chunk.kind, chunk.name];
        packed.push({ key, data: unwrap(await readPacked(chunk), describe(chunk)) });
        this.#remember(key);
      }
    const held = this.#heldUnder(root).filter((path) => !files.includes(path));
    // In key order, as the listing is.
    if (held.length > 0) {
      files.push(...held);
      files.sort(byKey(root));
    }
    const chunks: Chunk[] = [];
    // Sequential on purpose: opening every file of a large replica at once hits EMFILE.
    for (const file of files) {
      const key = [...prefix, ...relative(root, file).split(sep)];
      const data = await this.load(key);
      // Removed since the listing (a compaction running meanwhile): not a chunk of this document any more.
      if (data === undefined) continue;
      chunks.push({ key, data });
      this.#remember(key);
    }
    return packed.length === 0 ? chunks : [...packed, ...chunks];
  }

  /**
   * Loads one chunk another process wrote (`kind/name`, as
   * {@link chunkNames} lists them) and counts it as seen, so a copy of the
   * document that merges it describes it too.
   * @throws CanonError `STORAGE_DAMAGED` when the file fails its checksum.
   */
  async loadChunk(documentId: string, chunkName: string): Promise<Uint8Array | undefined> {
    const key = chunkKeyOf(documentId, chunkName);
    const data = await this.load(key);
    if (data !== undefined) this.#remember(key);
    return data;
  }

  /** How many stored chunks of a document this process has seen (loaded or written). */
  chunkCount(documentId: string): number {
    return this.#chunks.get(documentId)?.size ?? 0;
  }

  /**
   * The stored chunks of a document this process has seen, as sorted
   * `kind/name` (the names are content hashes): everything this process's
   * copy of the document holds. A chunk another process wrote meanwhile is
   * not in it, so comparing with the directory tells whether a result
   * computed here still describes what is on disk.
   */
  chunkNames(documentId: string): string[] {
    return [...(this.#chunks.get(documentId) ?? [])]
      .map((key) => chunkNameOf(key.split("/")))
      .sort();
  }

  /**
   * The chunk files of each document as a result computed here may name
   * them: those on disk, when this process has seen every one of them (a
   * chunk it saw that is gone was compacted into one it saw, so its content
   * is still described); otherwise what this process has seen, which then
   * differs from the disk and makes the result look stale, as it must.
   */
  async describedOnDisk(
    fingerprint: Readonly<Record<string, readonly string[]>>,
  ): Promise<Record<string, string[]>> {
    const onDisk = await chunkFingerprint(this.#directory, Object.keys(fingerprint));
    const described: Record<string, string[]> = {};
    for (const [id, seen] of Object.entries(fingerprint)) {
      const present = onDisk[id] ?? [];
      described[id] = present.every((name) => seen.includes(name)) ? present : [...seen];
    }
    return described;
  }

  /**
   * Replaces every chunk of a document this process has seen with one
   * snapshot (`Automerge.save` of a document that includes them all). Chunks
   * another process wrote meanwhile are left alone. The snapshot is written
   * before anything is removed, so a crash leaves extra chunks, never fewer.
   * Loading one snapshot is far faster than replaying incremental chunks
   * (10,000 records: ~0.2 s against ~10 s).
   */
  async compact(documentId: string, snapshot: Uint8Array, name: string): Promise<void> {
    const key = snapshotKeyOf(documentId, name);
    await this.save(key, snapshot);
    const keep = key.join("/");
    for (const seen of [...(this.#chunks.get(documentId) ?? [])]) {
      if (seen === keep) continue;
      await this.remove(seen.split("/"));
      this.#chunks.get(documentId)?.delete(seen);
    }
  }

  /** The final paths of held-back writes under `folder`. */
  #heldUnder(folder: string): string[] {
    if (this.#held === undefined) return [];
    return [...this.#held.keys()].filter((path) => path.startsWith(`${folder}${sep}`));
  }

  #remember(key: StorageKey): void {
    const [documentId] = key;
    if (documentId === undefined || !isChunkKey(key)) return;
    let seen = this.#chunks.get(documentId);
    if (seen === undefined) {
      seen = new Set();
      this.#chunks.set(documentId, seen);
    }
    seen.add(key.join("/"));
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    if (prefix.length === 1 || isChunkKey(prefix)) await this.#unpack(prefix[0]);
    const [documentId] = prefix;
    const seen = documentId === undefined ? undefined : this.#chunks.get(documentId);
    for (const key of [...(seen ?? [])])
      if (key.startsWith(`${prefix.join("/")}/`)) seen?.delete(key);
    for (const path of this.#heldUnder(this.pathOf(prefix))) this.#held?.delete(path);
    await this.#writing(
      prefix,
      async () => {
        await rm(this.pathOf(prefix), { recursive: true, force: true });
        // A packed document keeps an empty chunk folder, or its pack would describe it again.
        const packed =
          documentId === undefined ? undefined : packedChunks(this.#directory).get(documentId);
        if (
          packed !== undefined &&
          packed.length > 0 &&
          (prefix.length === 1 || isChunkKey(prefix))
        ) {
          const snapshots = this.pathOf([documentId as string, "snapshot"]);
          await mkdir(snapshots, { recursive: true });
          await syncDirectory(dirname(snapshots));
          await syncDirectory(dirname(dirname(snapshots)));
        }
      },
      true,
    );
  }
}

/** Compares two files under `root` by their keys' parts, in order (the order a listing yields them). */
function byKey(root: string): (a: string, b: string) => number {
  return (a, b) => {
    const [x, y] = [relative(root, a).split(sep), relative(root, b).split(sep)];
    for (let index = 0; index < Math.min(x.length, y.length); index++)
      if (x[index] !== y[index]) return (x[index] as string) < (y[index] as string) ? -1 : 1;
    return x.length - y.length;
  };
}

/**
 * Runs `work` on every item, `atOnce()` at a time (asked again as each one
 * ends, so the pace can change meanwhile); throws the first error once all
 * have ended.
 */
async function eachAtOnce<T>(
  items: readonly T[],
  atOnce: () => number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let running = 0;
  let failure: { readonly reason: unknown } | undefined;
  await new Promise<void>((resolve) => {
    const fill = (): void => {
      while (running < Math.max(1, atOnce()) && next < items.length) {
        const item = items[next++] as T;
        running += 1;
        work(item)
          .catch((reason: unknown) => {
            failure ??= { reason };
          })
          .finally(() => {
            running -= 1;
            fill();
          });
      }
      if (running === 0 && next >= items.length) resolve();
    };
    fill();
  });
  if (failure !== undefined) throw failure.reason;
}

/** A packed chunk's file bytes (tag and checksum still on), read from its pack. */
async function readPacked(chunk: PackedChunk): Promise<Uint8Array> {
  const file = await open(chunk.path, "r");
  try {
    const bytes = Buffer.alloc(chunk.length);
    const { bytesRead } = await file.read(bytes, 0, chunk.length, chunk.offset);
    return bytesRead === chunk.length ? bytes : bytes.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** How a damage message names a packed chunk. */
function describe(chunk: PackedChunk): string {
  return `${chunk.path} (chunk ${chunk.kind}/${chunk.name} of ${chunk.documentId})`;
}

function wrap(data: Uint8Array): Uint8Array {
  return checksummed(STORAGE_FILE_TAG, data);
}

function unwrap(bytes: Uint8Array, path: string): Uint8Array {
  const opened = unchecksummed(STORAGE_FILE_TAG, bytes);
  if ("data" in opened) return opened.data;
  throw new CanonError(
    "STORAGE_DAMAGED",
    `storage file ${path} is damaged (${opened.damage === "no header" ? "no Canon header" : opened.damage}); the rest of the replica is intact — move this file away and run \`canon sync\` to fetch the document again`,
  );
}

/** The names in a folder; none when it is missing or not a folder. */
async function namesIn(directory: string): Promise<string[]> {
  try {
    return await readdir(directory);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw error;
  }
}

async function listFiles(directory: string): Promise<string[]> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    if (
      (error as NodeJS.ErrnoException).code === "ENOENT" ||
      (error as NodeJS.ErrnoException).code === "ENOTDIR"
    )
      return [];
    throw error;
  }
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (isTemporaryFile(entry.name)) continue;
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(path)));
    else files.push(path);
  }
  return files;
}

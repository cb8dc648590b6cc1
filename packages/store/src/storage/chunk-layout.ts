import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { CanonError } from "@canon/core";
import { packedChunks } from "./chunk-pack.js";

// The one place that knows how automerge-repo's storage keys sit on disk.
// The storage adapter writes this layout, the caches fingerprint it, and the
// relay's health report counts it; if it lived in each of them, a change to
// one would silently make the others' answers wrong (a cache that never
// matches, or worse, one that matches stale files).
//
// The layout is `NodeFSStorageAdapter`'s, so a directory written by either
// reads in the other: key `[documentId, ...rest]` lives at
// `<directory>/<documentId[0..2]>/<documentId[2..]>/<...rest>`. A document's
// chunks are the keys `[documentId, kind, name]`, kind `snapshot` or
// `incremental`; automerge-repo names chunks by content hash, so any change
// to a document changes the names of its chunks. A document whose folder
// does not exist may have its chunks in a chunk pack instead (`chunk-pack.ts`,
// written by a join): the names are the same either way.

/** The kinds of chunk a document is stored in. */
export const CHUNK_KINDS = ["snapshot", "incremental"] as const;

/**
 * The file a storage key lives in under `directory` (for a key prefix, the
 * folder its keys live in).
 *
 * @throws CanonError `STORAGE_UNWRITABLE` for a key with a part that is not
 *   one plain file name (empty, `.`, `..`, a path separator or a NUL): parts
 *   can come from a peer (automerge-repo keeps a peer's sync state under the
 *   storage id it announced), and such a part would reach outside `directory`.
 */
export function pathOfKey(directory: string, key: readonly string[]): string {
  const [head = ""] = key;
  const unfit =
    key.find((part) => !isPlainName(part)) ??
    // The first part is split into two folders' names: each must stay a plain name too.
    (key.length > 0 && [head.slice(0, 2), head.slice(2)].some((p) => p === "." || p === "..")
      ? head
      : undefined);
  if (unfit !== undefined)
    throw new CanonError(
      "STORAGE_UNWRITABLE",
      `storage key part ${JSON.stringify(String(unfit).slice(0, 64))} is not a plain file name`,
    );
  const [first = "", ...rest] = key;
  return join(directory, first.slice(0, 2), first.slice(2), ...rest);
}

/** True for one file name that stays in its folder. */
function isPlainName(part: unknown): boolean {
  return (
    typeof part === "string" &&
    part !== "" &&
    part !== "." &&
    part !== ".." &&
    !/[/\\\0]/.test(part)
  );
}

/** True when a key names one of a document's chunks rather than other per-document data (such as sync state). */
export function isChunkKey(key: readonly string[]): boolean {
  const [documentId, kind] = key;
  return (
    documentId !== undefined && (CHUNK_KINDS as readonly (string | undefined)[]).includes(kind)
  );
}

/**
 * True when a key names a peer's sync state (`[documentId, "sync-state", storageId]`,
 * automerge-repo's): what two peers last knew of each other's heads, saved
 * after each exchange. Losing one only makes the next sync with that peer
 * start from scratch, so it is written without fsync and read as absent
 * when damaged.
 */
export function isSyncStateKey(key: readonly string[]): boolean {
  return key.length === 3 && key[1] === "sync-state";
}

/** A chunk's name within its document, `kind/name`: what a fingerprint lists. */
export function chunkNameOf(key: readonly string[]): string {
  return key.slice(1).join("/");
}

/** The storage key of a document's chunk named `kind/name` ({@link chunkNameOf} reversed). */
export function chunkKeyOf(documentId: string, chunkName: string): string[] {
  return [documentId, ...chunkName.split("/")];
}

/** The storage key of a document's snapshot chunk called `name`. */
export function snapshotKeyOf(documentId: string, name: string): string[] {
  return [documentId, "snapshot", name];
}

/**
 * True for a stray temporary file that an interrupted atomic write left
 * beside a chunk (see `writeFileAtomic`): it is no chunk, and never loaded.
 */
export function isTemporaryFile(name: string): boolean {
  return name.includes(".tmp-");
}

/**
 * The chunk names (sorted `kind/name`) stored on disk for each document, by
 * document id: they change whenever a document does, so a cache tagged with
 * them is current exactly while they are unchanged. Reads the directory, so it
 * sees chunks any process wrote; a document with no chunks maps to `[]`. A
 * document with no folder of its own is listed from the chunk packs
 * ({@link packedChunkNames}); with `packed`, each document whose names came
 * from the packs is added to it.
 * @throws CanonError `STORAGE_DAMAGED` when a chunk pack is not whole.
 */
export async function chunkFingerprint(
  directory: string,
  documentIds: readonly string[],
  packed?: Set<string>,
): Promise<Record<string, string[]>> {
  const fingerprint: Record<string, string[]> = {};
  for (const id of documentIds) {
    // No chunk folder: nothing to list (a `stat`, where two failed listings each made an error), maybe packed.
    if (!hasChunkFolder(directory, id)) {
      const names = namesInPacks(directory, id);
      fingerprint[id] = names;
      if (names.length > 0) packed?.add(id);
      continue;
    }
    const names: string[] = [];
    for (const kind of CHUNK_KINDS) {
      try {
        for (const name of await readdir(pathOfKey(directory, [id, kind])))
          if (!isTemporaryFile(name)) names.push(chunkNameOf([id, kind, name]));
      } catch {
        // A document with no chunks of this kind.
      }
    }
    fingerprint[id] = names.sort();
  }
  return fingerprint;
}

/**
 * True when a document has a folder of chunks (`snapshot` or `incremental`),
 * which, once made, alone describes it; a packed document has none.
 */
export function hasChunkFolder(directory: string, documentId: string): boolean {
  // The document's folder first: one `stat` when it has none (a packed or an unknown document).
  const folder = pathOfKey(directory, [documentId]);
  return existsSync(folder) && CHUNK_KINDS.some((kind) => existsSync(join(folder, kind)));
}

/**
 * A document's chunk names (sorted `kind/name`) in the replica's chunk packs,
 * when it has no chunk folder ({@link hasChunkFolder}); `[]` otherwise.
 * Synchronous: a `stat` or two, and the packs' indexes once a process.
 * @throws CanonError `STORAGE_DAMAGED` when a chunk pack is not whole.
 */
export function packedChunkNames(directory: string, documentId: string): string[] {
  return hasChunkFolder(directory, documentId) ? [] : namesInPacks(directory, documentId);
}

/** A document's chunk names (sorted `kind/name`) in the chunk packs, whether or not it has a chunk folder. */
function namesInPacks(directory: string, documentId: string): string[] {
  return (packedChunks(directory).get(documentId) ?? []).map(({ kind, name }) => `${kind}/${name}`);
}

/**
 * How many documents are stored under `directory`: one
 * `<2 chars>/<rest>/` folder each. An unreadable folder counts as empty, so
 * a health report never fails on it.
 */
export async function countStoredDocuments(directory: string): Promise<number> {
  let count = 0;
  for (const prefix of await readdir(directory, { withFileTypes: true }).catch(() => [])) {
    if (!prefix.isDirectory()) continue;
    for (const rest of await readdir(join(directory, prefix.name), { withFileTypes: true }).catch(
      () => [],
    )) {
      if (rest.isDirectory()) count++;
    }
  }
  return count;
}

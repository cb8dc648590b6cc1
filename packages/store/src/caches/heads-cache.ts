import { join } from "node:path";
import type { CanonHome } from "../home/canon-home.js";
import { NOT_DURABLE } from "./cache-tail.js";
import { readChecksummedJson, writeChecksummedJson } from "./checksummed-json.js";
import { fileIdentityOf } from "./file-identity.js";

/**
 * The heads of a space's documents as this home last folded them, by
 * document id (automerge-repo's encoding, sorted), with the fingerprint
 * (chunk files) they were read from. Kept in
 * `$CANON_HOME/index/<space-document-id>.heads` beside the verified
 * snapshot, so `sync` can compare them with a relay's heads summary without
 * loading Automerge. Valid only while its fingerprint equals the verified
 * snapshot's and that one names exactly the chunk files on disk.
 */
export interface HeadsCache {
  readonly fingerprint: Readonly<Record<string, readonly string[]>>;
  readonly heads: Readonly<Record<string, readonly string[]>>;
}

const TAG = "CNH1";

function pathOf(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.heads`);
}

/**
 * By path: the heads cache this process last wrote, and its file's identity
 * right after (inode, size, times): while the file still has it, no one
 * wrote it since, and reading it is returning this.
 */
const writtenHere = new Map<string, { readonly cache: HeadsCache; readonly identity: string }>();

/** Replaces a space's heads cache. */
export async function writeHeadsCache(
  home: CanonHome,
  spaceDocumentId: string,
  cache: HeadsCache,
): Promise<void> {
  const heads: Record<string, string[]> = {};
  for (const [id, list] of Object.entries(cache.heads)) heads[id] = [...list].sort();
  const path = pathOf(home, spaceDocumentId);
  writtenHere.delete(path);
  await writeChecksummedJson(
    path,
    TAG,
    { v: 1, fingerprint: cache.fingerprint, heads },
    { durable: NOT_DURABLE },
  );
  const identity = fileIdentityOf(path);
  if (identity !== undefined)
    writtenHere.set(path, { cache: { fingerprint: cache.fingerprint, heads }, identity });
}

/** A space's heads cache, or undefined when there is none or it is damaged or malformed. */
export async function readHeadsCache(
  home: CanonHome,
  spaceDocumentId: string,
): Promise<HeadsCache | undefined> {
  const path = pathOf(home, spaceDocumentId);
  const mine = writtenHere.get(path);
  if (mine !== undefined && mine.identity === fileIdentityOf(path)) return mine.cache;
  const parsed = await readChecksummedJson(path, TAG);
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const cache = parsed as { v?: unknown; fingerprint?: unknown; heads?: unknown };
  if (cache.v !== 1 || !isListMap(cache.fingerprint) || !isListMap(cache.heads)) return undefined;
  return { fingerprint: cache.fingerprint, heads: cache.heads };
}

/** A map of string lists (our own file, but never trusted to be well-formed). */
function isListMap(value: unknown): value is Record<string, string[]> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every(
      (list) => Array.isArray(list) && list.every((item) => typeof item === "string"),
    )
  );
}

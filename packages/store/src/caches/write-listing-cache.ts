import { unlink } from "node:fs/promises";
import { effectiveExpiry, missingFrom, type SpaceState, type StandardState } from "@canon/core";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";
import { storedChecksum } from "../storage/checksummed.js";
import { checksumOf, NOT_DURABLE } from "./cache-tail.js";
import {
  encodeChecksummedJson,
  readChecksummedJson,
  writeChecksummedJson,
} from "./checksummed-json.js";
import { fileIdentityOf } from "./file-identity.js";
import { fingerprintHashOf } from "./fingerprint-hash.js";
import type { IndexedCheckpoint } from "./indexed-freshness.js";
import {
  LISTING_SHARD_TAG,
  LISTING_TAG,
  type ListedEntry,
  type ListingHead,
  listingPath,
  listingShardOf,
  listingShardPath,
} from "./listing-cache.js";
import { indexedRelease } from "./write-read-index.js";

/** As core's freshness rule: a checkpoint dated more than this after now does not count yet. */
const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** Writes the listing cache of a space from its fold; `fingerprint` names the chunk files the fold read. */
export async function writeListingCache(
  home: CanonHome,
  spaceDocumentId: string,
  fingerprint: Readonly<Record<string, readonly string[]>>,
  state: SpaceState,
  rejected: number,
): Promise<void> {
  const now = Date.now();
  const checkpoints: (IndexedCheckpoint & { countsFrom: number })[] = [];
  // Newest first: the newest that counts now, then those dated ahead (normally none).
  for (const signed of [...state.checkpoints].reverse()) {
    const countsFrom = Date.parse(signed.record.createdAt) - MAX_CLOCK_SKEW_MS;
    checkpoints.push({
      cid: signed.cid,
      author: signed.record.author,
      createdAt: signed.record.createdAt,
      expires: effectiveExpiry(state, signed.record),
      missing: missingFrom(state, signed.record),
      countsFrom,
    });
    if (countsFrom <= now) break;
  }
  const grouped = new Map<string, ListedEntry[]>();
  for (const standard of state.standards.values()) {
    const entry = listedEntryOf(standard);
    const shard = listingShardOf(entry.latest.standard);
    const entries = grouped.get(shard);
    if (entries === undefined) grouped.set(shard, [entry]);
    else entries.push(entry);
  }
  // Each shard whose bytes changed (a command that changed one standard: one shard), then the main file naming them.
  const previous = await namedShards(listingPath(home, spaceDocumentId));
  const shards: Record<string, string> = {};
  for (const [shard, entries] of grouped) {
    const path = listingShardPath(home, spaceDocumentId, shard);
    const { file, checksum } = shardFileOf(path, entries);
    shards[shard] = checksum;
    if (previous?.[shard] === checksum && (await holdsShard(path, checksum))) continue;
    await writeFileAtomic(path, file, 0o644, false, NOT_DURABLE);
    rememberShard(path, checksum);
  }
  const head: ListingHead = {
    v: 2,
    genesis: state.genesis.cid,
    fingerprintHash: fingerprintHashOf(fingerprint),
    name: state.genesis.record.name,
    rejected,
    checkpoints,
    shards,
  };
  await writeChecksummedJson(listingPath(home, spaceDocumentId), LISTING_TAG, head, {
    durable: NOT_DURABLE,
  });
  // Shards no longer named (their standards gone).
  for (const shard of Object.keys(previous ?? {}))
    if (!Object.hasOwn(shards, shard))
      await unlink(listingShardPath(home, spaceDocumentId, shard)).catch(() => {});
}

/**
 * A standard's entry, by state object: a fold that changed one standard
 * (`foldMore`) keeps every other standard's object, so their entries are
 * not made again (each is fixed by its state object, which is never changed).
 */
const entries = new WeakMap<StandardState, ListedEntry>();

function listedEntryOf(standard: StandardState): ListedEntry {
  let entry = entries.get(standard);
  if (entry === undefined) {
    const { cid, record } = standard.latest;
    entry = {
      latest: indexedRelease(cid, record),
      heads: standard.heads.length,
      forked: standard.forked,
      openCorrections: standard.openCorrections.length,
      retired: standard.retired !== undefined,
    };
    entries.set(standard, entry);
  }
  return entry;
}

/** By shard path: the entries this process last made a shard file of, and that file (a shard of the same entries is the same bytes). */
const shardFiles = new Map<
  string,
  { readonly entries: readonly ListedEntry[]; readonly file: Uint8Array; readonly checksum: string }
>();

function shardFileOf(
  path: string,
  entries: readonly ListedEntry[],
): { readonly file: Uint8Array; readonly checksum: string } {
  const made = shardFiles.get(path);
  if (
    made !== undefined &&
    made.entries.length === entries.length &&
    made.entries.every((entry, at) => entry === entries[at])
  )
    return made;
  const file = encodeChecksummedJson(LISTING_SHARD_TAG, entries);
  const checksum = checksumOf(file);
  shardFiles.set(path, { entries, file, checksum });
  return { file, checksum };
}

/** By shard path: the checksum of the file this process wrote (or found) there, and that file's identity then. */
const shardsOnDisk = new Map<string, { readonly checksum: string; readonly identity: string }>();

function rememberShard(path: string, checksum: string): void {
  const identity = fileIdentityOf(path);
  if (identity === undefined) shardsOnDisk.delete(path);
  else shardsOnDisk.set(path, { checksum, identity });
}

/**
 * True when the shard file at `path` carries `checksum`: a `stat` when this
 * process wrote or read it and nothing touched it since, else its header
 * read (what every shard cost each write, 64 reads a `publish`).
 */
async function holdsShard(path: string, checksum: string): Promise<boolean> {
  const known = shardsOnDisk.get(path);
  if (known?.checksum === checksum && known.identity === fileIdentityOf(path)) return true;
  if ((await storedChecksum(path)) !== checksum) return false;
  rememberShard(path, checksum);
  return true;
}

/** The shards the listing's main file at `path` names, when it is intact (to skip rewriting unchanged shards). */
async function namedShards(path: string): Promise<Readonly<Record<string, string>> | undefined> {
  const head = (await readChecksummedJson(path, LISTING_TAG)) as
    | Partial<ListingHead>
    | null
    | undefined;
  return typeof head?.shards === "object" && head.shards !== null ? head.shards : undefined;
}

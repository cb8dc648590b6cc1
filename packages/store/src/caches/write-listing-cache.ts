import { readFile, unlink } from "node:fs/promises";
import { effectiveExpiry, missingFrom, type SpaceState } from "@canon/core";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";
import { checksummed, storedChecksum, unchecksummed } from "../storage/checksummed.js";
import { NOT_DURABLE } from "./cache-tail.js";
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
  const standards: ListedEntry[] = [...state.standards.values()].map((standard) => {
    const { cid, record } = standard.latest;
    return {
      latest: indexedRelease(cid, record),
      heads: standard.heads.length,
      forked: standard.forked,
      openCorrections: standard.openCorrections.length,
      retired: standard.retired !== undefined,
    };
  });
  const grouped = new Map<string, ListedEntry[]>();
  for (const entry of standards) {
    const shard = listingShardOf(entry.latest.standard);
    grouped.set(shard, [...(grouped.get(shard) ?? []), entry]);
  }
  // Each shard whose bytes changed (a command that changed one standard: one shard), then the main file naming them.
  const previous = await namedShards(listingPath(home, spaceDocumentId));
  const shards: Record<string, string> = {};
  for (const [shard, entries] of grouped) {
    const file = checksummed(LISTING_SHARD_TAG, new TextEncoder().encode(JSON.stringify(entries)));
    const checksum = Buffer.from(file.subarray(4, 36)).toString("hex");
    shards[shard] = checksum;
    const path = listingShardPath(home, spaceDocumentId, shard);
    if (previous?.[shard] === checksum && (await storedChecksum(path)) === checksum) continue;
    await writeFileAtomic(path, file, 0o644, false, NOT_DURABLE);
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
  await writeFileAtomic(
    listingPath(home, spaceDocumentId),
    checksummed(LISTING_TAG, new TextEncoder().encode(JSON.stringify(head))),
    0o644,
    false,
    NOT_DURABLE,
  );
  // Shards no longer named (their standards gone).
  for (const shard of Object.keys(previous ?? {}))
    if (!Object.hasOwn(shards, shard))
      await unlink(listingShardPath(home, spaceDocumentId, shard)).catch(() => {});
}

/** The shards the listing's main file at `path` names, when it is intact (to skip rewriting unchanged shards). */
async function namedShards(path: string): Promise<Readonly<Record<string, string>> | undefined> {
  try {
    const opened = unchecksummed(LISTING_TAG, await readFile(path));
    if (!("data" in opened)) return undefined;
    const head = JSON.parse(new TextDecoder().decode(opened.data)) as Partial<ListingHead>;
    return typeof head.shards === "object" && head.shards !== null ? head.shards : undefined;
  } catch {
    return undefined;
  }
}

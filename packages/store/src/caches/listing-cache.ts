import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Freshness } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { readChecksummedJsonOrDrop, readSmallChecksummedJsonOrDrop } from "./checksummed-json.js";
import { provenFingerprint, provenFingerprintHash } from "./disk-proof.js";
import { fingerprintHashOf } from "./fingerprint-hash.js";
import { freshnessOfIndex, type IndexedCheckpoint } from "./indexed-freshness.js";
import type { IndexedRelease } from "./read-index.js";

/**
 * The listing cache: what `canon ls` shows of a space (each standard's
 * latest release, forks, open corrections, retirement) and what `canon show
 * <standard>` needs to print the latest version, as the fold gave it
 * (written by `write-listing-cache.ts`). A few hundred bytes a standard,
 * where the verified snapshot holds every record and the read index every
 * release: reading it costs the same whatever the history.
 *
 * Kept as a small main file, `$CANON_HOME/index/<space-document-id>.listing`
 * ({@link ListingHead}: the space's name, checkpoints, and the checksum of
 * each shard), and {@link LISTING_SHARDS} shard files in
 * `<space-document-id>.listing.d/`, each holding the entries of the
 * standards whose name hashes to it. `show` reads the main file and one
 * shard, a few kilobytes whatever the number of standards; a command that
 * changed one standard rewrites the main file and that standard's shard.
 *
 * Served only while the space's disk proof holds for exactly the files it
 * was computed from (`fingerprintHash`, the sha-256 of the fingerprint's
 * JSON), so it is never staler than the verified snapshot; every file
 * checksummed, and each shard must be the one the main file names.
 */
export interface ListingCache extends ListingHead {
  /** Every standard, in the fold's order (by name). */
  readonly standards: readonly ListedEntry[];
}

/** The listing's main file: everything but the standards' entries, and which shard files hold those. */
export interface ListingHead {
  readonly v: 2;
  readonly genesis: string;
  readonly fingerprintHash: string;
  /** The space's name. */
  readonly name: string;
  /** How many entries the fold left out. */
  readonly rejected: number;
  /** The newest checkpoint when written, and any dated too far ahead to count yet (see core's `newestCheckpoint`). */
  readonly checkpoints: readonly (IndexedCheckpoint & { readonly countsFrom: number })[];
  /** The checksum (hex) of each shard file, by shard; a shard with no standard is absent. */
  readonly shards: Readonly<Record<string, string>>;
}

/** One standard in the listing cache. */
export interface ListedEntry {
  readonly latest: IndexedRelease;
  readonly heads: number;
  readonly forked: boolean;
  readonly openCorrections: number;
  readonly retired: boolean;
}

/** The listing's main file's tag (`checksummed.ts`). */
export const LISTING_TAG = "CNL2";
/** A listing shard file's tag. */
export const LISTING_SHARD_TAG = "CNLS";
/** How many shards the entries are spread over. */
export const LISTING_SHARDS = 64;

/** Where a space's listing cache lives (its main file). */
export function listingPath(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.listing`);
}

/** Where a listing shard lives. */
export function listingShardPath(home: CanonHome, spaceDocumentId: string, shard: string): string {
  return join(home.indexes, `${spaceDocumentId}.listing.d`, shard);
}

/** The shard a standard's entry is kept in: two hex digits, from the sha-256 of its name. */
export function listingShardOf(standard: string): string {
  let shard = shards.get(standard);
  if (shard === undefined) {
    const first = createHash("sha256").update(standard).digest()[0] as number;
    shard = (first % LISTING_SHARDS).toString(16).padStart(2, "0");
    shards.set(standard, shard);
  }
  return shard;
}

/**
 * Each name's shard, for the life of the process: every write of the
 * listing groups every standard by shard, and the home's owner writes it
 * after each command (a sha-256 a name, 1,000 of them, was a third of a
 * `publish`'s cache writes there). A name fixes its shard.
 */
const shards = new Map<string, string>();

/**
 * The space's listing cache when the disk proof holds for exactly the files
 * it was computed from (`statFiles` as {@link provenFingerprint}); undefined
 * otherwise (none, stale, damaged, another format), and the caller folds.
 */
export async function readListingCache(
  home: CanonHome,
  address: { readonly documentId: string; readonly genesis: string },
  options: { readonly statFiles: boolean },
): Promise<ListingCache | undefined> {
  const proven = provenFingerprint(home, address.documentId, options);
  if (proven === undefined) return undefined;
  const head = await readListingHead(home, address, fingerprintHashOf(proven));
  if (head === undefined) return undefined;
  const standards: ListedEntry[] = [];
  for (const shard of Object.keys(head.shards)) {
    // Every shard is read here, so an entry's shard does not decide whether it is listed: its
    // placement (a sha-256 of each of 1,000 names in a cold `ls`) is checked by `show` only.
    const entries = await readShard(home, address.documentId, head, shard, false);
    if (entries === undefined) return undefined;
    for (const entry of entries) standards.push(entry);
  }
  standards.sort((a, b) => (a.latest.standard < b.latest.standard ? -1 : 1));
  return { ...head, standards };
}

/**
 * One standard's entry, with the listing's main file, read as `show` needs
 * it: the generation and the disk proof's hash, the main file and one shard
 * (no chunk file is looked at, as {@link provenFingerprint} without
 * `statFiles`). `entry` is undefined when the space has no such standard;
 * the whole is undefined when the cache cannot answer.
 */
export async function readListedStandard(
  home: CanonHome,
  address: { readonly documentId: string; readonly genesis: string },
  standard: string,
): Promise<{ readonly head: ListingHead; readonly entry: ListedEntry | undefined } | undefined> {
  const hash = provenFingerprintHash(home, address.documentId);
  if (hash === undefined) return undefined;
  const head = await readListingHead(home, address, hash);
  if (head === undefined) return undefined;
  const shard = listingShardOf(standard);
  if (!Object.hasOwn(head.shards, shard)) return { head, entry: undefined };
  const entries = await readShard(home, address.documentId, head, shard, true);
  if (entries === undefined) return undefined;
  return { head, entry: entries.find((entry) => entry.latest.standard === standard) };
}

/** The listing's main file, when intact, of this space and computed from the files whose fingerprint hashes to `fingerprintHash`. */
async function readListingHead(
  home: CanonHome,
  address: { readonly documentId: string; readonly genesis: string },
  fingerprintHash: string,
): Promise<ListingHead | undefined> {
  const head = (await readChecksummedJsonOrDrop(
    listingPath(home, address.documentId),
    LISTING_TAG,
  )) as Partial<ListingHead> | null | undefined;
  if (
    typeof head !== "object" ||
    head === null ||
    head.v !== 2 ||
    head.genesis !== address.genesis ||
    head.fingerprintHash !== fingerprintHash ||
    typeof head.name !== "string" ||
    typeof head.rejected !== "number" ||
    !Array.isArray(head.checkpoints) ||
    typeof head.shards !== "object" ||
    head.shards === null
  )
    return undefined;
  return head as ListingHead;
}

/**
 * A shard's entries, when its file is the one the main file names and intact,
 * and (with `placed`) each entry's name belongs to this shard: what `show`,
 * which looks in one shard only, relies on.
 */
async function readShard(
  home: CanonHome,
  spaceDocumentId: string,
  head: ListingHead,
  shard: string,
  placed: boolean,
): Promise<ListedEntry[] | undefined> {
  const checksum = head.shards[shard];
  if (checksum === undefined) return undefined;
  const entries = await readSmallChecksummedJsonOrDrop(
    listingShardPath(home, spaceDocumentId, shard),
    LISTING_SHARD_TAG,
    checksum,
  );
  if (!Array.isArray(entries)) return undefined;
  for (const entry of entries)
    if (
      typeof entry?.latest?.standard !== "string" ||
      (placed && listingShardOf(entry.latest.standard) !== shard)
    )
      return undefined;
  return entries as ListedEntry[];
}

/** The freshness a listing's checkpoints prove at `now` (core's rule: the newest that counts). */
export function freshnessOfListing(
  listing: Pick<ListingHead, "checkpoints">,
  now: Date,
): Freshness {
  const newest = listing.checkpoints.find((checkpoint) => checkpoint.countsFrom <= now.getTime());
  if (newest === undefined) return freshnessOfIndex(null, now);
  const { cid, author, createdAt, expires, missing } = newest;
  return freshnessOfIndex({ cid, author, createdAt, expires, missing }, now);
}

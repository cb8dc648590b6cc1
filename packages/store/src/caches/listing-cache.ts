import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Freshness } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { unchecksummed } from "../storage/checksummed.js";
import { provenFingerprint } from "./disk-proof.js";
import { freshnessOfIndex, type IndexedCheckpoint } from "./indexed-freshness.js";
import type { IndexedRelease } from "./read-index.js";

/**
 * The listing cache: what `canon ls` shows of a space (each standard's
 * latest release, forks, open corrections, retirement) and what `canon show
 * <standard>` needs to print the latest version, as the fold gave it, in
 * `$CANON_HOME/index/<space-document-id>.listing` (written by `write-listing-cache.ts`). A few hundred bytes a
 * standard, where the verified snapshot holds every record and the read
 * index every release: reading it costs the same whatever the history.
 *
 * Served only while the space's disk proof holds for exactly the files it
 * was computed from (`fingerprintHash`, the sha-256 of the fingerprint's
 * JSON), so it is never staler than the verified snapshot; checksummed like
 * every cache.
 */
export interface ListingCache {
  readonly v: 1;
  readonly genesis: string;
  readonly fingerprintHash: string;
  /** The space's name. */
  readonly name: string;
  /** How many entries the fold left out. */
  readonly rejected: number;
  /** The newest checkpoint when written, and any dated too far ahead to count yet (see core's `newestCheckpoint`). */
  readonly checkpoints: readonly (IndexedCheckpoint & { readonly countsFrom: number })[];
  /** Every standard, in the fold's order. */
  readonly standards: readonly ListedEntry[];
}

/** One standard in the listing cache. */
export interface ListedEntry {
  readonly latest: IndexedRelease;
  readonly heads: number;
  readonly forked: boolean;
  readonly openCorrections: number;
  readonly retired: boolean;
}

/** The listing cache file's tag (`checksummed.ts`). */
export const LISTING_TAG = "CNL1";

/** Where a space's listing cache lives. */
export function listingPath(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.listing`);
}

/** The hash a listing is tagged with: of the fingerprint's JSON. */
export function fingerprintHashOf(
  fingerprint: Readonly<Record<string, readonly string[]>>,
): string {
  return createHash("sha256").update(JSON.stringify(fingerprint)).digest("hex");
}

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
  try {
    const opened = unchecksummed(
      LISTING_TAG,
      await readFile(listingPath(home, address.documentId)),
    );
    if (!("data" in opened)) return undefined;
    const listing = JSON.parse(new TextDecoder().decode(opened.data)) as Partial<ListingCache>;
    if (
      listing.v !== 1 ||
      listing.genesis !== address.genesis ||
      listing.fingerprintHash !== fingerprintHashOf(proven) ||
      typeof listing.name !== "string" ||
      typeof listing.rejected !== "number" ||
      !Array.isArray(listing.checkpoints) ||
      !Array.isArray(listing.standards)
    )
      return undefined;
    return listing as ListingCache;
  } catch {
    return undefined;
  }
}

/** The freshness a listing's checkpoints prove at `now` (core's rule: the newest that counts). */
export function freshnessOfListing(listing: ListingCache, now: Date): Freshness {
  const newest = listing.checkpoints.find((checkpoint) => checkpoint.countsFrom <= now.getTime());
  if (newest === undefined) return freshnessOfIndex(null, now);
  const { cid, author, createdAt, expires, missing } = newest;
  return freshnessOfIndex({ cid, author, createdAt, expires, missing }, now);
}

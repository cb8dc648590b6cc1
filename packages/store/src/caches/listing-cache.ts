import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Freshness } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { unchecksummed } from "../storage/checksummed.js";
import { checksumOf, dropDamaged, readTail, TailWriter } from "./cache-tail.js";
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

/**
 * The listing's tail (`cache-tail.ts`): the entries of the standards that
 * changed since the listing was written (replacing theirs, or new), and
 * what replaces the listing's other fields.
 */
export interface ListingTail {
  readonly v: 1;
  readonly fingerprintHash: string;
  readonly name: string;
  readonly rejected: number;
  readonly checkpoints: ListingCache["checkpoints"];
  readonly standards: readonly ListedEntry[];
}

/** The listing tail's tag. */
export const LISTING_TAIL_TAG = "CNLT";

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
    const path = listingPath(home, address.documentId);
    const bytes = await readFile(path);
    const opened = unchecksummed(LISTING_TAG, bytes);
    if (!("data" in opened)) {
      await dropDamaged(path);
      return undefined;
    }
    let listing = JSON.parse(new TextDecoder().decode(opened.data)) as Partial<ListingCache>;
    const tail = await readTail(TailWriter.tailPathOf(path), LISTING_TAIL_TAG, checksumOf(bytes));
    if (tail.kind === "damaged") return undefined;
    if (tail.kind === "tail") {
      const extension = JSON.parse(new TextDecoder().decode(tail.data)) as Partial<ListingTail>;
      if (
        extension.v !== 1 ||
        !Array.isArray(extension.standards) ||
        !Array.isArray(listing.standards)
      )
        return undefined;
      listing = {
        ...listing,
        ...extension,
        v: 1,
        standards: applied(listing.standards, extension.standards),
      };
    }
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

/** The listing's entries with the tail's: each replacing the entry of its standard, or added in the fold's order (by name). */
function applied(
  entries: readonly ListedEntry[],
  changed: readonly ListedEntry[],
): readonly ListedEntry[] {
  const byName = new Map(entries.map((entry) => [entry.latest?.standard, entry]));
  let added = false;
  for (const entry of changed) {
    if (!byName.has(entry.latest?.standard)) added = true;
    byName.set(entry.latest?.standard, entry);
  }
  const all = [...byName.values()];
  return added ? all.sort((a, b) => (a.latest.standard < b.latest.standard ? -1 : 1)) : all;
}

/** The freshness a listing's checkpoints prove at `now` (core's rule: the newest that counts). */
export function freshnessOfListing(listing: ListingCache, now: Date): Freshness {
  const newest = listing.checkpoints.find((checkpoint) => checkpoint.countsFrom <= now.getTime());
  if (newest === undefined) return freshnessOfIndex(null, now);
  const { cid, author, createdAt, expires, missing } = newest;
  return freshnessOfIndex({ cid, author, createdAt, expires, missing }, now);
}

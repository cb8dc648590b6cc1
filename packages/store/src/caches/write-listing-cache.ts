import { effectiveExpiry, missingFrom, type SpaceState } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { MAX_TAIL_BYTES, TailWriter } from "./cache-tail.js";
import type { IndexedCheckpoint } from "./indexed-freshness.js";
import {
  fingerprintHashOf,
  LISTING_TAG,
  LISTING_TAIL_TAG,
  type ListedEntry,
  type ListingCache,
  type ListingTail,
  listingPath,
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
  const entries = new Map(standards.map((entry) => [entry.latest.standard, JSON.stringify(entry)]));
  const path = listingPath(home, spaceDocumentId);
  const fingerprintHash = fingerprintHashOf(fingerprint);
  const previous = await written.current(path);
  // Only the standards whose entry changed, when this process wrote the listing on disk and none is gone.
  if (previous !== undefined && previous.genesis === state.genesis.cid) {
    const changed = new Map(previous.tail.map((entry) => [entry.latest.standard, entry]));
    let gone = false;
    for (const name of previous.entries.keys()) if (!entries.has(name)) gone = true;
    for (const entry of standards)
      if (previous.entries.get(entry.latest.standard) !== entries.get(entry.latest.standard))
        changed.set(entry.latest.standard, entry);
    const tail: ListingTail = {
      v: 1,
      fingerprintHash,
      name: state.genesis.record.name,
      rejected,
      checkpoints,
      standards: [...changed.values()],
    };
    const data = new TextEncoder().encode(JSON.stringify(tail));
    if (!gone && data.length <= MAX_TAIL_BYTES) {
      await written.writeTail(path, data, {
        genesis: state.genesis.cid,
        entries,
        tail: tail.standards,
      });
      return;
    }
  }
  const listing: ListingCache = {
    v: 1,
    genesis: state.genesis.cid,
    fingerprintHash,
    name: state.genesis.record.name,
    rejected,
    checkpoints,
    standards,
  };
  await written.writeBase(path, new TextEncoder().encode(JSON.stringify(listing)), {
    genesis: state.genesis.cid,
    entries,
    tail: [],
  });
}

/** What this process last wrote of a listing: every entry (as JSON) by standard, and the entries in the tail. */
interface WrittenListing {
  readonly genesis: string;
  readonly entries: ReadonlyMap<string, string>;
  readonly tail: readonly ListedEntry[];
}

/** Listings this process wrote, to append to (`cache-tail.ts`). */
const written = new TailWriter<WrittenListing>(LISTING_TAG, LISTING_TAIL_TAG);

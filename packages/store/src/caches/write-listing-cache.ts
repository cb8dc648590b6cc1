import { effectiveExpiry, missingFrom, type SpaceState } from "@canon/core";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";
import { checksummed } from "../storage/checksummed.js";
import type { IndexedCheckpoint } from "./indexed-freshness.js";
import { fingerprintHashOf, LISTING_TAG, type ListingCache, listingPath } from "./listing-cache.js";
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
  const listing: ListingCache = {
    v: 1,
    genesis: state.genesis.cid,
    fingerprintHash: fingerprintHashOf(fingerprint),
    name: state.genesis.record.name,
    rejected,
    checkpoints,
    standards: [...state.standards.values()].map((standard) => {
      const { cid, record } = standard.latest;
      return {
        latest: indexedRelease(cid, record),
        heads: standard.heads.length,
        forked: standard.forked,
        openCorrections: standard.openCorrections.length,
        retired: standard.retired !== undefined,
      };
    }),
  };
  await writeFileAtomic(
    listingPath(home, spaceDocumentId),
    checksummed(LISTING_TAG, new TextEncoder().encode(JSON.stringify(listing))),
  );
}

import { contentMatches } from "../../content-matches.js";
import type { Release } from "../../records/release.js";
import type { SignedRecord } from "../../signed-record.js";
import type { FoldCache } from "../fold-cache.js";
import type { Check } from "./check.js";

/**
 * A release's content is here and is exactly what it names: one of the
 * candidates the documents hold for its content CID (any peer can write
 * there, so every candidate is tried), or else the bytes the cache kept,
 * has the release's size and hashes to its content CID. An accepted release
 * is always readable.
 */
export function contentMatchesCid(
  candidates: (contentCid: string) => readonly Uint8Array[],
  cache: FoldCache,
): Check<SignedRecord<Release>> {
  return async (signed) => {
    const release = signed.record;
    if (cache.contentMatched?.(signed.cid)) return undefined;
    const found = candidates(release.contentCid);
    for (const bytes of found) if (await contentMatches(bytes, release)) return undefined;
    const kept = await cache.content?.(release.contentCid);
    if (kept !== undefined && (await contentMatches(kept, release))) return undefined;
    return found.length === 0 && kept === undefined
      ? { code: "content-missing", reason: `content ${release.contentCid} is missing` }
      : {
          code: "content-mismatch",
          reason: `content bytes do not match the content CID ${release.contentCid}`,
        };
  };
}

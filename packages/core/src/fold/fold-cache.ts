import type { contentMatches, ExpectedContent } from "../content-matches.js";
import type { SignedRecord } from "../signed-record.js";

/**
 * What a fold may reuse from earlier folds of the same replica, read-only:
 * the fold never writes into it. What a fold learns comes back in its
 * result ({@link FoldResult.verified}), and the caller decides what to keep.
 * Every member is optional; a fold without a cache checks everything.
 */
export interface FoldCache {
  /**
   * A record that passed {@link verifyRecord} in an earlier fold, by CID. An
   * entry whose bytes equal the cached record's skips the hashing, decoding
   * and signature check (the outcome depends on the bytes alone).
   */
  readonly verifiedRecord?: (cid: string) => SignedRecord | undefined;
  /**
   * True for a release, by CID, whose content an earlier fold matched
   * against its content CID (a release CID fixes the content CID and size,
   * so the outcome cannot change): its content is not looked up or hashed
   * again. Used when folding a snapshot of verified records, where the
   * documents holding the content are not loaded.
   */
  readonly contentMatched?: (releaseCid: string) => boolean;
  /**
   * Bytes kept from earlier for a content CID (a local cache of verified
   * content), asked only when no candidate in the documents matches: bytes
   * verified earlier survive a peer overwriting them in a document. Still
   * checked against the CID.
   */
  readonly content?: (contentCid: string) => Promise<Uint8Array | undefined>;
  /**
   * Says whether bytes are a content CID's, in place of {@link contentMatches}
   * (which hashes them every time): a caller that checks the same bytes
   * again after the fold (writing back, filling a cache) may remember what
   * it found. Must answer exactly as {@link contentMatches} does.
   */
  readonly contentMatches?: (bytes: Uint8Array, expected: ExpectedContent) => Promise<boolean>;
}

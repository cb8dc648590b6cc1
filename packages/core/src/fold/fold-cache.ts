import type { contentMatches, ExpectedContent } from "../content-matches.js";
import type { Rejection, RejectionCode } from "../rejection.js";
import type { SignedRecord } from "../signed-record.js";

/**
 * The codes {@link verifyRecord} gives an entry only after its bytes hashed
 * to the CID they are stored under: such a verdict is about the exact bytes
 * that CID names, so it does not change while the rules that gave it stay
 * the same ({@link FoldCache.refusedRecord}, {@link REFUSAL_RULES_VERSION}).
 */
export const PERMANENT_REFUSALS: ReadonlySet<RejectionCode> = new Set<RejectionCode>([
  "not-envelope",
  "envelope-not-canonical",
  "payload-not-map",
  "payload-not-canonical",
  "schema",
  "bad-signature",
]);

/**
 * The version of the rules behind {@link PERMANENT_REFUSALS} verdicts (the
 * envelope and payload encodings, the record schemas, the signature check).
 * A remembered refusal is used only under the version it was given with, so
 * a Canon whose schemas accept what an older one refused (a new record type,
 * a wider field) checks those entries again instead of trusting the old
 * verdict. Bump it with any such change.
 */
export const REFUSAL_RULES_VERSION = 2;

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
   * The rejection an earlier fold gave an entry stored under this CID, when
   * its code is one of {@link PERMANENT_REFUSALS}: the bytes then hashed to
   * the CID, so any entry stored under it holds either those very bytes
   * (refused again for the same reason) or bytes that do not hash to it
   * (refused anyway). The entry is refused with it, without being hashed,
   * decoded or its signature checked: junk a peer wrote costs each reader
   * one check, not one a fold. A rejection with another code is ignored.
   */
  readonly refusedRecord?: (cid: string) => Rejection | undefined;
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

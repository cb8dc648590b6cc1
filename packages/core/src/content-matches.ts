import { isBundleCid } from "./bundle/bundle-manifest.js";
import { contentCid, recordCid } from "./cid.js";

/**
 * What a release says its content is: the CID of the exact bytes (raw for a
 * file, dag-cbor for a bundle's manifest), and their length.
 */
export interface ExpectedContent {
  readonly contentCid: string;
  readonly size: number;
}

/**
 * True when `bytes` are the content a release names: the same length, and
 * hashing to its content CID (a bundle's manifest hashes to a dag-cbor CID). The length is checked first, so bytes of the
 * wrong size are refused without hashing them. Every path that serves or
 * accepts content goes through this one check.
 */
export async function contentMatches(
  bytes: Uint8Array,
  expected: ExpectedContent,
): Promise<boolean> {
  if (bytes.length !== expected.size) return false;
  const cid = isBundleCid(expected.contentCid) ? await recordCid(bytes) : await contentCid(bytes);
  return cid.toString() === expected.contentCid;
}

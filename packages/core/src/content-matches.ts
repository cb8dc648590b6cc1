import { contentCid } from "./cid.js";

/** What a release says its content is: the raw CID of the exact bytes, and their length. */
export interface ExpectedContent {
  readonly contentCid: string;
  readonly size: number;
}

/**
 * True when `bytes` are the content a release names: the same length, and
 * hashing to its content CID. The length is checked first, so bytes of the
 * wrong size are refused without hashing them. Every path that serves or
 * accepts content goes through this one check.
 */
export async function contentMatches(
  bytes: Uint8Array,
  expected: ExpectedContent,
): Promise<boolean> {
  return (
    bytes.length === expected.size && (await contentCid(bytes)).toString() === expected.contentCid
  );
}

import { decodeBundleManifest, isBundleCid } from "../../bundle/bundle-manifest.js";
import { contentMatches, type ExpectedContent } from "../../content-matches.js";
import type { Release } from "../../records/release.js";
import type { Refusal } from "../../rejection.js";
import type { SignedRecord } from "../../signed-record.js";
import type { FoldCache } from "../fold-cache.js";
import type { Check } from "./check.js";

/**
 * A release's content is here and is exactly what it names: one of the
 * candidates the documents hold for its content CID (any peer can write
 * there, so every candidate is tried), or else the bytes the cache kept,
 * has the release's size and hashes to its content CID. For a bundle, the
 * content is its manifest, which must also decode under the schema and the
 * limits (`bundle-malformed`), and every file it lists must be here and
 * match its raw CID and size in the same way. An accepted release is always
 * readable, every file of it.
 */
export function contentMatchesCid(
  candidates: (contentCid: string) => Iterable<Uint8Array>,
  cache: FoldCache,
): Check<SignedRecord<Release>> {
  const matches = cache.contentMatches ?? contentMatches;
  const find = async (expected: ExpectedContent): Promise<Uint8Array | Refusal> => {
    // Candidates one at a time: the later ones (concurrent values) cost a lookup each.
    let found = 0;
    for (const bytes of candidates(expected.contentCid)) {
      found += 1;
      if (await matches(bytes, expected)) return bytes;
    }
    const kept = await cache.content?.(expected.contentCid);
    if (kept !== undefined && (await matches(kept, expected))) return kept;
    return found === 0 && kept === undefined
      ? { code: "content-missing", reason: `content ${expected.contentCid} is missing` }
      : {
          code: "content-mismatch",
          reason: `content bytes do not match the content CID ${expected.contentCid}`,
        };
  };
  return async (signed) => {
    const release = signed.record;
    if (cache.contentMatched?.(signed.cid)) return undefined;
    const content = await find(release);
    if (!(content instanceof Uint8Array)) return content;
    if (!isBundleCid(release.contentCid)) return undefined;
    return bundleFilesMatch(content, find);
  };
}

/** Every file a bundle's manifest lists is here and matches its raw CID and size. */
async function bundleFilesMatch(
  manifestBytes: Uint8Array,
  find: (expected: ExpectedContent) => Promise<Uint8Array | Refusal>,
): Promise<Refusal | undefined> {
  let files: ReturnType<typeof decodeBundleManifest>["files"];
  try {
    files = decodeBundleManifest(manifestBytes).files;
  } catch (error) {
    return { code: "bundle-malformed", reason: (error as Error).message };
  }
  for (const file of files) {
    const found = await find({ contentCid: file.cid, size: file.size });
    if (!(found instanceof Uint8Array))
      return {
        code: found.code,
        reason:
          found.code === "content-missing"
            ? `file ${JSON.stringify(file.path)} of the bundle (${file.cid}) is missing`
            : `file ${JSON.stringify(file.path)} of the bundle does not match its CID ${file.cid}`,
      };
  }
  return undefined;
}

import {
  CanonError,
  parseCid,
  type Release,
  type SignedRecord,
  type StandardState,
} from "@canon/core";

/**
 * One release of a standard: the latest when `selector` is absent, else a
 * version number, a release CID, or a content CID (the earliest release of
 * those bytes, an answer later releases never change).
 * @throws CanonError `UNKNOWN_VERSION`, `AMBIGUOUS_VERSION` (two releases share a version after a fork), `BAD_CID`.
 */
export function pickRelease(
  standard: StandardState,
  selector: string | undefined,
): SignedRecord<Release> {
  if (selector === undefined) return standard.latest;
  if (/^\d+$/.test(selector)) {
    const version = Number(selector);
    const matches = [...standard.releases.values()].filter(
      (signed) => signed.record.version === version,
    );
    if (matches.length === 0) {
      throw new CanonError(
        "UNKNOWN_VERSION",
        `${standard.name} has no version ${version} (latest is ${standard.latest.record.version})`,
      );
    }
    if (matches.length > 1) {
      throw new CanonError(
        "AMBIGUOUS_VERSION",
        `${standard.name}@${version} names ${matches.length} concurrent releases (${matches.map((m) => m.cid).join(", ")}); pick one by CID`,
      );
    }
    return matches[0] as SignedRecord<Release>;
  }
  let cid: string;
  try {
    cid = parseCid(selector).toString();
  } catch {
    throw new CanonError(
      "BAD_CID",
      `"${selector.slice(0, 200)}" is neither a version of ${standard.name} (3 or v3), latest, nor a CID`,
    );
  }
  // The same bytes may be published twice; a content CID names the earliest
  // release of them, an answer later releases never change.
  const signed =
    standard.releases.get(cid) ??
    [...standard.releases.values()]
      .filter((r) => r.record.contentCid === cid)
      .sort((x, y) => x.record.version - y.record.version || (x.cid < y.cid ? -1 : 1))[0];
  if (signed === undefined)
    throw new CanonError(
      "UNKNOWN_VERSION",
      `${standard.name} has no release or content with CID ${cid}`,
    );
  return signed;
}

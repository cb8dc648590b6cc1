import { createHash } from "node:crypto";

/**
 * The digest of a space's heads summary: the sha-256 (base64url) of
 * `[space, [[document id, [heads…]], …]]` as JSON, documents ordered by id
 * and each document's heads sorted, so that the same heads give the same
 * digest whoever computes it and in whatever order they were listed. The
 * relay sends it as the `ETag` of `GET /heads/<space>` and answers
 * `If-None-Match: "<digest>"` with 304 when its summary has that digest; a
 * home computes it from its own heads (`in-step-mark.ts`), so a 304 means
 * "the relay holds exactly the heads you hold". Unsigned, like the summary.
 */
export function headsDigest(
  spaceDocumentId: string,
  documents: Readonly<Record<string, readonly string[]>> | ReadonlyMap<string, readonly string[]>,
): string {
  const entries =
    documents instanceof Map
      ? [...(documents as ReadonlyMap<string, readonly string[]>)]
      : Object.entries(documents as Readonly<Record<string, readonly string[]>>);
  const canonical = entries
    .map(([id, heads]): [string, string[]] => [id, [...heads].sort()])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash("sha256")
    .update(JSON.stringify([spaceDocumentId, canonical]))
    .digest("base64url");
}

/** Longest entity tag a home sends or takes (a digest is 43 characters, quoted 45). */
export const MAX_ETAG_LENGTH = 64;

/** The strong entity tag that carries a digest in `ETag` and `If-None-Match`. */
export function etagOf(digest: string): string {
  return `"${digest}"`;
}

/**
 * True when an `If-None-Match` header value names `etag` (a list of tags,
 * weak or strong; `*` is not taken: a home always names its digest).
 * Bounded: a header longer than a few tags is not read.
 */
export function ifNoneMatchNames(header: string | undefined, etag: string): boolean {
  if (header === undefined || header.length > 16 * MAX_ETAG_LENGTH) return false;
  return header
    .split(",")
    .map((tag) => tag.trim().replace(/^W\//, ""))
    .includes(etag);
}

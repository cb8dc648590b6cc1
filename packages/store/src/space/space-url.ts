import { CanonError, looksLikeCid } from "@canon/core";
import { SPACE_URL_PATTERN } from "./space-url-pattern.js";

/** A space's address: the space document's Automerge id and the CID of its genesis record. */
export interface SpaceAddress {
  /** automerge-repo document id of the space document. */
  readonly documentId: string;
  /** CID of the genesis record: the trust root every reader checks records against. */
  readonly genesis: string;
}

const PREFIX = "canon:";

/**
 * Formats a space URL: `canon:<documentId>/<genesisCid>`. The genesis CID in
 * the URL pins the space's root of trust, so whoever shares the URL also
 * shares which creator's signature the space starts from.
 */
export function formatSpaceUrl(address: SpaceAddress): string {
  return `${PREFIX}${address.documentId}/${address.genesis}`;
}

/**
 * Parses an untrusted space URL.
 * @throws CanonError `BAD_URL` saying what is wrong and what a space URL looks like.
 */
export function parseSpaceUrl(input: string): SpaceAddress {
  const shown = input.length > 120 ? `${input.slice(0, 117)}...` : input;
  const bad = (why: string) =>
    new CanonError(
      "BAD_URL",
      `"${shown}" is not a space URL (${why}); a space URL looks like canon:<document-id>/<genesis-cid>`,
    );
  if (!input.startsWith(PREFIX)) throw bad(`it must start with "${PREFIX}"`);
  const [documentId = "", genesis = "", ...rest] = input.slice(PREFIX.length).split("/");
  if (rest.length > 0) throw bad("too many parts");
  if (!looksLikeCid(genesis)) throw bad("the genesis CID is not valid");
  if (!SPACE_URL_PATTERN.test(input)) throw bad("the document id is not valid");
  return { documentId, genesis };
}

import { z } from "zod";
import { DAG_CBOR_CODEC, looksLikeCid, parseCid, RAW_CODEC } from "../cid.js";
import { type Did, parseDid } from "../did.js";

/**
 * Remembers which strings passed a check. A space's records repeat the same
 * few CIDs and dids (its genesis, its members, the chain heads), and parsing
 * them (base32, base58) was most of the fold's cost beyond signatures.
 * Bounded, so an attacker's stream of distinct strings cannot grow it.
 */
function remembered(check: (value: string) => boolean): (value: string) => boolean {
  const passed = new Set<string>();
  return (value) => {
    if (passed.has(value)) return true;
    if (!check(value)) return false;
    if (passed.size >= 4096) passed.clear();
    passed.add(value);
    return true;
  };
}

/** A CID in its string form (base32 CIDv1 when Canon writes it). */
export const CidString = z.string().max(200).refine(remembered(looksLikeCid), "not a CID");

/** A content CID: CIDv1, codec `raw`, sha2-256 (what `contentCid` makes; its digest is the bytes' sha256sum). */
export const ContentCidString = z
  .string()
  .max(200)
  .refine(
    remembered((value) => {
      try {
        const cid = parseCid(value);
        return cid.version === 1 && cid.code === RAW_CODEC && cid.multihash.code === 0x12;
      } catch {
        return false;
      }
    }),
    "not a raw sha2-256 content CID",
  );

/**
 * A release's content CID: a raw sha2-256 CID (a file's exact bytes) or a
 * dag-cbor sha2-256 CID (a bundle's manifest, see `bundle/`).
 */
export const ReleaseContentCidString = z
  .string()
  .max(200)
  .refine(
    remembered((value) => {
      try {
        const cid = parseCid(value);
        return (
          cid.version === 1 &&
          (cid.code === RAW_CODEC || cid.code === DAG_CBOR_CODEC) &&
          cid.multihash.code === 0x12
        );
      } catch {
        return false;
      }
    }),
    "not a raw or dag-cbor sha2-256 content CID",
  );

/** An ed25519 did:key. */
export const DidString = z
  .string()
  .max(100)
  .refine(
    remembered((value) => {
      try {
        parseDid(value);
        return true;
      } catch {
        return false;
      }
    }),
    "not an ed25519 did:key",
  )
  .transform((value) => value as Did);

/** An ISO 8601 UTC timestamp with milliseconds, as `Date#toISOString` writes it. */
export const Timestamp = z.iso.datetime({ offset: false, precision: 3 });

/** Longest standard name, in characters (every character is ASCII, so also in bytes). */
export const MAX_STANDARD_NAME_LENGTH = 200;
/** Most `/`-separated segments in a standard name. */
export const MAX_STANDARD_NAME_SEGMENTS = 8;

const NAME_SEGMENT = "[A-Za-z0-9][A-Za-z0-9._-]{0,63}";
const NAME_PATTERN = new RegExp(
  `^${NAME_SEGMENT}(?:/${NAME_SEGMENT}){0,${MAX_STANDARD_NAME_SEGMENTS - 1}}$`,
);

/**
 * A standard's name: 1-8 segments separated by `/` (`house-style`,
 * `skills/codeql`, `Rules/A11y`), each 1-64 letters (either case), digits,
 * `.`, `_` or `-` starting with a letter or digit (so never `.` or `..`), at
 * most 200 characters in all. Safe as a relative path, in URLs, in
 * `name@selector` and on a terminal. Names that differ only in case are
 * different names, but `publish` refuses to create one that equals an
 * existing name ignoring case (see {@link standardNameKey}).
 */
export const StandardName = z
  .string()
  .max(
    MAX_STANDARD_NAME_LENGTH,
    `a standard's name is at most ${MAX_STANDARD_NAME_LENGTH} characters`,
  )
  .regex(
    NAME_PATTERN,
    "a standard's name is 1-8 segments separated by '/', each 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit",
  );

/**
 * The key under which two standard names collide: the name in lowercase.
 * `Rules/A11y` and `rules/a11y` would land on the same files on a
 * case-insensitive file system, so a space never gets both from `publish`.
 */
export function standardNameKey(name: string): string {
  return name.toLowerCase();
}

/** Free text written by a person (a release message, a correction). */
export const Text = (max: number) => z.string().max(max);

/**
 * The membership chain's heads the author saw when writing a record: the
 * causal point at which the fold checks the author's role.
 */
export const MembershipHeads = z.array(CidString).min(1).max(64);

/** Most records a correction or provenance record names in `previous`. */
export const MAX_PREVIOUS = 64;

/**
 * The heads of its author's own chain of corrections and provenance records
 * when writing one (see `ownRecordHeads`): a removal pins the removed
 * member's heads, so a record they write afterwards cannot be dated before it.
 * Absent or empty for an author's first record.
 */
export const PreviousRecords = z.array(CidString).max(MAX_PREVIOUS).optional();

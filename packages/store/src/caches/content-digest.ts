import { parseCid, sha256Hex } from "@canon/core";

// The sha-256 (hex) a content CID names, as the read index and the listing
// cache keep it (`sha256`). `sha256Hex(parseCid(cid))` gives it for any CID,
// through `multiformats`' parser (a `CID` object, its multihash, a copy of
// the digest) and a `padStart` a byte: 10,000 of them were most of a read
// index written whole (`publish` without the home's owner). Canon's own CIDs
// are one shape, CIDv1 in base32 with a one-byte codec and a sha2-256
// multihash (`bafkrei…` for content, `bafyrei…` for a bundle's manifest):
// that shape is decoded here by table, and anything else goes to the parser.

/** The base32 alphabet of multibase `b` (RFC 4648, lower case, no padding). */
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** Character code → its 5 bits, or -1 for a character outside the alphabet. */
const VALUES = (() => {
  const values = new Int8Array(128).fill(-1);
  for (let at = 0; at < ALPHABET.length; at++) values[ALPHABET.charCodeAt(at)] = at;
  return values;
})();

/** A byte → its two hex digits. */
const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

/** `b`, then 36 bytes in base32: version 1, a one-byte codec, sha2-256 (0x12), 32 bytes (0x20), the digest. */
const SHAPED_LENGTH = 1 + Math.ceil((36 * 8) / 5);

/**
 * The sha-256 digest (hex) a CID names: exactly `sha256Hex(parseCid(cid))`.
 * @throws CanonError `BAD_CID` as that does, for a string that is not a CID or not a sha2-256 one.
 */
export function contentDigestHex(cid: string): string {
  return shapedDigestHex(cid) ?? sha256Hex(parseCid(cid));
}

/**
 * The digest of a CID of the one shape Canon writes (see above), decoded by
 * table; undefined for any other string (another shape, base or hash, a
 * character outside the alphabet, bits left over that are not zero, which
 * the parser refuses), which the caller hands to the parser.
 */
function shapedDigestHex(cid: string): string | undefined {
  if (cid.length !== SHAPED_LENGTH || cid.charCodeAt(0) !== 0x62 /* b */) return undefined;
  const bytes = new Uint8Array(36);
  let buffer = 0;
  let bits = 0;
  let written = 0;
  for (let at = 1; at < cid.length; at++) {
    const code = cid.charCodeAt(at);
    const value = code < 128 ? (VALUES[code] as number) : -1;
    if (value < 0) return undefined;
    buffer = ((buffer << 5) | value) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes[written++] = (buffer >> bits) & 0xff;
    }
  }
  // 290 bits for 288: the two left over must be zero (the parser refuses them otherwise).
  if (written !== 36 || (buffer & ((1 << bits) - 1)) !== 0) return undefined;
  // CIDv1, a codec of one byte (a varint under 0x80), sha2-256, 32 bytes.
  if (bytes[0] !== 0x01 || (bytes[1] as number) >= 0x80 || bytes[2] !== 0x12 || bytes[3] !== 0x20)
    return undefined;
  let hex = "";
  for (let at = 4; at < 36; at++) hex += HEX[bytes[at] as number];
  return hex;
}

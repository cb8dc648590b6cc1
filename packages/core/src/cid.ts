import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { CanonError } from "./error.js";

/** Multicodec code of `raw`: the codec of a content CID (the exact bytes an agent reads). */
export const RAW_CODEC = raw.code;
/** Multicodec code of `dag-cbor`: the codec of a record CID (a constant, so reading a CID never loads a CBOR codec). */
export const DAG_CBOR_CODEC = 0x71;

/**
 * The content CID of a standard's bytes: CIDv1, codec `raw`, sha2-256. Its
 * digest is the file's `sha256sum`, so anyone can check it without Canon.
 */
export async function contentCid(bytes: Uint8Array): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(bytes));
}

/** The CID of an encoded record: CIDv1, codec `dag-cbor`, sha2-256. */
export async function recordCid(encoded: Uint8Array): Promise<CID> {
  return CID.createV1(DAG_CBOR_CODEC, await sha256.digest(encoded));
}

/** Most CIDs {@link parseCid} remembers; past this it starts over (a join parses each of 20,000 several times). */
const PARSED_AT_MOST = 100_000;

/**
 * CIDs parsed in this process, by their text: the fold, the replica's
 * content writer and the caches each parse a space's 10,000 content CIDs
 * again. A CID is an immutable value, so the same object serves every caller.
 */
const parsed = new Map<string, CID>();

/**
 * Parses an untrusted CID string. Accepts CIDv1 in any multibase that
 * `multiformats` knows by default (base32 `b…`, base58btc `z…`) and CIDv0.
 * @throws CanonError `BAD_CID` naming the input when it is not a CID.
 */
export function parseCid(input: string): CID {
  const known = parsed.get(input);
  if (known !== undefined) return known;
  const text = input.trim();
  if (text.length === 0 || text.length > 200) {
    throw new CanonError("BAD_CID", `"${truncate(input)}" is not a CID`);
  }
  try {
    const cid = CID.parse(text);
    if (parsed.size >= PARSED_AT_MOST) parsed.clear();
    parsed.set(input, cid);
    return cid;
  } catch (cause) {
    throw new CanonError(
      "BAD_CID",
      `"${truncate(input)}" is not a CID (${(cause as Error).message})`,
      { cause },
    );
  }
}

/** True when `input` parses as a CID; never throws. */
export function looksLikeCid(input: string): boolean {
  try {
    parseCid(input);
    return true;
  } catch {
    return false;
  }
}

/** The lowercase hex sha2-256 digest inside a sha2-256 CID, as `sha256sum` prints it. */
export function sha256Hex(cid: CID): string {
  if (cid.multihash.code !== sha256.code) {
    throw new CanonError("BAD_CID", `${cid.toString()} is not a sha2-256 CID`);
  }
  let hex = "";
  for (const byte of cid.multihash.digest) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export { CID };

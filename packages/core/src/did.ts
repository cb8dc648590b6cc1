import { base58btc } from "multiformats/bases/base58";
import { CanonError } from "./error.js";

/** Multicodec code of an ed25519 public key (`ed25519-pub`). */
const ED25519_PUB = 0xed;
/** `ed25519-pub` as the unsigned varint that prefixes the key inside a did:key. */
const ED25519_PREFIX = new Uint8Array([0xed, 0x01]);
const DID_KEY_PREFIX = "did:key:";

/** A `did:key` string naming an ed25519 public key. */
export type Did = `did:key:z${string}`;

/** The `did:key` of a 32-byte ed25519 public key. */
export function didFromPublicKey(publicKey: Uint8Array): Did {
  if (publicKey.length !== 32) {
    throw new CanonError("BAD_DID", `an ed25519 public key has 32 bytes, not ${publicKey.length}`);
  }
  const bytes = new Uint8Array(ED25519_PREFIX.length + publicKey.length);
  bytes.set(ED25519_PREFIX, 0);
  bytes.set(publicKey, ED25519_PREFIX.length);
  return `${DID_KEY_PREFIX}${base58btc.encode(bytes)}` as Did;
}

/**
 * Parses an untrusted did:key string and returns its ed25519 public key.
 * @throws CanonError `BAD_DID` saying what is wrong with the input.
 */
export function publicKeyFromDid(input: string): Uint8Array {
  const did = parseDid(input);
  return base58btc.decode(did.slice(DID_KEY_PREFIX.length)).subarray(ED25519_PREFIX.length);
}

/**
 * Checks that an untrusted string is an ed25519 did:key and returns it typed.
 * @throws CanonError `BAD_DID` saying what is wrong with the input.
 */
export function parseDid(input: string): Did {
  const shown = input.length > 80 ? `${input.slice(0, 77)}...` : input;
  if (!input.startsWith(DID_KEY_PREFIX)) {
    throw new CanonError("BAD_DID", `"${shown}" is not a did:key (it must start with "did:key:z")`);
  }
  const encoded = input.slice(DID_KEY_PREFIX.length);
  if (!encoded.startsWith("z") || encoded.length > 64) {
    throw new CanonError("BAD_DID", `"${shown}" is not a base58btc did:key`);
  }
  let bytes: Uint8Array;
  try {
    bytes = base58btc.decode(encoded);
  } catch {
    throw new CanonError("BAD_DID", `"${shown}" is not valid base58btc`);
  }
  if (bytes[0] !== ED25519_PUB || bytes[1] !== 0x01 || bytes.length !== 34) {
    throw new CanonError("BAD_DID", `"${shown}" is not an ed25519 did:key`);
  }
  return input as Did;
}

import { base64url } from "multiformats/bases/base64";
import { type Did, didFromPublicKey, publicKeyFromDid } from "./did.js";
import { CanonError } from "./error.js";

/**
 * An ed25519 key pair held in memory. `seed` is the 32-byte private key:
 * whoever has it can sign as `did`. Ed25519 runs on WebCrypto, native in
 * Node 20 and in current browsers, so no signature library is bundled.
 */
export interface KeyPair {
  readonly did: Did;
  readonly publicKey: Uint8Array;
  readonly seed: Uint8Array;
  readonly privateKey: CryptoKey;
}

const ED25519 = { name: "Ed25519" } as const;

/** Creates a fresh random ed25519 key pair. */
export async function generateKeyPair(): Promise<KeyPair> {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  return keyPairFromSeed(seed);
}

/**
 * Rebuilds a key pair from its 32-byte seed (the form stored on disk).
 * @throws CanonError `BAD_ARGUMENT` when the seed is not 32 bytes.
 */
export async function keyPairFromSeed(seed: Uint8Array): Promise<KeyPair> {
  if (seed.length !== 32) {
    throw new CanonError("BAD_ARGUMENT", `an ed25519 seed has 32 bytes, not ${seed.length}`);
  }
  // PKCS#8 wrapping of a raw ed25519 seed (RFC 8410): a fixed 16-byte header, then the seed.
  const pkcs8 = new Uint8Array(48);
  pkcs8.set([
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
  ]);
  pkcs8.set(seed, 16);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, ED25519, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  if (typeof jwk.x !== "string")
    throw new CanonError("BAD_ARGUMENT", "could not derive the public key");
  const publicKey = base64url.baseDecode(jwk.x);
  return { did: didFromPublicKey(publicKey), publicKey, seed: new Uint8Array(seed), privateKey };
}

/** Signs `message` with the key pair's private key (ed25519, deterministic). */
export async function sign(keyPair: KeyPair, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign(ED25519, keyPair.privateKey, asBuffer(message)));
}

const publicKeyCache = new Map<string, Promise<CryptoKey>>();

/**
 * Checks an ed25519 signature by the key a did:key names. Returns false for a
 * wrong signature; throws only when `did` is not a valid did:key.
 * Imported public keys are cached per did, so verifying many records by the
 * same signers costs one import each.
 */
export async function verify(
  did: string,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (signature.length !== 64) return false;
  let key = publicKeyCache.get(did);
  if (key === undefined) {
    // Bounded: an attacker's stream of new signers must not grow it without end.
    if (publicKeyCache.size >= 4096) publicKeyCache.clear();
    key = crypto.subtle.importKey("raw", asBuffer(publicKeyFromDid(did)), ED25519, false, [
      "verify",
    ]);
    publicKeyCache.set(did, key);
  }
  return crypto.subtle.verify(ED25519, await key, asBuffer(signature), asBuffer(message));
}

/** WebCrypto's types want ArrayBuffer-backed views; Canon never uses SharedArrayBuffer. */
function asBuffer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

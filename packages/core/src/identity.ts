import { base64url } from "multiformats/bases/base64";
import { z } from "zod";
import { CanonError } from "./error.js";
import { type KeyPair, keyPairFromSeed } from "./keys.js";
import { DidString, Timestamp } from "./records/fields.js";

/** An identity's name: the owner's own (`default`) or an agent's. */
export const IdentityName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,63}$/,
    "an identity name is 1-64 lowercase letters, digits, '.', '_' or '-'",
  );

/**
 * An identity as stored in its key file under `$CANON_HOME` (mode 0600):
 * the did, a name, and the 32-byte ed25519 seed in base64url.
 */
export const IdentityFile = z
  .object({
    v: z.literal(1),
    name: IdentityName,
    did: DidString,
    seed: z.string().regex(/^[A-Za-z0-9_-]{43}$/, "seed must be 32 bytes of base64url"),
    createdAt: Timestamp,
  })
  .strict();
/** An identity as stored in its key file. */
export type IdentityFile = z.infer<typeof IdentityFile>;

/** The public part of an identity: what others may see. */
export interface Identity {
  readonly name: string;
  readonly did: string;
  readonly createdAt: string;
}

/** The key file for a key pair. */
export function identityFileOf(name: string, keyPair: KeyPair, createdAt: string): IdentityFile {
  return { v: 1, name, did: keyPair.did, seed: base64url.baseEncode(keyPair.seed), createdAt };
}

/**
 * Parses an untrusted key file and rebuilds its key pair, checking that the
 * seed really yields the did the file claims.
 * @throws CanonError `BAD_CONFIG` naming `source` when the file is not a valid identity.
 */
export async function keyPairOfIdentityFile(
  input: unknown,
  source: string,
): Promise<{ identity: IdentityFile; keyPair: KeyPair }> {
  const parsed = IdentityFile.safeParse(input);
  if (!parsed.success) {
    throw new CanonError(
      "BAD_CONFIG",
      `${source} is not a valid identity file: ${parsed.error.issues[0]?.message}`,
    );
  }
  const keyPair = await keyPairFromSeed(base64url.baseDecode(parsed.data.seed));
  if (keyPair.did !== parsed.data.did) {
    throw new CanonError(
      "BAD_CONFIG",
      `${source}: its seed does not match its did ${parsed.data.did}`,
    );
  }
  return { identity: parsed.data, keyPair };
}

import { type Identity, isCanonError } from "@canon/core";
import {
  type CanonHome,
  canonHome,
  DEFAULT_IDENTITY,
  loadIdentity,
  readIdentity,
  type Signer,
} from "@canon/store";
import { escapeControls, type GlobalOptions } from "./output.js";

/** The home this process works in: `$CANON_HOME` or `~/.canon`. */
export function home(): CanonHome {
  return canonHome();
}

/** The identity a command acts as: `--as <name>`, else the owner's own. */
export function signer(options: GlobalOptions): Promise<Signer> {
  return loadIdentity(home(), options.as ?? DEFAULT_IDENTITY);
}

/**
 * The identity a command acts as, or undefined when this home has none or
 * its key file is exposed (a sync needs no identity; it then signs no
 * checkpoint, and says why when the key is the reason).
 */
export async function signerIfAny(options: GlobalOptions): Promise<Signer | undefined> {
  try {
    return await signer(options);
  } catch (error) {
    if (isCanonError(error, "NO_IDENTITY")) return undefined;
    if (isCanonError(error, "IDENTITY_UNPROTECTED")) {
      process.stderr.write(
        `canon: warning: no checkpoint signed: ${escapeControls(error.message)}\n`,
      );
      return undefined;
    }
    throw error;
  }
}

/** The public part of the identity a command acts as, for showing it (works even on a key file others can read). */
export function publicIdentity(options: GlobalOptions): Promise<Identity> {
  return readIdentity(home(), options.as ?? DEFAULT_IDENTITY);
}

import type { Identity } from "@canon/core";
import {
  type CanonHome,
  canonHome,
  DEFAULT_IDENTITY,
  loadIdentity,
  readIdentity,
  type Signer,
} from "@canon/store";
import type { GlobalOptions } from "./output.js";

/** The home this process works in: `$CANON_HOME` or `~/.canon`. */
export function home(): CanonHome {
  return canonHome();
}

/** The identity a command acts as: `--as <name>`, else the owner's own. */
export function signer(options: GlobalOptions): Promise<Signer> {
  return loadIdentity(home(), options.as ?? DEFAULT_IDENTITY);
}

/** The public part of the identity a command acts as, for showing it (works even on a key file others can read). */
export function publicIdentity(options: GlobalOptions): Promise<Identity> {
  return readIdentity(home(), options.as ?? DEFAULT_IDENTITY);
}

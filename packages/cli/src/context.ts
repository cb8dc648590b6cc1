import { isCanonError } from "@canon/core";
import {
  type CanonHome,
  canonHome,
  DEFAULT_IDENTITY,
  loadIdentity,
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

/** The identity a command acts as, or undefined when this home has none (a sync needs none). */
export async function signerIfAny(options: GlobalOptions): Promise<Signer | undefined> {
  try {
    return await signer(options);
  } catch (error) {
    if (isCanonError(error, "NO_IDENTITY")) return undefined;
    throw error;
  }
}

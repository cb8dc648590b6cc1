import { stat } from "node:fs/promises";
import { CanonError } from "@canon/core";

/**
 * Refuses a private key file that group or others may read or write, as ssh
 * does ("UNPROTECTED PRIVATE KEY FILE"): another account that can read it can
 * sign as this identity, and one that can write it can swap the key, so using
 * it silently would hide the leak. Nothing is checked where files have no
 * POSIX modes (win32), nor for a missing file (the caller reports that).
 * @throws CanonError `IDENTITY_UNPROTECTED` naming the file, its mode and the `chmod` that fixes it.
 */
export async function assertPrivate(path: string): Promise<void> {
  if (process.platform === "win32") return;
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch {
    return;
  }
  if ((mode & 0o077) === 0) return;
  throw new CanonError(
    "IDENTITY_UNPROTECTED",
    `unprotected private key file ${path} (mode ${(mode & 0o777).toString(8).padStart(4, "0")}): other users can read or change it, so Canon will not sign with it; run \`chmod 600 ${path}\`, and if others may have copied it, create a new identity and remove this one from your spaces`,
  );
}

import { isCanonError } from "@canon/core";

/**
 * The exit status for an error that stopped the relay, on the `canon` CLI's
 * scale so one runbook reads both: 4 when local storage is at fault (the data
 * directory cannot be written, or a stored file is damaged), 2 for any other
 * {@link CanonError} (bad settings, a port in use), 1 for anything else, which
 * is a bug.
 */
export function exitStatusOf(error: unknown): number {
  if (!isCanonError(error)) return 1;
  return error.code === "STORAGE_UNWRITABLE" || error.code === "STORAGE_DAMAGED" ? 4 : 2;
}

import { isCanonError } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { chooseSpace, type SpaceChoice } from "../operations/space-session.js";
import { syncSpace } from "../sync/sync-space.js";

/**
 * Syncs the space before a project reads it, when the space has a relay and
 * `offline` is not set, bounded by `timeoutMs`. An unreachable relay (or one
 * that does not answer in time) is not an error: the warning says which
 * replica is used, and the pull goes on with it.
 * @returns "synced", "offline" or "skipped".
 * @throws CanonError `RELAY_REFUSED` (a wrong token is not being offline), `NO_SPACE`, `UNKNOWN_SPACE`.
 */
export async function syncBeforeReading(
  home: CanonHome,
  choice: SpaceChoice,
  options: { readonly offline?: boolean | undefined; readonly timeoutMs: number },
  warn: (message: string) => void,
): Promise<"synced" | "offline" | "skipped"> {
  const chosen = await chooseSpace(home, choice);
  if (options.offline || (chosen.entry?.relays ?? []).length === 0) return "skipped";
  try {
    await syncSpace(home, { space: chosen.url, timeoutMs: options.timeoutMs });
    return "synced";
  } catch (error) {
    if (!isCanonError(error, "RELAY_UNREACHABLE") && !isCanonError(error, "SYNC_TIMEOUT"))
      throw error;
    warn(
      `offline: using the replica as of ${chosen.entry?.lastSyncAt ?? "never (not synced yet)"} (${error.message})`,
    );
    return "offline";
  }
}

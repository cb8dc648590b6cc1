import type { CanonHome } from "../home/canon-home.js";
import { readConfig } from "../home/config.js";
import { findStandard } from "./find-standard.js";
import { type ReleaseView, releaseView } from "./release-view.js";
import { assertReadable, type SpaceChoice } from "./space-session.js";
import { viewSpace } from "./space-view.js";

/** One entry of a standard's history. */
export interface HistoryEntry extends ReleaseView {
  readonly parents: readonly string[];
  /** Corrections this release incorporates (closes), by CID. */
  readonly incorporates: readonly string[];
  /** True for a current head (the latest, or one side of a fork). */
  readonly head: boolean;
}

/** A standard's history, newest first, and whether it is forked. */
export interface History {
  readonly standard: string;
  readonly forked: boolean;
  readonly releases: readonly HistoryEntry[];
  readonly lastSync: string | null;
}

/**
 * Every accepted release of a standard, newest version first (concurrent
 * releases of one version by CID).
 * @throws CanonError `UNKNOWN_STANDARD`.
 */
export async function history(
  home: CanonHome,
  request: SpaceChoice & { standard: string },
): Promise<History> {
  return viewSpace(home, request, async (view) => {
    const { state, chosen } = view;
    assertReadable(view, request.standard);
    const standard = findStandard(state, request.standard);
    const heads = new Set(standard.heads.map((head) => head.cid));
    const releases = [...standard.releases.values()]
      .sort((a, b) => b.record.version - a.record.version || (a.cid < b.cid ? -1 : 1))
      .map((signed) => ({
        ...releaseView(signed),
        parents: signed.record.parents,
        incorporates: signed.record.incorporates,
        head: heads.has(signed.cid),
      }));
    const config = await readConfig(home);
    return {
      standard: standard.name,
      forked: standard.forked,
      releases,
      lastSync: config.spaces[chosen.url]?.lastSyncAt ?? null,
    };
  });
}

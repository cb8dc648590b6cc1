import type { CanonHome } from "../home/canon-home.js";
import { readConfig } from "../home/config.js";
import { findStandard } from "./find-standard.js";
import { assertReadable, type SpaceChoice } from "./space-session.js";
import { viewSpace } from "./space-view.js";

/** Which corrections to list. */
export interface CorrectionLogRequest extends SpaceChoice {
  readonly standard: string;
  /** Every correction, closed ones too; only those in force when false (the default). */
  readonly all?: boolean | undefined;
}

/** One correction as `canon corrections` lists it. */
export interface CorrectionEntry {
  readonly cid: string;
  readonly author: string;
  readonly createdAt: string;
  readonly text: string;
  /** The release its author was reading, or null. */
  readonly against: string | null;
  /** What went wrong (usually an output's stamp), or null. */
  readonly evidence: string | null;
  /** `open` while in force on some head; `incorporated` once every head's history has it; `withdrawn`. */
  readonly state: "open" | "incorporated" | "withdrawn";
  /** Releases that incorporate it (on any branch): CID and version. */
  readonly incorporatedBy: readonly { readonly release: string; readonly version: number }[];
  /** Withdrawals that closed it: CID, author, time. */
  readonly withdrawnBy: readonly {
    readonly cid: string;
    readonly author: string;
    readonly createdAt: string;
  }[];
}

/** A standard's correction log. */
export interface CorrectionLog {
  readonly standard: string;
  /** Corrections in force (open) on some head of the standard. */
  readonly open: number;
  /** Every correction the standard's log holds, open or closed. */
  readonly total: number;
  /** Those listed, oldest first. */
  readonly corrections: readonly CorrectionEntry[];
  readonly lastSync: string | null;
}

/**
 * A standard's correction log from the local replica, offline: its open
 * corrections (the default), or every correction with where it stands.
 * @throws CanonError `UNKNOWN_STANDARD`.
 */
export async function correctionLog(
  home: CanonHome,
  request: CorrectionLogRequest,
): Promise<CorrectionLog> {
  return viewSpace(home, request, async (view) => {
    const { state, chosen } = view;
    assertReadable(view, request.standard);
    const standard = findStandard(state, request.standard);
    const statuses = [...standard.corrections.values()];
    const listed = request.all ? statuses : statuses.filter((status) => status.state === "open");
    const config = await readConfig(home);
    return {
      standard: standard.name,
      open: standard.openCorrections.length,
      total: statuses.length,
      corrections: listed.map(({ correction, state: where, incorporatedBy, withdrawnBy }) => ({
        cid: correction.cid,
        author: correction.record.author,
        createdAt: correction.record.createdAt,
        text: correction.record.text,
        against: correction.record.against ?? null,
        evidence: correction.record.evidence ?? null,
        state: where,
        incorporatedBy: incorporatedBy.map((release) => ({
          release,
          version: standard.releases.get(release)?.record.version ?? 0,
        })),
        withdrawnBy: withdrawnBy.map((withdrawal) => ({
          cid: withdrawal.cid,
          author: withdrawal.record.author,
          createdAt: withdrawal.record.createdAt,
        })),
      })),
      lastSync: config.spaces[chosen.url]?.lastSyncAt ?? null,
    };
  });
}

import type { SpaceState } from "../fold/space-state.js";
import type { ContextEntry, Provenance } from "../records/provenance.js";
import type { StampProblem } from "./stamp-problem.js";

/** One release of a stamp's context, and whether the space accepts it as named. */
export type CheckedRelease = ContextEntry & {
  /** The release is an accepted release of the standard, with this version and content. */
  readonly accepted: boolean;
};

/**
 * Each release of the stamp's context is an accepted release of that
 * standard, with the version and content CID the stamp names, and is named
 * once. A release named again is reported and left out of the result.
 */
export function checkContextReleases(
  record: Provenance,
  state: SpaceState,
): { releases: CheckedRelease[]; problems: StampProblem[] } {
  const releases: CheckedRelease[] = [];
  const problems: StampProblem[] = [];
  const seen = new Set<string>();
  for (const entry of record.context) {
    if (seen.has(entry.releaseCid)) {
      problems.push({
        code: "release-named-twice",
        message: `the context names ${entry.releaseCid} twice`,
      });
      continue;
    }
    seen.add(entry.releaseCid);
    const release = state.standards.get(entry.standard)?.releases.get(entry.releaseCid);
    const accepted =
      release !== undefined &&
      release.record.version === entry.version &&
      release.record.contentCid === entry.contentCid;
    if (!accepted) {
      problems.push({
        code: "release-not-accepted",
        message: `${entry.standard}@${entry.version} (${entry.releaseCid}) is not an accepted release in this replica; sync, or it was never published`,
      });
    }
    releases.push({ ...entry, accepted });
  }
  return { releases, problems };
}

import type { SpaceState } from "../fold/space-state.js";
import type { ContextEntry } from "../records/provenance.js";

/** How far a release of a stamp's context is behind its standard now. */
export interface Drift {
  /** It is still the standard's latest release. */
  readonly current: boolean;
  /** The standard's latest version now, or null when the standard is unknown here. */
  readonly latestVersion: number | null;
}

/**
 * Whether a release the stamp used is still its standard's latest. Drift
 * never makes a stamp fail: the output was made with what was current then.
 */
export function driftOf(entry: ContextEntry, state: SpaceState): Drift {
  const standard = state.standards.get(entry.standard);
  return {
    current: standard?.latest.cid === entry.releaseCid,
    latestVersion: standard?.latest.record.version ?? null,
  };
}

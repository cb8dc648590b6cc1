import type { SpaceState } from "../fold/space-state.js";
import type { ContextEntry, Provenance } from "../records/provenance.js";

/**
 * Why a context was stale when stamped: the agent's replica already held a
 * newer release (`held-newer`: the agent chose or kept an old version), or a
 * newer release existed by its signed time but had not reached the agent's
 * replica (`newer-not-received`: a sync problem, not an agent problem), or
 * the stamp predates the record of what its replica held (`unknown`).
 */
export type StaleReason = "held-newer" | "newer-not-received" | "unknown";

/** What an auditor can say of one release of a stamp's context, at the time of the stamp and since. */
export interface WhenStamped {
  /** `current`: no newer release existed then; `stale`: one did (see `staleReason`); `unknown`: the release is not accepted here. */
  readonly whenStamped: "current" | "stale" | "unknown";
  /** Why it was stale when stamped; null unless `whenStamped` is `stale`. */
  readonly staleReason: StaleReason | null;
  /** The highest version the agent's replica held of the standard, as the stamp says; null for stamps that do not say. */
  readonly heldVersion: number | null;
  /** Newer versions that existed by their signed time when the stamp was made. */
  readonly newerWhenStamped: readonly number[];
  /** A newer release came after the stamp (whatever it was when stamped). */
  readonly supersededSince: boolean;
  /** Newer versions signed after the stamp. */
  readonly newerSince: readonly number[];
}

/**
 * Judges one release of a stamp's context against the auditor's state: the
 * newer accepted releases of its standard are split by their signed time
 * into those that existed when the stamp was made and those that came
 * after. Stale when stamped if the agent's replica held a newer version (the
 * stamp's `knew`) or a newer one existed by its signed time. Signed times are
 * the authors' clocks: a maintainer's clock ahead of the agent's makes a
 * release look later, never earlier, than it was published.
 */
export function whenStampedOf(
  entry: ContextEntry & { readonly accepted: boolean },
  record: Provenance,
  state: SpaceState,
): WhenStamped {
  const known = record.knew?.find((held) => held.standard === entry.standard);
  const heldVersion = known?.version ?? null;
  const standard = state.standards.get(entry.standard);
  if (!entry.accepted || standard === undefined)
    return {
      whenStamped: "unknown",
      staleReason: null,
      heldVersion,
      newerWhenStamped: [],
      supersededSince: false,
      newerSince: [],
    };
  const newer = [...standard.releases.values()].filter(
    (release) => release.record.version > entry.version,
  );
  const versions = (list: typeof newer) =>
    [...new Set(list.map((release) => release.record.version))].sort((a, b) => a - b);
  const before = versions(newer.filter((release) => release.record.createdAt <= record.createdAt));
  const since = versions(newer.filter((release) => release.record.createdAt > record.createdAt));
  const heldNewer = heldVersion !== null && heldVersion > entry.version;
  const stale = heldNewer || before.length > 0;
  return {
    whenStamped: stale ? "stale" : "current",
    staleReason: !stale
      ? null
      : heldNewer
        ? "held-newer"
        : record.knew === undefined
          ? "unknown"
          : "newer-not-received",
    heldVersion,
    newerWhenStamped: before,
    supersededSince: since.length > 0,
    newerSince: since,
  };
}

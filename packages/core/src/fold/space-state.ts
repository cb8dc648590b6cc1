import type { Members } from "../membership-chain.js";
import type { Checkpoint } from "../records/checkpoint.js";
import type { CheckpointPage } from "../records/checkpoint-page.js";
import type { Correction } from "../records/correction.js";
import type { SpaceGenesis } from "../records/genesis.js";
import type { MembershipChange } from "../records/membership.js";
import type { Provenance } from "../records/provenance.js";
import type { Release } from "../records/release.js";
import type { Retirement } from "../records/retirement.js";
import type { SpaceSettings } from "../records/space-settings.js";
import type { Withdrawal } from "../records/withdrawal.js";
import type { SignedRecord } from "../signed-record.js";

/**
 * Where a correction stands: `open` while it is in force on at least one
 * head of its standard, `incorporated` once every head's history
 * incorporates it, `withdrawn` when a withdrawal closed it first.
 */
export interface CorrectionStatus {
  readonly correction: SignedRecord<Correction>;
  readonly state: "open" | "incorporated" | "withdrawn";
  /** Accepted releases that incorporate it, on any branch, by CID (sorted). */
  readonly incorporatedBy: readonly string[];
  /** Accepted withdrawals of it, oldest first. */
  readonly withdrawnBy: readonly SignedRecord<Withdrawal>[];
}

/** One standard as the verified records describe it. */
export interface StandardState {
  readonly name: string;
  /** Every accepted release, by release CID. */
  readonly releases: ReadonlyMap<string, SignedRecord<Release>>;
  /** Releases no other release follows: one normally, two or more when concurrent releases forked. */
  readonly heads: readonly SignedRecord<Release>[];
  /** The head with the highest version (ties broken by the larger CID). */
  readonly latest: SignedRecord<Release>;
  /** True when there is more than one head. */
  readonly forked: boolean;
  /** Accepted corrections in force on at least one head (not withdrawn, not incorporated there), oldest first. */
  readonly openCorrections: readonly SignedRecord<Correction>[];
  /** Every accepted correction of the standard and where it stands, oldest first. */
  readonly corrections: ReadonlyMap<string, CorrectionStatus>;
  /** The newest accepted retirement record when it retires the standard (hidden from listings and default stamps), else undefined. */
  readonly retired: SignedRecord<Retirement> | undefined;
  /** Every accepted retirement (and reversal) of the standard, oldest first. */
  readonly retirements: readonly SignedRecord<Retirement>[];
}

/** The state of a space: a deterministic function of its verified records. */
export interface SpaceState {
  readonly genesis: SignedRecord<SpaceGenesis>;
  readonly members: Members;
  readonly membershipHeads: readonly string[];
  readonly membershipChanges: readonly SignedRecord<MembershipChange>[];
  readonly standards: ReadonlyMap<string, StandardState>;
  readonly corrections: ReadonlyMap<string, SignedRecord<Correction>>;
  readonly provenance: ReadonlyMap<string, SignedRecord<Provenance>>;
  readonly withdrawals: ReadonlyMap<string, SignedRecord<Withdrawal>>;
  /** Accepted checkpoints, oldest first (by `createdAt`, then CID). */
  readonly checkpoints: readonly SignedRecord<Checkpoint>[];
  /** Accepted pages of version-2 checkpoints, by CID (a checkpoint names the ones it counts). */
  readonly checkpointPages: ReadonlyMap<string, SignedRecord<CheckpointPage>>;
  /** The space's settings in force: the newest accepted settings record's, else the defaults. */
  readonly settings: {
    readonly checkpointExpirySeconds: number;
    readonly record: SignedRecord<SpaceSettings> | undefined;
  };
}

/** Each standard's state from the accepted releases, corrections and withdrawals, standards sorted by name. */
export function standardsOf(
  accepted: ReadonlyMap<string, SignedRecord<Release>>,
  corrections: ReadonlyMap<string, SignedRecord<Correction>>,
  withdrawals: ReadonlyMap<string, SignedRecord<Withdrawal>>,
  retirements: readonly SignedRecord<Retirement>[],
): Map<string, StandardState> {
  const byName = new Map<string, SignedRecord<Release>[]>();
  const followed = new Set<string>();
  for (const signed of accepted.values()) {
    const list = byName.get(signed.record.standard) ?? [];
    list.push(signed);
    byName.set(signed.record.standard, list);
    for (const parent of signed.record.parents) followed.add(parent);
  }
  const withdrawnBy = groupBy(byTime([...withdrawals.values()]), (w) => w.record.correction);
  const correctionsByName = groupBy(byTime([...corrections.values()]), (c) => c.record.standard);
  const retirementsByName = groupBy(byTime(retirements), (r) => r.record.standard);

  const standards = new Map<string, StandardState>();
  for (const name of [...byName.keys()].sort()) {
    const list = byName.get(name) as SignedRecord<Release>[];
    const releases = new Map(list.map((signed) => [signed.cid, signed]));
    const heads = list
      .filter((signed) => !followed.has(signed.cid))
      .sort((a, b) => b.record.version - a.record.version || (a.cid < b.cid ? 1 : -1));
    const latest = heads[0] as SignedRecord<Release>;
    const onEveryHead = intersection(heads.map((head) => incorporatedIn(releases, head.cid)));
    const incorporatedBy = new Map<string, string[]>();
    for (const signed of [...releases.values()].sort((a, b) => (a.cid < b.cid ? -1 : 1)))
      for (const cid of signed.record.incorporates) {
        const list = incorporatedBy.get(cid);
        if (list === undefined) incorporatedBy.set(cid, [signed.cid]);
        else list.push(signed.cid);
      }
    const statuses = new Map<string, CorrectionStatus>();
    for (const correction of correctionsByName.get(name) ?? []) {
      const withdrawn = withdrawnBy.get(correction.cid) ?? [];
      statuses.set(correction.cid, {
        correction,
        state: onEveryHead.has(correction.cid)
          ? "incorporated"
          : withdrawn.length > 0
            ? "withdrawn"
            : "open",
        incorporatedBy: incorporatedBy.get(correction.cid) ?? [],
        withdrawnBy: withdrawn,
      });
    }
    standards.set(name, {
      name,
      releases,
      heads,
      latest,
      forked: heads.length > 1,
      openCorrections: [...statuses.values()]
        .filter((status) => status.state === "open")
        .map((status) => status.correction),
      corrections: statuses,
      retired: retiredBy(retirementsByName.get(name)),
      retirements: retirementsByName.get(name) ?? [],
    });
  }
  return standards;
}

/**
 * The corrections in force for one release of a standard: accepted, not
 * withdrawn, and not incorporated by that release or any release it
 * follows, oldest first. What the rendered context of that release lists.
 */
export function correctionsInForce(
  standard: StandardState,
  releaseCid: string,
): SignedRecord<Correction>[] {
  const incorporated = incorporatedIn(standard.releases, releaseCid);
  return [...standard.corrections.values()]
    .filter((status) => status.withdrawnBy.length === 0 && !incorporated.has(status.correction.cid))
    .map((status) => status.correction);
}

/** Every correction a release or one of its ancestors incorporates (none for a release not among `releases`). */
export function incorporatedIn(
  releases: ReadonlyMap<string, SignedRecord<Release>>,
  releaseCid: string,
): Set<string> {
  const incorporated = new Set<string>();
  const seen = new Set<string>();
  const stack = [releaseCid];
  while (stack.length > 0) {
    const cid = stack.pop() as string;
    if (seen.has(cid)) continue;
    seen.add(cid);
    const release = releases.get(cid);
    if (release === undefined) continue;
    for (const correction of release.record.incorporates) incorporated.add(correction);
    stack.push(...release.record.parents);
  }
  return incorporated;
}

/** The newest retirement record of a standard, when it retires it. */
function retiredBy(
  retirements: readonly SignedRecord<Retirement>[] | undefined,
): SignedRecord<Retirement> | undefined {
  const newest = retirements?.at(-1);
  return newest?.record.retired ? newest : undefined;
}

/** The items grouped by a key, each group in the items' order. */
function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [item]);
    else group.push(item);
  }
  return groups;
}

/** The elements every set holds (empty for no sets). */
function intersection(sets: readonly Set<string>[]): Set<string> {
  const [first, ...rest] = sets;
  if (first === undefined) return new Set();
  return new Set([...first].filter((value) => rest.every((set) => set.has(value))));
}

/** Records oldest first by `createdAt`, ties broken by CID: the same order on every replica. */
export function byTime<R extends { record: { createdAt: string }; cid: string }>(
  list: readonly R[],
): R[] {
  return [...list].sort((a, b) =>
    a.record.createdAt < b.record.createdAt
      ? -1
      : a.record.createdAt > b.record.createdAt
        ? 1
        : a.cid < b.cid
          ? -1
          : 1,
  );
}

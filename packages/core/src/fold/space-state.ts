import type { Members } from "../membership-chain.js";
import type { Correction } from "../records/correction.js";
import type { SpaceGenesis } from "../records/genesis.js";
import type { MembershipChange } from "../records/membership.js";
import type { Provenance } from "../records/provenance.js";
import type { Release } from "../records/release.js";
import type { SignedRecord } from "../signed-record.js";

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
  /** Accepted corrections no accepted release incorporates yet, oldest first. */
  readonly openCorrections: readonly SignedRecord<Correction>[];
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
}

/** Each standard's state from the accepted releases and corrections, standards sorted by name. */
export function standardsOf(
  accepted: ReadonlyMap<string, SignedRecord<Release>>,
  corrections: ReadonlyMap<string, SignedRecord<Correction>>,
): Map<string, StandardState> {
  const byName = new Map<string, SignedRecord<Release>[]>();
  const followed = new Set<string>();
  const incorporated = new Set<string>();
  for (const signed of accepted.values()) {
    const list = byName.get(signed.record.standard) ?? [];
    list.push(signed);
    byName.set(signed.record.standard, list);
    for (const parent of signed.record.parents) followed.add(parent);
    for (const correction of signed.record.incorporates) incorporated.add(correction);
  }
  const standards = new Map<string, StandardState>();
  for (const name of [...byName.keys()].sort()) {
    const releases = byName.get(name) as SignedRecord<Release>[];
    const heads = releases
      .filter((signed) => !followed.has(signed.cid))
      .sort((a, b) => b.record.version - a.record.version || (a.cid < b.cid ? 1 : -1));
    const latest = heads[0] as SignedRecord<Release>;
    const openCorrections = byTime(
      [...corrections.values()].filter(
        (c) => c.record.standard === name && !incorporated.has(c.cid),
      ),
    );
    standards.set(name, {
      name,
      releases: new Map(releases.map((signed) => [signed.cid, signed])),
      heads,
      latest,
      forked: heads.length > 1,
      openCorrections,
    });
  }
  return standards;
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

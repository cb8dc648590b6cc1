import { MembershipChain } from "../membership-chain.js";
import type { Checkpoint } from "../records/checkpoint.js";
import type { CheckpointPage } from "../records/checkpoint-page.js";
import type { Contribution } from "../records/contribution.js";
import type { Correction } from "../records/correction.js";
import type { SpaceGenesis } from "../records/genesis.js";
import type { MembershipChange, Role } from "../records/membership.js";
import type { Provenance } from "../records/provenance.js";
import type { Release } from "../records/release.js";
import type { Retirement } from "../records/retirement.js";
import {
  DEFAULT_CHECKPOINT_EXPIRY_SECONDS,
  type SpaceSettings,
} from "../records/space-settings.js";
import type { Withdrawal } from "../records/withdrawal.js";
import { type Rejection, rejectionOf } from "../rejection.js";
import type { SignedRecord } from "../signed-record.js";
import type { RecordEntry } from "../verify-record.js";
import { authorRole } from "./checks/author-role.js";
import { belongsToSpace } from "./checks/belongs-to-space.js";
import { type Check, decideEach } from "./checks/check.js";
import { contentMatchesCid } from "./checks/content-matches.js";
import { incorporates } from "./checks/incorporates.js";
import { notBackdated } from "./checks/not-backdated.js";
import { ownChain } from "./checks/own-chain.js";
import { releaseLineage } from "./checks/release-lineage.js";
import { withdraws } from "./checks/withdraws.js";
import type { FoldCache } from "./fold-cache.js";
import { rememberFold } from "./fold-context.js";
import { byTime, type SpaceState, standardsOf } from "./space-state.js";
import { verifyEntries } from "./verify-entries.js";

/** What the fold reads: every entry of the space's documents, untrusted, and where to find content. */
export interface FoldInput {
  /** CID of the space's genesis record: the space's identity. */
  readonly spaceCid: string;
  /** Entries of every document of the space (`records[cid] = bytes`). */
  readonly entries: Iterable<RecordEntry>;
  /**
   * The bytes stored for a content CID: every candidate the documents hold
   * (a peer may have overwritten the value, or written a concurrent one).
   * The first that matches the CID is used: an iterable may compute the
   * later candidates (concurrent values) only when asked for them.
   */
  readonly content: (contentCid: string) => Iterable<Uint8Array>;
  /** What the fold may reuse from earlier folds (read-only); none by default. */
  readonly cache?: FoldCache;
}

/** The fold's result: the state (undefined when the genesis is missing or invalid), and every entry left out of it with the reason. */
export interface FoldResult {
  readonly state: SpaceState | undefined;
  /** Every entry left out, with its code and reason: first those that failed their own checks ({@link FoldResult.invalid}), then those the space's rules refused. */
  readonly rejected: readonly Rejection[];
  /**
   * Entries that passed their own checks ({@link verifyRecord}), by CID,
   * whether or not the space's rules then accepted them: a deterministic
   * function of their bytes, so a replica may keep them and offer them to
   * later folds ({@link FoldCache.verifiedRecord}).
   */
  readonly verified: ReadonlyMap<string, SignedRecord>;
  /** Entries that failed their own checks: the part of `rejected` that `verified` cannot reproduce. */
  readonly invalid: readonly Rejection[];
}

/** Roles that may write corrections and provenance. */
const CONTRIBUTORS: readonly Role[] = ["maintainer", "contributor"];
/** Roles that may publish releases (and manage members). */
const MAINTAINERS: readonly Role[] = ["maintainer"];

/**
 * Folds a space's untrusted entries into its state. Every entry goes through
 * named checks in a fixed order; one that fails a check is left out with
 * that check's code and reason, and never hides a good one
 * (`docs/checks.md` lists every check with its codes and the threat it answers):
 * 1. the entry on its own: size, CID, envelope, schema, signature ({@link verifyRecord});
 * 2. `belongs-to-space`: a record of this space (a genesis: this space's own);
 * 3. membership changes, replayed by {@link MembershipChain.build}: `author-role`
 *    (a maintainer at the chain point named) and `not-backdated`;
 * 4. contributions (corrections, withdrawals, provenance): `author-role`
 *    (contributor or maintainer), `not-backdated` (against the heads a
 *    removal pinned), `own-chain` (`previous` names only the author's own
 *    accepted records), `withdraws` (a withdrawal closes an accepted
 *    correction of its standard, by its author or a maintainer);
 * 5. releases: `author-role` (maintainer), `not-backdated`, `release-lineage`
 *    (accepted parents of the same standard, version one more than the
 *    highest parent's: no rollback or replay), `incorporates` (accepted
 *    corrections of the same standard), `content-matches` (the bytes hash to
 *    the content CID);
 * 6. checkpoints (and their pages), space settings and retirements: `author-role` (maintainer) and
 *    `not-backdated` (a removed or demoted maintainer's statements stop
 *    counting unless they follow the change).
 *
 * Pure: it reads its input and cache and writes into neither.
 * @returns `state: undefined` only when the genesis record itself is missing or invalid.
 */
export async function fold(input: FoldInput): Promise<FoldResult> {
  const cache = input.cache ?? {};
  const { verified, invalid } = await verifyEntries(input.entries, cache);
  const genesis = verified.get(input.spaceCid);
  if (genesis === undefined || genesis.record.type !== "canon/space-genesis")
    return { state: undefined, rejected: invalid, verified, invalid };

  const space = recordsOfSpace(verified, input.spaceCid);
  const membership = MembershipChain.build(genesis as SignedRecord<SpaceGenesis>, space.membership);
  const chain = membership.chain;
  const contributions = await acceptContributions(space, chain);
  const releases = await acceptReleases(
    space.releases,
    chain,
    contributions.corrections,
    input,
    cache,
  );
  const attestations = await acceptAttestations(space, chain);

  const state: SpaceState = {
    genesis: genesis as SignedRecord<SpaceGenesis>,
    members: chain.current(),
    membershipHeads: chain.heads(),
    membershipChanges: chain.changes(),
    standards: standardsOf(
      releases.accepted,
      contributions.corrections,
      contributions.withdrawals,
      attestations.retirements,
    ),
    corrections: contributions.corrections,
    provenance: contributions.provenance,
    withdrawals: contributions.withdrawals,
    checkpoints: attestations.checkpoints,
    checkpointPages: attestations.checkpointPages,
    settings: attestations.settings,
  };
  // What `foldMore` needs to re-decide one standard from this state alone.
  rememberFold(state, {
    chain,
    releaseParents: releases.parentsOf,
    retirements: attestations.retirements,
  });
  return {
    state,
    rejected: [
      ...invalid,
      ...space.rejected,
      ...membership.rejected,
      ...contributions.rejected,
      ...releases.rejected,
      ...attestations.rejected,
    ],
    verified,
    invalid,
  };
}

/** The verified records of this space, by type, and those that belong elsewhere. */
function recordsOfSpace(verified: ReadonlyMap<string, SignedRecord>, spaceCid: string) {
  const membership: SignedRecord<MembershipChange>[] = [];
  const releases: SignedRecord<Release>[] = [];
  const corrections: SignedRecord<Correction>[] = [];
  const provenance: SignedRecord<Provenance>[] = [];
  const withdrawals: SignedRecord<Withdrawal>[] = [];
  const checkpoints: SignedRecord<Checkpoint>[] = [];
  const checkpointPages: SignedRecord<CheckpointPage>[] = [];
  const settings: SignedRecord<SpaceSettings>[] = [];
  const retirements: SignedRecord<Retirement>[] = [];
  const rejected: Rejection[] = [];
  for (const signed of verified.values()) {
    const refusal = belongsToSpace(signed, spaceCid);
    if (refusal !== undefined) rejected.push(rejectionOf(signed, refusal));
    else if (signed.record.type === "canon/membership")
      membership.push(signed as SignedRecord<MembershipChange>);
    else if (signed.record.type === "canon/release") releases.push(signed as SignedRecord<Release>);
    else if (signed.record.type === "canon/correction")
      corrections.push(signed as SignedRecord<Correction>);
    else if (signed.record.type === "canon/provenance")
      provenance.push(signed as SignedRecord<Provenance>);
    else if (signed.record.type === "canon/withdrawal")
      withdrawals.push(signed as SignedRecord<Withdrawal>);
    else if (signed.record.type === "canon/checkpoint")
      checkpoints.push(signed as SignedRecord<Checkpoint>);
    else if (signed.record.type === "canon/checkpoint-page")
      checkpointPages.push(signed as SignedRecord<CheckpointPage>);
    else if (signed.record.type === "canon/space-settings")
      settings.push(signed as SignedRecord<SpaceSettings>);
    else if (signed.record.type === "canon/retirement")
      retirements.push(signed as SignedRecord<Retirement>);
  }
  return {
    membership,
    releases,
    corrections,
    provenance,
    withdrawals,
    checkpoints,
    checkpointPages,
    settings,
    retirements,
    rejected,
  };
}

/**
 * Contributions (corrections, withdrawals, provenance): each author's own
 * records form a chain (`previous`), which a removal pins as `recordHeads`.
 * Each record is decided after the records it names.
 */
async function acceptContributions(
  space: {
    readonly corrections: readonly SignedRecord<Correction>[];
    readonly provenance: readonly SignedRecord<Provenance>[];
    readonly withdrawals: readonly SignedRecord<Withdrawal>[];
  },
  chain: MembershipChain,
) {
  const corrections = byTime(space.corrections);
  const withdrawals = byTime(space.withdrawals);
  const candidates: SignedRecord<Contribution>[] = [
    ...corrections,
    ...withdrawals,
    ...space.provenance,
  ];
  const previousOf = new Map(
    candidates.map((signed) => [signed.cid, signed.record.previous ?? []]),
  );
  const accepted = new Map<string, SignedRecord<Contribution>>();
  const checks: Check<SignedRecord<Contribution>>[] = [
    authorRole(chain, CONTRIBUTORS),
    notBackdated(chain, CONTRIBUTORS, (loss) => loss.record.recordHeads ?? [], previousOf),
    ownChain(accepted),
    withdraws(chain, accepted),
  ];
  const rejected = await decideEach(afterWhatTheyName(candidates), checks, accepted);
  const ofType = <R extends SignedRecord<Contribution>>(list: readonly R[]) =>
    new Map(
      list.filter((signed) => accepted.has(signed.cid)).map((signed) => [signed.cid, signed]),
    );
  return {
    corrections: ofType(corrections),
    withdrawals: ofType(withdrawals),
    provenance: ofType(space.provenance),
    rejected,
  };
}

/** Releases, in ascending version (a valid version is one more than its highest parent's, so this is a topological order). */
async function acceptReleases(
  releases: readonly SignedRecord<Release>[],
  chain: MembershipChain,
  corrections: ReadonlyMap<string, SignedRecord<Correction>>,
  input: FoldInput,
  cache: FoldCache,
) {
  const parentsOf = new Map(releases.map((signed) => [signed.cid, signed.record.parents]));
  const accepted = new Map<string, SignedRecord<Release>>();
  const checks = releaseChecks(chain, parentsOf, accepted, corrections, input.content, cache);
  const ordered = [...releases].sort(inReleaseOrder);
  return { accepted, parentsOf, rejected: await decideEach(ordered, checks, accepted) };
}

/**
 * The checks a release goes through, in order: `accepted` is where the
 * parents are looked up (releases are decided in {@link inReleaseOrder}),
 * `parentsOf` every verified release's parents (for the pins of removals).
 */
export function releaseChecks(
  chain: MembershipChain,
  parentsOf: ReadonlyMap<string, readonly string[]>,
  accepted: ReadonlyMap<string, SignedRecord<Release>>,
  corrections: ReadonlyMap<string, SignedRecord<Correction>>,
  content: FoldInput["content"],
  cache: FoldCache,
): Check<SignedRecord<Release>>[] {
  return [
    authorRole(chain, MAINTAINERS),
    notBackdated(chain, MAINTAINERS, (loss) => loss.record.releaseHeads ?? [], parentsOf),
    releaseLineage(accepted),
    incorporates(corrections),
    contentMatchesCid(content, cache),
  ];
}

/** The order releases are decided in: ascending version, then CID (a topological order). */
export function inReleaseOrder(a: SignedRecord<Release>, b: SignedRecord<Release>): number {
  return a.record.version - b.record.version || (a.cid < b.cid ? -1 : a.cid > b.cid ? 1 : 0);
}

/**
 * The checks of a statement only maintainers sign (checkpoints and their
 * pages, space settings, retirements): by a maintainer, and not backdated
 * (no pins: a maintainer removed or demoted later stops vouching). The full
 * fold and `foldMore` decide them with these same checks.
 */
export function attestationChecks(
  chain: MembershipChain,
): Check<SignedRecord<Checkpoint | CheckpointPage | SpaceSettings | Retirement>>[] {
  return [authorRole(chain, MAINTAINERS), notBackdated(chain, MAINTAINERS, () => [], new Map())];
}

/**
 * Checkpoints, space settings and retirements: statements only maintainers
 * sign. A maintainer removed or demoted later stops vouching for anything:
 * their statements count only if they follow that change (no pins).
 */
async function acceptAttestations(
  space: {
    readonly checkpoints: readonly SignedRecord<Checkpoint>[];
    readonly checkpointPages: readonly SignedRecord<CheckpointPage>[];
    readonly settings: readonly SignedRecord<SpaceSettings>[];
    readonly retirements: readonly SignedRecord<Retirement>[];
  },
  chain: MembershipChain,
) {
  type Attestation = SignedRecord<Checkpoint | CheckpointPage | SpaceSettings | Retirement>;
  const checks = attestationChecks(chain);
  const accepted = new Map<string, Attestation>();
  const rejected = await decideEach(
    [...space.checkpoints, ...space.checkpointPages, ...space.settings, ...space.retirements],
    checks,
    accepted,
  );
  const kept = <R extends Attestation>(list: readonly R[]) =>
    byTime(list.filter((signed) => accepted.has(signed.cid)));
  const newest = kept(space.settings).at(-1);
  return {
    checkpoints: kept(space.checkpoints),
    checkpointPages: new Map(
      space.checkpointPages
        .filter((signed) => accepted.has(signed.cid))
        .map((signed) => [signed.cid, signed]),
    ),
    settings: {
      checkpointExpirySeconds:
        newest?.record.checkpointExpirySeconds ?? DEFAULT_CHECKPOINT_EXPIRY_SECONDS,
      record: newest,
    },
    retirements: kept(space.retirements),
    rejected,
  };
}

/**
 * The records in an order where each comes after every record of the list
 * it names: its `previous`, and for a withdrawal the correction it closes
 * (a depth-first post-order from each record in turn; hash links cannot
 * form a cycle, and the visited set guards anyway).
 */
function afterWhatTheyName<R extends SignedRecord<Contribution>>(records: readonly R[]): R[] {
  const byCid = new Map(records.map((signed) => [signed.cid, signed]));
  const placed = new Set<string>();
  const entered = new Set<string>();
  const order: R[] = [];
  for (const root of records) {
    const stack = [root.cid];
    while (stack.length > 0) {
      const cid = stack[stack.length - 1] as string;
      if (placed.has(cid)) {
        stack.pop();
        continue;
      }
      const signed = byCid.get(cid) as R;
      const waiting = namedBy(signed.record).filter(
        (named) => byCid.has(named) && !placed.has(named),
      );
      if (waiting.length > 0 && !entered.has(cid)) {
        entered.add(cid);
        stack.push(...waiting);
        continue;
      }
      stack.pop();
      placed.add(cid);
      order.push(signed);
    }
  }
  return order;
}

/** The contributions a contribution's decision depends on. */
function namedBy(record: Contribution): readonly string[] {
  const previous = record.previous ?? [];
  return record.type === "canon/withdrawal" ? [...previous, record.correction] : previous;
}

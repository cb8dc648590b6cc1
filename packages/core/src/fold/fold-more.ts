import type { Checkpoint } from "../records/checkpoint.js";
import type { CheckpointPage } from "../records/checkpoint-page.js";
import type { Correction } from "../records/correction.js";
import type { Release } from "../records/release.js";
import type { Rejection } from "../rejection.js";
import type { SignedRecord } from "../signed-record.js";
import { belongsToSpace } from "./checks/belongs-to-space.js";
import { decideEach } from "./checks/check.js";
import {
  attestationChecks,
  type FoldInput,
  type FoldResult,
  inReleaseOrder,
  releaseChecks,
} from "./fold.js";
import { type FoldContext, foldContextOf, rememberFold } from "./fold-context.js";
import { byTime, type SpaceState, type StandardState, standardsOf } from "./space-state.js";
import { verifyEntries } from "./verify-entries.js";

/**
 * The fold of `previous`'s records and `input.entries` together, computed
 * from `previous` by re-deciding one standard alone, or undefined when that
 * is not sure to equal {@link fold} of all of them (the caller then folds
 * everything). `previous` must be the result of a fold (or of `foldMore`)
 * in this process, `input.content` and `input.cache` what a full fold would
 * be given.
 *
 * A release's verdict depends only on the membership chain, the accepted
 * corrections of its standard, the releases it names as parents, the
 * parents of every release (through which a removal's pins reach it) and
 * its content. So when every new entry that passes its own checks is a
 * release of this space, all of one standard S, whose parents are releases
 * of S or releases not held here, only S's releases can change verdict:
 * they are decided again in the fold's order, against the previous state's
 * chain and corrections. New checkpoints and checkpoint pages are decided
 * against the previous chain too (their verdict depends on nothing else,
 * and nothing depends on theirs: a maintainer's sync signs them after each
 * publish). It gives up (undefined) when anything else is new
 * (a membership change, a contribution, other attestations, a record of several
 * standards), when a release S already held changes verdict (a release of
 * another standard could name it), or when a release already refused names
 * a new release while being of another standard. New entries that fail
 * their own checks change no state: they are added to `invalid`.
 *
 * The result's state, `verified` and `invalid` equal the full fold's;
 * `rejected` holds the same rejections, in another order.
 */
export async function foldMore(
  previous: FoldResult,
  input: FoldInput,
): Promise<FoldResult | undefined> {
  const state = previous.state;
  if (state === undefined || state.genesis.cid !== input.spaceCid) return undefined;
  const context = foldContextOf(state);
  if (context === undefined) return undefined;
  const cache = input.cache ?? {};
  const fresh = await verifyEntries(input.entries, {
    ...cache,
    verifiedRecord: (cid) => previous.verified.get(cid) ?? cache.verifiedRecord?.(cid),
  });
  const added: SignedRecord<Release>[] = [];
  const attested: SignedRecord<Checkpoint | CheckpointPage>[] = [];
  let standard: string | undefined;
  for (const signed of fresh.verified.values()) {
    if (previous.verified.has(signed.cid)) continue;
    if (belongsToSpace(signed, input.spaceCid) !== undefined) return undefined;
    const type = signed.record.type;
    if (type === "canon/checkpoint" || type === "canon/checkpoint-page") {
      attested.push(signed as SignedRecord<Checkpoint | CheckpointPage>);
      continue;
    }
    if (signed.record.type !== "canon/release") return undefined;
    if (standard !== undefined && signed.record.standard !== standard) return undefined;
    standard = signed.record.standard;
    added.push(signed as SignedRecord<Release>);
  }
  const verified = new Map(previous.verified);
  for (const signed of [...added, ...attested]) verified.set(signed.cid, signed);
  const invalid = [...previous.invalid, ...fresh.invalid];
  if (standard === undefined) {
    if (attested.length === 0)
      return {
        ...previous,
        verified,
        invalid,
        rejected: [...previous.rejected, ...fresh.invalid],
      };
    const decided = await withAttestations(state, context, attested);
    rememberFold(decided.state, context);
    return {
      state: decided.state,
      verified,
      invalid,
      rejected: [...previous.rejected, ...fresh.invalid, ...decided.rejected],
    };
  }
  const name = standard;
  const releaseOf = (cid: string) => {
    const signed = verified.get(cid);
    return signed?.record.type === "canon/release" ? (signed as SignedRecord<Release>) : undefined;
  };
  // New releases name releases of S, or releases not held here: no new path to another standard.
  for (const signed of added)
    for (const parent of signed.record.parents) {
      const named = releaseOf(parent);
      if (named !== undefined && named.record.standard !== name) return undefined;
    }

  // Every verified release of S, and how each was decided before.
  const before = state.standards.get(name);
  const releases: SignedRecord<Release>[] = [...added, ...(before?.releases.values() ?? [])];
  const refusedBefore = new Map<string, Rejection>();
  const newCids = new Set(added.map((signed) => signed.cid));
  const otherRejections: Rejection[] = [];
  const invalidBefore = new Set(previous.invalid);
  for (const rejection of previous.rejected) {
    const refused = releaseOf(rejection.cid);
    // An entry that failed its own checks under a verified record's CID (a damaged copy), or a
    // release of another space, stays as it is.
    const ownCheck =
      invalidBefore.has(rejection) ||
      (refused !== undefined && belongsToSpace(refused, input.spaceCid) !== undefined);
    if (refused === undefined || ownCheck || refused.record.standard !== name) {
      if (
        refused !== undefined &&
        !ownCheck &&
        refused.record.parents.some((parent) => newCids.has(parent))
      )
        return undefined;
      otherRejections.push(rejection);
      continue;
    }
    if (!refusedBefore.has(refused.cid)) {
      refusedBefore.set(refused.cid, rejection);
      releases.push(refused);
    }
  }

  const parentsOf = new Map(context.releaseParents);
  for (const signed of added) parentsOf.set(signed.cid, signed.record.parents);
  const accepted = new Map<string, SignedRecord<Release>>();
  const corrections = state.corrections;
  const ordered = releases.sort(inReleaseOrder);
  const rejected: Rejection[] = [];
  for (const signed of ordered) {
    // A parent of another standard counts as accepted only if the full fold had decided it before this one.
    const lookup = {
      get: (cid: string) => accepted.get(cid) ?? acceptedBefore(state, releaseOf(cid), signed),
    } as ReadonlyMap<string, SignedRecord<Release>>;
    const checks = releaseChecks(
      context.chain,
      parentsOf,
      lookup,
      corrections,
      input.content,
      cache,
    );
    const verdict = await decideEach([signed], checks, accepted);
    if (newCids.has(signed.cid)) {
      rejected.push(...verdict);
      continue;
    }
    // A release held before keeps its verdict, or another standard's verdicts may move too.
    const was = refusedBefore.get(signed.cid);
    const now = verdict[0];
    if (was === undefined ? now !== undefined : now?.code !== was.code || now.reason !== was.reason)
      return undefined;
    if (now !== undefined) rejected.push(now);
  }

  const decided = await withAttestations(
    { ...state, standards: withStandard(state, name, standardOf(state, context, name, accepted)) },
    context,
    attested,
  );
  const next: SpaceState = decided.state;
  rememberFold(next, { ...context, releaseParents: parentsOf });
  return {
    state: next,
    rejected: [...otherRejections, ...fresh.invalid, ...rejected, ...decided.rejected],
    verified,
    invalid,
  };
}

/**
 * The state with new checkpoints and checkpoint pages decided as the full
 * fold decides attestations (`author-role`, `not-backdated`, against the chain).
 */
async function withAttestations(
  state: SpaceState,
  context: FoldContext,
  attested: readonly SignedRecord<Checkpoint | CheckpointPage>[],
): Promise<{ state: SpaceState; rejected: Rejection[] }> {
  if (attested.length === 0) return { state, rejected: [] };
  const accepted = new Map<string, SignedRecord<Checkpoint | CheckpointPage>>();
  const rejected = await decideEach(attested, attestationChecks(context.chain), accepted);
  const checkpoints = [...state.checkpoints];
  const checkpointPages = new Map(state.checkpointPages);
  for (const signed of accepted.values())
    if (signed.record.type === "canon/checkpoint")
      checkpoints.push(signed as SignedRecord<Checkpoint>);
    else checkpointPages.set(signed.cid, signed as SignedRecord<CheckpointPage>);
  return { state: { ...state, checkpoints: byTime(checkpoints), checkpointPages }, rejected };
}

/** A release of another standard as the full fold's `accepted` held it when it came to `deciding`. */
function acceptedBefore(
  state: SpaceState,
  release: SignedRecord<Release> | undefined,
  deciding: SignedRecord<Release>,
): SignedRecord<Release> | undefined {
  if (release === undefined || release.record.standard === deciding.record.standard)
    return undefined;
  if (!state.standards.get(release.record.standard)?.releases.has(release.cid)) return undefined;
  return inReleaseOrder(release, deciding) < 0 ? release : undefined;
}

/** Standard S's state from its accepted releases and the space's contributions and retirements. */
function standardOf(
  state: SpaceState,
  context: FoldContext,
  name: string,
  accepted: ReadonlyMap<string, SignedRecord<Release>>,
): StandardState | undefined {
  const corrections = new Map<string, SignedRecord<Correction>>();
  for (const [cid, signed] of state.corrections)
    if (signed.record.standard === name) corrections.set(cid, signed);
  const withdrawals = new Map(
    [...state.withdrawals].filter(([, signed]) => corrections.has(signed.record.correction)),
  );
  const retirements = context.retirements.filter((signed) => signed.record.standard === name);
  return standardsOf(accepted, corrections, withdrawals, byTime(retirements)).get(name);
}

/** The state's standards with S replaced (or added, or removed), still sorted by name. */
function withStandard(
  state: SpaceState,
  name: string,
  standard: StandardState | undefined,
): Map<string, StandardState> {
  if (state.standards.has(name) && standard !== undefined) {
    const standards = new Map(state.standards);
    standards.set(name, standard);
    return standards;
  }
  const entries = [...state.standards].filter(([key]) => key !== name);
  if (standard !== undefined) entries.push([name, standard]);
  return new Map(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

import type { MembershipChain } from "../membership-chain.js";
import type { Retirement } from "../records/retirement.js";
import type { SignedRecord } from "../signed-record.js";
import type { SpaceState } from "./space-state.js";

/**
 * What a fold worked out on its way to a state and does not put in it, kept
 * so that {@link foldMore} can re-decide one standard from that state alone:
 * the membership chain the checks read (every accepted and refused change
 * replayed), and the parents of every verified release (the pins of a
 * removal reach releases through them, whatever their standard).
 */
export interface FoldContext {
  readonly chain: MembershipChain;
  readonly releaseParents: ReadonlyMap<string, readonly string[]>;
  /** Every accepted retirement (a standard with no accepted release has no state to keep its own in). */
  readonly retirements: readonly SignedRecord<Retirement>[];
}

/** By state object: kept beside it rather than in it, so a state stays what it was (compared, spread, cached). */
const contexts = new WeakMap<SpaceState, FoldContext>();

/** Keeps `context` for `state` (the state the fold returned, by identity). */
export function rememberFold(state: SpaceState, context: FoldContext): void {
  contexts.set(state, context);
}

/** The context the fold that returned `state` kept, or undefined (a state not returned by a fold in this process). */
export function foldContextOf(state: SpaceState): FoldContext | undefined {
  return contexts.get(state);
}

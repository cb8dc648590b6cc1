import type { SpaceState } from "../fold/space-state.js";
import type { SignedRecord } from "../signed-record.js";

/**
 * The space a stamp is checked against, as the auditor's replica folded it:
 * its state, and every record that passed its own checks (the fold's
 * `verified`), which the stamp is folded again with.
 */
export interface StampSpace {
  readonly state: SpaceState;
  readonly verified: ReadonlyMap<string, SignedRecord>;
}

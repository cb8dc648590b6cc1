import type { Rejection } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { type SpaceChoice, withSpace } from "./space-session.js";

/** What `doctor` found: every entry the fold left out, with the reason. */
export interface Diagnosis {
  readonly space: string;
  readonly records: number;
  readonly rejected: readonly Rejection[];
}

/** Folds the space and reports every rejected entry. */
export async function doctor(home: CanonHome, request: SpaceChoice = {}): Promise<Diagnosis> {
  return withSpace(home, request, async ({ chosen, state, folded }) => {
    let records =
      1 + state.membershipChanges.length + state.corrections.size + state.provenance.size;
    for (const standard of state.standards.values()) records += standard.releases.size;
    return { space: chosen.url, records, rejected: folded.fold.rejected };
  });
}

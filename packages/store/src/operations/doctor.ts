import type { Rejection } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { MissingDocument } from "../space/space-reader.js";
import { type SpaceChoice, withSpace } from "./space-session.js";

/** What `doctor` found: every entry the fold left out, with the reason. */
export interface Diagnosis {
  readonly space: string;
  readonly records: number;
  readonly rejected: readonly Rejection[];
  /**
   * Documents the space routes to that this replica does not hold (a peer
   * named a document that exists nowhere, or it never arrived): reads and
   * syncs go on without them.
   */
  readonly missing: readonly MissingDocument[];
}

/**
 * Loads the space's documents, checks every record in them from scratch
 * (signatures included: no cache is trusted), and reports every rejected
 * entry, and every routed document this replica does not hold. The caches
 * are rewritten from the result.
 */
export async function doctor(home: CanonHome, request: SpaceChoice = {}): Promise<Diagnosis> {
  return withSpace(
    home,
    request,
    async ({ chosen, state, folded }) => {
      let records =
        1 + state.membershipChanges.length + state.corrections.size + state.provenance.size;
      for (const standard of state.standards.values()) records += standard.releases.size;
      return {
        space: chosen.url,
        records,
        rejected: folded.fold.rejected,
        missing: folded.missing,
      };
    },
    { trustSnapshot: false },
  );
}

import type { Rejection } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { MissingDocument } from "../space/space-reader.js";
import { auditChunks, type DamagedFile } from "../storage/chunk-audit.js";
import { type SpaceChoice, withSpace } from "./space-session.js";

/** What `doctor` found: every entry the fold left out, with the reason, and every damaged storage file, with the fix. */
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
  /** Every storage file of the replica that fails its checks, with the fix. */
  readonly damagedFiles: readonly DamagedFile[];
}

/**
 * Loads the space's documents, checks every record in them from scratch
 * (signatures included: no cache is trusted), and reports every rejected
 * entry, and every routed document this replica does not hold. Every file
 * of the replica's storage is checked too, whichever space it belongs to
 * (the fold skips a damaged document, so only this audit names it). The
 * caches are rewritten from the result.
 */
export async function doctor(home: CanonHome, request: SpaceChoice = {}): Promise<Diagnosis> {
  const damagedFiles = await auditChunks(home.replica);
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
        damagedFiles,
      };
    },
    { trustSnapshot: false },
  );
}

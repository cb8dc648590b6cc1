import type { Provenance } from "../records/provenance.js";
import type { RecordEntry } from "../verify-record.js";
import { checkAuthorRole } from "./author-role.js";
import { type CheckedRelease, checkContextReleases } from "./context-releases.js";
import { type Drift, driftOf } from "./drift.js";
import { checkEnvelope } from "./envelope.js";
import { checkDsse, type DsseEnvelope } from "./in-toto.js";
import {
  type LaterCorrection,
  laterCorrectionsOf,
  type MissedCorrection,
  missedCorrectionsOf,
} from "./missed-corrections.js";
import { checkProvenanceType } from "./provenance-type.js";
import { checkReadableCopy } from "./readable-copy.js";
import type { StampProblem } from "./stamp-problem.js";
import type { StampSpace } from "./stamp-space.js";
import { checkSubject } from "./subject.js";
import { type WhenStamped, whenStampedOf } from "./when-stamped.js";

/**
 * A stamp as its file claims it, untrusted: the entry (CID and envelope
 * bytes) and the record as JSON for people; or, in the in-toto form, the
 * DSSE envelope that carried the entry (then `readable` is not read).
 */
export interface ClaimedStamp extends RecordEntry {
  readonly readable: unknown;
  readonly dsse?: DsseEnvelope | undefined;
}

/** What {@link verifyStamp} checks: a claimed stamp, the output it is for, and where to find its space. */
export interface StampInput {
  readonly stamp: ClaimedStamp;
  /** The sha256 of the output's bytes, as lowercase hex. */
  readonly outputSha256: string;
  /**
   * The space to check the stamp against, given the genesis CID the stamp
   * names. Called once, and only for a valid provenance record: which space
   * that is cannot be known before, and an invalid stamp needs none.
   */
  readonly spaceOf: (genesis: string) => Promise<StampSpace>;
}

/** One release of the stamp's context, as the auditor's space sees it: accepted as named, its drift now, and whether it was current when stamped. */
export type ContextCheck = CheckedRelease & Drift & WhenStamped;

/** A verdict on one stamp. */
export interface StampVerification {
  /** True when there is no problem. Drift does not make it false. */
  readonly verified: boolean;
  /** Why it is not verified, in the order the checks ran; empty when it is. */
  readonly problems: readonly StampProblem[];
  /** The signed provenance record, when the stamp is one. */
  readonly record: Provenance | undefined;
  /** The output's sha256 is among the stamp's subjects. */
  readonly outputMatches: boolean;
  /** Each release the context names (once each); empty when the stamp is not a valid provenance record. */
  readonly context: readonly ContextCheck[];
  /** Corrections the context missed (stale when stamped); reported alongside problems, not instead of them. */
  readonly missedCorrections: readonly MissedCorrection[];
  /** Corrections signed after the stamp that its releases do not incorporate (superseded since). */
  readonly laterCorrections: readonly LaterCorrection[];
  /** The forks and several versions of one standard the agent was warned of when it stamped. */
  readonly warnings: NonNullable<Provenance["warnings"]>;
}

/**
 * Verifies a stamp, trusting neither the agent nor whoever handed it over.
 * The checks, in order:
 * 1. envelope: the entry is a valid signed record ({@link checkEnvelope});
 * 2. it is a provenance record ({@link checkProvenanceType});
 * 3. the readable copy in the stamp file is the signed record ({@link checkReadableCopy}),
 *    or, for the in-toto form, the DSSE envelope is signed by the author and
 *    its Statement is the record's ({@link checkDsse});
 * 4. subject: the output's sha256 is among the stamp's ({@link checkSubject});
 * 5. the author's role at the membership point the stamp names, by the
 *    space's own fold ({@link checkAuthorRole});
 * 6. each context release is accepted, and named once ({@link checkContextReleases});
 * then reports drift, whatever the problems: releases no longer their
 * standard's latest ({@link driftOf}), whether each was current when stamped
 * or superseded since ({@link whenStampedOf}), missed corrections
 * ({@link missedCorrectionsOf}) and those signed since ({@link laterCorrectionsOf}). A stamp that fails 1 or 2 has no context
 * to check, and stops there.
 * Never throws, but passes on whatever `spaceOf` throws.
 */
export async function verifyStamp(input: StampInput): Promise<StampVerification> {
  const envelope = await checkEnvelope(input.stamp);
  if (!envelope.ok) return unverifiable(envelope.problem);
  const provenance = checkProvenanceType(envelope.signed);
  if (!provenance.ok) return unverifiable(provenance.problem);
  const stamp = provenance.signed;
  const record = stamp.record;

  const readable =
    input.stamp.dsse === undefined
      ? checkReadableCopy(input.stamp.readable, record)
      : await checkDsse(input.stamp.dsse, stamp);
  const subject = checkSubject(record, input.outputSha256);
  const space = await input.spaceOf(record.space);
  const role = await checkAuthorRole(stamp, space);
  const context = checkContextReleases(record, space.state);

  const problems = [readable, subject, role, ...context.problems].filter(
    (problem): problem is StampProblem => problem !== undefined,
  );
  return {
    verified: problems.length === 0,
    problems,
    record,
    outputMatches: subject === undefined,
    context: context.releases.map((release) => ({
      ...release,
      ...driftOf(release, space.state),
      ...whenStampedOf(release, record, space.state),
    })),
    missedCorrections: missedCorrectionsOf(record, space.state),
    laterCorrections: laterCorrectionsOf(record, space.state),
    warnings: record.warnings ?? [],
  };
}

/** The verdict on an entry that is not a valid provenance record: one problem, nothing else to report. */
function unverifiable(problem: StampProblem): StampVerification {
  return {
    verified: false,
    problems: [problem],
    record: undefined,
    outputMatches: false,
    context: [],
    missedCorrections: [],
    laterCorrections: [],
    warnings: [],
  };
}

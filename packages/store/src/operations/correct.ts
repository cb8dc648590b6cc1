import { stat } from "node:fs/promises";
import {
  CanonError,
  type Correction,
  looksLikeCid,
  MAX_CORRECTION_TEXT,
  MAX_PREVIOUS,
  ownRecordHeads,
  parseCid,
  type SignedRecord,
  type SpaceState,
  signRecord,
  verifyRecord,
  type Withdrawal,
} from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { readStampFile, stampFileOf } from "../space/stamp-file.js";
import { standardDocumentOf } from "../space/standard-document.js";
import { acceptedRecords } from "../sync/record-summary.js";
import { findStandard } from "./find-standard.js";
import { sha256OfInputFile } from "./input-file.js";
import { CONTRIBUTOR, requireRole } from "./require-role.js";
import { assertReadable, type SpaceChoice, type SpaceSession, withSpace } from "./space-session.js";

/** A correction to record. */
export interface CorrectRequest extends SpaceChoice {
  readonly standard: string;
  /** The lesson, as the operator gave it: 1 to 16,384 characters. */
  readonly text: string;
  /** What went wrong: an output file (its stamp is the evidence) or the CID of a record of the space. */
  readonly evidence?: string | undefined;
}

/** A correction just recorded. */
export interface Corrected {
  readonly cid: string;
  readonly standard: string;
  readonly text: string;
  readonly author: string;
  readonly createdAt: string;
  /** The release the author was reading (the standard's latest). */
  readonly against: string;
  /** The evidence's CID (a stamp's, when an output was named), or null. */
  readonly evidence: string | null;
}

/** A correction to withdraw. */
export interface WithdrawRequest extends SpaceChoice {
  /** The correction's CID. */
  readonly correction: string;
  readonly reason?: string | undefined;
}

/** A withdrawal just recorded. */
export interface Withdrawn {
  readonly cid: string;
  readonly correction: string;
  readonly standard: string;
  readonly author: string;
  readonly createdAt: string;
}

/**
 * Appends a signed correction to a standard's log, in force at once for
 * every replica that syncs: the rendered context lists it until a release
 * incorporates it. Offline; it goes out at the next sync.
 * @throws CanonError `BAD_ARGUMENT` (empty or oversized text, evidence that is neither a stamped output nor a record CID),
 * `UNKNOWN_STANDARD`, `FILE_UNREADABLE` (an evidence file without a readable stamp), `NOT_A_MEMBER` (readers).
 */
export async function correct(
  home: CanonHome,
  signer: Signer,
  request: CorrectRequest,
): Promise<Corrected> {
  const text = checkedText(request.text);
  const evidence = request.evidence === undefined ? undefined : await evidenceOf(request.evidence);
  return withSpace(
    home,
    request,
    async (session) => {
      const { state, folded, chosen } = session;
      requireRole(signer, state, CONTRIBUTOR, "recording a correction");
      const standard = findStandard(state, request.standard);
      assertReadable(folded, request.standard);
      const evidenceCid = evidence === undefined ? undefined : evidenceIn(evidence, state, chosen);
      const record: Correction = {
        type: "canon/correction",
        v: 1,
        space: chosen.address.genesis,
        standard: request.standard,
        text,
        against: standard.latest.cid,
        ...(evidenceCid === undefined ? {} : { evidence: evidenceCid }),
        previous: ownRecordHeads(state, signer.keyPair.did, MAX_PREVIOUS),
        membership: [...state.membershipHeads],
        author: signer.keyPair.did,
        createdAt: new Date().toISOString(),
      };
      const signed = await signRecord(signer.keyPair, record);
      append(session, request.standard, signed);
      return {
        cid: signed.cid,
        standard: record.standard,
        text,
        author: record.author,
        createdAt: record.createdAt,
        against: standard.latest.cid,
        evidence: evidenceCid ?? null,
      };
    },
    { writeBack: true },
  );
}

/**
 * Closes a correction without a release. Its author or a maintainer may;
 * an already closed correction (withdrawn, or incorporated on every head)
 * is refused, so nothing is written twice.
 * @throws CanonError `BAD_CID`, `UNKNOWN_CORRECTION`, `BAD_ARGUMENT` (already closed, reason too long), `NOT_A_MEMBER`.
 */
export async function withdrawCorrection(
  home: CanonHome,
  signer: Signer,
  request: WithdrawRequest,
): Promise<Withdrawn> {
  const correctionCid = parseCid(request.correction).toString();
  if (request.reason !== undefined && request.reason.length > 4096)
    throw new CanonError("BAD_ARGUMENT", "a withdrawal's reason is at most 4096 characters");
  return withSpace(
    home,
    request,
    async (session) => {
      const { state, chosen, folded } = session;
      const correction = state.corrections.get(correctionCid);
      const status = correction
        ? state.standards.get(correction.record.standard)?.corrections.get(correctionCid)
        : undefined;
      if (correction === undefined || status === undefined) {
        throw new CanonError(
          "UNKNOWN_CORRECTION",
          `no correction ${correctionCid} in this space (\`canon corrections <standard> --all\` lists them; sync if it was made elsewhere)`,
        );
      }
      const { standard } = correction.record;
      assertReadable(folded, standard);
      if (status.state !== "open") {
        throw new CanonError(
          "BAD_ARGUMENT",
          `correction ${correctionCid} is already ${status.state === "withdrawn" ? "withdrawn" : `incorporated (by ${status.incorporatedBy.join(", ")})`}`,
        );
      }
      const role = state.members.get(signer.keyPair.did);
      if (correction.record.author !== signer.keyPair.did && role !== "maintainer") {
        throw new CanonError(
          "NOT_A_MEMBER",
          `${signer.identity.name} (${signer.keyPair.did}) is ${role ?? "not a member"} and not the correction's author; only its author or a maintainer may withdraw it`,
        );
      }
      requireRole(signer, state, CONTRIBUTOR, "withdrawing a correction");
      const record: Withdrawal = {
        type: "canon/withdrawal",
        v: 1,
        space: chosen.address.genesis,
        standard,
        correction: correctionCid,
        ...(request.reason ? { reason: request.reason } : {}),
        previous: ownRecordHeads(state, signer.keyPair.did, MAX_PREVIOUS),
        membership: [...state.membershipHeads],
        author: signer.keyPair.did,
        createdAt: new Date().toISOString(),
      };
      const signed = await signRecord(signer.keyPair, record);
      append(session, standard, signed);
      return {
        cid: signed.cid,
        correction: correctionCid,
        standard,
        author: record.author,
        createdAt: record.createdAt,
      };
    },
    { writeBack: true },
  );
}

/** The text, checked: not blank, at most {@link MAX_CORRECTION_TEXT} characters. */
function checkedText(text: string): string {
  if (text.trim().length === 0)
    throw new CanonError(
      "BAD_ARGUMENT",
      "a correction needs text: what should agents do differently?",
    );
  if (text.length > MAX_CORRECTION_TEXT)
    throw new CanonError(
      "BAD_ARGUMENT",
      `the correction is ${text.length} characters; the limit is ${MAX_CORRECTION_TEXT}`,
    );
  return text;
}

/** Evidence as given: a stamped output (its stamp, checked later against the space) or a record CID. */
type Evidence =
  | {
      readonly kind: "stamp";
      readonly output: string;
      readonly stamp: SignedRecord;
      readonly sha256: string;
    }
  | { readonly kind: "record"; readonly cid: string };

/**
 * Reads the evidence before the replica opens: an existing file is an output,
 * whose stamp (`<output>.canon.json`) must be a valid signed provenance record
 * for its current bytes; otherwise the argument must be a CID.
 */
async function evidenceOf(argument: string): Promise<Evidence> {
  const isFile = await stat(argument).then(
    (info) => info.isFile(),
    () => false,
  );
  if (!isFile) {
    if (looksLikeCid(argument)) return { kind: "record", cid: parseCid(argument).toString() };
    throw new CanonError(
      "BAD_ARGUMENT",
      `--evidence ${JSON.stringify(argument).slice(0, 200)} is neither an output file nor a record CID`,
    );
  }
  const sha256 = await sha256OfInputFile(argument);
  const claimed = await readStampFile(stampFileOf(argument)).catch((error: unknown) => {
    throw new CanonError(
      "FILE_UNREADABLE",
      `${argument} has no readable stamp (${stampFileOf(argument)}): stamp it with \`canon stamp\`, or give a record CID as --evidence`,
      { cause: error },
    );
  });
  const check = await verifyRecord(claimed);
  if (!check.ok || check.signed.record.type !== "canon/provenance") {
    throw new CanonError(
      "BAD_RECORD",
      `the stamp of ${argument} is not a valid provenance record${check.ok ? "" : `: ${check.rejection.reason}`}`,
    );
  }
  return { kind: "stamp", output: argument, stamp: check.signed, sha256 };
}

/** The evidence's CID, checked against this space. */
function evidenceIn(evidence: Evidence, state: SpaceState, chosen: SpaceSession["chosen"]): string {
  if (evidence.kind === "record") {
    if (!acceptedRecords(state).has(evidence.cid))
      throw new CanonError(
        "UNKNOWN_VERSION",
        `--evidence ${evidence.cid} is not a record of this space; to point at an output, give the output file (its stamp is the evidence)`,
      );
    return evidence.cid;
  }
  const { record } = evidence.stamp;
  if (record.type !== "canon/provenance" || record.space !== chosen.address.genesis)
    throw new CanonError(
      "BAD_ARGUMENT",
      `the stamp of ${evidence.output} belongs to another space`,
    );
  if (!record.subject.some((subject) => subject.digest.sha256 === evidence.sha256))
    throw new CanonError(
      "BAD_ARGUMENT",
      `${evidence.output} changed since it was stamped (its sha256 is ${evidence.sha256}); stamp it again or give a record CID`,
    );
  return evidence.stamp.cid;
}

/** Appends a record to the standard's document. */
function append(session: SpaceSession, standard: string, signed: SignedRecord): void {
  const handle = standardDocumentOf(session.folded, session.state, standard);
  if (handle === undefined)
    throw new CanonError(
      "STORAGE_DAMAGED",
      `the document of ${standard} is not in this replica; run \`canon sync\` or \`canon doctor\``,
    );
  session.replica.appendRecord(handle, signed);
}

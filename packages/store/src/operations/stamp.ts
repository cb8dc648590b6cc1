import { basename } from "node:path";
import {
  CanonError,
  type ContextEntry,
  type Correction,
  correctionsInForce,
  dsseEnvelopeOf,
  type KnownStandard,
  MAX_PREVIOUS,
  ownRecordHeads,
  type Provenance,
  type Release,
  type SignedRecord,
  type SpaceState,
  type StampWarning,
  signRecord,
} from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { withHomeLock } from "../home/home-lock.js";
import type { Signer } from "../home/identities.js";
import { appendToFeeds } from "../space/feed.js";
import { stampFileOf, writeDsseStampFile, writeStampFile } from "../space/stamp-file.js";
import { withFeedSession } from "./feed-session.js";
import { findStandard } from "./find-standard.js";
import { sha256OfInputFile } from "./input-file.js";
import { pickRelease } from "./pick-release.js";
import { renderRelease } from "./render.js";
import { CONTRIBUTOR, requireRole } from "./require-role.js";
import { chooseSpace, type SpaceChoice, withSpace } from "./space-session.js";
import { parseStandardReference } from "./standard-reference.js";

/** What to stamp. */
export interface StampRequest extends SpaceChoice {
  /** Path of the output file. */
  readonly output: string;
  /**
   * The context the output was produced with: `name` (the latest release) or
   * `name@<version|release CID|content CID>`, as `canon show` takes them.
   * Every standard of the space that is not retired, at its latest release, when empty.
   */
  readonly context?: readonly string[] | undefined;
  /**
   * The sidecar's form: `canon` (the default: the envelope, CID and readable
   * record) or `in-toto` (an in-toto Statement v1 in a DSSE envelope signed
   * with the agent's key; docs/provenance-predicate.md). `verify` reads both.
   */
  readonly format?: "canon" | "in-toto" | undefined;
}

/** A stamp just written. */
export interface Stamped {
  /** CID of the signed provenance record. */
  readonly cid: string;
  /** Where the stamp was written: `<output>.canon.json`. */
  readonly stampFile: string;
  readonly output: { readonly name: string; readonly sha256: string };
  readonly context: readonly ContextEntry[];
  /** The corrections in force the rendered context listed, which the agent saw. */
  readonly corrections: readonly string[];
  /** What this replica held of each standard of the context (signed into the stamp). */
  readonly knew: readonly KnownStandard[];
  /** Forked standards and standards named at several versions (signed into the stamp; the CLI warns on stderr). */
  readonly warnings: readonly StampWarning[];
}

/** Most corrections a stamp names (the provenance record's limit). */
const MAX_STAMP_CORRECTIONS = 1024;

/**
 * Stamps an output: signs a provenance record naming the output's sha-256 and
 * the exact releases of the context it was produced with, the CID of each
 * one's rendered context, and the corrections in force that context listed,
 * writes it beside the output as `<output>.canon.json`, and appends it to the
 * signer's provenance feed in the space (`space/feed.ts`), which the next
 * `sync` (or a running watch) shares. Offline, from the local replica,
 * holding the home lock. When the caches are current it reads and writes
 * only the space's other records, the signer's own stamps and its feed
 * segment ({@link withFeedSession}), so its cost does not grow with the
 * space's stamps; otherwise it opens the whole space. An auditor checks it
 * with {@link verifyStamp}, from the sidecar or from the feeds with the
 * output alone.
 * @throws CanonError `FILE_UNREADABLE`, `BAD_ARGUMENT` (a malformed reference), `UNKNOWN_STANDARD`, `UNKNOWN_VERSION`, `NOT_A_MEMBER`
 * when the signer is not a contributor or maintainer.
 */
export async function stamp(
  home: CanonHome,
  signer: Signer,
  request: StampRequest,
): Promise<Stamped> {
  const sha256 = await sha256OfInputFile(request.output);
  const author = signer.keyPair.did;
  // The home lock from the state it decides from to the flush, as publish holds it.
  return withHomeLock(home, async () => {
    const chosen = await chooseSpace(home, request);
    const stampWith = async (
      state: SpaceState,
      append: (signed: SignedRecord<Provenance>) => Promise<void>,
    ) => {
      requireRole(signer, state, CONTRIBUTOR, "stamping");
      const plan = {
        genesis: chosen.address.genesis,
        used: contextOf(state, request.context ?? []),
        previous: ownRecordHeads(state, author, MAX_PREVIOUS),
        membership: [...state.membershipHeads],
        ...whatTheReplicaHeld(state, request.context ?? []),
      };
      const signed = await signStamp(home, signer, request, sha256, plan);
      // The sidecar first: the feed's copy goes out at the next sync (or a running watch's next round).
      if (request.format === "in-toto")
        await writeDsseStampFile(
          signed.stampFile,
          await dsseEnvelopeOf(signer.keyPair, signed.signed),
        );
      else await writeStampFile(signed.stampFile, signed.signed);
      await append(signed.signed);
      const { signed: record, ...stamped } = signed;
      return { cid: record.cid, ...stamped };
    };
    // The space's other records and this agent's own stamps and segment: the
    // same cost at a thousand stamps or a million.
    const fast = await withFeedSession(home, chosen, author, ({ state, append }) =>
      stampWith(state, (signed) => append([signed])),
    );
    if (fast !== undefined) return fast.value;
    return withSpace(
      home,
      request,
      (session) =>
        stampWith(session.state, async (signed) => {
          appendToFeeds(session.replica, session.folded, session.state, [signed]);
        }),
      { lockHeld: true },
    );
  });
}

/** Renders the context, then signs the provenance record. */
async function signStamp(
  home: CanonHome,
  signer: Signer,
  request: StampRequest,
  sha256: string,
  plan: {
    genesis: string;
    used: { release: SignedRecord<Release>; inForce: SignedRecord<Correction>[] }[];
    previous: string[];
    membership: string[];
    knew: KnownStandard[];
    warnings: StampWarning[];
  },
) {
  // What the agent read: each release rendered with the corrections in force for it.
  const context: ContextEntry[] = [];
  const corrections: string[] = [];
  for (const { release, inForce } of plan.used) {
    const rendered = await renderRelease(home, request, release, inForce);
    const { standard, version, contentCid } = release.record;
    context.push({
      standard,
      version,
      contentCid,
      releaseCid: release.cid,
      renderedCid: rendered.cid,
    });
    corrections.push(...rendered.shown);
  }
  if (corrections.length > MAX_STAMP_CORRECTIONS) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `the context lists ${corrections.length} corrections in force; a stamp names at most ${MAX_STAMP_CORRECTIONS}: stamp with fewer standards (--standard), or incorporate corrections into new versions`,
    );
  }
  const name = basename(request.output);
  const record: Provenance = {
    type: "canon/provenance",
    v: 1,
    space: plan.genesis,
    subject: [{ name, digest: { sha256 } }],
    context,
    corrections,
    spaceHeads: [],
    knew: plan.knew,
    warnings: plan.warnings,
    previous: plan.previous,
    membership: plan.membership,
    author: signer.keyPair.did,
    createdAt: new Date().toISOString(),
  };
  const signed = await signRecord(signer.keyPair, record);
  const stampFile = stampFileOf(request.output);
  return {
    signed,
    stampFile,
    output: { name, sha256 },
    context,
    corrections,
    knew: plan.knew,
    warnings: plan.warnings,
  };
}

/**
 * What the replica held of each standard the context uses (its release
 * heads, highest version and corrections in force at its latest), and the
 * warnings to sign with it: a forked standard, or one named at several versions.
 */
function whatTheReplicaHeld(
  state: SpaceState,
  references: readonly string[],
): { knew: KnownStandard[]; warnings: StampWarning[] } {
  const used = contextOf(state, references);
  const versionsOf = new Map<string, number>();
  for (const { release } of used)
    versionsOf.set(release.record.standard, (versionsOf.get(release.record.standard) ?? 0) + 1);
  const knew: KnownStandard[] = [];
  const warnings: StampWarning[] = [];
  for (const [name, count] of [...versionsOf].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const standard = findStandard(state, name);
    const heads = standard.heads.map((head) => head.cid).sort();
    knew.push({
      standard: name,
      version: Math.max(...standard.heads.map((head) => head.record.version)),
      heads: heads.slice(0, 16),
      openCorrections: correctionsInForce(standard, standard.latest.cid).length,
    });
    if (heads.length > 1) warnings.push({ code: "forked", standard: name });
    if (count > 1) warnings.push({ code: "several-versions", standard: name });
  }
  return { knew, warnings };
}

/** The releases the context names (each once) and the corrections in force for each. */
function contextOf(
  state: SpaceState,
  references: readonly string[],
): { release: SignedRecord<Release>; inForce: SignedRecord<Correction>[] }[] {
  // By default every standard in use: retired ones are left out (name one to include it).
  const wanted =
    references.length > 0
      ? references
      : [...state.standards.values()].filter((s) => s.retired === undefined).map((s) => s.name);
  const used = new Map<
    string,
    { release: SignedRecord<Release>; inForce: SignedRecord<Correction>[] }
  >();
  for (const reference of wanted) {
    const { standard: name, selector } = parseStandardReference(reference);
    const standard = findStandard(state, name);
    const release = pickRelease(standard, selector);
    used.set(release.cid, { release, inForce: correctionsInForce(standard, release.cid) });
  }
  return [...used.values()];
}

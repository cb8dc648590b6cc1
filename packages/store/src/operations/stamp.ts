import { basename } from "node:path";
import {
  CanonError,
  type ContextEntry,
  MAX_PREVIOUS,
  ownRecordHeads,
  type Provenance,
  type SpaceState,
  signRecord,
} from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { stampFileOf, writeStampFile } from "../space/stamp-file.js";
import { sha256OfInputFile } from "./input-file.js";
import { pickRelease } from "./pick-release.js";
import type { SpaceChoice } from "./space-session.js";
import { viewSpace } from "./space-view.js";
import { parseStandardReference } from "./standard-reference.js";

/** What to stamp. */
export interface StampRequest extends SpaceChoice {
  /** Path of the output file. */
  readonly output: string;
  /**
   * The context the output was produced with: `name` (the latest release) or
   * `name@<version|release CID|content CID>`, as `canon show` takes them.
   * Every standard of the space, at its latest release, when empty.
   */
  readonly context?: readonly string[] | undefined;
}

/** A stamp just written. */
export interface Stamped {
  /** CID of the signed provenance record. */
  readonly cid: string;
  /** Where the stamp was written: `<output>.canon.json`. */
  readonly stampFile: string;
  readonly output: { readonly name: string; readonly sha256: string };
  readonly context: readonly ContextEntry[];
  /** Open corrections of those standards, which the agent's context included. */
  readonly corrections: readonly string[];
}

/**
 * Stamps an output: signs a provenance record naming the output's sha-256 and
 * the exact releases (and open corrections) of the context it was produced
 * with, and writes it beside the output as `<output>.canon.json`. Offline,
 * from the local replica, without loading Automerge while the verified
 * snapshot is current. An auditor checks it with {@link verifyStamp}.
 * @throws CanonError `FILE_UNREADABLE`, `BAD_ARGUMENT` (a malformed reference), `UNKNOWN_STANDARD`, `UNKNOWN_VERSION`, `NOT_A_MEMBER`
 * when the signer is not a contributor or maintainer.
 */
export async function stamp(
  home: CanonHome,
  signer: Signer,
  request: StampRequest,
): Promise<Stamped> {
  const sha256 = await sha256OfInputFile(request.output);
  return viewSpace(home, request, async ({ state, chosen }) => {
    const role = state.members.get(signer.keyPair.did);
    if (role !== "maintainer" && role !== "contributor") {
      throw new CanonError(
        "NOT_A_MEMBER",
        `${signer.identity.name} (${signer.keyPair.did}) is ${role ?? "not a member"} of this space; stamping needs contributor or maintainer`,
      );
    }
    const context = contextOf(state, request.context ?? []);
    const corrections = context.flatMap(
      ({ standard }) =>
        state.standards.get(standard)?.openCorrections.map((correction) => correction.cid) ?? [],
    );
    const name = basename(request.output);
    const record: Provenance = {
      type: "canon/provenance",
      v: 1,
      space: chosen.address.genesis,
      subject: [{ name, digest: { sha256 } }],
      context,
      corrections,
      spaceHeads: [],
      previous: ownRecordHeads(state, signer.keyPair.did, MAX_PREVIOUS),
      membership: [...state.membershipHeads],
      author: signer.keyPair.did,
      createdAt: new Date().toISOString(),
    };
    const signed = await signRecord(signer.keyPair, record);
    const stampFile = stampFileOf(request.output);
    await writeStampFile(stampFile, signed);
    return { cid: signed.cid, stampFile, output: { name, sha256 }, context, corrections };
  });
}

function contextOf(state: SpaceState, references: readonly string[]): ContextEntry[] {
  const wanted = references.length > 0 ? references : [...state.standards.keys()];
  const entries = new Map<string, ContextEntry>();
  for (const reference of wanted) {
    const { standard: name, selector } = parseStandardReference(reference);
    const standard = state.standards.get(name);
    if (standard === undefined) {
      const known = [...state.standards.keys()];
      throw new CanonError(
        "UNKNOWN_STANDARD",
        `no standard "${name}" in this space (${known.length ? `known: ${known.join(", ")}` : "none published yet"})`,
      );
    }
    const { cid, record } = pickRelease(standard, selector);
    entries.set(cid, {
      standard: name,
      version: record.version,
      contentCid: record.contentCid,
      releaseCid: cid,
    });
  }
  return [...entries.values()];
}

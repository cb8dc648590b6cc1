import {
  CanonError,
  type DsseEnvelope,
  dsseEnvelopeOf,
  type Provenance,
  parseCid,
  type SignedRecord,
} from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import type { SpaceChoice } from "./space-session.js";
import { viewSpace } from "./space-view.js";

/** Which stamp to export. */
export interface ExportStampRequest extends SpaceChoice {
  /** CID of a stamp in the space's feeds. */
  readonly cid: string;
}

/**
 * A stamp from the space's feeds as an in-toto Statement v1 in a DSSE
 * envelope, signed with the stamp author's ed25519 key (so only the agent's
 * own home can export its stamps; anyone can verify the result with
 * `canon verify` or any DSSE verifier).
 * @throws CanonError `BAD_CID`, `UNKNOWN_SPACE`, `NOT_VERIFIED` when the feeds hold no such stamp, `BAD_ARGUMENT` when `signer` is not its author.
 */
export async function exportStamp(
  home: CanonHome,
  signer: Signer,
  request: ExportStampRequest,
): Promise<DsseEnvelope> {
  try {
    parseCid(request.cid);
  } catch {
    throw new CanonError("BAD_CID", `${JSON.stringify(request.cid.slice(0, 120))} is not a CID`);
  }
  const signed = await viewSpace(home, request, async (view) => view.verified.get(request.cid));
  if (signed === undefined || signed.record.type !== "canon/provenance")
    throw new CanonError(
      "NOT_VERIFIED",
      `no stamp ${request.cid} in this replica's feeds; sync, or check the CID`,
    );
  const stamp = signed as SignedRecord<Provenance>;
  if (stamp.record.author !== signer.keyPair.did)
    throw new CanonError(
      "BAD_ARGUMENT",
      `stamp ${request.cid} was signed by ${stamp.record.author}; only its author's key signs its DSSE envelope (run it in the agent's home, with --as)`,
    );
  return dsseEnvelopeOf(signer.keyPair, stamp);
}

import {
  CanonError,
  freshnessOf,
  type Provenance,
  parseCid,
  type SignedRecord,
  verifyStamp as verifyStampInSpace,
} from "@canon/core";
import { type IndexedStamp, readStampIndex, type StampIndex } from "../caches/stamp-index.js";
import type { CanonHome } from "../home/canon-home.js";
import { readConfig } from "../home/config.js";
import { currentStampIndex } from "./current-stamp-index.js";
import { sha256OfInputFile } from "./input-file.js";
import { chooseSpace, type SpaceChoice } from "./space-session.js";
import { viewSpace } from "./space-view.js";
import { type Verification, verificationOf } from "./verify-stamp.js";

/** What to verify from the space's feeds: an output (found by its sha256), a stamp CID, or both. */
export interface VerifyFromFeedsRequest extends SpaceChoice {
  /** Path of the output file: every stamp naming its sha256 is verified. */
  readonly output?: string | undefined;
  /** CID of one stamp to verify (against `output` when given too). */
  readonly stampCid?: string | undefined;
}

/** An auditor's verdict on an output (or a stamp) from the feeds alone. */
export interface FeedVerification {
  /** True when at least one stamp found verifies. */
  readonly verified: boolean;
  /** The output and its sha256, or null when only a stamp CID was given. */
  readonly output: { readonly path: string; readonly sha256: string } | null;
  /** The space whose feeds were searched. */
  readonly space: string;
  /** Every stamp found, each verified on its own (the same checks as a sidecar's). */
  readonly stamps: readonly Verification[];
}

/**
 * Verifies an output with no sidecar: finds the stamps naming its sha256 in
 * the space's provenance feeds through the stamp index (rebuilt from the
 * fold when missing, damaged or stale, never trusted for a verdict), and runs
 * each through the same checks as a sidecar stamp, its own chain and
 * membership point included, so one made before its author's removal
 * verifies and one made after does not. With `stampCid`, verifies that one
 * stamp; without it, only stamps by keys that have been members of the space
 * are found (a stranger's, refused anyway, would cost a refold each). Costs
 * one fold of the space (the fast way when the caches are current) and one
 * refold per stamp found.
 * @throws CanonError `FILE_UNREADABLE` (output), `BAD_CID` (stamp CID), `UNKNOWN_SPACE`, `NOT_VERIFIED` when no stamp is found.
 */
export async function verifyFromFeeds(
  home: CanonHome,
  request: VerifyFromFeedsRequest,
): Promise<FeedVerification> {
  if (request.stampCid !== undefined) {
    try {
      parseCid(request.stampCid);
    } catch {
      throw new CanonError(
        "BAD_CID",
        `--stamp ${JSON.stringify(request.stampCid.slice(0, 120))} is neither a stamp file nor a CID`,
      );
    }
  }
  const sha256 = request.output === undefined ? undefined : await sha256OfInputFile(request.output);
  // The fast way: the index names the stamps and their authors, and the
  // verdict needs the space's other records and those authors' stamps alone.
  const chosen = await chooseSpace(home, request);
  const indexed =
    sha256 === undefined || request.stampCid !== undefined
      ? undefined
      : await readStampIndex(home, chosen.address, { sha256s: [sha256] });
  const named = indexed === undefined ? undefined : stampsNaming(indexed, sha256 as string);
  const agents = named === undefined ? undefined : [...new Set(named.map((stamp) => stamp.author))];
  return viewSpace(
    home,
    request,
    async (view) => {
      const { address, url } = view.chosen;
      let cids: readonly string[];
      if (request.stampCid !== undefined) cids = [request.stampCid];
      else if (named !== undefined && view.partial) cids = named.map((stamp) => stamp.cid);
      else {
        const index = await currentStampIndex(home, view, { sha256s: [sha256 as string] });
        cids = stampsNaming(index, sha256 as string).map((stamp) => stamp.cid);
      }
      // Found by the output's sha256, a stamp by a key that never was a member is left
      // out: anyone who can write to a space document can sign thousands naming a popular
      // output, and each stamp verified folds the space again (see `checkAuthorRole`).
      const everMembers = new Set([
        view.state.genesis.record.author,
        ...view.state.membershipChanges.map((change) => change.record.member),
      ]);
      const found = cids
        .map((cid) => view.verified.get(cid))
        .filter(
          (signed): signed is SignedRecord<Provenance> =>
            signed?.record.type === "canon/provenance" &&
            signed.record.space === address.genesis &&
            (request.stampCid !== undefined || everMembers.has(signed.record.author)),
        );
      if (found.length === 0) {
        throw new CanonError(
          "NOT_VERIFIED",
          request.stampCid !== undefined
            ? `no stamp ${request.stampCid} in the feeds of ${url}; sync, or name the stamp file with --stamp <file>`
            : `no stamp for ${request.output} (sha256 ${sha256}) in the feeds of ${url}; sync, or the output was never stamped (or changed since)`,
        );
      }
      const lastSync = (await readConfig(home)).spaces[url]?.lastSyncAt ?? null;
      const freshness = freshnessOf(view.state, new Date());
      const stamps: Verification[] = [];
      for (const signed of found) {
        const outputSha256 = sha256 ?? signed.record.subject[0]?.digest.sha256 ?? "";
        const verdict = await verifyStampInSpace({
          stamp: { cid: signed.cid, bytes: signed.bytes, readable: signed.record },
          outputSha256,
          spaceOf: async () => view,
        });
        stamps.push(
          verificationOf(verdict, {
            output: { path: request.output ?? "", sha256: outputSha256 },
            stamp: { path: null, cid: signed.cid },
            space: url,
            lastSync,
            freshness,
          }),
        );
      }
      return {
        verified: stamps.some((stamp) => stamp.verified),
        output:
          request.output === undefined || sha256 === undefined
            ? null
            : { path: request.output, sha256 },
        space: url,
        stamps,
      };
    },
    agents === undefined ? {} : { agents },
  );
}

/** The stamps the index files under an output's sha256. */
function stampsNaming(index: StampIndex, sha256: string): readonly IndexedStamp[] {
  return Object.hasOwn(index.bySha256, sha256) ? (index.bySha256[sha256] ?? []) : [];
}

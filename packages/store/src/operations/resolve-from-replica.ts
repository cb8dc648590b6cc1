import {
  CanonError,
  parseCid,
  type Release,
  type SignedRecord,
  type StandardState,
} from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { readConfig } from "../home/config.js";
import { releaseView } from "./release-view.js";
import type { Resolved, ResolveRequest } from "./resolve.js";
import { assertReadable, withSpace } from "./space-session.js";

/** The slow path of {@link resolve}: loads the replica and folds the space. */
export async function resolveFromReplica(
  home: CanonHome,
  request: ResolveRequest,
): Promise<Resolved> {
  return withSpace(home, request, async ({ replica, state, folded, chosen }) => {
    assertReadable(folded, request.standard);
    const standard = state.standards.get(request.standard);
    if (standard === undefined) {
      const known = [...state.standards.keys()];
      const hint = known.length ? `known: ${known.join(", ")}` : "none published yet";
      throw new CanonError(
        "UNKNOWN_STANDARD",
        `no standard "${request.standard}" in this space (${hint})`,
      );
    }
    const signed = pick(standard, request.selector);
    // The fold accepted this release only after checking these bytes against its content CID.
    const content = await replica.verifiedContent(folded, signed.record);
    if (content === undefined)
      throw new CanonError(
        "UNKNOWN_VERSION",
        `content of ${signed.record.contentCid} is not in this replica`,
      );
    const config = await readConfig(home);
    return {
      ...releaseView(signed),
      content,
      forkedWith:
        standard.forked && request.selector === undefined
          ? standard.heads.slice(1).map((head) => head.cid)
          : [],
      lastSync: config.spaces[chosen.url]?.lastSyncAt ?? null,
    };
  });
}

function pick(standard: StandardState, selector: string | undefined): SignedRecord<Release> {
  if (selector === undefined) return standard.latest;
  if (/^\d+$/.test(selector)) {
    const version = Number(selector);
    const matches = [...standard.releases.values()].filter(
      (signed) => signed.record.version === version,
    );
    if (matches.length === 0) {
      throw new CanonError(
        "UNKNOWN_VERSION",
        `${standard.name} has no version ${version} (latest is ${standard.latest.record.version})`,
      );
    }
    if (matches.length > 1) {
      throw new CanonError(
        "AMBIGUOUS_VERSION",
        `${standard.name}@${version} names ${matches.length} concurrent releases (${matches.map((m) => m.cid).join(", ")}); pick one by CID`,
      );
    }
    return matches[0] as SignedRecord<Release>;
  }
  const cid = parseCid(selector).toString();
  // The same bytes may be published twice; a content CID names the earliest
  // release of them, an answer later releases never change.
  const signed =
    standard.releases.get(cid) ??
    [...standard.releases.values()]
      .filter((r) => r.record.contentCid === cid)
      .sort((x, y) => x.record.version - y.record.version || (x.cid < y.cid ? -1 : 1))[0];
  if (signed === undefined)
    throw new CanonError(
      "UNKNOWN_VERSION",
      `${standard.name} has no release or content with CID ${cid}`,
    );
  return signed;
}

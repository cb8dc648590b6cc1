import { CanonError, freshnessOf } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { readConfig } from "../home/config.js";
import { findStandard } from "./find-standard.js";
import { pickRelease } from "./pick-release.js";
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
    const standard = findStandard(state, request.standard);
    const signed = pickRelease(standard, request.selector);
    // The fold accepted this release only after checking these bytes against its content CID.
    const content = await replica.content.verified(folded, signed.record);
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
      freshness: freshnessOf(state, new Date()),
    };
  });
}

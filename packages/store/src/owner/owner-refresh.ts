import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { chooseSpace, refreshCaches } from "../operations/space-session.js";
import type { Replica } from "../replica.js";
import { headsOf } from "../space/heads.js";
import { markInStep } from "../sync/relay-heads.js";

/**
 * What the home's owner does when something arrived from a relay between
 * commands: folds its default space and writes the read index and caches
 * for it (so a `show` prints it with no `sync`), then, when nothing moved
 * meanwhile, the space's in-step mark for `signer` (so the next `sync`
 * with nothing new is one round trip with the relay: a 304 to the digest
 * of these heads). Resolves false when the home has no space held here.
 * See docs/decisions/2026-11-30-round-trip.md.
 */
export async function refreshArrived(
  home: CanonHome,
  replica: Replica,
  signer: Signer | undefined,
): Promise<boolean> {
  const chosen = await chooseSpace(home, {});
  if (!(await replica.holds(chosen.address.documentId))) return false;
  const folded = await replica.spaces.fold(chosen.address);
  await refreshCaches(replica, folded);
  const state = folded.fold.state;
  // The mark's checkpoint due time comes from this fold: only for exactly its heads.
  if (state !== undefined && headsOf(await replica.spaces.load(chosen.address)) === folded.heads)
    await markInStep(home, chosen.address.documentId, state, signer);
  return true;
}

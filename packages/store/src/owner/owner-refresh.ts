import { provenFingerprint } from "../caches/disk-proof.js";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { chooseSpace, refreshCaches } from "../operations/space-session.js";
import type { Replica } from "../replica.js";
import { headsOf } from "../space/heads.js";
import type { FoldedSpace } from "../space/space-reader.js";
import { pause } from "../sync/alarm.js";
import { markInStep } from "../sync/relay-heads.js";
import { keptLive } from "./owner-connection.js";

/** How many times, {@link PROOF_RETRY_MS} apart, the owner tries again to record the disk proof. */
const PROOF_RETRIES = 5;
const PROOF_RETRY_MS = 5;

/**
 * What the home's owner does when something arrived from a relay between
 * commands: folds its default space and writes the read index and caches
 * for it (so a `show` prints it with no `sync`), then, when nothing moved
 * meanwhile, the space's in-step mark for `signer` (so the next `sync`
 * with nothing new is one round trip with the relay: a 304 to the digest
 * of these heads). Resolves false when the home has no space held here,
 * or one of more than `MAX_LIVE_STANDARDS` standards (not refreshed here).
 * See docs/decisions/2026-11-30-round-trip.md.
 */
export async function refreshArrived(
  home: CanonHome,
  replica: Replica,
  signer: Signer | undefined,
): Promise<boolean> {
  const chosen = await chooseSpace(home, {});
  if (!(await replica.holds(chosen.address.documentId))) return false;
  // A large space is folded by the commands that need it, not on every arrival.
  if (!(await keptLive(replica, chosen.address.documentId))) return false;
  const folded = await replica.spaces.fold(chosen.address);
  await refreshCaches(replica, folded);
  await untilProven(home, replica, folded);
  const state = folded.fold.state;
  // The mark's checkpoint due time comes from this fold: only for exactly its heads.
  if (state !== undefined && headsOf(await replica.spaces.load(chosen.address)) === folded.heads)
    await markInStep(home, chosen.address.documentId, state, signer);
  return true;
}

/**
 * With a live connection, the chunk files can still change after the caches
 * were written (automerge-repo saving or compacting what arrived, with the
 * same heads): the disk proof is then not recorded, and a `show` would find
 * the caches unproven and load the replica (hundreds of milliseconds). While
 * the proof does not hold, writes the caches again for the files now on
 * disk, a few milliseconds apart, a few times at most.
 */
async function untilProven(home: CanonHome, replica: Replica, folded: FoldedSpace): Promise<void> {
  for (let attempt = 0; attempt < PROOF_RETRIES; attempt++) {
    if (provenFingerprint(home, folded.address.documentId, { statFiles: false }) !== undefined)
      return;
    await pause(PROOF_RETRY_MS);
    await refreshCaches(replica, folded);
  }
}

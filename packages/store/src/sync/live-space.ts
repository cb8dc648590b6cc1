import { CanonError } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { openReplica } from "../open-replica.js";
import { appendRelease, type Published, type ReleaseContent } from "../operations/publish.js";
import { chooseSpace, refreshCaches, type SpaceChoice } from "../operations/space-session.js";
import { pause } from "./alarm.js";
import { probeRelay } from "./probe-relay.js";
import { inSync, openRelaySession } from "./relay-session.js";
import { relayFor } from "./relay-url.js";

/** A space held open and connected to a relay, for a long-running owner or agent. */
export interface LiveSpace {
  /**
   * Publishes the next release through the open connection; resolves once
   * the relay holds it (its heads equal ours), so readers can fetch it.
   */
  publish(signer: Signer, content: ReleaseContent, timeoutMs?: number): Promise<Published>;
  /** Flushes to disk, refreshes the caches (read index, verified snapshot), and disconnects. */
  close(): Promise<void>;
}

/**
 * Opens a space and keeps it connected to a relay, so each publish costs a
 * signature and one sync round trip instead of opening the replica and
 * connecting anew (what `canon publish` + `canon sync` do).
 * @throws CanonError `RELAY_UNREACHABLE`, `RELAY_REFUSED`, `UNKNOWN_SPACE`, `BAD_URL`.
 */
export async function openLiveSpace(
  home: CanonHome,
  request: SpaceChoice & {
    relay?: string | undefined;
    token?: string | undefined;
    timeoutMs: number;
  },
): Promise<LiveSpace> {
  const chosen = await chooseSpace(home, request);
  const endpoint = relayFor(chosen.entry?.relays ?? [], request);

  await probeRelay(endpoint, request.timeoutMs);
  const replica = await openReplica(home);
  let session: Awaited<ReturnType<typeof openRelaySession>>;
  try {
    session = await openRelaySession(replica, endpoint, request.timeoutMs);
  } catch (error) {
    await replica.close();
    throw error;
  }
  let closed = false;
  return {
    async publish(signer, content, timeoutMs = request.timeoutMs) {
      let folded = await replica.spaces.fold(chosen.address);
      // What a peer deleted goes back in first, and out with this release.
      if ((await replica.spaces.restoreMissing(folded)) > 0)
        folded = await replica.spaces.fold(chosen.address);
      const state = folded.fold.state;
      if (state === undefined)
        throw new CanonError("BAD_RECORD", "the space's genesis record is missing or invalid");
      const published = await appendRelease({ replica, chosen, folded, state }, signer, content);
      const loaded = await replica.spaces.load(chosen.address);
      const deadline = Date.now() + timeoutMs;
      const handles = [loaded.space, ...loaded.standards.values()];
      while (
        !handles.every((handle) => inSync(handle as never, session.relayHeads(handle.documentId)))
      ) {
        if (Date.now() > deadline)
          throw new CanonError(
            "SYNC_TIMEOUT",
            `the relay did not take ${published.release} within ${Math.round(timeoutMs / 1000)} s`,
          );
        await pause(1);
      }
      return published;
    },
    async close() {
      if (closed) return;
      closed = true;
      session.close();
      const folded = await replica.spaces.fold(chosen.address);
      await replica.close();
      await refreshCaches(replica, folded);
    },
  };
}

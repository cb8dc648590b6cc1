import type { DocHandle } from "@automerge/automerge-repo";
import { CanonError } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { updateConfig } from "../home/config.js";
import { openReplica } from "../open-replica.js";
import { chooseSpace, refreshReadIndex, type SpaceChoice } from "../operations/space-session.js";
import type { LoadedSpace } from "../replica.js";
import { acceptedRecords, type RecordSummary, summarize } from "./record-summary.js";
import { inSync, openRelaySession, type RelaySession, sleep } from "./relay-session.js";
import { relayFor } from "./relay-url.js";

/** What `watch` tells its caller. */
export type WatchEvent =
  | { readonly event: "record"; readonly record: RecordSummary; readonly at: string }
  | { readonly event: "connected"; readonly relay: string; readonly at: string }
  | {
      readonly event: "disconnected";
      readonly relay: string;
      readonly retryInMs: number;
      readonly reason: string;
      readonly at: string;
    };

/** What to watch. */
export interface WatchRequest extends SpaceChoice {
  readonly relay?: string | undefined;
  readonly token?: string | undefined;
  /** Stops watching when aborted. */
  readonly signal: AbortSignal;
  readonly onEvent: (event: WatchEvent) => void;
}

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** How often the watcher looks for changes and for a lost connection. */
const POLL_MS = 2;

/**
 * Stays connected to a relay and reports every newly accepted record of the
 * space as it arrives (after verification, like every read). Reconnects
 * with exponential backoff (250 ms doubling to 10 s) when the relay goes
 * away. Keeps the read index, blob cache and last-sync time current, so
 * agents reading from this home see updates at once.
 */
export async function watchSpace(home: CanonHome, request: WatchRequest): Promise<void> {
  const chosen = await chooseSpace(home, request);
  const endpoint = relayFor(chosen.entry?.relays ?? [], request);

  const replica = await openReplica(home);
  const seen = new Set(acceptedRecords(await foldIfPresent()).keys());
  let dirty = true;
  const subscribed = new Set<string>();
  const subscribe = (handle: DocHandle<unknown>) => {
    if (subscribed.has(handle.documentId)) return;
    subscribed.add(handle.documentId);
    handle.on("change", () => {
      dirty = true;
    });
  };

  async function foldIfPresent() {
    try {
      return (await replica.foldSpace(chosen.address)).fold.state;
    } catch (error) {
      if (error instanceof CanonError && error.code === "UNKNOWN_SPACE") return undefined;
      throw error;
    }
  }

  let session: RelaySession | undefined;
  let retryMs = FIRST_RETRY_MS;
  const now = () => new Date().toISOString();
  try {
    while (!request.signal.aborted) {
      if (session === undefined) {
        try {
          session = await openRelaySession(replica, endpoint, CONNECT_TIMEOUT_MS);
          retryMs = FIRST_RETRY_MS;
          dirty = true;
          request.onEvent({ event: "connected", relay: endpoint.url, at: now() });
        } catch (error) {
          request.onEvent({
            event: "disconnected",
            relay: endpoint.url,
            retryInMs: retryMs,
            reason: (error as Error).message,
            at: now(),
          });
          await sleep(retryMs);
          retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
          continue;
        }
      }
      if (!replica.repo.peers.includes(session.peerId)) {
        session.close();
        session = undefined;
        request.onEvent({
          event: "disconnected",
          relay: endpoint.url,
          retryInMs: retryMs,
          reason: "the relay closed the connection",
          at: now(),
        });
        await sleep(retryMs);
        continue;
      }
      if (dirty) {
        dirty = false;
        let loaded: LoadedSpace | undefined;
        try {
          loaded = await replica.loadSpace(chosen.address);
        } catch (error) {
          if (!(error instanceof CanonError && error.code === "UNKNOWN_SPACE")) throw error;
        }
        if (loaded) {
          subscribe(loaded.space as DocHandle<unknown>);
          for (const handle of loaded.standards.values()) subscribe(handle as DocHandle<unknown>);
          const folded = await replica.foldSpace(chosen.address);
          for (const [cid, signed] of acceptedRecords(folded.fold.state)) {
            if (seen.has(cid)) continue;
            seen.add(cid);
            request.onEvent({ event: "record", record: summarize(signed), at: now() });
          }
          await replica.repo.flush(replica.touched());
          await refreshReadIndex(replica, folded);
          const handles = [loaded.space, ...loaded.standards.values()] as DocHandle<unknown>[];
          const { storageId } = session;
          if (handles.every((handle) => inSync(handle, storageId))) {
            await updateConfig(home, (config) => {
              const entry = config.spaces[chosen.url];
              if (entry) entry.lastSyncAt = now();
            });
          }
        } else {
          dirty = true;
        }
      }
      await sleep(POLL_MS);
    }
  } finally {
    session?.close();
    await replica.close();
  }
}

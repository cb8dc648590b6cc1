import type { DocHandle } from "@automerge/automerge-repo";
import { CanonError, type SpaceState } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { updateConfig } from "../home/config.js";
import type { Signer } from "../home/identities.js";
import { openReplica } from "../open-replica.js";
import { appendCheckpoint, checkpointDue } from "../operations/checkpoint.js";
import { chooseSpace, refreshCaches, type SpaceChoice } from "../operations/space-session.js";
import type { LoadedSpace } from "../space/space-reader.js";
import { Alarm, pause } from "./alarm.js";
import { mergeChangesOnDisk } from "./changes-on-disk.js";
import { holdSession } from "./held-sessions.js";
import { acceptedRecords, type RecordSummary, summarize } from "./record-summary.js";
import { inSync, openRelaySession, type RelaySession } from "./relay-session.js";
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
  /** This home's identity: when it is a maintainer, the watch keeps the space's checkpoint current. */
  readonly checkpointAs?: Signer | undefined;
  readonly onEvent: (event: WatchEvent) => void;
}

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** A connection that lasted this long was a good one: the next retry starts from the first delay again. */
const STABLE_MS = MAX_RETRY_MS;
/**
 * Longest the watcher sleeps between checks when nothing happens. Changes
 * and lost connections wake it at once; a standard document the space names
 * but that has not arrived yet has no change to hear, so while one is
 * missing the watcher looks again at this interval.
 */
const IDLE_CHECK_MS = 1_000;

/**
 * Stays connected to a relay and reports every newly accepted record of the
 * space as it arrives (after verification, like every read), and writes
 * back any accepted record a peer deleted or overwrote. Reconnects
 * with exponential backoff (250 ms doubling to 10 s) when the relay cannot be
 * reached or keeps closing the connection. Keeps the read index, blob cache
 * and last-sync time current, so agents reading from this home see updates
 * at once. Returns promptly once `signal` aborts, even mid-connect.
 */
export async function watchSpace(home: CanonHome, request: WatchRequest): Promise<void> {
  const chosen = await chooseSpace(home, request);
  const endpoint = relayFor(chosen.entry?.relays ?? [], request);

  const replica = await openReplica(home);
  const seen = new Set(acceptedRecords(await foldIfPresent()).keys());
  const alarm = new Alarm();
  let dirty = true;
  /** The state the watch last folded, to tell when a checkpoint falls due. */
  let lastState: SpaceState | undefined;
  /** The space's documents as last loaded, checked for changes other commands wrote to disk. */
  let lastHandles: DocHandle<unknown>[] = [];
  const subscribed = new Set<string>();
  const subscribe = (handle: DocHandle<unknown>) => {
    if (subscribed.has(handle.documentId)) return;
    subscribed.add(handle.documentId);
    handle.on("change", () => {
      dirty = true;
      alarm.ring();
    });
  };
  const onPeerGone = () => alarm.ring();
  replica.repo.networkSubsystem.on("peer-disconnected", onPeerGone);

  async function foldIfPresent() {
    try {
      return (await replica.spaces.fold(chosen.address)).fold.state;
    } catch (error) {
      if (error instanceof CanonError && error.code === "UNKNOWN_SPACE") return undefined;
      throw error;
    }
  }

  let session: RelaySession | undefined;
  let connectedAt = 0;
  let retryMs = FIRST_RETRY_MS;
  const { signal } = request;
  const now = () => new Date().toISOString();
  const retryAfter = async (reason: string) => {
    request.onEvent({
      event: "disconnected",
      relay: endpoint.url,
      retryInMs: retryMs,
      reason,
      at: now(),
    });
    await pause(retryMs, signal);
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  };
  try {
    while (!signal.aborted) {
      if (session === undefined) {
        try {
          session = await openRelaySession(
            replica,
            endpoint,
            CONNECT_TIMEOUT_MS,
            CONNECT_TIMEOUT_MS,
            signal,
          );
          connectedAt = Date.now();
          // In the home's owner, routed commands sync through this connection.
          if (replica.isHeldOpen) holdSession(endpoint, session);
          dirty = true;
          request.onEvent({ event: "connected", relay: endpoint.url, at: now() });
        } catch (error) {
          if (signal.aborted) break;
          await retryAfter((error as Error).message);
          continue;
        }
      }
      if (!replica.repo.peers.includes(session.peerId)) {
        holdSession(endpoint, undefined);
        session.close();
        session = undefined;
        // A relay that accepts and then drops the connection is backed off from too.
        if (Date.now() - connectedAt >= STABLE_MS) retryMs = FIRST_RETRY_MS;
        await retryAfter("the relay closed the connection");
        continue;
      }
      if (dirty) {
        dirty = false;
        let loaded: LoadedSpace | undefined;
        try {
          loaded = await replica.spaces.load(chosen.address);
        } catch (error) {
          if (!(error instanceof CanonError && error.code === "UNKNOWN_SPACE")) throw error;
        }
        if (loaded) {
          subscribe(loaded.space as DocHandle<unknown>);
          for (const handle of loaded.standards.values()) subscribe(handle as DocHandle<unknown>);
          const folded = await replica.spaces.fold(chosen.address);
          // Records a peer deleted or overwrote go back in, and out to the relay.
          await replica.spaces.restoreMissing(folded);
          // A maintainer's watch keeps the checkpoint current, as their syncs do.
          const signer = request.checkpointAs;
          lastState = folded.fold.state;
          if (signer && lastState && checkpointDue(lastState, signer.keyPair.did, new Date()))
            await appendCheckpoint(replica, folded, lastState, signer);
          for (const [cid, signed] of acceptedRecords(folded.fold.state)) {
            if (seen.has(cid)) continue;
            seen.add(cid);
            request.onEvent({ event: "record", record: summarize(signed), at: now() });
          }
          // A standard document named but not here yet has no change to hear: look again.
          if (loaded.documents.length > loaded.standards.size + loaded.damaged.size) dirty = true;
          await replica.repo.flush(replica.touched());
          await refreshCaches(replica, folded);
          const handles = [loaded.space, ...loaded.standards.values()] as DocHandle<unknown>[];
          lastHandles = handles;
          const open = session;
          if (handles.every((handle) => inSync(handle, open.relayHeads(handle.documentId)))) {
            await updateConfig(home, (config) => {
              const entry = config.spaces[chosen.url];
              if (entry) entry.lastSyncAt = now();
            });
          }
        } else {
          dirty = true;
        }
      }
      await alarm.wait(IDLE_CHECK_MS, signal);
      // What another command wrote into this home meanwhile (a stamp in the agent's feed) goes out now.
      if (lastHandles.length > 0 && (await mergeChangesOnDisk(replica, lastHandles)) > 0)
        dirty = true;
      // A checkpoint also ages: look again when it is due although nothing changed.
      if (
        request.checkpointAs &&
        lastState &&
        checkpointDue(lastState, request.checkpointAs.keyPair.did, new Date())
      )
        dirty = true;
    }
  } finally {
    replica.repo.networkSubsystem.off("peer-disconnected", onPeerGone);
    if (session) holdSession(endpoint, undefined);
    session?.close();
    await replica.close();
  }
}

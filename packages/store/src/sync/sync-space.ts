import type { DocHandle } from "@automerge/automerge-repo";
import { CanonError } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { updateConfig } from "../home/config.js";
import type { Signer } from "../home/identities.js";
import { heldReplicaOf, openReplica } from "../open-replica.js";
import { appendCheckpoint, checkpointDue } from "../operations/checkpoint.js";
import {
  type ChosenSpace,
  chooseSpace,
  refreshCaches,
  type SpaceChoice,
} from "../operations/space-session.js";
import type { Replica } from "../replica.js";
import type { LoadedSpace, MissingDocument } from "../space/space-reader.js";
import { pause } from "./alarm.js";
import { holdsSession, relaySessionFor } from "./held-sessions.js";
import { probeRelay } from "./probe-relay.js";
import { acceptedRecords, type RecordSummary, recordCidsAt, summarize } from "./record-summary.js";
import {
  askByDigest,
  compareWithRelay,
  fetchHeadsSummary,
  type HeadsComparison,
  markInStep,
  type SameByDigest,
} from "./relay-heads.js";
import { inSync, type RelaySession } from "./relay-session.js";
import { type RelayEndpoint, relayFor } from "./relay-url.js";
import { fetchedInStep, fetchSpaceDocuments } from "./space-documents.js";
import { type DocumentsSynced, syncDocuments } from "./sync-documents.js";

/** What to sync. */
export interface SyncRequest extends SpaceChoice {
  /** Relay or serving peer; the space's stored relay when absent. */
  readonly relay?: string | undefined;
  readonly token?: string | undefined;
  /** Give up after this long (connecting and exchanging together). */
  readonly timeoutMs: number;
  /** Remember this relay (and token) for the space: always, or only when the space has none yet. */
  readonly remember?: boolean | "if-none";
  /** Make the space the home's default (as joining does). */
  readonly makeDefault?: boolean;
  /** This home's identity: when it is a maintainer, the sync also signs a checkpoint if one is due. */
  readonly checkpointAs?: Signer | undefined;
  /** Told how far the exchange has got, each time that changes (for a progress line). */
  readonly onProgress?: ((progress: SyncProgress) => void) | undefined;
}

/** How far a sync has got: documents loaded of those the space names, and those in step with the relay. */
export interface SyncProgress {
  readonly documents: number;
  readonly inStep: number;
}

/** What a sync did. */
export interface SyncReport {
  readonly synced: true;
  readonly space: string;
  readonly relay: string;
  /** Accepted records that arrived. */
  readonly received: readonly RecordSummary[];
  /** Records this replica had that the relay did not. */
  readonly sent: readonly RecordSummary[];
  /**
   * Documents the space routes to that neither this replica nor the relay
   * produced within the find timeout: not waited for (`canon doctor` lists them too).
   */
  readonly missing: readonly MissingDocument[];
  readonly lastSync: string;
  /**
   * How many documents were loaded and exchanged when the relay's heads
   * summary chose them (only those whose heads differed; 0 when every one
   * was the same on both sides, as after a join whose bulk answer held
   * exactly the relay's heads), or null when every document of the space
   * was loaded and synced (no usable summary or caches, see `relay-heads.ts`).
   */
  readonly exchanged: number | null;
  /**
   * Documents taken in from the relay's bulk answer before the exchange
   * (`GET /documents/<space>`, asked only when this replica held none of
   * the space: a join); 0 otherwise, or when the relay offers none (an older relay).
   */
  readonly inBulk: number;
}

/**
 * Syncs every document of a space with a relay or serving peer, waits until
 * the relay holds exactly what this replica holds (every document's heads
 * equal on both sides), then records the time as the space's last sync.
 * Nothing is exchanged before the relay has accepted the token.
 * @throws CanonError `RELAY_UNREACHABLE`, `RELAY_REFUSED`, `SYNC_TIMEOUT`, `UNKNOWN_SPACE` (the relay lacks it too), `BAD_URL`.
 */
export async function syncSpace(home: CanonHome, request: SyncRequest): Promise<SyncReport> {
  const chosen = await chooseSpace(home, request);
  const endpoint = relayFor(chosen.entry?.relays ?? [], request);
  const deadline = Date.now() + request.timeoutMs;
  // Nothing changed here since this home last saw its heads' digest: the relay's 304 to
  // it says nothing changed there either (and that it is up and took the token: no probe).
  // At most half the time: a relay that does not answer leaves the probe its turn to say so.
  const asked = await askByDigest(
    home,
    chosen,
    endpoint,
    Math.max(1, Math.floor(request.timeoutMs / 2)),
    request.checkpointAs,
  );
  const same = asked !== undefined && "byDigest" in asked ? asked : undefined;
  const earlier = asked !== undefined && "unchanged" in asked ? asked : undefined;
  // In the home's owner, a live connection to this relay says as much as the probe would.
  const heldOpen = heldReplicaOf(home);
  const connected = heldOpen !== undefined && holdsSession(heldOpen, endpoint);
  if (same === undefined && !connected)
    await probeRelay(endpoint, Math.max(1, deadline - Date.now()));
  // One summary of the relay's heads first: only documents that differ are
  // loaded and exchanged, none when every one is the same on both sides.
  const comparison =
    same ??
    (await compareWithRelay(
      home,
      chosen,
      endpoint,
      Math.max(1, deadline - Date.now()),
      request.checkpointAs,
      earlier,
    ));
  const exchanged =
    comparison === undefined
      ? undefined
      : await exchangeDiffering(home, chosen, endpoint, comparison, deadline, request);
  if (comparison !== undefined && exchanged !== undefined) {
    // What was exchanged changed the documents here: the next sync with nothing new asks by digest.
    if (exchanged.state !== undefined)
      await markInStep(home, chosen.address.documentId, exchanged.state, request.checkpointAs);
    const lastSync = await recordSync(home, chosen.url, endpoint, request, {
      name: chosen.entry?.name ?? "",
      genesis: chosen.address.genesis,
    });
    return {
      synced: true,
      space: chosen.url,
      relay: endpoint.url,
      received: exchanged.received,
      sent: exchanged.sent,
      missing: exchanged.missing,
      lastSync,
      exchanged: comparison.differing.length,
      inBulk: 0,
    };
  }
  const replica = await openReplica(home);
  let session: RelaySession | undefined;
  try {
    const before = await loadIfPresent(replica, chosen.address);
    // A space this replica does not hold yet (a join) comes in one answer first, when the
    // relay offers it; the sync below then finds the relay's heads here and exchanges little.
    // At most half the time left: an answer that trickles must leave the sync its turn.
    const bulk =
      before === undefined
        ? await fetchSpaceDocuments(
            replica,
            endpoint,
            chosen.address.documentId,
            Math.max(1, Math.floor((deadline - Date.now()) / 2)),
          )
        : undefined;
    // What the answer brought is written and synced while the space is folded.
    if (bulk !== undefined) replica.settleSoon();
    const foldedBefore = before ? await replica.spaces.fold(chosen.address) : undefined;
    // Records a peer deleted or overwrote go back in, and out to the relay with this sync.
    if (foldedBefore) await replica.spaces.restoreMissing(foldedBefore);
    const recordsBefore = acceptedRecords(foldedBefore?.fold.state);

    // When the space came whole in one answer and the relay's summary lists exactly
    // those heads, nothing is left to exchange: no connection is opened.
    const inStep =
      bulk !== undefined &&
      (await fetchedInStep(
        replica,
        endpoint,
        chosen.address.documentId,
        bulk,
        Math.max(1, deadline - Date.now()),
      ));
    // In the home's owner, a held session is reused (and kept): see held-sessions.ts.
    // Such a connection may not have heard yet of what another home pushed a
    // moment ago: the relay's summary, asked now, says what this sync must at
    // least receive. A new connection needs none: the relay's first answer on it is current.
    const floor =
      replica.isHeldOpen && !inStep
        ? await fetchHeadsSummary(
            endpoint,
            chosen.address.documentId,
            Math.max(1, deadline - Date.now()),
          )
        : undefined;
    const exchange = async (): Promise<LoadedSpace> => {
      session ??= await relaySessionFor(
        replica,
        endpoint,
        Math.max(1, deadline - Date.now()),
        request.timeoutMs,
      );
      return exchangeUntilEqual(
        replica,
        session,
        chosen.address,
        deadline,
        request.timeoutMs,
        request.onProgress,
        floor,
      );
    };
    let loaded = inStep ? await replica.spaces.load(chosen.address) : await exchange();
    if (inStep) {
      const documents = handles(loaded).length;
      request.onProgress?.({ documents, inStep: documents });
    }
    let folded = await replica.spaces.fold(chosen.address);
    const exchangeAgain = async () => {
      loaded = await exchange();
      folded = await replica.spaces.fold(chosen.address);
    };
    // What arrived may have deleted records this replica holds: restore them and exchange again.
    if ((await replica.spaces.restoreMissing(folded)) > 0) await exchangeAgain();
    // A maintainer's sync keeps the space's checkpoint current (see operations/checkpoint.ts).
    const signer = request.checkpointAs;
    const state = folded.fold.state;
    if (signer && state && checkpointDue(state, signer.keyPair.did, new Date())) {
      await appendCheckpoint(replica, folded, state, signer);
      await exchangeAgain();
    }
    const recordsAfter = acceptedRecords(folded.fold.state);
    const received = [...recordsAfter]
      .filter(([cid]) => !recordsBefore.has(cid))
      .map(([, signed]) => summarize(signed));
    // Without a connection (the space came in bulk, in step), this replica held nothing before.
    const exchanged = session !== undefined;
    const relayHad = new Set<string>();
    for (const handle of session === undefined ? [] : handles(loaded)) {
      const heads = session?.atStart.get(handle.documentId);
      if (heads && heads.length > 0)
        for (const cid of recordCidsAt(handle, heads)) relayHad.add(cid);
    }
    const sent = [...recordsBefore]
      .filter(([cid]) => !relayHad.has(cid))
      .map(([, signed]) => summarize(signed));

    session?.close();
    session = undefined;
    await replica.close();
    await refreshCaches(replica, folded);
    await markInStep(home, chosen.address.documentId, folded.fold.state, request.checkpointAs);
    const lastSync = await recordSync(home, chosen.url, endpoint, request, {
      name: folded.fold.state?.genesis.record.name ?? "",
      genesis: chosen.address.genesis,
    });
    return {
      synced: true,
      space: chosen.url,
      relay: endpoint.url,
      received,
      sent,
      missing: loaded.missing,
      lastSync,
      exchanged: exchanged ? null : 0,
      inBulk: bulk?.adopted.length ?? 0,
    };
  } finally {
    session?.close();
    await replica.close();
  }
}

/**
 * Exchanges the documents a heads comparison found different (none when all
 * agree), telling `onProgress` how many of the space's documents are in step.
 * Undefined when a sync of every document is needed after all.
 */
async function exchangeDiffering(
  home: CanonHome,
  chosen: ChosenSpace,
  endpoint: RelayEndpoint,
  comparison: HeadsComparison | SameByDigest,
  deadline: number,
  request: SyncRequest,
): Promise<DocumentsSynced | undefined> {
  const documents = comparison.documents;
  request.onProgress?.({ documents, inStep: documents - comparison.differing.length });
  if (comparison.byDigest) return { received: [], sent: [], missing: [], state: undefined };
  // A checkpoint due (the heads moved, or it aged) goes out in the space document.
  const signer = request.checkpointAs;
  const due =
    signer !== undefined &&
    checkpointDue(comparison.current.fold.state, signer.keyPair.did, new Date());
  if (comparison.differing.length === 0 && !due)
    return { received: [], sent: [], missing: [], state: undefined };
  const spaceId = chosen.address.documentId;
  const differing = comparison.differing.includes(spaceId)
    ? comparison.differing
    : [spaceId, ...comparison.differing];
  const synced = await syncDocuments(
    home,
    chosen,
    endpoint,
    due ? { ...comparison, differing } : comparison,
    deadline,
    request.timeoutMs,
    signer,
  );
  if (synced !== undefined) request.onProgress?.({ documents, inStep: documents });
  return synced;
}

/** Records a finished sync in the home's config (time, relay, default space); returns the time. */
async function recordSync(
  home: CanonHome,
  spaceUrl: string,
  endpoint: RelayEndpoint,
  request: SyncRequest,
  fresh: { readonly name: string; readonly genesis: string },
): Promise<string> {
  const lastSync = new Date().toISOString();
  await updateConfig(home, (config) => {
    const entry = config.spaces[spaceUrl] ?? { ...fresh, relays: [], lastSyncAt: null };
    entry.lastSyncAt = lastSync;
    if (
      request.remember === true ||
      (request.remember === "if-none" && entry.relays.length === 0)
    ) {
      // The relay that just worked goes first, with the token that worked.
      entry.relays = [
        { url: endpoint.url, token: endpoint.token ?? null },
        ...entry.relays.filter((relay) => relay.url !== endpoint.url),
      ];
    }
    config.spaces[spaceUrl] = entry;
    if (request.makeDefault) config.defaultSpace = spaceUrl;
    else config.defaultSpace ??= spaceUrl;
  });
  return lastSync;
}

async function loadIfPresent(
  replica: Replica,
  address: LoadedSpace["address"],
): Promise<LoadedSpace | undefined> {
  try {
    return await replica.spaces.load(address);
  } catch (error) {
    if (error instanceof CanonError && error.code === "UNKNOWN_SPACE") return undefined;
    throw error;
  }
}

function handles(loaded: LoadedSpace): DocHandle<unknown>[] {
  return [
    loaded.space as DocHandle<unknown>,
    ...(loaded.standards.values() as Iterable<DocHandle<unknown>>),
  ];
}

/**
 * Loads the space from the relay if needed, then every standard document it
 * lists (new ones may arrive as the space document syncs), until the relay's
 * heads equal ours for every one of them, and this replica holds what
 * `floor` (the relay's summary when the sync began) lists for each. A routed document that does not
 * arrive within the replica's find timeout is left out (reported as
 * missing), never waited for.
 */
async function exchangeUntilEqual(
  replica: Replica,
  session: RelaySession,
  address: LoadedSpace["address"],
  deadline: number,
  timeoutMs: number,
  onProgress?: (progress: SyncProgress) => void,
  floor?: ReadonlyMap<string, readonly string[]>,
): Promise<LoadedSpace> {
  let reported = "";
  for (;;) {
    let loaded: LoadedSpace | undefined;
    try {
      loaded = await replica.spaces.load(address);
    } catch (error) {
      if (!(error instanceof CanonError && error.code === "UNKNOWN_SPACE")) throw error;
      session.assertConnected();
      throw new CanonError(
        "UNKNOWN_SPACE",
        `neither this replica nor the relay has space ${address.documentId}; check the space URL`,
      );
    }
    // A document that went missing because the connection dropped is not "missing":
    // the sync failed, and says so.
    session.assertConnected();
    const loadedHandles = handles(loaded);
    const progress = {
      documents: loadedHandles.length,
      inStep: loadedHandles.filter((handle) =>
        inSync(handle, session.relayHeads(handle.documentId), floor?.get(handle.documentId)),
      ).length,
    };
    if (onProgress && JSON.stringify(progress) !== reported) {
      reported = JSON.stringify(progress);
      onProgress(progress);
    }
    // `load` settled every routed document (loaded, damaged, or missing after its
    // bound); new routes that arrive with the space document are loaded next round.
    if (progress.inStep === loadedHandles.length) return loaded;
    if (Date.now() > deadline) {
      throw new CanonError(
        "SYNC_TIMEOUT",
        `sync with ${session.client.url.split("?")[0]} did not finish within ${Math.round(timeoutMs / 1000)} s; what arrived is kept, run \`canon sync\` again`,
      );
    }
    await pause(5);
  }
}

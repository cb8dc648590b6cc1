import { type DocHandle, isValidDocumentId } from "@automerge/automerge-repo";
import { CanonError, type SignedRecord, type SpaceState, sameBytes } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { openReplica } from "../open-replica.js";
import { appendCheckpoint, checkpointDue } from "../operations/checkpoint.js";
import type { ChosenSpace } from "../operations/space-session.js";
import { refreshTouched } from "../operations/standard-session.js";
import { mapsAt } from "../space/document-maps.js";
import { isMap, mapField, type SpaceDocument, type StandardDocument } from "../space/documents.js";
import { chooseFeedRoutes } from "../space/feed-routes.js";
import type { MissingDocument } from "../space/space-reader.js";
import { pause } from "./alarm.js";
import { relaySessionFor } from "./held-sessions.js";
import { acceptedRecords, recordCidsAt, summarize } from "./record-summary.js";
import type { HeadsComparison } from "./relay-heads.js";
import { inSync, type RelaySession } from "./relay-session.js";
import type { RelayEndpoint } from "./relay-url.js";

/** Documents asked of the relay at once: enough to overlap round trips, few enough for any relay. */
const REMOTE_FINDS = 32;

/** What {@link syncDocuments} exchanged. */
export interface DocumentsSynced {
  readonly received: ReturnType<typeof summarize>[];
  readonly sent: ReturnType<typeof summarize>[];
  readonly missing: MissingDocument[];
  /** The space's state after the exchange, as the caches now hold it (undefined when nothing was exchanged). */
  readonly state: SpaceState | undefined;
}

/**
 * Syncs only the documents a heads comparison found different (and the
 * space document), waits until the relay's heads equal ours for each of
 * them and this replica holds what the relay's summary listed (so a
 * connection the home's owner held open, which may not have heard yet of
 * what another home pushed, never ends the sync early), then updates the caches from the snapshot and those documents
 * ({@link refreshTouched}). The rest of the space is neither loaded nor
 * exchanged: both sides hold the same heads of it. Undefined when the
 * exchange took a record out of a document (a peer deleted it): the caller
 * then syncs every document, which writes it back. When a checkpoint of
 * `checkpointAs` is due by the state the comparison read (this replica's,
 * the publish just made included), it is signed into the space document
 * first and goes out with this exchange.
 * @throws CanonError `RELAY_UNREACHABLE`, `RELAY_REFUSED`, `SYNC_TIMEOUT` as a full sync does.
 */
export async function syncDocuments(
  home: CanonHome,
  chosen: ChosenSpace,
  endpoint: RelayEndpoint,
  comparison: HeadsComparison,
  deadline: number,
  timeoutMs: number,
  checkpointAs?: Signer | undefined,
): Promise<DocumentsSynced | undefined> {
  const { address } = chosen;
  const replica = await openReplica(home);
  let session: RelaySession | undefined;
  try {
    const space = await replica.find<SpaceDocument>(address.documentId);
    if (space === undefined)
      throw new CanonError("UNKNOWN_SPACE", `space ${address.documentId} is not in this replica`);
    const standards = new Map<string, DocHandle<StandardDocument>>();
    const local: string[] = [];
    const remote: string[] = [];
    for (const id of comparison.differing)
      if (id !== address.documentId) ((await replica.holds(id)) ? local : remote).push(id);
    for (const id of local) {
      const handle = await replica.find<StandardDocument>(id);
      if (handle !== undefined) standards.set(id, handle);
    }
    // Documents whose heads the relay's summary listed as this replica's, before anything is added here.
    const listedAsOurs = new Set<string>();
    for (const handle of [space, ...standards.values()]) {
      const listed = comparison.relay.get(handle.documentId);
      if (listed !== undefined && sameHeads(listed, handle.heads()))
        listedAsOurs.add(handle.documentId);
    }
    const held = comparison.current.fold.state;
    if (checkpointAs && checkpointDue(held, checkpointAs.keyPair.did, new Date()))
      await appendCheckpoint(replica, { space }, held, checkpointAs);
    // What we hold before the exchange, and the relay's heads as it began: what we sent.
    const ours = new Set<string>();
    for (const handle of [space, ...standards.values()])
      for (const records of mapsAt(handle.doc(), "records"))
        for (const cid of Object.keys(records)) ours.add(cid);
    const before = new Map<DocHandle<unknown>, unknown>();
    for (const handle of [space, ...standards.values()])
      before.set(handle as DocHandle<unknown>, handle.doc());
    const recordsBefore = acceptedRecords(comparison.current.fold.state);

    // In the home's owner, the connection it holds (a watch's, a previous sync's) is reused.
    session = await relaySessionFor(
      replica,
      endpoint,
      Math.max(1, deadline - Date.now()),
      timeoutMs,
    );
    const missing: MissingDocument[] = [];
    const routing = mapField(space.doc(), "standards");
    let next = 0;
    const worker = async () => {
      while (next < remote.length) {
        const id = remote[next++] as string;
        const handle = await replica.find<StandardDocument>(id);
        if (handle !== undefined) standards.set(id, handle);
        else {
          const name = routing[id];
          missing.push({
            documentId: id,
            name: typeof name === "string" ? name.slice(0, 200) : null,
          });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(REMOTE_FINDS, remote.length) }, worker));
    const handles = [
      space as DocHandle<unknown>,
      ...(standards.values() as Iterable<DocHandle<unknown>>),
    ];
    const open = session;
    const inStep = (handle: DocHandle<unknown>) =>
      inSync(handle, open.relayHeads(handle.documentId), comparison.relay.get(handle.documentId));
    for (;;) {
      session.assertConnected();
      if (handles.every(inStep)) break;
      if (Date.now() > deadline)
        throw new CanonError(
          "SYNC_TIMEOUT",
          `sync with ${endpoint.url} did not finish within ${Math.round(timeoutMs / 1000)} s; what arrived is kept, run \`canon sync\` again`,
        );
      await pause(5);
    }
    // Anything a peer took out or changed (a record, content, a route, a tag)
    // is written back by a sync of every document: leave it to that one.
    for (const [handle, doc] of before) if (!contains(handle.doc(), doc)) return undefined;
    // A route to a document neither side listed: a sync of every document looks for it and reports it.
    // Feed entries count as a reader would load them: members' only, a bounded number each.
    const known = comparison.current.snapshot.fingerprint;
    const state = comparison.current.fold.state;
    const valid = (id: string) => isValidDocumentId(id) && id !== address.documentId;
    // Only a route neither side listed needs its id checked: a listed one is a document (the
    // check decodes each id, and a space routes every standard).
    const unlisted = (id: string) => !standards.has(id) && !Object.hasOwn(known, id);
    const routed = [
      ...Object.keys(mapField(space.doc(), "standards")).filter((id) => unlisted(id) && valid(id)),
      ...chooseFeedRoutes(mapField(space.doc(), "feeds"), {
        valid,
        everMembers: new Set([
          state.genesis.record.author,
          ...state.membershipChanges.map((change) => change.record.member),
        ]),
        known: new Set(Object.keys(known)),
      }).keys(),
    ];
    for (const id of routed) if (unlisted(id)) return undefined;
    // The relay had every record of a document whose heads its summary listed as ours (the
    // space document after a publish, say): read as it was before the exchange, not through
    // a view at the relay's heads (which materializes the document: the space document grows
    // with the space). Records only this sync added to it (a checkpoint) are never in `sent`.
    const relayHad = new Set<string>();
    for (const handle of handles) {
      if (listedAsOurs.has(handle.documentId)) {
        const doc = before.get(handle);
        for (const records of mapsAt(doc, "records"))
          for (const cid of Object.keys(records)) relayHad.add(cid);
        continue;
      }
      const heads = session.atStart.get(handle.documentId);
      if (heads && heads.length > 0)
        for (const cid of recordCidsAt(handle, heads)) relayHad.add(cid);
    }
    session.close();
    session = undefined;
    await replica.close();
    const merged = await refreshTouched(replica, chosen, comparison.current, { space, standards });
    const after: Map<string, SignedRecord> = acceptedRecords(merged?.state);
    return {
      received: [...after]
        .filter(([cid]) => !recordsBefore.has(cid))
        .map(([, signed]) => summarize(signed)),
      sent: [...recordsBefore]
        .filter(([cid]) => ours.has(cid) && !relayHad.has(cid))
        .map(([, signed]) => summarize(signed)),
      missing,
      state: merged?.state,
    };
  } finally {
    session?.close();
    await replica.close();
  }
}

/** True when two lists hold the same heads, in any order. */
function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sorted = [...b].sort();
  return [...a].sort().every((head, index) => head === sorted[index]);
}

/**
 * True when `after` holds everything `before` held, unchanged: every key of
 * every map with the same value (byte strings compared by content), and no
 * scalar changed. What a sync may add without anything to write back.
 */
function contains(after: unknown, before: unknown): boolean {
  if (before instanceof Uint8Array) return after instanceof Uint8Array && sameBytes(after, before);
  if (isMap(before)) {
    if (!isMap(after)) return false;
    for (const [key, value] of Object.entries(before))
      if (!Object.hasOwn(after, key) || !contains(after[key], value)) return false;
    return true;
  }
  if (typeof before === "object" && before !== null)
    return JSON.stringify(after) === JSON.stringify(before);
  return after === before;
}

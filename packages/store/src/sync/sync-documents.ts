import type { DocHandle, UrlHeads } from "@automerge/automerge-repo";
import { CanonError, type SignedRecord } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { openReplica } from "../open-replica.js";
import type { ChosenSpace } from "../operations/space-session.js";
import { refreshTouched } from "../operations/standard-session.js";
import { mapsAt } from "../space/document-maps.js";
import { mapField, type SpaceDocument, type StandardDocument } from "../space/documents.js";
import type { MissingDocument } from "../space/space-reader.js";
import { pause } from "./alarm.js";
import { acceptedRecords, summarize } from "./record-summary.js";
import type { HeadsComparison } from "./relay-heads.js";
import { inSync, openRelaySession, type RelaySession } from "./relay-session.js";
import type { RelayEndpoint } from "./relay-url.js";

/** Documents asked of the relay at once: enough to overlap round trips, few enough for any relay. */
const REMOTE_FINDS = 32;

/** What {@link syncDocuments} exchanged. */
export interface DocumentsSynced {
  readonly received: ReturnType<typeof summarize>[];
  readonly sent: ReturnType<typeof summarize>[];
  readonly missing: MissingDocument[];
}

/**
 * Syncs only the documents a heads comparison found different (and the
 * space document), waits until the relay's heads equal ours for each of
 * them, then updates the caches from the snapshot and those documents
 * ({@link refreshTouched}). The rest of the space is neither loaded nor
 * exchanged: both sides hold the same heads of it. Undefined when the
 * exchange took a record out of a document (a peer deleted it): the caller
 * then syncs every document, which writes it back.
 * @throws CanonError `RELAY_UNREACHABLE`, `RELAY_REFUSED`, `SYNC_TIMEOUT` as a full sync does.
 */
export async function syncDocuments(
  home: CanonHome,
  chosen: ChosenSpace,
  endpoint: RelayEndpoint,
  comparison: HeadsComparison,
  deadline: number,
  timeoutMs: number,
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
    // What we hold before the exchange, and the relay's heads when it first reports them: what we sent.
    const ours = new Set<string>();
    for (const handle of [space, ...standards.values()])
      for (const records of mapsAt(handle.doc(), "records"))
        for (const cid of Object.keys(records)) ours.add(cid);
    const firstRemoteHeads = new Map<string, UrlHeads>();
    const watchRemote = (handle: DocHandle<unknown>) =>
      handle.once("remote-heads", ({ heads }) => {
        if (!firstRemoteHeads.has(handle.documentId))
          firstRemoteHeads.set(handle.documentId, heads);
      });
    for (const handle of [space, ...standards.values()]) watchRemote(handle as DocHandle<unknown>);
    const recordsBefore = acceptedRecords(comparison.current.fold.state);

    session = await openRelaySession(
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
    for (;;) {
      session.assertConnected();
      if (handles.every((handle) => inSync(handle, session?.storageId as never))) break;
      if (Date.now() > deadline)
        throw new CanonError(
          "SYNC_TIMEOUT",
          `sync with ${endpoint.url} did not finish within ${Math.round(timeoutMs / 1000)} s; what arrived is kept, run \`canon sync\` again`,
        );
      await pause(5);
    }
    // A record one of these documents held and lost (a peer deleted it) must be
    // written back, which a sync of every document does: leave it to that one.
    const held = new Set<string>();
    for (const handle of handles)
      for (const records of mapsAt(handle.doc(), "records"))
        for (const cid of Object.keys(records)) held.add(cid);
    if ([...ours].some((cid) => !held.has(cid))) return undefined;
    const relayHad = new Set<string>();
    for (const handle of handles) {
      const heads = firstRemoteHeads.get(handle.documentId);
      if (heads && heads.length > 0)
        for (const cid of Object.keys(mapField(handle.view(heads).doc(), "records")))
          relayHad.add(cid);
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
    };
  } finally {
    session?.close();
    await replica.close();
  }
}

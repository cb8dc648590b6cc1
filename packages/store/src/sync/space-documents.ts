import type * as A from "@automerge/automerge";
import { isValidDocumentId } from "@automerge/automerge-repo";
import type { Replica } from "../replica.js";
import { mapField } from "../space/documents.js";
import { AutomergeMemoryReserve } from "./automerge-memory.js";
import { loadWithin, MAX_DOCUMENT_NESTING } from "./document-depth.js";
import { type FramesRefusal, readDocumentFrames } from "./document-frames.js";
import { RecordsCheckedAhead } from "./records-checked-ahead.js";
import { fetchHeadsSummary } from "./relay-heads.js";
import { parseRelayUrl, type RelayEndpoint } from "./relay-url.js";

/** Most bytes one document of a bulk answer may have: a relay's own limit on a document (32 MiB). */
const MAX_DOCUMENT_BYTES = 32 * 1024 * 1024;

/**
 * Most bytes a whole bulk answer may have. What it brings stays in memory
 * (as a sync's documents do) until the replica closes; past this, the
 * rest comes by the normal sync.
 */
const MAX_TOTAL_BYTES = 512 * 1024 * 1024;

/**
 * The relay's heads summary asked together with each bulk answer, for
 * {@link fetchedInStep} to take once (a relay that has to load every
 * document to answer it, after a restart, takes seconds: ~2.4 s at 1,000
 * documents, spent while the answer is read and taken in).
 */
const summaries = new WeakMap<SpaceDocumentsFetched, Promise<Map<string, string[]> | undefined>>();

/** The relay's bulk endpoint for a space over plain HTTP(S), with the token. */
export function documentsUrlOf(endpoint: RelayEndpoint, spaceDocumentId: string): string {
  const url = parseRelayUrl(endpoint.url);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  url.pathname = `/documents/${encodeURIComponent(spaceDocumentId)}`;
  if (endpoint.token) url.searchParams.set("token", endpoint.token);
  return url.toString();
}

/**
 * What {@link fetchSpaceDocuments} did: which documents it took in, how
 * many it left to the normal sync, and why it stopped early, if it did.
 */
export interface SpaceDocumentsFetched {
  /** The documents taken in, the space document first. */
  readonly adopted: readonly string[];
  /** Frames not taken in: not routed by the space, sent twice, already here, or not loading. */
  readonly skipped: number;
  /** Documents the space routes to that the answer did not bring (0 when it brought every one). */
  readonly unrouted: number;
  /**
   * Undefined when the answer was read to its end; otherwise why not:
   * `unanswered` (no such endpoint, as on an older relay, or a refusal),
   * `bad-space` (the first document was not the space, or did not load),
   * a {@link FramesRefusal} reason, or `failed` (the connection broke or the deadline passed).
   */
  readonly stopped?: "unanswered" | "bad-space" | "failed" | FramesRefusal["reason"];
}

/**
 * Fetches a space's documents from a relay in one response
 * (`GET /documents/<space>`, see the relay's `space-documents.ts`) into a
 * replica that holds none of them yet, so that the sync that follows finds
 * the relay's heads already here and exchanges almost nothing, instead of
 * receiving every change through one sync exchange per document.
 *
 * Nothing in the answer is trusted. The first document must be the space
 * document; every other one must be named by its routing maps (`standards`,
 * `feeds`), once. Each is loaded with `Automerge.load` on its own; one whose
 * bytes do not load is skipped (the sync fetches it), one the replica holds
 * already is left alone. What loads is taken in as a document this replica
 * synced would be: every record in it is still checked by the fold, so a
 * relay can send nothing here that it could not send through a sync. The
 * documents are taken in together when the reading ends
 * (`Replica.adoptAll`), so their saves run while the caller folds. A
 * malformed, oversized (a document past 32 MiB, the whole past 512 MiB),
 * cut short or late answer stops the reading; what loaded until then is
 * taken in (each document whole), and the sync brings the rest. Automerge's
 * memory is reserved ahead of the documents as they arrive
 * ({@link AutomergeMemoryReserve}: grown page by page, it made V8 scavenge
 * before nearly every allocation). When the machine has a core to spare,
 * the records of each document loaded are checked on a worker thread
 * meanwhile ({@link RecordsCheckedAhead}), and what passed is handed to the
 * fold (`SpaceReader.checkedAhead`). Never throws for what the relay answers.
 */
export async function fetchSpaceDocuments(
  replica: Replica,
  endpoint: RelayEndpoint,
  spaceDocumentId: string,
  timeoutMs: number,
): Promise<SpaceDocumentsFetched> {
  // Loaded as they arrive, taken in together at the end (see `Replica.adoptAll`).
  // With the bytes each loaded from: stored as they are (`Replica.adoptAll`), not encoded again.
  const taken: [string, A.Doc<unknown>, Uint8Array][] = [];
  let skipped = 0;
  // The routes of the space document not yet received.
  let routed: Set<string> | undefined;
  // Automerge's memory grown ahead of the documents, in a few large steps (see automerge-memory.ts),
  // from the bytes of the documents loaded so far.
  const memory = new AutomergeMemoryReserve();
  let received = 0;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const summary = fetchHeadsSummary(endpoint, spaceDocumentId, timeoutMs);
  // Its refusal (an answer past the limit) is thrown where it is awaited, if it ever is.
  summary.catch(() => {});
  // With a core to spare, the records of each document loaded are checked on a worker thread
  // while the next ones load; the fold finds them verified (`SpaceReader.checkedAhead`).
  const ahead = RecordsCheckedAhead.start();
  const done = async (
    stopped?: SpaceDocumentsFetched["stopped"],
  ): Promise<SpaceDocumentsFetched> => {
    if (ahead !== undefined) replica.spaces.checkedAhead(ahead.finish());
    const adopted = await replica.adoptAll(taken);
    const fetched: SpaceDocumentsFetched = {
      adopted,
      skipped: skipped + taken.length - adopted.length,
      unrouted: routed?.size ?? 0,
      ...(stopped === undefined ? {} : { stopped }),
    };
    summaries.set(fetched, summary);
    return fetched;
  };
  try {
    const response = await fetch(documentsUrlOf(endpoint, spaceDocumentId), {
      signal: abort.signal,
    });
    if (!response.ok || response.body === null) {
      await response.body?.cancel().catch(() => {});
      return await done("unanswered");
    }
    const frames = readDocumentFrames(response.body, {
      maxDocumentBytes: MAX_DOCUMENT_BYTES,
      maxTotalBytes: MAX_TOTAL_BYTES,
    });
    for (;;) {
      const next = await frames.next();
      if (next.done === true) {
        if (next.value !== undefined) abort.abort();
        return await done(next.value?.reason);
      }
      const { documentId, bytes } = next.value;
      // Only what is loaded counts: frames skipped unloaded make no room.
      const loading =
        routed === undefined ? documentId === spaceDocumentId : routed.has(documentId);
      if (loading) {
        received += bytes.length;
        memory.received(received);
      }
      if (routed === undefined) {
        const space = loading ? loaded(bytes) : undefined;
        if (space === undefined) {
          abort.abort();
          return await done("bad-space");
        }
        routed = routesOf(space, spaceDocumentId);
        taken.push([documentId, space, bytes]);
        ahead?.add(space);
        continue;
      }
      // Each routed document once; anything else is not this space's to send.
      const doc = routed.delete(documentId) ? loaded(bytes) : undefined;
      if (doc !== undefined) {
        taken.push([documentId, doc, bytes]);
        ahead?.add(doc);
      } else skipped += 1;
    }
  } catch {
    abort.abort();
    return await done("failed");
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The document `bytes` hold, or undefined when they do not load or nest
 * objects over {@link MAX_DOCUMENT_NESTING} deep ({@link loadWithin}, which
 * measures the loaded document itself): such a document would trap
 * Automerge's WebAssembly the first time anything patches it (the Repo, a
 * sync, a read), so it is skipped, and the sync, whose messages the relay
 * client checks the same way, refuses it too.
 */
function loaded(bytes: Uint8Array): A.Doc<unknown> | undefined {
  return loadWithin<unknown>(bytes, MAX_DOCUMENT_NESTING);
}

/** The document ids a space document's routing maps name (as the relay's summary lists them). */
function routesOf(space: A.Doc<unknown>, spaceDocumentId: string): Set<string> {
  const routed = new Set<string>();
  for (const field of ["standards", "feeds"])
    for (const id of Object.keys(mapField(space, field)))
      if (isValidDocumentId(id) && id !== spaceDocumentId) routed.add(id);
  return routed;
}

/**
 * True when what {@link fetchSpaceDocuments} took in is exactly what the
 * relay holds of the space: the answer was read to its end, brought every
 * document the space routes to and nothing that was refused, and the
 * relay's heads summary lists exactly those documents, each with the heads
 * it has here. The summary is the one asked together with the answer (so
 * after the sync began), taken once; a later call asks again. A summary
 * older or newer than the answer (a release pushed between the two)
 * differs from it, and the exchange runs. The sync may then skip the exchange:
 * this replica held none of the space before, so it has nothing the relay
 * lacks, and the summary is the floor a sync must reach (the same rule as a
 * sync through a held connection, docs/decisions/2026-11-29-sync-freshness.md).
 * False when anything differs, or the relay answers no summary: the caller
 * then exchanges every document.
 */
export async function fetchedInStep(
  replica: Replica,
  endpoint: RelayEndpoint,
  spaceDocumentId: string,
  fetched: SpaceDocumentsFetched,
  timeoutMs: number,
): Promise<boolean> {
  if (fetched.stopped !== undefined || fetched.skipped > 0 || fetched.unrouted > 0) return false;
  if (fetched.adopted[0] !== spaceDocumentId) return false;
  // The summary asked with the answer, once; asked now when it was taken already.
  const early = summaries.get(fetched);
  summaries.delete(fetched);
  const summary =
    early === undefined
      ? await fetchHeadsSummary(endpoint, spaceDocumentId, timeoutMs)
      : await early;
  if (summary === undefined || summary.size !== fetched.adopted.length) return false;
  for (const id of fetched.adopted) {
    // A handle, or the stand-in of a document held loose (`Replica.adoptAll`).
    const handle = replica.inMemory(id);
    const theirs = summary.get(id);
    if (handle === undefined || theirs === undefined) return false;
    const ours = [...handle.heads()].sort();
    if (ours.length !== theirs.length || ours.some((head, index) => head !== theirs[index]))
      return false;
  }
  return true;
}

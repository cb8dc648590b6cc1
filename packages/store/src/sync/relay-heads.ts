import { z } from "zod";
import { readHeadsCache } from "../caches/heads-cache.js";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import { checkpointDue } from "../operations/checkpoint.js";
import type { ChosenSpace } from "../operations/space-session.js";
import { type CurrentSnapshot, currentSnapshot } from "../operations/space-view.js";
import { parseRelayUrl, type RelayEndpoint } from "./relay-url.js";

/** Most bytes of a heads summary read from a relay (about 300,000 documents' heads). */
const MAX_SUMMARY_BYTES = 32 * 1024 * 1024;

const Summary = z.object({
  space: z.string(),
  documents: z.record(z.string().max(100), z.array(z.string().max(200)).max(1024)),
});

/** The relay's heads-summary endpoint for a space over plain HTTP(S), with the token. */
export function headsUrlOf(endpoint: RelayEndpoint, spaceDocumentId: string): string {
  const url = parseRelayUrl(endpoint.url);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  url.pathname = `/heads/${encodeURIComponent(spaceDocumentId)}`;
  if (endpoint.token) url.searchParams.set("token", endpoint.token);
  return url.toString();
}

/**
 * The heads a relay reports for a space's documents (`GET /heads/<id>`), by
 * document id, sorted; undefined when it does not answer one in time, well
 * formed and within {@link MAX_SUMMARY_BYTES} (an older relay, a hostile
 * one): the caller then syncs every document. Unsigned: trusted only to skip
 * work (see docs/security.md).
 */
export async function fetchHeadsSummary(
  endpoint: RelayEndpoint,
  spaceDocumentId: string,
  timeoutMs: number,
): Promise<Map<string, string[]> | undefined> {
  try {
    const response = await fetch(headsUrlOf(endpoint, spaceDocumentId), {
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok || response.body === null) return undefined;
    const chunks: Uint8Array[] = [];
    let length = 0;
    for await (const chunk of response.body) {
      length += chunk.length;
      if (length > MAX_SUMMARY_BYTES) return undefined;
      chunks.push(chunk);
    }
    const parsed = Summary.safeParse(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    if (!parsed.success || parsed.data.space !== spaceDocumentId) return undefined;
    return new Map(
      Object.entries(parsed.data.documents).map(([id, heads]) => [id, [...heads].sort()]),
    );
  } catch {
    return undefined;
  }
}

/** How this replica's documents compare with a relay's, by their heads. */
export interface HeadsComparison {
  /** The verified snapshot the comparison started from (current when compared). */
  readonly current: CurrentSnapshot;
  /** How many documents the two sides hold between them. */
  readonly documents: number;
  /** Documents whose heads differ, or that one side holds and the other does not; empty when all agree. */
  readonly differing: readonly string[];
  /** The relay's summary itself: heads by document id, what a sync must at least end up holding. */
  readonly relay: ReadonlyMap<string, readonly string[]>;
}

/**
 * Compares this replica's documents of a space with a relay's, without
 * loading Automerge: when the verified snapshot is current (names exactly
 * the chunk files on disk), the heads cache was written from the same
 * files, every document of the space is here, and no checkpoint is due from
 * `checkpointAs`, it asks the relay for its heads summary and returns the
 * documents whose heads differ. Undefined otherwise, including when the
 * relay answers no summary: the caller then syncs every document.
 */
export async function compareWithRelay(
  home: CanonHome,
  chosen: ChosenSpace,
  endpoint: RelayEndpoint,
  timeoutMs: number,
  checkpointAs: Signer | undefined,
): Promise<HeadsComparison | undefined> {
  const spaceId = chosen.address.documentId;
  const [current, cache] = await Promise.all([
    currentSnapshot(home, chosen),
    readHeadsCache(home, spaceId),
  ]);
  if (current === undefined || cache === undefined) return undefined;
  if (JSON.stringify(cache.fingerprint) !== JSON.stringify(current.snapshot.fingerprint))
    return undefined;
  if (checkpointAs && checkpointDue(current.fold.state, checkpointAs.keyPair.did, new Date()))
    return undefined;
  const ours = new Map<string, readonly string[]>();
  for (const [id, chunks] of Object.entries(cache.fingerprint)) {
    const heads = cache.heads[id];
    // A document routed here but held nowhere: the full sync waits for it and reports it.
    if (chunks.length === 0 || heads === undefined) return undefined;
    ours.set(id, heads);
  }
  if (!ours.has(spaceId)) return undefined;
  const theirs = await fetchHeadsSummary(endpoint, spaceId, timeoutMs);
  if (theirs === undefined) return undefined;
  const differing = new Set<string>();
  for (const [id, heads] of ours)
    if (JSON.stringify(theirs.get(id)) !== JSON.stringify([...heads].sort())) differing.add(id);
  for (const id of theirs.keys()) if (!ours.has(id)) differing.add(id);
  const documents = new Set([...ours.keys(), ...theirs.keys()]).size;
  return { current, documents, differing: [...differing].sort(), relay: theirs };
}

import { CanonError, type SpaceState } from "@canon/core";
import { z } from "zod";
import { provenFingerprint, provenFingerprintHash } from "../caches/disk-proof.js";
import { fingerprintHashOf } from "../caches/fingerprint-hash.js";
import { readHeadsCache } from "../caches/heads-cache.js";
import type { CanonHome } from "../home/canon-home.js";
import type { Signer } from "../home/identities.js";
import type { ChosenSpace } from "../operations/space-session.js";
import { type CurrentSnapshot, currentSnapshot } from "../operations/space-view.js";
import { readCappedBody } from "./capped-body.js";
import { etagOf, MAX_ETAG_LENGTH } from "./heads-digest.js";
import {
  checkpointNotDue,
  inStepMarkOf,
  readInStepMark,
  removeInStepMark,
  writeInStepMark,
} from "./in-step-mark.js";
import { parseRelayUrl, type RelayEndpoint } from "./relay-url.js";

/**
 * Most bytes of a heads summary read from a relay. A relay lists at most
 * 20,000 routed documents besides the space (`MAX_SUMMARY_DOCUMENTS` in the
 * relay's `heads-summary.ts`); an entry is a document id (about 30 bytes)
 * and its heads (about 55 bytes each, one or two for almost every document):
 * 20,001 documents with 16 concurrent heads each are about 18 MiB. An
 * answer past this cannot come from an honest relay: it is refused
 * ({@link HeadsSummaryTooLarge}), read no further.
 */
const MAX_SUMMARY_BYTES = 32 * 1024 * 1024;

/**
 * Most documents a heads summary may list that this home does not hold (new
 * standards routed since the last sync) for {@link compareWithRelay} to
 * fetch them one by one; past this, it leaves the sync to read the space's routes.
 */
const MAX_NEW_IN_SUMMARY = 1_000;

/**
 * What a document id looks like (base58, as in a space URL): anything else
 * a summary lists names no document and is ignored. Not automerge-repo's
 * `isValidDocumentId`, which would load Automerge on the no-op sync's path;
 * an id of this shape that is no document is only looked for and reported missing.
 */
const DOCUMENT_ID_SHAPE = /^[1-9A-HJ-NP-Za-km-z]{20,64}$/;

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

/** What a relay answered to a summary request that named a digest ({@link askHeadsSummary}). */
export type SummaryAnswer =
  /** 304: the relay's summary has the digest the request named. */
  | { readonly unchanged: true }
  | {
      readonly unchanged: false;
      /** Heads by document id, sorted. */
      readonly summary: Map<string, string[]>;
      /** True when the relay sent an entity tag: it answers `If-None-Match` (an older relay does not). */
      readonly tagged: boolean;
    };

/**
 * The refusal of a heads summary longer than {@link MAX_SUMMARY_BYTES}
 * (declared so, or streamed past it): a `RELAY_REFUSED` error naming the
 * space and the limit. Nothing of the answer is kept.
 */
function headsSummaryTooLarge(spaceDocumentId: string): CanonError {
  return new CanonError(
    "RELAY_REFUSED",
    `the relay's heads summary of space ${spaceDocumentId} is over ${MAX_SUMMARY_BYTES / 1024 / 1024} MiB ` +
      "(an honest relay's is a few MiB): refused, nothing kept from it; check the relay URL",
  );
}

/**
 * The heads a relay reports for a space's documents (`GET /heads/<id>`), by
 * document id, sorted; undefined when it does not answer one in time and
 * well formed (an older relay, a broken one): the caller then syncs every
 * document. Unsigned: trusted only to skip work (see docs/security.md).
 * @throws CanonError `RELAY_REFUSED` when the answer is longer than
 * {@link MAX_SUMMARY_BYTES} (see {@link headsSummaryTooLarge}): a relay
 * streaming without end is hostile, never read into memory.
 */
export async function fetchHeadsSummary(
  endpoint: RelayEndpoint,
  spaceDocumentId: string,
  timeoutMs: number,
): Promise<Map<string, string[]> | undefined> {
  const answer = await askHeadsSummary(endpoint, spaceDocumentId, timeoutMs);
  return answer === undefined || answer.unchanged ? undefined : answer.summary;
}

/**
 * As {@link fetchHeadsSummary}, naming `digest` (`heads-digest.ts`) in
 * `If-None-Match` when given: a 304 then says the relay's summary has that
 * digest (nothing else is read from it). A 304 to a request that named no
 * digest is no answer. Undefined when no usable answer came.
 * @throws CanonError `RELAY_REFUSED` for an answer past {@link MAX_SUMMARY_BYTES}.
 */
export async function askHeadsSummary(
  endpoint: RelayEndpoint,
  spaceDocumentId: string,
  timeoutMs: number,
  digest?: string,
): Promise<SummaryAnswer | undefined> {
  try {
    const response = await fetch(headsUrlOf(endpoint, spaceDocumentId), {
      signal: AbortSignal.timeout(timeoutMs),
      headers: digest === undefined ? {} : { "if-none-match": etagOf(digest) },
    });
    if (response.status === 304) {
      await response.body?.cancel();
      return digest === undefined ? undefined : { unchanged: true };
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      return undefined;
    }
    // Refused from its declared length before a byte is read, else once the bytes pass the limit.
    const bytes = await readCappedBody(response, MAX_SUMMARY_BYTES);
    if (bytes === "too-large") throw headsSummaryTooLarge(spaceDocumentId);
    const parsed = Summary.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
    if (!parsed.success || parsed.data.space !== spaceDocumentId) return undefined;
    const etag = response.headers.get("etag");
    return {
      unchanged: false,
      summary: new Map(
        Object.entries(parsed.data.documents).map(([id, heads]) => [id, [...heads].sort()]),
      ),
      tagged: etag !== null && etag.length <= MAX_ETAG_LENGTH,
    };
  } catch (error) {
    if (error instanceof CanonError) throw error;
    return undefined;
  }
}

/** How this replica's documents compare with a relay's, by their heads. */
export interface HeadsComparison {
  /** False: the relay's whole summary was read and compared. */
  readonly byDigest: false;
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
 * The relay answered 304 to the digest of this home's heads
 * (`in-step-mark.ts`): its summary is exactly what this home holds, and
 * nothing was read, loaded or folded to know it.
 */
export interface SameByDigest {
  readonly byDigest: true;
  /** How many documents this home holds of the space (the relay the same). */
  readonly documents: number;
  readonly differing: readonly [];
}

/**
 * Asks the relay whether it holds exactly this home's heads, by digest,
 * without reading anything that grows with the space but the disk proof:
 * when the space's in-step mark names the chunk files the disk proof holds
 * for (nothing changed here since: a `stat` of every chunk file, see
 * `caches/disk-proof.ts`) and no checkpoint is due from `checkpointAs` by
 * it, `GET /heads` names the mark's digest in `If-None-Match`. A 304 is
 * {@link SameByDigest}: one small round trip whatever the size of the
 * space. Otherwise the relay's full answer, if it gave one (a changed
 * summary, or an older relay), for {@link compareWithRelay}; undefined when
 * there was no mark to ask with, or no usable answer.
 */
export async function askByDigest(
  home: CanonHome,
  chosen: ChosenSpace,
  endpoint: RelayEndpoint,
  timeoutMs: number,
  checkpointAs: Signer | undefined,
): Promise<SameByDigest | SummaryAnswer | undefined> {
  const spaceId = chosen.address.documentId;
  const mark = readInStepMark(home, spaceId);
  if (mark === undefined || !checkpointNotDue(mark, checkpointAs, new Date())) return undefined;
  // The proof's own hash first (two small files): after a publish it differs from the mark's,
  // and the stat of every document's files below would be spent for nothing.
  const recorded = provenFingerprintHash(home, spaceId);
  if (recorded !== undefined && recorded !== mark.fingerprintHash) return undefined;
  const proven = provenFingerprint(home, spaceId, { statFiles: true });
  if (proven === undefined || fingerprintHashOf(proven) !== mark.fingerprintHash) return undefined;
  const answer = await askHeadsSummary(endpoint, spaceId, timeoutMs, mark.digest);
  if (answer?.unchanged !== true) return answer;
  return { byDigest: true, documents: Object.keys(proven).length, differing: [] };
}

/**
 * Compares this replica's documents of a space with a relay's, without
 * loading Automerge: when the verified snapshot is current (names exactly
 * the chunk files on disk), the heads cache was written from the same
 * files and every document of the space is here, it reads the relay's heads summary (`earlier`, when
 * {@link askByDigest} already brought it) and returns the documents whose
 * heads differ (a checkpoint due from `checkpointAs` is signed into the
 * space document by the exchange, see `syncDocuments`). It then writes the space's in-step mark when the relay
 * answers digests, so that the next sync with nothing new asks by digest.
 * Undefined otherwise, including when the relay answers no summary, or one
 * listing more than {@link MAX_NEW_IN_SUMMARY} documents this home does not
 * hold (ids not shaped as document ids are ignored): the caller then syncs
 * every document.
 */
export async function compareWithRelay(
  home: CanonHome,
  chosen: ChosenSpace,
  endpoint: RelayEndpoint,
  timeoutMs: number,
  checkpointAs: Signer | undefined,
  earlier?: SummaryAnswer,
): Promise<HeadsComparison | undefined> {
  const spaceId = chosen.address.documentId;
  const now = new Date();
  const [current, cache] = await Promise.all([
    currentSnapshot(home, chosen),
    readHeadsCache(home, spaceId),
  ]);
  if (current === undefined || cache === undefined) return undefined;
  if (JSON.stringify(cache.fingerprint) !== JSON.stringify(current.snapshot.fingerprint))
    return undefined;
  const ours = new Map<string, readonly string[]>();
  for (const [id, chunks] of Object.entries(cache.fingerprint)) {
    const heads = cache.heads[id];
    // A document routed here but held nowhere: the full sync waits for it and reports it.
    if (chunks.length === 0 || heads === undefined) return undefined;
    ours.set(id, heads);
  }
  if (!ours.has(spaceId)) return undefined;
  const asked =
    earlier?.unchanged === false ? earlier : await askHeadsSummary(endpoint, spaceId, timeoutMs);
  if (asked === undefined || asked.unchanged) return undefined;
  const theirs = asked.summary;
  const differing = new Set<string>();
  for (const [id, heads] of ours)
    if (JSON.stringify(theirs.get(id)) !== JSON.stringify([...heads].sort())) differing.add(id);
  // Documents only the relay lists: a standard routed since, or ids a hostile relay made up
  // (each would cost a find, a handle and a `missing` entry). A few are fetched; past
  // MAX_NEW_IN_SUMMARY the summary is no answer, and the full sync reads the space's routes.
  let fresh = 0;
  for (const id of theirs.keys()) {
    if (ours.has(id) || !DOCUMENT_ID_SHAPE.test(id)) continue;
    if (++fresh > MAX_NEW_IN_SUMMARY) return undefined;
    differing.add(id);
  }
  // Only a relay that answers digests is worth a mark: with an older one, asking costs a check for nothing.
  // When heads differ, the exchange that follows writes the mark of what it leaves (`markInStep`):
  // one of the heads before it would only be replaced (and costs the space's checkpoint plan).
  if (asked.tagged && differing.size > 0)
    return {
      byDigest: false,
      current,
      documents: new Set([...ours.keys(), ...theirs.keys()]).size,
      differing: [...differing].sort(),
      relay: theirs,
    };
  const mark = asked.tagged
    ? inStepMarkOf(spaceId, cache.fingerprint, cache.heads, current.fold.state, checkpointAs, now)
    : undefined;
  if (mark !== undefined) await writeInStepMark(home, spaceId, mark).catch(() => {});
  else await removeInStepMark(home, spaceId);
  const documents = new Set([...ours.keys(), ...theirs.keys()]).size;
  return { byDigest: false, current, documents, differing: [...differing].sort(), relay: theirs };
}

/**
 * Writes the space's in-step mark from the caches a sync just wrote (the
 * heads cache of the fingerprint the disk proof holds for), so that the next
 * sync with nothing new is one round trip. Nothing when the caches do not
 * agree with the proof; never fails the sync.
 */
export async function markInStep(
  home: CanonHome,
  spaceDocumentId: string,
  state: SpaceState | undefined,
  checkpointAs: Signer | undefined,
): Promise<void> {
  try {
    if (state === undefined) return;
    const proven = provenFingerprint(home, spaceDocumentId, { statFiles: false });
    const cache = await readHeadsCache(home, spaceDocumentId);
    if (proven === undefined || cache === undefined) return;
    if (JSON.stringify(cache.fingerprint) !== JSON.stringify(proven)) return;
    const mark = inStepMarkOf(
      spaceDocumentId,
      proven,
      cache.heads,
      state,
      checkpointAs,
      new Date(),
    );
    if (mark !== undefined) await writeInStepMark(home, spaceDocumentId, mark);
  } catch {
    // A mark is only a shortcut: without one, the next sync compares the whole summary.
  }
}

import * as A from "@automerge/automerge";
import {
  encodeHeads,
  isValidDocumentId,
  type Repo,
  type StorageAdapterInterface,
} from "@automerge/automerge-repo";
import type { AccessGrant } from "./access/access-grant.js";
import type { SpaceAccess } from "./access/space-access.js";
import type { DocumentSizes } from "./guard/document-sizes.js";
import { storedDocument } from "./guard/stored-document.js";
import type { DocumentHeads, HeadsCache } from "./heads-cache.js";

/**
 * What `GET /heads/<space-document-id>` answers: the heads (as automerge-repo
 * encodes them) of the space document and of every document its routing maps
 * (`standards`, `feeds`) name that this relay holds, by document id. A
 * client compares them with its own and skips the sync when all are equal.
 * The answer is unsigned: a relay that lies in it can only make a client do
 * a full sync, or miss what the relay would withhold anyway.
 */
export interface HeadsSummary {
  readonly space: string;
  readonly documents: Readonly<Record<string, readonly string[]>>;
}

/** Where a summary reads documents: the Repo's copies in memory first, else the stored chunks. */
export interface SummarySources {
  readonly repo: Repo;
  readonly storage: StorageAdapterInterface;
  readonly sizes: DocumentSizes;
  /** The per-space access check, when the relay has space tokens. */
  readonly access: SpaceAccess | undefined;
  /** Heads of stored documents read before (see `heads-cache.ts`). */
  readonly cache: HeadsCache;
}

/**
 * Most routed documents one summary lists (a routing map is written by
 * peers). A client syncs any document the summary leaves out, so a larger
 * space costs it a longer sync, never a wrong one.
 */
export const MAX_SUMMARY_DOCUMENTS = 20_000;

/**
 * Most heads listed for one document. Concurrent heads are cheap to make (a
 * writer's changes that depend on nothing), and Canon's documents have one
 * or two: a document with more is left out (the client syncs it).
 */
export const MAX_SUMMARY_HEADS = 64;

/**
 * Most bytes of a summary's JSON: past this, the remaining documents are
 * left out (the client syncs them). Half of what a client reads at most
 * (32 MiB, `relay-heads.ts` in `@canon/store`), which refuses a longer answer
 * as a hostile relay's: writers cannot make an honest relay's summary that long.
 */
export const MAX_SUMMARY_JSON_BYTES = 16 * 1024 * 1024;

/**
 * The heads summary of a space as `grant` may see it, or undefined when the
 * relay does not hold the space document or the grant does not open it.
 * Documents the grant may not read are left out, as are those not stored
 * here, those with more than {@link MAX_SUMMARY_HEADS} heads, and those past
 * {@link MAX_SUMMARY_JSON_BYTES} of JSON.
 */
export async function headsSummary(
  spaceDocumentId: string,
  grant: AccessGrant,
  sources: SummarySources,
): Promise<HeadsSummary | undefined> {
  const listed = await summarizedDocuments(spaceDocumentId, grant, sources);
  if (listed === undefined) return undefined;
  const documents: Record<string, readonly string[]> = {};
  let budget = MAX_SUMMARY_JSON_BYTES;
  // Listed while within the limits; a document left out is one the client syncs.
  const list = (id: string, heads: readonly string[]): boolean => {
    if (heads.length > MAX_SUMMARY_HEADS) return true;
    // `"id":["h1","h2"],` as JSON writes it (ids and heads are base58: nothing escaped).
    const bytes = id.length + 6 + heads.reduce((sum, head) => sum + head.length + 3, 0);
    if (bytes > budget) return false;
    budget -= bytes;
    documents[id] = heads;
    return true;
  };
  list(spaceDocumentId, listed.spaceHeads);
  for (const id of listed.routed) {
    const held = await headsOf(id, sources);
    if (held !== undefined && !list(id, held.heads)) break;
  }
  return { space: spaceDocumentId, documents };
}

/** The documents a summary of a space may list, before their heads are read. */
export interface SummarizedDocuments {
  /** The space document's heads, sorted. */
  readonly spaceHeads: readonly string[];
  /** The documents its routing maps name that `grant` may read (at most {@link MAX_SUMMARY_DOCUMENTS}, never the space document), whether or not they are held here. */
  readonly routed: readonly string[];
}

/**
 * The documents {@link headsSummary} considers for a space as `grant` may
 * see it, without reading any of them but the space document; undefined
 * when the relay does not hold the space or the grant does not open it.
 */
export async function summarizedDocuments(
  spaceDocumentId: string,
  grant: AccessGrant,
  sources: SummarySources,
): Promise<SummarizedDocuments | undefined> {
  if (!isValidDocumentId(spaceDocumentId)) return undefined;
  if (grant.kind === "spaces" && !grant.spaces.has(spaceDocumentId)) return undefined;
  const space = await headsOf(spaceDocumentId, sources);
  if (space === undefined) return undefined;
  const routed: string[] = [];
  for (const id of space.routed.slice(0, MAX_SUMMARY_DOCUMENTS)) {
    if (id === spaceDocumentId) continue;
    if ((await sources.access?.refusal(grant, id, false)) !== undefined) continue;
    routed.push(id);
  }
  return { spaceHeads: space.heads, routed };
}

/**
 * A document's heads (and routes) as this relay holds it, or undefined when
 * it holds none of it: from the Repo's copy when in memory (nothing to read),
 * else from the cache, else from storage.
 */
async function headsOf(
  documentId: string,
  { repo, storage, sizes, cache }: SummarySources,
): Promise<DocumentHeads | undefined> {
  const handle = repo.handles[documentId as never];
  if (handle?.isReady()) return headsIn(handle.doc(), [...handle.heads()]);
  return cache.get(documentId, async () => {
    // Never `repo.find`: a document not in memory would then be asked of the network.
    if (!(await sizes.isStored(documentId))) return undefined;
    const doc = await storedDocument(storage, documentId);
    return headsIn(doc, encodeHeads(A.getHeads(doc)));
  });
}

/** The heads, sorted, and the valid document ids the routing maps of `doc` name. */
function headsIn(doc: unknown, heads: readonly string[]): DocumentHeads {
  const routed = new Set<string>();
  for (const field of ["standards", "feeds"]) {
    const map = isMap(doc) ? doc[field] : undefined;
    if (isMap(map)) for (const id of Object.keys(map)) if (isValidDocumentId(id)) routed.add(id);
  }
  return { heads: [...heads].sort(), routed: [...routed] };
}

/** A plain map (Automerge's counters, texts and lists are objects too, but not maps). */
function isMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

import { once } from "node:events";
import type { ServerResponse } from "node:http";
import {
  CHUNK_KINDS,
  DOCUMENT_FRAMES_END,
  DOCUMENT_FRAMES_TAG,
  documentFrameHeader,
} from "@canon/store";
import type { AccessGrant } from "./access/access-grant.js";
import { type SummarySources, summarizedDocuments } from "./heads-summary.js";

/** How long a bulk answer waits at most for a client that stopped reading before it cuts the connection. */
const WRITE_STALL_MS = 10_000;

/**
 * The slowest reading a bulk answer keeps its turn for: all told, it waits
 * for the client at most {@link WRITE_STALL_MS} plus the time this rate
 * takes for the bytes written so far (a client on a 512 kbit/s line keeps
 * up; one that reads a byte now and then to keep its turn does not).
 */
const MIN_READ_BYTES_PER_SECOND = 64 * 1024;

/**
 * How many of the largest documents one answer holds at most: past
 * `maxDocumentBytes` × this (512 MiB by default, what a client reads of an
 * answer at most), the remaining documents are left out and the client syncs them.
 */
export const ANSWER_DOCUMENTS_OF_MAX_SIZE = 16;

/** What the bulk answer reads besides the summary's sources: the largest document it sends. */
export interface SpaceDocumentsSources extends SummarySources {
  /** A document whose stored chunks are larger than this is left out (the client syncs it). */
  readonly maxDocumentBytes: number;
}

/**
 * Answers `GET /documents/<space-document-id>`: the stored bytes of every
 * document the space's heads summary may list for `grant` (the space document
 * first), framed as `document-frames.ts` in `@canon/store` describes, so a
 * home that joins receives the space in one response instead of one sync
 * exchange per document. The bytes are the document's stored chunks as they
 * are (snapshot and incremental, concatenated): the relay loads nothing,
 * and the client checks everything (it loads each document itself, and
 * every record is still verified by the fold). A document not stored yet
 * (in memory only) or larger than `maxDocumentBytes` is left out; the
 * client's sync fetches it. So are the documents past a total of
 * {@link ANSWER_DOCUMENTS_OF_MAX_SIZE} × `maxDocumentBytes` (a routing map
 * is written by peers: a space routing thousands of large documents costs
 * the relay at most that much reading and sending per answer). Streamed one document at a time with
 * back-pressure, so the relay holds at most one document per request; it
 * stops when the client goes away, and cuts off one that stops reading
 * for 10 s, or reads slower than 64 KiB/s on average (past a first 10 s):
 * it would hold one of the few turns for ever.
 * Answers false (and writes nothing) when the relay does not hold the space
 * or the grant does not open it.
 */
export async function sendSpaceDocuments(
  spaceDocumentId: string,
  grant: AccessGrant,
  sources: SpaceDocumentsSources,
  response: ServerResponse,
): Promise<boolean> {
  const listed = await summarizedDocuments(spaceDocumentId, grant, sources);
  if (listed === undefined) return false;
  const ids = [spaceDocumentId, ...listed.routed];
  response.writeHead(200, {
    "content-type": "application/vnd.canon.documents",
    "cache-control": "no-store",
  });
  let gone = false;
  response.once("close", () => {
    gone = true;
  });
  // A client that stops reading, or trickles, would hold its turn for ever: past a stall, or
  // past the time the slowest acceptable reading would have taken, it is cut off.
  let written = 0;
  let waited = 0;
  const write = async (bytes: Uint8Array) => {
    written += bytes.byteLength;
    if (response.write(bytes) || gone) return;
    const allowance = WRITE_STALL_MS + (written * 1000) / MIN_READ_BYTES_PER_SECOND - waited;
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<void>((resolve) => {
      timer = setTimeout(
        () => {
          response.destroy();
          resolve();
        },
        Math.max(0, Math.min(WRITE_STALL_MS, allowance)),
      );
    });
    try {
      await Promise.race([once(response, "drain"), once(response, "close"), stalled]);
    } finally {
      clearTimeout(timer);
      waited += Date.now() - started;
    }
  };
  await write(DOCUMENT_FRAMES_TAG);
  let budget = ANSWER_DOCUMENTS_OF_MAX_SIZE * sources.maxDocumentBytes;
  for (const id of ids) {
    if (gone) return true;
    const chunks = await storedChunks(sources, id);
    const byteLength = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
    if (byteLength === 0 || byteLength > sources.maxDocumentBytes) continue;
    // The answer is full: the rest is left out (and not read), the client syncs it.
    if (byteLength > budget) break;
    budget -= byteLength;
    await write(documentFrameHeader(id, byteLength));
    for (const chunk of chunks) await write(chunk);
  }
  if (!gone) response.end(DOCUMENT_FRAMES_END);
  return true;
}

/** A document's stored chunks, snapshots first (what `Automerge.loadIncremental` of the whole takes). */
async function storedChunks(
  sources: SpaceDocumentsSources,
  documentId: string,
): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for (const kind of CHUNK_KINDS)
    for (const chunk of await sources.storage.loadRange([documentId, kind]))
      if (chunk.data !== undefined) chunks.push(chunk.data);
  return chunks;
}

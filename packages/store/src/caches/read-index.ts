import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Freshness } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { indexedReleaseView, type ReleaseView } from "../operations/release-view.js";
import { SPACE_URL_PATTERN } from "../space/space-url-pattern.js";
import { unchecksummed } from "../storage/checksummed.js";
import { chunkFingerprint } from "../storage/chunk-layout.js";
import { BlobCache } from "./blob-cache.js";
import { checksumOf, dropDamaged, readTail, TailWriter } from "./cache-tail.js";
import { freshnessOfIndex, type IndexedCheckpoint } from "./indexed-freshness.js";
import { freshnessOfListing, readListedStandard } from "./listing-cache.js";

export { freshnessOfIndex, type IndexedCheckpoint };

import { provenFingerprint } from "./disk-proof.js";

/**
 * The read index: the fold's result for one space, written after every
 * command that loads the space, so that agents resolve context at start-up
 * without loading Automerge. It is a cache, never a source of truth: it is
 * tagged with the names of the stored chunk files of every document it was
 * computed from (automerge-repo names chunks by content hash, so any change
 * to a document changes the names) and ignored when they differ. The file is
 * checksummed like the verified snapshot (tag {@link READ_INDEX_TAG}, then
 * the sha-256, then the JSON), so a damaged one is ignored and rebuilt, never
 * served: a flipped byte could otherwise name the wrong version. The
 * standards a command changed since it was written can be kept in its tail,
 * `<space-document-id>.index-tail` ({@link ReadIndexTail}, `cache-tail.ts`).
 */
/** The read index file's shape. */
export interface ReadIndex {
  /** 2 since it carries the newest checkpoint; an index of another version is not read. */
  v: 2;
  genesis: string;
  fingerprint: Record<string, string[]>;
  standards: Record<string, IndexedStandard>;
  /** The newest accepted checkpoint when the index was written, and what it named that the fold lacked; null when none. */
  checkpoint: IndexedCheckpoint | null;
}

/** One standard in the read index. */
export interface IndexedStandard {
  latest: string;
  heads: string[];
  releases: Record<string, IndexedRelease>;
}

/** A release as the read index records it. */
export interface IndexedRelease {
  readonly standard: string;
  readonly version: number;
  readonly contentCid: string;
  readonly releaseCid: string;
  readonly author: string;
  readonly createdAt: string;
  readonly message: string;
  /** The content's sha-256 in hex (the content CID's digest), so a read can check the blob without parsing the CID. */
  readonly sha256: string;
}

/** What a fast read found: the same fields as the slow path's answer. */
export interface FastRead extends ReleaseView {
  readonly content: Uint8Array;
  readonly lastSync: string | null;
  /** What the replica could prove about its view when the index was written, judged now. */
  readonly freshness: Freshness;
}

/** What the read index's tail (`cache-tail.ts`) holds: the standards changed since the index was written, the fingerprint and checkpoint now. */
export interface ReadIndexTail {
  v: 1;
  fingerprint: Record<string, string[]>;
  standards: Record<string, IndexedStandard>;
  checkpoint: IndexedCheckpoint | null;
}

/** The read index tail's tag. */
export const READ_INDEX_TAIL_TAG = "CNIT";

/** The read index file's tag (`checksummed.ts`): "Canon Index", format 1. */
export const READ_INDEX_TAG = "CNI1";

/** Where a space's read index lives. */
export function indexPath(home: CanonHome, documentId: string): string {
  return join(home.indexes, `${documentId}.index`);
}

/**
 * Resolves a standard (latest, a version number, or a content or release
 * CID) from the read index and the blob cache, without Automerge or zod.
 * Returns undefined whenever it cannot answer with certainty (no config or
 * index, a stale index, a fork, a missing or damaged blob): the caller then
 * takes the slow path, which also reports errors properly. A pinned CID
 * needs no freshness check: a release, once accepted, never changes.
 */
export async function readFromIndex(
  home: CanonHome,
  request: {
    readonly space?: string | undefined;
    readonly standard: string;
    readonly selector?: string | undefined;
  },
): Promise<FastRead | undefined> {
  const config = await readJson(home.config);
  const url = request.space ?? config?.defaultSpace;
  if (typeof url !== "string") return undefined;
  const [, documentId, genesis] = SPACE_URL_PATTERN.exec(url) ?? [];
  if (documentId === undefined || genesis === undefined) return undefined;
  const address = { documentId, genesis };
  const lastSync = config?.spaces?.[url]?.lastSyncAt;
  const { standard, selector } = request;
  // The latest version: the listing's main file and one shard, while the disk proof holds.
  if (selector === undefined) {
    const listed = await readListedStandard(home, address, standard);
    const entry = listed?.entry;
    if (listed !== undefined && entry !== undefined && entry.heads === 1) {
      const { latest } = entry;
      const content = await new BlobCache(home).get(latest.contentCid, latest.sha256);
      if (content !== undefined)
        return {
          ...indexedReleaseView(latest),
          content,
          lastSync: typeof lastSync === "string" ? lastSync : null,
          freshness: freshnessOfListing(listed.head, new Date()),
        };
    }
  }
  const index = await readIndexFile(indexPath(home, address.documentId));
  if (index?.v !== 2 || index.genesis !== address.genesis || typeof index.standards !== "object")
    return undefined;
  const entry = Object.hasOwn(index.standards, standard) ? index.standards[standard] : undefined;
  if (entry === undefined || typeof entry.releases !== "object") return undefined;

  let release: IndexedRelease | undefined;
  if (selector !== undefined && !/^\d+$/.test(selector)) {
    // Same rule as the slow path: a content CID names the earliest release of those bytes.
    release =
      entry.releases[selector] ??
      Object.values(entry.releases)
        .filter((r) => r.contentCid === selector)
        .sort((x, y) => x.version - y.version || (x.releaseCid < y.releaseCid ? -1 : 1))[0];
  } else {
    const current =
      provenFingerprint(home, address.documentId, { statFiles: false }) ??
      (await chunkFingerprint(home.replica, Object.keys(index.fingerprint ?? {})));
    if (JSON.stringify(current) !== JSON.stringify(index.fingerprint)) return undefined;
    if (selector === undefined) {
      if (entry.heads?.length !== 1) return undefined;
      release = entry.releases[entry.latest];
    } else {
      const matches = Object.values(entry.releases).filter((r) => r.version === Number(selector));
      if (matches.length !== 1) return undefined;
      release = matches[0];
    }
  }
  if (
    release === undefined ||
    typeof release.contentCid !== "string" ||
    release.standard !== standard
  )
    return undefined;
  if (typeof release.sha256 !== "string") return undefined;
  const content = await new BlobCache(home).get(release.contentCid, release.sha256);
  if (content === undefined) return undefined;
  return {
    standard: release.standard,
    version: release.version,
    cid: release.contentCid,
    release: release.releaseCid,
    author: release.author,
    createdAt: release.createdAt,
    message: release.message,
    content,
    lastSync: typeof lastSync === "string" ? lastSync : null,
    freshness: freshnessOfIndex(index.checkpoint, new Date()),
  };
}

/**
 * The index in `path`, with its tail applied, unchecked beyond their
 * checksums; undefined when it is missing, damaged or not JSON (or its tail is).
 */
async function readIndexFile(path: string): Promise<ReadIndex | undefined> {
  try {
    const bytes = await readFile(path);
    const opened = unchecksummed(READ_INDEX_TAG, bytes);
    if (!("data" in opened)) {
      await dropDamaged(path);
      return undefined;
    }
    const index = JSON.parse(new TextDecoder().decode(opened.data)) as ReadIndex;
    const tail = await readTail(
      TailWriter.tailPathOf(path),
      READ_INDEX_TAIL_TAG,
      checksumOf(bytes),
    );
    if (tail.kind === "damaged") return undefined;
    if (tail.kind === "tail") {
      const extension = JSON.parse(new TextDecoder().decode(tail.data)) as Partial<ReadIndexTail>;
      if (
        extension.v !== 1 ||
        typeof extension.standards !== "object" ||
        extension.standards === null ||
        typeof index.standards !== "object" ||
        index.standards === null
      )
        return undefined;
      Object.assign(index.standards, extension.standards);
      index.fingerprint = extension.fingerprint as Record<string, string[]>;
      index.checkpoint = extension.checkpoint ?? null;
    }
    return index;
  } catch {
    return undefined;
  }
}

// biome-ignore lint/suspicious/noExplicitAny: an unchecked cache read; every field is checked where used.
async function readJson(path: string): Promise<any> {
  try {
    return JSON.parse(await readFile(path, "utf8"));
  } catch {
    return undefined;
  }
}

import type { Release, SpaceState } from "@canon/core";
import { effectiveExpiry, missingFrom, newestCheckpoint, parseCid, sha256Hex } from "@canon/core";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";
import { checksummed } from "../storage/checksummed.js";
import {
  type IndexedRelease,
  type IndexedStandard,
  indexPath,
  READ_INDEX_TAG,
  type ReadIndex,
} from "./read-index.js";

/**
 * Writes the read index of a space from its fold. Called after every command
 * that loaded the space; `fingerprint` names the chunk files the fold read.
 */
export async function writeReadIndex(
  home: CanonHome,
  spaceDocumentId: string,
  fingerprint: Record<string, string[]>,
  state: SpaceState,
): Promise<void> {
  const standards: Record<string, IndexedStandard> = {};
  for (const [name, standard] of state.standards) {
    const releases: Record<string, IndexedRelease> = {};
    for (const [cid, { record }] of standard.releases) {
      releases[cid] = indexedRelease(cid, record);
    }
    standards[name] = {
      latest: standard.latest.cid,
      heads: standard.heads.map((head) => head.cid),
      releases,
    };
  }
  const index: ReadIndex = {
    v: 2,
    genesis: state.genesis.cid,
    fingerprint,
    standards,
    checkpoint: checkpointOf(state),
  };
  await writeFileAtomic(
    indexPath(home, spaceDocumentId),
    checksummed(READ_INDEX_TAG, new TextEncoder().encode(JSON.stringify(index))),
  );
}

/** Content CID → its sha-256 in hex, for the life of the process (a CID fixes its digest; parsing 10,000 CIDs each write was most of the write). */
const digests = new Map<string, string>();

/** A release as the read index and the listing cache keep it. */
export function indexedRelease(cid: string, record: Release): IndexedRelease {
  return {
    standard: record.standard,
    version: record.version,
    contentCid: record.contentCid,
    releaseCid: cid,
    author: record.author,
    createdAt: record.createdAt,
    message: record.message,
    sha256: digestOf(record.contentCid),
  };
}

/** The content CID's digest in hex (what the read index and the listing cache keep as `sha256`). */
export function digestOf(contentCid: string): string {
  let digest = digests.get(contentCid);
  if (digest === undefined) {
    digest = sha256Hex(parseCid(contentCid));
    digests.set(contentCid, digest);
  }
  return digest;
}

/** The newest checkpoint and what it names that the state lacks, as the index keeps it. */
function checkpointOf(state: SpaceState): ReadIndex["checkpoint"] {
  const newest = newestCheckpoint(state, new Date());
  if (newest === undefined) return null;
  const { author, createdAt } = newest.record;
  return {
    cid: newest.cid,
    author,
    createdAt,
    expires: effectiveExpiry(state, newest.record),
    missing: missingFrom(state, newest.record),
  };
}

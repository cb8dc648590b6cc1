import type { Release, SpaceState, StandardState } from "@canon/core";
import { effectiveExpiry, missingFrom, newestCheckpoint } from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { MAX_TAIL_BYTES, TailWriter } from "./cache-tail.js";
import { contentDigestHex } from "./content-digest.js";
import {
  type IndexedRelease,
  type IndexedStandard,
  indexPath,
  READ_INDEX_TAG,
  READ_INDEX_TAIL_TAG,
  type ReadIndex,
  type ReadIndexTail,
} from "./read-index.js";

/**
 * Writes the read index of a space from its fold. Called after every command
 * that loaded the space; `fingerprint` names the chunk files the fold read.
 *
 * When this process wrote the index on disk and no standard is gone from
 * the state, only the standards whose releases or heads changed are written,
 * in the index's tail (`cache-tail.ts`) with the new fingerprint and
 * checkpoint: publishing one version writes one standard's entry, not every
 * standard's. Past {@link MAX_TAIL_BYTES} of tail, the whole index again.
 */
export async function writeReadIndex(
  home: CanonHome,
  spaceDocumentId: string,
  fingerprint: Record<string, string[]>,
  state: SpaceState,
): Promise<void> {
  const path = indexPath(home, spaceDocumentId);
  const signatures = new Map<string, string>();
  for (const [name, standard] of state.standards) signatures.set(name, signatureOfState(standard));
  const onDisk = await written.current(path);
  const previous = onDisk?.state;
  if (onDisk !== undefined && previous !== undefined && previous.genesis === state.genesis.cid) {
    const changed: Record<string, IndexedStandard> = { ...previous.tail };
    let gone = false;
    for (const name of previous.signatures.keys()) if (!signatures.has(name)) gone = true;
    for (const [name, signature] of signatures)
      if (previous.signatures.get(name) !== signature)
        changed[name] = indexedStandard(state.standards.get(name) as StandardState);
    const tail: ReadIndexTail = {
      v: 1,
      fingerprint,
      standards: changed,
      checkpoint: checkpointOf(state),
    };
    const data = new TextEncoder().encode(JSON.stringify(tail));
    if (!gone && data.length <= MAX_TAIL_BYTES) {
      await written.writeTail(path, onDisk, data, {
        genesis: state.genesis.cid,
        signatures,
        tail: changed,
      });
      return;
    }
  }
  const standards: Record<string, IndexedStandard> = {};
  for (const [name, standard] of state.standards) standards[name] = indexedStandard(standard);
  const index: ReadIndex = {
    v: 2,
    genesis: state.genesis.cid,
    fingerprint,
    standards,
    checkpoint: checkpointOf(state),
  };
  await written.writeBase(path, new TextEncoder().encode(JSON.stringify(index)), {
    genesis: state.genesis.cid,
    signatures,
    tail: {},
  });
}

/** What this process last wrote of a read index: each standard's signature, and the standards in the tail. */
interface WrittenIndex {
  readonly genesis: string;
  readonly signatures: ReadonlyMap<string, string>;
  readonly tail: Readonly<Record<string, IndexedStandard>>;
}

/** Read indexes this process wrote, to append to. */
const written = new TailWriter<WrittenIndex>(READ_INDEX_TAG, READ_INDEX_TAIL_TAG);

/** Signatures by state object: a fold that changed one standard keeps every other's object (never changed), so theirs are not joined again. */
const stateSignatures = new WeakMap<StandardState, string>();

function signatureOfState(standard: StandardState): string {
  let signature = stateSignatures.get(standard);
  if (signature === undefined) {
    signature = signatureOf(standard.latest.cid, standard.heads, standard.releases);
    stateSignatures.set(standard, signature);
  }
  return signature;
}

/** What a standard's entry is made of: its latest release, its heads, and its releases (a CID fixes each release). */
function signatureOf(
  latest: string,
  heads: readonly { readonly cid: string }[],
  releases: ReadonlyMap<string, unknown>,
): string {
  return `${latest} ${heads.map((head) => head.cid).join(",")} ${[...releases.keys()].join(",")}`;
}

/** A standard as the read index keeps it. */
function indexedStandard(standard: StandardState): IndexedStandard {
  const releases: Record<string, IndexedRelease> = {};
  for (const [cid, { record }] of standard.releases) releases[cid] = indexedRelease(cid, record);
  return {
    latest: standard.latest.cid,
    heads: standard.heads.map((head) => head.cid),
    releases,
  };
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
    digest = contentDigestHex(contentCid);
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

import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { SpaceState } from "@canon/core";
import { CID } from "multiformats/cid";
import { BlobCache } from "../blobs/blob-cache.js";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";

/**
 * The read index: the fold's result for one space, written after every
 * command that loads the space, so that agents resolve context at start-up
 * without loading Automerge. It is a cache, never a source of truth: it is
 * tagged with the names of the stored chunk files of every document it was
 * computed from (automerge-repo names chunks by content hash, so any change
 * to a document changes the names) and ignored when they differ.
 */
interface ReadIndex {
  v: 1;
  genesis: string;
  fingerprint: Record<string, string[]>;
  standards: Record<string, IndexedStandard>;
}

interface IndexedStandard {
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
}

/** What a fast read found. */
export interface FastRead extends IndexedRelease {
  readonly content: Uint8Array;
}

function indexPath(home: CanonHome, documentId: string): string {
  return join(home.indexes, `${documentId}.json`);
}

async function fingerprintOf(
  home: CanonHome,
  documentIds: readonly string[],
): Promise<Record<string, string[]>> {
  const fingerprint: Record<string, string[]> = {};
  for (const id of documentIds) {
    const names: string[] = [];
    for (const kind of ["snapshot", "incremental"]) {
      const directory = join(home.replica, id.slice(0, 2), id.slice(2), kind);
      try {
        for (const name of await readdir(directory))
          if (!name.includes(".tmp-")) names.push(`${kind}/${name}`);
      } catch {
        // A document with no chunks of this kind.
      }
    }
    fingerprint[id] = names.sort();
  }
  return fingerprint;
}

/** Writes the read index of a space from its fold. Called after every command that loaded the space. */
export async function writeReadIndex(
  home: CanonHome,
  spaceDocumentId: string,
  documentIds: readonly string[],
  state: SpaceState,
): Promise<void> {
  const standards: Record<string, IndexedStandard> = {};
  for (const [name, standard] of state.standards) {
    const releases: Record<string, IndexedRelease> = {};
    for (const [cid, { record }] of standard.releases) {
      releases[cid] = {
        standard: name,
        version: record.version,
        contentCid: record.contentCid,
        releaseCid: cid,
        author: record.author,
        createdAt: record.createdAt,
        message: record.message,
      };
    }
    standards[name] = {
      latest: standard.latest.cid,
      heads: standard.heads.map((head) => head.cid),
      releases,
    };
  }
  const index: ReadIndex = {
    v: 1,
    genesis: state.genesis.cid,
    fingerprint: await fingerprintOf(home, [
      spaceDocumentId,
      ...documentIds.filter((id) => id !== spaceDocumentId),
    ]),
    standards,
  };
  await writeFileAtomic(indexPath(home, spaceDocumentId), JSON.stringify(index));
}

/**
 * Resolves `standard` (latest, a version number, or a content or release
 * CID) from the read index and the blob cache, without Automerge. Returns
 * undefined whenever it cannot answer with certainty (no index, a stale
 * index, a fork, a missing or damaged blob): the caller then takes the
 * slow path, which also reports errors properly. A pinned CID needs no
 * freshness check: a release, once accepted, never changes.
 */
export async function readFromIndex(
  home: CanonHome,
  spaceDocumentId: string,
  genesis: string,
  standard: string,
  selector: string | undefined,
): Promise<FastRead | undefined> {
  let index: ReadIndex;
  try {
    index = JSON.parse(await readFile(indexPath(home, spaceDocumentId), "utf8")) as ReadIndex;
  } catch {
    return undefined;
  }
  if (index?.v !== 1 || index.genesis !== genesis || typeof index.standards !== "object")
    return undefined;
  const entry = Object.hasOwn(index.standards, standard) ? index.standards[standard] : undefined;
  if (entry === undefined || typeof entry.releases !== "object") return undefined;

  let release: IndexedRelease | undefined;
  if (selector !== undefined && !/^\d+$/.test(selector)) {
    release =
      entry.releases[selector] ??
      Object.values(entry.releases).find((r) => r.contentCid === selector);
  } else {
    const current = await fingerprintOf(home, Object.keys(index.fingerprint ?? {}));
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
  if (release === undefined || typeof release.contentCid !== "string") return undefined;
  let digestHex: string;
  try {
    digestHex = Buffer.from(CID.parse(release.contentCid).multihash.digest).toString("hex");
  } catch {
    return undefined;
  }
  const content = await new BlobCache(home).get(release.contentCid, digestHex);
  if (content === undefined) return undefined;
  return { ...release, content };
}

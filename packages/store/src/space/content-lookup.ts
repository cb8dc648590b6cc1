import * as A from "@automerge/automerge";
import type { DocHandle } from "@automerge/automerge-repo";
import {
  type BundleEntry,
  contentMatches,
  decodeBundleManifest,
  type ExpectedContent,
  isBundleCid,
  parseCid,
  sha256Hex,
} from "@canon/core";
import { BlobCache } from "../caches/blob-cache.js";
import type { CanonHome } from "../home/canon-home.js";
import { mapsAt } from "./document-maps.js";
import { isBytes, type StandardDocument } from "./documents.js";
import type { LoadedSpace } from "./space-reader.js";

/**
 * Finds the bytes behind a content CID: the values a space's standard
 * documents hold for it, then the home's blob cache. One lives on each
 * replica, as `replica.content`: callers reach it through the replica, which
 * is loaded only when needed, so commands that answer from the caches never
 * load Automerge.
 */
export class ContentLookup {
  readonly #blobs: BlobCache;
  /** By set of standard documents: which documents hold each content CID, as of change count `changes`. */
  readonly #indexes = new WeakMap<
    LoadedSpace["standards"],
    { changes: number; size: number; holders: Map<string, DocHandle<StandardDocument>[]> }
  >();
  /** Documents whose changes are counted in {@link #changes}. */
  readonly #watched = new WeakSet<DocHandle<StandardDocument>>();
  /** Changes seen to any document ever indexed: an index built at another count is stale. */
  #changes = 0;
  /**
   * Bytes found to hash to a content CID, by the bytes themselves (the very
   * values a loaded document holds; nothing writes into them): the fold,
   * the write-back and the blob cache's writer check the same 10,000 values
   * of a join, hashed once.
   */
  readonly #matched = new WeakMap<Uint8Array, Set<string>>();

  /** A lookup falling back to `home`'s blob cache. */
  constructor(home: CanonHome) {
    this.#blobs = new BlobCache(home);
  }

  /**
   * The bytes of an accepted release: the first candidate (documents, then the
   * blob cache) that hashes to its content CID, or undefined. Never returns
   * bytes that do not match, whatever a peer wrote into the documents.
   */
  async verified(
    loaded: Pick<LoadedSpace, "standards">,
    release: ExpectedContent,
  ): Promise<Uint8Array | undefined> {
    for (const bytes of this.candidates(loaded, release.contentCid))
      if (await this.matches(bytes, release)) return bytes;
    const cached = await this.cached(release.contentCid);
    return cached !== undefined && (await this.matches(cached, release)) ? cached : undefined;
  }

  /**
   * Whether bytes are a content CID's (`contentMatches` of core, which
   * hashes them), remembering a match for these very bytes while they live:
   * the same value asked again is not hashed again. A mismatch is not
   * remembered (it is the rare case, and costs the same).
   */
  readonly matches = async (bytes: Uint8Array, expected: ExpectedContent): Promise<boolean> => {
    if (bytes.length !== expected.size) return false;
    const known = this.#matched.get(bytes);
    if (known?.has(expected.contentCid)) return true;
    if (!(await contentMatches(bytes, expected))) return false;
    if (known === undefined) this.#matched.set(bytes, new Set([expected.contentCid]));
    else known.add(expected.contentCid);
    return true;
  };

  /**
   * Everything an accepted release's content is made of, verified: the
   * content itself (a file's bytes or a bundle's manifest) first, then, for
   * a bundle, each file it lists with its entry. Undefined when any piece is
   * missing here (the fold accepted the release, so a missing piece means
   * local damage or a pruned document).
   */
  async pieces(
    loaded: Pick<LoadedSpace, "standards">,
    release: ExpectedContent,
  ): Promise<
    { content: Uint8Array; files: { entry: BundleEntry; bytes: Uint8Array }[] | null } | undefined
  > {
    const content = await this.verified(loaded, release);
    if (content === undefined) return undefined;
    if (!isBundleCid(release.contentCid)) return { content, files: null };
    let entries: readonly BundleEntry[];
    try {
      entries = decodeBundleManifest(content).files;
    } catch {
      return undefined;
    }
    const files: { entry: BundleEntry; bytes: Uint8Array }[] = [];
    for (const entry of entries) {
      const bytes = await this.verified(loaded, { contentCid: entry.cid, size: entry.size });
      if (bytes === undefined) return undefined;
      files.push({ entry, bytes });
    }
    return { content, files };
  }

  /** Bytes from the blob cache (hash-checked there), or undefined; never throws. */
  async cached(cid: string): Promise<Uint8Array | undefined> {
    try {
      return await this.#blobs.get(cid, sha256Hex(parseCid(cid)));
    } catch {
      return undefined;
    }
  }

  /**
   * Every value the standard documents hold for a content CID, including
   * concurrent (conflicting) writes, so a peer's write cannot shadow the
   * real bytes. Unverified: the fold checks each against the CID. Yielded
   * one at a time, each document's current value before its concurrent
   * ones, which are looked up only if the caller reads on.
   *
   * Only the documents that hold the CID are read: an index of which
   * document holds which CIDs is built once per set of documents and kept
   * until any of them changes (each document's `heads-changed` event makes
   * it stale). A fold of N releases in N documents thus costs N lookups,
   * not N².
   */
  *candidates(loaded: Pick<LoadedSpace, "standards">, contentCid: string): Generator<Uint8Array> {
    for (const handle of this.#holders(loaded.standards).get(contentCid) ?? []) {
      // Every `contents` map, if members recreated a deleted one concurrently.
      for (const contents of mapsAt(handle.doc(), "contents")) {
        if (!Object.hasOwn(contents, contentCid)) continue;
        const current = contents[contentCid];
        if (isBytes(current)) yield current;
        // The concurrent values are looked up only when asked for (a lookup each).
        for (const value of Object.values(conflictsOf(contents, contentCid))) {
          if (isBytes(value) && value !== current) yield value;
        }
      }
    }
  }

  /** Which of `standards` hold each content CID, as of their current values (see {@link candidates}). */
  #holders(
    standards: LoadedSpace["standards"],
  ): ReadonlyMap<string, DocHandle<StandardDocument>[]> {
    const known = this.#indexes.get(standards);
    if (known !== undefined && known.changes === this.#changes && known.size === standards.size)
      return known.holders;
    const holders = new Map<string, DocHandle<StandardDocument>[]>();
    for (const handle of standards.values()) {
      // Any change to a document indexed here makes every index stale (checked in O(1)).
      if (!this.#watched.has(handle)) {
        this.#watched.add(handle);
        handle.on("heads-changed", () => {
          this.#changes++;
        });
      }
      const cids = new Set<string>();
      for (const contents of mapsAt(handle.doc(), "contents"))
        for (const cid of Object.keys(contents)) cids.add(cid);
      for (const cid of cids) {
        const list = holders.get(cid);
        if (list === undefined) holders.set(cid, [handle]);
        else list.push(handle);
      }
    }
    this.#indexes.set(standards, { changes: this.#changes, size: standards.size, holders });
    return holders;
  }
}

/** The concurrent values of a map's key; none when the map is not one Automerge tracks. */
function conflictsOf(map: Record<string, unknown>, key: string): Record<string, unknown> {
  try {
    return A.getConflicts(map as A.Doc<Record<string, unknown>>, key) ?? {};
  } catch {
    return {};
  }
}

import type { Freshness } from "@canon/core";
import { readFromIndex } from "../caches/read-index.js";
import type { CanonHome } from "../home/canon-home.js";
import type { ReleaseView } from "./release-view.js";
import type { SpaceChoice } from "./space-session.js";

/** Which version of a standard to read. */
export interface ResolveRequest extends SpaceChoice {
  readonly standard: string;
  /** A version number, a content CID or a release CID; the latest when absent. */
  readonly selector?: string | undefined;
}

/** A resolved version with its exact bytes. */
export interface Resolved extends ReleaseView {
  readonly content: Uint8Array;
  /** Other heads when the standard is forked (concurrent releases not yet merged). */
  readonly forkedWith: readonly string[];
  /** When this home last synced the space with a relay or peer; null if never. */
  readonly lastSync: string | null;
  /** What the replica can prove about its view of the space (see `canon ls`). */
  readonly freshness: Freshness;
}

/**
 * Resolves a standard to one version and its bytes, offline. This is an
 * agent's start-up path, so it first answers from the read index and the blob
 * cache, loading neither Automerge nor a schema library; only when those
 * cannot answer with certainty does it load the replica and fold the space.
 * @throws CanonError `UNKNOWN_STANDARD`, `UNKNOWN_VERSION`, `AMBIGUOUS_VERSION` (two releases share
 * a version after a fork), `BAD_CID`, `NO_SPACE`, `STORAGE_DAMAGED`.
 */
export async function resolve(home: CanonHome, request: ResolveRequest): Promise<Resolved> {
  const fast = await readFromIndex(home, request);
  if (fast) return { ...fast, forkedWith: [] };
  const { resolveFromReplica } = await import("./resolve-from-replica.js");
  return resolveFromReplica(home, request);
}

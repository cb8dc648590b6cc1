import {
  CanonError,
  parseCid,
  type Release,
  type SignedRecord,
  type StandardState,
} from "@canon/core";
import type { CanonHome } from "../home/canon-home.js";
import { readConfig } from "../home/config.js";
import { readFromIndex } from "../space/read-index.js";
import { parseSpaceUrl } from "../space/space-url.js";
import { type SpaceChoice, withSpace } from "./space-session.js";

/** Which version of a standard to read. */
export interface ResolveRequest extends SpaceChoice {
  readonly standard: string;
  /** A version number, a content CID or a release CID; the latest when absent. */
  readonly selector?: string | undefined;
}

/** A resolved version with its exact bytes. */
export interface Resolved {
  readonly standard: string;
  readonly version: number;
  readonly cid: string;
  readonly release: string;
  readonly author: string;
  readonly createdAt: string;
  readonly message: string;
  readonly content: Uint8Array;
  /** Other heads when the standard is forked (concurrent releases not yet merged). */
  readonly forkedWith: readonly string[];
  /** When this home last synced the space with a relay or peer; null if never. */
  readonly lastSync: string | null;
}

/**
 * Resolves a standard to one version and its bytes, offline. Tries the read
 * index and blob cache first (no Automerge), then the replica.
 * @throws CanonError `UNKNOWN_STANDARD`, `UNKNOWN_VERSION`, `AMBIGUOUS_VERSION` (two releases share
 * a version after a fork), `BAD_CID`, `NO_SPACE`, `STORAGE_DAMAGED`.
 */
export async function resolve(home: CanonHome, request: ResolveRequest): Promise<Resolved> {
  const fast = await resolveFromIndex(home, request);
  if (fast) return fast;
  return withSpace(home, request, async ({ replica, state, folded }) => {
    const standard = state.standards.get(request.standard);
    if (standard === undefined) {
      const known = [...state.standards.keys()];
      const hint = known.length ? `known: ${known.join(", ")}` : "none published yet";
      throw new CanonError(
        "UNKNOWN_STANDARD",
        `no standard "${request.standard}" in this space (${hint})`,
      );
    }
    const signed = pick(standard, request.selector);
    // The fold accepted this release only after checking these bytes against its content CID.
    const content = replica.contentOf(folded, signed.record.contentCid);
    if (content === undefined)
      throw new CanonError(
        "UNKNOWN_VERSION",
        `content of ${signed.record.contentCid} is not in this replica`,
      );
    const config = await readConfig(home);
    return {
      ...describe(signed),
      content,
      forkedWith:
        standard.forked && request.selector === undefined
          ? standard.heads.slice(1).map((head) => head.cid)
          : [],
      lastSync: config.spaces[request.space ?? config.defaultSpace ?? ""]?.lastSyncAt ?? null,
    };
  });
}

async function resolveFromIndex(
  home: CanonHome,
  request: ResolveRequest,
): Promise<Resolved | undefined> {
  let url: string | undefined | null;
  let lastSync: string | null = null;
  try {
    const config = await readConfig(home);
    url = request.space ?? config.defaultSpace;
    if (!url) return undefined;
    lastSync = config.spaces[url]?.lastSyncAt ?? null;
    const address = parseSpaceUrl(url);
    const read = await readFromIndex(
      home,
      address.documentId,
      address.genesis,
      request.standard,
      request.selector,
    );
    if (read === undefined) return undefined;
    return { ...read, cid: read.contentCid, release: read.releaseCid, forkedWith: [], lastSync };
  } catch {
    return undefined;
  }
}

function pick(standard: StandardState, selector: string | undefined): SignedRecord<Release> {
  if (selector === undefined) return standard.latest;
  if (/^\d+$/.test(selector)) {
    const version = Number(selector);
    const matches = [...standard.releases.values()].filter(
      (signed) => signed.record.version === version,
    );
    if (matches.length === 0) {
      throw new CanonError(
        "UNKNOWN_VERSION",
        `${standard.name} has no version ${version} (latest is ${standard.latest.record.version})`,
      );
    }
    if (matches.length > 1) {
      throw new CanonError(
        "AMBIGUOUS_VERSION",
        `${standard.name}@${version} names ${matches.length} concurrent releases (${matches.map((m) => m.cid).join(", ")}); pick one by CID`,
      );
    }
    return matches[0] as SignedRecord<Release>;
  }
  const cid = parseCid(selector).toString();
  const signed =
    standard.releases.get(cid) ??
    [...standard.releases.values()].find((r) => r.record.contentCid === cid);
  if (signed === undefined)
    throw new CanonError(
      "UNKNOWN_VERSION",
      `${standard.name} has no release or content with CID ${cid}`,
    );
  return signed;
}

/** The fields every view of a release shows. */
export function describe(signed: SignedRecord<Release>) {
  return {
    standard: signed.record.standard,
    version: signed.record.version,
    cid: signed.record.contentCid,
    release: signed.cid,
    author: signed.record.author,
    createdAt: signed.record.createdAt,
    message: signed.record.message,
  };
}

import { type Freshness, freshnessOf } from "@canon/core";
import { freshnessOfListing, readListingCache } from "../caches/listing-cache.js";
import type { CanonHome } from "../home/canon-home.js";
import { readConfig } from "../home/config.js";
import { type ReleaseView, releaseView } from "./release-view.js";
import { chooseSpace, type SpaceChoice } from "./space-session.js";
import { viewSpace } from "./space-view.js";

/** One standard in a listing. */
export interface ListedStandard extends ReleaseView {
  readonly forked: boolean;
  readonly heads: number;
  readonly openCorrections: number;
  /** True when a maintainer retired it (listed only with `all`). */
  readonly retired: boolean;
  /** Its name up to and including the last `/` (`skills/` for `skills/codeql`), or null for a name of one segment. */
  readonly group: string | null;
}

/** The standards of a space. */
export interface Listing {
  readonly space: string;
  readonly name: string;
  readonly standards: readonly ListedStandard[];
  readonly lastSync: string | null;
  /** What this replica can prove about its view: the newest checkpoint, and whether it is complete and current. */
  readonly freshness: Freshness;
  /** Retired standards left out of `standards` (see `all`). */
  readonly retired: number;
  /** How many entries the fold left out (see `canon doctor`). */
  readonly rejected: number;
  /** Standards whose stored files are damaged: listed here, left out of `standards`. */
  readonly damaged: readonly { readonly standard: string; readonly message: string }[];
}

/** Lists the standards of a space with their latest version, by name; retired ones only with `all`. */
export async function list(
  home: CanonHome,
  request: SpaceChoice & { readonly all?: boolean | undefined } = {},
): Promise<Listing> {
  // The listing cache, while the disk proof holds: a read of one small file.
  const chosen = await chooseSpace(home, request);
  const cached = await readListingCache(home, chosen.address, { statFiles: true });
  if (cached !== undefined) {
    const config = await readConfig(home);
    const shown = cached.standards.filter((entry) => request.all || !entry.retired);
    return {
      space: chosen.url,
      name: cached.name,
      // One object an entry, its fields set at once (no spread): 1,000 of them in a cold `ls`.
      standards: shown.map(({ latest, forked, heads, openCorrections, retired }) => ({
        standard: latest.standard,
        version: latest.version,
        cid: latest.contentCid,
        release: latest.releaseCid,
        author: latest.author,
        createdAt: latest.createdAt,
        message: latest.message,
        forked,
        heads,
        openCorrections,
        retired,
        group: groupOf(latest.standard),
      })),
      retired: request.all ? 0 : cached.standards.length - shown.length,
      lastSync: config.spaces[chosen.url]?.lastSyncAt ?? null,
      freshness: freshnessOfListing(cached, new Date()),
      rejected: cached.rejected,
      damaged: [],
    };
  }
  return viewSpace(home, request, async ({ state, chosen, rejected, damaged }) => {
    const config = await readConfig(home);
    return {
      space: chosen.url,
      name: state.genesis.record.name,
      standards: [...state.standards.values()]
        .filter((standard) => ![...damaged.values()].some(({ name }) => name === standard.name))
        .filter((standard) => request.all || standard.retired === undefined)
        .map((standard) => ({
          ...releaseView(standard.latest),
          forked: standard.forked,
          heads: standard.heads.length,
          openCorrections: standard.openCorrections.length,
          retired: standard.retired !== undefined,
          group: groupOf(standard.name),
        })),
      retired: request.all
        ? 0
        : [...state.standards.values()].filter((standard) => standard.retired !== undefined).length,
      lastSync: config.spaces[chosen.url]?.lastSyncAt ?? null,
      freshness: freshnessOf(state, new Date()),
      rejected: rejected.length,
      damaged: [...damaged.values()].map(({ name, error }) => ({
        standard: name,
        message: error.message,
      })),
    };
  });
}

/** A name's group: everything up to and including its last `/`, or null when it has one segment. */
export function groupOf(name: string): string | null {
  const slash = name.lastIndexOf("/");
  return slash === -1 ? null : name.slice(0, slash + 1);
}

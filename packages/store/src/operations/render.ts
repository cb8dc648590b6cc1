import {
  CanonError,
  type Correction,
  correctionsInForce,
  type Freshness,
  freshnessOf,
  isBundleCid,
  parseCid,
  type Release,
  type RenderedContext,
  renderContext,
  type SignedRecord,
  sha256Hex,
} from "@canon/core";
import { BlobCache } from "../caches/blob-cache.js";
import type { CanonHome } from "../home/canon-home.js";
import { readConfig } from "../home/config.js";
import { findStandard } from "./find-standard.js";
import { pickRelease } from "./pick-release.js";
import { type ReleaseView, releaseView } from "./release-view.js";
import type { ResolveRequest } from "./resolve.js";
import { resolve } from "./resolve.js";
import { assertReadable, type SpaceChoice } from "./space-session.js";
import { viewSpace } from "./space-view.js";

/** A release rendered with the corrections in force: what an agent reads. */
export interface RenderedRelease extends ReleaseView {
  /** The rendered bytes (see `renderContext` for the format). */
  readonly content: Uint8Array;
  /** Raw sha2-256 CID of the rendered bytes. */
  readonly renderedCid: string;
  /** Corrections listed, by CID, oldest first. */
  readonly corrections: readonly string[];
  /** Corrections in force that did not fit and are only counted. */
  readonly omittedCorrections: number;
  /** False for a release that is not UTF-8 text or is a bundle: the content is then the corrections section alone. */
  readonly spliced: boolean;
  /** Other heads when the standard is forked and the latest was asked for. */
  readonly forkedWith: readonly string[];
  readonly lastSync: string | null;
  /** What the replica can prove about its view of the space. */
  readonly freshness: Freshness;
}

/**
 * A standard's rendered context, offline: the chosen release (the latest by
 * default) followed by the corrections in force for it.
 * @throws CanonError as {@link resolve} does.
 */
export async function resolveRendered(
  home: CanonHome,
  request: ResolveRequest,
): Promise<RenderedRelease> {
  const plan = await viewSpace(home, request, async (view) => {
    assertReadable(view, request.standard);
    const standard = findStandard(view.state, request.standard);
    const release = pickRelease(standard, request.selector);
    const config = await readConfig(home);
    return {
      release,
      corrections: correctionsInForce(standard, release.cid),
      forkedWith:
        standard.forked && request.selector === undefined
          ? standard.heads.slice(1).map((head) => head.cid)
          : [],
      lastSync: config.spaces[view.chosen.url]?.lastSyncAt ?? null,
      freshness: freshnessOf(view.state, new Date()),
    };
  });
  const rendered = await renderRelease(home, request, plan.release, plan.corrections);
  return {
    ...releaseView(plan.release),
    content: rendered.bytes,
    renderedCid: rendered.cid,
    corrections: rendered.shown,
    omittedCorrections: rendered.omitted,
    spliced: rendered.spliced,
    forkedWith: plan.forkedWith,
    lastSync: plan.lastSync,
    freshness: plan.freshness,
  };
}

/**
 * Renders one accepted release with the given corrections in force. Its
 * bytes come from the blob cache (checked against the content CID), or
 * from the replica when the cache lacks them.
 */
export async function renderRelease(
  home: CanonHome,
  choice: SpaceChoice,
  release: SignedRecord<Release>,
  corrections: readonly SignedRecord<Correction>[],
): Promise<RenderedContext> {
  const { contentCid, standard, version } = release.record;
  const cached = await new BlobCache(home).get(contentCid, sha256Hex(parseCid(contentCid)));
  const content =
    cached ?? (await resolve(home, { ...choice, standard, selector: release.cid })).content;
  if (content === undefined)
    throw new CanonError("UNKNOWN_VERSION", `content of ${contentCid} is not in this replica`);
  return renderContext({
    standard,
    version,
    content,
    corrections,
    bundle: isBundleCid(contentCid),
  });
}

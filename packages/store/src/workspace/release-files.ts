import type { CanonHome } from "../home/canon-home.js";
import { resolve } from "../operations/resolve.js";
import type { SpaceChoice } from "../operations/space-session.js";
import type { TargetBundleFile } from "./targets/target-input.js";

/** A release's exact bytes and, for a bundle, its files. */
export interface ReleaseFiles {
  readonly content: Uint8Array;
  readonly files: readonly TargetBundleFile[] | null;
}

/**
 * The bytes of one release (by release CID), offline: from the blob cache when
 * it has them, else the replica.
 * @throws CanonError as `resolve` does.
 */
export async function releaseFiles(
  home: CanonHome,
  choice: SpaceChoice,
  standard: string,
  releaseCid: string,
): Promise<ReleaseFiles> {
  const resolved = await resolve(home, { ...choice, standard, selector: releaseCid });
  return { content: resolved.content, files: null };
}

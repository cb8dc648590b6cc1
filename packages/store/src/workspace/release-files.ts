import type { CanonHome } from "../home/canon-home.js";
import type { BundleFile } from "../operations/bundle-folder.js";
import { resolveFiles } from "../operations/resolve-files.js";
import type { SpaceChoice } from "../operations/space-session.js";

/** A release's exact bytes and, for a bundle, its files. */
export interface ReleaseFiles {
  readonly content: Uint8Array;
  readonly files: readonly BundleFile[] | null;
}

/**
 * The bytes of one release (by release CID), offline: from the blob cache when
 * it has them (a bundle's files too), else the replica.
 * @throws CanonError as `resolveFiles` does.
 */
export async function releaseFiles(
  home: CanonHome,
  choice: SpaceChoice,
  standard: string,
  releaseCid: string,
): Promise<ReleaseFiles> {
  const resolved = await resolveFiles(home, { ...choice, standard, selector: releaseCid });
  return { content: resolved.content, files: resolved.files };
}

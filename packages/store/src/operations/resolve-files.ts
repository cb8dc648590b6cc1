import {
  CanonError,
  decodeBundleManifest,
  isBundleCid,
  MODE_EXECUTABLE,
  parseCid,
  sha256Hex,
} from "@canon/core";
import { BlobCache } from "../caches/blob-cache.js";
import type { CanonHome } from "../home/canon-home.js";
import type { BundleFile } from "./bundle-folder.js";
import { findStandard } from "./find-standard.js";
import { pickRelease } from "./pick-release.js";
import { type Resolved, type ResolveRequest, resolve } from "./resolve.js";
import { assertReadable, withSpace } from "./space-session.js";

/** A resolved version with its files: `files` is null for a single-file release, else every file of its bundle. */
export type ResolvedFiles = Resolved & { readonly files: readonly BundleFile[] | null };

/**
 * Resolves a standard like {@link resolve}, and for a bundle also reads
 * every file it lists, each checked against its raw CID: from the blob
 * cache first (no Automerge), else from the replica's documents.
 * @throws CanonError as {@link resolve}; `STORAGE_DAMAGED` when the manifest
 * cannot be decoded, `UNKNOWN_VERSION` when a file is not in this replica.
 */
export async function resolveFiles(
  home: CanonHome,
  request: ResolveRequest,
): Promise<ResolvedFiles> {
  const resolved = await resolve(home, request);
  if (!isBundleCid(resolved.cid)) return { ...resolved, files: null };
  let manifest: ReturnType<typeof decodeBundleManifest>;
  try {
    manifest = decodeBundleManifest(resolved.content);
  } catch (cause) {
    throw new CanonError(
      "STORAGE_DAMAGED",
      `the manifest of ${resolved.standard}@${resolved.version} does not decode: ${(cause as Error).message}`,
      { cause },
    );
  }
  const blobs = new BlobCache(home);
  const files: BundleFile[] = [];
  for (const entry of manifest.files) {
    const bytes = await blobs.get(entry.cid, sha256Hex(parseCid(entry.cid)));
    if (bytes === undefined || bytes.length !== entry.size)
      return { ...resolved, files: await filesFromReplica(home, request, resolved.release) };
    files.push({
      path: entry.path,
      cid: entry.cid,
      size: entry.size,
      executable: entry.mode === MODE_EXECUTABLE,
      bytes,
    });
  }
  return { ...resolved, files };
}

/** The slow path: the bundle's files from the replica's documents (which also refills the blob cache). */
async function filesFromReplica(
  home: CanonHome,
  request: ResolveRequest,
  releaseCid: string,
): Promise<BundleFile[]> {
  return withSpace(home, request, async ({ replica, state, folded }) => {
    assertReadable(folded, request.standard);
    const signed = pickRelease(findStandard(state, request.standard), releaseCid);
    const pieces = await replica.content.pieces(folded, signed.record);
    if (pieces === undefined || pieces.files === null)
      throw new CanonError(
        "UNKNOWN_VERSION",
        `a file of ${request.standard}@${signed.record.version} is not in this replica; run \`canon sync\``,
      );
    return pieces.files.map(({ entry, bytes }) => ({
      path: entry.path,
      cid: entry.cid,
      size: entry.size,
      executable: entry.mode === MODE_EXECUTABLE,
      bytes,
    }));
  });
}

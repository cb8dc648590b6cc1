import {
  readStampIndex,
  type StampIndex,
  stampIndexOf,
  writeStampIndex,
} from "../caches/stamp-index.js";
import { readVerifiedSnapshot } from "../caches/verified-snapshot.js";
import type { CanonHome } from "../home/canon-home.js";
import { chunkFingerprint } from "../storage/chunk-layout.js";
import type { SpaceView } from "./space-view.js";

/**
 * The stamp index of a space as a view of it folded it (every shard; with
 * `sha256s`, the one on disk holds those outputs' shards): the one on disk when
 * it still describes the chunk files there, else computed from the view and
 * written back when the verified snapshot the view came from is current
 * (otherwise the slow path's cache refresh writes it).
 */
export async function currentStampIndex(
  home: CanonHome,
  view: SpaceView,
  options: { readonly sha256s?: readonly string[] } = {},
): Promise<StampIndex> {
  const { address } = view.chosen;
  const onDisk = await readStampIndex(home, address, options);
  if (onDisk !== undefined) return onDisk;
  const snapshot = await readVerifiedSnapshot(home, address.documentId);
  const fingerprint =
    snapshot === undefined
      ? {}
      : await chunkFingerprint(home.replica, Object.keys(snapshot.fingerprint));
  const index = stampIndexOf(address.genesis, fingerprint, {
    verified: view.verified,
    state: view.state,
  });
  if (
    snapshot !== undefined &&
    JSON.stringify(fingerprint) === JSON.stringify(snapshot.fingerprint)
  )
    await writeStampIndex(home, address.documentId, index).catch(() => {});
  return index;
}

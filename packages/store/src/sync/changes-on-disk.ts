import * as A from "@automerge/automerge";
import type { DocHandle } from "@automerge/automerge-repo";
import type { Replica } from "../replica.js";
import { chunkFingerprint } from "../storage/chunk-layout.js";

/**
 * Merges into a long-running replica (a watch) the changes another process
 * wrote into the same home's storage meanwhile, such as a stamp `canon stamp`
 * appended to the agent's feed: every chunk file of these documents that this
 * process has not seen is loaded (checksummed like any chunk) and merged, so
 * the change goes out to the relay at once instead of at the next `sync`.
 * Returns how many chunks it merged. A damaged chunk is left for the next
 * command that loads the document, which reports it.
 */
export async function mergeChangesOnDisk(
  replica: Replica,
  handles: readonly DocHandle<unknown>[],
): Promise<number> {
  const ids = handles.map((handle) => handle.documentId);
  const onDisk = await chunkFingerprint(replica.home.replica, ids);
  let merged = 0;
  for (const handle of handles) {
    const seen = new Set(replica.storage.chunkNames(handle.documentId));
    for (const name of onDisk[handle.documentId] ?? []) {
      if (seen.has(name)) continue;
      let bytes: Uint8Array | undefined;
      try {
        bytes = await replica.storage.loadChunk(handle.documentId, name);
      } catch {
        continue;
      }
      if (bytes === undefined) continue;
      const chunk = bytes;
      handle.update((doc) => A.loadIncremental(doc, chunk));
      merged += 1;
    }
  }
  return merged;
}

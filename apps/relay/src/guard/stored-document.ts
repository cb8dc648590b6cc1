import * as A from "@automerge/automerge";
import type { StorageAdapterInterface } from "@automerge/automerge-repo";
import { CHUNK_KINDS } from "@canon/store";

/**
 * The document as the relay's storage holds it, read straight from the chunks
 * (an empty document when there are none, or they do not load), without the
 * Repo. Asking the Repo instead (`repo.find`) would wait for the document to
 * be ready, and when only its sync state is on disk the Repo then asks the
 * network, which includes the very message being checked: a deadlock until
 * the Repo gives up a minute later. Cost: one read and load of the document.
 */
export async function storedDocument(
  storage: StorageAdapterInterface,
  documentId: string,
): Promise<A.Doc<unknown>> {
  const chunks: Uint8Array[] = [];
  for (const kind of CHUNK_KINDS) {
    for (const chunk of await storage.loadRange([documentId, kind])) {
      if (chunk.data !== undefined) chunks.push(chunk.data);
    }
  }
  try {
    // `A.load` computes no patches: `loadIncremental` into an empty document
    // would, and traps on a document nested some 20,000 deep.
    return chunks.length === 0 ? A.init() : A.load(concatenate(chunks));
  } catch {
    return A.init();
  }
}

function concatenate(chunks: readonly Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return joined;
}

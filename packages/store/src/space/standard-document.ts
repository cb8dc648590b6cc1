import type { DocHandle } from "@automerge/automerge-repo";
import type { StandardDocument } from "./documents.js";
import type { LoadedSpace } from "./space-reader.js";

/**
 * The document that holds a standard's records: the first loaded one whose
 * name is the standard's (if concurrent creations made two, the smallest id,
 * as the space lists them sorted). Undefined when none is loaded.
 */
export function standardDocumentOf(
  loaded: Pick<LoadedSpace, "standards">,
  standard: string,
): DocHandle<StandardDocument> | undefined {
  for (const handle of loaded.standards.values()) if (handle.doc().name === standard) return handle;
  return undefined;
}

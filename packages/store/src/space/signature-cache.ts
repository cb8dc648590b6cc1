import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../home/atomic-write.js";
import type { CanonHome } from "../home/canon-home.js";

/**
 * CIDs of records whose signatures this home has verified, one per line, in
 * `$CANON_HOME/index/<space-document-id>.signatures`. A CID fixes a record's
 * bytes, so a signature that verified once verifies forever; the next process
 * skips those checks (most of a cold open's cost) and still runs every other.
 * As trusted as the replica beside it: whoever can edit this file can edit
 * the replica. A missing or unreadable file means "verify everything".
 */
function pathOf(home: CanonHome, spaceDocumentId: string): string {
  return join(home.indexes, `${spaceDocumentId}.signatures`);
}

/** The CIDs verified before; empty when there is no cache. */
export async function readVerifiedSignatures(
  home: CanonHome,
  spaceDocumentId: string,
): Promise<Set<string>> {
  try {
    const text = await readFile(pathOf(home, spaceDocumentId), "utf8");
    return new Set(text.split("\n").filter((line) => line.length > 0));
  } catch {
    return new Set();
  }
}

/** Replaces the cache with `cids`. */
export async function writeVerifiedSignatures(
  home: CanonHome,
  spaceDocumentId: string,
  cids: Iterable<string>,
): Promise<void> {
  await writeFileAtomic(pathOf(home, spaceDocumentId), `${[...cids].sort().join("\n")}\n`);
}

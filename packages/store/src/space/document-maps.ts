import * as A from "@automerge/automerge";
import { isMap } from "./documents.js";

/**
 * Every map a document holds at `field`: the one Automerge shows, then those
 * that lost a conflict. Two members recreating a map a peer deleted make two
 * concurrent maps, of which Automerge shows one; reading all of them keeps
 * what was written into the other. Unverified, like every entry.
 */
export function mapsAt(doc: unknown, field: string): Record<string, unknown>[] {
  if (!isMap(doc)) return [];
  const shown = doc[field];
  const maps = isMap(shown) ? [shown] : [];
  let conflicts: Record<string, unknown> | undefined;
  try {
    conflicts = A.getConflicts(doc as A.Doc<Record<string, unknown>>, field);
  } catch {
    conflicts = undefined;
  }
  for (const value of Object.values(conflicts ?? {}))
    if (isMap(value) && value !== shown) maps.push(value);
  return maps;
}

import * as A from "@automerge/automerge";
import { isMap } from "./documents.js";

/**
 * What {@link mapsAt} found, by document value and field. A document value
 * never changes (a change makes a new one), so neither does the answer: the
 * fold and the caches' writer ask for a standard's `contents` once a
 * release, 10,000 times on a join, and each asking costs a lookup of
 * conflicts in Automerge.
 */
const found = new WeakMap<object, Map<string, readonly Record<string, unknown>[]>>();

/**
 * Every map a document holds at `field`: the one Automerge shows, then those
 * that lost a conflict. Two members recreating a map a peer deleted make two
 * concurrent maps, of which Automerge shows one; reading all of them keeps
 * what was written into the other. Unverified, like every entry.
 */
export function mapsAt(doc: unknown, field: string): readonly Record<string, unknown>[] {
  if (!isMap(doc)) return [];
  const known = found.get(doc)?.get(field);
  if (known !== undefined) return known;
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
  const byField = found.get(doc) ?? new Map<string, readonly Record<string, unknown>[]>();
  byField.set(field, maps);
  found.set(doc, byField);
  return maps;
}

import type { LoadedSpace } from "./space-reader.js";

/**
 * The heads of a loaded space's documents, as one comparable string (kept
 * apart from the replica and its space reader so that importing it does not
 * load Automerge).
 */
export function headsOf(loaded: Pick<LoadedSpace, "space" | "standards">): string {
  return JSON.stringify([
    loaded.space.heads(),
    ...[...loaded.standards.values()].map((handle) => handle.heads()),
  ]);
}

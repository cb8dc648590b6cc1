import { CanonError } from "@canon/core";
import type { ProjectManifest, Target } from "./project-manifest.js";
import { sameFileKey } from "./same-file-key.js";
import { targetFiles } from "./targets/target-files.js";

/** Where one of canon.json's targets writes. */
export interface TargetPlace {
  readonly standard: string;
  readonly target: Target;
  /** The file it writes, or the folder for a skill (relative, `/`-separated). */
  readonly path: string;
  /** True for a skill target (a folder). */
  readonly folder: boolean;
}

/** Every place canon.json's targets write, in the manifest's order, from each target's own code. */
export function targetPlaces(manifest: ProjectManifest): TargetPlace[] {
  const places: TargetPlace[] = [];
  for (const [standard, entry] of Object.entries(manifest.standards)) {
    for (const target of entry.targets) {
      // A skill is its folder.
      const [first] = targetFiles(
        {
          standard,
          content: new Uint8Array(),
          rendered: new Uint8Array(),
          section: null,
          files: null,
        },
        target,
        () => {},
      );
      if (first === undefined) continue;
      const folder = target.type === "skill";
      const path = folder ? first.path.slice(0, -"/SKILL.md".length) : first.path;
      places.push({ standard, target, path, folder });
    }
  }
  return places;
}

/**
 * Refuses a manifest in which two targets would write the same place: the
 * same file, or a file inside another standard's skill folder, ignoring case
 * and Unicode normalisation ({@link sameFileKey}: on macOS and Windows those
 * are one file). `add` checks this before it
 * writes canon.json, so canon.json never names a tree `pull` cannot write;
 * `pull` checks every file again.
 * @throws CanonError `BAD_CONFIG` naming both standards and the place.
 */
export function assertDistinctTargets(manifest: ProjectManifest, manifestPath: string): void {
  // Each place is looked up by its key, its folders' keys and the folders under it: linear in the
  // places (a canon.json of 17,000 standards took `add` over a minute compared pairwise).
  const files = new Map<string, TargetPlace>();
  const skillFolders = new Map<string, TargetPlace>();
  const foldersHolding = new Map<string, TargetPlace>();
  for (const place of targetPlaces(manifest)) {
    const { standard, path, folder } = place;
    const key = sameFileKey(path);
    const ancestors = key
      .split("/")
      .slice(0, -1)
      .map((_, i, segments) => segments.slice(0, i + 1).join("/"));
    const same = files.get(key);
    const inside = ancestors.map((ancestor) => skillFolders.get(ancestor)).find(Boolean);
    const around = folder ? foldersHolding.get(key) : undefined;
    const other = same ?? inside ?? around;
    if (other !== undefined)
      throw new CanonError(
        "BAD_CONFIG",
        `${manifestPath}: ${other.standard} and ${standard} both write ${same !== undefined ? path : `under ${inside !== undefined ? other.path : path}`}; give one of them another path (--as <type>:<path>)`,
      );
    files.set(key, place);
    if (folder) skillFolders.set(key, place);
    for (const ancestor of ancestors)
      if (!foldersHolding.has(ancestor)) foldersHolding.set(ancestor, place);
  }
}

import { CanonError } from "@canon/core";
import type { ProjectManifest } from "./project-manifest.js";
import { sameFileKey } from "./same-file-key.js";
import { targetFiles } from "./targets/target-files.js";

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
  const places: { standard: string; path: string; folder: boolean }[] = [];
  for (const [standard, entry] of Object.entries(manifest.standards)) {
    for (const target of entry.targets) {
      // Where the target writes, from the target's own code: a skill is its folder.
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
      const key = sameFileKey(path);
      for (const other of places) {
        const otherKey = sameFileKey(other.path);
        const clash =
          key === otherKey ||
          (other.folder && key.startsWith(`${otherKey}/`)) ||
          (folder && otherKey.startsWith(`${key}/`));
        if (clash)
          throw new CanonError(
            "BAD_CONFIG",
            `${manifestPath}: ${other.standard} and ${standard} both write ${key === otherKey ? path : `under ${folder ? path : other.path}`}; give one of them another path (--as <type>:<path>)`,
          );
      }
      places.push({ standard, path, folder });
    }
  }
}

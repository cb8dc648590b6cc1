// A rollup plugin for the bundles that ship (the CLI, @canon/agent): it fails
// the build unless every automerge-repo module bundled comes from one copy,
// the one pnpm patched with patches/@automerge__automerge-repo@*.patch. npm
// installs automerge-repo unpatched, so the bundle is the only way the patch
// reaches users (docs/decisions/2026-11-30-packaging.md); a second copy (a
// dependency asking for another version) or a stale install would ship
// without it silently.
import { sep } from "node:path";

/** The folder of the automerge-repo package a module id lies in; undefined for other modules. */
function automergeRepoRoot(id) {
  const marker = `${sep}@automerge${sep}automerge-repo${sep}`;
  const at = id.indexOf(marker);
  return at === -1 ? undefined : id.slice(0, at + marker.length - 1);
}

/**
 * Rollup plugin: errors at the end of the build when the bundled
 * automerge-repo modules come from more than one folder, or from one that
 * pnpm did not patch (its `.pnpm` folder name carries `patch_hash=`).
 */
export function patchedAutomergeRepo() {
  return {
    name: "patched-automerge-repo",
    buildEnd(error) {
      if (error) return;
      const roots = new Set();
      for (const id of this.getModuleIds()) {
        const root = automergeRepoRoot(id);
        if (root !== undefined) roots.add(root);
      }
      if (roots.size === 0) this.error("no automerge-repo module was bundled: is it external?");
      if (roots.size > 1)
        this.error(`automerge-repo would be bundled twice, from ${[...roots].join(" and ")}`);
      const [root] = roots;
      if (!root.includes("patch_hash="))
        this.error(
          `the automerge-repo bundled (${root}) is not the patched one: run \`pnpm install\` so patches/ applies`,
        );
    },
  };
}

// What the bundles that ship (the CLI, @canon/agent) leave outside: Node's
// built-ins, and Automerge itself (`@automerge/automerge`, WASM), a dependency
// npm installs. automerge-repo is bundled (patched, see
// patched-automerge-repo.mjs and docs/decisions/2026-11-30-packaging.md): the
// pattern must not match `@automerge/automerge-repo*`. One module for both
// rollup configs, so the two bundles cannot drift apart.

/** Automerge itself and its subpaths (`/slim`), not `@automerge/automerge-repo*`. */
export const AUTOMERGE = /^@automerge\/automerge(\/|$)/;

/** Rollup's `external`: true for a Node built-in (`node:`) or Automerge itself. */
export function externalToBundles(id) {
  return id.startsWith("node:") || AUTOMERGE.test(id);
}

// Bundles the agent library (compiled by tsc into build/) into one ESM file,
// dist/index.mjs, with Canon's own packages, zod, multiformats and
// automerge-repo (patched by this workspace, see
// docs/decisions/2026-11-30-packaging.md) inside and Automerge itself (WASM)
// external, as the CLI does (packages/cli/rollup.config.mjs).
// Its public types are declared in src/index.ts itself, so build/index.d.ts
// imports nothing of Canon's and ships as dist/index.d.ts.
import commonjs from "@rollup/plugin-commonjs";
import { nodeResolve } from "@rollup/plugin-node-resolve";
import { externalToBundles } from "../../scripts/automerge-external.mjs";
import { patchedAutomergeRepo } from "../../scripts/patched-automerge-repo.mjs";

export default {
  input: { index: "build/index.js" },
  output: { dir: "dist", format: "esm", entryFileNames: "[name].mjs", inlineDynamicImports: true },
  external: externalToBundles,
  plugins: [
    nodeResolve({ preferBuiltins: true, exportConditions: ["node"] }),
    commonjs(),
    patchedAutomergeRepo(),
  ],
  onwarn(warning, warn) {
    if (warning.code === "CIRCULAR_DEPENDENCY" && /node_modules/.test(warning.message)) return;
    if (warning.code === "INVALID_ANNOTATION" && /node_modules/.test(warning.id ?? "")) return;
    warn(warning);
  },
};

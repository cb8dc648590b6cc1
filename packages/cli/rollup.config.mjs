// Bundles the CLI (compiled by tsc into build/) into dist/: the entry holds
// only the argument parser, each command is a chunk loaded when it runs, and
// tree shaking happens before chunking, so the agent's hot path
// (`canon show`) loads neither Automerge nor zod. Rollup is used rather than
// esbuild because esbuild's code splitting keeps every module a barrel file
// re-exports, which put zod on that path. automerge-repo and its WebSocket
// adapter are bundled from this workspace's node_modules, where pnpm has
// applied Canon's patch (pnpm-workspace.yaml, patchedDependencies): npm would
// install them unpatched (docs/decisions/2026-11-30-packaging.md). Automerge
// itself (`@automerge/automerge`, WASM) stays external, a dependency npm installs.
import commonjs from "@rollup/plugin-commonjs";
import json from "@rollup/plugin-json";
import { nodeResolve } from "@rollup/plugin-node-resolve";
import { externalToBundles } from "../../scripts/automerge-external.mjs";
import { patchedAutomergeRepo } from "../../scripts/patched-automerge-repo.mjs";

/** automerge-repo's files and its WebSocket adapter's, as resolved in node_modules. */
const AUTOMERGE_REPO = /[\\/]@automerge[\\/]automerge-repo(-network-websocket)?[\\/]/;

/**
 * automerge-repo's modules import each other in a cycle (Repo.js, index.js):
 * split across chunks they would run out of order, so one chunk holds them
 * all, loaded only by the commands that sync or open a replica. The CommonJS
 * helpers every converted module shares get a chunk of their own: in that
 * one, they would make the hot path's chunks import automerge-repo (and with
 * it Automerge's WASM).
 */
function manualChunks(id) {
  if (id === "\0commonjsHelpers.js") return "commonjs-helpers";
  if (AUTOMERGE_REPO.test(id)) return "automerge-repo";
  return undefined;
}

/** Bundled code of the workspace's own packages: no side effects at import, so tree shaking may drop it. */
const treeshake = {
  moduleSideEffects: (id) =>
    !/[\\/](packages[\\/](core|store|mcp)|apps[\\/]relay|zod|multiformats|@ipld|cborg)[\\/]/.test(
      id,
    ),
};

/** Warnings about dependencies' own files are not ours to fix. */
function onwarn(warning, warn) {
  if (warning.code === "CIRCULAR_DEPENDENCY" && /node_modules/.test(warning.message)) return;
  // Pure-call annotations rollup cannot place, inside dependencies' own files (zod).
  if (warning.code === "INVALID_ANNOTATION" && /node_modules/.test(warning.id ?? "")) return;
  warn(warning);
}

/**
 * The installed bin, `dist/canon.cjs` (bin.ts): one CommonJS file holding the
 * thin client and nothing else (Node starts a CommonJS file as fast as
 * `node -e 0`, an ES module 5-10 ms slower), which imports `canon.mjs` for
 * anything the home's owner did not take (docs/decisions/2026-11-30-round-trip.md).
 */
const bin = {
  input: "build/bin.js",
  output: {
    file: "dist/canon.cjs",
    format: "cjs",
    banner: "#!/usr/bin/env node",
    inlineDynamicImports: true,
  },
  external: (id, ...rest) => id === "./canon.mjs" || externalToBundles(id, ...rest),
  plugins: [
    nodeResolve({ preferBuiltins: true, exportConditions: ["node"] }),
    commonjs(),
    json(),
    patchedAutomergeRepo(),
  ],
  // Node's built-ins have no side effects the client needs: one it does not use is not loaded.
  treeshake: {
    moduleSideEffects: (id, external) =>
      !(external && id.startsWith("node:")) && treeshake.moduleSideEffects(id),
  },
  onwarn,
};

/**
 * The plainest `canon show` answered from the read index (show-fast.ts), as
 * `dist/show.cjs`, which the bin requires only for `show`: one CommonJS file,
 * where the ES module path loads ten.
 */
const show = {
  ...bin,
  input: "build/show-fast.js",
  output: { file: "dist/show.cjs", format: "cjs", inlineDynamicImports: true },
  external: externalToBundles,
};

/**
 * The worker thread a join checks a bulk answer's records on
 * (`packages/store/src/sync/record-checks-worker.ts`), a second entry of the
 * ES module bundle so that it shares its chunks (core's checks) with the
 * commands. It is written beside them, `dist/chunks/record-checks-worker.mjs`,
 * where the store's `records-checked-ahead.ts` (in a chunk) looks for it.
 */
const RECORD_CHECKS_WORKER = "record-checks-worker";

const cli = {
  input: {
    canon: "build/main.js",
    [RECORD_CHECKS_WORKER]: "../store/dist/sync/record-checks-worker.js",
  },
  output: {
    dir: "dist",
    format: "esm",
    entryFileNames: (chunk) =>
      chunk.name === RECORD_CHECKS_WORKER ? `chunks/${RECORD_CHECKS_WORKER}.mjs` : "[name].mjs",
    chunkFileNames: "chunks/[name]-[hash].mjs",
    banner: (chunk) => (chunk.isEntry && chunk.name === "canon" ? "#!/usr/bin/env node" : ""),
    manualChunks,
  },
  external: externalToBundles,
  // JSON: the MCP SDK's validator (ajv) imports its meta-schemas.
  plugins: [
    nodeResolve({ preferBuiltins: true, exportConditions: ["node"] }),
    commonjs(),
    json(),
    patchedAutomergeRepo(),
  ],
  treeshake,
  onwarn,
};

export default [cli, bin, show];

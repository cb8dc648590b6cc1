// Bundles the CLI (compiled by tsc into build/) into dist/: the entry holds
// only the argument parser, each command is a chunk loaded when it runs, and
// tree shaking happens before chunking, so the agent's hot path
// (`canon show`) loads neither Automerge nor zod. Rollup is used rather than
// esbuild because esbuild's code splitting keeps every module a barrel file
// re-exports, which put zod on that path. Automerge (WASM) stays external.
import commonjs from "@rollup/plugin-commonjs";
import json from "@rollup/plugin-json";
import { nodeResolve } from "@rollup/plugin-node-resolve";

export default {
  input: { canon: "build/main.js" },
  output: {
    dir: "dist",
    format: "esm",
    entryFileNames: "[name].mjs",
    chunkFileNames: "chunks/[name]-[hash].mjs",
    banner: (chunk) => (chunk.isEntry ? "#!/usr/bin/env node" : ""),
  },
  external: (id) => id.startsWith("node:") || id.startsWith("@automerge/"),
  // JSON: the MCP SDK's validator (ajv) imports its meta-schemas.
  plugins: [nodeResolve({ preferBuiltins: true, exportConditions: ["node"] }), commonjs(), json()],
  treeshake: {
    moduleSideEffects: (id) =>
      !/[\\/](packages[\\/](core|store|mcp)|apps[\\/]relay|zod|multiformats|@ipld|cborg)[\\/]/.test(
        id,
      ),
  },
  onwarn(warning, warn) {
    if (warning.code === "CIRCULAR_DEPENDENCY" && /node_modules/.test(warning.message)) return;
    // Pure-call annotations rollup cannot place, inside dependencies' own files (zod): not ours to fix.
    if (warning.code === "INVALID_ANNOTATION" && /node_modules/.test(warning.id ?? "")) return;
    warn(warning);
  },
};

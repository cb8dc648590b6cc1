// Preloaded into a CLI process with `node --require`: when the process exits,
// it says on stderr whether Automerge's WASM module and zod were loaded, so a test can
// tell which read path answered.
process.on("exit", () => {
  const loaded = Object.keys(require.cache).some((path) => path.includes("automerge_wasm"));
  process.stderr.write(`automerge:${loaded ? "loaded" : "not loaded"}\n`);
  // zod 4 registers its global registry when its module runs (bundled, so not in require.cache).
  const zod = globalThis.__zod_globalRegistry !== undefined;
  process.stderr.write(`zod:${zod ? "loaded" : "not loaded"}\n`);
});

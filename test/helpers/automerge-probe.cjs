// Preloaded into a CLI process with `node --require`: when the process exits,
// it says on stderr whether Automerge's WASM module was loaded, so a test can
// tell which read path answered.
process.on("exit", () => {
  const loaded = Object.keys(require.cache).some((path) => path.includes("automerge_wasm"));
  process.stderr.write(`automerge:${loaded ? "loaded" : "not loaded"}\n`);
});

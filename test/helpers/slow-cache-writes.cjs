// Preloaded into an owner process with `node --require`: every rename onto a
// read index file (`$CANON_HOME/index/<space>.index` and its tail) waits
// 3 s first, as a very slow disk would make it. So the caches a command
// leaves for after its answer (docs/decisions/2026-11-30-round-trip.md,
// "Second round") are still being written seconds after it answered, and a
// test can kill the owner in between.
// Test-only: nothing in Canon reads it.
const fsPromises = require("node:fs/promises");
const { syncBuiltinESMExports } = require("node:module");

const delay = 3_000;
const rename = fsPromises.rename;
fsPromises.rename = async (from, to) => {
  if (/[\\/]index[\\/][^\\/]+\.index/.test(String(to)))
    await new Promise((resolve) => setTimeout(resolve, delay));
  return rename(from, to);
};
syncBuiltinESMExports();

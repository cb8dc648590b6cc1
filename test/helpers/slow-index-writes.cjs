// Preloaded into an owner process with `node --require`: every rename onto a
// read index file (`$CANON_HOME/index/<space>.index` and its tail) waits
// CANON_TEST_INDEX_WRITE_MS first (700 ms unless set), as a slow or busy disk
// would make it. So a change the owner received takes that long to reach the
// read index, and a test can tell whether a read waited for it; or the caches
// a command leaves for after its answer (docs/decisions/2026-11-30-round-trip.md,
// "Second round") are still being written seconds after it answered, and a
// test can kill the owner in between.
// Test-only: nothing in Canon reads it.
const fsPromises = require("node:fs/promises");
const { syncBuiltinESMExports } = require("node:module");

const delay = Number(process.env.CANON_TEST_INDEX_WRITE_MS ?? 700);
const rename = fsPromises.rename;
fsPromises.rename = async (from, to) => {
  if (/[\\/]index[\\/][^\\/]+\.index/.test(String(to)))
    await new Promise((resolve) => setTimeout(resolve, delay));
  return rename(from, to);
};
syncBuiltinESMExports();

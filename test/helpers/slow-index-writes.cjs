// Preloaded into an owner process with `node --require`: every rename onto a
// read index file (`$CANON_HOME/index/<space>.index` and its tail) waits
// 700 ms first, as a slow or busy disk would make it. So a change the owner
// received takes that long to reach the read index, and a test can tell
// whether a read waited for it.
// Test-only: nothing in Canon reads it.
const fsPromises = require("node:fs/promises");
const { syncBuiltinESMExports } = require("node:module");

const delay = 700;
const rename = fsPromises.rename;
fsPromises.rename = async (from, to) => {
  if (/[\\/]index[\\/][^\\/]+\.index/.test(String(to)))
    await new Promise((resolve) => setTimeout(resolve, delay));
  return rename(from, to);
};
syncBuiltinESMExports();

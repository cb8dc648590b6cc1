// Preloaded into an owner process with `node --require`: a command sent from a
// working directory named `busy-<ms>` first keeps the owner busy on the CPU,
// synchronously, for <ms> milliseconds (as loading and folding a very large
// space does), so its event loop (and its heartbeat timer) cannot run. It
// creates `<cwd>/started` when the busy spell begins, so a test knows the
// command was accepted and is under way. Test-only: nothing in Canon reads it.
const { basename } = require("node:path");
const { writeFileSync } = require("node:fs");

const chdir = process.chdir.bind(process);
process.chdir = (directory) => {
  chdir(directory);
  const match = /^busy-(\d+)$/.exec(basename(String(directory)));
  if (match === null) return;
  writeFileSync(`${directory}/started`, String(process.pid));
  const until = Date.now() + Number(match[1]);
  while (Date.now() < until) {
    // Busy on purpose: no await, no timer can fire.
  }
};

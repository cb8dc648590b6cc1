// Preloaded into a process with `node --require`: keeps it busy on the CPU for
// 2 s before anything else loads, as a loaded machine delays an owner that a
// command has just spawned. Test-only: nothing in Canon reads it.
const until = Date.now() + 2000;
while (Date.now() < until) {
  // Busy on purpose.
}

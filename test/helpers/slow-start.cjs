// Preloaded into a process with `node --require`: keeps it busy on the CPU for
// CANON_TEST_SLOW_START_MS (2,000 by default) before anything else loads, as a
// loaded machine delays an owner that a command has just spawned. Test-only:
// nothing in Canon reads it.
const until = Date.now() + Number(process.env.CANON_TEST_SLOW_START_MS ?? 2000);
while (Date.now() < until) {
  // Busy on purpose.
}

/**
 * The `canon` ES module entry point (the installed bin is the CommonJS
 * `canon.cjs`, bin.ts, which imports this one for anything an owner did not
 * take; running this file directly works the same). `canon show <standard>[@<version|cid>]` is an
 * agent's start-up path, run before every task, so its plainest forms skip
 * the argument parser (about a third of the start-up cost, measured in
 * docs/benchmarks.md) and go straight to the command; everything else,
 * including `show --help`, goes through commander. Commands that write or
 * sync first go to the home's owner process when one answers (a thin
 * client: only `node:` modules load); any other command first waits while
 * that owner is writing the read index for what it just received
 * (docs/decisions/2026-11-30-round-trip.md).
 */
import { existsSync } from "node:fs";
import { type PlainShow, plainShow } from "./plain-show.js";

// A reader that stops early (`canon log x | head`) closes the pipe: that ends the output, not in a crash.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

const argv = process.argv.slice(2);
const routed = await isRoutedHere(argv);
const answered = routed && !(await ownerAsked()) ? await throughOwner(argv) : undefined;
// A read waits while the home's owner writes the caches for what it just received.
if (!routed) await untilRefreshed();
process.exitCode =
  answered ?? (await (plainShow(argv) ? runShow(plainShow(argv) as PlainShow) : runFull()));
// No owner took the command: one starts for the next, once this one did its work.
// A command that failed (a mistyped flag, a missing file) leaves no process behind.
if (routed && answered === undefined && process.exitCode === 0) await startOwnerForNext();
// Every command has flushed its replica by now. automerge-repo can leave timers
// behind (a failed load keeps a 60 s timeout), so leave once stdout is drained.
process.stdout.write("", () => process.exit());

async function runShow({ reference, options }: PlainShow): Promise<number> {
  try {
    const { run } = await import("./commands/show.js");
    await run(options, reference);
    return 0;
  } catch (error) {
    const { report } = await import("./report-error.js");
    return report(error, false, false, options.json === true);
  }
}

/** True for the commands that write or sync, which go to the home's owner process when one runs. */
async function isRoutedHere(args: readonly string[]): Promise<boolean> {
  const { isRouted, ownerDisabled } = await import("./owner/owner-socket.js");
  return !ownerDisabled() && isRouted(args);
}

/** True when the CommonJS bin (bin.ts) already asked the home's owner, which did not take the command. */
async function ownerAsked(): Promise<boolean> {
  const { OWNER_ASKED } = await import("./owner/owner-socket.js");
  return (globalThis as Record<symbol, unknown>)[OWNER_ASKED] === true;
}

/**
 * Runs a routed command through the home's owner process when one answers
 * (a thin client: nothing else is loaded); undefined to do the work here.
 */
async function throughOwner(args: readonly string[]): Promise<number | undefined> {
  const { runThroughOwner } = await import("./owner/owner-client.js");
  return runThroughOwner(args);
}

/**
 * Waits while the home's owner is refreshing the read index for a change it
 * received (its refresh mark is there): one failed `stat` when it is not.
 */
async function untilRefreshed(): Promise<void> {
  const { homeRoot, ownerDisabled, refreshMarkOf } = await import("./owner/owner-socket.js");
  if (ownerDisabled()) return;
  const root = homeRoot();
  if (!existsSync(refreshMarkOf(root))) return;
  const { untilOwnerRefreshed } = await import("./owner/refresh-mark.js");
  await untilOwnerRefreshed(root);
}

async function startOwnerForNext(): Promise<void> {
  const { startOwner } = await import("./owner/owner-client.js");
  const { homeRoot } = await import("./owner/owner-socket.js");
  startOwner(homeRoot());
}

async function runFull(): Promise<number> {
  const { runProgram } = await import("./program.js");
  return runProgram(process.argv);
}

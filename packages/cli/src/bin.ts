/**
 * The installed `canon` bin, bundled as CommonJS (`dist/canon.cjs`): Node
 * starts a CommonJS file as fast as `node -e 0`, and an ES module 5–10 ms
 * slower (its loader), on every command. A command that writes or syncs is
 * first sent to the home's owner process from here, with only `node:`
 * modules loaded (the thin client, docs/decisions/2026-11-29-home-owner.md);
 * anything else, and a routed command no owner took, goes on in the ES
 * module entry `canon.mjs` (main.ts), told that the owner was already asked.
 * See docs/decisions/2026-11-30-round-trip.md ("Second round").
 */
import { runThroughOwner } from "./owner/owner-client.js";
import { isRouted, OWNER_ASKED, ownerDisabled } from "./owner/owner-socket.js";

/** The ES module entry, beside this file in `dist/` (a variable: rollup leaves it as it is). */
const ENTRY = "./canon.mjs";

// A reader that stops early (`canon sync | head`) closes the pipe: that ends the output, not in a crash.
const onPipeError = (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
};
process.stdout.on("error", onPipeError);

void main();

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (!ownerDisabled() && isRouted(argv)) {
    const answered = await runThroughOwner(argv);
    if (answered !== undefined) {
      process.exitCode = answered;
      process.stdout.write("", () => process.exit());
      return;
    }
    (globalThis as Record<symbol, unknown>)[OWNER_ASKED] = true;
  }
  // main.ts sets its own handler (the same): one is enough.
  process.stdout.off("error", onPipeError);
  await import(ENTRY);
}

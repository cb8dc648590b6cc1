/**
 * The installed `canon` bin, bundled as CommonJS (`dist/canon.cjs`): Node
 * starts a CommonJS file as fast as `node -e 0`, and an ES module 5–10 ms
 * slower (its loader), on every command. A command that writes or syncs is
 * first sent to the home's owner process from here, with only `node:`
 * modules loaded (the thin client, docs/decisions/2026-11-29-home-owner.md);
 * the plainest `canon show`, which runs without an owner, is answered from
 * the read index by `show.cjs` (show-fast.ts), also CommonJS. Anything else,
 * a routed command no owner took, and a show the index cannot answer go on
 * in the ES module entry `canon.mjs` (main.ts), told that the owner was
 * already asked.
 * See docs/decisions/2026-11-30-round-trip.md ("Second round").
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { runThroughOwner } from "./owner/owner-client.js";
import {
  homeRoot,
  isRouted,
  OWNER_ASKED,
  ownerDisabled,
  refreshMarkOf,
} from "./owner/owner-socket.js";
import { untilOwnerRefreshed } from "./owner/refresh-mark.js";
import { plainShow } from "./plain-show.js";
import type { showFromIndex } from "./show-fast.js";

/** The ES module entry, beside this file in `dist/` (a variable: rollup leaves it as it is). */
const ENTRY = "./canon.mjs";
/** The read from the index (show-fast.ts), a CommonJS file beside this one, loaded only by `show`. */
const SHOW = "./show.cjs";

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
  const show = plainShow(argv);
  if (show !== undefined && show.options.json !== true) {
    // A read waits while the home's owner writes the caches for what it just received or wrote.
    const root = homeRoot();
    if (!ownerDisabled() && existsSync(refreshMarkOf(root))) await untilOwnerRefreshed(root);
    const read = createRequire(import.meta.url)(SHOW) as { showFromIndex: typeof showFromIndex };
    if (await read.showFromIndex(show.reference, show.options.space)) {
      process.stdout.write("", () => process.exit());
      return;
    }
  }
  // main.ts sets its own handler (the same): one is enough.
  process.stdout.off("error", onPipeError);
  await import(ENTRY);
}

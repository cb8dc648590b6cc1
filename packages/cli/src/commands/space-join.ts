import { setFlagsFromString } from "node:v8";
import type { SyncReport } from "@canon/store";
import { parseSeconds } from "../arguments.js";
import { home } from "../context.js";
import { describeReport } from "../describe-sync.js";
import { type GlobalOptions, print } from "../output.js";
import { progressLine } from "../progress-line.js";

/**
 * How much a WebAssembly function of this process runs before V8 compiles
 * it again with its optimizing compiler (V8's default is 1,800,000). A join
 * is one short process whose Automerge loads a thousand documents: at the
 * default, V8's background threads spent 0.4–0.5 s of CPU compiling
 * Automerge's hot functions again, on a machine of two cores, and the join's
 * own thread was no faster for it (docs/decisions/2026-11-30-bulk-join.md,
 * ninth round). At this budget they keep the baseline compiler's code for
 * the whole join.
 */
export const JOIN_WASM_TIERING = "--wasm-tiering-budget=200000000";

/** `canon space join <url> --relay <ws-url> [--token <secret>]`: remember the relay, fetch the space, make it the default. */
export async function run(
  options: GlobalOptions & { relay: string; token?: string; timeout: string },
  url: string,
): Promise<void> {
  // Before Automerge's WebAssembly is instantiated, which importing the store does.
  setFlagsFromString(JOIN_WASM_TIERING);
  const { parseSpaceUrl, syncSpace } = await import("@canon/store");
  parseSpaceUrl(url);
  const progress = progressLine(options);
  let report: SyncReport;
  try {
    report = await syncSpace(home(), {
      onProgress: progress.onProgress,
      space: url,
      relay: options.relay,
      token: options.token,
      timeoutMs: parseSeconds(options.timeout),
      remember: true,
      makeDefault: true,
    });
  } finally {
    progress.done();
  }
  print(options, report, () => `Joined ${url} (now the default)\n${describeReport(report)}`);
}

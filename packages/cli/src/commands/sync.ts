import { syncSpace } from "@canon/store";
import { parseSeconds } from "../arguments.js";
import { home, signerIfAny } from "../context.js";
import { describeReport } from "../describe-sync.js";
import { type GlobalOptions, print } from "../output.js";
import { progressLine } from "../progress-line.js";

/**
 * `canon sync [--relay <ws-url>] [--token <secret>] [--remember] [--timeout <s>]`:
 * exchange every document of the space, then exit. A relay given for one
 * sync is remembered only with `--remember`, or when none is remembered yet.
 */
export async function run(
  options: GlobalOptions & { relay?: string; token?: string; timeout: string; remember?: boolean },
): Promise<void> {
  const progress = progressLine(options);
  let report: Awaited<ReturnType<typeof syncSpace>>;
  try {
    report = await syncSpace(home(), {
      onProgress: progress.onProgress,
      space: options.space,
      relay: options.relay,
      token: options.token,
      timeoutMs: parseSeconds(options.timeout),
      remember: options.relay !== undefined && options.remember === true ? true : "if-none",
      checkpointAs: await signerIfAny(options),
    });
  } finally {
    progress.done();
  }
  print(options, report, () => describeReport(report));
}

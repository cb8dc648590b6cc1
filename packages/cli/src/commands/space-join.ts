import { parseSpaceUrl, syncSpace } from "@canon/store";
import { parseSeconds } from "../arguments.js";
import { home } from "../context.js";
import { describeReport } from "../describe-sync.js";
import { type GlobalOptions, print } from "../output.js";
import { progressLine } from "../progress-line.js";

/** `canon space join <url> --relay <ws-url> [--token <secret>]`: remember the relay, fetch the space, make it the default. */
export async function run(
  options: GlobalOptions & { relay: string; token?: string; timeout: string },
  url: string,
): Promise<void> {
  parseSpaceUrl(url);
  const progress = progressLine(options);
  let report: Awaited<ReturnType<typeof syncSpace>>;
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

import type { SyncProgress } from "@canon/store";
import type { GlobalOptions } from "./output.js";

/**
 * A one-line progress report for a long sync or join, rewritten in place on
 * stderr, only when stderr is a terminal and the output is not `--json`
 * (scripts and pipes get nothing extra). `done` clears it.
 */
export function progressLine(options: GlobalOptions): {
  readonly onProgress: ((progress: SyncProgress) => void) | undefined;
  done(): void;
} {
  if (options.json || !process.stderr.isTTY) return { onProgress: undefined, done: () => {} };
  let shown = false;
  return {
    onProgress: ({ documents, inStep }) => {
      shown = true;
      process.stderr.write(`\r\x1b[Kcanon: syncing… ${inStep} of ${documents} document(s) in step`);
    },
    done: () => {
      if (shown) process.stderr.write("\r\x1b[K");
    },
  };
}

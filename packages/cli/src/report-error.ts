import { isCanonError } from "@canon/core";
import { CommanderError } from "commander";
import { exitStatusOf } from "./exit-status.js";
import { escapeControls, terminalSafe } from "./output.js";

/**
 * Prints an error as one line, `canon: <message>`, and returns the exit
 * status. Commander has already printed its own usage errors. A stack trace
 * appears only with `--debug`. Control characters in the message (from a
 * standard name typed or a peer's document) are escaped, so no newline or
 * terminal escape sequence reaches the terminal raw.
 */
export function report(error: unknown, debug: boolean, printed: boolean): number {
  if (error instanceof CommanderError) {
    // --help and --version exit through here with status 0.
    return error.exitCode === 0 ? 0 : 2;
  }
  if (debug && error instanceof Error) process.stderr.write(`${terminalSafe(error.stack ?? "")}\n`);
  if (isCanonError(error)) {
    process.stderr.write(`canon: ${escapeControls(error.message)}\n`);
    return exitStatusOf(error.code);
  }
  if (!printed) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `canon: unexpected error: ${escapeControls(message.split("\n")[0] ?? "")}${debug ? "" : " (run with --debug for details)"}\n`,
    );
  }
  return 1;
}

import { isCanonError } from "@canon/core";
import { CommanderError } from "commander";
import { exitStatusOf } from "./exit-status.js";
import { escapeControls, jsonPrinted, terminalSafe } from "./output.js";

/**
 * Prints an error as one line, `canon: <message>`, and returns the exit
 * status. Commander has already printed its own usage errors. A stack trace
 * appears only with `--debug`. Control characters in the message (from a
 * standard name typed or a peer's document) are escaped, so no newline or
 * terminal escape sequence reaches the terminal raw. With `json`, the error
 * is also one JSON object on stdout, `{"error": {code, message, exitStatus}}`,
 * unless the command already printed its JSON result there.
 */
export function report(error: unknown, debug: boolean, printed: boolean, json = false): number {
  const { code, message, status } = describe(error);
  if (json && status !== 0 && !jsonPrinted())
    process.stdout.write(`${JSON.stringify({ error: { code, message, exitStatus: status } })}\n`);
  if (error instanceof CommanderError) return status;
  if (debug && error instanceof Error) process.stderr.write(`${terminalSafe(error.stack ?? "")}\n`);
  if (isCanonError(error)) process.stderr.write(`canon: ${escapeControls(message)}\n`);
  else if (!printed)
    process.stderr.write(
      `canon: unexpected error: ${escapeControls(message)}${debug ? "" : " (run with --debug for details)"}\n`,
    );
  return status;
}

/** An error's code, one-line message and exit status (commander's usage errors are bad input). */
function describe(error: unknown): { code: string; message: string; status: number } {
  if (error instanceof CommanderError)
    // --help and --version exit through here with status 0.
    return {
      code: "BAD_ARGUMENT",
      message: error.message.replace(/^error: /, ""),
      status: error.exitCode === 0 ? 0 : 2,
    };
  if (isCanonError(error))
    return { code: error.code, message: error.message, status: exitStatusOf(error.code) };
  const message = error instanceof Error ? error.message : String(error);
  return { code: "UNEXPECTED", message: message.split("\n")[0] ?? "", status: 1 };
}

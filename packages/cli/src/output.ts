/** Options every command accepts. */
export interface GlobalOptions {
  readonly json?: boolean;
  readonly debug?: boolean;
  readonly as?: string;
  readonly space?: string;
}

/** Prints a command's result: `json` as one JSON document, else the human `text`. */
export function print(options: GlobalOptions, json: unknown, text: () => string): void {
  if (options.json) {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    printedJson = true;
  } else {
    const rendered = text();
    if (rendered.length > 0)
      process.stdout.write(rendered.endsWith("\n") ? rendered : `${rendered}\n`);
  }
}

/** Prints one line: compact JSON with `--json` (for long-running commands, one object per line), else `text`. */
export function printLine(options: GlobalOptions, json: unknown, text: string): void {
  process.stdout.write(`${options.json ? JSON.stringify(json) : text}\n`);
  if (options.json) printedJson = true;
}

/** True once this process printed its JSON result (an error after it then adds none: one document on stdout). */
let printedJson = false;

/** Whether a JSON result is already on stdout. */
export function jsonPrinted(): boolean {
  return printedJson;
}

/** Content as JSON can carry it: UTF-8 text when it is, else base64. */
export function contentForJson(bytes: Uint8Array): {
  content: string;
  encoding: "utf-8" | "base64";
} {
  try {
    return { content: new TextDecoder("utf-8", { fatal: true }).decode(bytes), encoding: "utf-8" };
  } catch {
    return { content: Buffer.from(bytes).toString("base64"), encoding: "base64" };
  }
}

/** A short did for tables: `did:key:z6Mk…abcd`. */
export function shortDid(did: string): string {
  return did.length > 24 ? `${did.slice(0, 14)}…${did.slice(-6)}` : did;
}

/** "synced 5 min ago" / "never synced", for freshness lines. */
export function syncNote(lastSync: string | null): string {
  return lastSync === null ? "never synced" : `last synced ${lastSync}`;
}

/**
 * Text a peer wrote, safe to print on a terminal: control characters other
 * than newline and tab shown as `?`, so no escape sequence reaches it.
 */
export function terminalSafe(text: string): string {
  return text.replace(/[^\P{Cc}\n\t]/gu, "?");
}

/**
 * Characters that must never reach a terminal raw from a one-line message:
 * every control character (C0, DEL, C1: escape sequences, newlines that
 * forge a second line), the Unicode line separators, and the bidirectional
 * overrides that reorder what a person sees.
 */
const UNSAFE_IN_ONE_LINE = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/**
 * A message safe to print as one line: each character of
 * {@link UNSAFE_IN_ONE_LINE} written as its escape (`\n`, `\r`, `\t`,
 * `\x1b`, `\u202e`), everything else unchanged. Messages interpolate names
 * from the command line and from peers' documents, so this runs once, where
 * they are printed, rather than at every place that builds one.
 */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE_IN_ONE_LINE, (character) => {
    const named = NAMED_ESCAPES[character];
    if (named !== undefined) return named;
    const code = character.codePointAt(0) ?? 0;
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

const NAMED_ESCAPES: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

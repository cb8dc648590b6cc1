/** Options every command accepts. */
export interface GlobalOptions {
  readonly json?: boolean;
  readonly debug?: boolean;
  readonly as?: string;
  readonly space?: string;
}

/** Prints a command's result: `json` as one JSON document, else the human `text`. */
export function print(options: GlobalOptions, json: unknown, text: () => string): void {
  if (options.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else {
    const rendered = text();
    if (rendered.length > 0)
      process.stdout.write(rendered.endsWith("\n") ? rendered : `${rendered}\n`);
  }
}

/** Prints one line: compact JSON with `--json` (for long-running commands, one object per line), else `text`. */
export function printLine(options: GlobalOptions, json: unknown, text: string): void {
  process.stdout.write(`${options.json ? JSON.stringify(json) : text}\n`);
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

/**
 * Recognises the plainest `canon show`, the agent's start-up path, before
 * the argument parser loads (main.ts, and the CommonJS bin, bin.ts). No imports.
 */
import type { GlobalOptions } from "./output.js";

/** `show <reference>` with at most `--json` and `--space <url>`. */
export interface PlainShow {
  readonly reference: string;
  readonly options: GlobalOptions;
}

/** `show <reference>` with at most `--json` and `--space <url>`, and nothing else; undefined otherwise. */
export function plainShow(args: readonly string[]): PlainShow | undefined {
  if (args[0] !== "show") return undefined;
  let reference: string | undefined;
  const options: { json?: boolean; space?: string } = {};
  for (let i = 1; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--json") options.json = true;
    else if (arg === "--space" && i + 1 < args.length && !(args[i + 1] as string).startsWith("-"))
      options.space = args[++i] as string;
    else if (!arg.startsWith("-") && reference === undefined) reference = arg;
    else return undefined;
  }
  return reference === undefined ? undefined : { reference, options };
}

/**
 * True for a bundle's content CID: a dag-cbor sha2-256 CID (base32
 * "bafyrei…"), whose files `show` lists, never printing its CBOR; a file's
 * content is raw ("bafkrei…"). A string test, so the start-up path loads no
 * CID library.
 */
export function isBundleCid(cid: string): boolean {
  return cid.startsWith("bafyrei");
}

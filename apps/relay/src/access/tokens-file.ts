import { constants } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { isValidDocumentId } from "@automerge/automerge-repo";
import { CanonError } from "@canon/core";
import { readAtMost } from "@canon/store";
import { z } from "zod";
import type { AccessGrant } from "./access-grant.js";
import { RelayTokens } from "./relay-tokens.js";

/**
 * Largest tokens file read, in bytes: far more than a thousand spaces' worth
 * of tokens, and small enough that a wrong path (a device, a log) costs
 * nothing before it is refused.
 */
export const MAX_TOKENS_FILE_BYTES = 1024 * 1024;

/** Shortest token accepted in a tokens file: shorter ones can be guessed online. */
export const MIN_TOKEN_LENGTH = 16;

/** A token: printable, no spaces (it travels in a URL query and HTTP headers), never echoed in a message. */
const Token = z
  .string()
  .min(MIN_TOKEN_LENGTH, `must be at least ${MIN_TOKEN_LENGTH} characters`)
  .max(512, "must be at most 512 characters")
  .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces");

const Tokens = z.array(Token).max(1000).default([]);

/** A space document id: the part of a space URL `canon:<document-id>/<genesis-cid>` before the slash. */
const SpaceDocumentId = z
  .string()
  .refine(
    (id) => isValidDocumentId(id),
    "is not a space document id (the part of canon:<document-id>/<genesis-cid> before the slash)",
  );

/** `{ "spaces": { "<space-document-id>": { "write": ["…"], "read": ["…"] } } }`, nothing else. */
export const TokensFile = z.strictObject({
  spaces: z.record(SpaceDocumentId, z.strictObject({ write: Tokens, read: Tokens })),
});

/** A tokens file, parsed. */
export type TokensFile = z.output<typeof TokensFile>;

/**
 * Parses the text of a tokens file into the relay's tokens, with `admin` (the
 * relay's single `--token`) as the all-spaces write token. A token may open
 * several spaces, but with one right: listed as a writer somewhere and a
 * reader elsewhere (or as the admin token) it is refused, since a copy-paste
 * slip there would silently give a reader write access. Tokens are never
 * quoted in a message; `source` (the file's path) is.
 * @throws CanonError `BAD_ARGUMENT` saying what is wrong and where.
 */
export function parseTokensFile(text: string, source: string, admin?: string): RelayTokens {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CanonError(
      "BAD_ARGUMENT",
      `the tokens file ${source} is not JSON (${jsonErrorPlace(text, error)}); it looks like {"spaces": {"<space-document-id>": {"write": ["…"], "read": ["…"]}}}`,
    );
  }
  const parsed = TokensFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.map(String).join(".") : "(the file)";
    throw new CanonError(
      "BAD_ARGUMENT",
      `the tokens file ${source} has a bad entry at ${where}: ${issueMessage(issue)}; it looks like {"spaces": {"<space-document-id>": {"write": ["…"], "read": ["…"]}}}`,
    );
  }
  const rights = new Map<string, { write: boolean; spaces: Set<string> }>();
  for (const [space, { write, read }] of Object.entries(parsed.data.spaces)) {
    for (const [tokens, canWrite] of [
      [write, true],
      [read, false],
    ] as const) {
      for (const token of tokens) {
        if (admin !== undefined && token === admin)
          throw new CanonError(
            "BAD_ARGUMENT",
            `the tokens file ${source} lists the admin token (--token / CANON_RELAY_TOKEN) for space ${space}; give the space a token of its own`,
          );
        const known = rights.get(token);
        if (known === undefined) {
          rights.set(token, { write: canWrite, spaces: new Set([space]) });
        } else if (known.write !== canWrite) {
          throw new CanonError(
            "BAD_ARGUMENT",
            `the tokens file ${source} gives one token both write and read rights (the second time in space ${space}); a token is either a writer or a reader, so give each its own`,
          );
        } else known.spaces.add(space);
      }
    }
  }
  const grants = new Map<string, AccessGrant>(
    [...rights].map(([token, { write, spaces }]) => [token, { kind: "spaces", spaces, write }]),
  );
  return new RelayTokens(admin, grants);
}

/**
 * Reads and parses a tokens file (see {@link parseTokensFile}). The path is
 * opened once without blocking (a FIFO with no writer is not waited on), the
 * opened file must be a regular file (not `/dev/zero`, a FIFO, a directory),
 * and at most {@link MAX_TOKENS_FILE_BYTES} are read whatever size it claims.
 * @throws CanonError `BAD_ARGUMENT` when it cannot be read, is not a regular file, is too large, or is wrong.
 */
export async function readTokensFile(path: string, admin?: string): Promise<RelayTokens> {
  return parseTokensFile(await readTokensFileText(path), path, admin);
}

/** The text of the tokens file at `path`, read as {@link readTokensFile} says. */
async function readTokensFileText(path: string): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw unreadable(path, error);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new CanonError(
        "BAD_ARGUMENT",
        `the tokens file ${path} is not a regular file (a device, a FIFO or a directory); name a JSON file`,
      );
    // Bounded, not trusting the size fstat gave: a file may grow.
    const bytes = await readAtMost(handle, MAX_TOKENS_FILE_BYTES, info.size);
    if (bytes === undefined)
      throw new CanonError(
        "BAD_ARGUMENT",
        `the tokens file ${path} is larger than ${MAX_TOKENS_FILE_BYTES} bytes; a tokens file is at most that`,
      );
    return new TextDecoder().decode(bytes);
  } catch (error) {
    throw error instanceof CanonError ? error : unreadable(path, error);
  } finally {
    await handle.close();
  }
}

/** The refusal of a tokens file the file system would not let us open or read. */
function unreadable(path: string, error: unknown): CanonError {
  return new CanonError(
    "BAD_ARGUMENT",
    `cannot read the tokens file ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
  );
}

/**
 * Where JSON.parse stopped in `text`, as "line L, column C", without its
 * message: V8 quotes the text around an unexpected token (`Unexpected token
 * 's', ..."write": [supersecre"...`), which in a tokens file is a token's
 * first characters (one written in single quotes, or unquoted), and the
 * message goes to the relay's standard error, its service log, a CI log.
 */
function jsonErrorPlace(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : "";
  const position = /at position (\d+)/.exec(message)?.[1];
  if (position === undefined)
    return "a character out of place: strings, tokens included, go in double quotes";
  const before = text.slice(0, Number(position)).split("\n");
  return `stopped at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}

/** An issue's message; for a bad record key, the key's own issue (zod wraps it as "Invalid key in record"). */
function issueMessage(issue: z.core.$ZodIssue | undefined): string {
  if (issue === undefined) return "wrong shape";
  if (issue.code === "invalid_key") return issue.issues[0]?.message ?? issue.message;
  return issue.message;
}

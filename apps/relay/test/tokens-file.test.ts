import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateAutomergeUrl, parseAutomergeUrl } from "@automerge/automerge-repo";
import { isCanonError } from "@canon/core";
import { describe, expect, it } from "vitest";
import { parseTokensFile } from "../src/access/tokens-file.js";

const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const SPACE_A = parseAutomergeUrl(generateAutomergeUrl()).documentId;
const SPACE_B = parseAutomergeUrl(generateAutomergeUrl()).documentId;
const WRITER = "writer-token-0123456789";
const READER = "reader-token-0123456789";

/** The message `parseTokensFile` refuses `text` with (and checks it is a BAD_ARGUMENT that names no token). */
function refusal(text: string, admin?: string): string {
  try {
    parseTokensFile(text, "tokens.json", admin);
  } catch (error) {
    if (!isCanonError(error)) throw error;
    expect(error.code).toBe("BAD_ARGUMENT");
    expect(error.message).not.toContain(WRITER);
    expect(error.message).not.toContain(READER);
    return error.message;
  }
  throw new Error("accepted");
}

describe("the relay's tokens file", () => {
  it("gives each token its spaces and its right; the admin token opens everything", () => {
    const tokens = parseTokensFile(
      JSON.stringify({
        spaces: {
          [SPACE_A]: { write: [WRITER], read: [READER] },
          [SPACE_B]: { write: [WRITER] },
        },
      }),
      "tokens.json",
      "admin-token",
    );
    expect([...tokens.spaces].sort()).toEqual([SPACE_A, SPACE_B].sort());
    expect(tokens.grantOf(WRITER)).toEqual({
      kind: "spaces",
      spaces: new Set([SPACE_A, SPACE_B]),
      write: true,
    });
    expect(tokens.grantOf(READER)).toEqual({
      kind: "spaces",
      spaces: new Set([SPACE_A]),
      write: false,
    });
    expect(tokens.grantOf("admin-token")).toEqual({ kind: "all" });
    expect(tokens.grantOf("admin-token-and-more")).toBeUndefined();
    expect(tokens.grantOf(undefined)).toBeUndefined();
  });

  it("refuses bad JSON and wrong shapes, saying where", () => {
    expect(refusal("{ spaces: ")).toMatch(/tokens\.json is not JSON/);
    expect(refusal("[]")).toMatch(/bad entry at \(the file\)/);
    expect(refusal('{"space": {}}')).toMatch(/bad entry at/);
    expect(refusal(JSON.stringify({ spaces: { "not-an-id": { write: [WRITER] } } }))).toMatch(
      /not-an-id.*not a space document id/,
    );
    expect(refusal(JSON.stringify({ spaces: { [SPACE_A]: { write: WRITER } } }))).toMatch(
      new RegExp(`${SPACE_A}\\.write`),
    );
    expect(refusal(JSON.stringify({ spaces: { [SPACE_A]: { write: ["short"] } } }))).toMatch(
      /at least 16 characters/,
    );
    expect(refusal(JSON.stringify({ spaces: { [SPACE_A]: { admin: [WRITER] } } }))).toMatch(
      /bad entry/,
    );
  });

  // Sixth pass: V8's JSON.parse message quotes the text around an unexpected
  // token, so a token written in single quotes (or none) had its first ten
  // characters printed to the relay's standard error and service log.
  it("refuses bad JSON without quoting the file's text, which may be a token", () => {
    const singleQuoted = `{"spaces": {"${SPACE_A}": {"write": ['${WRITER}']}}}`;
    const unquoted = `{"spaces": {"${SPACE_A}": {"write": [${WRITER}]}}}`;
    for (const text of [singleQuoted, unquoted]) {
      const message = refusal(text);
      expect(message).toMatch(/tokens\.json is not JSON/);
      expect(message).not.toContain(WRITER.slice(0, 6));
      expect(message).toMatch(/double quotes/);
    }
    expect(refusal(`{"spaces": {}}\n  x`)).toMatch(/stopped at line 2, column 3/);
  });

  it("refuses one token with different rights, in two spaces or in one, and the admin token listed", () => {
    expect(
      refusal(
        JSON.stringify({
          spaces: { [SPACE_A]: { write: [WRITER] }, [SPACE_B]: { read: [WRITER] } },
        }),
      ),
    ).toMatch(/both write and read rights/);
    expect(
      refusal(JSON.stringify({ spaces: { [SPACE_A]: { write: [WRITER], read: [WRITER] } } })),
    ).toMatch(/both write and read rights/);
    expect(refusal(JSON.stringify({ spaces: { [SPACE_A]: { read: [WRITER] } } }), WRITER)).toMatch(
      /lists the admin token/,
    );
  });

  it("canon-relay refuses to start on a bad tokens file: one canon-relay: line, exit 2", async () => {
    const directory = await mkdtemp(join(tmpdir(), "canon-relay-tokens-"));
    try {
      const file = join(directory, "tokens.json");
      await writeFile(
        file,
        JSON.stringify({
          spaces: { [SPACE_A]: { write: [WRITER] }, [SPACE_B]: { read: [WRITER] } },
        }),
      );
      const run = spawnSync(process.execPath, [MAIN], {
        env: {
          PATH: process.env.PATH,
          CANON_RELAY_DATA: join(directory, "data"),
          CANON_RELAY_PORT: "0",
          CANON_RELAY_TOKENS_FILE: file,
        },
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(run.status).toBe(2);
      expect(run.stdout).toBe("");
      expect(run.stderr).toMatch(/^canon-relay: the tokens file .* both write and read rights/);
      expect(run.stderr.trim().split("\n")).toHaveLength(1);
      expect(run.stderr).not.toContain(WRITER);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_TOKENS_FILE_BYTES } from "../src/access/tokens-file.js";

// `CANON_RELAY_TOKENS_FILE` naming something that is not a small regular
// file: the built canon-relay, real devices, a real FIFO (mkfifo) with no writer.

const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "canon-relay-tokens-input-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** canon-relay run to its end with `CANON_RELAY_TOKENS_FILE=file` (killed after 30 s: a hang fails the test). */
function relayWithTokensFile(file: string) {
  return spawnSync(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH,
      CANON_RELAY_DATA: join(directory, "data"),
      CANON_RELAY_PORT: "0",
      CANON_RELAY_TOKENS_FILE: file,
    },
    encoding: "utf8",
    timeout: 30_000,
    // canon-relay waits out SIGTERM to flush; a hang must end.
    killSignal: "SIGKILL",
  });
}

/** Checks canon-relay refused at once: exit 2, one `canon-relay:` line matching `message`, nothing on stdout. */
function expectRefused(run: ReturnType<typeof relayWithTokensFile>, message: RegExp) {
  expect(run.signal).toBeNull();
  expect(run.status).toBe(2);
  expect(run.stdout).toBe("");
  expect(run.stderr).toMatch(/^canon-relay: the tokens file /);
  expect(run.stderr).toMatch(message);
  expect(run.stderr.trim().split("\n")).toHaveLength(1);
}

describe("canon-relay's tokens file, read bounded", () => {
  it("refuses /dev/zero (endless) and /dev/null as not regular files", () => {
    expectRefused(relayWithTokensFile("/dev/zero"), /\/dev\/zero is not a regular file/);
    expectRefused(relayWithTokensFile("/dev/null"), /\/dev\/null is not a regular file/);
  });

  it("refuses a FIFO no one writes to, without waiting for a writer", () => {
    const fifo = join(directory, "tokens.fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    expectRefused(relayWithTokensFile(fifo), /tokens\.fifo is not a regular file/);
  });

  it("refuses a directory", async () => {
    const folder = join(directory, "tokens.d");
    await mkdir(folder);
    expectRefused(relayWithTokensFile(folder), /tokens\.d is not a regular file/);
  });

  it("refuses a regular file past the bound, naming it", async () => {
    const large = join(directory, "large.json");
    // Valid JSON, one byte too long: refused for its size, not its shape.
    const padding = " ".repeat(MAX_TOKENS_FILE_BYTES + 1 - '{"spaces":{}}'.length);
    await writeFile(large, `{"spaces":{}}${padding}`);
    expectRefused(relayWithTokensFile(large), /is larger than 1048576 bytes/);
  });
});

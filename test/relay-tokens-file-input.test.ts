import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CANON_BIN } from "./helpers/cli.js";

// `canon relay --tokens` (or CANON_RELAY_TOKENS_FILE) naming an endless
// device or a FIFO with no writer: the packaged CLI, the real /dev/zero, a
// real FIFO. Read whole before, it ran out of memory or waited for ever.

let directory: string;
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), "canon-relay-tokens-input-"));
});
afterAll(async () => {
  await rm(directory, { recursive: true, force: true });
});

/** `canon relay` run to its end (killed after 30 s: a hang fails the test), with `variables` as its only CANON_RELAY_*. */
function relay(args: readonly string[], variables: Record<string, string> = {}) {
  const environment = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("CANON_RELAY_")),
  );
  return spawnSync(
    process.execPath,
    [CANON_BIN, "relay", "--port", "0", "--data", join(directory, "data"), ...args],
    {
      env: {
        ...environment,
        CANON_NO_OWNER: "1",
        CANON_HOME: join(directory, "home"),
        ...variables,
      },
      encoding: "utf8",
      timeout: 30_000,
      // canon-relay waits out SIGTERM to flush; a hang must end.
      killSignal: "SIGKILL",
    },
  );
}

/** Checks `canon relay` refused at once: exit 2, one `canon:` line saying `file` is not a regular file. */
function expectNotRegular(run: ReturnType<typeof relay>, file: string) {
  expect(run.signal).toBeNull();
  expect(run.status).toBe(2);
  expect(run.stdout).toBe("");
  expect(run.stderr).toBe(
    `canon: the tokens file ${file} is not a regular file (a device, a FIFO or a directory); name a JSON file\n`,
  );
}

describe("canon relay --tokens, read bounded", () => {
  it("refuses --tokens /dev/zero at once, one line, exit 2", () => {
    expectNotRegular(relay(["--tokens", "/dev/zero"]), "/dev/zero");
  });

  it("refuses a FIFO with no writer, by flag or by CANON_RELAY_TOKENS_FILE, without waiting", () => {
    const fifo = join(directory, "tokens.fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    expectNotRegular(relay(["--tokens", fifo]), fifo);
    expectNotRegular(relay([], { CANON_RELAY_TOKENS_FILE: fifo }), fifo);
  });
});

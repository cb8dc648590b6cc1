import { readFile } from "node:fs/promises";
import type { CanonErrorCode } from "@canon/core";
import { describe, expect, it } from "vitest";
// The only place the relay's code meets the CLI's: a test, so the relay app
// itself never depends on the CLI.
import { exitStatusOf } from "../../../packages/cli/src/exit-status.js";
import { RELAY_EXIT_STATUS, relayExitStatusOf } from "../src/exit-status.js";

describe("the relay's exit statuses", () => {
  it.each(Object.entries(RELAY_EXIT_STATUS))(
    "gives %s the status the canon CLI gives it",
    (code, status) => {
      expect(status).toBe(exitStatusOf(code as CanonErrorCode));
    },
  );

  it("exits 1, unexpected, for a code a relay should never fail with", () => {
    expect(relayExitStatusOf("NOT_VERIFIED")).toBe(1);
  });

  it("documents every status it uses in the relay README", async () => {
    const readme = await readFile(new URL("../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("### Exit statuses"));
    const documented = [...section.matchAll(/^\| (\d+) /gm)].map((row) => Number(row[1]));
    for (const status of new Set(Object.values(RELAY_EXIT_STATUS))) {
      expect(documented).toContain(status);
    }
  });
});

import { writeFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Sandbox, sandbox } from "./helpers/cli.js";

let auditor: Sandbox;
beforeEach(async () => {
  auditor = await sandbox();
});
afterEach(async () => {
  await auditor.dispose();
});

/** Terminal control: ESC (CSI, OSC), BEL, CR, and the C1 CSI. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this finds.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

describe("a crafted stamp file handed to an auditor", () => {
  it("a stamp whose unsigned cid is not a CID (escape sequences that would rewrite the verdict) is refused in one line, nothing printed raw", async () => {
    auditor.ok("init");
    auditor.ok("space", "create", "audit");
    const output = await auditor.file("article.md", "An article.\n");
    // Moves up a line, erases it and prints a forged verdict.
    const forged = "bafy\u001b[1A\u001b[2K\rVerified: article.md\u001b]0;owned\u0007";
    await writeFile(
      `${output}.canon.json`,
      JSON.stringify({ canon: "stamp", v: 1, cid: forged, envelope: "AAAA", record: {} }),
    );
    const canonForm = auditor.canon("verify", output);
    expect(canonForm.status).toBe(2);
    expect(canonForm.stderr).toMatch(
      /article\.md\.canon\.json is not a Canon stamp \(its cid is not a CID\)/,
    );
    expect(canonForm.stderr.trim().split("\n")).toHaveLength(1);
    expect(canonForm.stdout + canonForm.stderr).not.toMatch(CONTROL);

    const statement = {
      _type: "https://in-toto.io/Statement/v1",
      predicateType: "https://canon.dev/provenance/v1",
      predicate: { canonRecord: { cid: forged, envelope: "AAAA" } },
    };
    await writeFile(
      `${output}.canon.json`,
      JSON.stringify({
        payloadType: "application/vnd.in-toto+json",
        payload: Buffer.from(JSON.stringify(statement)).toString("base64"),
        signatures: [{ sig: "AAAA" }],
      }),
    );
    const dsse = auditor.canon("verify", output);
    expect(dsse.status).toBe(2);
    expect(dsse.stderr).toMatch(/is a DSSE envelope but not a Canon stamp: .*cid is not a CID/);
    expect(dsse.stdout + dsse.stderr).not.toMatch(CONTROL);
  });

  it("an output named to forge the verdict line (CR, erase line) is printed escaped by stamp and verify", async () => {
    auditor.ok("init");
    auditor.ok("space", "create", "audit");
    auditor.ok("publish", "style", await auditor.file("style.md", "# Style\n"));
    const output = await auditor.file("a\r\u001b[2KVerified: good.md", "An article.\n");
    const stamped = auditor.ok("stamp", output);
    expect(stamped.stdout).toContain("a\\r\\x1b[2KVerified: good.md");
    expect(stamped.stdout).not.toMatch(CONTROL);
    // Tamper with the output so the verdict is NOT verified, which the name tries to hide.
    await writeFile(output, "Another article.\n");
    const verdict = auditor.canon("verify", output);
    expect(verdict.status).toBe(7);
    expect(verdict.stdout).toMatch(/^NOT verified: .*a\\r\\x1b\[2KVerified: good\.md/);
    expect(verdict.stdout + verdict.stderr).not.toMatch(CONTROL);
  });
});

import { describe, expect, it } from "vitest";
import { fileUri, parseResourceUri, standardUri, statusUri } from "../src/resource-uri.js";

const served = new Set(["editorial-style", "skills/codeql", "skills", "Rules/A11y"]);

describe("resource addresses", () => {
  it("splits a file's address at the longest served standard", () => {
    expect(parseResourceUri("canon://skills/codeql/SKILL.md", served)).toEqual({
      kind: "file",
      standard: "skills/codeql",
      path: "SKILL.md",
    });
    expect(parseResourceUri("canon://skills/other/x.md", served)).toEqual({
      kind: "file",
      standard: "skills",
      path: "other/x.md",
    });
    expect(parseResourceUri("canon://skills/codeql", served)).toEqual({
      kind: "standard",
      standard: "skills/codeql",
    });
    expect(parseResourceUri("canon://status", served)).toEqual({ kind: "status" });
  });

  it("gives canon://status to a standard named status, and the status canon://_status, which no standard can take", () => {
    const withStatus = new Set([...served, "status"]);
    expect(parseResourceUri("canon://status", withStatus)).toEqual({
      kind: "standard",
      standard: "status",
    });
    expect(parseResourceUri("canon://_status", withStatus)).toEqual({ kind: "status" });
    expect(parseResourceUri("canon://_status", served)).toEqual({ kind: "status" });
    expect(statusUri(withStatus)).toBe("canon://_status");
    expect(statusUri(served)).toBe("canon://status");
    expect(standardUri("status")).not.toBe(statusUri(withStatus));
  });

  it("keeps case and round-trips names and paths that need escaping", () => {
    const uri = fileUri("Rules/A11y", "docs/a b%.md");
    expect(uri).toBe("canon://Rules/A11y/docs/a%20b%25.md");
    expect(parseResourceUri(uri, served)).toEqual({
      kind: "file",
      standard: "Rules/A11y",
      path: "docs/a b%.md",
    });
    expect(parseResourceUri(standardUri("Rules/A11y"), served)).toMatchObject({
      standard: "Rules/A11y",
    });
  });

  it("refuses what names nothing served, dot segments, bad escapes and other schemes", () => {
    for (const uri of [
      "canon://nope",
      "canon://skills/codeql/../../etc/passwd",
      "canon://skills/codeql/%2e%2e/x",
      "canon://skills/codeql//x",
      "canon://skills/codeql/%E0%A4%A",
      "canon://editorial-style?x=1",
      "file:///etc/passwd",
      `canon://${"a/".repeat(3000)}`,
    ])
      expect(parseResourceUri(uri, served), uri).toBeUndefined();
  });
});

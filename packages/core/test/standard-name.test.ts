import { describe, expect, it } from "vitest";
import { StandardName, standardNameKey } from "../src/index.js";

describe("standard names", () => {
  it.each([
    "house-style",
    "a",
    "v1.2_final",
    "skills/codeql",
    "Rules/A11y",
    "a/b/c/d/e/f/g/h",
    `${"x".repeat(64)}/${"y".repeat(64)}/${"z".repeat(64)}/ab`,
  ])("accepts %j", (name) => {
    expect(StandardName.safeParse(name).success).toBe(true);
  });

  it.each([
    "",
    "/skills",
    "skills/",
    "skills//codeql",
    "skills/./codeql",
    "skills/../etc",
    "..",
    ".hidden",
    "skills/.git",
    "-flag",
    "a b",
    "a\\b",
    "a@b",
    "a:b",
    "é",
    "a\nb",
    "a/b/c/d/e/f/g/h/i",
    "x".repeat(65),
    `${"x".repeat(64)}/${"y".repeat(64)}/${"z".repeat(64)}/abcdefgh`,
  ])("refuses %j", (name) => {
    expect(StandardName.safeParse(name).success).toBe(false);
  });

  it("keeps every name of the old grammar valid", () => {
    for (const name of ["house-style", "0", "a.b_c-d", "x".repeat(64)]) {
      expect(StandardName.parse(name)).toBe(name);
    }
  });

  it("folds names that differ only in case onto one key", () => {
    expect(standardNameKey("Rules/A11y")).toBe(standardNameKey("rules/a11y"));
    expect(standardNameKey("rules/a11y")).not.toBe(standardNameKey("rules/a11z"));
  });
});

import { isCanonError } from "@canon/core";
import { describe, expect, it } from "vitest";
import { parseStandardReference } from "../src/operations/standard-reference.js";

describe("parseStandardReference", () => {
  it("reads a bare name as the latest release", () => {
    expect(parseStandardReference("style")).toEqual({ standard: "style", selector: undefined });
  });

  it("splits at the first @, leaving the selector as written", () => {
    expect(parseStandardReference("style@3")).toEqual({ standard: "style", selector: "3" });
    expect(parseStandardReference("style@bafy@x")).toEqual({
      standard: "style",
      selector: "bafy@x",
    });
  });

  it.each(["", "@3", "style@"])("refuses %j with BAD_ARGUMENT naming the accepted forms", (bad) => {
    let thrown: unknown;
    try {
      parseStandardReference(bad);
    } catch (error) {
      thrown = error;
    }
    expect(isCanonError(thrown, "BAD_ARGUMENT")).toBe(true);
    expect((thrown as Error).message).toBe(
      `"${bad}" is not <standard>, <standard>@<version> or <standard>@<cid>`,
    );
  });
});

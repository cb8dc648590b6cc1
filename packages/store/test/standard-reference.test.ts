import { isCanonError } from "@canon/core";
import { describe, expect, it } from "vitest";
import { parseStandardReference } from "../src/operations/standard-reference.js";

describe("parseStandardReference", () => {
  it("reads a bare name as the latest release", () => {
    expect(parseStandardReference("style")).toEqual({ standard: "style", selector: undefined });
  });

  it("splits at the first @; @latest is the latest, @v3 is @3, a CID stays as written", () => {
    expect(parseStandardReference("style@3")).toEqual({ standard: "style", selector: "3" });
    expect(parseStandardReference("style@latest")).toEqual({
      standard: "style",
      selector: undefined,
    });
    expect(parseStandardReference("style@v3")).toEqual({ standard: "style", selector: "3" });
    expect(parseStandardReference("style@bafkreiabc123")).toEqual({
      standard: "style",
      selector: "bafkreiabc123",
    });
  });

  it("refuses a selector that is neither a version nor CID-shaped, naming the forms", () => {
    expect(() => parseStandardReference("style@bafy@x")).toThrow(
      /after @ comes a version \(3 or v3\), latest, or a release or content CID/,
    );
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

import { describe, expect, it } from "vitest";
import { listPage } from "../src/list-page.js";

describe("list pages", () => {
  it("walks a long list through nextCursor and ends without one", () => {
    const items = Array.from({ length: 12 }, (_, index) => index);
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const { page, nextCursor } = listPage(items, cursor, 5);
      seen.push(...page);
      cursor = nextCursor;
    } while (cursor !== undefined);
    expect(seen).toEqual(items);
    expect(listPage([1, 2], undefined, 5)).toEqual({ page: [1, 2] });
  });

  it("refuses a cursor it did not give", () => {
    for (const cursor of ["-1", "abc", "1.5", "99", "01", ""])
      expect(() => listPage([1, 2, 3], cursor, 2), cursor).toThrow(/not a cursor/);
  });
});

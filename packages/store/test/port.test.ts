import { describe, expect, it } from "vitest";
import { parsePort } from "../src/sync/port.js";

describe("parsePort", () => {
  it.each([
    ["0", 0],
    ["80", 80],
    ["03030", 3030],
    ["65535", 65535],
  ])("reads %j as %i", (value, port) => {
    expect(parsePort(value, "--port")).toBe(port);
  });

  it.each(["", " 80", "80 ", "1e3", "0x50", "-1", "8.5", "65536", "70000", "123456", "abc"])(
    "refuses %j with BAD_ARGUMENT naming the option and the value",
    (value) => {
      expect(() => parsePort(value, "CANON_RELAY_PORT")).toThrow(
        expect.objectContaining({
          code: "BAD_ARGUMENT",
          message: `CANON_RELAY_PORT must be a port number between 0 and 65535 (0 picks a free one), not ${JSON.stringify(value)}`,
        }),
      );
    },
  );
});

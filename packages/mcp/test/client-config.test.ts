import { describe, expect, it } from "vitest";
import { clientConfig } from "../src/client-config.js";

const launch = {
  node: "/usr/bin/node",
  cli: "/opt/canon/canon.mjs",
  args: ["mcp", "--project", "/work/p"],
  canonHome: "/home/me/.canon",
};
const server = {
  command: "/usr/bin/node",
  args: ["/opt/canon/canon.mjs", "mcp", "--project", "/work/p"],
  env: { CANON_HOME: "/home/me/.canon" },
};

describe("client configuration", () => {
  it("writes each client's own format", () => {
    expect(clientConfig("claude-code", launch).file).toBe(".mcp.json");
    expect(JSON.parse(clientConfig("claude-code", launch).json)).toEqual({
      mcpServers: { canon: { type: "stdio", ...server } },
    });
    expect(clientConfig("cursor", launch).file).toBe(".cursor/mcp.json");
    expect(JSON.parse(clientConfig("cursor", launch).json)).toEqual({
      mcpServers: { canon: server },
    });
    expect(clientConfig("vscode", launch).file).toBe(".vscode/mcp.json");
    expect(JSON.parse(clientConfig("vscode", launch).json)).toEqual({
      servers: { canon: { type: "stdio", ...server } },
    });
  });

  it("refuses a client it does not know, naming those it does", () => {
    expect(() => clientConfig("emacs", launch)).toThrow(/claude-code, cursor, vscode, not "emacs"/);
  });
});

import { CanonError } from "@canon/core";

/** The clients `canon mcp --print-config` knows. */
export const CLIENT_NAMES = ["claude-code", "cursor", "vscode"] as const;
/** A client `canon mcp --print-config` knows. */
export type ClientName = (typeof CLIENT_NAMES)[number];

/** How this machine starts the server. */
export interface ServerLaunch {
  /** Absolute path of node. */
  readonly node: string;
  /** Absolute path of the CLI's installed bin (canon.cjs). */
  readonly cli: string;
  /** Arguments after `canon` (`mcp`, and `--project <dir>` or `--space <url>` when given). */
  readonly args: readonly string[];
  /** The Canon home the server reads. */
  readonly canonHome: string;
}

/**
 * The configuration a client reads to start `canon mcp`, in that client's own
 * format: Claude Code's `.mcp.json` (`mcpServers`, `type: "stdio"`),
 * Cursor's `.cursor/mcp.json` (`mcpServers`), VS Code's `.vscode/mcp.json`
 * (`servers`, `type: "stdio"`). Returns the file it belongs in and its JSON.
 * @throws CanonError `BAD_ARGUMENT` for a client it does not know.
 */
export function clientConfig(
  client: string,
  launch: ServerLaunch,
): { readonly file: string; readonly json: string } {
  const server = {
    command: launch.node,
    args: [launch.cli, ...launch.args],
    env: { CANON_HOME: launch.canonHome },
  };
  switch (client) {
    case "claude-code":
      return {
        file: ".mcp.json",
        json: render({ mcpServers: { canon: { type: "stdio", ...server } } }),
      };
    case "cursor":
      return { file: ".cursor/mcp.json", json: render({ mcpServers: { canon: server } }) };
    case "vscode":
      return {
        file: ".vscode/mcp.json",
        json: render({ servers: { canon: { type: "stdio", ...server } } }),
      };
    default:
      throw new CanonError(
        "BAD_ARGUMENT",
        `--print-config takes ${CLIENT_NAMES.join(", ")}, not ${JSON.stringify(client.slice(0, 100))}`,
      );
  }
}

function render(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
